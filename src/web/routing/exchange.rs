//! What crosses the portal on a routed call: which headers go to the manager and which come
//! back, and the bodies, streamed both ways. The server and the manager's client speak the same
//! `http` types, so headers are moved across, never copied or parsed again.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::LazyLock;

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::manager::{ForwardedResponse, HOP_BY_HOP, HopByHop, hop_by_hop};
use crate::telemetry::request;
use crate::web::front::{Body, REQUEST_ID_HEADER};

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

/// `X-Forwarded-For`, which Portico writes and no caller may.
pub(super) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The policy of every routed answer: nothing in it runs, loads, or frames, whatever its type.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// The names a header is dropped by, one set for each direction: a lookup per header instead of
/// some thirty comparisons.
type Names = foldhash::HashSet<&'static str>;

static NOT_SENT: LazyLock<Names> =
    LazyLock::new(|| HOP_BY_HOP.iter().chain(&NOT_FORWARDED).chain(&CALLER_CLAIMS).copied().collect());

static NOT_ANSWERED: LazyLock<Names> =
    LazyLock::new(|| HOP_BY_HOP.iter().chain(&NOT_RETURNED).chain(&ORIGIN_POLICY).copied().collect());

/// Whether a caller's request header goes on to the manager. Names with `_` are dropped as
/// nginx does by default: servers that map headers to variables read `X_Forwarded_For` as
/// `X-Forwarded-For`.
fn forwarded(name: &str, hop: &HopByHop) -> bool {
    !(NOT_SENT.contains(name)
        || name.starts_with("proxy-")
        || name.starts_with("x-forwarded")
        || name.contains('_')
        || hop.names(name))
}

/// Whether a manager's answer header goes back to the caller.
fn returned(name: &str, hop: &HopByHop) -> bool {
    !(NOT_ANSWERED.contains(name)
        || name.starts_with("proxy-")
        || name.starts_with("access-control-")
        || hop.names(name))
}

/// The caller's end-to-end headers, plus `X-Request-Id` so the manager's logs can be matched
/// with the portal's, and `X-Forwarded-For` with the client's address as Portico trusts it.
pub fn outgoing_headers(mut headers: HeaderMap, client: Option<IpAddr>) -> HeaderMap {
    let hop = HopByHop::named_by(headers.get_all(header::CONNECTION).iter().map(HeaderValue::as_bytes));
    drop_where(&mut headers, |name| !forwarded(name, &hop));
    // (`-` outside a request, as in the logs.)
    let id = request::with_current(|request| request.id.header());
    headers.insert(REQUEST_ID_HEADER, id.unwrap_or(HeaderValue::from_static("-")));
    if let Some(address) = client.and_then(forwarded_for) {
        headers.insert(X_FORWARDED_FOR, address);
    }
    headers
}

/// Removes the headers `drop` names, in place: most of a message's headers cross, and moving
/// them would hash each again. The names are gathered a few at a time on the stack (a message
/// drops two or three), not in a list allocated per message.
fn drop_where(headers: &mut HeaderMap, drop: impl Fn(&str) -> bool) {
    const BATCH: usize = 8;
    loop {
        let mut batch: [Option<HeaderName>; BATCH] = Default::default();
        let mut names = headers.keys().filter(|name| drop(name.as_str()));
        for (slot, name) in batch.iter_mut().zip(names.by_ref()) {
            *slot = Some(name.clone());
        }
        let more = names.next().is_some();
        for name in batch.into_iter().flatten() {
            headers.remove(name);
        }
        if !more {
            return;
        }
    }
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

/// The manager's answer for the caller: status, end-to-end headers, and the body streamed
/// (with its length when the manager gave one).
pub fn response(forwarded: ForwardedResponse) -> Response<Body> {
    let ForwardedResponse { status, mut headers, content_length, body } = forwarded;
    let hop = hop_by_hop(&headers);
    drop_where(&mut headers, |name| !returned(name, &hop));
    // (The other security headers are added with every answer, now that the manager's are gone.)
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CSP));
    let no_body =
        status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let body = if no_body { Body::empty() } else { Body::Manager { stream: body, length: content_length } };
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn hop_by_hop_headers_cross_neither_way() {
        let mut connection = HeaderMap::new();
        connection.append("connection", HeaderValue::from_static("X-Hop, keep-alive"));
        connection.append("connection", HeaderValue::from_static("x-other"));
        let hop = hop_by_hop(&connection);
        for name in [
            "x-hop",
            "x-other",
            "keep-alive",
            "te",
            "upgrade",
            "transfer-encoding",
            "trailer",
            "proxy-anything",
        ] {
            assert!(!forwarded(name, &hop) && !returned(name, &hop), "{name}");
        }
        for name in ["content-type", "accept", "x-kept"] {
            assert!(forwarded(name, &hop) && returned(name, &hop), "{name}");
        }
        // (Sent on; set again from the body on the way back.)
        assert!(forwarded("content-length", &hop));
    }

    #[test]
    fn portal_credentials_and_hop_by_hop_headers_stay_behind() {
        let sent = headers(&[
            ("cookie", "portico_session=abc"),
            ("authorization", "Bearer x"),
            ("x-csrf-token", "portal-token"),
            ("csrf-token", "forged"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("x-kept", "yes"),
        ]);
        let headers = outgoing_headers(sent, None);
        assert_eq!(names(&headers), ["accept", "content-type", "x-kept", "x-request-id"]);
    }

    #[test]
    fn callers_claims_about_address_path_and_method_stay_behind() {
        let mut sent: Vec<(&str, &str)> = CALLER_CLAIMS
            .iter()
            .chain(&["x-forwarded-for", "x-forwarded-host", "x_forwarded_for", "X_Real_IP"])
            .map(|name| (*name, "6.6.6.6"))
            .collect();
        sent.push(("accept", "*/*"));
        let headers = outgoing_headers(headers(&sent), "192.0.2.1".parse().ok());
        assert_eq!(names(&headers), ["accept", "x-forwarded-for", "x-request-id"]);
        assert_eq!(headers["x-forwarded-for"], "192.0.2.1");
    }

    #[test]
    fn each_call_names_its_own_client() {
        for ip in ["192.0.2.1", "192.0.2.1", "2001:db8::7", "198.51.100.7", "192.0.2.1"] {
            let headers = outgoing_headers(HeaderMap::new(), ip.parse().ok());
            assert_eq!(headers["x-forwarded-for"], ip);
        }
        assert!(!outgoing_headers(HeaderMap::new(), None).contains_key("x-forwarded-for"));
    }
}
