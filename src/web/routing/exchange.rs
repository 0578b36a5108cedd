//! What crosses the portal on a routed call: which headers go to the manager and which come
//! back, and the bodies, streamed both ways.
//!
//! actix-web and reqwest use different versions of the `http` types, so headers are carried
//! over as bytes; both sides validate them.

use std::io;

use actix_web::body::SizedStream;
use actix_web::http::header as actix_header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;

use crate::manager::{ForwardBody, ForwardedResponse, HopByHop, hop_by_hop};
use crate::web::error::REQUEST_ID;

/// Request headers that are the portal's business, never the manager's: the portal's own
/// cookies and credentials, its CSRF header, and what the manager's must not be confused with.
const NOT_FORWARDED: [&str; 6] = ["cookie", "authorization", "host", "x-csrf-token", "csrf-token", "expect"];

/// Answer headers that stay on the manager's side: its cookies (the manager session is the
/// portal's to keep) and its CSRF token; `content-length` is set again from the body.
const NOT_RETURNED: [&str; 4] = ["set-cookie", "set-cookie2", "csrf-token", "content-length"];

/// How many chunks of the request body may wait between the connection and the manager.
const BODY_CHUNKS_IN_FLIGHT: usize = 8;

/// The caller's end-to-end headers, plus `X-Request-Id` so the manager's logs can be matched
/// with the portal's.
pub fn outgoing_headers(req: &HttpRequest) -> HeaderMap {
    let incoming = req.headers();
    let hop = HopByHop::named_by(incoming.get_all(actix_header::CONNECTION).map(|v| v.as_bytes()));
    // Room for what the manager client adds (cookie, CSRF token, user agent, request id).
    let mut headers = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming.iter() {
        let name = name.as_str();
        if hop.contains(name) || NOT_FORWARDED.contains(&name) {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    // (`-` outside a request, as in the logs.)
    let id = REQUEST_ID.try_with(|id| HeaderValue::from_str(id.as_str()).ok()).ok().flatten();
    headers.insert(HeaderName::from_static("x-request-id"), id.unwrap_or(HeaderValue::from_static("-")));
    headers
}

/// Whether the request has a body to forward. HTTP/1 says so with `Content-Length` or
/// `Transfer-Encoding`; HTTP/2 may send one without either, so there only the methods that
/// rarely carry one are assumed not to.
fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if let Some(length) = headers.get(actix_header::CONTENT_LENGTH) {
        return length.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > 0);
    }
    if headers.contains_key(actix_header::TRANSFER_ENCODING) {
        return true;
    }
    req.version() >= actix_web::http::Version::HTTP_2
        && !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD)
}

/// The request body as a stream the HTTP client can send from any thread. actix's payload
/// lives on its worker thread, so a local task pumps it into a bounded channel: the client
/// reads as the manager accepts, and the connection is read no faster than that.
pub fn request_body(req: &HttpRequest, mut payload: web::Payload) -> Option<ForwardBody> {
    if !has_body(req) {
        return None;
    }
    let (chunks, mut received) = mpsc::channel::<Result<web::Bytes, io::Error>>(BODY_CHUNKS_IN_FLIGHT);
    actix_web::rt::spawn(async move {
        loop {
            let next = tokio::select! {
                next = payload.next() => next,
                // The manager answered (or failed) without reading it all: stop reading.
                () = chunks.closed() => break,
            };
            let Some(chunk) = next else { break };
            let failed = chunk.is_err();
            let chunk = chunk.map_err(|e| io::Error::other(e.to_string()));
            if chunks.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    Some(Box::pin(futures_util::stream::poll_fn(move |cx| received.poll_recv(cx))))
}

/// The manager's answer for the caller: status, end-to-end headers, and the body streamed
/// (with its length when the manager gave one).
pub fn response(forwarded: ForwardedResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(forwarded.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    let hop = hop_by_hop(&forwarded.headers);
    for (name, value) in forwarded.headers.iter() {
        if hop.contains(name.as_str()) || NOT_RETURNED.contains(&name.as_str()) {
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
        let headers = outgoing_headers(&req);
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "content-type", "x-kept", "x-request-id"]);
    }
}
