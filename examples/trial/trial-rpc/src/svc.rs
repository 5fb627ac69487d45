//! The service context: what logic needs, built once at startup (database pools, RPC clients,
//! ...). rustctl wrote this file once; it is yours.

use crate::config::Config;

/// Shared by every request.
pub struct ServiceContext {
    /// The loaded configuration.
    pub config: Config,
}

impl ServiceContext {
    /// Builds the context from the configuration.
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}
