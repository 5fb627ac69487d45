//! Records each request in `http_server_requests_duration_ms` and
//! `http_server_requests_code_total`, and tracks the in-flight gauge.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;

use super::{Refusal, Stage};
use crate::metrics::{Metrics, RequestLabels};

/// The metrics middleware for one route.
#[derive(Clone)]
pub struct MetricsMiddleware {
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl MetricsMiddleware {
    /// Labels requests with the route template `path`.
    pub fn new(metrics: Arc<Metrics>, path: Arc<str>) -> Self {
        MetricsMiddleware { metrics, path }
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

    fn admit(&self, req: &mut Request) -> Result<Counted, Refusal> {
        self.metrics.in_flight().inc();
        Ok(Counted {
            start: Instant::now(),
            method: method_label(req.method()),
            metrics: self.metrics.clone(),
        })
    }

    fn finish(&self, counted: Counted, resp: &mut Response) {
        let labels = RequestLabels {
            path: self.path.clone(),
            method: counted.method,
            code: resp.status().as_u16(),
        };
        self.metrics
            .observe(&labels, counted.start.elapsed().as_secs_f64() * 1000.0);
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
