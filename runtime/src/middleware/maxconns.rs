//! `MaxConns`: at most N requests in flight server-wide; past that, 503 at once.
//!
//! Hand-written over a tokio `Semaphore` because tower's `ConcurrencyLimit` queues requests
//! instead of refusing them, and go-zero refuses.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Refusal, Stage, refuse};
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

impl Stage for MaxConns {
    /// Held until the response is ready.
    type Ticket = OwnedSemaphorePermit;

    fn admit(&self, _req: &mut Request, _now: Instant) -> Result<OwnedSemaphorePermit, Refusal> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            self.metrics.reject(&self.path, Rejection::MaxConns);
            tracing::error!("concurrent connections over limit, request refused");
            refuse(Error::ServiceUnavailable(
                "too many concurrent requests".into(),
            ))
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
