//! Logging on `tracing` with go-zero's line format.
//!
//! JSON lines (default) carry `@timestamp`, `level`, `content`, `caller`, and inside a request
//! `trace` and `span`, plus the event's own fields (`duration`, ...). `format.rs` lays a line
//! out, `layer.rs` turns `tracing` events into lines, and `writer.rs` batches them (lossy when
//! its buffer is full rather than blocking the request path) to stdout or to a file rotated
//! daily or hourly (`tracing-appender`) or by size (`rotate.rs`). This module picks the output
//! from `Log` and keeps the direct path the access log takes.

mod format;
mod layer;
pub(crate) mod line;
mod rotate;
mod writer;

use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::{Level, Subscriber};
use tracing_appender::rolling;
use tracing_subscriber::registry::LookupSpan;

use format::GoZeroFormat;
pub(crate) use format::{Callsite, Ms};
use layer::GoZeroLayer;
use rotate::SizeRotatingFile;
use writer::BatchGuard;

use crate::config::{LogConf, LogEncoding, LogLevel, LogMode, Rotation};
use crate::ids::{self, Ids};

/// The batching writer, carrying lines formatted now and [`Deferred`] ones.
type LineWriter = writer::BatchWriter<Deferred>;

/// The runtime's own log output, once its layer is the process's subscriber: the line every
/// request writes (the access log) goes straight here, without tracing's dispatch.
struct Direct {
    writer: LineWriter,
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
    /// When the line was written (its wall-clock time is worked out by the writer thread).
    at: std::time::Instant,
    level: Level,
    ids: Option<Ids>,
    site: &'static Callsite,
    duration: std::time::Duration,
}

/// Writes a line with `content` and a `duration` field as an event at `level` written at
/// `site` would be written, inside the current request (its ids), but formatted later by the
/// writer thread, in a batch: this is for the line every request writes. False when the
/// runtime's logger is not the installed subscriber (the caller then logs through `tracing`).
pub(crate) fn defer(
    level: Level,
    site: &'static Callsite,
    content: &str,
    duration: std::time::Duration,
    at: std::time::Instant,
) -> bool {
    let Some(d) = DIRECT.get() else {
        return false;
    };
    if level <= d.level {
        let line = Deferred {
            at,
            level,
            ids: ids::current(),
            site,
            duration,
        };
        d.writer.write_later(line, content);
    }
    true
}

static GUARD: Mutex<Option<BatchGuard<Deferred>>> = Mutex::new(None);

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
    let (writer, guard) = writer::spawn(
        out,
        Box::new(move |p, text, out| render.render(p, text, out)),
    )
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
mod tests;
