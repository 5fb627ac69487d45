//! One server's life, shared by the REST and gRPC servers: the side listeners (dev server,
//! Prometheus) it starts beside the service port, the handle that stops it, the signals that
//! ask it to, and the graceful drain at the end.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{DevServerConf, PrometheusConf, ShutdownConf};
use crate::devserver::{self, DevState};

/// The listeners a server runs beside its service port: the dev server (health, metrics,
/// profiles) and a Prometheus-only port when `Prometheus.Port` is set.
pub(crate) struct SideListeners {
    pub(crate) dev_addr: Option<SocketAddr>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl SideListeners {
    /// Binds and serves the side listeners `dev` and `prometheus` ask for.
    ///
    /// # Errors
    /// A listener cannot be bound.
    pub(crate) async fn start(
        dev: &DevServerConf,
        prometheus: &PrometheusConf,
        state: DevState,
    ) -> std::io::Result<Self> {
        let mut tasks = Vec::new();
        let mut dev_addr = None;
        if dev.enabled {
            let l = TcpListener::bind((dev.host.as_str(), dev.port)).await?;
            dev_addr = Some(l.local_addr()?);
            tasks.push(serve(l, devserver::router(dev, state.clone())));
        }
        if prometheus.port != 0 {
            let l = TcpListener::bind((prometheus.host.as_str(), prometheus.port)).await?;
            let app = Router::new()
                .route(&prometheus.path, axum::routing::get(devserver::metrics))
                .with_state(state);
            tasks.push(serve(l, app));
        }
        Ok(Self { dev_addr, tasks })
    }
}

fn serve(listener: TcpListener, app: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
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
    crate::setup::flush_spans();
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

impl Running {
    /// Serves until SIGTERM or SIGINT, then shuts down gracefully and flushes logs and spans:
    /// what a service's `main` does.
    pub async fn until_signal(self) -> std::io::Result<()> {
        shutdown_signal().await;
        self.shutdown();
        let res = self.wait().await;
        crate::setup::shutdown();
        res
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("got SIGINT"),
        _ = term => tracing::info!("got SIGTERM"),
    }
}
