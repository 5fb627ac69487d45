//! The service context: what logic needs, built once at startup (database pools, RPC clients,
//! ...). rustctl wrote this file once; it is yours.

use rustctl_runtime::sql::SqlError;

use crate::config::Config;
use crate::model::Trials;

/// Shared by every request.
pub struct ServiceContext {
    /// The loaded configuration.
    pub config: Config,
    /// The trial table (`DataSource`, cached in `CacheRedis`).
    pub trials: Trials,
}

impl ServiceContext {
    /// Builds the context from the configuration: connects to the database.
    pub async fn new(config: Config) -> Result<Self, SqlError> {
        let trials = Trials::open(&config.app).await?;
        Ok(Self { config, trials })
    }
}
