//! The runtime every rustctl-generated service stands on.
//!
//! See `docs/runtime.md` for config keys, the middleware order and the surface generated code
//! calls.

pub mod bind;
pub mod breaker;
pub mod call;
pub mod config;
mod conn;
pub mod ctx;
mod current;
pub mod deadline;
mod devserver;
pub mod error;
mod header;
pub mod ids;
mod lifecycle;
pub mod load;
pub mod log;
pub mod metrics;
pub mod middleware;
mod nonce;
pub mod peer;
mod redis_conn;
pub mod redis_limit;
pub mod reply;
mod rolling;
pub mod rpc;
pub mod rules;
pub mod server;
pub mod setup;
#[cfg(feature = "sql")]
pub mod sql;
pub mod sse;
pub mod task;
mod telemetry;
mod telemetry_file;

pub use bind::{Bind, BindError, Binder, Bound, Call, FieldSpec};
pub use call::CallOptions;
pub use config::{RestConf, ServiceConfig};
pub use ctx::Ctx;
pub use error::Error;
pub use middleware::Claims;
pub use peer::ClientAddr;
pub use reply::Reply;
pub use server::{RouteGroup, Running, Server};
pub use task::spawn;
