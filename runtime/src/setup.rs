//! Process-wide setup done once: the tracing subscriber (logs + OpenTelemetry) and the
//! W3C propagator. The first server's config wins; later calls are no-ops.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{RestConf, ShutdownConf};
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

/// The shared end of a graceful shutdown, for REST and gRPC servers alike, once readiness is
/// off: wait `WrapUpTime` so load balancers notice, tell the server to stop accepting (`drain`),
/// give in-flight work `WaitTime` to finish, then stop the side listeners (dev server,
/// Prometheus) and flush spans. `what` names the server in the log.
pub(crate) async fn drain(
    conf: &ShutdownConf,
    drain: oneshot::Sender<()>,
    serve: &mut JoinHandle<std::io::Result<()>>,
    side_tasks: Vec<JoinHandle<()>>,
    what: &str,
) -> std::io::Result<()> {
    tracing::info!("{what} shutting down: not ready, wrapping up");
    tokio::time::sleep(Duration::from_millis(conf.wrap_up_time)).await;
    let _ = drain.send(());
    let wait = Duration::from_millis(conf.wait_time);
    let res = match tokio::time::timeout(wait, &mut *serve).await {
        Ok(res) => res.map_err(std::io::Error::other).and_then(|r| r),
        Err(_) => {
            tracing::warn!(
                ?wait,
                "{what}: work in flight outlived Shutdown.WaitTime; closing"
            );
            serve.abort();
            Ok(())
        }
    };
    for t in side_tasks {
        t.abort();
    }
    flush_spans();
    tracing::info!("{what} stopped");
    res
}

/// A serving server (REST or gRPC): its addresses and the handle that stops it.
pub struct Running {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) dev_addr: Option<std::net::SocketAddr>,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Where the server listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    /// Where the dev server listens, if enabled.
    pub fn dev_addr(&self) -> Option<std::net::SocketAddr> {
        self.dev_addr
    }
    /// Begins graceful shutdown: readiness (and gRPC health) off, `WrapUpTime`, stop
    /// accepting, wait up to `WaitTime` for in-flight requests.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
    /// Waits until the server has stopped.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
}
