//! Per-method Google SRE breakers (see [`crate::breaker`]) for the client; the server keeps
//! its own with each method (`methods.rs`).
//! Outcomes count as failures as go-zero's `codes.Acceptable` says (DEADLINE_EXCEEDED,
//! INTERNAL, UNAVAILABLE, DATA_LOSS, UNIMPLEMENTED, RESOURCE_EXHAUSTED); an open breaker answers
//! UNAVAILABLE without calling the handler (or the server).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::breaker::Breaker;

/// One breaker per method, created on first use.
#[derive(Default)]
pub(crate) struct Breakers {
    map: RwLock<HashMap<Arc<str>, Arc<Breaker>>>,
}

impl Breakers {
    /// The breaker of `method`.
    pub(crate) fn get(&self, method: &Arc<str>) -> Arc<Breaker> {
        if let Some(b) = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(method)
        {
            return b.clone();
        }
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(method.clone())
            .or_default()
            .clone()
    }
}

/// The refusal an open breaker answers with.
pub(crate) fn open_status() -> tonic::Status {
    tonic::Status::unavailable("circuit breaker is open")
}
