//! Per-method Google SRE breakers (see [`crate::breaker`]) for the server and the client.
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

/// The server's breaker interceptor. Only methods of registered services get a breaker, so
/// random paths cannot grow the map.
#[derive(Clone)]
pub(crate) struct BreakerIntercept {
    pub(crate) breakers: Arc<Breakers>,
    pub(crate) services: Arc<[String]>,
}

impl BreakerIntercept {
    fn known(&self, method: &str) -> bool {
        let service = method
            .trim_start_matches('/')
            .split_once('/')
            .map_or("", |(s, _)| s);
        self.services.iter().any(|s| s == service)
    }
}

impl BreakerIntercept {
    /// The breaker a call to `method` reports to (none for unknown methods), or the refusal
    /// of an open breaker.
    pub(crate) fn admit(&self, method: &Arc<str>) -> Result<Option<Arc<Breaker>>, tonic::Status> {
        if !self.known(method) {
            return Ok(None);
        }
        let breaker = self.breakers.get(method);
        if breaker.allow() {
            Ok(Some(breaker))
        } else {
            Err(open_status())
        }
    }
}
