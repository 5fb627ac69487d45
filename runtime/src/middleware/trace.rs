//! A span per request with W3C `traceparent` in and out.
//!
//! The incoming `traceparent` becomes the OpenTelemetry parent of the request span; the span's
//! trace and span ids are recorded on it (so every log line inside carries them) and written
//! back in the response's `traceparent`.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Handle, ResponseFuture, done};
use crate::log::{self, Ids, WithIds};

/// The tracing middleware for one route.
#[derive(Clone)]
pub struct Trace {
    name: Arc<str>,
    route: Arc<str>,
}

impl Trace {
    /// Spans are named `METHOD route`.
    pub fn new(route: &str) -> Self {
        Trace {
            name: Arc::from(route),
            route: Arc::from(route),
        }
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A non-zero random trace id (32 hex digits).
fn random_trace_id() -> String {
    format!("{:032x}", fastrand::u128(1..))
}

/// A non-zero random span id (16 hex digits).
fn random_span_id() -> String {
    format!("{:016x}", fastrand::u64(1..))
}

fn traceparent(trace_id: &str, span_id: &str, flags: TraceFlags) -> String {
    let flags = if flags.is_sampled() { "01" } else { "00" };
    format!("00-{trace_id}-{span_id}-{flags}")
}

/// Ids for a request span when OpenTelemetry did not assign them: the caller's trace id (or
/// a new one), a new span id, the caller's sampling flag.
fn fallback_ids(parent: &SpanContext) -> (String, String, TraceFlags) {
    if parent.is_valid() {
        (
            parent.trace_id().to_string(),
            random_span_id(),
            parent.trace_flags(),
        )
    } else {
        (random_trace_id(), random_span_id(), TraceFlags::SAMPLED)
    }
}

impl Handle for Trace {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
        let psc = parent.span().span_context().clone();
        let otel = crate::setup::otel_enabled();
        let (span, trace_id, span_id, flags) = if otel {
            let span = tracing::info_span!(
                "http",
                otel.name = %format_args!("{} {}", req.method(), self.name),
                otel.kind = "server",
                http.request.method = %req.method(),
                http.route = %self.route,
                http.response.status_code = tracing::field::Empty,
                trace_id = tracing::field::Empty,
                span_id = tracing::field::Empty,
            );
            let _ = span.set_parent(parent);
            let sc = span.context().span().span_context().clone();
            let (t, s, f) = if sc.is_valid() {
                (
                    sc.trace_id().to_string(),
                    sc.span_id().to_string(),
                    sc.trace_flags(),
                )
            } else {
                fallback_ids(&psc)
            };
            span.record("trace_id", t.as_str());
            span.record("span_id", s.as_str());
            (span, t, s, f)
        } else {
            // No exporter, so no OpenTelemetry layer and nobody reads a span: the ids ride with
            // the request future instead (see `log::WithIds`), which is much cheaper.
            let (t, s, f) = fallback_ids(&psc);
            let tp = traceparent(&t, &s, f);
            let ids = Arc::new(Ids::new(t, s));
            let fut = log::with_ids(&ids, || next(req));
            return Box::pin(WithIds::new(ids, async move {
                let mut resp = done(fut.await);
                if let Ok(v) = HeaderValue::from_str(&tp) {
                    resp.headers_mut().insert("traceparent", v);
                }
                resp
            }));
        };
        let fut = {
            let _enter = span.enter();
            next(req)
        };
        let tp = traceparent(&trace_id, &span_id, flags);
        Box::pin(async move {
            let mut resp = done(fut.instrument(span.clone()).await);
            span.record("http.response.status_code", resp.status().as_u16());
            if let Ok(v) = HeaderValue::from_str(&tp) {
                resp.headers_mut().insert("traceparent", v);
            }
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[tokio::test]
    async fn keeps_incoming_trace_id_and_answers_traceparent() {
        let mut req = get("/x");
        req.headers_mut().insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let (status, headers, _) = run(Trace::new("/x"), |_r| async { "ok" }, req).await;
        assert_eq!(status, 200);
        let tp = headers["traceparent"].to_str().unwrap();
        assert!(
            tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
            "{tp}"
        );
        assert_ne!(
            &tp[36..52],
            "b7ad6b7169203331",
            "a new span id for this hop"
        );
    }

    #[tokio::test]
    async fn starts_a_trace_without_one() {
        let (_, headers, _) = run(Trace::new("/x"), |_r| async { "ok" }, get("/x")).await;
        let tp = headers["traceparent"].to_str().unwrap();
        assert_eq!(tp.len(), 55, "{tp}");
        assert_ne!(&tp[3..35], "00000000000000000000000000000000");
    }
}
