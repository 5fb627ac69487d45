//! One access-log line per request (go-zero's `[HTTP] code - method path - remote - agent`
//! with a `duration` field) and a `slowcall` warning past `Log.SlowThreshold`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::convert::Infallible;
use std::future::Future;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;

use super::{Handle, ResponseFuture, done};

/// The access-log middleware.
#[derive(Clone, Copy)]
pub struct AccessLog {
    slow: Duration,
}

impl AccessLog {
    /// Warns about calls slower than `slow`.
    pub fn new(slow: Duration) -> Self {
        AccessLog { slow }
    }
}

/// go-zero writes durations as `12.3ms`.
pub(crate) struct Ms(pub(crate) Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}ms", self.0.as_secs_f64() * 1000.0)
    }
}

impl Handle for AccessLog {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let start = Instant::now();
        let method = req.method().clone();
        let uri = req.uri().clone();
        let remote = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let agent = req.headers().get(http::header::USER_AGENT).cloned();
        let slow = self.slow;
        let fut = next(req);
        Box::pin(async move {
            let resp = done(fut.await);
            let elapsed = start.elapsed();
            let code = resp.status().as_u16();
            let duration = Ms(elapsed);
            let agent = agent.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
            let remote = Remote(remote);
            tracing::info!(
                target: "access",
                duration = %duration,
                "[HTTP] {code} - {method} {uri} - {remote} - {agent}"
            );
            if elapsed > slow {
                tracing::warn!(
                    target: "access",
                    duration = %duration,
                    "[HTTP] {code} - {method} {uri} - {remote} - {agent} - slowcall({duration})"
                );
            }
            resp
        })
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
