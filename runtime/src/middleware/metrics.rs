//! Records each request in `http_server_requests_duration_ms` and
//! `http_server_requests_code_total`, and tracks the in-flight gauge.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use axum::extract::Request;
use axum::response::Response;

use super::{Refusal, Stage};
use crate::metrics::{Metrics, RequestLabels};

/// The metrics middleware for one route.
#[derive(Clone)]
pub struct MetricsMiddleware {
    metrics: Arc<Metrics>,
    path: Arc<str>,
    /// The series this route has used, by method and code: a route sees few of them, and a
    /// scan of this short list is much cheaper than the families' hashed lookup.
    seen: Arc<RwLock<Vec<Series>>>,
}

struct Series {
    method: &'static str,
    code: u16,
    duration: Histogram,
    count: Counter,
}

impl MetricsMiddleware {
    /// Labels requests with the route template `path`.
    pub fn new(metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        MetricsMiddleware {
            metrics,
            path,
            seen: Arc::default(),
        }
    }

    fn record(&self, method: &'static str, code: u16, millis: f64) {
        let found = |seen: &[Series]| {
            seen.iter()
                .find(|s| s.code == code && s.method == method)
                .map(|s| {
                    s.duration.observe(millis);
                    s.count.inc();
                })
                .is_some()
        };
        if found(&self.seen.read().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        let (duration, count) = self.metrics.series(&RequestLabels {
            path: self.path.clone(),
            method,
            code,
        });
        duration.observe(millis);
        count.inc();
        let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
        if !seen.iter().any(|s| s.code == code && s.method == method) {
            seen.push(Series {
                method,
                code,
                duration,
                count,
            });
        }
    }
}

/// Standard methods label as themselves; anything else as `OTHER` (no per-request allocation,
/// bounded cardinality).
fn method_label(m: &http::Method) -> &'static str {
    use http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// A request being counted; in flight until dropped (also when its client goes away).
pub struct Counted {
    start: Instant,
    method: &'static str,
    metrics: Arc<Metrics>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.metrics.in_flight().dec();
    }
}

impl Stage for MetricsMiddleware {
    type Ticket = Counted;

    fn admit(&self, req: &mut Request, now: Instant) -> Result<Counted, Refusal> {
        self.metrics.in_flight().inc();
        Ok(Counted {
            start: now,
            method: method_label(req.method()),
            metrics: self.metrics.clone(),
        })
    }

    fn finish(&self, counted: Counted, resp: &mut Response, now: Instant) {
        let millis = now.duration_since(counted.start).as_secs_f64() * 1000.0;
        self.record(counted.method, resp.status().as_u16(), millis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[tokio::test]
    async fn counts_by_route_template_and_code() {
        let m = Arc::new(Metrics::new());
        let mw = MetricsMiddleware::new(m.clone(), Arc::from("/t/{id}"));
        run(mw.clone(), |_r| async { "ok" }, get("/t/1")).await;
        run(mw, |_r| async { http::StatusCode::NOT_FOUND }, get("/t/2")).await;
        let out = m.render();
        assert!(
            out.contains(
                r#"http_server_requests_code_total{path="/t/{id}",method="GET",code="200"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"http_server_requests_code_total{path="/t/{id}",method="GET",code="404"} 1"#
            ),
            "{out}"
        );
        assert!(out.contains(r#"http_server_requests_duration_ms_bucket{le="5.0",path="/t/{id}",method="GET",code="200"} 1"#) || out.contains(r#"http_server_requests_duration_ms_bucket{path="/t/{id}",method="GET",code="200",le="5.0"} 1"#), "{out}");
        assert!(out.contains("http_server_requests_in_flight 0"), "{out}");
    }
}
