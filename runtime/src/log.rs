//! Logging on `tracing` with go-zero's line format.
//!
//! JSON lines (default) carry `@timestamp`, `level`, `content`, `caller`, and inside a request
//! `trace` and `span`, plus the event's own fields (`duration`, ...). Lines go through
//! the batching writer in `logwriter.rs` (lossy when its buffer is full rather than blocking
//! the request path) to stdout or to a file rotated daily or hourly (`tracing-appender`) or by
//! size (`rotate.rs`).

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::ids::{self, Ids};
use crate::logwriter::{self, BatchGuard, BatchWriter};
use crate::rotate::{self, SizeRotatingFile};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_appender::rolling;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogConf, LogEncoding, LogLevel, LogMode, Rotation};

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

/// The last directory and the file name of a source path (`middleware/accesslog.rs`), as
/// go-zero shortens its `caller` field: a dependency's path would otherwise name the whole
/// cargo registry directory on every line.
pub(crate) const fn short_file(path: &str) -> &str {
    let bytes = path.as_bytes();
    let (mut i, mut seps) = (bytes.len(), 0);
    while i > 0 {
        i -= 1;
        if bytes[i] == b'/' || bytes[i] == b'\\' {
            seps += 1;
            if seps == 2 {
                // After an ASCII separator: always valid UTF-8.
                return match std::str::from_utf8(bytes.split_at(i + 1).1) {
                    Ok(tail) => tail,
                    Err(_) => path,
                };
            }
        }
    }
    path
}

/// go-zero writes durations as `12.3ms`.
pub(crate) struct Ms(pub(crate) std::time::Duration);

impl Ms {
    /// Appends the duration, formatted without floating point (this runs per request).
    fn push(&self, out: &mut String) {
        // In 64 bits: 128-bit division is a library call (u64 microseconds last 584 554 years).
        let micros = u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX - 50);
        let tenths = (micros + 50) / 100;
        out.push_str(itoa::Buffer::new().format(tenths / 10));
        out.push('.');
        out.push(char::from(b'0' + (tenths % 10) as u8));
        out.push_str("ms");
    }
}

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::with_capacity(16);
        self.push(&mut s);
        f.write_str(&s)
    }
}

/// `,"trace":"…","span":"…"`, written out in one piece.
fn json_ids(ids: &Ids) -> [u8; 69] {
    const TRACE: &[u8] = b",\"trace\":\"";
    const SPAN: &[u8] = b"\",\"span\":\"";
    let mut out = [0u8; 69];
    let (head, rest) = out.split_at_mut(TRACE.len());
    head.copy_from_slice(TRACE);
    let (trace, rest) = rest.split_at_mut(32);
    trace.copy_from_slice(&ids.trace_hex());
    let (mid, rest) = rest.split_at_mut(SPAN.len());
    mid.copy_from_slice(SPAN);
    let (span, end) = rest.split_at_mut(16);
    span.copy_from_slice(&ids.span_hex());
    end.copy_from_slice(b"\"");
    out
}

/// `,"caller":"file:line"`.
fn push_json_caller(out: &mut String, file: &str, line: u32) {
    out.push_str(",\"caller\":\"");
    push_escaped(out, file);
    out.push(':');
    out.push_str(itoa::Buffer::new().format(line));
    out.push('"');
}

