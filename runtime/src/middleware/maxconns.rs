//! `MaxConns`: at most N requests in flight server-wide; past that, 503 at once.
//!
//! Hand-written because tower's `ConcurrencyLimit` queues requests instead of refusing them,
//! and go-zero refuses. A counter rather than a tokio `Semaphore`: nothing ever waits for a
//! slot, and a semaphore's release takes its waiters' lock on every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::Request;

use super::{Refusal, Stage, refuse};
use crate::error::Error;
use crate::metrics::{Metrics, Rejection};

/// The server-wide count of requests in flight, and its limit.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    used: AtomicUsize,
}

impl Slots {
    /// Room for `max` requests at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Slots {
            max,
            used: AtomicUsize::new(0),
        })
    }

    /// A slot, held until the returned guard is dropped; `None` when all are taken.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        // Counting up first and backing out on a refusal never lets more than `max` in: a
        // request is let in only if the count was below `max` before its own increment.
        if self.used.fetch_add(1, Ordering::AcqRel) < self.max {
            Some(Slot(self.clone()))
        } else {
            self.used.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

/// One request's slot in [`Slots`].
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The MaxConns middleware; clones share the limit.
#[derive(Clone)]
pub struct MaxConns {
    slots: Arc<Slots>,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl MaxConns {
    /// Shares `slots` across routes.
    pub fn new(slots: Arc<Slots>, metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        MaxConns {
            slots,
            metrics,
            path,
        }
    }
}

impl Stage for MaxConns {
    /// Held until the response is ready.
    type Ticket = Slot;

    fn admit(&self, _req: &mut Request, _now: Instant) -> Result<Slot, Refusal> {
        self.slots.try_take().ok_or_else(|| {
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
        let slots = Slots::new(1);
        let mw = MaxConns::new(slots.clone(), Arc::new(Metrics::new()), Arc::from("/"));
        let (s, _, _) = run(mw.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 200);
        let held = slots.try_take().unwrap();
        assert!(slots.try_take().is_none(), "one slot, taken");
        let (s, _, body) = run(mw.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 503, "{body}");
        drop(held);
        assert_eq!(run(mw, |_r| async { "ok" }, get("/")).await.0, 200);
    }
}
