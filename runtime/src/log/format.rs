//! The text of a log line: go-zero's JSON (or plain) layout, written straight into a reused
//! buffer without going through `serde` or `tracing_subscriber::fmt`.

use std::cell::RefCell;
use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level};

use super::Deferred;
use crate::ids::Ids;

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
        match self {
            FieldValue::Str(s) => out.push_str(s),
            FieldValue::I64(v) => out.push_str(itoa::Buffer::new().format(*v)),
            FieldValue::U64(v) => out.push_str(itoa::Buffer::new().format(*v)),
            FieldValue::F64(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        }
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
pub(super) enum Caller<'a> {
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
pub(super) static ESCAPE: [bool; 256] = {
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
pub(super) fn first_to_escape(bytes: &[u8]) -> Option<usize> {
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
pub(super) fn push_escaped(out: &mut String, s: &str) {
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
    pub(super) fn new(json: bool, caller: bool, service: &str) -> Self {
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
pub(super) fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The wall-clock time of `at`, as the time since the Unix epoch, worked out from a pair of
/// readings (monotonic and wall clock) taken at most once a second per thread. The access
/// line carries the monotonic time its request read anyway, so the request path reads no
/// wall clock (a clock reading costs tens of nanoseconds on a VM); a step of the wall clock
/// shows in the lines within a second.
pub(super) fn since_epoch_at(at: std::time::Instant) -> std::time::Duration {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local! {
        static ANCHOR: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
    }
    ANCHOR.with(|anchor| {
        let (mono, wall) = match anchor.get() {
            Some((mono, wall)) if at < mono + Duration::from_secs(1) => (mono, wall),
            _ => {
                let fresh = (Instant::now(), since_epoch());
                anchor.set(Some(fresh));
                fresh
            }
        };
        match at.checked_duration_since(mono) {
            Some(after) => wall + after,
            None => wall.saturating_sub(mono - at),
        }
    })
}

/// Appends the UTC time `since` the Unix epoch as `2006-01-02T15:04:05.000Z` (millisecond
/// precision, as go-zero writes it). The date and time of day are worked out once a second
/// per thread: this runs for every line, and turning a timestamp into a calendar date is the
/// costly part.
pub(super) fn push_timestamp_of(out: &mut String, since: std::time::Duration) {
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
    pub(super) fn format(
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
            // Written piece by piece, as the JSON line is: no `fmt` machinery and no copies of
            // the content and fields (the access line comes this way on every request).
            push_timestamp_of(out, at);
            out.push('\t');
            out.push_str(level_name(level));
            out.push('\t');
            match body {
                Body::Event(event) => {
                    let mut fields = Fields::default();
                    event.record(&mut fields);
                    out.push_str(&fields.content);
                    for (k, v) in &fields.rest {
                        push_plain_key(out, k);
                        v.write_plain(out);
                    }
                }
                Body::Direct { content, fields } => {
                    out.push_str(content);
                    for (k, v) in fields {
                        push_plain_key(out, k);
                        out.push_str(v);
                    }
                }
            }
            if let Some(ids) = ids {
                out.push_str("\ttrace=");
                push_ascii(out, &ids.trace_hex());
                out.push_str("\tspan=");
                push_ascii(out, &ids.span_hex());
            }
            if let Some((f, l)) = caller.map(Caller::at) {
                out.push_str("\tcaller=");
                out.push_str(f);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(l));
            }
            out.push('\n');
            Ok(())
        }
    }
}

/// `\tkey=`, before a field's value on a plain line.
fn push_plain_key(out: &mut String, key: &str) {
    out.push('\t');
    out.push_str(key);
    out.push('=');
}

/// What a line says: an event's fields, or a message and string fields given directly.
pub(super) enum Body<'a> {
    Event(&'a Event<'a>),
    Direct {
        content: &'a str,
        fields: &'a [(&'static str, &'a str)],
    },
}

impl GoZeroFormat {
    /// The text of a [`Deferred`] line.
    pub(super) fn render(&self, p: &Deferred, content: &str, out: &mut String) {
        thread_local! {
            /// The `duration` field's text, its buffer kept from one line to the next.
            static DURATION: RefCell<String> = const { RefCell::new(String::new()) };
        }
        DURATION.with_borrow_mut(|duration| {
            duration.clear();
            Ms(p.duration).push(duration);
            let fields = [("duration", duration.as_str())];
            let body = Body::Direct {
                content,
                fields: &fields,
            };
            let caller = Some(Caller::Site(p.site));
            let _ = self.format_at(
                since_epoch_at(p.at),
                &p.level,
                p.ids.as_ref(),
                caller,
                body,
                out,
            );
        });
    }
}
