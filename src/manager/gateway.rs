//! Calls to an environment's API gateway, for the API page's "try it".
//!
//! Where a call goes is decided here, never by the manager: the host is the environment's
//! configured `gateway` (scheme, host, port, optional prefix); the manager's definition only
//! contributes the API's base path, and the consumer only the path of one of the API's
//! operations (matching its template) and a query. Paths are checked as routed paths are
//! ([`ForwardPath`]: no dot segments, no smuggled separators, however a server reads them), so a
//! hostile definition or form cannot make Portico call another host or climb out of the API.
//!
//! What is sent: the method, the path and query, `Accept`, the API key in `KeyId` when one is
//! given, and a JSON body for methods that carry one; never a cookie, a manager session or a
//! forwarding header. Redirects are answers (not followed), and at most [`MAX_BODY`] bytes of
//! the answer are read.

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

use super::forward_path::ForwardPath;
use super::{ManagerClient, ManagerError, classify};

/// How much of an answer's body is read and shown.
pub const MAX_BODY: usize = 64 * 1024;

/// How many of an answer's headers are shown.
const MAX_HEADERS: usize = 40;

/// One call to try.
#[derive(Debug)]
pub struct GatewayCall<'a> {
    pub method: Method,
    /// The API's base path, from its definition.
    pub base_path: &'a str,
    /// The operation's path with its parameters filled in.
    pub path: &'a str,
    /// `name=value&…`, as typed (re-encoded before sending).
    pub query: &'a str,
    /// An API key id, sent as `KeyId`.
    pub key: Option<&'a str>,
    /// A JSON body (POST, PUT, PATCH).
    pub body: Option<&'a str>,
}

/// What the gateway answered.
#[derive(Debug, Clone)]
pub struct GatewayAnswer {
    /// Where the call went.
    pub url: String,
    pub status: u16,
    pub reason: &'static str,
    /// The answer's headers but `Set-Cookie` (at most [`MAX_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_BODY`] bytes.
    pub body: String,
    pub truncated: bool,
}

/// Why a call is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRefusal {
    #[error("no API gateway is configured for this environment")]
    NoGateway,
    #[error("the path does not match the operation")]
    PathMismatch,
    #[error("the API's base path cannot be used")]
    BasePath,
    #[error("the API key is not valid in a header")]
    Key,
}

/// Whether `path` is `template` with each `{parameter}` segment filled by one non-empty segment
/// (a template segment with text around its parameter must be matched literally).
pub fn matches_template(template: &str, path: &str) -> bool {
    let (template, path) = (template.trim_end_matches('/'), path.trim_end_matches('/'));
    if !template.starts_with('/') && !template.is_empty() || !path.starts_with('/') && !path.is_empty() {
        return false;
    }
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) => {
                let parameter =
                    w.len() > 2 && w.starts_with('{') && w.ends_with('}') && !w[1..].contains('{');
                if parameter {
                    if g.is_empty() {
                        return false;
                    }
                } else if w != g {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

impl ManagerClient {
    /// Sends `call` to this environment's gateway and reads the answer (any status is an
    /// answer; an error is a call that could not be made).
    pub async fn call_gateway(
        &self,
        call: GatewayCall<'_>,
    ) -> Result<Result<GatewayAnswer, TryRefusal>, ManagerError> {
        let url = match gateway_url(self, &call) {
            Ok(url) => url,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut request = self.http().request(call.method.clone(), url.as_str()).timeout(self.timeout());
        request = request.header(ACCEPT, "application/json, */*;q=0.5");
        if let Some(key) = call.key {
            match HeaderValue::from_str(key) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request = request.header("KeyId", value);
                }
                Err(_) => return Ok(Err(TryRefusal::Key)),
            }
        }
        if let Some(body) = call.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_owned());
        }
        let mut response = request.send().await.map_err(|e| classify::transport(&e, self.timeout()))?;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != reqwest::header::SET_COOKIE)
            .take(MAX_HEADERS)
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify::transport(&e, self.timeout()))? {
            let room = MAX_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                truncated = true;
                break;
            }
        }
        Ok(Ok(GatewayAnswer {
            url: url.to_string(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            headers,
            body: readable(&body, truncated),
            truncated,
        }))
    }
}

/// The body as text: a whole JSON document indented for reading, anything else as it came
/// (invalid UTF-8 replaced).
fn readable(body: &[u8], truncated: bool) -> String {
    if !truncated
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
        && let Ok(pretty) = serde_json::to_string_pretty(&json)
    {
        return pretty;
    }
    String::from_utf8_lossy(body).into_owned()
}

/// The URL a call goes to: the configured gateway, the definition's base path, the path, the
/// query re-encoded.
fn gateway_url(client: &ManagerClient, call: &GatewayCall<'_>) -> Result<url::Url, TryRefusal> {
    let gateway = client.definition().gateway.as_ref().ok_or(TryRefusal::NoGateway)?;
    let base = call.base_path.trim_end_matches('/');
    if ForwardPath::parse(base, None).is_err() {
        return Err(TryRefusal::BasePath);
    }
    if !call.path.starts_with('/') || ForwardPath::parse(call.path, None).is_err() {
        return Err(TryRefusal::PathMismatch);
    }
    let mut url = gateway.clone();
    let prefix = gateway.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{base}{}", call.path));
    url.set_fragment(None);
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(call.query.trim_start_matches('?').as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::matches_template;

    #[test]
    fn a_path_matches_its_operation_only() {
        assert!(matches_template("/items", "/items"));
        assert!(matches_template("/items/{id}", "/items/42"));
        assert!(matches_template("/items/{id}/tags", "/items/a%20b/tags"));
        assert!(!matches_template("/items/{id}", "/items/"));
        assert!(!matches_template("/items/{id}", "/items/42/more"));
        assert!(!matches_template("/items", "/other"));
        assert!(!matches_template("/items/{id}", "/items"));
        assert!(!matches_template("/items", "items"));
    }
}
