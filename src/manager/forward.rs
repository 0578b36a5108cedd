//! Forwarding a consumer's own API call to a manager, as that consumer (the portal's routing,
//! SPEC §5): the manager session cookie and CSRF token are added here, from the session, and the
//! bodies stream both ways — nothing here holds a whole body in memory.
//!
//! Time limits follow a reverse proxy's rather than the fixed total of Portico's own calls, so a
//! large upload or download is not cut by the manager's `timeout`: the connection must open within
//! it, the manager may not leave a body chunk untaken for longer, the answer's head must come
//! within it once the request body has been sent (see `upload`), and the answer's body may pause
//! at most that long between two chunks. Time spent waiting for a slow caller does not count.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, COOKIE, HOST, HeaderMap, HeaderName};
use reqwest::{Method, StatusCode};
use tracing::instrument;

use super::client::sensitive;
use super::session::CSRF_HEADER;
use super::upload::Progress;
use super::{ManagerClient, ManagerCredentials, ManagerError, classify};

/// A request body on its way to the manager.
pub type ForwardBody = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send + Sync + 'static>>;

/// An answer body on its way back; an error ends it (the connection to the caller is then cut,
/// which is how a proxy reports a body that broke off).
pub type ForwardedBody = Pin<Box<dyn Stream<Item = Result<Bytes, ManagerError>> + Send + 'static>>;

/// A path below the manager's base path, with its query, as the caller sent them
/// (percent-encoded). It cannot climb out of the base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPath {
    path: String,
    query: Option<String>,
}

