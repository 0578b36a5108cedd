//! The request being served, for every log line written while serving it.
//!
//! The public listener (`web::front::request`) runs each request inside [`scope`]; the log
//! format ([`super::format`]) reads the context of the line's task and writes the request's id,
//! method and path on the line, as a span named `request` would. A span per request cost more than the
//! rest of the access log together (a registry slot, its fields formatted into a string, an
//! enter and an exit at every poll); a task-local costs one store.

use std::cell::Cell;
use std::fmt;
use std::future::Future;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::HeaderValue;

tokio::task_local! {
    /// Boxed: the task-local is swapped in and out of the thread at every poll of the request's
    /// task, and a pointer swaps for less than the context.
    static REQUEST: Box<RequestContext>;
}

/// What every log line of a request says about it.
pub struct RequestContext {
    pub id: RequestId,
    /// From a closed set (the methods of HTTP, `other`): a caller's method never reaches the log.
    pub method: &'static str,
    /// The request's URI, of which the lines give the path. (The URI itself: it shares the bytes
    /// the server read, where a copy of the path would be an allocation per request.)
    uri: Uri,
    /// The route pattern a handler says the request took, for the metrics (see
    /// `web::label_route`).
    pub route: Cell<Option<&'static str>>,
}

impl RequestContext {
    pub fn new(id: RequestId, method: &'static str, uri: &Uri) -> Self {
        Self { id, method, uri: uri.clone(), route: Cell::new(None) }
    }

    /// The path requested, as sent.
    pub fn path(&self) -> &str {
        self.uri.path()
    }
}

/// 16 random bytes, hex: unguessable, so it can be shown to users and quoted to support. Kept
/// as the header value it is sent in (`X-Request-Id`, to the caller and to a manager): made once,
/// shared by each use.
#[derive(Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        let mut hex = [0u8; 32];
        crate::crypto::hex_into(&bytes, &mut hex);
        // (Hex digits are always a valid header value. Owned by a `Bytes` of its own: one
        // allocation, and each clone of the value counts a reference.)
        let value = HeaderValue::from_maybe_shared(Bytes::from_owner(hex))
            .unwrap_or_else(|_| HeaderValue::from_static("-"));
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only, so always a string.
        self.0.to_str().unwrap_or_default()
    }

    /// As the value of `X-Request-Id`.
    pub fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `work` as the serving of the request `context`.
///
/// (Not an `async fn`: a wrapper of one, awaiting `work`, would be twice `work`'s size.)
pub fn scope<F: Future>(context: RequestContext, work: F) -> impl Future<Output = F::Output> {
    REQUEST.scope(Box::new(context), work)
}

/// Runs `f` (synchronous) as the serving of the request `context` (the log format's tests).
#[cfg(test)]
pub fn sync_scope<R>(context: RequestContext, f: impl FnOnce() -> R) -> R {
    REQUEST.sync_scope(Box::new(context), f)
}

/// `f` of the request being served on this task, `None` outside a request.
pub fn with_current<R>(f: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    REQUEST.try_with(|request| f(request)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_lowercase_hex_digits_and_differ() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{id}");
            assert_eq!(id.to_string(), id.as_str());
            assert_eq!(id.header(), id.as_str());
        }
        assert_ne!(a.as_str(), b.as_str());
    }
}
