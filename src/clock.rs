//! Time as a parameter: code that depends on "now" takes a [`Clock`], so tests move time
//! instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64 {
        let since = self.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }

    /// Milliseconds on a clock that never goes back, for spans that begin and end in this
    /// process (setting the time of day neither stretches nor shortens them). Only differences
    /// mean anything. A manual clock's own time.
    fn steady_millis(&self) -> i64 {
        self.now_millis()
    }

    /// Waits `by` of this clock's time. (A manual clock moves on by it at once.)
    fn sleep(&self, by: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(by))
    }
}

/// The origin of [`SystemClock::steady_millis`].
static STEADY_ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn steady_millis(&self) -> i64 {
        i64::try_from(STEADY_ORIGIN.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self { now: Arc::new(Mutex::new(SystemTime::now())) }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now.lock().map(|n| *n).unwrap_or_else(|p| *p.into_inner())
    }

    fn sleep(&self, by: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.advance(by);
        Box::pin(std::future::ready(()))
    }
}

pub type SharedClock = Arc<dyn Clock>;
