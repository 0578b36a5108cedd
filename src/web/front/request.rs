//! What the public listener does with every request, routed or not: a request id on its log
//! lines and in a response header, the body deadline, closed-set metrics labels, one access line,
//! and the security headers every response carries — in one place, for both kinds.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use prometheus::{Histogram, IntCounter};

use super::Body;
use super::pages::Pages;
use crate::state::AppState;
use crate::telemetry::request::{self, RequestContext, RequestId};
use crate::web::body_deadline::{self, Expired};
use crate::web::routing::{self, Call};

/// `X-Request-Id`, on every answer and on every routed call to a manager.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The log target of the access line.
const ACCESS: &str = "portico::access";

/// Names the route pattern of the request being served, for the metrics: routed calls, whose
/// route the server knows without a router. It is kept with the request being served
/// (`telemetry::request`).
pub fn label_route(pattern: &'static str) {
    request::with_current(|request| request.route.set(Some(pattern)));
}

/// What one serving thread needs for every request.
pub struct Serving {
    pub state: actix_web::web::Data<AppState>,
    pub pages: Pages,
    pub security: SecurityHeaders,
    /// `server.body_timeout`.
    pub body_timeout: Duration,
}

impl Serving {
    /// Gives the request an id, serves it as the request whose id, method and path every log line
    /// written meanwhile carries (`telemetry::request`), returns the id in `X-Request-Id` and the
    /// [`SecurityHeaders`] on every answer (the 408 of a late body included), puts the body
    /// deadline on its body, and logs one line.
    pub async fn serve(
        self: Rc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let id = RequestId::generate();
        // Every label and log field below comes from a closed set: a caller's method of any
        // length or spelling must not become a new time series (or a 60 KB log field).
        let method = method_label(req.method());
        let context = RequestContext::new(id.clone(), method, req.uri());
        let started = Instant::now();
        request::scope(context, async move {
            let (head, body) = req.into_parts();
            let (body, expired) = match body_deadline::bound(
                body,
                &head.headers,
                head.version,
                &head.method,
                self.body_timeout,
            ) {
                Some((body, expired)) => (Some(body), Some(expired)),
                None => (None, None),
            };
            let (mut answer, pattern) = if routing::is_routed(head.uri.path()) {
                let body = body.map(|body| Box::pin(body) as crate::manager::ForwardBody);
                (routing::serve(Call { head, body, peer: peer.ip() }, &self.state).await, None)
            } else {
                // (Boxed: the pages' future, inline, would make every routed call's as large.)
                Box::pin(self.pages.serve(head, body, peer)).await
            };
            if expired.as_ref().is_some_and(Expired::get) {
                answer = body_timed_out();
            }
            let status = answer.status();
            let route = request::with_current(|request| request.route.get()).flatten();
            let elapsed = started.elapsed();
            count(route, pattern.as_deref(), method, status, elapsed.as_secs_f64());
            // Whole microseconds: an integer field reads and aggregates better than a float.
            let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            // (Under a target of its own, `portico::access`, so a log filter can keep or drop it.
            // The message as a `&str` field, not a format string: a format string reaches the
            // line through `fmt`'s machinery, a `&str` is copied.)
            let status_code = status.as_u16();
            if status.is_server_error() {
                tracing::warn!(target: ACCESS, message = "request failed", status = status_code, elapsed_us);
            } else {
                tracing::info!(target: ACCESS, message = "request", status = status_code, elapsed_us);
            }
            let headers = answer.headers_mut();
            self.security.add_to(headers);
            headers.insert(REQUEST_ID_HEADER, id.header());
            Ok(answer)
        })
        .await
    }
}

/// The request in the metrics: its count by route, method and status, and its duration.
fn count(
    route: Option<&'static str>,
    pattern: Option<&str>,
    method: &'static str,
    status: StatusCode,
    seconds: f64,
) {
    let Some(m) = crate::metrics::metrics() else { return };
    if let Some(route) = route {
        return count_named(m, route, method, status, seconds);
    }
    // The route pattern (`/environments/{id}/apis`), never the raw path: bounded label values.
    let route = pattern.unwrap_or("unmatched");
    if let Ok(c) = m.http_requests.get_metric_with_label_values(&[route, method, status_label(&status)]) {
        c.inc();
    }
    if let Ok(h) = m.http_duration.get_metric_with_label_values(&[route]) {
        h.observe(seconds);
    }
}

