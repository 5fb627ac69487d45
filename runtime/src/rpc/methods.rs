//! What the server's interceptors keep per method: its name, its breaker, its metric series
//! and the server's time limit on it, found with one lookup per call. Before, the breaker,
//! both metric families and the timeout each hashed the method's name on every call, and the
//! name was allocated on every call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::metrics::ServerSeries;
use super::services::service_of;
use super::timeout::Timeout;
use crate::breaker::Breaker;

/// At most this many methods are kept: a client sending made-up method names of a registered
/// service cannot grow the map without bound (past it, calls get a fresh entry each time and
/// no breaker).
const MAX_METHODS: usize = 4096;

/// One method's name, breaker, series and time limit.
pub(crate) struct Method {
    /// `/package.Service/Method`.
    pub(crate) name: Arc<str>,
    /// The method's breaker, when breakers are on and the method is of a registered service.
    pub(crate) breaker: Option<Arc<Breaker>>,
    /// The server's own time limit on a call (`Timeout`, `MethodTimeouts`; none for streams).
    pub(crate) limit: Option<Duration>,
    /// Whether calls are counted, and the series they are counted in when the method is kept.
    metrics: bool,
    series: Option<ServerSeries>,
}

impl Method {
    /// Whether calls are counted.
    pub(crate) fn counted(&self) -> bool {
        self.metrics
    }

    /// Counts one call that ended with `code` after `millis` (when metrics are on).
    pub(crate) fn record(&self, code: tonic::Code, millis: f64) {
        match &self.series {
            Some(series) => series.observe(&self.name, code, millis),
            None if self.metrics => super::metrics::get().server(&self.name, code, millis),
            None => {}
        }
    }
}

/// The methods of one server.
pub(crate) struct Methods {
    /// The registered services: only their methods are kept, and only they get breakers.
    services: Arc<[String]>,
    breakers: bool,
    metrics: bool,
    timeout: Timeout,
    map: RwLock<HashMap<Arc<str>, Arc<Method>>>,
}

impl Methods {
    /// Methods of `services`, with breakers and metric series as switched on, and the
    /// server's time limits.
    pub(crate) fn new(
        services: Arc<[String]>,
        breakers: bool,
        metrics: bool,
        timeout: Timeout,
    ) -> Self {
        Methods {
            services,
            breakers,
            metrics,
            timeout,
            map: RwLock::default(),
        }
    }

    fn known(&self, path: &str) -> bool {
        service_of(path).is_some_and(|service| self.services.iter().any(|s| s == service))
    }

    /// The method a call's `path` names.
    pub(crate) fn get(&self, path: &str) -> Arc<Method> {
        if let Some(m) = self.map.read().unwrap_or_else(|e| e.into_inner()).get(path) {
            return m.clone();
        }
        let passing = |name: Arc<str>| {
            Arc::new(Method {
                limit: self.timeout.limit(&name),
                name,
                breaker: None,
                metrics: self.metrics,
                series: None,
            })
        };
        let name: Arc<str> = Arc::from(path);
        if !self.known(path) {
            return passing(name);
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.get(path) {
            return m.clone();
        }
        if map.len() >= MAX_METHODS {
            return passing(name);
        }
        let method = Arc::new(Method {
            breaker: self.breakers.then(|| Arc::new(Breaker::default())),
            limit: self.timeout.limit(&name),
            metrics: self.metrics,
            series: self
                .metrics
                .then(|| super::metrics::get().server_series(&name)),
            name: name.clone(),
        });
        map.insert(name, method.clone());
        method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The methods of one registered service, `pkg.Svc`.
    fn of_pkg_svc(breakers: bool, metrics: bool) -> Methods {
        let services = vec!["pkg.Svc".to_owned()].into();
        Methods::new(services, breakers, metrics, Timeout::default())
    }

    #[test]
    fn methods_of_registered_services_are_kept_with_a_breaker() {
        let methods = of_pkg_svc(true, false);
        let a = methods.get("/pkg.Svc/Get");
        assert!(
            Arc::ptr_eq(&a, &methods.get("/pkg.Svc/Get")),
            "one entry per method"
        );
        assert!(a.breaker.is_some() && a.series.is_none());
        let counted = of_pkg_svc(false, true);
        let b = counted.get("/pkg.Svc/Get");
        assert!(b.breaker.is_none() && b.series.is_some());
        assert_eq!(&*a.name, "/pkg.Svc/Get");
        let other = methods.get("/other.Svc/Get");
        assert!(
            other.breaker.is_none(),
            "unregistered services get no breaker"
        );
        assert!(
            !Arc::ptr_eq(&other, &methods.get("/other.Svc/Get")),
            "and are not kept"
        );
    }

    #[test]
    fn made_up_methods_cannot_grow_the_map_without_bound() {
        let methods = of_pkg_svc(true, false);
        for i in 0..MAX_METHODS + 10 {
            methods.get(&format!("/pkg.Svc/M{i}"));
        }
        assert_eq!(methods.map.read().unwrap().len(), MAX_METHODS);
        assert!(methods.get("/pkg.Svc/Late").breaker.is_none());
        assert!(
            methods.get("/pkg.Svc/M0").breaker.is_some(),
            "kept ones keep theirs"
        );
    }
}
