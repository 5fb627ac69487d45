//! Load shedding (`Mode: pro` only): go-zero's CPU-based adaptive shedder; a refused call
//! answers RESOURCE_EXHAUSTED, as go-zero's `UnarySheddingInterceptor` does.

use std::sync::Arc;
use std::time::Instant;

use crate::load::{Promise, Shedder};

/// The shedding interceptor (one shedder per server).
#[derive(Clone)]
pub(crate) struct Shedding(pub(crate) Arc<Shedder>);

impl Shedding {
    /// Admits a call to `method` arriving at `now` (settle the promise with [`settle`] when
    /// it ends), or refuses it.
    pub(crate) fn admit(&self, method: &str, now: Instant) -> Result<Promise, tonic::Status> {
        self.0.allow_at(now).ok_or_else(|| {
            tracing::error!(method, "grpc shedding reject: {method}");
            tonic::Status::resource_exhausted("service overloaded")
        })
    }
}

/// Settles an admitted call's promise with its final code at `now`: only a missed deadline
/// counts as a sign of overload.
pub(crate) fn settle(promise: Promise, code: tonic::Code, now: Instant) {
    if code == tonic::Code::DeadlineExceeded {
        promise.fail();
    } else {
        promise.pass_at(now);
    }
}
