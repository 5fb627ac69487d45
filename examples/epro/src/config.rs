//! The service's configuration: the runtime's keys (`Name`, `Port`, `Log`, `Auth`, ...) and the
//! service's own, read from one file.

use rustctl_runtime::config::Validate;
use serde::Deserialize;

/// Everything in `etc/epro-api.yaml`.
pub type Config = rustctl_runtime::ServiceConfig<AppConfig>;

/// ePRO's own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    /// A pain score above this alerts the investigator (`PainThreshold`).
    pub pain_threshold: i64,
    /// Simulated latency of the three storage tasks, in milliseconds (`TaskLatencyMs`): the
    /// article's 100, 50 and 150.
    pub task_latency_ms: [u64; 3],
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            pain_threshold: 7,
            task_latency_ms: [100, 50, 150],
        }
    }
}

impl Validate for AppConfig {
    fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(0..=10).contains(&self.pain_threshold) {
            problems.push(("PainThreshold".into(), "must be between 0 and 10".into()));
        }
        problems
    }
}
