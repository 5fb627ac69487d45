//! A Google SRE adaptive breaker per route (see `crate::breaker`): 5xx responses count as
//! failures; while the breaker drops, 503.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;

use super::{Refusal, Stage, refuse};
use crate::breaker::Breaker;
use crate::error::Error;
use crate::metrics::{Metrics, Rejection};

/// The breaker middleware for one route.
#[derive(Clone)]
pub struct BreakerMiddleware {
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl BreakerMiddleware {
    /// A fresh breaker for route `path`.
    pub fn new(metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        BreakerMiddleware {
            breaker: Arc::new(Breaker::new()),
            metrics,
            path,
        }
    }
}

impl Stage for BreakerMiddleware {
    type Ticket = ();

    fn admit(&self, _req: &mut Request, now: Instant) -> Result<(), Refusal> {
        if self.breaker.allow_at(now, fastrand::f64()) {
            return Ok(());
        }
        self.metrics.reject(&self.path, Rejection::Breaker);
        tracing::error!(path = %self.path, "[http] dropped, circuit breaker is open");
        Err(refuse(Error::ServiceUnavailable(
            "circuit breaker is open".into(),
        )))
    }

    /// A 5xx answer counts as a failure of the route.
    fn finish(&self, _: (), resp: &mut Response, now: Instant) {
        self.breaker
            .record_at(now, !resp.status().is_server_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};
    use http::StatusCode;

    #[tokio::test]
    async fn opens_after_repeated_5xx() {
        let mw = BreakerMiddleware::new(Arc::new(Metrics::new()), Arc::from("/"));
        let mut opened = 0;
        for _ in 0..200 {
            let (s, _, body) = run(
                mw.clone(),
                |_r| async { StatusCode::INTERNAL_SERVER_ERROR },
                get("/"),
            )
            .await;
            if s == StatusCode::SERVICE_UNAVAILABLE {
                assert!(body.contains("circuit breaker"));
                opened += 1;
            }
        }
        // Drop probability approaches (n-5)/(n+1); 200 calls give well over 100 drops.
        assert!(opened > 100, "only {opened} dropped");
    }
}
