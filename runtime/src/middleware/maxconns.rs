//! `MaxConns`: at most N requests in flight server-wide; past that, 503 at once.
//!
//! Hand-written over a tokio `Semaphore` because tower's `ConcurrencyLimit` queues requests
//! instead of refusing them, and go-zero refuses.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::{Handle, ResponseFuture, done};
use crate::error::Error;
use crate::metrics::{Metrics, Rejection};

/// The MaxConns middleware; clones share the limit.
#[derive(Clone)]
pub struct MaxConns {
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl MaxConns {
    /// Shares `permits` (one per allowed in-flight request) across routes.
    pub fn new(permits: Arc<Semaphore>, metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        MaxConns {
            permits,
            metrics,
            path,
        }
    }
}

impl Handle for MaxConns {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.metrics.reject(&self.path, Rejection::MaxConns);
            tracing::error!("concurrent connections over limit, request refused");
            let resp =
                Error::ServiceUnavailable("too many concurrent requests".into()).into_response();
            return Box::pin(std::future::ready(resp));
        };
        let fut = next(req);
        Box::pin(async move {
            let resp = done(fut.await);
            drop(permit);
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[tokio::test]
    async fn refuses_past_the_limit() {
        let sem = Arc::new(Semaphore::new(1));
        let mw = MaxConns::new(sem.clone(), Arc::new(Metrics::new()), Arc::from("/"));
        let (s, _, _) = run(mw.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 200);
        let held = sem.clone().try_acquire_owned().unwrap();
        let (s, _, body) = run(mw.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 503, "{body}");
        drop(held);
        assert_eq!(run(mw, |_r| async { "ok" }, get("/")).await.0, 200);
    }
}
