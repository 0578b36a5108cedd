//! The request being served, for every log line written while serving it.
//!
//! `request_context` (the web middleware) runs each request inside [`scope`]; the log format
//! ([`super::format`]) reads the context of the line's task and writes the request's id, method
//! and path on the line, as a span named `request` would. A span per request cost more than the
//! rest of the access log together (a registry slot, its fields formatted into a string, an
//! enter and an exit at every poll); a task-local costs one store.

use std::fmt;
use std::future::Future;

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// What every log line of a request says about it.
pub struct RequestContext {
    pub id: RequestId,
    /// From a closed set (the methods of HTTP, `other`): a caller's method never reaches the log.
    pub method: &'static str,
    pub path: Box<str>,
}

/// 16 random bytes, hex: unguessable, so it can be shown to users and quoted to support.
#[derive(Clone)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(crate::crypto::hex(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `work` as the serving of the request `context`.
pub async fn scope<F: Future>(context: RequestContext, work: F) -> F::Output {
    REQUEST.scope(context, work).await
}

/// Runs `f` (synchronous) as the serving of the request `context`: for the lines written after
/// the request's future has ended.
pub fn sync_scope<R>(context: RequestContext, f: impl FnOnce() -> R) -> R {
    REQUEST.sync_scope(context, f)
}

/// `f` of the request being served on this task, `None` outside a request.
pub fn with_current<R>(f: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    REQUEST.try_with(f).ok()
}
