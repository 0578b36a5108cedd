//! Logging: `tracing` with a filter from `log.level` (or `RUST_LOG`), as text or JSON, to
//! standard output.

mod batched;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub use batched::Flusher;

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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    let (stdout, flusher) = batched::start();
    let builder = builder.with_writer(move || stdout.clone());
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    flusher
}
