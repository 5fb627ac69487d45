//! Records each request in `http_server_requests_duration_ms` and
//! `http_server_requests_code_total`, and tracks the in-flight gauge.

use std::sync::Arc;
use std::time::Instant;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::Response;

use super::{Handle, ResponseFuture, done};
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

struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight().dec();
    }
}

impl Handle for MetricsMiddleware {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let start = Instant::now();
        let method = method_label(req.method());
        let this = self.clone();
        this.metrics.in_flight().inc();
        let fut = next(req);
        Box::pin(async move {
            let guard = InFlight(&this.metrics);
            let resp = done(fut.await);
            drop(guard);
            let labels = RequestLabels {
                path: this.path.clone(),
                method,
                code: resp.status().as_u16(),
            };
            this.metrics
                .observe(&labels, start.elapsed().as_secs_f64() * 1000.0);
            resp
        })
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
