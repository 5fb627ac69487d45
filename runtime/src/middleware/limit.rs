//! Rate limit (`Limit`: `Quota` requests per `Period` seconds) as a local token bucket from
//! `governor`: the bucket holds `Quota` tokens and refills one every `Period/Quota`. Refused
//! requests get 429 with `Retry-After`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::{Refusal, Stage, refuse};
use crate::error::Error;
use crate::metrics::{Metrics, Rejection};

/// The rate-limit middleware; clones share the bucket.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultDirectRateLimiter>,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl RateLimit {
    /// `quota` requests per `period`; `None` when either is zero.
    pub fn new(
        period: Duration,
        quota: u64,
        metrics: Arc<Metrics>,
        path: Arc<str>,
    ) -> Option<Self> {
        let burst = std::num::NonZeroU32::new(u32::try_from(quota).unwrap_or(u32::MAX))?;
        let q = Quota::with_period(period / burst.get())?.allow_burst(burst);
        Some(RateLimit {
            limiter: Arc::new(RateLimiter::direct(q)),
            metrics,
            path,
        })
    }
}

impl Stage for RateLimit {
    type Ticket = ();

    fn admit(&self, _req: &mut Request, _now: Instant) -> Result<(), Refusal> {
        self.limiter.check().map_err(|not_until| {
            self.metrics.reject(&self.path, Rejection::Limit);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            refuse(Error::TooManyRequests { retry_after })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[tokio::test]
    async fn quota_then_429_with_retry_after() {
        let m = Arc::new(Metrics::new());
        let mw = RateLimit::new(Duration::from_secs(10), 3, m.clone(), Arc::from("/")).unwrap();
        for _ in 0..3 {
            assert_eq!(run(mw.clone(), |_r| async { "ok" }, get("/")).await.0, 200);
        }
        let (s, headers, body) = run(mw, |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 429, "{body}");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=4).contains(&retry), "one token per 3.33 s: {retry}");
        assert!(
            m.render()
                .contains(r#"http_server_requests_rejected_total{path="/",reason="limit"} 1"#)
        );
        assert!(RateLimit::new(Duration::from_secs(1), 0, m, Arc::from("/")).is_none());
    }
}
