//! gRPC: the server generated services run on ([`RpcServer`]) and the client they call each
//! other with ([`RpcClient`]), configured like go-zero's `zrpc`.
//!
//! Server interceptors, outermost first (each can be switched off under `Middlewares`):
//! trace → access log → metrics → shedding (pro mode) → breaker (per method) → timeout →
//! recover → auth (`Auth: true`) → service. See `docs/runtime.md` (RPC).

mod accesslog;
mod auth;
mod balance;
mod breaker;
mod client;
mod conf;
mod error;
mod etcd;
mod intercept;
mod methods;
pub(crate) mod metrics;
mod recover;
mod resolve;
mod server;
mod services;
mod shedding;
mod stack;
mod status;
#[cfg(test)]
mod tests;
mod timeout;
mod trace;

pub use client::RpcClient;
pub use conf::{
    EtcdConf, MethodTimeoutConf, RedisKeyConf, RpcClientConf, RpcClientMiddlewaresConf,
    RpcMiddlewaresConf, RpcServerConf, RpcServiceConfig, load_service,
};
pub use error::RpcError;
pub use etcd::{EtcdResolver, Publisher};
pub use resolve::{DnsResolver, EndpointSender, K8sResolver, Resolver, register_resolver};
pub use server::{RpcServer, RunningRpc};
pub use trace::TraceContext;

pub(crate) use metrics::encode as encode_metrics;
