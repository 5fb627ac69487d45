//! Logging on `tracing` with go-zero's line format.
//!
//! JSON lines (default) carry `@timestamp`, `level`, `content`, `caller`, and inside a request
//! `trace` and `span`, plus the event's own fields (`duration`, ...). Lines go through
//! the batching writer in `logwriter.rs` (lossy when its buffer is full rather than blocking
//! the request path) to stdout or to a file rotated daily or hourly (`tracing-appender`) or by
//! size (`rotate.rs`).

use std::fmt;
use std::sync::Mutex;

use crate::logwriter::{self, BatchGuard, BatchWriter};
use crate::rotate::{self, SizeRotatingFile};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_appender::rolling;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogConf, LogEncoding, LogLevel, LogMode, Rotation};

/// Trace and span ids of a request span, captured from its `trace_id`/`span_id` fields, so
/// every line inside it can carry them whether or not an OpenTelemetry exporter runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ids {
    trace: String,
    span: String,
}

impl Ids {
    pub(crate) fn new(trace: String, span: String) -> Self {
        Ids { trace, span }
    }
}

thread_local! {
    /// The ids of the request being polled on this thread, when it has no tracing span.
    static CURRENT: std::cell::RefCell<Option<std::sync::Arc<Ids>>> = const { std::cell::RefCell::new(None) };
}

/// Puts the previous ids back when dropped, also when a handler panics through it.
struct Restore(Option<std::sync::Arc<Ids>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

fn enter(ids: &std::sync::Arc<Ids>) -> Restore {
    Restore(CURRENT.with(|c| c.replace(Some(ids.clone()))))
}

/// Runs `f` with `ids` as the current request ids of this thread.
pub(crate) fn with_ids<R>(ids: &std::sync::Arc<Ids>, f: impl FnOnce() -> R) -> R {
    let _restore = enter(ids);
    f()
}

/// The trace and span ids of the request being polled on this thread (set when no exporter
/// runs), for propagating them to outgoing calls.
pub(crate) fn current_ids() -> Option<(String, String)> {
    CURRENT.with(|c| {
        c.borrow()
            .as_deref()
            .map(|ids| (ids.trace.clone(), ids.span.clone()))
    })
}

pin_project_lite::pin_project! {
    /// A request future whose log lines carry its ids, without a tracing span: cheaper when no
    /// OpenTelemetry exporter needs the span.
    pub(crate) struct WithIds<F> {
        ids: std::sync::Arc<Ids>,
        #[pin]
        fut: F,
    }
}

impl<F> WithIds<F> {
    pub(crate) fn new(ids: std::sync::Arc<Ids>, fut: F) -> Self {
        WithIds { ids, fut }
    }
}

impl<F: std::future::Future> std::future::Future for WithIds<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _restore = enter(this.ids);
        this.fut.poll(cx)
    }
}

struct IdsVisitor<'a>(&'a mut Ids, bool);

impl Visit for IdsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "trace_id" => &mut self.0.trace,
            "span_id" => &mut self.0.span,
            _ => return,
        };
        *slot = value.to_owned();
        self.1 = true;
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "trace_id" | "span_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// A field value of an event, kept as typed as tracing hands it over.
enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl FieldValue {
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            FieldValue::Str(s) => json_str(out, s),
            FieldValue::I64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::U64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::F64(v) if v.is_finite() => {
                let _ = write!(out, "{v}");
            }
            FieldValue::F64(v) => json_str(out, &v.to_string()),
            FieldValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        }
    }

    fn write_plain(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match self {
            FieldValue::Str(s) => write!(out, "{s}"),
            FieldValue::I64(v) => write!(out, "{v}"),
            FieldValue::U64(v) => write!(out, "{v}"),
            FieldValue::F64(v) => write!(out, "{v}"),
            FieldValue::Bool(v) => write!(out, "{v}"),
        };
    }
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Keys the line itself writes; event fields with these names are skipped.
const RESERVED: [&str; 7] = [
    "@timestamp",
    "level",
    "content",
    "trace",
    "span",
    "caller",
    "service",
];

#[derive(Default)]
struct Fields {
    content: String,
    rest: Vec<(&'static str, FieldValue)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.content = value.to_owned();
        } else {
            self.rest
                .push((field.name(), FieldValue::Str(value.to_owned())));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rest.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rest.push((field.name(), FieldValue::U64(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.rest.push((field.name(), FieldValue::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rest.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.content = format!("{value:?}");
        } else {
            self.rest
                .push((field.name(), FieldValue::Str(format!("{value:?}"))));
        }
    }
}

/// go-zero's level names.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The event formatter: go-zero field names, JSON or plain.
pub(crate) struct GoZeroFormat {
    json: bool,
    caller: bool,
    service: String,
}

/// Escapes everything written through it into a JSON string body.
struct JsonEscape<'a>(&'a mut String);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Writes an event's fields straight into the JSON line (no intermediate values).
struct JsonFields<'a> {
    out: &'a mut String,
    has_content: bool,
}

impl JsonFields<'_> {
    /// Starts `,"key":` and says whether the field should be written at all.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name == "message" {
            self.out.push_str(",\"content\":");
            self.has_content = true;
            return true;
        }
        if RESERVED.contains(&name) {
            return false;
        }
        self.out.push(',');
        json_str(self.out, name);
        self.out.push(':');
        true
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            json_str(self.out, value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            FieldValue::I64(value).write_json(self.out);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            FieldValue::U64(value).write_json(self.out);
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            FieldValue::F64(value).write_json(self.out);
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            FieldValue::Bool(value).write_json(self.out);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        if self.key(field) {
            self.out.push('"');
            let _ = write!(JsonEscape(self.out), "{value:?}");
            self.out.push('"');
        }
    }
}

