//! The service's configuration: the runtime's keys (`Name`, `ListenOn`, `Log`, ...) and the
//! service's own, read from one file. rustctl wrote this file once; it is yours.

use rustctl_runtime::config::Validate;
use serde::Deserialize;

/// Everything in `etc/trial.yaml`.
pub type Config = rustctl_runtime::rpc::RpcServiceConfig<AppConfig>;

/// The service's own keys: add fields here and they are read from the same file
/// (keys match case-insensitively, as in go-zero).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AppConfig {}

impl Validate for AppConfig {}