impl ForwardPath {
    /// `path` is empty or starts with `/`. Dot segments (also percent-encoded) and backslashes are
    /// refused: the manager's URL parser would resolve them to paths outside the base path.
    pub fn parse(path: &str, query: Option<&str>) -> Option<Self> {
        if !(path.is_empty() || path.starts_with('/')) || path.contains('\\') {
            return None;
        }
        let climbs = path.split('/').any(|segment| {
            let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
            decoded == "." || decoded == ".."
        });
        if climbs || path.chars().any(|c| c.is_control()) {
            return None;
        }
        let query = query.filter(|q| !q.is_empty()).map(str::to_owned);
        Some(Self { path: path.to_owned(), query })
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// One call to forward.
pub struct ForwardRequest<'a> {
    pub method: Method,
    pub path: &'a ForwardPath,
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

impl ManagerClient {
    /// Sends one call as the session's user and returns the answer as it comes: a status the
    /// manager chose (401 included) is an answer, not an error. Errors are the transport's:
    /// unreachable, refused, TLS, or [`ManagerError::Timeout`].
    #[instrument(skip_all, fields(manager = %self.endpoint().id, method = %request.method))]
    pub async fn forward(&self, request: ForwardRequest<'_>) -> Result<ForwardedResponse, ManagerError> {
        let timeout = self.endpoint().timeout;
        let unsafe_method = !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut headers = request.headers;
        credential_headers(&mut headers, request.credentials, unsafe_method);

        let progress = Progress::new(request.body.is_some());
        let mut builder =
            self.http().request(request.method, self.forward_url(request.path)).headers(headers);
        if let Some(body) = request.body {
            builder = builder.body(reqwest::Body::wrap_stream(progress.watch(body)));
        }
        let result = tokio::select! {
            result = builder.send() => result.map_err(|e| classify::transport(&e, timeout)),
            () = progress.stalled(timeout) => Err(ManagerError::Timeout(timeout)),
        };
        self.count_call(&result);
        let response = result?;
        let status = response.status();
        let content_length = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let headers = response.headers().clone();
        Ok(ForwardedResponse {
            status,
            headers,
            content_length,
            body: Box::pin(idle_bounded(response, timeout, progress)),
        })
    }

    /// `{url}{base_path}{path}?{query}`; the path keeps the caller's percent-encoding.
    fn forward_url(&self, path: &ForwardPath) -> url::Url {
        let endpoint = self.endpoint();
        let mut url = endpoint.url.clone();
        url.set_fragment(None);
        url.set_path(&format!("{}{}", endpoint.base_path.trim_end_matches('/'), path.path));
        url.set_query(path.query.as_deref());
        url
    }
}

/// Puts the credentials of the call into `headers`, replacing whatever the caller sent about
/// `Cookie`, `Authorization`, `CSRF-Token` and `Host`: a manager session travels as its cookie
/// (with its CSRF token on unsafe calls), an access token as `Authorization: Bearer`, a service
/// credential as `Authorization: Basic`.
fn credential_headers(headers: &mut HeaderMap, credentials: ManagerCredentials<'_>, unsafe_method: bool) {
    for name in [COOKIE, AUTHORIZATION, HOST, csrf_header()] {
        headers.remove(name);
    }
    match credentials {
        ManagerCredentials::Session(session) => {
            headers.insert(COOKIE, sensitive(&session.cookie));
            if let (true, Some(token)) = (unsafe_method, &session.csrf_token) {
                headers.insert(csrf_header(), sensitive(token));
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

/// [`CSRF_HEADER`] as a header name.
fn csrf_header() -> HeaderName {
    HeaderName::from_bytes(CSRF_HEADER.as_bytes()).unwrap_or(HeaderName::from_static("csrf-token"))
}

/// The answer's body, chunk by chunk, each within `idle` of the one before — except while the
/// request body is still waiting for the caller (a manager may answer as it reads).
fn idle_bounded(
    response: reqwest::Response,
    idle: Duration,
    progress: Progress,
) -> impl Stream<Item = Result<Bytes, ManagerError>> {
    futures_util::stream::unfold(Some(response), move |state| {
        let progress = progress.clone();
        async move {
            let mut response = state?;
            let next = {
                let chunk = response.chunk();
                tokio::pin!(chunk);
                loop {
                    tokio::select! {
                        next = &mut chunk => break next,
                        () = tokio::time::sleep(idle) => {
                            if !progress.waiting_for_caller() {
                                return Some((Err(ManagerError::Timeout(idle)), None));
                            }
                        }
                    }
                }
            };
            match next {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(classify::transport(&e, idle)), None)),
            }
        }
    })
}

/// The hop-by-hop headers of RFC 9110 §7.6.1, which concern one connection and are never
/// forwarded, plus those the `Connection` header of `headers` names.
pub fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
    .into_iter()
    .map(HeaderName::from_static)
    .collect();
    let named = headers
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok());
    names.extend(named);
    names
}

/// Whether a header must not cross a proxy: hop-by-hop, or any other `Proxy-*`.
pub fn is_hop_by_hop(name: &HeaderName, hop: &[HeaderName]) -> bool {
    hop.contains(name) || name.as_str().starts_with("proxy-")
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn paths_cannot_leave_the_base_path() {
        for ok in ["", "/", "/discovery/apis", "/a%20b/c", "/x/..y/.z", "/a/%2e%2ex"] {
            assert!(ForwardPath::parse(ok, None).is_some(), "{ok}");
        }
        for bad in ["discovery", "/..", "/a/../b", "/a/./b", "/%2e%2e/x", "/%2E./x", "/a\\b", "/a\nb"] {
            assert!(ForwardPath::parse(bad, None).is_none(), "{bad}");
        }
        let with_query = ForwardPath::parse("/apis", Some("a=1&b=%20")).unwrap();
        assert_eq!(with_query.query.as_deref(), Some("a=1&b=%20"));
        assert_eq!(ForwardPath::parse("/apis", Some("")).unwrap().query, None);
    }

    #[test]
    fn connection_names_more_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("X-Hop, keep-alive"));
        headers.append("connection", HeaderValue::from_static("x-other"));
        let hop = hop_by_hop(&headers);
        for name in ["x-hop", "x-other", "keep-alive", "te", "upgrade", "transfer-encoding", "trailer"] {
            assert!(is_hop_by_hop(&HeaderName::from_static(name), &hop), "{name}");
        }
        assert!(is_hop_by_hop(&HeaderName::from_static("proxy-anything"), &hop));
        for name in ["content-type", "content-length", "accept", "x-kept"] {
            assert!(!is_hop_by_hop(&HeaderName::from_static(name), &hop), "{name}");
        }
    }
}
