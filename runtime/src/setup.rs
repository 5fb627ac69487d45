//! Process-wide setup done once: the tracing subscriber (logs + OpenTelemetry) and the
//! W3C propagator. The first server's config wins; later calls are no-ops.

use std::sync::OnceLock;

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::RestConf;
use crate::{log, telemetry};

static PROVIDER: OnceLock<Option<SdkTracerProvider>> = OnceLock::new();

/// Sets up logging and tracing from `conf` once per process.
///
/// If the host already installed a global subscriber, the runtime leaves it alone (requests
/// still get trace ids and `traceparent`, but logs follow the host's format).
pub fn init(conf: &RestConf) {
    PROVIDER.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = telemetry::provider(&conf.telemetry, &conf.name);
        let tracer = telemetry::tracer(&provider);
        let fmt = match log::fmt_layer(&conf.log, &conf.name) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("rustctl-runtime: cannot open log output: {e}");
                None
            }
        };
        let subscriber = tracing_subscriber::registry()
            .with(log::IdsLayer.with_filter(LevelFilter::INFO))
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(LevelFilter::INFO),
            )
            .with(fmt);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            return None;
        }
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    });
}

/// Exports buffered spans now.
pub fn flush_spans() {
    if let Some(Some(p)) = PROVIDER.get() {
        if let Err(e) = p.force_flush() {
            tracing::warn!(error = %e, "flushing spans failed");
        }
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
