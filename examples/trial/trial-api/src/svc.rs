//! The service context: the configuration and the client of `trial-rpc`.

use std::sync::Arc;

use rustctl_runtime::rpc::RpcError;
use trial_rpc::client::trial::{TrialApi, TrialClient};

use crate::config::Config;

/// Shared by every request.
pub struct ServiceContext {
    /// The loaded configuration.
    pub config: Config,
    /// `trial.Trial`: over the runtime's gRPC client (balancing, breaker, timeout, tracing),
    /// or a fake in logic's unit tests.
    pub trial: Arc<dyn TrialApi>,
}

impl ServiceContext {
    /// Builds the context; connects lazily unless `TrialRpc.NonBlock` is false.
    pub async fn new(config: Config) -> Result<Self, RpcError> {
        let trial = Arc::new(TrialClient::connect(&config.app.trial_rpc).await?);
        Ok(Self { config, trial })
    }
}
