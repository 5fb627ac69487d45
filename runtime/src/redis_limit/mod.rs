//! Rate limits shared by every replica of a service, kept in Redis (go-zero's `limit`
//! package): [`PeriodLimit`], a fixed window per key, and [`TokenLimiter`], a token bucket
//! that falls back to a local bucket at the same rate while Redis cannot be reached.
//!
//! Each decision is one Lua script run atomically by Redis, so replicas never race on a
//! counter; the clock is Redis's own (`TIME`), so replicas' clocks need not agree.

mod period;
mod token;

use std::time::Duration;

pub use period::PeriodLimit;
pub use token::TokenLimiter;

use crate::rpc::RedisKeyConf;

/// The answer to one request for a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Over the limit; a permit is available again after this long.
    Refused {
        /// When to try again (sent as `Retry-After`, rounded up to seconds).
        retry_after: Duration,
    },
}

impl Verdict {
    /// Whether the request may go ahead.
    pub fn allowed(self) -> bool {
        self == Verdict::Allowed
    }
}

/// Why Redis could not decide.
#[derive(Debug, thiserror::Error)]
#[error("redis limit: {0}")]
pub struct LimitError(#[from] redis::RedisError);

/// The Redis of a limiter's section, checked: `Key` is the prefix of every counter and
/// defaults to `limit`.
fn redis_of(conf: &RedisKeyConf) -> Result<crate::redis_conn::Redis, String> {
    let mut conf = conf.clone();
    if conf.key.trim().is_empty() {
        conf.key = "limit".into();
    }
    crate::redis_conn::Redis::new(&conf)
}

/// `prefix:key`, the counter of one client.
fn counter(prefix: &str, key: &str) -> String {
    let prefix = if prefix.trim().is_empty() {
        "limit"
    } else {
        prefix.trim()
    };
    format!("{prefix}:{key}")
}
