//! Everything the application logs during the test run, captured at debug level, so tests can
//! assert that no secret ever reaches a log line. (The test client's own cookie store, which logs
//! the cookies it receives, is left out: it is not Portico.)

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once for the whole test binary.
pub fn capture() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(buffer.clone());
        // Portico's own line format (text), so that what tests find in a line is what operators read.
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,h2=info,hyper=info,reqwest=info,rustls=info,sqlx=info,actix_server=info,cookie_store=off",
        );
        let subscriber =
            portico::telemetry::subscriber(filter, portico::config::LogFormat::Text, false, move || {
                sink.clone()
            });
        let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
        buffer
    });
}

/// All log text so far.
pub fn text() -> String {
    LOGS.get()
        .and_then(|b| b.lock().ok().map(|v| String::from_utf8_lossy(&v).into_owned()))
        .unwrap_or_default()
}
