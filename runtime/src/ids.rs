//! Trace and span ids of the request being served: W3C `traceparent` in and out, and the ids
//! of the request being polled on this thread, so that every log line written inside a
//! request carries them whether or not an OpenTelemetry exporter runs.
//!
//! The ids are plain numbers, copied rather than shared, and turned into hex only where a
//! line or a header is written: this runs on every request, so it allocates nothing.

use std::cell::Cell;

use crate::current::{self, Current, Restore, WithCurrent};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The `traceparent` header name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A trace id, a span id and the sampling flag of one request (or one call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// The trace id (never zero).
    pub trace: u128,
    /// This span's id (never zero).
    pub span: u64,
    /// Whether the trace is sampled.
    pub sampled: bool,
}

/// Every byte's two lowercase hex digits, so that a byte costs one lookup.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

/// Writes big-endian `bytes` as lowercase hex digits (`N` = twice their number).
fn hex<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    out
}

fn parse_hex(s: &[u8]) -> Option<u128> {
    let mut v: u128 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

impl Ids {
    /// A new trace: random ids, sampled.
    pub fn new_trace() -> Self {
        // Two plain 64-bit draws: sampling a `1..` range of u128 takes a 128-bit widening
        // multiply per id. An all-zero id (invalid in W3C) becomes 1, a 2^-128 bias.
        let trace = u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..));
        Ids {
            trace: trace.max(1),
            span: new_span(),
            sampled: true,
        }
    }

    /// The next hop of the trace `parent` continues (a new span id), or a new trace.
    pub fn child_of(parent: Option<Ids>) -> Self {
        match parent {
            Some(p) => Ids {
                span: new_span(),
                ..p
            },
            None => Ids::new_trace(),
        }
    }

    /// Ids from their hex forms (32 and 16 lowercase digits), as OpenTelemetry prints them.
    pub fn from_hex(trace: &str, span: &str, sampled: bool) -> Option<Self> {
        if trace.len() != 32 || span.len() != 16 {
            return None;
        }
        let trace = parse_hex(trace.as_bytes())?;
        let span = u64::try_from(parse_hex(span.as_bytes())?).ok()?;
        (trace != 0 && span != 0).then_some(Ids {
            trace,
            span,
            sampled,
        })
    }

    /// The ids OpenTelemetry gave `span`, when spans are exported and it has valid ones.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| Ids {
            trace: u128::from_be_bytes(sc.trace_id().to_bytes()),
            span: u64::from_be_bytes(sc.span_id().to_bytes()),
            sampled: sc.trace_flags().is_sampled(),
        })
    }

    /// The ids a W3C `traceparent` header carries (`00-<trace>-<span>-<flags>`), if it is
    /// valid. Parsed here rather than by OpenTelemetry's propagator, which builds a whole
    /// context (with allocations) per request to read these 55 bytes.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let v = crate::header::get(headers, &TRACEPARENT)?.as_bytes();
        // Later versions may append fields after the flags; version ff is invalid.
        if v.len() < 55 || (v.len() > 55 && v[55] != b'-') || &v[..2] == b"ff" {
            return None;
        }
        if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' || (&v[..2] == b"00" && v.len() != 55) {
            return None;
        }
        parse_hex(&v[..2])?;
        let flags = parse_hex(&v[53..55])?;
        let trace = parse_hex(&v[3..35])?;
        let span = u64::try_from(parse_hex(&v[36..52])?).ok()?;
        (trace != 0 && span != 0).then_some(Ids {
            trace,
            span,
            sampled: flags & 1 == 1,
        })
    }

    /// 32 hex digits.
    pub fn trace_hex(&self) -> [u8; 32] {
        hex::<32>(&self.trace.to_be_bytes())
    }

    /// 16 hex digits.
    pub fn span_hex(&self) -> [u8; 16] {
        hex::<16>(&self.span.to_be_bytes())
    }

    /// The trace id as a string of 32 hex digits.
    pub fn trace_id(&self) -> String {
        String::from_utf8_lossy(&self.trace_hex()).into_owned()
    }

    /// The span id as a string of 16 hex digits.
    pub fn span_id(&self) -> String {
        String::from_utf8_lossy(&self.span_hex()).into_owned()
    }

    /// The W3C `traceparent` value of this span.
    pub fn traceparent(&self) -> HeaderValue {
        let mut v = [0u8; 55];
        v[..3].copy_from_slice(b"00-");
        v[3..35].copy_from_slice(&self.trace_hex());
        v[35] = b'-';
        v[36..52].copy_from_slice(&self.span_hex());
        v[52..].copy_from_slice(if self.sampled { b"-01" } else { b"-00" });
        HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&v))
            .expect("hex digits and dashes are a valid header value")
    }
}

/// A random span id; never zero (invalid in W3C), with a 2^-64 bias towards 1.
fn new_span() -> u64 {
    fastrand::u64(..).max(1)
}

thread_local! {
    /// The ids of the request being polled on this thread.
    static CURRENT: Cell<Option<Ids>> = const { Cell::new(None) };
}

impl Current for Ids {
    fn slot() -> &'static std::thread::LocalKey<Cell<Option<Ids>>> {
        &CURRENT
    }
}

/// Makes `ids` the current ids of this thread until the returned guard drops.
pub(crate) fn enter(ids: Ids) -> Restore<Ids> {
    current::enter(ids)
}

/// Runs `f` with `ids` as the current ids of this thread.
pub fn with_ids<R>(ids: Ids, f: impl FnOnce() -> R) -> R {
    let _restore = enter(ids);
    f()
}

/// The ids of the request being polled on this thread, if any.
pub fn current() -> Option<Ids> {
    current::get()
}

/// A future that is polled with its request's ids current (`WithIds::new(ids, fut)`): the
/// log lines it writes carry them, and the calls it makes propagate them.
pub type WithIds<F> = WithCurrent<Ids, F>;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(tp: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, HeaderValue::from_str(tp).unwrap());
        h
    }

    #[test]
    fn parses_and_writes_traceparent() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let ids = Ids::from_headers(&headers(tp)).unwrap();
        assert_eq!(ids.trace, 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(ids.span, 0xb7ad6b7169203331);
        assert!(ids.sampled);
        assert_eq!(ids.traceparent(), tp);
        assert_eq!(ids.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ids.span_id(), "b7ad6b7169203331");
        let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        assert!(!Ids::from_headers(&headers(unsampled)).unwrap().sampled);
        let future = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra";
        assert!(Ids::from_headers(&headers(future)).is_some());
    }

    #[test]
    fn rejects_invalid_traceparent() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
        ] {
            assert_eq!(Ids::from_headers(&headers(bad)), None, "{bad}");
        }
    }

    #[test]
    fn child_keeps_the_trace_and_takes_a_new_span() {
        let parent = Ids::new_trace();
        let child = Ids::child_of(Some(parent));
        assert_eq!((child.trace, child.sampled), (parent.trace, parent.sampled));
        assert_ne!(child.span, parent.span);
        assert_ne!(Ids::child_of(None).trace, parent.trace);
    }

    #[test]
    fn current_is_restored_after_a_panic() {
        let ids = Ids::new_trace();
        assert_eq!(with_ids(ids, current), Some(ids));
        let boom = std::panic::catch_unwind(|| with_ids(ids, || panic!("handler bug")));
        assert!(boom.is_err());
        assert_eq!(current(), None);
    }
}
