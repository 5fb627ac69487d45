//! Where calls go: a [`Resolver`] turns a client's `Target` into endpoint changes, sent through
//! an [`EndpointSender`] to the client's balancer (`balance.rs`), at any time while calls run.
//!
//! Schemes served out of the box: `dns:///host:port` (and a bare `host:port`), looked up again
//! periodically; `k8s://namespace/service:port`, the service's cluster DNS name looked up the
//! same way; `etcd://hosts/key` (see `etcd/`). Others are registered with
//! [`register_resolver`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tower::discover::Change;

use super::error::RpcError;

/// Produces the endpoints of a target and their changes.
///
/// `resolve` is called once per client, inside the tokio runtime; it sends the current
/// endpoints and keeps sending changes (from a task it spawns) for as long as it likes.
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
    /// A sender and the receiving end the balancer reads.
    pub(crate) fn channel() -> (Self, mpsc::UnboundedReceiver<Change<String, String>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sender = EndpointSender {
            tx,
            known: Arc::default(),
        };
        (sender, rx)
    }
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
    /// Completes when the client is gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
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
        m.insert("k8s".into(), Arc::new(K8sResolver::default()));
        m.insert("etcd".into(), Arc::new(super::etcd::EtcdResolver));
        RwLock::new(m)
    })
}

/// Serves targets `scheme://...` with `resolver`; replaces an earlier one (also a built-in).
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

/// `dns:///host:port` or `host:port`: every address of the host (a Kubernetes headless
/// service's name gives one per ready pod), looked up again every `refresh` (default 30 s)
/// while the client lives. A failed lookup keeps the endpoints known.
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
        // `dns://[authority]/host:port`: the authority (a DNS server) is not supported; the
        // system resolver is used.
        let name = target
            .strip_prefix("dns://")
            .map(|rest| rest.rsplit('/').next().unwrap_or(rest))
            .unwrap_or(target);
        follow_dns(target, name.to_owned(), self.refresh, endpoints)
    }
}

/// `k8s://namespace/service:port` (go-zero's form): the service's cluster DNS name
/// `service.namespace.svc.cluster.local:port`, followed like `dns:///` (a headless service
/// names every ready pod). go-zero watches the Endpoints API instead; that needs the cluster's
/// API server and a service account and is not built here.
pub struct K8sResolver {
    /// How often the name is looked up again.
    pub refresh: Duration,
}

impl Default for K8sResolver {
    fn default() -> Self {
        K8sResolver {
            refresh: Duration::from_secs(30),
        }
    }
}

impl Resolver for K8sResolver {
    fn resolve(&self, target: &str, endpoints: EndpointSender) -> Result<(), RpcError> {
        let name = k8s_name(target).ok_or_else(|| RpcError::InvalidEndpoint {
            endpoint: target.to_owned(),
            message: "expected k8s://namespace/service:port".into(),
        })?;
        follow_dns(target, name, self.refresh, endpoints)
    }
}

/// `k8s://ns/svc:port` → `svc.ns.svc.cluster.local:port`.
fn k8s_name(target: &str) -> Option<String> {
    let rest = target.split_once("://")?.1;
    let (namespace, service) = rest.split_once('/')?;
    let (service, port) = service.rsplit_once(':')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    (valid(namespace) && valid(service) && port.parse::<u16>().is_ok())
        .then(|| format!("{service}.{namespace}.svc.cluster.local:{port}"))
}

fn follow_dns(
    target: &str,
    name: String,
    refresh: Duration,
    endpoints: EndpointSender,
) -> Result<(), RpcError> {
    if super::conf::split_host_port(&name).is_none() {
        return Err(RpcError::InvalidEndpoint {
            endpoint: target.to_owned(),
            message: "expected host:port".into(),
        });
    }
    tokio::spawn(async move {
        loop {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => {
                    let list: Vec<String> = addrs.map(|a| a.to_string()).collect();
                    endpoints.set(&list);
                }
                Err(e) => tracing::warn!(target = %name, error = %e, "dns lookup failed"),
            }
            tokio::select! {
                () = endpoints.closed() => return,
                () = tokio::time::sleep(refresh) => {}
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_resolvers() {
        assert!(resolver_for("dns:///localhost:80").is_ok());
        assert!(resolver_for("localhost:80").is_ok());
        assert!(resolver_for("etcd://127.0.0.1:2379/trial.rpc").is_ok());
        assert!(resolver_for("k8s://trials/trial-rpc:8080").is_ok());
        assert!(matches!(
            resolver_for("consul://127.0.0.1:8500/trial.rpc"),
            Err(RpcError::UnknownScheme { .. })
        ));
        assert_eq!(normalize("127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(normalize("https://h:1"), "https://h:1");
    }

    #[test]
    fn k8s_targets_are_cluster_dns_names() {
        assert_eq!(
            k8s_name("k8s://trials/trial-rpc:8080").as_deref(),
            Some("trial-rpc.trials.svc.cluster.local:8080")
        );
        for bad in [
            "k8s://trial-rpc:8080",
            "k8s://ns/svc",
            "k8s://ns/Svc:1",
            "k8s://ns/a.b:1",
        ] {
            assert_eq!(k8s_name(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn dns_names_every_address_of_the_host() {
        let (sender, _rx) = EndpointSender::channel();
        DnsResolver::default()
            .resolve("dns:///127.0.0.1:50051", sender.clone())
            .unwrap();
        for _ in 0..100 {
            if !sender.known().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(sender.known(), ["http://127.0.0.1:50051"]);
        assert!(matches!(
            DnsResolver::default().resolve("dns:///nohost", sender),
            Err(RpcError::InvalidEndpoint { .. })
        ));
    }
}
