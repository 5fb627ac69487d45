//! The service's configuration: the runtime's keys (`Name`, `ListenOn`, `Log`, ...) and the
//! service's own, read from one file. rustctl wrote this file once; it is yours.

use rustctl_runtime::config::Validate;
use serde::Deserialize;

/// Everything in `etc/trial.yaml`.
pub type Config = rustctl_runtime::rpc::RpcServiceConfig<AppConfig>;

/// The service's own keys: add fields here and they are read from the same file
/// (keys match case-insensitively, as in go-zero).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AppConfig {
    /// Where trials are kept: `sqlite://FILE?mode=rwc` (the default, an embedded file created
    /// and seeded on first start) or `postgres://USER@HOST:PORT/DB`.
    pub data_source: String,
    /// The Redis nodes rows are cached in (go-zero's `CacheRedis`); none: no cache.
    pub cache_redis: rustctl_runtime::sql::CacheConf,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            data_source: "sqlite://data/trial.db?mode=rwc".into(),
            cache_redis: Vec::new(),
        }
    }
}

impl Validate for AppConfig {}
