//! The RPC server: tonic with the built-in interceptors in a fixed order, gRPC health and
//! reflection, the dev server, and graceful shutdown.
//!
//! Interceptors, outermost first (each can be switched off under `Middlewares`; see
//! [`super::stack`]): trace → access log → metrics → shedding (pro mode) → breaker (per
//! method) → timeout → recover → auth (`Auth: true`) → service.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tower::{Service, ServiceBuilder};

/// A serving RPC server (the same handle as a REST server's).
pub use crate::lifecycle::Running as RunningRpc;

use super::accesslog::AccessLog;
use super::auth::{Auth, Authenticator};
use super::conf::{RpcServerConf, split_host_port};
use super::etcd::{Publisher, Registry, advertised as publish_addr};
use super::intercept::InterceptLayer;
use super::methods::Methods;
use super::services::Services;
use super::shedding::Shedding;
use super::stack::{Interceptors, StackLayer};
use super::timeout::Timeout;
use crate::config::Mode;
use crate::devserver::DevState;
use crate::lifecycle::SideListeners;
use crate::load::{CpuSource, Shedder};
use crate::metrics::Metrics;

/// A gRPC service.
pub struct RpcServer {
    conf: Arc<RpcServerConf>,
    routes: Services,
    services: Vec<String>,
    reflection: Vec<&'static [u8]>,
    shedder: Option<Arc<Shedder>>,
    /// Why the log output could not be opened; `listen` refuses to start with it.
    log_error: Option<String>,
}

impl RpcServer {
    /// A server for `conf`; sets up logging and tracing once per process.
    pub fn new(conf: RpcServerConf) -> Self {
        Self::with_cpu_source(conf, CpuSource::System)
    }

    /// Like [`RpcServer::new`] with shedding reading CPU usage from `cpu` (tests and drills).
    pub fn with_cpu_source(conf: RpcServerConf, cpu: CpuSource) -> Self {
        let log_error = crate::setup::init(&conf.setup_conf()).err();
        for key in &conf.unknown_keys {
            tracing::warn!(key = %key, "unknown config key ignored");
        }
        let shedder = (conf.mode == Mode::Pro && conf.middlewares.shedding)
            .then(|| Arc::new(Shedder::new(conf.cpu_threshold, cpu)));
        RpcServer {
            conf: Arc::new(conf),
            routes: Services::default(),
            services: Vec::new(),
            reflection: Vec::new(),
            shedder,
            log_error,
        }
    }

    /// The config the server runs with.
    pub fn conf(&self) -> &RpcServerConf {
        &self.conf
    }

    /// Adds a tonic service (a generated `FooServer::new(logic)`, or any service with a name).
    pub fn add_service<S>(&mut self, svc: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.services.push(S::NAME.to_owned());
        self.routes.add(svc);
        self
    }

    /// Serves gRPC reflection (v1 and v1alpha) for an encoded `FileDescriptorSet` (what
    /// generated code embeds); may be called once per descriptor set. The descriptors also
    /// say which methods stream: `Timeout` bounds unary calls only (as go-zero's server), a
    /// stream is bounded by the client's deadline or its own `MethodTimeouts` entry.
    pub fn with_reflection(&mut self, encoded_fds: &'static [u8]) -> &mut Self {
        self.reflection.push(encoded_fds);
        self
    }

