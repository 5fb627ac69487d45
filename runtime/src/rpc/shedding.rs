//! Load shedding (`Mode: pro` only): go-zero's CPU-based adaptive shedder; a refused call
//! answers RESOURCE_EXHAUSTED, as go-zero's `UnarySheddingInterceptor` does.

use std::sync::Arc;

use crate::load::{Promise, Shedder};

/// The shedding interceptor (one shedder per server).
#[derive(Clone)]
pub(crate) struct Shedding(pub(crate) Arc<Shedder>);

impl Shedding {
    /// Admits a call to `method` (settle the promise with [`settle`] when it ends), or
    /// refuses it.
    pub(crate) fn admit(&self, method: &str) -> Result<Promise, tonic::Status> {
        self.0.allow().ok_or_else(|| {
            tracing::error!(method, "grpc shedding reject: {method}");
            tonic::Status::resource_exhausted("service overloaded")
        })
    }
}

/// Settles an admitted call's promise with its final code: only a missed deadline counts as
/// a sign of overload.
pub(crate) fn settle(promise: Promise, code: tonic::Code) {
    if code == tonic::Code::DeadlineExceeded {
        promise.fail();
    } else {
        promise.pass();
    }
}
