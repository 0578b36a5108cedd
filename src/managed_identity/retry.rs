//! Retrying calls to identity and secret endpoints: a few attempts with exponential backoff,
//! honouring `Retry-After` (capped), for answers that say "try again".

use std::future::Future;
use std::time::Duration;

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// The outcome of one attempt.
pub enum Attempt<T, E> {
    Done(T),
    /// Not worth repeating (a 4xx that will not change).
    Fail(E),
    /// Transient: try again after the backoff.
    Retry(E),
    /// Transient, and the server said how long to wait.
    RetryAfter(E, Option<Duration>),
}

pub async fn with_retries<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0;
    loop {
        tries += 1;
        let (error, wait) = match attempt().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Fail(error) => return Err(error),
            Attempt::Retry(error) => (error, None),
            Attempt::RetryAfter(error, wait) => (error, wait),
        };
        if tries >= ATTEMPTS {
            return Err(error);
        }
        tokio::time::sleep(wait.unwrap_or(backoff).min(LONGEST_WAIT)).await;
        backoff *= 2;
    }
}

/// 429 and 5xx: throttled or temporarily failing.
pub fn is_transient(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds, when present.
pub fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A transport failure in words (no URL with query, no credentials).
pub fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the connection failed".to_owned()
    }
}

/// Sends the request `build` makes (again for each attempt) and returns the body of a 2xx
/// answer. Transport failures, 429 and 5xx are retried; another status is final, described by
/// `describe(status, body)` in the service's own words.
pub async fn fetch_with_retries(
    build: impl Fn() -> reqwest::RequestBuilder,
    describe: fn(u16, &[u8]) -> String,
) -> Result<bytes::Bytes, String> {
    with_retries(|| async {
        match build().send().await {
            Err(e) => Attempt::Retry(transport_error(&e)),
            Ok(res) => {
                let status = res.status();
                let wait = retry_after(&res);
                let body = res.bytes().await.unwrap_or_default();
                if status.is_success() {
                    return Attempt::Done(body);
                }
                let reason = describe(status.as_u16(), &body);
                if is_transient(status) { Attempt::RetryAfter(reason, wait) } else { Attempt::Fail(reason) }
            }
        }
    })
    .await
}
