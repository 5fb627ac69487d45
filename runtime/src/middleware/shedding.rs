//! Adaptive load shedding (go-zero's algorithm, see `crate::load`): 503 while shedding.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;

use super::{Refusal, Stage, refuse};
use crate::error::Error;
use crate::load::{Promise, Shedder};
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

impl Stage for Shedding {
    type Ticket = Promise;

    fn admit(&self, _req: &mut Request, now: Instant) -> Result<Promise, Refusal> {
        self.shedder.allow_at(now).ok_or_else(|| {
            self.metrics.reject(&self.path, Rejection::Shed);
            refuse(Error::ServiceUnavailable("service overloaded".into()))
        })
    }

    /// A 503 from further in is overload too; anything else feeds the capacity estimate.
    fn finish(&self, promise: Promise, resp: &mut Response, now: Instant) {
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            promise.fail();
        } else {
            promise.pass_at(now);
        }
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
