//! Discovery (go-zero's `discov.Subscriber`): the replicas registered under `Key/`, read once
//! and then watched, fed into the client's balancer as they come and go. When etcd cannot be
//! reached, or names no replica at all, the last known endpoints stay (calls go on); on
//! reconnecting, the prefix is read again and the watch resumes from there.

use std::collections::BTreeMap;
use std::time::Duration;

use super::pb::mvccpb::event::EventType;
use super::{Etcd, EtcdError, Registry, key_prefix};
use crate::rpc::resolve::{EndpointSender, Resolver};
use crate::rpc::{EtcdConf, RpcError};

/// Wait between attempts while etcd cannot be reached.
const RETRY: Duration = Duration::from_secs(1);

/// Serves targets `etcd://host1:2379,host2:2379/key` (registered under `etcd` by default).
/// A client's `Etcd` section is served the same way, with its `User`/`Pass`.
#[derive(Debug, Default)]
pub struct EtcdResolver;

impl Resolver for EtcdResolver {
    fn resolve(&self, target: &str, endpoints: EndpointSender) -> Result<(), RpcError> {
        let conf = parse_target(target)?;
        discover(conf, endpoints).map_err(|message| RpcError::InvalidEndpoint {
            endpoint: target.to_owned(),
            message,
        })
    }
}

/// `etcd://h1,h2/key` → the `Etcd` section it stands for.
fn parse_target(target: &str) -> Result<EtcdConf, RpcError> {
    let invalid = |message: &str| RpcError::InvalidEndpoint {
        endpoint: target.to_owned(),
        message: message.to_owned(),
    };
    let rest = target
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid("expected etcd://host:port[,host:port...]/key"))?;
    let (hosts, key) = rest
        .split_once('/')
        .ok_or_else(|| invalid("expected etcd://host:port[,host:port...]/key"))?;
    Ok(EtcdConf {
        hosts: hosts.split(',').map(str::to_owned).collect(),
        key: key.to_owned(),
        ..EtcdConf::default()
    })
}

/// Follows the replicas under `conf.key` in the background, sending them to `endpoints`
/// until the client is gone.
///
/// # Errors
/// The section is unusable; the message names the key.
pub(crate) fn discover(conf: EtcdConf, endpoints: EndpointSender) -> Result<(), String> {
    let registry = Registry::new(&conf)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = endpoints.closed() => return,
                res = follow(&registry, &endpoints) => {
                    if let Err(e) = res {
                        tracing::warn!(
                            key = %conf.key,
                            error = %e,
                            endpoints = ?endpoints.known(),
                            "etcd watch lost; calls go to the last known endpoints"
                        );
                    }
                }
            }
            tokio::select! {
                () = endpoints.closed() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    });
    Ok(())
}

/// Reads the prefix, then applies the watch's events, until either fails.
async fn follow(registry: &Registry, endpoints: &EndpointSender) -> Result<(), EtcdError> {
    let etcd = Etcd::connect(registry).await?;
    let prefix = key_prefix(&registry.conf().key);
    let (kvs, revision) = etcd.list(&prefix).await?;
    let mut live: BTreeMap<Vec<u8>, String> = kvs
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).trim().to_owned()))
        .collect();
    publish(&live, endpoints);
    let mut watch = etcd.watch(&prefix, revision + 1).await?;
    while let Some(resp) = watch.message().await? {
        if resp.canceled || resp.compact_revision > 0 {
            return Err(EtcdError::Lost(format!(
                "watch cancelled: {}",
                resp.cancel_reason
            )));
        }
        if resp.events.is_empty() {
            continue;
        }
        for ev in resp.events {
            let Some(kv) = ev.kv else { continue };
            if ev.r#type == EventType::Delete as i32 {
                live.remove(&kv.key);
            } else {
                live.insert(kv.key, String::from_utf8_lossy(&kv.value).trim().to_owned());
            }
        }
        publish(&live, endpoints);
    }
    Err(EtcdError::Lost("watch stream ended".into()))
}

/// The live set, as the balancer's endpoints (two keys with one address are one endpoint).
///
/// An empty set keeps the endpoints known: an etcd restarted without its data, or replicas
/// re-registering, would otherwise leave the client with nothing to call; calls to a replica
/// that really is gone fail the same way no endpoint would.
fn publish(live: &BTreeMap<Vec<u8>, String>, endpoints: &EndpointSender) {
    let addrs: Vec<&str> = live
        .values()
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .collect();
    if addrs.is_empty() && !endpoints.known().is_empty() {
        tracing::warn!(known = ?endpoints.known(), "etcd names no replica; keeping the known ones");
        return;
    }
    endpoints.set(&addrs);
    tracing::debug!(endpoints = ?endpoints.known(), "etcd endpoints");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_hosts_and_key() {
        let c = parse_target("etcd://10.0.0.1:2379,10.0.0.2:2379/trial.rpc").unwrap();
        assert_eq!(c.hosts, ["10.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(c.key, "trial.rpc");
        assert!(matches!(
            parse_target("etcd://10.0.0.1:2379"),
            Err(RpcError::InvalidEndpoint { .. })
        ));
    }
}
