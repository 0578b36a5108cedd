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
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,reqwest=info,rustls=info,sqlx=info,actix_server=info,cookie_store=off")
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .try_init();
        buffer
    });
}

/// All log text so far.
pub fn text() -> String {
    LOGS.get()
        .and_then(|b| b.lock().ok().map(|v| String::from_utf8_lossy(&v).into_owned()))
        .unwrap_or_default()
}
