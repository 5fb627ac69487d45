//! One access-log line per request (go-zero's `[HTTP] code - method path - remote - agent`
//! with a `duration` field) and a `slowcall` warning past `Log.SlowThreshold`. With `Verbose`
//! a second line carries the request and response headers (credentials redacted), like
//! go-zero's detailed log handler (which also dumps bodies; this one does not buffer them).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;

use super::{Refusal, Stage};

/// The access-log middleware.
#[derive(Clone, Copy)]
pub struct AccessLog {
    slow: Duration,
    verbose: bool,
}

impl AccessLog {
    /// Warns about calls slower than `slow`.
    pub fn new(slow: Duration) -> Self {
        AccessLog {
            slow,
            verbose: false,
        }
    }

    /// Also logs request and response headers (`Verbose`).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }
}

/// Headers as `name: value` pairs, with credentials redacted.
struct Headers(http::HeaderMap);

impl std::fmt::Display for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let secret = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE].contains(name);
            match (secret, value.to_str()) {
                (true, _) => write!(f, "{name}: <redacted>")?,
                (false, Ok(v)) => write!(f, "{name}: {v}")?,
                (false, Err(_)) => write!(f, "{name}: <binary>")?,
            }
        }
        Ok(())
    }
}

/// go-zero writes durations as `12.3ms`.
pub(crate) struct Ms(pub(crate) Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}ms", self.0.as_secs_f64() * 1000.0)
    }
}

/// What the access line needs from the request.
pub struct Seen {
    start: Instant,
    method: http::Method,
    uri: http::Uri,
    remote: Option<SocketAddr>,
    agent: Option<http::HeaderValue>,
    headers: Option<http::HeaderMap>,
}

impl Stage for AccessLog {
    type Ticket = Seen;

    fn admit(&self, req: &mut Request) -> Result<Seen, Refusal> {
        Ok(Seen {
            start: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            remote: req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            agent: req.headers().get(http::header::USER_AGENT).cloned(),
            headers: self.verbose.then(|| req.headers().clone()),
        })
    }

    fn finish(&self, seen: Seen, resp: &mut Response) {
        let elapsed = seen.start.elapsed();
        let code = resp.status().as_u16();
        let duration = Ms(elapsed);
        let (method, uri) = (&seen.method, &seen.uri);
        let agent = seen
            .agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let remote = Remote(seen.remote);
        tracing::info!(
            target: "access",
            duration = %duration,
            "[HTTP] {code} - {method} {uri} - {remote} - {agent}"
        );
        if let Some(h) = seen.headers {
            tracing::info!(
                target: "access",
                request_headers = %Headers(h),
                response_headers = %Headers(resp.headers().clone()),
                "[HTTP] {code} - {method} {uri} - details"
            );
        }
        if elapsed > self.slow {
            tracing::warn!(
                target: "access",
                duration = %duration,
                "[HTTP] {code} - {method} {uri} - {remote} - {agent} - slowcall({duration})"
            );
        }
    }
}

struct Remote(Option<SocketAddr>);

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[test]
    fn formats_like_go_zero() {
        assert_eq!(Ms(Duration::from_micros(12_345)).to_string(), "12.3ms");
    }

    #[test]
    fn verbose_headers_redact_credentials() {
        let mut h = http::HeaderMap::new();
        h.insert("x-a", "1".parse().unwrap());
        h.insert("authorization", "Bearer secret".parse().unwrap());
        let shown = Headers(h).to_string();
        assert_eq!(shown, "x-a: 1; authorization: <redacted>");
    }

    #[tokio::test]
    async fn passes_the_response_through() {
        let (s, _, body) = run(
            AccessLog::new(Duration::ZERO),
            |_r| async { "hi" },
            get("/a"),
        )
        .await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "hi"));
    }
}
