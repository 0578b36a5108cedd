//! A deadline for request bodies (`server.body_timeout`): a caller that sends a body byte by
//! byte would otherwise hold a connection and a worker's attention for as long as it likes.
//! The server bounds the time to read a request's head (`front`), not its body.
//!
//! The deadline runs from the end of the head to the body's last byte; when it passes, the next
//! read of the body fails, and the request is answered 408 with the connection closed, whatever
//! the handler made of the failed read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Version};
use tokio::time::Sleep;

/// Set once a request's body missed its deadline.
#[derive(Debug, Clone, Default)]
pub struct Expired(Arc<AtomicBool>);

impl Expired {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The body of a request, its data as it comes, within `server.body_timeout` of the head
/// (trailers are not passed on). `None` when the head declares no body.
pub fn bound(
    body: Incoming,
    headers: &HeaderMap,
    version: Version,
    method: &Method,
    limit: Duration,
) -> Option<(Deadline, Expired)> {
    if !declares_body(headers, version, method) {
        return None;
    }
    let expired = Expired::default();
    let bounded =
        Deadline { inner: Some(body), sleep: Box::pin(tokio::time::sleep(limit)), expired: expired.clone() };
    Some((bounded, expired))
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

/// A request body under its deadline.
pub struct Deadline {
    /// `None` once the body ended, failed or ran out of time.
    inner: Option<Incoming>,
    sleep: Pin<Box<Sleep>>,
    expired: Expired,
}

impl Stream for Deadline {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.inner = None;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
                Poll::Ready(None) => {
                    this.inner = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.inner = None;
        this.expired.0.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        ))))
    }
}
