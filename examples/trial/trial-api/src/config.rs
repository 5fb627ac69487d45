//! The gateway's configuration: the runtime's keys and where `trial-rpc` is.

use rustctl_runtime::config::Validate;
use rustctl_runtime::rpc::RpcClientConf;
use serde::Deserialize;

/// Everything in `etc/trial-api.yaml`.
pub type Config = rustctl_runtime::ServiceConfig<AppConfig>;

/// The gateway's own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    /// How to reach `trial-rpc`: fixed `TrialRpc.Endpoints` (the default), or the replicas
    /// registered in etcd under `TrialRpc.Etcd` (`Hosts`, `Key`) when `Endpoints` is empty.
    pub trial_rpc: RpcClientConf,
}

impl Validate for AppConfig {
    fn validate(&self) -> Vec<(String, String)> {
        if self.trial_rpc.endpoints.is_empty() && self.trial_rpc.target().is_none() {
            return vec![(
                "TrialRpc.Endpoints".into(),
                "name at least one trial-rpc endpoint, or TrialRpc.Etcd".into(),
            )];
        }
        // `Etcd` without `Key`, and the like.
        self.trial_rpc
            .validate()
            .into_iter()
            .map(|(key, msg)| (format!("TrialRpc.{key}"), msg))
            .collect()
    }
}