/// Series of a route a handler named ([`label_route`]: the routed calls), resolved once per
/// thread: a routed call then counts itself without hashing its labels or taking the vectors'
/// lock. (Route, method and status come from closed sets; the list is capped all the same.)
type NamedSeries = Vec<((&'static str, &'static str, u16), IntCounter, Histogram)>;

const MAX_NAMED_SERIES: usize = 256;

fn count_named(
    m: &crate::metrics::Metrics,
    route: &'static str,
    method: &'static str,
    status: StatusCode,
    seconds: f64,
) {
    thread_local! {
        static NAMED: RefCell<NamedSeries> = const { RefCell::new(Vec::new()) };
    }
    let key = (route, method, status.as_u16());
    NAMED.with(|named| {
        let mut named = named.borrow_mut();
        if let Some((_, counter, histogram)) = named.iter().find(|(k, ..)| *k == key) {
            counter.inc();
            histogram.observe(seconds);
            return;
        }
        let counter = m.http_requests.get_metric_with_label_values(&[route, method, status_label(&status)]);
        let histogram = m.http_duration.get_metric_with_label_values(&[route]);
        if let (Ok(counter), Ok(histogram)) = (counter, histogram) {
            counter.inc();
            histogram.observe(seconds);
            if named.len() < MAX_NAMED_SERIES {
                named.push((key, counter, histogram));
            }
        }
    });
}

/// Whatever the handler made of a body that missed its deadline, the caller is told 408 and the
/// connection is closed (the rest of the body is never read).
fn body_timed_out() -> Response<Body> {
    let mut answer =
        super::body::plain(StatusCode::REQUEST_TIMEOUT, "The request body did not arrive in time.\n");
    let headers = answer.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

/// The method as a metrics label: the methods of HTTP, and `other` for anything else.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::HEAD, "HEAD"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("other", |(_, label)| label)
}

/// The status as a metrics label: a registered code, or `other` (a manager may answer 599).
fn status_label(status: &StatusCode) -> &str {
    if status.canonical_reason().is_some() { status.as_str() } else { "other" }
}

/// The security headers of SPEC §5, which every response carries (a header the handler set is
/// kept). HSTS only when Portico is served over https. `form_origin` is the identity provider's
/// origin: a sign-out form ends at its `end_session_endpoint`, and browsers hold the redirects
/// after a form to `form-action` too.
#[derive(Debug, Clone)]
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

pub fn security_headers(https: bool, form_origin: Option<&str>) -> SecurityHeaders {
    let form_action = match form_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    let mut headers = Vec::new();
    // (An origin in the configuration is a URL's origin: always a valid header value.)
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.push((header::CONTENT_SECURITY_POLICY, csp));
    }
    headers.extend([
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ]);
    if https {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    SecurityHeaders(headers)
}

impl SecurityHeaders {
    /// Adds those the response does not have.
    fn add_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.0 {
            if let header::Entry::Vacant(slot) = headers.entry(name) {
                slot.insert(value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever token a caller sends as its method, the label is one of ten.
        #[test]
        fn method_labels_are_a_closed_set(token in "[A-Za-z!#$%&'*+.^_`|~0-9-]{1,200}") {
            let Ok(method) = Method::from_bytes(token.as_bytes()) else { return Ok(()) };
            let label = method_label(&method);
            let closed = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other"];
            prop_assert!(closed.contains(&label), "{label}");
        }

        #[test]
        fn status_labels_are_registered_codes(code in 100u16..1000) {
            let Ok(status) = StatusCode::from_u16(code) else { return Ok(()) };
            let label = status_label(&status);
            prop_assert!(label == "other" || status.canonical_reason().is_some());
        }
    }
}
