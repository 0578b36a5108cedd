//! Request middleware: a request id in a tracing span and a response header, and the security
//! headers every response carries (set in one place).

use std::borrow::Cow;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use super::error::{REQUEST_ID, RequestId};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The route pattern a handler reports for the metrics, when actix cannot name it cheaply (a
/// scope's default service): asking actix would walk the router again for every request.
#[derive(Clone, Copy)]
pub struct RouteLabel(&'static str);

impl RouteLabel {
    pub fn set(req: &actix_web::HttpRequest, pattern: &'static str) {
        req.extensions_mut().insert(RouteLabel(pattern));
    }
}

/// Gives each request an id, runs it inside a span that carries the id, returns the id in
/// `X-Request-Id`, and logs one line per request.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::generate();
    let method = req.method().clone();
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let result = REQUEST_ID.scope(id.clone(), next.call(req)).instrument(span.clone()).await;
    let mut res = result?;
    let status = res.status();
    // The route pattern (`/environments/{id}/apis`), never the raw path: bounded label values.
    let label = res.request().extensions().get::<RouteLabel>().copied();
    let route = match label {
        Some(RouteLabel(pattern)) => Cow::Borrowed(pattern),
        None => res.request().match_pattern().map_or(Cow::Borrowed("unmatched"), Cow::Owned),
    };
    if let Some(m) = crate::metrics::metrics() {
        if let Ok(c) =
            m.http_requests.get_metric_with_label_values(&[&route, method.as_str(), status.as_str()])
        {
            c.inc();
        }
        if let Ok(h) = m.http_duration.get_metric_with_label_values(&[&route]) {
            h.observe(started.elapsed().as_secs_f64());
        }
    }
    span.in_scope(|| {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), elapsed_ms, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// The security headers of SPEC §5. HSTS only when Portico is served over https. `form_origin`
/// is the identity provider's origin: a sign-out form ends at its `end_session_endpoint`, and
/// browsers hold the redirects after a form to `form-action` too.
pub fn security_headers(https: bool, form_origin: Option<&str>) -> actix_web::middleware::DefaultHeaders {
    let form_action = match form_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    let mut headers = actix_web::middleware::DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, csp))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((HeaderName::from_static("cross-origin-opener-policy"), "same-origin"));
    if https {
        headers = headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"));
    }
    headers
}
