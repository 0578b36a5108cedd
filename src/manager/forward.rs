//! Forwarding a consumer's own API call to a manager, as that consumer (the portal's routing,
//! SPEC §5): the manager session cookie and CSRF token are added here, from the session, and the
//! bodies stream both ways — nothing here holds a whole body in memory.
//!
//! Time limits follow a reverse proxy's rather than the fixed total of Portico's own calls, so a
//! large upload or download is not cut by the manager's `timeout`: the connection must open within
//! it, the manager may not leave a body chunk untaken for longer, the answer's head must come
//! within it once the request body has been sent (see `upload`), and the answer's body may pause
//! at most that long between two chunks. Time spent waiting for a slow caller does not count.
//!
//! The calls go through this thread's connections to the manager ([`super::pool`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Incoming};
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use reqwest::{Method, StatusCode};

use super::client::{USER_AGENT_VALUE, sensitive};
use super::forward_path::ForwardPath;
use super::upload::Progress;
use super::{ManagerClient, ManagerCredentials, ManagerError, classify};

/// A request body on its way to the manager: the caller's, read as the manager takes it.
pub type ForwardBody = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send + 'static>>;

/// An answer body on its way back; an error ends it (the connection to the caller is then cut,
/// which is how a proxy reports a body that broke off).
pub type ForwardedBody = Pin<Box<dyn Stream<Item = Result<Bytes, ManagerError>> + Send + 'static>>;

/// One call to forward.
pub struct ForwardRequest<'a> {
    pub method: Method,
    pub path: ForwardPath<'a>,
    /// The caller's end-to-end headers. Whatever they say about `Cookie`, `Authorization`,
    /// `CSRF-Token` and `Host` is replaced or dropped here.
    pub headers: HeaderMap,
    /// `None` for a request without a body.
    pub body: Option<ForwardBody>,
    /// Who the call is made as: the user's manager session or access token.
    pub credentials: ManagerCredentials<'a>,
}

/// The manager's answer, whatever its status; its body still to be read.
pub struct ForwardedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// From the answer's `Content-Length`, when it has a valid one.
    pub content_length: Option<u64>,
    pub body: ForwardedBody,
}

impl std::fmt::Debug for ForwardedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardedResponse")
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// The manager's CSRF header ([`super::CSRF_HEADER`]), lowercase as header names are.
const CSRF: HeaderName = HeaderName::from_static("csrf-token");

impl ManagerClient {
    /// Sends one call as the session's user and returns the answer as it comes: a status the
    /// manager chose (401 included) is an answer, not an error. Errors are the transport's:
    /// unreachable, refused, TLS, or [`ManagerError::Timeout`]. Runs on the thread serving the
    /// call, on its runtime (or any with a `LocalSet`): see [`super::pool`].
    pub async fn forward(&self, request: ForwardRequest<'_>) -> Result<ForwardedResponse, ManagerError> {
        let timeout = self.timeout();
        let unsafe_method = !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut headers = request.headers;
        credential_headers(&mut headers, request.credentials, unsafe_method);
        // (One lookup: the entry, filled only when the caller sent none.)
        headers.entry(USER_AGENT).or_insert_with(|| HeaderValue::from_static(USER_AGENT_VALUE));

        let progress = Progress::new(request.body.is_some());
        let mut head = hyper::Request::new(());
        *head.method_mut() = request.method;
        *head.uri_mut() = self.forward_uri(request.path)?;
        *head.headers_mut() = headers;
        let sent = self.forward_pool().send(head, request.body, &progress);
        let result = tokio::select! {
            // (In this order: an answer that is there wins over a timeout due at the same poll,
            // and no random pick per call.)
            biased;
            result = sent => result.map_err(|e| classify::forward_transport(&*e.error, e.connect, timeout)),
            () = progress.stalled(timeout) => Err(ManagerError::Timeout(timeout)),
        };
        self.count_outcome(result.as_ref().map(hyper::Response::status));
        let (answer, body) = result?.into_parts();
        let content_length = answer
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(ForwardedResponse {
            status: answer.status,
            headers: answer.headers,
            content_length,
            body: Box::pin(IdleBounded { body: Some(body), idle: timeout, progress, timer: None }),
        })
    }

    /// `{origin}{base_path}{path}?{query}`, the origin as the connection wants it
    /// ([`super::pool::ForwardPool::origin`]); the path keeps the caller's percent-encoding.
    fn forward_uri(&self, path: ForwardPath<'_>) -> Result<hyper::Uri, ManagerError> {
        let (origin, base, query) = (self.forward_pool().origin(), self.forward_base(), path.query);
        let root = base.is_empty() && path.path.is_empty();
        let length = origin.len()
            + base.len()
            + path.path.len()
            + usize::from(root)
            + query.map_or(0, |q| q.len() + 1);
        // (Exactly as long as the URI: a `String` with spare room would cost the URI's bytes an
        // allocation of their own.)
        let mut uri = String::with_capacity(length);
        uri.push_str(origin);
        uri.push_str(base);
        uri.push_str(path.path);
        if root {
            uri.push('/');
        }
        if let Some(query) = query {
            uri.push('?');
            uri.push_str(query);
        }
        // (From the `String` itself: no copy.)
        hyper::Uri::try_from(uri)
            .map_err(|_| ManagerError::Config("the routed path is not a valid URI".into()))
    }
}

