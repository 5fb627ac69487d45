//! The `tracing` layer that writes each event as one go-zero line, with the ids of the request
//! it belongs to.

use std::fmt;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::LineWriter;
use super::format::{Body, Caller, GoZeroFormat, short_file};
use crate::ids::{self, Ids};

/// A request span's `trace_id`/`span_id` fields (hex, as OpenTelemetry prints them), kept in
/// the span's extensions once seen.
#[derive(Default)]
struct IdsVisitor {
    trace: String,
    span: String,
    /// Both fields, parsed, once both are there.
    ids: Option<Ids>,
}

impl IdsVisitor {
    fn seen(&self) -> bool {
        !self.trace.is_empty() || !self.span.is_empty()
    }

    fn merge(&mut self, newer: IdsVisitor) {
        if !newer.trace.is_empty() {
            self.trace = newer.trace;
        }
        if !newer.span.is_empty() {
            self.span = newer.span;
        }
        self.ids = Ids::from_hex(&self.trace, &self.span, true);
    }
}

impl Visit for IdsVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.trace = value.to_owned(),
            "span_id" => self.span = value.to_owned(),
            _ => return,
        }
        self.ids = Ids::from_hex(&self.trace, &self.span, true);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "trace_id" | "span_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

thread_local! {
    /// The line being formatted, reused so that a line costs no allocation.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Formats a line into this thread's buffer and queues it.
fn emit(writer: &LineWriter, f: impl FnOnce(&mut String) -> fmt::Result) {
    LINE.with(|line| match line.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            if f(&mut line).is_ok() {
                writer.write_line(line.as_bytes());
            }
        }
        // Formatting logged something itself (a `Display` impl that logs): no reuse then.
        Err(_) => {
            let mut line = String::with_capacity(256);
            if f(&mut line).is_ok() {
                writer.write_line(line.as_bytes());
            }
        }
    });
}

/// Crates whose chatter is only wanted from WARN up.
const NOISY: [&str; 6] = ["h2", "hyper", "tonic", "tower", "reqwest", "opentelemetry"];

/// The logging layer: captures request ids from spans and writes each event as one line.
///
/// A dedicated layer rather than `tracing_subscriber::fmt`, because the fmt layer formats every
/// span's fields into a string on creation and on each record, which the go-zero format never
/// prints; on the request path that was the largest single cost of logging.
pub(super) struct GoZeroLayer {
    pub(super) format: Arc<GoZeroFormat>,
    pub(super) writer: LineWriter,
    pub(super) level: Level,
}

impl GoZeroLayer {
    /// Whether events or spans of this callsite are wanted. The chatter of [`NOISY`] crates,
    /// spans included, only from WARN up; other spans at any level, so that error lines inside
    /// them keep their request's ids; other events from `Log.Level` up.
    fn wants(&self, meta: &tracing::Metadata<'_>) -> bool {
        let target = meta.target();
        let noisy = NOISY.iter().any(|n| {
            target.starts_with(n) && target[n.len()..].chars().next().is_none_or(|c| c == ':')
        });
        if noisy {
            *meta.level() <= Level::WARN
        } else {
            meta.is_span() || *meta.level() <= self.level
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for GoZeroLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> Interest {
        // Decided once per callsite from its metadata alone, so a disabled one (h2's and
        // hyper's trace spans, several per call) costs a load and a branch, not a span in
        // the registry: those spans were most of the cost of a gRPC call.
        if self.wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut v = IdsVisitor::default();
        attrs.record(&mut v);
        if let (true, Some(span)) = (v.seen(), ctx.span(id)) {
            span.extensions_mut().insert(v);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut v = IdsVisitor::default();
        values.record(&mut v);
        if !v.seen() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // Ids are often recorded one field at a time: merge with what came before.
        if let Some(old) = ext.get_mut::<IdsVisitor>() {
            old.merge(v);
        } else {
            ext.insert(v);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Ids riding with the request future come first: that is the common, cheap case.
        let ids = ids::current().or_else(|| {
            ctx.event_scope(event).and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<IdsVisitor>().and_then(|v| v.ids))
            })
        });
        let meta = event.metadata();
        let caller = (meta.file().zip(meta.line())).map(|(f, l)| Caller::At(short_file(f), l));
        emit(&self.writer, |out| {
            self.format
                .format(meta.level(), ids.as_ref(), caller, Body::Event(event), out)
        });
    }
}
