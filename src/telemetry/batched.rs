//! Log lines written to standard output in batches by a thread of their own.
//!
//! The threads that log only append the formatted line to a buffer: serving a request never
//! waits for a write to a file or a pipe, nor for another worker's write (standard output is one
//! lock). The writer thread writes whatever has gathered, then lets lines gather for
//! [`GATHER`], so a busy portal makes a few hundred writes a second instead of one per line.
//! Nothing is dropped: a thread that logs waits while [`MAX_PENDING`] bytes are pending, and
//! [`Flusher`] writes out the rest when the portal stops.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How much may wait to be written before the threads that log wait too.
const MAX_PENDING: usize = 1 << 20;

/// How long the writer lets lines gather after each write: the most a line waits.
const GATHER: Duration = Duration::from_millis(2);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
    /// The writer waits for lines (else it is writing or letting lines gather, and will look).
    writer_waits: bool,
    /// Threads waiting for room.
    loggers_waiting: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Standard output (another sink in tests).
    sink: Mutex<Box<dyn Write + Send>>,
    /// Lines arrived (the writer waits on this).
    filled: Condvar,
    /// Pending lines were taken (loggers wait on this when it was full).
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Appending bytes cannot leave the buffer inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_to_sink(&self, bytes: &[u8]) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        sink.write_all(bytes).and_then(|()| sink.flush())
    }
}

/// Standard output for the log subscriber (one clone per line).
#[derive(Clone)]
pub struct BatchedStdout {
    shared: Arc<Shared>,
}

/// Writes out the pending lines and stops the writer when dropped: hold it while serving.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread. Without it (no thread could be started), every line is written
/// as it comes.
pub fn start() -> (BatchedStdout, Option<Flusher>) {
    start_to(Box::new(io::stdout()))
}

fn start_to(sink: Box<dyn Write + Send>) -> (BatchedStdout, Option<Flusher>) {
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        sink: Mutex::new(sink),
        filled: Condvar::new(),
        drained: Condvar::new(),
    });
    let spawned = std::thread::Builder::new().name("portico-log".to_owned()).spawn({
        let shared = shared.clone();
        move || write_out(&shared)
    });
    let flusher = match spawned {
        Ok(thread) => Some(Flusher { shared: shared.clone(), thread: Some(thread) }),
        Err(_) => {
            shared.lock().closed = true;
            None
        }
    };
    (BatchedStdout { shared }, flusher)
}

// (A condition variable's notify is a system call even when nobody waits, so each side notifies
// only when the other said it waits: a busy portal's lines then cost no wake-up at all.)
fn write_out(shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        let room_awaited = {
            let mut state = shared.lock();
            while state.pending.is_empty() && !state.closed {
                state.writer_waits = true;
                state = shared.filled.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            state.writer_waits = false;
            if state.pending.is_empty() {
                return;
            }
            std::mem::swap(&mut batch, &mut state.pending);
            state.loggers_waiting > 0
        };
        if room_awaited {
            shared.drained.notify_all();
        }
        // A log line that cannot be written has nowhere else to go.
        let _ = shared.write_to_sink(&batch);
        batch.clear();
        std::thread::sleep(GATHER);
    }
}

impl Write for BatchedStdout {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        while state.pending.len() >= MAX_PENDING && !state.closed {
            state.loggers_waiting += 1;
            state = self.shared.drained.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.loggers_waiting -= 1;
        }
        if state.closed {
            // Stopped (or never started): lines go out directly.
            drop(state);
            return self.shared.write_to_sink(line).map(|()| line.len());
        }
        state.pending.extend_from_slice(line);
        // Only the first line after the writer began to wait wakes it.
        let wake = std::mem::take(&mut state.writer_waits);
        drop(state);
        if wake {
            self.shared.filled.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.filled.notify_all();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_once_in_order_even_past_the_pending_limit() {
        let sink = Sink::default();
        let (writer, flusher) = start_to(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        writer
                            .write_all(format!("thread {t} line {i:05} {}\n", "x".repeat(40)).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flusher);
        writer.clone().write_all(b"after the stop\n").unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4 * 20_000 + 1, "nothing lost, nothing doubled");
        for t in 0..4 {
            let mine: Vec<&str> =
                lines.iter().copied().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            assert_eq!(mine.len(), 20_000);
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "a thread's lines keep their order");
        }
        assert_eq!(lines.last(), Some(&"after the stop"));
    }
}
