//! Turns transport failures, HTTP statuses and bodies of manager answers into [`ManagerError`]s.
//!
//! Nothing here copies response bodies, cookies or URLs with credentials into an error message:
//! the reasons are short texts chosen here.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::{ManagerError, tls};

/// The largest body Portico reads from a manager; API definitions are the big ones.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A failed request (no HTTP answer, or the answer broke off).
pub(crate) fn transport(error: &reqwest::Error, timeout: Duration) -> ManagerError {
    if error.is_timeout() {
        return ManagerError::Timeout(timeout);
    }
    if let Some(found) = walk(error, timeout) {
        return found;
    }
    if error.is_connect() {
        ManagerError::Unreachable("could not connect".into())
    } else if error.is_body() || error.is_decode() {
        ManagerError::Unreachable("the answer broke off".into())
    } else {
        ManagerError::Unreachable("the connection failed".into())
    }
}

/// A routed call that got no answer; `connect` when the connection could not be opened.
pub(crate) fn forward_transport(
    error: &(dyn StdError + 'static),
    connect: bool,
    timeout: Duration,
) -> ManagerError {
    if let Some(found) = walk(error, timeout) {
        return found;
    }
    if connect {
        ManagerError::Unreachable("could not connect".into())
    } else {
        ManagerError::Unreachable("the connection failed".into())
    }
}

/// A routed call's answer that broke off.
pub(crate) fn forward_body(error: &hyper::Error, timeout: Duration) -> ManagerError {
    if error.is_timeout() {
        return ManagerError::Timeout(timeout);
    }
    walk(error, timeout).unwrap_or_else(|| ManagerError::Unreachable("the answer broke off".into()))
}

/// Walks an error's source chain for the first cause that says what happened.
fn walk(start: &(dyn StdError + 'static), timeout: Duration) -> Option<ManagerError> {
    let mut source = Some(start);
    while let Some(current) = source {
        if let Some(tls_error) = current.downcast_ref::<rustls::Error>() {
            return Some(ManagerError::Tls(tls::describe(tls_error)));
        }
        // A kept-alive connection the manager closed just as a request went out on it.
        if current
            .downcast_ref::<hyper::Error>()
            .is_some_and(|e| e.is_incomplete_message() || e.is_closed() || e.is_canceled())
        {
            return Some(ManagerError::Unreachable("the connection was closed".into()));
        }
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            match io_error.kind() {
                io::ErrorKind::ConnectionRefused => return Some(ManagerError::ConnectionRefused),
                io::ErrorKind::TimedOut => return Some(ManagerError::Timeout(timeout)),
                _ => {}
            }
            // `io::Error::source` skips the error it wraps (rustls failures reach reqwest wrapped
            // in an `io::Error`), so look inside explicitly.
            if let Some(found) = io_error.get_ref().and_then(|inner| walk(inner, timeout)) {
                return Some(found);
            }
            if matches!(
                io_error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            ) {
                return Some(ManagerError::Unreachable("the connection was closed".into()));
            }
        }
        source = current.source();
    }
    None
}

/// A status that is not the success the call expects, on an authenticated call.
pub(crate) fn status(status: StatusCode) -> ManagerError {
    match status.as_u16() {
        401 => ManagerError::SessionExpired,
        403 => ManagerError::Forbidden,
        404 => ManagerError::NotFound,
        code @ 500..=599 => ManagerError::ServerError(code),
        code => ManagerError::UnexpectedStatus(code),
    }
}

/// Parses a JSON answer; the error names what was wrong, never what the body said.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ManagerError> {
    serde_json::from_slice(body).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Data => data_reason(&e),
            serde_json::error::Category::Eof => "the JSON ends early".to_owned(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                "not valid JSON".to_owned()
            }
        };
        ManagerError::Malformed(format!("{what}: {reason}"))
    })
}

/// serde's data errors quote offending values, which come from the body; keep only the field
/// name of a missing field and a generic text otherwise.
fn data_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        Some(field) if field.len() <= 64 => format!("the field {field:?} is missing"),
        _ => "the JSON does not have the expected shape".to_owned(),
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`].
pub(crate) async fn body(
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<Vec<u8>, ManagerError> {
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ManagerError::Malformed("the answer is too large".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e, timeout))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ManagerError::Malformed("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
