//! The body of every answer the public listener sends: Portico's own short ones, a manager's
//! streamed back, or a page's from actix-web. One type, so the answers need no box.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Frame, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::manager::ForwardedBody;

pub enum Body {
    /// Sent whole (`None` once sent).
    Full(Option<Bytes>),
    /// A manager's answer, with its length when the manager gave one.
    Manager { stream: ForwardedBody, length: Option<u64> },
    /// A page, or anything else actix-web answered.
    Page(BoxBody),
}

impl Body {
    pub fn empty() -> Self {
        Body::Full(None)
    }

    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body::Full(Some(bytes.into()))
    }
}

/// A short answer of Portico's own, in plain text.
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut answer = Response::new(Body::full(text));
    *answer.status_mut() = status;
    answer.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    answer
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            // An error ends the answer short: the connection is then cut, as a proxy reports a
            // body that broke off.
            Body::Manager { stream, .. } => Pin::new(stream)
                .poll_next(cx)
                .map(|chunk| chunk.map(|c| c.map(Frame::data).map_err(io::Error::other))),
            Body::Page(body) => Pin::new(body)
                .poll_next(cx)
                .map(|chunk| chunk.map(|c| c.map(Frame::data).map_err(|e| io::Error::other(e.to_string())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Manager { length, .. } => *length == Some(0),
            Body::Page(body) => matches!(body.size(), BodySize::None | BodySize::Sized(0)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let exact = match self {
            Body::Full(bytes) => Some(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Manager { length, .. } => *length,
            Body::Page(body) => match body.size() {
                BodySize::None => Some(0),
                BodySize::Sized(n) => Some(n),
                BodySize::Stream => None,
            },
        };
        exact.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
