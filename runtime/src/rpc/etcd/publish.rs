//! Registration (go-zero's `discov.Publisher`): the server's advertised address under
//! `Key/<lease id>` (or `Key/<ID>`), attached to a lease it keeps alive. When the lease is lost
//! (etcd restarted empty, a partition longer than the TTL) or the keep-alive stream breaks, it
//! connects again, keeps the old lease if etcd still has it, else takes a new one, and puts the
//! key again. [`Publisher::stop`] revokes the lease, which deletes the key at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{CALL_TIMEOUT, Etcd, EtcdError, LEASE_TTL, Registry, host_port, key_prefix};
use crate::rpc::EtcdConf;

/// Wait between attempts while etcd cannot be reached.
const RETRY: Duration = Duration::from_secs(1);

/// A registration kept alive in the background; [`Publisher::stop`] removes it.
pub struct Publisher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Registers `addr` (`host:port`) under `conf.key` in the etcd of `conf`, in the
    /// background (etcd being down is retried, not an error). Must be called inside the tokio
    /// runtime.
    ///
    /// # Errors
    /// The `Etcd` section is unusable or a TLS file unreadable; the message names the key.
    pub fn start(conf: &EtcdConf, addr: &str) -> Result<Publisher, String> {
        Ok(Publisher::start_in(Registry::new(conf)?, addr))
    }

    /// [`Publisher::start`] with the section already checked.
    pub(crate) fn start_in(registry: Registry, addr: &str) -> Publisher {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(registry, addr.to_owned(), stopped));
        Publisher { stop, task }
    }

    /// Deregisters: revokes the lease (deleting the key) and stops keeping it alive. Bounded
    /// by the etcd call timeout (3 s) when etcd does not answer.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(registry: Registry, addr: String, mut stop: watch::Receiver<bool>) {
    let conf = registry.conf();
    let lease: Arc<Mutex<Option<i64>>> = Arc::default();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            res = keep_registered(&registry, &addr, &lease) => {
                if let Err(e) = res {
                    tracing::warn!(key = %conf.key, error = %e, "etcd registration lost, registering again");
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    let id = lock(&lease).take();
    if let Some(id) = id {
        let revoke = async {
            let etcd = Etcd::connect(&registry).await?;
            etcd.revoke(id).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, revoke).await {
            Ok(Ok(())) => tracing::info!(key = %conf.key, %addr, "deregistered from etcd"),
            Ok(Err(e)) => tracing::warn!(key = %conf.key, error = %e, "etcd deregistration failed"),
            Err(_) => tracing::warn!(key = %conf.key, "etcd deregistration timed out"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers once and keeps the lease alive; returns only when that stops working.
async fn keep_registered(
    registry: &Registry,
    addr: &str,
    lease: &Mutex<Option<i64>>,
) -> Result<(), EtcdError> {
    let conf = registry.conf();
    let etcd = Etcd::connect(registry).await?;
    let known = *lock(lease);
    let id = match known {
        Some(id) => id,
        None => {
            let id = etcd.grant(LEASE_TTL).await?;
            *lock(lease) = Some(id);
            id
        }
    };
    let mut alive = etcd.keep_alive(id, LEASE_TTL / 3).await?;
    let lost = || {
        *lock(lease) = None;
        EtcdError::Lost(format!("lease {id:x} expired"))
    };
    // The first answer says whether a lease kept from before still exists.
    match alive.message().await? {
        Some(r) if r.ttl > 0 => {}
        Some(_) => return Err(lost()),
        None => return Err(EtcdError::Lost("keep-alive stream ended".into())),
    }
    let key = registered_key(conf, id);
    // Put again even with a kept lease: the key may have been deleted meanwhile.
    etcd.put(&key, addr, id).await?;
    tracing::info!(%key, %addr, "registered in etcd");
    loop {
        match alive.message().await? {
            Some(r) if r.ttl > 0 => {}
            Some(_) => return Err(lost()),
            None => return Err(EtcdError::Lost("keep-alive stream ended".into())),
        }
    }
}

/// `Key/<ID>` when `ID` is set, else `Key/<lease id>` (go-zero's `makeEtcdKey`).
fn registered_key(conf: &EtcdConf, lease: i64) -> String {
    let id = if conf.id > 0 { conf.id } else { lease };
    format!("{}{id}", key_prefix(&conf.key))
}

/// The address other hosts reach this server at, for a server bound to `bound` with
/// `listen_host` from `ListenOn`: that host when it is a specific one; for `0.0.0.0`/`::`,
/// `POD_IP` when set (go-zero's rule, for Kubernetes), else the local address this host uses
/// to reach the first etcd host (the interface the registry, and so its clients, see).
pub(crate) async fn advertised(
    listen_host: &str,
    bound: SocketAddr,
    etcd_hosts: &[String],
) -> String {
    let port = bound.port();
    let unspecified = listen_host
        .parse::<IpAddr>()
        .map(|ip| ip.is_unspecified())
        .unwrap_or(listen_host.is_empty());
    if !unspecified {
        return join(listen_host, port);
    }
    if let Ok(ip) = std::env::var("POD_IP")
        && !ip.trim().is_empty()
    {
        return join(ip.trim(), port);
    }
    if let Some(ip) = route_to(etcd_hosts).await {
        return join(&ip.to_string(), port);
    }
    tracing::warn!("no address found to advertise; registering 127.0.0.1 (set POD_IP or ListenOn)");
    join("127.0.0.1", port)
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The source address the kernel picks for packets to the first resolvable etcd host (a UDP
/// socket's `connect` sends nothing).
async fn route_to(hosts: &[String]) -> Option<IpAddr> {
    for h in hosts {
        let h = host_port(h);
        let Ok(mut addrs) = tokio::net::lookup_host(h).await else {
            continue;
        };
        let Some(to) = addrs.next() else { continue };
        let bind: SocketAddr = if to.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(bind).await.ok()?;
        if sock.connect(to).await.is_ok()
            && let Ok(local) = sock.local_addr()
        {
            return Some(local.ip());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advertises_a_reachable_address() {
        let bound: SocketAddr = "0.0.0.0:7001".parse().unwrap();
        assert_eq!(advertised("10.1.2.3", bound, &[]).await, "10.1.2.3:7001");
        assert_eq!(advertised("::1", bound, &[]).await, "[::1]:7001");
        // Unspecified: the address that reaches etcd (here, loopback).
        let hosts = vec!["127.0.0.1:2379".to_owned()];
        assert_eq!(advertised("0.0.0.0", bound, &hosts).await, "127.0.0.1:7001");
    }

    #[test]
    fn keys_use_the_id_or_the_lease() {
        let mut conf = EtcdConf {
            key: "trial.rpc".into(),
            ..EtcdConf::default()
        };
        assert_eq!(registered_key(&conf, 0x1f), "trial.rpc/31");
        conf.id = 7;
        assert_eq!(registered_key(&conf, 0x1f), "trial.rpc/7");
    }
}
