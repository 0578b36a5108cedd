//! Request middleware: a request id on the request's log lines and in a response header, the
//! body deadline, closed-set metrics labels, and the security headers every response carries (set
//! in one place).

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::{Error, HttpResponse};
use futures_util::future::LocalBoxFuture;
use prometheus::{Histogram, IntCounter};

use super::body_deadline;
use super::error::RequestId;
use crate::telemetry::request::{self, RequestContext};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Names the route pattern of the request being served, for the metrics, when actix cannot name
/// it cheaply (a scope's default service): asking actix would walk the router again for every
/// request. It is kept with the request being served (`telemetry::request`), not in the
/// request's extensions (a hashed insert and an allocation per call).
pub fn label_route(pattern: &'static str) {
    request::with_current(|request| request.route.set(Some(pattern)));
}

/// The middleware around every request ([`request_context`]), with what it adds to each: the
/// security headers and the body deadline (`server.body_timeout`). Written out rather than
/// through `middleware::from_fn`: the request's future then holds the inner one instead of boxing
/// it a second time behind a shared `dyn` service.
pub struct Serving {
    config: Rc<ServingConfig>,
}

struct ServingConfig {
    security: SecurityHeaders,
    body_timeout: Duration,
}

impl Serving {
    pub fn new(security: SecurityHeaders, body_timeout: Duration) -> Self {
        Self { config: Rc::new(ServingConfig { security, body_timeout }) }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Serving
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ServingService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ServingService { inner: Rc::new(service), config: self.config.clone() }))
    }
}

pub struct ServingService<S> {
    inner: Rc<S>,
    config: Rc<ServingConfig>,
}

impl<S, B> Service<ServiceRequest> for ServingService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        Box::pin(request_context(req, self.inner.clone(), self.config.clone()))
    }
}

/// Gives each request an id, serves it as the request whose id, method and path every log line
/// written meanwhile carries (`telemetry::request`), returns the id in `X-Request-Id` and the
/// [`SecurityHeaders`] on every answer (the 408 of a late body included), puts the body deadline
/// on its body, and logs one line per request.
async fn request_context<S, B>(
    mut req: ServiceRequest,
    service: Rc<S>,
    config: Rc<ServingConfig>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    let id = RequestId::generate();
    // Every label and log field below comes from a closed set: a caller's method of any length
    // or spelling must not become a new time series (or a 60 KB log field).
    let method = method_label(req.method());
    let body_expired = body_deadline::bound(&mut req, config.body_timeout);
    let context = RequestContext::new(id, method, req.path());
    let started = Instant::now();
    request::scope(context, async move {
        let mut res = match service.call(req).await {
            Ok(res) if body_expired.as_ref().is_some_and(body_deadline::Expired::get) => body_timed_out(res),
            Ok(res) => res.map_into_left_body(),
            Err(e) => return Err(e),
        };
        let status = res.status();
        let route = request::with_current(|request| request.route.get()).flatten();
        count(&res, route, method, status, started);
        // Whole microseconds: an integer field reads and aggregates better than a float.
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_us, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), elapsed_us, "request");
        }
        config.security.add_to(res.headers_mut());
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        Ok(res)
    })
    .await
}

/// The request in the metrics: its count by route, method and status, and its duration.
fn count<B>(
    res: &ServiceResponse<B>,
    route: Option<&'static str>,
    method: &'static str,
    status: StatusCode,
    started: Instant,
) {
    let Some(m) = crate::metrics::metrics() else { return };
    let seconds = started.elapsed().as_secs_f64();
    if let Some(pattern) = route {
        return count_named(m, pattern, method, status, seconds);
    }
    // The route pattern (`/environments/{id}/apis`), never the raw path: bounded label values.
    let route = res.request().match_pattern().map_or(Cow::Borrowed("unmatched"), Cow::Owned);
    if let Ok(c) = m.http_requests.get_metric_with_label_values(&[&route, method, status_label(&status)]) {
        c.inc();
    }
    if let Ok(h) = m.http_duration.get_metric_with_label_values(&[&route]) {
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
fn body_timed_out<B>(res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let (req, _) = res.into_parts();
    let mut answer = HttpResponse::RequestTimeout()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body("The request body did not arrive in time.\n");
    answer.head_mut().set_connection_type(ConnectionType::Close);
    ServiceResponse::new(req, answer).map_into_right_body()
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

/// The security headers of SPEC §5, which every response carries (added by [`Serving`]; a
/// header the handler set is kept). HSTS only when Portico is served over https. `form_origin` is the identity provider's origin: a sign-out form ends at its
/// `end_session_endpoint`, and browsers hold the redirects after a form to `form-action` too.
#[derive(Debug)]
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
    fn add_to(&self, headers: &mut header::HeaderMap) {
        for (name, value) in &self.0 {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
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
