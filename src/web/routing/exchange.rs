//! What crosses the portal on a routed call: which headers go to the manager and which come
//! back, and the bodies, streamed both ways.
//!
//! actix-web and reqwest use different versions of the `http` types, so headers are carried
//! over as bytes; both sides validate them.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;

use actix_web::body::SizedStream;
use actix_web::http::header as actix_header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::manager::{ForwardBody, ForwardedResponse, HopByHop, hop_by_hop};
use crate::telemetry::request;

/// Request headers that are the portal's business, never the manager's: the portal's own
/// cookies and credentials, its CSRF header, and what the manager's must not be confused with.
const NOT_FORWARDED: [&str; 6] = ["cookie", "authorization", "host", "x-csrf-token", "csrf-token", "expect"];

/// Request headers through which a caller could claim to be somewhere else, or have the request
/// read as another one (another address, host, path or method): only Portico says these.
const CALLER_CLAIMS: [&str; 18] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-host",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Answer headers that stay on the manager's side: its cookies (the manager session is the
/// portal's to keep) and its CSRF token; `content-length` is set again from the body.
const NOT_RETURNED: [&str; 4] = ["set-cookie", "set-cookie2", "csrf-token", "content-length"];

/// Answer headers that would act on the portal's origin, where the answer is read with the
/// consumer's portal cookie: a manager's security policy must not replace Portico's, nor may it
/// clear the portal's storage, redirect the page, open it to other origins, or ask the browser
/// for a password.
const ORIGIN_POLICY: [&str; 20] = [
    "content-security-policy",
    "content-security-policy-report-only",
    "x-frame-options",
    "referrer-policy",
    "x-content-type-options",
    "strict-transport-security",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
    "x-xss-protection",
    "x-permitted-cross-domain-policies",
    "origin-agent-cluster",
    "refresh",
    "clear-site-data",
    "alt-svc",
    "www-authenticate",
    "report-to",
    "reporting-endpoints",
    "nel",
];

/// The policy of every routed answer: nothing in it runs, loads, or frames, whatever its type.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Whether a caller's request header goes on to the manager. Names with `_` are dropped as
/// nginx does by default: servers that map headers to variables read `X_Forwarded_For` as
/// `X-Forwarded-For`.
fn forwarded(name: &str, hop: &HopByHop) -> bool {
    !(hop.contains(name)
        || name.contains('_')
        || name.starts_with("x-forwarded")
        || NOT_FORWARDED.contains(&name)
        || CALLER_CLAIMS.contains(&name))
}

/// Whether a manager's answer header goes back to the caller.
fn returned(name: &str, hop: &HopByHop) -> bool {
    !(hop.contains(name)
        || name.starts_with("access-control-")
        || NOT_RETURNED.contains(&name)
        || ORIGIN_POLICY.contains(&name))
}

/// The caller's end-to-end headers, plus `X-Request-Id` so the manager's logs can be matched
/// with the portal's, and `X-Forwarded-For` with the client's address as Portico trusts it.
pub fn outgoing_headers(req: &HttpRequest, client: Option<IpAddr>) -> HeaderMap {
    let incoming = req.headers();
    let hop = HopByHop::named_by(incoming.get_all(actix_header::CONNECTION).map(|v| v.as_bytes()));
    // Room for what the manager client adds (cookie, CSRF token, user agent, request id).
    let mut headers = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming.iter() {
        if !forwarded(name.as_str(), &hop) {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    // (`-` outside a request, as in the logs.)
    let id = request::with_current(|request| HeaderValue::from_str(request.id.as_str()).ok()).flatten();
    headers.insert(HeaderName::from_static("x-request-id"), id.unwrap_or(HeaderValue::from_static("-")));
    if let Some(address) = client.and_then(forwarded_for) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), address);
    }
    headers
}

/// `X-Forwarded-For` for `ip`. The last one this thread wrote is kept: a client's calls come one
/// after another, and writing out an address costs more than everything else in the header.
fn forwarded_for(ip: IpAddr) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, value)) = last.as_ref()
            && *cached == ip
        {
            return Some(value.clone());
        }
        let value = HeaderValue::from_str(&ip.to_string()).ok()?;
        *last = Some((ip, value.clone()));
        Some(value)
    })
}

/// The request body, when the request has one, streamed to the manager as it takes it.
pub fn request_body(req: &HttpRequest, payload: web::Payload) -> Option<ForwardBody> {
    if !crate::web::body_deadline::declares_body(req.headers(), req.version(), req.method()) {
        return None;
    }
    Some(Box::pin(payload.map_err(|e| io::Error::other(e.to_string()))))
}

/// The manager's answer for the caller: status, end-to-end headers, and the body streamed
/// (with its length when the manager gave one).
pub fn response(forwarded: ForwardedResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(forwarded.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    let hop = hop_by_hop(&forwarded.headers);
    // (The other security headers are added by the middleware, now that the manager's are gone.)
    builder.insert_header((
        actix_header::CONTENT_SECURITY_POLICY,
        actix_header::HeaderValue::from_static(API_CSP),
    ));
    for (name, value) in forwarded.headers.iter() {
        if !returned(name.as_str(), &hop) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            actix_header::HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    let no_body = status.is_informational()
        || status == actix_web::http::StatusCode::NO_CONTENT
        || status == actix_web::http::StatusCode::NOT_MODIFIED;
    if no_body {
        return builder.finish();
    }
    match forwarded.content_length {
        Some(length) => builder.body(SizedStream::new(length, forwarded.body)),
        None => builder.streaming(forwarded.body),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn portal_credentials_and_hop_by_hop_headers_stay_behind() {
        let req = TestRequest::default()
            .insert_header(("cookie", "portico_session=abc"))
            .insert_header(("authorization", "Bearer x"))
            .insert_header(("x-csrf-token", "portal-token"))
            .insert_header(("csrf-token", "forged"))
            .insert_header(("connection", "x-hop"))
            .insert_header(("x-hop", "1"))
            .insert_header(("keep-alive", "timeout=5"))
            .insert_header(("te", "trailers"))
            .insert_header(("proxy-authorization", "Basic x"))
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "application/json"))
            .insert_header(("x-kept", "yes"))
            .to_http_request();
        let headers = outgoing_headers(&req, None);
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "content-type", "x-kept", "x-request-id"]);
    }

    #[test]
    fn callers_claims_about_address_path_and_method_stay_behind() {
        let mut req = TestRequest::default();
        for name in CALLER_CLAIMS.iter().chain(&[
            "x-forwarded-for",
            "x-forwarded-host",
            "x_forwarded_for",
            "X_Real_IP",
        ]) {
            req = req.insert_header((*name, "6.6.6.6"));
        }
        let headers = outgoing_headers(
            &req.insert_header(("accept", "*/*")).to_http_request(),
            "192.0.2.1".parse().ok(),
        );
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-forwarded-for", "x-request-id"]);
        assert_eq!(headers["x-forwarded-for"], "192.0.2.1");
    }

    #[test]
    fn each_call_names_its_own_client() {
        let req = TestRequest::default().to_http_request();
        for ip in ["192.0.2.1", "192.0.2.1", "2001:db8::7", "198.51.100.7", "192.0.2.1"] {
            let headers = outgoing_headers(&req, ip.parse().ok());
            assert_eq!(headers["x-forwarded-for"], ip);
        }
        assert!(!outgoing_headers(&req, None).contains_key("x-forwarded-for"));
    }
}
