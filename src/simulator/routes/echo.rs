//! `ANY {base}/__echo/{tail}`: a test instrument, **not part of the manager protocol**. It lets
//! tests of Portico's routing see exactly what reached the manager, with any method and any body
//! size. Like every manager call it needs a session (or Basic credentials), and a CSRF token on
//! unsafe methods.
//!
//! The answer (200) says what arrived in headers — `X-Echo-Method`, `X-Echo-Path`, `X-Echo-Query`,
//! `X-Echo-User` and `X-Echo-Headers` (JSON `{name: [values]}`; for `cookie` only the cookie
//! names and for `authorization` only the scheme, like the request log) — and its body is the
//! request body, streamed back as it arrives. Query parameters change the answer:
//! `size=N` answers N bytes of [`pattern_byte`] instead of the echo (a download), and
//! `header=Name:Value` (repeatable) adds a header to the answer.

use std::collections::BTreeMap;

use actix_web::body::SizedStream;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;

use super::super::faults::Operation;
use super::super::state::SimState;
use super::guard;

/// The largest `size` a download may ask for.
const MAX_SIZE: u64 = 1 << 30;
const CHUNK: u64 = 64 * 1024;

/// Byte `i` of an echo download: a sequence that does not repeat with any chunk size, so a lost,
/// doubled or reordered chunk changes the checksum.
pub fn pattern_byte(i: u64) -> u8 {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
    (mixed >> 56) as u8
}

pub(super) async fn echo(
    req: HttpRequest,
    state: web::Data<SimState>,
    payload: web::Payload,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Echo).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let mut size = None;
    let mut extra = Vec::new();
    for (key, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match key.as_ref() {
            "size" => size = value.parse::<u64>().ok().map(|n| n.min(MAX_SIZE)),
            "header" => {
                if let Some((name, value)) = value.split_once(':') {
                    extra.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            _ => {}
        }
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("x-echo-method", req.method().as_str()))
        .insert_header(("x-echo-path", req.path()))
        .insert_header(("x-echo-query", req.query_string()))
        .insert_header(("x-echo-user", caller.user.login_name.as_str()))
        .insert_header(("x-echo-headers", headers_json(req.headers())));
    for (name, value) in extra {
        response.append_header((name, value));
    }
    if let Some(size) = size {
        return response
            .content_type("application/octet-stream")
            .body(SizedStream::new(size, download(size)));
    }
    if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
        response.insert_header((CONTENT_TYPE, content_type.clone()));
    }
    let length = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    match length {
        Some(length) => response.body(SizedStream::new(length, payload)),
        None => response.streaming(payload),
    }
}

fn download(size: u64) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    stream::iter((0..size.div_ceil(CHUNK)).map(move |n| {
        let start = n * CHUNK;
        let end = (start + CHUNK).min(size);
        Ok(web::Bytes::from((start..end).map(pattern_byte).collect::<Vec<u8>>()))
    }))
}

fn headers_json(headers: &HeaderMap) -> String {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers.iter() {
        let value = match value.to_str() {
            Ok(text) => redact(name.as_str(), text),
            Err(_) => "<not visible ASCII>".to_owned(),
        };
        seen.entry(name.as_str().to_owned()).or_default().push(value);
    }
    serde_json::to_string(&seen).unwrap_or_default()
}

fn redact(name: &str, value: &str) -> String {
    match name {
        "cookie" => value
            .split(';')
            .filter_map(|pair| pair.split('=').next())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        "authorization" => value.split_whitespace().next().unwrap_or_default().to_owned(),
        _ => value.to_owned(),
    }
}
