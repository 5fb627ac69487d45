//! Tracing: one span per call; the W3C `traceparent` in the incoming metadata is its parent.
//! Every log line inside the call carries `trace` and `span`, and the handler finds the ids as
//! a [`TraceContext`] in the request's extensions. The client side injects the caller's
//! context into outgoing metadata ([`inject`]).

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::current::Restore;
use crate::ids::{self, Ids, TRACEPARENT};

/// The trace and span ids of the call being served: [`TraceContext::current`] in a handler
/// (generated code reads them from its `Ctx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext(Ids);

impl TraceContext {
    /// The ids of the call being served on this thread (while its handler is polled, and in
    /// tasks started with [`crate::spawn`]).
    pub fn current() -> Option<TraceContext> {
        ids::current().map(TraceContext)
    }

    /// The ids as numbers.
    pub fn ids(&self) -> Ids {
        self.0
    }

    /// 32 hex digits.
    pub fn trace_id(&self) -> String {
        self.0.trace_id()
    }

    /// 16 hex digits: this server span.
    pub fn span_id(&self) -> String {
        self.0.span_id()
    }

    /// Whether the trace is sampled.
    pub fn sampled(&self) -> bool {
        self.0.sampled
    }

    /// The W3C `traceparent` value of this span.
    pub fn traceparent(&self) -> String {
        let flags = if self.0.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id(), self.span_id())
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
        TraceContext(ids)
    }
}

/// The ids (and, when spans are exported, the span) of a call being served: current while
/// its handler is polled, and while the lines written at its end are.
pub(crate) enum CallIds {
    /// No exporter: the ids ride with the call.
    Ids(Ids),
    /// Exporting: the call's span, and its ids for lines written without tracing.
    Span(tracing::Span, Ids),
}

impl CallIds {
    /// Makes the call current on this thread until the guard drops.
    pub(crate) fn enter(&self) -> (Restore<Ids>, Option<tracing::span::Entered<'_>>) {
        match self {
            CallIds::Ids(ids) => (ids::enter(*ids), None),
            CallIds::Span(span, ids) => (ids::enter(*ids), Some(span.enter())),
        }
    }

    /// Records the call's final code on its span, if it has one.
    pub(crate) fn record(&self, code: tonic::Code) {
        if let CallIds::Span(span, _) = self {
            span.record("rpc.grpc.status_code", code as i32);
        }
    }
}

/// Starts serving a call to `method` with `headers`: its ids (a child of the caller's
/// `traceparent`) and, when spans are exported, its span.
pub(crate) fn start(method: &str, headers: &http::HeaderMap) -> CallIds {
    if !crate::setup::otel_enabled() {
        // No exporter: no tracing span; the ids ride with the call's future (as in REST).
        return CallIds::Ids(Ids::child_of(Ids::from_headers(headers)));
    }
    let parent = crate::telemetry::parent_context(headers);
    let span = tracing::info_span!(
        "grpc",
        otel.name = %method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    let ids = Ids::of_span(&span).unwrap_or_else(|| Ids::child_of(Ids::from_headers(headers)));
    span.record("trace_id", ids.trace_id().as_str());
    span.record("span_id", ids.span_id().as_str());
    CallIds::Span(span, ids)
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
