//! One access-log line per request (go-zero's `[HTTP] code - method path - remote - agent`
//! with a `duration` field) and a `slowcall` warning past `Log.SlowThreshold`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;

use super::{Handle, Next};

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
pub(crate) fn fmt_ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

impl Handle for AccessLog {
    async fn handle<N: Next>(self, req: Request, next: N) -> Response {
        let start = Instant::now();
        let method = req.method().clone();
        let uri = req.uri().clone();
        let remote = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_else(|| "-".into());
        let agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let resp = next.run(req).await;
        let elapsed = start.elapsed();
        let code = resp.status().as_u16();
        let duration = fmt_ms(elapsed);
        tracing::info!(
            target: "access",
            duration = %duration,
            "[HTTP] {code} - {method} {uri} - {remote} - {agent}"
        );
        if elapsed > self.slow {
            tracing::warn!(
                target: "access",
                duration = %duration,
                "[HTTP] {code} - {method} {uri} - {remote} - {agent} - slowcall({duration})"
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[test]
    fn formats_like_go_zero() {
        assert_eq!(fmt_ms(Duration::from_micros(12_345)), "12.3ms");
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
