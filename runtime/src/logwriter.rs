//! A batching, never-blocking log writer.
//!
//! Request handlers append finished lines to a shared in-memory buffer (a short, uncontended
//! critical section); one background thread swaps the buffer out and writes it to the real
//! output (stdout, tracing-appender's rolling file or the size-rotating file of `rotate.rs`)
//! every 50 ms, or sooner once 256 KiB are waiting; every write hands over whole lines.
//! Hand-written instead of `tracing_appender::non_blocking` because that hands every
//! line to its worker through a channel, waking the worker once per line: on a busy one-core
//! service that wake-up and the per-line `write` were the single largest cost of the access
//! log. If the output cannot keep up and 16 MiB are waiting, new lines are dropped (counted and
//! reported) rather than blocking requests.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const WAKE_AT: usize = 256 * 1024;
const DROP_AT: usize = 16 * 1024 * 1024;

struct Shared {
    buf: Mutex<Vec<u8>>,
    wake: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
}

/// Appends lines to the shared buffer; cheap to clone.
#[derive(Clone)]
pub(crate) struct BatchWriter(Arc<Shared>);

impl BatchWriter {
    /// Queues one complete line (or several).
    pub(crate) fn write_line(&self, line: &[u8]) {
        let mut buf = self.0.buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.len() + line.len() > DROP_AT {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.extend_from_slice(line);
        let wake = buf.len() >= WAKE_AT;
        drop(buf);
        if wake {
            self.0.wake.notify_one();
        }
    }
}

/// Stops the writer thread after writing out everything queued.
pub(crate) struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the writer thread over `out`.
pub(crate) fn spawn(mut out: Box<dyn Write + Send>) -> std::io::Result<(BatchWriter, BatchGuard)> {
    let shared = Arc::new(Shared {
        buf: Mutex::new(Vec::with_capacity(WAKE_AT)),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut spare = Vec::with_capacity(WAKE_AT);
            loop {
                let stopping = {
                    let mut buf = s.buf.lock().unwrap_or_else(|e| e.into_inner());
                    if buf.len() < WAKE_AT && !s.stop.load(Ordering::Relaxed) {
                        buf = s
                            .wake
                            .wait_timeout(buf, FLUSH_EVERY)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    std::mem::swap(&mut *buf, &mut spare);
                    s.stop.load(Ordering::Relaxed)
                };
                let dropped = s.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let _ = writeln!(
                        out,
                        "{{\"level\":\"error\",\"content\":\"log output too slow: {dropped} lines dropped\"}}"
                    );
                }
                if !spare.is_empty() {
                    let _ = out.write_all(&spare);
                    let _ = out.flush();
                    spare.clear();
                }
                if stopping {
                    let _ = out.flush();
                    return;
                }
            }
        })?;
    Ok((
        BatchWriter(shared.clone()),
        BatchGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn guard_drop_writes_everything_in_order() {
        let sink = Sink::default();
        let (w, guard) = spawn(Box::new(sink.clone())).unwrap();
        for i in 0..10_000 {
            w.write_line(format!("line {i}\n").as_bytes());
        }
        drop(guard);
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[9_999], "line 9999");
    }

    #[test]
    fn idle_lines_are_written_without_a_flush() {
        let sink = Sink::default();
        let (w, _guard) = spawn(Box::new(sink.clone())).unwrap();
        w.write_line(b"soon\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
