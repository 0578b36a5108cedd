//! The record of every manager request a simulator received, for tests and benchmarks: what was
//! asked, by whom, and when it started and ended.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use serde::Serialize;

use super::state::SimState;

/// One request as the simulator saw it. `started`/`ended` are for the process that runs the
/// simulator; `start_us`/`end_us` (microseconds since the simulator started) travel over HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// `content-type`, `accept`, `user-agent` and `csrf-token` as sent; for `authorization` only
    /// the scheme and for `cookie` only the cookie names.
    pub headers: BTreeMap<String, String>,
    /// The login name the request acted for (the attempted one on login), once known.
    pub user: Option<String>,
    /// The answer's status; `None` while the request is still running.
    pub status: Option<u16>,
    #[serde(skip)]
    pub started: Instant,
    #[serde(skip)]
    pub ended: Option<Instant>,
    pub start_us: u64,
    pub end_us: Option<u64>,
}

impl RecordedRequest {
    /// Whether two finished requests were being served at the same time.
    pub fn overlaps(&self, other: &RecordedRequest) -> bool {
        match (self.ended, other.ended) {
            (Some(self_end), Some(other_end)) => self.started < other_end && other.started < self_end,
            _ => false,
        }
    }

    /// How long the request took, once it ended.
    pub fn duration(&self) -> Option<Duration> {
        self.ended.map(|end| end - self.started)
    }
}

/// The login name a handler found for the request (stored in the request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct RequestUser(pub String);

#[derive(Debug)]
pub(crate) struct RequestLog {
    epoch: Instant,
    entries: Mutex<Vec<RecordedRequest>>,
}

impl RequestLog {
    pub fn new() -> Self {
        Self { epoch: Instant::now(), entries: Mutex::new(Vec::new()) }
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn begin(&self, entry: RecordedRequest) -> usize {
        let mut entries = self.lock();
        entries.push(entry);
        entries.len() - 1
    }

    fn finish(&self, index: usize, status: u16, user: Option<String>) {
        let ended = Instant::now();
        let end_us = self.micros(ended);
        if let Some(entry) = self.lock().get_mut(index) {
            entry.status = Some(status);
            entry.ended = Some(ended);
            entry.end_us = Some(end_us);
            if user.is_some() {
                entry.user = user;
            }
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Middleware: records every request outside `/__simulator/`.
pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<SimState>>().cloned();
    let Some(state) = state.filter(|_| !req.path().starts_with(super::control::PREFIX)) else {
        return next.call(req).await;
    };
    let started = Instant::now();
    let index = state.log.begin(RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: header_subset(req.headers()),
        user: None,
        status: None,
        started,
        ended: None,
        start_us: state.log.micros(started),
        end_us: None,
    });
    let result = next.call(req).await;
    match &result {
        Ok(response) => {
            let user = response.request().extensions().get::<RequestUser>().map(|u| u.0.clone());
            state.log.finish(index, response.status().as_u16(), user);
        }
        Err(error) => state.log.finish(index, error.as_response_error().status_code().as_u16(), None),
    }
    result
}

fn header_subset(headers: &actix_web::http::header::HeaderMap) -> BTreeMap<String, String> {
    let mut subset = BTreeMap::new();
    for name in ["content-type", "accept", "user-agent", "csrf-token"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            subset.insert(name.to_owned(), value.to_owned());
        }
    }
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let scheme = value.split_whitespace().next().unwrap_or_default();
        subset.insert("authorization".to_owned(), scheme.to_owned());
    }
    let cookie_names: Vec<String> = headers
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split('=').next())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    if !cookie_names.is_empty() {
        subset.insert("cookie".to_owned(), cookie_names.join("; "));
    }
    subset
}
