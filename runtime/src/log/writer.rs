//! A batching, never-blocking log writer.
//!
//! Request handlers append finished lines to a shared in-memory buffer (a short, uncontended
//! critical section); one background thread swaps the buffer out and writes it to the real
//! output (stdout, tracing-appender's rolling file or the size-rotating file of `rotate.rs`)
//! every 50 ms, or sooner once 256 KiB are waiting; every write hands over whole lines.
//! The line every request writes (the access log) may be handed over unformatted
//! ([`BatchWriter::write_later`]): the writer thread formats those in a batch, where the
//! formatting code stays hot in the caches instead of being evicted by the network path
//! between two requests. Its text is copied into the batch rather than handed over as a
//! `String`: a buffer allocated by a request thread and freed by the writer thread takes
//! glibc's slow path on both sides, so the request keeps its buffer for the next request.
//! Hand-written instead of `tracing_appender::non_blocking` because that hands every
//! line to its worker through a channel, waking the worker once per line: on a busy one-core
//! service that wake-up and the per-line `write` were the single largest cost of the access
//! log. If the output cannot keep up and 16 MiB are waiting, new lines are dropped (counted and
//! reported) rather than blocking requests.

use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const WAKE_AT: usize = 256 * 1024;
const DROP_AT: usize = 16 * 1024 * 1024;

/// Turns a line handed over unformatted (a `D`) into its text. The writer knows nothing of
/// what such a line holds: the log module says.
/// It gets the line's text as handed over with it.
pub(crate) type Render<D> = Box<dyn Fn(&D, &str, &mut String) + Send>;

/// Lines waiting for the writer thread.
struct Batch<D> {
    bytes: Vec<u8>,
    /// Unformatted lines, each with the length `bytes` had when it came (its place in
    /// order) and where its text is in `texts`.
    later: Vec<(usize, Range<usize>, D)>,
    /// The texts of the unformatted lines, one after another.
    texts: String,
}

impl<D> Batch<D> {
    /// About what the batch will take once written out (an access line is about 250 bytes).
    fn size(&self) -> usize {
        self.bytes.len() + self.later.len() * 256
    }
}

struct Shared<D> {
    buf: Mutex<Batch<D>>,
    wake: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
}

/// Appends lines to the shared buffer; cheap to clone.
pub(crate) struct BatchWriter<D>(Arc<Shared<D>>);

// Not derived: a derived `Clone` would ask `D: Clone`.
impl<D> Clone for BatchWriter<D> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<D> BatchWriter<D> {
    /// Queues one complete line (or several).
    pub(crate) fn write_line(&self, line: &[u8]) {
        self.queue(line.len(), |b| b.bytes.extend_from_slice(line));
    }

    /// Queues a line with its text for the writer thread to format.
    pub(crate) fn write_later(&self, line: D, text: &str) {
        self.queue(256, |b| {
            let at = b.bytes.len();
            let start = b.texts.len();
            b.texts.push_str(text);
            b.later.push((at, start..b.texts.len(), line));
        });
    }

    fn queue(&self, len: usize, add: impl FnOnce(&mut Batch<D>)) {
        let mut buf = self.0.buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.size() + len > DROP_AT {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        add(&mut buf);
        let wake = buf.size() >= WAKE_AT;
        drop(buf);
        if wake {
            self.0.wake.notify_one();
        }
    }
}

/// Stops the writer thread after writing out everything queued.
pub(crate) struct BatchGuard<D> {
    shared: Arc<Shared<D>>,
    thread: Option<JoinHandle<()>>,
}

impl<D> Drop for BatchGuard<D> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the writer thread over `out`.
pub(crate) fn spawn<D: Send + 'static>(
    mut out: Box<dyn Write + Send>,
    render: Render<D>,
) -> std::io::Result<(BatchWriter<D>, BatchGuard<D>)> {
    let shared = Arc::new(Shared {
        buf: Mutex::new(Batch {
            bytes: Vec::with_capacity(WAKE_AT),
            later: Vec::new(),
            texts: String::new(),
        }),
        wake: Condvar::new(),
        stop: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut spare = Batch {
                bytes: Vec::with_capacity(WAKE_AT),
                later: Vec::new(),
                texts: String::new(),
            };
            let (mut text, mut line) = (Vec::new(), String::new());
            loop {
                let stopping = {
                    let mut buf = s.buf.lock().unwrap_or_else(|e| e.into_inner());
                    if buf.size() < WAKE_AT && !s.stop.load(Ordering::Relaxed) {
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
                let bytes = if spare.later.is_empty() {
                    &spare.bytes
                } else {
                    // The formatted lines go in their places, and everything out in one write.
                    let mut done = 0;
                    for (at, range, pending) in spare.later.drain(..) {
                        text.extend_from_slice(&spare.bytes[done..at]);
                        done = at;
                        line.clear();
                        render(&pending, &spare.texts[range], &mut line);
                        text.extend_from_slice(line.as_bytes());
                    }
                    text.extend_from_slice(&spare.bytes[done..]);
                    &text
                };
                if !bytes.is_empty() {
                    let _ = out.write_all(bytes);
                    let _ = out.flush();
                }
                spare.bytes.clear();
                spare.texts.clear();
                text.clear();
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
        let (w, guard) = spawn::<()>(Box::new(sink.clone()), Box::new(|_, _, _| {})).unwrap();
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
        let (w, _guard) = spawn::<()>(Box::new(sink.clone()), Box::new(|_, _, _| {})).unwrap();
        w.write_line(b"soon\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
