//! go-zero's `PeriodLimit`: at most `quota` requests per key in each fixed window of `period`,
//! counted in Redis. The window starts with a key's first request (go-zero's default, not
//! aligned to the clock).

use std::time::Duration;

use super::{LimitError, Verdict, counter, redis_of};
use crate::redis_conn::Redis;
use crate::rpc::RedisKeyConf;

/// Counts the request and, on the window's first, starts the window; answers the count and
/// the window's remaining milliseconds.
const SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// A fixed-window limit kept in Redis; share one per limit (it holds a connection).
pub struct PeriodLimit {
    redis: Redis,
    script: redis::Script,
    prefix: String,
    period: Duration,
    quota: u64,
}

impl std::fmt::Debug for PeriodLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodLimit")
            .field("prefix", &self.prefix)
            .field("period", &self.period)
            .field("quota", &self.quota)
            .finish()
    }
}

impl PeriodLimit {
    /// `quota` requests per `period` for each key, counted under `conf.key` (`limit` when
    /// empty) on the Redis of `conf`. Connects on first use.
    ///
    /// # Errors
    /// The Redis section is unusable (the message names the key), or `period` or `quota` is 0.
    pub fn new(conf: &RedisKeyConf, period: Duration, quota: u64) -> Result<Self, String> {
        if period.as_millis() == 0 || quota == 0 {
            return Err("Limit: Period and Quota must be > 0".into());
        }
        Ok(PeriodLimit {
            redis: redis_of(conf)?,
            script: redis::Script::new(SCRIPT),
            prefix: conf.key.clone(),
            period,
            quota,
        })
    }

    /// Takes a permit for `key` (a client, a route...).
    ///
    /// # Errors
    /// Redis cannot be reached or fails; the caller decides (the REST middleware lets the
    /// request through, as go-zero's callers usually do).
    pub async fn take(&self, key: &str) -> Result<Verdict, LimitError> {
        let mut invocation = self.script.key(counter(&self.prefix, key));
        invocation.arg(self.period.as_millis() as u64);
        let (count, ttl_ms): (u64, i64) = self.redis.invoke(&invocation).await?;
        Ok(if count <= self.quota {
            Verdict::Allowed
        } else {
            Verdict::Refused {
                retry_after: Duration::from_millis(ttl_ms.max(0) as u64),
            }
        })
    }
}
