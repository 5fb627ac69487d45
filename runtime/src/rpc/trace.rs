//! Tracing: one span per call; the W3C `traceparent` in the incoming metadata is its parent.
//! Every log line inside the call carries `trace` and `span`, and the handler finds the ids as
//! a [`TraceContext`] in the request's extensions. The client side injects the caller's
//! context into outgoing metadata ([`inject`]).

use std::convert::Infallible;
use std::future::Future;

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::intercept::{Call, CallFuture, Intercept, RpcRequest, RpcResponse, done};
use crate::ids::{self, Ids, TRACEPARENT, WithIds};

/// The trace and span ids of the call being served, in the request's extensions:
/// `request.extensions().get::<TraceContext>()` in a handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits: this server span.
    pub span_id: String,
    /// Whether the trace is sampled.
    pub sampled: bool,
}

impl TraceContext {
    /// The W3C `traceparent` value of this span.
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

impl From<Ids> for TraceContext {
    fn from(ids: Ids) -> Self {
        TraceContext {
            trace_id: ids.trace_id(),
            span_id: ids.span_id(),
            sampled: ids.sampled,
        }
    }
}

/// How to log as part of a call after its future is done (when a streaming or unary reply's
/// trailers pass): the ids or the span of the call, in the request's extensions.
#[derive(Clone)]
pub(crate) enum CallIds {
    /// No exporter: the ids ride with the call.
    Ids(Ids),
    /// Exporting: the call's span, and its ids for lines written without tracing.
    Span(tracing::Span, Ids),
}

impl CallIds {
    /// Runs `f` (which logs) as part of the call.
    pub(crate) fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            CallIds::Ids(ids) => ids::with_ids(*ids, f),
            CallIds::Span(span, ids) => ids::with_ids(*ids, || span.in_scope(f)),
        }
    }
}

/// The server's tracing interceptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trace;

impl Intercept for Trace {
    fn intercept<F>(
        &self,
        call: &Call,
        mut req: RpcRequest,
        next: impl FnOnce(RpcRequest) -> F,
    ) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static,
    {
        if !crate::setup::otel_enabled() {
            // No exporter: no tracing span; the ids ride with the call's future (as in REST).
            let ids = Ids::child_of(Ids::from_headers(req.headers()));
            req.extensions_mut().insert(TraceContext::from(ids));
            // For lines written when the call ends, outside this future (see `on_end`).
            req.extensions_mut().insert(CallIds::Ids(ids));
            let fut = ids::with_ids(ids, || next(req));
            return Box::pin(WithIds::new(ids, async move { done(fut.await) }));
        }
        let parent = crate::telemetry::parent_context(req.headers());
        let span = tracing::info_span!(
            "grpc",
            otel.name = %call.method,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %call.method,
            rpc.grpc.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        let _ = span.set_parent(parent);
        let ids =
            Ids::of_span(&span).unwrap_or_else(|| Ids::child_of(Ids::from_headers(req.headers())));
        let tc = TraceContext::from(ids);
        span.record("trace_id", tc.trace_id.as_str());
        span.record("span_id", tc.span_id.as_str());
        req.extensions_mut().insert(tc);
        req.extensions_mut()
            .insert(CallIds::Span(span.clone(), ids));
        let fut = {
            let _enter = span.enter();
            next(req)
        };
        Box::pin(async move {
            let resp = done(fut.instrument(span.clone()).await);
            // The span lasts until the call ends (a stream's last message).
            super::intercept::on_end(resp, move |code| {
                span.record("rpc.grpc.status_code", code as i32);
            })
        })
    }
}

/// The ids an outgoing call continues: the current OpenTelemetry span's when exporting, else
/// those of the request this task is serving.
fn current() -> Option<Ids> {
    crate::setup::otel_enabled()
        .then(|| Ids::of_span(&tracing::Span::current()))
        .flatten()
        .or_else(ids::current)
}

/// Client side: a span for the outgoing call when spans are exported (a child of the
/// current one), else none.
pub(crate) fn client_span(method: &str) -> Option<tracing::Span> {
    crate::setup::otel_enabled().then(|| {
        tracing::info_span!(
            "grpc.client",
            otel.name = %method,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.method = %method,
        )
    })
}

/// Client side: writes the `traceparent` of the call's span (or of the request being served)
/// into the outgoing metadata, unless the caller set one explicitly.
pub(crate) fn inject(headers: &mut http::HeaderMap, span: Option<&tracing::Span>) {
    if headers.contains_key(TRACEPARENT) {
        return;
    }
    if let Some(span) = span {
        let cx = span.context();
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(headers));
            return;
        }
    }
    if let Some(ids) = current() {
        headers.insert(TRACEPARENT, ids.traceparent());
    }
}
