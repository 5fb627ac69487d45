//! Tests of the line layout, the layer and the outputs.

use super::format::*;
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

/// A monotonic reading turns into the wall-clock time it was taken at, before and after the
/// pair of readings it is worked out from, and past the second after which they are taken
/// again.
#[test]
fn instants_turn_into_wall_clock_time() {
    use std::time::{Duration, Instant};
    let (mono, wall) = (Instant::now(), since_epoch());
    let near = |got: Duration, want: Duration| {
        let off = got.abs_diff(want);
        assert!(
            off < Duration::from_millis(50),
            "{got:?} is {off:?} off {want:?}"
        );
    };
    near(since_epoch_at(mono), wall);
    near(
        since_epoch_at(mono + Duration::from_millis(300)),
        wall + Duration::from_millis(300),
    );
    near(
        since_epoch_at(mono - Duration::from_millis(700)),
        wall - Duration::from_millis(700),
    );
    near(
        since_epoch_at(mono + Duration::from_secs(5)),
        wall + Duration::from_secs(5),
    );
    near(since_epoch_at(mono), wall);
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
    let (writer, guard) = writer::spawn(Box::new(buf.clone()), Box::new(|_, _, _| {})).unwrap();
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
        let render: writer::Render<Deferred> =
            Box::new(move |p, text, out| format.render(p, text, out));
        let (writer, guard) = writer::spawn(Box::new(buf.clone()), render).unwrap();
        writer.write_line(b"first\n");
        let line = Deferred {
            at: std::time::Instant::now(),
            level: Level::INFO,
            ids: Ids::from_hex(TRACE, SPAN, true),
            site: &SITE,
            duration: std::time::Duration::from_micros(1_460),
        };
        writer.write_later(line, "[HTTP] 200 - GET /a?q=\"x\" - -");
        writer.write_line(b"last\n");
        drop(guard);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    };
    // The line's time is when it was handed over, as the wall clock read around it says.
    let stamp = || {
        let mut s = String::new();
        push_timestamp_of(&mut s, since_epoch());
        s
    };
    let before = stamp();
    let out = write(true);
    let after = stamp();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        (lines.len(), lines[0], lines[2]),
        (3, "first", "last"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    let at = v["@timestamp"].as_str().unwrap();
    assert!(*before <= *at && *at <= *after, "{before} {at} {after}");
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
    let (at, rest) = line.split_once('\t').unwrap();
    assert_eq!(at.len(), "2023-11-14T22:13:20.123Z".len(), "{line}");
    assert!(
        rest.starts_with("info\t[HTTP] 200 - GET /a?q=\"x\" - -\tduration=1.5ms\ttrace="),
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
    assert!(
        lines[1]["caller"]
            .as_str()
            .unwrap()
            .starts_with("log/tests.rs:")
    );
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

/// The trace spans h2 and hyper open several times per call are never created: they cost most
/// of a gRPC call when they were. A service's own spans exist at any level (their ids reach
/// error lines); its own events follow `Log.Level`.
#[test]
fn noisy_crates_spans_are_off_and_own_spans_on() {
    let mut seen = Vec::new();
    capture(true, || {
        seen.push(tracing::trace_span!(target: "h2::codec::framed_write", "flush").is_disabled());
        seen.push(tracing::debug_span!(target: "hyper::proto::h1", "parse_headers").is_disabled());
        seen.push(tracing::warn_span!(target: "h2", "goaway").is_disabled());
        seen.push(tracing::debug_span!(target: "patient_api::logic", "lookup").is_disabled());
        seen.push(tracing::enabled!(target: "patient_api::logic", Level::DEBUG));
        seen.push(tracing::enabled!(target: "patient_api::logic", Level::INFO));
    });
    assert_eq!(seen, [true, true, false, false, false, true]);
}