/// Puts the credentials of the call into `headers`, replacing whatever the caller sent about
/// `Cookie`, `Authorization`, `CSRF-Token` and `Host`: a manager session travels as its cookie
/// (with its CSRF token on unsafe calls), an access token as `Authorization: Bearer`, a service
/// credential as `Authorization: Basic`.
fn credential_headers(headers: &mut HeaderMap, credentials: ManagerCredentials<'_>, unsafe_method: bool) {
    // (One walk over the names, which compare without hashing; each is removed only when there:
    // a routed call's headers have lost them already.)
    const REPLACED: [HeaderName; 4] = [COOKIE, AUTHORIZATION, HOST, CSRF];
    if headers.keys().any(|name| REPLACED.contains(name)) {
        for name in REPLACED {
            headers.remove(name);
        }
    }
    match credentials {
        ManagerCredentials::Session(session) => {
            headers.insert(COOKIE, session.cookie.header());
            if let (true, Some(token)) = (unsafe_method, &session.csrf_token) {
                headers.insert(CSRF, token.header());
            }
        }
        ManagerCredentials::Bearer(token) => {
            headers.insert(AUTHORIZATION, sensitive(&format!("Bearer {token}")));
        }
        ManagerCredentials::Basic { username, password } => {
            use base64::Engine;
            let pair = format!("{username}:{}", secrecy::ExposeSecret::expose_secret(password));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.insert(AUTHORIZATION, sensitive(&format!("Basic {encoded}")));
        }
    }
}

/// The answer's body, chunk by chunk, each within `idle` of the one before — except while the
/// request body is still waiting for the caller (a manager may answer as it reads). The timer is
/// only started when a chunk is not there at once.
struct IdleBounded {
    /// `None` once the body ended or failed.
    body: Option<Incoming>,
    idle: Duration,
    progress: Progress,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for IdleBounded {
    type Item = Result<Bytes, ManagerError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.timer = None;
                    // Trailers are not passed on; data is.
                    if let Ok(chunk) = frame.into_data() {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    continue;
                }
                Poll::Ready(Some(Err(e))) => {
                    this.body = None;
                    return Poll::Ready(Some(Err(classify::forward_body(&e, this.idle))));
                }
                Poll::Ready(None) => {
                    this.body = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            let idle = this.idle;
            let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
            if !this.progress.waiting_for_caller() {
                this.body = None;
                return Poll::Ready(Some(Err(ManagerError::Timeout(idle))));
            }
        }
    }
}

/// The hop-by-hop headers of RFC 9110 §7.6.1, which concern one connection and are never
/// forwarded.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers of one message that must not cross a proxy: the hop-by-hop ones, any other
/// `Proxy-*`, and those its `Connection` header names.
#[derive(Debug, Default)]
pub struct HopByHop {
    /// Named by `Connection`, lowercase (usually none, and then nothing is allocated).
    named: Vec<String>,
}

impl HopByHop {
    /// From the values of the message's `Connection` headers. The tokens every proxy drops
    /// anyway (`keep-alive`, `close`, the hop-by-hop names) are not kept: most messages name
    /// nothing else, and then nothing is allocated.
    pub fn named_by<'a>(connection: impl Iterator<Item = &'a [u8]>) -> Self {
        let named = connection
            // (The usual whole value, at no cost.)
            .filter(|v| !(v.eq_ignore_ascii_case(b"keep-alive") || v.eq_ignore_ascii_case(b"close")))
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|token| {
                !token.is_empty()
                    && !token.eq_ignore_ascii_case("close")
                    && !HOP_BY_HOP.iter().any(|hop| hop.eq_ignore_ascii_case(token))
            })
            .map(str::to_ascii_lowercase)
            .collect();
        Self { named }
    }

    /// Whether the message's `Connection` header names `name` (lowercase), beyond
    /// [`HOP_BY_HOP`] and `Proxy-*`, which every message drops.
    pub fn names(&self, name: &str) -> bool {
        self.named.iter().any(|n| n == name)
    }
}

/// [`HopByHop`] of a message with these headers.
pub fn hop_by_hop(headers: &HeaderMap) -> HopByHop {
    HopByHop::named_by(headers.get_all(reqwest::header::CONNECTION).iter().map(HeaderValue::as_bytes))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn connection_names_more_hop_by_hop_headers() {
        assert!(hop_by_hop(&HeaderMap::new()).named.is_empty());
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("X-Hop, keep-alive"));
        headers.append("connection", HeaderValue::from_static("x-other"));
        let hop = hop_by_hop(&headers);
        for name in ["x-hop", "x-other"] {
            assert!(hop.names(name), "{name}");
        }
        // (The fixed ones are every message's: not kept per message.)
        for name in ["keep-alive", "content-type", "content-length", "accept", "x-kept"] {
            assert!(!hop.names(name), "{name}");
        }
    }
}