    fn add_reflection(&mut self) {
        if self.reflection.is_empty() {
            return;
        }
        let build = || {
            let mut b = tonic_reflection::server::Builder::configure();
            for fds in &self.reflection {
                b = b.register_encoded_file_descriptor_set(fds);
            }
            b
        };
        match (build().build_v1(), build().build_v1alpha()) {
            (Ok(v1), Ok(v1alpha)) => {
                self.routes.add(v1);
                self.routes.add(v1alpha);
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "gRPC reflection not served: bad descriptor set");
            }
        }
    }

    /// Binds `ListenOn` (port 0: any free port) and the dev server, and serves in the
    /// background; returns a handle to stop it.
    ///
    /// # Errors
    /// The log output cannot be opened (the message names `Log.Path`), `ListenOn` is not
    /// `host:port`, `Auth` is on with an unusable `Redis` section, or binding fails.
    pub async fn listen(mut self) -> std::io::Result<RunningRpc> {
        if let Some(e) = self.log_error.take() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("config: {e}"),
            ));
        }
        let c = self.conf.clone();
        let (host, port) = split_host_port(&c.listen_on).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("ListenOn `{}` is not host:port", c.listen_on),
            )
        })?;
        let auth = if c.auth {
            let a = Authenticator::new(&c.redis, c.strict_control).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("Auth: {e}"))
            })?;
            Some(Arc::new(a))
        } else {
            None
        };
        // Checked (TLS files read) before anything binds: a bad section stops the start.
        let register = if c.etcd.hosts.is_empty() {
            None
        } else {
            Some(Registry::new(&c.etcd).map_err(|problem| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("config: {problem}"),
                )
            })?)
        };
        let listener = TcpListener::bind((host.as_str(), port)).await?;
        let addr = listener.local_addr()?;

        let health = if c.health {
            let (reporter, svc) = tonic_health::server::health_reporter();
            self.routes.add(svc);
            reporter
                .set_service_status("", tonic_health::ServingStatus::Serving)
                .await;
            for name in &self.services {
                reporter
                    .set_service_status(name, tonic_health::ServingStatus::Serving)
                    .await;
            }
            Some(reporter)
        } else {
            None
        };
        self.add_reflection();
        // Which methods stream, the runtime's own included (health's `Watch` stays open).
        let own = [
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let streams = own
            .into_iter()
            .chain(self.reflection.iter().copied())
            .flat_map(super::timeout::streaming_methods)
            .collect();

        let ready = Arc::new(AtomicBool::new(false));
        let dev_state = DevState {
            ready: ready.clone(),
            metrics: Arc::new(Metrics::new()),
        };
        // The RPC families exist from the start, so a scrape before the first call sees them.
        let _ = super::metrics::get();
        let side = SideListeners::start(&c.dev_server, &c.prometheus, dev_state).await?;
        let dev_addr = side.dev_addr;

        let on = c.middlewares;
        let interceptors = Interceptors {
            trace: on.trace,
            access_log: (on.log && on.stat).then_some(AccessLog {
                slow: Duration::from_millis(c.log.slow_threshold),
            }),
            methods: Methods::new(
                self.services.clone().into(),
                on.breaker,
                on.prometheus,
                Timeout::new(c.timeout, &c.method_timeouts, streams),
            ),
            shedding: self.shedder.clone().map(Shedding),
            timeout: on.timeout,
            recover: on.recover,
        };
        let stack = ServiceBuilder::new()
            .layer(StackLayer(Arc::new(interceptors)))
            .option_layer(auth.map(|a| InterceptLayer(Auth(a))));

        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let app = stack.service(self.routes.clone());
        let serve = serve(listener, app, drain_rx);
        let mut serve_task = tokio::spawn(serve);
        ready.store(true, Ordering::Relaxed);
        tracing::info!(%addr, ?dev_addr, "Starting rpc server at {addr}");
        // Registered once serving: a client that discovers the address can call at once.
        let publisher = match register {
            Some(registry) => {
                let advertised = publish_addr(&host, addr, &registry.conf().hosts).await;
                Some(Publisher::start_in(registry, &advertised))
            }
            None => None,
        };

        let (stop_tx, mut stop_rx) = watch::channel(false);
        let services = self.services.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = stop_rx.wait_for(|s| *s) => {}
                res = &mut serve_task => {
                    return flatten(res);
                }
            }
            // Out of discovery first: clients drop this replica while it still serves, during
            // `Shutdown.WrapUpTime`, so none of their calls reach a closed listener.
            if let Some(p) = publisher {
                p.stop().await;
            }
            ready.store(false, Ordering::Relaxed);
            if let Some(h) = &health {
                h.set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
                for name in &services {
                    h.set_service_status(name, tonic_health::ServingStatus::NotServing)
                        .await;
                }
            }
            crate::lifecycle::drain(
                &c.shutdown,
                drain_tx,
                &mut serve_task,
                side.tasks,
                "rpc server",
            )
            .await
        });
        Ok(RunningRpc {
            addr,
            dev_addr,
            stop: stop_tx,
            task,
        })
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully (health NOT_SERVING,
    /// `Shutdown.WrapUpTime`, stop accepting, in-flight calls finish within
    /// `Shutdown.WaitTime`) and flushes logs and spans.
    pub async fn start(self) -> std::io::Result<()> {
        self.listen().await?.until_signal().await
    }
}

fn flatten(res: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    res.map_err(std::io::Error::other)?
}

/// The accept loop: HTTP/2 connections served by `app` until `drain` fires, then the listener
/// closes and open connections finish their calls (GOAWAY) before this returns.
///
/// Served with hyper directly rather than `tonic::transport::Server`, whose built-in
/// `grpc-timeout` handling sits outside any layer and answers CANCELLED, unseen by the
/// interceptors; here the timeout interceptor answers DEADLINE_EXCEEDED and every call is
/// logged and counted.
async fn serve<S>(
    listener: TcpListener,
    app: S,
    drain: tokio::sync::oneshot::Receiver<()>,
) -> std::io::Result<()>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    let local = listener.local_addr().ok();
    let mut drain = std::pin::pin!(drain);
    // Connections are tasks of this set, so when `Shutdown.WaitTime` runs out and this future
    // is dropped, the calls still running are dropped with it.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut drain => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let info = tonic::transport::server::TcpConnectInfo {
            local_addr: local,
            remote_addr: Some(remote),
        };
        let svc = app
            .clone()
            .map_request(move |req: http::Request<hyper::body::Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(info.clone());
                req
            });
        let conn = http2.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "rpc connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    conns.shutdown().await;
    Ok(())
}
