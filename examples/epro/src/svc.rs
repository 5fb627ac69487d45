//! The service context: the configuration and the three stores the article writes to. The
//! stores are in memory here; a real service would hold database pools.

use std::sync::Mutex;
use std::sync::atomic::AtomicI64;

use crate::config::Config;
use crate::types::{ExportRow, SubmitRequest};

/// Shared by every request.
pub struct ServiceContext {
    /// The loaded configuration.
    pub config: Config,
    /// The primary database (task 1): submissions as received, by id.
    pub primary: Mutex<Vec<(i64, SubmitRequest)>>,
    /// Alerts sent to investigators (task 2).
    pub alerts: Mutex<Vec<String>>,
    /// The de-identified analysis store (task 3).
    pub analysis: Mutex<Vec<ExportRow>>,
    /// The last submission id handed out.
    pub last_id: AtomicI64,
}

impl ServiceContext {
    /// Builds the context from the configuration.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            primary: Mutex::default(),
            alerts: Mutex::default(),
            analysis: Mutex::default(),
            last_id: AtomicI64::new(0),
        }
    }
}
