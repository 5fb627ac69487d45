//! The RPC client: a connection pool over the target's endpoints that generated clients
//! (`FooClient::new(client)`) call through. Per call, in order: tracing propagation
//! (`traceparent` of the current request), the per-method breaker (UNAVAILABLE without a call
//! while open), the deadline (the smaller of `Timeout`, for unary calls only, and the
//! request's own, sent as `grpc-timeout`; DEADLINE_EXCEEDED past it), p2c balancing, and the
//! `rpc_client_requests_duration_ms` / `rpc_client_requests_code_total` metrics. With `App`
//! and `Token` set, every call carries them as `app`/`token` metadata (go-zero's credential).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tower::Service;

use super::balance::{self, EndpointOpts, Pool};
use super::breaker::{Breakers, open_status};
use super::conf::RpcClientConf;
use super::error::RpcError;
use super::intercept::{
    Deadline, acceptable, deadline_status, format_grpc_timeout, observe, status_response,
};
use super::resolve::{self, EndpointSender};
use super::timeout::effective;

/// A connection to an RPC service: cheap to clone, safe to share; pass it to a generated
/// client (`TrialClient::new(client)`). It implements `tonic::client::GrpcService`.
#[derive(Clone)]
pub struct RpcClient {
    pool: Pool,
    timeout: Option<Duration>,
    breakers: Option<Arc<Breakers>>,
    trace: bool,
    slow_log: bool,
    metrics: bool,
    credential: Option<(http::HeaderValue, http::HeaderValue)>,
    endpoints: EndpointSender,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("endpoints", &self.endpoints.known())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RpcClient {
    /// Builds the client for `conf`. With `NonBlock: true` (default) it connects lazily and
    /// never fails because a server is down; with `false` it fails unless an endpoint answers
    /// within `Timeout`.
    pub async fn connect(conf: &RpcClientConf) -> Result<RpcClient, RpcError> {
        let client = Self::connect_lazy(conf)?;
        if !conf.non_block {
            let opts = endpoint_opts(conf);
            check_reachable(&client.endpoints, opts, &shown(conf)).await?;
        }
        Ok(client)
    }

    /// Builds the client for `conf` without waiting for any server (whatever `NonBlock`
    /// says), for synchronous setup code such as `ServiceContext::new`. Must be called
    /// inside the tokio runtime.
    pub fn connect_lazy(conf: &RpcClientConf) -> Result<RpcClient, RpcError> {
        let on = conf.middlewares;
        let timeout = (on.timeout && conf.timeout > 0).then(|| Duration::from_millis(conf.timeout));
        let opts = endpoint_opts(conf);
        let credential = credential(conf)?;
        let target = conf.target().unwrap_or_default();
        let (pool, sender) = balance::pool(opts);
        if !conf.endpoints.is_empty() {
            for e in &conf.endpoints {
                balance::endpoint(&resolve::normalize(e), opts).map_err(|err| {
                    RpcError::InvalidEndpoint {
                        endpoint: e.clone(),
                        message: err.to_string(),
                    }
                })?;
                sender.insert(e);
            }
        } else if conf.target_is_etcd_section() {
            // The section, not its `etcd://` form: it carries `User`/`Pass`.
            super::etcd::discover(conf.etcd.clone(), sender.clone()).map_err(|message| {
                RpcError::InvalidEndpoint {
                    endpoint: target.clone(),
                    message,
                }
            })?;
        } else if !target.is_empty() {
            resolve::resolver_for(&target)?.resolve(&target, sender.clone())?;
        } else {
            return Err(RpcError::NoTarget);
        }
        super::metrics::get();
        Ok(RpcClient {
            pool,
            timeout,
            breakers: on.breaker.then(|| Arc::new(Breakers::default())),
            trace: on.trace,
            slow_log: on.duration,
            metrics: on.prometheus,
            credential,
            endpoints: sender,
        })
    }

    /// The endpoints calls are balanced across now.
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.known()
    }
}