thread_local! {
    /// The last timestamp written on this thread, reused within the same millisecond.
    static TS: std::cell::RefCell<(i128, String)> = const { std::cell::RefCell::new((i128::MIN, String::new())) };
}

/// Appends the current UTC time as `2006-01-02T15:04:05.000Z` (millisecond precision, as
/// go-zero writes it), formatting at most once per millisecond per thread.
fn push_timestamp(out: &mut String) {
    use std::fmt::Write as _;
    let now = time::OffsetDateTime::now_utc();
    let ms = now.unix_timestamp_nanos() / 1_000_000;
    TS.with(|ts| {
        let mut ts = ts.borrow_mut();
        if ts.0 != ms {
            ts.1.clear();
            let _ = write!(
                ts.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                now.year(),
                u8::from(now.month()),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                now.millisecond()
            );
            ts.0 = ms;
        }
        out.push_str(&ts.1);
    });
}

impl GoZeroFormat {
    fn format(&self, ids: Option<&Ids>, event: &Event<'_>, out: &mut String) -> fmt::Result {
        use std::fmt::Write as _;
        let meta = event.metadata();
        if self.json {
            out.push_str("{\"@timestamp\":\"");
            push_timestamp(out);
            out.push_str("\",\"level\":\"");
            out.push_str(level_name(meta.level()));
            out.push('"');
            let mut fields = JsonFields {
                out,
                has_content: false,
            };
            event.record(&mut fields);
            if !fields.has_content {
                out.push_str(",\"content\":\"\"");
            }
            if let Some(ids) = ids {
                out.push_str(",\"trace\":");
                json_str(out, &ids.trace);
                out.push_str(",\"span\":");
                json_str(out, &ids.span);
            }
            if let (Some(f), Some(l), true) = (meta.file(), meta.line(), self.caller) {
                out.push_str(",\"caller\":\"");
                let _ = write!(JsonEscape(out), "{f}:{l}");
                out.push('"');
            }
            if !self.service.is_empty() {
                out.push_str(",\"service\":");
                json_str(out, &self.service);
            }
            out.push_str("}\n");
            Ok(())
        } else {
            let mut fields = Fields::default();
            event.record(&mut fields);
            push_timestamp(out);
            write!(out, "\t{}\t{}", level_name(meta.level()), fields.content)?;
            for (k, v) in &fields.rest {
                write!(out, "\t{k}=")?;
                v.write_plain(out);
            }
            if let Some(ids) = ids {
                write!(out, "\ttrace={}\tspan={}", ids.trace, ids.span)?;
            }
            if let (Some(f), Some(l), true) = (meta.file(), meta.line(), self.caller) {
                write!(out, "\tcaller={f}:{l}")?;
            }
            writeln!(out)
        }
    }
}

/// Crates whose chatter is only wanted from WARN up.
const NOISY: [&str; 6] = ["h2", "hyper", "tonic", "tower", "reqwest", "opentelemetry"];

/// The logging layer: captures request ids from spans and writes each event as one line.
///
/// A dedicated layer rather than `tracing_subscriber::fmt`, because the fmt layer formats every
/// span's fields into a string on creation and on each record, which the go-zero format never
/// prints; on the request path that was the largest single cost of logging.
pub(crate) struct GoZeroLayer {
    format: GoZeroFormat,
    writer: BatchWriter,
    level: Level,
}

impl<S> tracing_subscriber::Layer<S> for GoZeroLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        if meta.is_span() {
            // Request spans must exist at any level so that error lines keep their ids.
            return true;
        }
        let target = meta.target();
        let noisy = NOISY.iter().any(|n| {
            target.starts_with(n) && target[n.len()..].chars().next().is_none_or(|c| c == ':')
        });
        let min = if noisy { Level::WARN } else { self.level };
        *meta.level() <= min
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut ids = Ids::default();
        let mut v = IdsVisitor(&mut ids, false);
        attrs.record(&mut v);
        if !v.1 {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(ids);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let mut ids = ext.remove::<Ids>().unwrap_or_default();
        let mut v = IdsVisitor(&mut ids, false);
        values.record(&mut v);
        ext.insert(ids);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let ids = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|span| span.extensions().get::<Ids>().cloned())
                    .map(std::sync::Arc::new)
            })
            .or_else(|| CURRENT.with(|c| c.borrow().clone()));
        let mut line = String::with_capacity(384);
        if self.format.format(ids.as_deref(), event, &mut line).is_ok() {
            self.writer.write_line(line.as_bytes());
        }
    }
}

