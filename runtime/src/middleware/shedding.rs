//! Adaptive load shedding (go-zero's algorithm, see `crate::load`): 503 while shedding.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;

use super::{Refusal, Stage, refuse};
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

/// A request the shedder let in, at `start`; settled when it is finished or abandoned.
pub struct Admitted {
    start: Instant,
}

impl Stage for Shedding {
    type Ticket = Admitted;

    fn admit(&self, _req: &mut Request, now: Instant) -> Result<Admitted, Refusal> {
        if self.shedder.admit_at(now) {
            return Ok(Admitted { start: now });
        }
        self.metrics.reject(&self.path, Rejection::Shed);
        Err(refuse(Error::ServiceUnavailable(
            "service overloaded".into(),
        )))
    }

    /// A 503 from further in is overload too; anything else feeds the capacity estimate.
    fn finish(&self, admitted: Admitted, resp: &mut Response, now: Instant) {
        let passed = (resp.status() != StatusCode::SERVICE_UNAVAILABLE).then_some(now);
        self.shedder.settle(admitted.start, passed);
    }

    /// No longer in flight; no latency to learn from.
    fn abandon(&self, admitted: Admitted) {
        self.shedder.settle(admitted.start, None);
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
