//! Everything the public listener does not route to a manager — the portal's pages, its forms,
//! the admin UI, the operations endpoints — is handed to actix-web on the same thread: the
//! request as actix's own type, the answer back as hyper's. The headers are carried over as bytes
//! (actix-web uses another version of the `http` types); both sides validate them.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use actix_http::Request as ActixRequest;
use actix_service::IntoServiceFactory;
use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{AppConfig, Payload, Service, ServiceFactory, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, header as actix_header};
use futures_util::TryStreamExt;
use futures_util::future::LocalBoxFuture;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode, Version};

use super::Body;
use crate::telemetry::request;
use crate::web::body_deadline::Deadline;

/// The portal's actix-web application on one serving thread.
#[derive(Clone)]
pub struct Pages(Rc<dyn Fn(ActixRequest) -> LocalBoxFuture<'static, Answered>>);

/// actix-web's answer, and the route pattern it took, for the metrics (when no handler named
/// one, see `web::label_route`).
pub struct Answered {
    pub answer: HttpResponse<BoxBody>,
    pub pattern: Option<String>,
}

impl Pages {
    /// Starts `app` for this thread, as actix's own server would.
    pub async fn start<I, S, B>(app: I) -> io::Result<Self>
    where
        I: IntoServiceFactory<S, ActixRequest>,
        S: ServiceFactory<
                ActixRequest,
                Config = AppConfig,
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
            > + 'static,
        S::InitError: std::fmt::Debug,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let service = app
            .into_factory()
            .new_service(AppConfig::default())
            .await
            .map_err(|e| io::Error::other(format!("cannot start the portal's pages: {e:?}")))?;
        let service = Rc::new(service);
        Ok(Self(Rc::new(move |req| {
            let service = service.clone();
            Box::pin(async move {
                match service.call(req).await {
                    Ok(res) => {
                        let named = request::with_current(|r| r.route.get().is_some()).unwrap_or(false);
                        let pattern = if named { None } else { res.request().match_pattern() };
                        Answered { answer: res.into_parts().1.map_into_boxed_body(), pattern }
                    }
                    Err(e) => Answered { answer: e.error_response(), pattern: None },
                }
            })
        })))
    }

    /// Serves one request.
    pub async fn serve(
        &self,
        head: Parts,
        body: Option<Deadline>,
        peer: SocketAddr,
    ) -> (Response<Body>, Option<String>) {
        let Some(req) = actix_request(head, body, peer) else {
            return (super::body::plain(StatusCode::BAD_REQUEST, "The request could not be read.\n"), None);
        };
        let Answered { answer, pattern } = (self.0)(req).await;
        (hyper_response(answer), pattern)
    }
}

/// The request as actix-web reads it; `None` for what actix's types cannot hold (hyper has
/// already refused anything that is not HTTP).
fn actix_request(head: Parts, body: Option<Deadline>, peer: SocketAddr) -> Option<ActixRequest> {
    let payload = match body {
        Some(body) => {
            Payload::from(Box::pin(body.map_err(PayloadError::Io)) as actix_http::BoxedPayloadStream)
        }
        None => Payload::None,
    };
    let mut req = ActixRequest::with_payload(payload);
    let target = req.head_mut();
    target.method = actix_web::http::Method::from_bytes(head.method.as_str().as_bytes()).ok()?;
    target.uri = match head.uri.path_and_query() {
        Some(origin_form) if head.uri.authority().is_none() => origin_form.as_str().parse().ok()?,
        _ => head.uri.to_string().parse().ok()?,
    };
    target.version = match head.version {
        Version::HTTP_09 => actix_web::http::Version::HTTP_09,
        Version::HTTP_10 => actix_web::http::Version::HTTP_10,
        Version::HTTP_2 => actix_web::http::Version::HTTP_2,
        _ => actix_web::http::Version::HTTP_11,
    };
    let headers = &mut target.headers;
    for (name, value) in &head.headers {
        let name = actix_header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
        headers.append(name, actix_header::HeaderValue::from_bytes(value.as_bytes()).ok()?);
    }
    target.peer_addr = Some(peer);
    Some(req)
}

/// actix-web's answer as hyper sends it; an answer that must end its connection says so.
fn hyper_response(answer: HttpResponse<BoxBody>) -> Response<Body> {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::with_capacity(answer.headers().len() + 8);
    for (name, value) in answer.headers() {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    if answer.head().connection_type() == ConnectionType::Close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let mut response = Response::new(Body::Page(answer.into_body()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
