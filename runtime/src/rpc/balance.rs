//! Where calls go: a [`Resolver`] turns a client's `Target` into endpoint changes, and a
//! power-of-two-choices balancer spreads calls over the live endpoints.
//!
//! The balancer is tower's `p2c::Balance` over one lazily connected tonic channel per
//! endpoint, each measured with peak-EWMA latency times in-flight calls (`PeakEwma`): the same
//! load go-zero's p2c picker computes (EWMA latency × (inflight + 1)). Endpoints come and go
//! through [`EndpointSender`] at any time, so discovery (etcd, a later issue) is one more
//! [`Resolver`] registered under its scheme, with no change to generated code.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::balance::p2c::Balance;
use tower::buffer::Buffer;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover};
use tower::util::BoxService;

use super::client::RpcError;

/// The balanced pool the client calls through.
pub(crate) type Pool = Buffer<
    http::Request<Body>,
    std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<Body>, tower::BoxError>> + Send + 'static>,
    >,
>;

/// Produces the endpoints of a target and their changes.
///
/// `resolve` is called once per client, inside the tokio runtime; it sends the current
/// endpoints and keeps sending changes (from a task it spawns) for as long as it likes. A
/// resolver for `etcd://...` would watch the service's key prefix and `insert`/`remove`.
pub trait Resolver: Send + Sync + 'static {
    /// Starts resolving `target` (the full `Target` string, scheme included).
    fn resolve(&self, target: &str, endpoints: EndpointSender) -> Result<(), RpcError>;
}

/// Where a [`Resolver`] sends endpoint changes. Addresses are `host:port` or URLs.
#[derive(Clone)]
pub struct EndpointSender {
    tx: mpsc::UnboundedSender<Change<String, String>>,
    known: Arc<Mutex<HashSet<String>>>,
}

impl EndpointSender {
    /// An endpoint appeared (inserting a known one again is a no-op).
    pub fn insert(&self, addr: &str) {
        let addr = normalize(addr);
        if self.lock().insert(addr.clone()) {
            let _ = self.tx.send(Change::Insert(addr.clone(), addr));
        }
    }
    /// An endpoint went away.
    pub fn remove(&self, addr: &str) {
        let addr = normalize(addr);
        if self.lock().remove(&addr) {
            let _ = self.tx.send(Change::Remove(addr));
        }
    }
    /// Replaces the whole set (inserting new, removing gone endpoints).
    pub fn set<S: AsRef<str>>(&self, addrs: &[S]) {
        let want: HashSet<String> = addrs.iter().map(|a| normalize(a.as_ref())).collect();
        let gone: Vec<String> = self.lock().difference(&want).cloned().collect();
        for a in gone {
            self.remove(&a);
        }
        for a in want {
            self.insert(&a);
        }
    }
    /// Whether the client is gone (a resolver's task can stop then).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
    /// The endpoints sent so far and not removed.
    pub fn known(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().iter().cloned().collect();
        v.sort();
        v
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `host:port` → `http://host:port`.
pub(crate) fn normalize(addr: &str) -> String {
    let addr = addr.trim();
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

type Registry = RwLock<HashMap<String, Arc<dyn Resolver>>>;

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut m: HashMap<String, Arc<dyn Resolver>> = HashMap::new();
        m.insert("dns".into(), Arc::new(DnsResolver::default()));
        RwLock::new(m)
    })
}

/// Serves targets `scheme://...` with `resolver` (e.g. `etcd`); replaces an earlier one.
pub fn register_resolver(scheme: &str, resolver: Arc<dyn Resolver>) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(scheme.to_ascii_lowercase(), resolver);
}

/// The resolver for `target`: its scheme's, or DNS for a bare `host:port`.
pub(crate) fn resolver_for(target: &str) -> Result<Arc<dyn Resolver>, RpcError> {
    let scheme = match target.split_once("://") {
        Some((s, _)) => s.to_ascii_lowercase(),
        None => "dns".to_owned(),
    };
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&scheme)
        .cloned()
        .ok_or_else(|| RpcError::UnknownScheme {
            target: target.to_owned(),
            scheme,
        })
}

/// `dns:///host:port` or `host:port`: the host's addresses, looked up again every
/// `refresh` (default 30 s) while the client lives.
pub struct DnsResolver {
    /// How often names are looked up again.
    pub refresh: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            refresh: Duration::from_secs(30),
        }
    }
}

impl Resolver for DnsResolver {
    fn resolve(&self, target: &str, endpoints: EndpointSender) -> Result<(), RpcError> {
        let authority = target
            .strip_prefix("dns://")
            .map(|rest| rest.rsplit('/').next().unwrap_or(rest))
            .unwrap_or(target)
            .to_owned();
        if super::conf::split_host_port(&authority).is_none() {
            return Err(RpcError::InvalidEndpoint {
                endpoint: target.to_owned(),
                message: "expected host:port".into(),
            });
        }
        let refresh = self.refresh;
        tokio::spawn(async move {
            loop {
                match tokio::net::lookup_host(authority.as_str()).await {
                    Ok(addrs) => {
                        let list: Vec<String> = addrs.map(|a| a.to_string()).collect();
                        endpoints.set(&list);
                    }
                    Err(e) => tracing::warn!(target = %authority, error = %e, "dns lookup failed"),
                }
                tokio::time::sleep(refresh).await;
                if endpoints.is_closed() {
                    return;
                }
            }
        });
        Ok(())
    }
}

