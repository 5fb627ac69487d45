//! Why an RPC client could not be built.

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Neither `Endpoints` nor `Target` is set.
    #[error("rpc client: set `Endpoints` or `Target`")]
    NoTarget,
    /// An endpoint or target is not a usable address.
    #[error("rpc client: invalid endpoint `{endpoint}`: {message}")]
    InvalidEndpoint {
        /// The endpoint as written.
        endpoint: String,
        /// What is wrong with it.
        message: String,
    },
    /// No resolver is registered for the target's scheme.
    #[error("rpc client: no resolver for scheme `{scheme}` in target `{target}`")]
    UnknownScheme {
        /// The target as written.
        target: String,
        /// Its scheme.
        scheme: String,
    },
    /// `App` or `Token` cannot be sent as gRPC metadata (not visible ASCII).
    #[error("rpc client: `{key}` is not valid gRPC metadata (use visible ASCII)")]
    InvalidCredential {
        /// `App` or `Token`.
        key: &'static str,
    },
    /// `NonBlock: false` and no endpoint answered.
    #[error("rpc client: no endpoint of `{target}` is reachable: {message}")]
    Unavailable {
        /// The endpoints or target.
        target: String,
        /// The last connection error.
        message: String,
    },
}
