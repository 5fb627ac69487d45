//! Per-call timeout: the smaller of `Timeout` and the client's `grpc-timeout`; past it the
//! handler is dropped and the call answers DEADLINE_EXCEEDED.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::conf::MethodTimeoutConf;
use super::intercept::{Deadline, parse_grpc_timeout};

/// The timeout interceptor: `Timeout` (`None`: only the client's deadline) and the
/// per-method overrides of `MethodTimeouts`.
#[derive(Clone, Debug)]
pub(crate) struct Timeout {
    pub(crate) default: Option<Duration>,
    pub(crate) methods: Arc<HashMap<String, Option<Duration>>>,
}

impl Timeout {
    /// From `Timeout` and `MethodTimeouts` (ms; 0 disables).
    pub(crate) fn new(default_ms: u64, methods: &[MethodTimeoutConf]) -> Self {
        let d = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Timeout {
            default: d(default_ms),
            methods: Arc::new(
                methods
                    .iter()
                    .map(|m| (m.full_method.clone(), d(m.timeout)))
                    .collect(),
            ),
        }
    }
}

/// The deadline of a call: the smaller of `conf` and the request's `grpc-timeout`.
pub(crate) fn effective(conf: Option<Duration>, headers: &http::HeaderMap) -> Option<Duration> {
    let asked = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match (conf, asked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Timeout {
    /// The deadline of a call to `method` that arrived at `now` with `headers`, if anything
    /// limits it.
    pub(crate) fn start(
        &self,
        method: &str,
        headers: &http::HeaderMap,
        now: std::time::Instant,
    ) -> Option<Deadline> {
        let conf = match self.methods.get(method) {
            Some(t) => *t,
            None => self.default,
        };
        Some(Deadline::new(now, effective(conf, headers)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_deadline_wins() {
        let mut h = http::HeaderMap::new();
        let s = |ms| Some(Duration::from_millis(ms));
        assert_eq!(effective(s(2000), &h), s(2000));
        h.insert("grpc-timeout", http::HeaderValue::from_static("100m"));
        assert_eq!(effective(s(2000), &h), s(100));
        assert_eq!(effective(s(50), &h), s(50));
        assert_eq!(effective(None, &h), s(100));
    }
}
