//! Access lines: built in per-thread buffers reused from one call to the next (the log
//! writer copies a line's text), with the client's address written without `fmt`.

use std::cell::RefCell;
use std::net::SocketAddr;

thread_local! {
    /// Access-line buffers of this thread, reused from one request to the next: the log
    /// writer copies a line's text, and the buffer stays here (allocating it per request on
    /// this thread and freeing it on the writer's took glibc's slow path on both).
    static SPARE_LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// An empty line buffer with room for `capacity` bytes.
pub(crate) fn buffer(capacity: usize) -> String {
    let spare = SPARE_LINES
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten();
    let mut line = spare.unwrap_or_default();
    line.reserve(capacity);
    line
}

/// Keeps `line` for a later request (up to 64 buffers of at most 4 KiB each per thread).
pub(crate) fn recycle(mut line: String) {
    if line.capacity() > 4096 {
        return;
    }
    line.clear();
    let _ = SPARE_LINES.try_with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < 64 {
            spare.push(line);
        }
    });
}

/// Appends the client's address; IPv4 without the formatting machinery (this runs per
/// request, and `SocketAddr`'s `Display` was the costliest part of the line).
pub(crate) fn push_remote(out: &mut String, remote: Option<SocketAddr>) {
    match remote {
        Some(SocketAddr::V4(a)) => {
            let mut n = itoa::Buffer::new();
            for (i, octet) in a.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(n.format(octet));
            }
            out.push(':');
            out.push_str(n.format(a.port()));
        }
        Some(a) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
        None => out.push('-'),
    }
}