/// Where a line was written from.
#[derive(Clone, Copy)]
enum Caller<'a> {
    /// A tracing event's file (shortened) and line.
    At(&'a str, u32),
    /// A call site of [`defer`], its JSON field rendered once.
    Site(&'a Callsite),
}

impl<'a> Caller<'a> {
    fn at(self) -> (&'a str, u32) {
        match self {
            Caller::At(f, l) => (f, l),
            Caller::Site(s) => (s.file, s.line),
        }
    }
}

/// A place in the runtime that writes a line on every request through [`defer`]
/// (`static SITE: Callsite = Callsite::new(file!(), line!());`): its `caller` field is
/// escaped and formatted once, not per line.
pub(crate) struct Callsite {
    file: &'static str,
    line: u32,
    json: std::sync::OnceLock<String>,
}

impl Callsite {
    /// The call site at `file` (as `file!()` gives it) and `line`.
    pub(crate) const fn new(file: &'static str, line: u32) -> Self {
        Callsite {
            file: short_file(file),
            line,
            json: std::sync::OnceLock::new(),
        }
    }

    fn json(&self) -> &str {
        self.json.get_or_init(|| {
            let mut s = String::new();
            push_json_caller(&mut s, self.file, self.line);
            s
        })
    }
}

/// Appends hex digits.
fn push_ascii(out: &mut String, digits: &[u8]) {
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// The bytes a JSON string must escape: `"`, `\\` and control characters, all ASCII.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first byte of `bytes` that JSON must escape.
///
/// Eight bytes at a time while none is near (written by hand: this runs over every byte of
/// every log line, and a byte-by-byte scan was the largest part of formatting the access
/// line). The word tests are the classic bit tricks: `(x - n·L) & !x & H` is non-zero iff
/// some byte of `x` is below `n` (`L` has 1, `H` 0x80 in every byte); a byte equal to `c` is
/// a zero byte of `x ^ c·L`, i.e. one below 1.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const L: u64 = u64::from_ne_bytes([1; 8]);
    const H: u64 = L << 7;
    let below = |x: u64, n: u8| x.wrapping_sub(L * u64::from(n)) & !x & H;
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for w in words.by_ref() {
        let x = u64::from_ne_bytes(w.try_into().unwrap_or_default());
        if below(x, 0x20)
            | below(x ^ (L * u64::from(b'"')), 1)
            | below(x ^ (L * u64::from(b'\\')), 1)
            != 0
        {
            break;
        }
        start += 8;
    }
    bytes[start..]
        .iter()
        .position(|&b| ESCAPE[usize::from(b)])
        .map(|n| start + n)
}

/// Appends `s` escaped for a JSON string body; runs of plain characters are copied whole.
fn push_escaped(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    let bytes = s.as_bytes();
    let mut plain = 0;
    while let Some(n) = first_to_escape(&bytes[plain..]) {
        let i = plain + n;
        let b = bytes[i];
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[plain..i]);
        plain = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
    }
    out.push_str(&s[plain..]);
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
    /// How a JSON line ends: `,"service":"name"}` and a newline, escaped once.
    json_end: String,
}

impl GoZeroFormat {
    fn new(json: bool, caller: bool, service: &str) -> Self {
        let mut json_end = String::new();
        if !service.is_empty() {
            json_end.push_str(",\"service\":");
            json_str(&mut json_end, service);
        }
        json_end.push_str("}\n");
        GoZeroFormat {
            json,
            caller,
            json_end,
        }
    }
}

/// Escapes everything written through it into a JSON string body.
struct JsonEscape<'a>(&'a mut String);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
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
    /// The last second written on this thread, as `2006-01-02T15:04:05.`, reused until the
    /// clock moves past it.
    static TS: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// Now, as the time since the Unix epoch.
fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Appends the UTC time `since` the Unix epoch as `2006-01-02T15:04:05.000Z` (millisecond
/// precision, as go-zero writes it). The date and time of day are worked out once a second
/// per thread: this runs for every line, and turning a timestamp into a calendar date is the
/// costly part.
fn push_timestamp_of(out: &mut String, since: std::time::Duration) {
    use std::fmt::Write as _;
    let secs = since.as_secs();
    TS.with(|ts| {
        let mut ts = ts.borrow_mut();
        if ts.0 != secs {
            let t = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            ts.1.clear();
            let _ = write!(
                ts.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            );
            ts.0 = secs;
        }
        out.push_str(&ts.1);
    });
    let ms = since.subsec_millis();
    let digit = |d: u32| b'0' + d as u8;
    push_ascii(
        out,
        &[digit(ms / 100), digit(ms / 10 % 10), digit(ms % 10), b'Z'],
    );
}

impl GoZeroFormat {
    /// Writes one line: a tracing event, or a line handed over directly (see [`defer`]).
    fn format(
        &self,
        level: &Level,
        ids: Option<&Ids>,
        caller: Option<Caller<'_>>,
        body: Body<'_>,
        out: &mut String,
    ) -> fmt::Result {
        self.format_at(since_epoch(), level, ids, caller, body, out)
    }

    /// [`GoZeroFormat::format`] for a line written at `at` (since the Unix epoch).
    fn format_at(
        &self,
        at: std::time::Duration,
        level: &Level,
        ids: Option<&Ids>,
        caller: Option<Caller<'_>>,
        body: Body<'_>,
        out: &mut String,
    ) -> fmt::Result {
        use std::fmt::Write as _;
        let caller = caller.filter(|_| self.caller);
        if self.json {
            out.push_str("{\"@timestamp\":\"");
            push_timestamp_of(out, at);
            out.push_str("\",\"level\":\"");
            out.push_str(level_name(level));
            out.push('"');
            match body {
                Body::Event(event) => {
                    let mut fields = JsonFields {
                        out,
                        has_content: false,
                    };
                    event.record(&mut fields);
                    if !fields.has_content {
                        out.push_str(",\"content\":\"\"");
                    }
                }
                Body::Direct { content, fields } => {
                    out.push_str(",\"content\":\"");
                    push_escaped(out, content);
                    out.push('"');
                    for (k, v) in fields {
                        out.push_str(",\"");
                        out.push_str(k);
                        out.push_str("\":");
                        json_str(out, v);
                    }
                }
            }
            if let Some(ids) = ids {
                push_ascii(out, &json_ids(ids));
            }
            match caller {
                Some(Caller::Site(site)) => out.push_str(site.json()),
                Some(Caller::At(f, l)) => push_json_caller(out, f, l),
                None => {}
            }
            out.push_str(&self.json_end);
            Ok(())
        } else {
            let mut fields = Fields::default();
            match body {
                Body::Event(event) => event.record(&mut fields),
                Body::Direct { content, fields: f } => {
                    fields.content = content.to_owned();
                    fields.rest = f
                        .iter()
                        .map(|(k, v)| (*k, FieldValue::Str((*v).to_owned())))
                        .collect();
                }
            }
            push_timestamp_of(out, at);
            write!(out, "\t{}\t{}", level_name(level), fields.content)?;
            for (k, v) in &fields.rest {
                write!(out, "\t{k}=")?;
                v.write_plain(out);
            }
            if let Some(ids) = ids {
                out.push_str("\ttrace=");
                push_ascii(out, &ids.trace_hex());
                out.push_str("\tspan=");
                push_ascii(out, &ids.span_hex());
            }
            if let Some((f, l)) = caller.map(Caller::at) {
                write!(out, "\tcaller={f}:{l}")?;
            }
            writeln!(out)
        }
    }
}

/// What a line says: an event's fields, or a message and string fields given directly.
enum Body<'a> {
    Event(&'a Event<'a>),
    Direct {
        content: &'a str,
        fields: &'a [(&'static str, &'a str)],
    },
}