/// Builds the pool and the sender its resolver feeds.
/// How each endpoint's channel connects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EndpointOpts {
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalive: Option<Duration>,
}

pub(crate) fn pool(opts: EndpointOpts) -> (Pool, EndpointSender) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change<String, String>>();
    let sender = EndpointSender {
        tx,
        known: Arc::default(),
    };
    let healthy = Arc::new(AtomicUsize::new(0));
    // Endpoints become lazily connected channels as the balancer polls for changes (inside
    // the runtime). A finished stream would make the balancer fail, so it never ends.
    let changes = futures_util::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        Poll::Ready(Some(Change::Insert(key, addr))) => match channel(&addr, opts) {
            Ok(ch) => {
                let svc = Ejecting::new(ch, healthy.clone());
                Poll::Ready(Some(Ok::<_, Infallible>(Change::Insert(key, svc))))
            }
            Err(e) => {
                tracing::error!(endpoint = %addr, error = %e, "invalid rpc endpoint ignored");
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        },
        Poll::Ready(Some(Change::Remove(key))) => Poll::Ready(Some(Ok(Change::Remove(key)))),
        Poll::Ready(None) | Poll::Pending => Poll::Pending,
    });
    let measured = PeakEwmaDiscover::new(
        changes,
        Duration::from_millis(30),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    );
    let balance = Balance::new(measured);
    let pool = Buffer::new(BoxService::new(balance), 1024);
    (pool, sender)
}

/// How long an endpoint whose connection failed sits out (gRPC's first reconnect backoff).
const EJECT_FOR: Duration = Duration::from_secs(1);

/// One endpoint in the balancer. When its transport fails (refused, reset), it reports
/// not-ready for [`EJECT_FOR`], so p2c picks among the others instead of sending every other
/// call to a dead replica; the last healthy endpoint is never ejected (its callers get
/// UNAVAILABLE at once rather than waiting for their deadline).
struct Ejecting {
    inner: Channel,
    ejected_until: Arc<Mutex<Option<tokio::time::Instant>>>,
    healthy: Arc<AtomicUsize>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Ejecting {
    fn new(inner: Channel, healthy: Arc<AtomicUsize>) -> Self {
        healthy.fetch_add(1, Ordering::SeqCst);
        Ejecting {
            inner,
            ejected_until: Arc::default(),
            healthy,
            sleep: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type EndpointFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, tower::BoxError>> + Send>>;

impl tower::Service<http::Request<Body>> for Ejecting {
    type Response = http::Response<Body>;
    type Error = tower::BoxError;
    type Future = EndpointFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let until = *lock(&self.ejected_until);
        if let Some(until) = until {
            if tokio::time::Instant::now() < until {
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            self.sleep = None;
            *lock(&self.ejected_until) = None;
            self.healthy.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let fut = self.inner.call(req);
        let (until, healthy) = (self.ejected_until.clone(), self.healthy.clone());
        Box::pin(async move {
            let res = fut.await;
            if res.is_err() {
                let mut until = lock(&until);
                let others_left = until.is_none()
                    && healthy
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                            (h > 1).then(|| h - 1)
                        })
                        .is_ok();
                if others_left {
                    *until = Some(tokio::time::Instant::now() + EJECT_FOR);
                }
            }
            res.map_err(Into::into)
        })
    }
}

impl Drop for Ejecting {
    fn drop(&mut self) {
        if lock(&self.ejected_until).is_none() {
            self.healthy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn channel(addr: &str, opts: EndpointOpts) -> Result<Channel, tonic::transport::Error> {
    Ok(endpoint(addr, opts)?.connect_lazy())
}

pub(crate) fn endpoint(
    addr: &str,
    opts: EndpointOpts,
) -> Result<Endpoint, tonic::transport::Error> {
    let ep = Endpoint::from_shared(addr.to_owned())?
        .connect_timeout(opts.connect_timeout)
        .tcp_nodelay(true);
    Ok(match opts.keepalive {
        Some(every) => ep.http2_keep_alive_interval(every),
        None => ep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_resolvers() {
        assert!(resolver_for("dns:///localhost:80").is_ok());
        assert!(resolver_for("localhost:80").is_ok());
        assert!(matches!(
            resolver_for("etcd://127.0.0.1:2379/trial.rpc"),
            Err(RpcError::UnknownScheme { .. })
        ));
        assert_eq!(normalize("127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(normalize("https://h:1"), "https://h:1");
    }
}
