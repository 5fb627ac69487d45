//! Trace ids per request with W3C `traceparent` in and out, and a span when spans are
//! exported.
//!
//! The incoming `traceparent` is the request's parent: its trace id is kept and a new span id
//! is minted (or a new trace started). Every log line inside the request carries the ids, and
//! the response's `traceparent` names this hop. With an OpenTelemetry exporter the request
//! also gets a tracing span whose parent is the incoming context, and the ids are the span's.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::ids::{self, Ids, TRACEPARENT};

/// The tracing middleware for one route.
#[derive(Clone)]
pub struct Trace {
    route: Arc<str>,
}

impl Trace {
    /// Spans are named `METHOD route`.
    pub fn new(route: &str) -> Self {
        Trace {
            route: Arc::from(route),
        }
    }

    /// Starts tracing a request: its ids (and span, when spans are exported).
    pub fn begin(&self, req: &Request) -> Traced {
        if !crate::setup::otel_enabled() {
            // Nobody reads a span: the ids alone ride with the request future, which is much
            // cheaper (see `ids::WithIds`).
            return Traced {
                ids: Ids::child_of(Ids::from_headers(req.headers())),
                span: None,
            };
        }
        let span = tracing::info_span!(
            "http",
            otel.name = %format_args!("{} {}", req.method(), self.route),
            otel.kind = "server",
            http.request.method = %req.method(),
            http.route = %self.route,
            http.response.status_code = tracing::field::Empty,
        );
        let parent = crate::telemetry::parent_context(req.headers());
        let _ = span.set_parent(parent);
        let ids =
            Ids::of_span(&span).unwrap_or_else(|| Ids::child_of(Ids::from_headers(req.headers())));
        Traced {
            ids,
            span: Some(span),
        }
    }
}

/// A request being traced.
pub struct Traced {
    /// Its ids.
    pub ids: Ids,
    /// Its span, when spans are exported.
    pub span: Option<tracing::Span>,
}

/// While alive, the request's ids (and span) are current on this thread.
pub struct Entered<'a> {
    _ids: crate::current::Restore<Ids>,
    _span: Option<tracing::span::Entered<'a>>,
}

impl Traced {
    /// Makes the request current on this thread, for the synchronous part of its handling.
    pub fn enter(&self) -> Entered<'_> {
        Entered {
            _ids: ids::enter(self.ids),
            _span: self.span.as_ref().map(|s| s.enter()),
        }
    }

    /// Names this hop in the response's `traceparent` (and records the status on the span).
    pub fn finish(&self, resp: &mut Response) {
        if let Some(span) = &self.span {
            span.record("http.response.status_code", resp.status().as_u16());
        }
        resp.headers_mut()
            .insert(TRACEPARENT, self.ids.traceparent());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Stack;
    use crate::middleware::test_util::{get, run_stack};
    use http::HeaderValue;

    fn traced() -> Stack {
        Stack {
            trace: Some(Trace::new("/x")),
            ..Stack::default()
        }
    }

    #[tokio::test]
    async fn keeps_incoming_trace_id_and_answers_traceparent() {
        let mut req = get("/x");
        req.headers_mut().insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let (status, headers, _) = run_stack(traced(), |_r| async { "ok" }, req).await;
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
        let (_, headers, _) = run_stack(traced(), |_r| async { "ok" }, get("/x")).await;
        let tp = headers["traceparent"].to_str().unwrap();
        assert_eq!(tp.len(), 55, "{tp}");
        assert_ne!(&tp[3..35], "00000000000000000000000000000000");
    }
}