thread_local! {
    /// The line being formatted, reused so that a line costs no allocation.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Formats a line into this thread's buffer and queues it.
fn emit(writer: &BatchWriter, f: impl FnOnce(&mut String) -> fmt::Result) {
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

/// The runtime's own log output, once its layer is the process's subscriber: the line every
/// request writes (the access log) goes straight here, without tracing's dispatch.
struct Direct {
    writer: BatchWriter,
    level: Level,
}

static PENDING: Mutex<Option<Direct>> = Mutex::new(None);
static DIRECT: std::sync::OnceLock<Direct> = std::sync::OnceLock::new();

/// Called once the runtime's layer has been installed as the global subscriber.
pub(crate) fn enable_direct() {
    if let Some(d) = PENDING.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = DIRECT.set(d);
    }
}

/// A line handed to the writer thread unformatted (see [`defer`]).
pub(crate) struct Deferred {
    at: std::time::Duration,
    level: Level,
    ids: Option<Ids>,
    site: &'static Callsite,
    content: String,
    duration: std::time::Duration,
}

impl GoZeroFormat {
    /// The text of a [`Deferred`] line.
    fn render(&self, p: &Deferred, out: &mut String) {
        let mut duration = String::new();
        Ms(p.duration).push(&mut duration);
        let fields = [("duration", duration.as_str())];
        let body = Body::Direct {
            content: &p.content,
            fields: &fields,
        };
        let caller = Some(Caller::Site(p.site));
        let _ = self.format_at(p.at, &p.level, p.ids.as_ref(), caller, body, out);
    }
}

/// Writes a line with `content` and a `duration` field as an event at `level` written at
/// `site` would be written, inside the current request (its ids), but formatted later by the
/// writer thread, in a batch: this is for the line every request writes. Gives `content`
/// back when the runtime's logger is not the installed subscriber (the caller then logs
/// through `tracing`).
pub(crate) fn defer(
    level: Level,
    site: &'static Callsite,
    content: String,
    duration: std::time::Duration,
) -> Result<(), String> {
    let Some(d) = DIRECT.get() else {
        return Err(content);
    };
    if level <= d.level {
        d.writer.write_later(Deferred {
            at: since_epoch(),
            level,
            ids: ids::current(),
            site,
            content,
            duration,
        });
    }
    Ok(())
}

/// Crates whose chatter is only wanted from WARN up.
const NOISY: [&str; 6] = ["h2", "hyper", "tonic", "tower", "reqwest", "opentelemetry"];

/// The logging layer: captures request ids from spans and writes each event as one line.
///
/// A dedicated layer rather than `tracing_subscriber::fmt`, because the fmt layer formats every
/// span's fields into a string on creation and on each record, which the go-zero format never
/// prints; on the request path that was the largest single cost of logging.
pub(crate) struct GoZeroLayer {
    format: Arc<GoZeroFormat>,
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
///
/// # Errors
/// The output cannot be opened (in file mode, a `Log.Path` directory that cannot be created
/// or written) or the writer thread cannot start; the message names the key.
pub(crate) fn layer<S>(
    conf: &LogConf,
    service: &str,
) -> Result<impl tracing_subscriber::Layer<S> + Send + Sync + 'static, String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let prefix = if service.is_empty() {
        "service"
    } else {
        service
    };
    let unopened =
        |e: &dyn fmt::Display| format!("Log.Path `{}`: cannot open the log output: {e}", conf.path);
    let out: Box<dyn std::io::Write + Send> = match (conf.mode, conf.rotation) {
        (LogMode::Console, _) => Box::new(std::io::stdout()),
        (LogMode::File, Rotation::Size) => {
            let keep = rotate::Keep {
                max_backups: conf.max_backups,
                keep_days: conf.keep_days,
                compress: conf.compress,
            };
            let max_size = conf.max_size.saturating_mul(1 << 20);
            Box::new(
                SizeRotatingFile::open(&conf.path, prefix, max_size, keep)
                    .map_err(|e| unopened(&e))?,
            )
        }
        (LogMode::File, rotation) => {
            let hourly = rotation == Rotation::Hourly;
            let rotation = if hourly {
                rolling::Rotation::HOURLY
            } else {
                rolling::Rotation::DAILY
            };
            let mut b = rolling::Builder::new()
                .rotation(rotation)
                .filename_prefix(prefix)
                .filename_suffix("log");
            // `KeepDays` counts days; tracing-appender keeps a number of files.
            let per_day = if hourly { 24 } else { 1 };
            if conf.keep_days > 0 {
                b = b.max_log_files(conf.keep_days.saturating_mul(per_day));
            }
            let appender = b.build(&conf.path).map_err(|e| unopened(&e))?;
            Box::new(appender)
        }
    };
    let service = if conf.service_name.is_empty() {
        service.to_owned()
    } else {
        conf.service_name.clone()
    };
    let format = Arc::new(GoZeroFormat::new(
        conf.encoding == LogEncoding::Json,
        conf.caller,
        &service,
    ));
    let render = format.clone();
    let (writer, guard) = logwriter::spawn(out, Box::new(move |p, out| render.render(p, out)))
        .map_err(|e| format!("Log: cannot start the log writer thread: {e}"))?;
    *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    let level = max_level(conf.level);
    *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Direct {
        writer: writer.clone(),
        level,
    });
    Ok(GoZeroLayer {
        format,
        writer,
        level,
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

    #[test]
    fn callers_are_the_last_directory_and_file() {
        let home = "/home/u/.cargo/registry/src/index.crates.io-1/rustctl-runtime-0.1.0/src/middleware/accesslog.rs";
        assert_eq!(short_file(home), "middleware/accesslog.rs");
        assert_eq!(
            short_file("src\\logic\\get.rs"),
            "logic/get.rs".replace('/', "\\")
        );
        assert_eq!(short_file("src/main.rs"), "src/main.rs");
        assert_eq!(short_file("main.rs"), "main.rs");
        assert_eq!(short_file("/main.rs"), "/main.rs");
    }

    #[test]
    fn timestamps_are_utc_milliseconds_of_now() {
        let format = time::format_description::well_known::Rfc3339;
        for _ in 0..3 {
            let before = time::OffsetDateTime::now_utc();
            let mut s = String::new();
            push_timestamp_of(&mut s, since_epoch());
            let after = time::OffsetDateTime::now_utc();
            assert_eq!(s.len(), "2006-01-02T15:04:05.000Z".len(), "{s}");
            assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
            let t = time::OffsetDateTime::parse(&s, &format).unwrap();
            let ms = time::Duration::milliseconds(1);
            assert!(before - ms <= t && t <= after, "{before} <= {t} <= {after}");
            std::thread::sleep(std::time::Duration::from_millis(7));
        }
    }

    #[test]
    fn word_scan_finds_the_first_byte_to_escape() {
        let naive = |b: &[u8]| b.iter().position(|&c| ESCAPE[usize::from(c)]);
        // Bytes around every edge of the word tests: controls, the two specials, their
        // neighbours, and UTF-8 bytes with the high bit set.
        let alphabet = [
            0u8, 0x1f, 0x20, b'!', b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xe9, 0xff,
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let mut v: Vec<u8> = (0..len).map(|_| b'a').collect();
            for _ in 0..rng.usize(0..3) {
                if len > 0 {
                    v[rng.usize(0..len)] = alphabet[rng.usize(0..alphabet.len())];
                }
            }
            assert_eq!(first_to_escape(&v), naive(&v), "{v:?}");
        }
        let mut out = String::new();
        push_escaped(
            &mut out,
            "plain text that is long enough \"quoted\" \\ tab\t é\u{1}",
        );
        assert_eq!(
            out,
            r#"plain text that is long enough \"quoted\" \\ tab\t é\u0001"#
        );
    }

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
        let (writer, guard) = logwriter::spawn(Box::new(buf.clone()), Box::new(|_, _| {})).unwrap();
        let layer = GoZeroLayer {
            format: Arc::new(GoZeroFormat::new(json, true, "svc")),
            writer,
            level: Level::INFO,
        };
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, f);
        drop(guard);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    /// A deferred line is formatted by the writer thread and written in its place among the
    /// lines queued around it, in JSON and in plain text.
    #[test]
    fn deferred_lines_keep_their_place_and_fields() {
        static SITE: Callsite = Callsite::new("/src/runtime/src/middleware/accesslog.rs", 7);
        let write = |json: bool| {
            let buf = Buf::default();
            let format = Arc::new(GoZeroFormat::new(json, true, "svc"));
            let render: logwriter::Render = Box::new(move |p, out| format.render(p, out));
            let (writer, guard) = logwriter::spawn(Box::new(buf.clone()), render).unwrap();
            writer.write_line(b"first\n");
            writer.write_later(Deferred {
                at: std::time::Duration::from_millis(1_700_000_000_123),
                level: Level::INFO,
                ids: Ids::from_hex(TRACE, SPAN, true),
                site: &SITE,
                content: "[HTTP] 200 - GET /a?q=\"x\" - -".into(),
                duration: std::time::Duration::from_micros(1_460),
            });
            writer.write_line(b"last\n");
            drop(guard);
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
        };
        let out = write(true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            (lines.len(), lines[0], lines[2]),
            (3, "first", "last"),
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["level"], "info");
        assert_eq!(v["content"], "[HTTP] 200 - GET /a?q=\"x\" - -");
        assert_eq!(v["duration"], "1.5ms");
        assert_eq!(
            (v["trace"].as_str(), v["span"].as_str()),
            (Some(TRACE), Some(SPAN))
        );
        assert_eq!(v["caller"], "middleware/accesslog.rs:7");
        assert_eq!(v["service"], "svc");
        let plain = write(false);
        let line = plain.lines().nth(1).unwrap();
        assert!(
            line.starts_with("2023-11-14T22:13:20.123Z\tinfo\t[HTTP] 200 - GET /a?q=\"x\" - -\tduration=1.5ms\ttrace="),
            "{line}"
        );
        assert!(
            line.ends_with("\tcaller=middleware/accesslog.rs:7"),
            "{line}"
        );
    }

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const SPAN: &str = "b7ad6b7169203331";

    fn in_request() {
        tracing::info!("outside");
        tracing::debug!("below the level");
        let span = tracing::info_span!(
            "http",
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        span.record("trace_id", TRACE);
        span.record("span_id", SPAN);
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
        assert_eq!(lines[1]["trace"], TRACE);
        assert_eq!(lines[1]["span"], SPAN);
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
            let ids = Ids::from_hex(TRACE, SPAN, true).unwrap();
            let mut fut = std::pin::pin!(ids::WithIds::new(ids, async {
                tracing::info!("in request");
            }));
            let waker = std::task::Waker::noop();
            let _ = fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
            let boom = std::panic::catch_unwind(|| ids::with_ids(ids, || panic!("handler bug")));
            assert!(boom.is_err());
            tracing::info!("after");
        });
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["trace"], TRACE);
        assert_eq!(lines[0]["span"], SPAN);
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
            second.contains("duration=1.0ms") && second.contains(&format!("trace={TRACE}")),
            "{second}"
        );
    }
}
