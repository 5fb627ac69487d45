//! Process-wide setup done once: the tracing subscriber (logs + OpenTelemetry) and the
//! W3C propagator. The first server's config wins; later calls are no-ops. What happens to one
//! server from start to stop is in `lifecycle.rs`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::RestConf;
use crate::{log, telemetry};

static PROVIDER: OnceLock<Option<SdkTracerProvider>> = OnceLock::new();
static OTEL: AtomicBool = AtomicBool::new(false);

/// Whether request spans go to OpenTelemetry (an exporter is configured).
pub(crate) fn otel_enabled() -> bool {
    OTEL.load(Ordering::Relaxed)
}

/// Why the log output of the first call to [`init`] could not be opened, kept for every call.
static LOG_ERROR: OnceLock<String> = OnceLock::new();

/// Sets up logging and tracing from `conf` once per process; later calls return the first
/// call's result.
///
/// If the host already installed a global subscriber, the runtime leaves it alone (requests
/// still get trace ids and `traceparent`, but logs follow the host's format).
///
/// # Errors
/// The log output `conf.log` names cannot be opened (a `Log.Path` directory that cannot be
/// created or written): the message names the key. Servers refuse to start with it rather than
/// run without logs.
pub fn init(conf: &RestConf) -> Result<(), String> {
    PROVIDER.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        // Without an exporter the OpenTelemetry layer would only mint ids, which the trace
        // middleware does far more cheaply itself; so it is installed only when spans go
        // somewhere.
        let exporting = telemetry::exports(&conf.telemetry);
        let (provider, notes) = telemetry::provider(&conf.telemetry, &conf.name);
        let otel = exporting.then(|| {
            tracing_opentelemetry::layer()
                .with_tracer(telemetry::tracer(&provider))
                .with_filter(LevelFilter::INFO)
        });
        let (fmt, log_error) = match log::layer(&conf.log, &conf.name) {
            Ok(l) => (Some(l), None),
            Err(e) => (None, Some(e)),
        };
        let subscriber = tracing_subscriber::registry().with(otel).with(fmt);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            return None;
        }
        if let Some(e) = log_error {
            let _ = LOG_ERROR.set(e);
        }
        OTEL.store(exporting, Ordering::Relaxed);
        log::enable_direct();
        for note in notes {
            match note {
                telemetry::Note::Info(m) => tracing::info!("{m}"),
                telemetry::Note::Warn(m) => tracing::warn!("{m}"),
                telemetry::Note::Error(m) => tracing::error!("{m}"),
            }
        }
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    });
    LOG_ERROR.get().map_or(Ok(()), |e| Err(e.clone()))
}

/// Exports buffered spans now.
pub fn flush_spans() {
    let Some(Some(p)) = PROVIDER.get() else {
        return;
    };
    if let Err(e) = p.force_flush() {
        tracing::warn!(error = %e, "flushing spans failed");
    }
}

/// Flushes spans and log lines; call once when the process is about to exit.
pub fn shutdown() {
    flush_spans();
    if let Some(Some(p)) = PROVIDER.get() {
        let _ = p.shutdown();
    }
    log::flush();
}
