//! Adaptive load shedding (go-zero's algorithm, see `crate::load`): 503 while shedding.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::{Handle, ResponseFuture, done};
use crate::error::Error;
use crate::load::Shedder;
use crate::metrics::{Metrics, Rejection};

/// The shedding middleware; clones share the shedder.
#[derive(Clone)]
pub struct Shedding {
    shedder: Arc<Shedder>,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl Shedding {
    /// Sheds with `shedder`.
    pub fn new(shedder: Arc<Shedder>, metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        Shedding {
            shedder,
            metrics,
            path,
        }
    }
}

impl Handle for Shedding {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let Some(promise) = self.shedder.allow() else {
            self.metrics.reject(&self.path, Rejection::Shed);
            let resp = Error::ServiceUnavailable("service overloaded".into()).into_response();
            return Box::pin(std::future::ready(resp));
        };
        let fut = next(req);
        Box::pin(async move {
            let resp = done(fut.await);
            if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
                promise.fail();
            } else {
                promise.pass();
            }
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::CpuSource;
    use crate::middleware::test_util::{get, run};
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn sheds_under_forced_overload() {
        let cpu = Arc::new(AtomicU64::new(0));
        let shedder = Arc::new(Shedder::new(900, CpuSource::Fixed(cpu.clone())));
        let mw = Shedding::new(shedder.clone(), Arc::new(Metrics::new()), Arc::from("/"));
        assert_eq!(run(mw.clone(), |_r| async { "ok" }, get("/")).await.0, 200);
        // Many requests in flight, then CPU over the threshold.
        let mut held: Vec<_> = (0..100).map(|_| shedder.allow().unwrap()).collect();
        for _ in 0..50 {
            held.pop().unwrap().fail();
        }
        cpu.store(1000, Ordering::Relaxed);
        let (s, _, body) = run(mw.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 503, "{body}");
        assert!(body.contains("overloaded"));
    }
}
