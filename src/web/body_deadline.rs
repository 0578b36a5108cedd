//! A deadline for request bodies (`server.body_timeout`): a caller that sends a body byte by
//! byte would otherwise hold a connection and a worker's attention for as long as it likes.
//! actix bounds the time to read a request's head, not its body.
//!
//! The deadline runs from the end of the head to the body's last byte; when it passes, the next
//! read of the body fails, and the request is answered 408 with the connection closed, whatever
//! the handler made of the failed read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, Version};
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::Sleep;

/// Set once a request's body missed its deadline.
#[derive(Debug, Clone, Default)]
pub struct Expired(Arc<AtomicBool>);

impl Expired {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Puts the deadline (`server.body_timeout`, `limit` from the head on) on the request's body,
/// when it has one; the flag tells afterwards whether it passed.
pub fn bound(req: &mut ServiceRequest, limit: Duration) -> Option<Expired> {
    if !declares_body(req.headers(), req.version(), req.method()) {
        return None;
    }
    let expired = Expired::default();
    let inner = req.take_payload();
    let bounded = Deadline { inner, sleep: Box::pin(tokio::time::sleep(limit)), expired: expired.clone() };
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(bounded);
    req.set_payload(Payload::from(boxed));
    Some(expired)
}

/// Whether a body follows a request's head: HTTP/1 says so with `Content-Length` or
/// `Transfer-Encoding`; HTTP/2 may send one without either, so there only the methods that
/// rarely carry one are assumed not to.
pub fn declares_body(headers: &HeaderMap, version: Version, method: &Method) -> bool {
    if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        return length.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > 0);
    }
    headers.contains_key(header::TRANSFER_ENCODING)
        || (version >= Version::HTTP_2 && !matches!(*method, Method::GET | Method::HEAD))
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: Expired,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.get() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired.0.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}
