//! Logging: `tracing` with a filter from `log.level` (or `RUST_LOG`), as text or JSON, to
//! standard output; every line written while serving a request carries the request's id, method
//! and path ([`request`], [`format`]).

mod batched;
mod format;
pub mod request;
mod timestamp;

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::util::SubscriberInitExt;

pub use batched::Flusher;
use format::{Lines, TextFields};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests) are ignored. Log lines go to
/// standard output through a writer thread ([`batched`]) until the returned [`Flusher`] is
/// dropped, which writes out what is still pending: hold it for as long as the process serves.
pub fn init(settings: &LogSettings) -> Option<Flusher> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: escape codes garble log files and collectors, and
    // painting every line costs more than writing it.
    let ansi = std::io::stdout().is_terminal();
    let (stdout, flusher) = batched::start();
    let _ = subscriber(filter, settings.format, ansi, move || stdout.clone()).try_init();
    flusher
}

/// Portico's log subscriber: lines that pass `filter`, in `format`, to `writer` (standard output
/// in [`init`], a buffer in tests).
pub fn subscriber<W>(
    filter: EnvFilter,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.event_format(Lines::Json).fmt_fields(JsonFields::new()).finish()),
        LogFormat::Text => {
            Box::new(builder.event_format(Lines::Text { ansi }).fmt_fields(TextFields).finish())
        }
    }
}
