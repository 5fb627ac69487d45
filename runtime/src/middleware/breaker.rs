//! A Google SRE adaptive breaker per route (see `crate::breaker`): 5xx responses count as
//! failures; while the breaker drops, 503.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::{Handle, ResponseFuture, done};
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

impl Handle for BreakerMiddleware {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        if !self.breaker.allow() {
            self.metrics.reject(&self.path, Rejection::Breaker);
            tracing::error!(path = %self.path, "[http] dropped, circuit breaker is open");
            let resp = Error::ServiceUnavailable("circuit breaker is open".into()).into_response();
            return Box::pin(std::future::ready(resp));
        }
        let fut = next(req);
        let breaker = self.breaker.clone();
        Box::pin(async move {
            let resp = done(fut.await);
            breaker.record(!resp.status().is_server_error());
            resp
        })
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