static GUARD: Mutex<Option<BatchGuard>> = Mutex::new(None);

/// The most verbose level `Log.Level` lets through.
fn max_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Error | LogLevel::Severe => Level::ERROR,
    }
}

/// Builds the logging layer for `conf`; the writer's guard is kept until [`flush`].
pub(crate) fn layer<S>(
    conf: &LogConf,
    service: &str,
) -> std::io::Result<impl tracing_subscriber::Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let prefix = if service.is_empty() {
        "service"
    } else {
        service
    };
    let out: Box<dyn std::io::Write + Send> = match (conf.mode, conf.rotation) {
        (LogMode::Console, _) => Box::new(std::io::stdout()),
        (LogMode::File, Rotation::Size) => {
            let keep = rotate::Keep {
                max_backups: conf.max_backups,
                keep_days: conf.keep_days,
                compress: conf.compress,
            };
            let max_size = conf.max_size.saturating_mul(1 << 20);
            Box::new(SizeRotatingFile::open(&conf.path, prefix, max_size, keep)?)
        }
        (LogMode::File, rotation) => {
            let rotation = if rotation == Rotation::Hourly {
                rolling::Rotation::HOURLY
            } else {
                rolling::Rotation::DAILY
            };
            let mut b = rolling::Builder::new()
                .rotation(rotation)
                .filename_prefix(prefix)
                .filename_suffix("log");
            if conf.keep_days > 0 {
                b = b.max_log_files(conf.keep_days);
            }
            let appender = b
                .build(&conf.path)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Box::new(appender)
        }
    };
    let (writer, guard) = logwriter::spawn(out)?;
    *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    let service = if conf.service_name.is_empty() {
        service.to_owned()
    } else {
        conf.service_name.clone()
    };
    let format = GoZeroFormat {
        json: conf.encoding == LogEncoding::Json,
        caller: conf.caller,
        service,
    };
    Ok(GoZeroLayer {
        format,
        writer,
        level: max_level(conf.level),
    })
}

/// Flushes buffered log lines; call once at process exit (later lines are dropped).
pub fn flush() {
    drop(GUARD.lock().unwrap_or_else(|e| e.into_inner()).take());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(json: bool, f: impl FnOnce()) -> String {
        let buf = Buf::default();
        let (writer, guard) = logwriter::spawn(Box::new(buf.clone())).unwrap();
        let layer = GoZeroLayer {
            format: GoZeroFormat {
                json,
                caller: true,
                service: "svc".into(),
            },
            writer,
            level: Level::INFO,
        };
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, f);
        drop(guard);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    fn in_request() {
        tracing::info!("outside");
        tracing::debug!("below the level");
        let span = tracing::info_span!(
            "http",
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        span.record("trace_id", "abc");
        span.record("span_id", "def");
        let _g = span.enter();
        tracing::warn!(duration = "1.0ms", "inside");
    }

    #[test]
    fn json_lines_use_go_zero_names_and_ids() {
        let out = capture(true, in_request);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["content"], "outside");
        assert!(lines[0].get("trace").is_none(), "{out}");
        assert_eq!(lines[1]["content"], "inside");
        assert_eq!(lines[1]["level"], "warn");
        assert_eq!(lines[1]["trace"], "abc");
        assert_eq!(lines[1]["span"], "def");
        assert_eq!(lines[1]["duration"], "1.0ms");
        assert_eq!(lines[1]["service"], "svc");
        assert!(lines[1]["caller"].as_str().unwrap().contains("log.rs"));
        assert!(lines[1]["@timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn json_escapes_and_keeps_types() {
        let out = capture(true, || {
            tracing::info!(
                n = 3,
                ok = true,
                f = 1.5,
                s = "a\"b",
                "quote \" and\nnewline\u{1}"
            );
        });
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["content"], "quote \" and\nnewline\u{1}");
        assert_eq!(v["n"], 3);
        assert_eq!(v["ok"], true);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["s"], "a\"b");
    }

    #[test]
    fn ids_ride_the_future_and_are_restored_after_a_panic() {
        let out = capture(true, || {
            let ids = std::sync::Arc::new(Ids::new("t1".into(), "s1".into()));
            let mut fut = std::pin::pin!(WithIds::new(ids.clone(), async {
                tracing::info!("in request");
            }));
            let waker = std::task::Waker::noop();
            let _ = fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
            let boom = std::panic::catch_unwind(|| with_ids(&ids, || panic!("handler bug")));
            assert!(boom.is_err());
            tracing::info!("after");
        });
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["trace"], "t1");
        assert_eq!(lines[0]["span"], "s1");
        assert!(
            lines[1].get("trace").is_none(),
            "stale ids after a panic: {out}"
        );
    }

    #[test]
    fn plain_lines_are_tab_separated() {
        let out = capture(false, in_request);
        let second = out.lines().nth(1).unwrap();
        let cols: Vec<&str> = second.split('\t').collect();
        assert_eq!(cols[1], "warn", "{second}");
        assert_eq!(cols[2], "inside");
        assert!(
            second.contains("duration=1.0ms") && second.contains("trace=abc"),
            "{second}"
        );
    }
}