/// `App` and `Token` as metadata values, when both are set (go-zero's `HasCredential`).
fn credential(
    conf: &RpcClientConf,
) -> Result<Option<(http::HeaderValue, http::HeaderValue)>, RpcError> {
    if conf.app.is_empty() || conf.token.is_empty() {
        return Ok(None);
    }
    let value = |v: &str, key| {
        http::HeaderValue::from_str(v)
            .ok()
            .filter(|h| h.to_str().is_ok())
            .ok_or(RpcError::InvalidCredential { key })
    };
    let mut token = value(&conf.token, "Token")?;
    token.set_sensitive(true);
    Ok(Some((value(&conf.app, "App")?, token)))
}

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Calls slower than this are logged as `slowcall` (go-zero's client default).
const SLOW_CALL: Duration = Duration::from_millis(500);

fn endpoint_opts(conf: &RpcClientConf) -> EndpointOpts {
    EndpointOpts {
        connect_timeout: match conf.timeout {
            0 => DEFAULT_CONNECT_TIMEOUT,
            ms => Duration::from_millis(ms),
        },
        keepalive: (conf.keepalive_time > 0).then(|| Duration::from_millis(conf.keepalive_time)),
    }
}

fn shown(conf: &RpcClientConf) -> String {
    if conf.endpoints.is_empty() {
        conf.target().unwrap_or_default()
    } else {
        conf.endpoints.join(",")
    }
}

/// Waits (up to `wait`) for the resolver to name endpoints, then for one to accept an HTTP/2
/// connection.
async fn check_reachable(
    sender: &EndpointSender,
    opts: EndpointOpts,
    shown: &str,
) -> Result<(), RpcError> {
    let deadline = Instant::now() + opts.connect_timeout;
    let mut last = "no endpoints resolved".to_owned();
    loop {
        for addr in sender.known() {
            if let Ok(ep) = balance::endpoint(&addr, opts) {
                match tokio::time::timeout_at(deadline.into(), ep.connect()).await {
                    Ok(Ok(_)) => return Ok(()),
                    Ok(Err(e)) => last = format!("{addr}: {e}"),
                    Err(_) => last = format!("{addr}: timed out"),
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(RpcError::Unavailable {
                target: shown.to_owned(),
                message: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status of a call that failed below gRPC: tonic's channel enforces `grpc-timeout` too
/// and reports it as `TimeoutExpired` (CANCELLED), which is our deadline; other transport
/// errors (refused, reset) mean the endpoint is unavailable.
fn transport_status(e: tower::BoxError, deadline: Option<Duration>) -> tonic::Status {
    if let Some(d) = deadline {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&*e);
        while let Some(err) = src {
            if err.is::<tonic::TimeoutExpired>() {
                return deadline_status(d);
            }
            src = err.source();
        }
    }
    let status = tonic::Status::from_error(e);
    match status.code() {
        tonic::Code::Unknown => tonic::Status::unavailable(status.message().to_owned()),
        _ => status,
    }
}

type CallFuture = std::pin::Pin<
    Box<dyn Future<Output = Result<http::Response<Body>, tower::BoxError>> + Send + 'static>,
>;

impl Service<http::Request<Body>> for RpcClient {
    type Response = http::Response<Body>;
    type Error = tower::BoxError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.pool.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let start = Instant::now();
        let method: Arc<str> = Arc::from(req.uri().path());
        if let Some((app, token)) = &self.credential {
            // Metadata the caller set on the request wins.
            let h = req.headers_mut();
            if !h.contains_key(super::auth::APP_KEY) {
                h.insert(super::auth::APP_KEY, app.clone());
            }
            if !h.contains_key(super::auth::TOKEN_KEY) {
                h.insert(super::auth::TOKEN_KEY, token.clone());
            }
        }
        let span = if self.trace {
            let span = super::trace::client_span(&method);
            super::trace::inject(req.headers_mut(), span.as_ref());
            span
        } else {
            None
        };
        // `Timeout` bounds unary calls only; a stream keeps just the deadline its request set.
        let limit = match req.extensions().get::<crate::call::Streams>() {
            Some(_) => None,
            None => self.timeout,
        };
        let deadline = effective(limit, req.headers());
        let timeout_header = deadline.and_then(|d| format_grpc_timeout(d).parse().ok());
        if let Some(v) = timeout_header {
            req.headers_mut().insert("grpc-timeout", v);
        }
        let breaker = self.breakers.as_ref().map(|b| b.get(&method));
        if breaker.as_ref().is_some_and(|b| !b.allow()) {
            let resp = status_response(open_status());
            if self.metrics {
                super::metrics::get().client(&method, tonic::Code::Unavailable, 0.0);
            }
            return Box::pin(std::future::ready(Ok(resp)));
        }
        let fut = self.pool.call(req);
        let (metrics, slow_log) = (self.metrics, self.slow_log);
        let call = async move {
            // One deadline for the whole call: first the response, then a streaming body.
            let mut timer = deadline.map(|d| Deadline::new(start, d));
            let mut fut = std::pin::pin!(fut);
            let answered = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                if timer.as_mut().is_some_and(|t| t.poll_expired(cx)) {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            })
            .await;
            // Transport failures become a status here, so breaker and metrics see them.
            let resp = match answered {
                Some(Ok(resp)) => resp,
                Some(Err(e)) => status_response(transport_status(e, deadline)),
                None => status_response(deadline_status(deadline.unwrap_or_default())),
            };
            let on_end = move |code| {
                if let Some(b) = breaker {
                    b.record(acceptable(code));
                }
                let elapsed = start.elapsed();
                if metrics {
                    super::metrics::get().client(&method, code, elapsed.as_secs_f64() * 1000.0);
                }
                if slow_log && elapsed > SLOW_CALL {
                    tracing::warn!(
                        duration = %format_args!("{:.1}ms", elapsed.as_secs_f64() * 1000.0),
                        "[RPC] {code:?} - slowcall - {method}"
                    );
                }
            };
            Ok(observe(resp, timer, Some(on_end)))
        };
        match span {
            Some(span) => Box::pin(tracing::Instrument::instrument(call, span)),
            None => Box::pin(call),
        }
    }
}
