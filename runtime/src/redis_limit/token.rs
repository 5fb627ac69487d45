//! go-zero's `TokenLimiter`: a token bucket per key in Redis (`rate` tokens a second, up to
//! `burst`). While Redis cannot be reached, a local bucket with the same rate and burst
//! decides, and a background probe pings Redis every 100 ms; once Redis answers, decisions go
//! back to it (the local buckets' state is not carried over: each side starts from its own).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{Verdict, counter, redis_of};
use crate::redis_conn::Redis;
use crate::rpc::RedisKeyConf;

/// Refills the bucket for the time since its last request (Redis's clock), takes one token if
/// there is one, and answers 0 or the milliseconds until a token is there.
const SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) * 2 + 1000)
return wait
";

/// How often the probe pings Redis while the local bucket decides (go-zero's interval).
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// A token bucket kept in Redis, with a local fallback; share one per limit.
pub struct TokenLimiter {
    redis: Arc<Redis>,
    script: redis::Script,
    prefix: String,
    rate: f64,
    burst: u32,
    local: DefaultKeyedRateLimiter<String>,
    /// False while the local bucket decides.
    redis_up: Arc<AtomicBool>,
    probing: Arc<AtomicBool>,
}

impl std::fmt::Debug for TokenLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenLimiter")
            .field("prefix", &self.prefix)
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("redis_up", &self.redis_up.load(Ordering::Relaxed))
            .finish()
    }
}

impl TokenLimiter {
    /// `burst` tokens, refilled at `burst` per `period` (the REST `Limit`'s `Quota` per
    /// `Period`), per key, under `conf.key` (`limit` when empty) on the Redis of `conf`.
    /// Connects on first use.
    ///
    /// # Errors
    /// The Redis section is unusable (the message names the key), or `period` or `burst` is 0.
    pub fn new(conf: &RedisKeyConf, period: Duration, burst: u64) -> Result<Self, String> {
        let burst_nz = NonZeroU32::new(u32::try_from(burst).unwrap_or(u32::MAX))
            .ok_or("Limit: Quota must be > 0")?;
        let quota = Quota::with_period(period / burst_nz.get())
            .ok_or("Limit: Period must be > 0")?
            .allow_burst(burst_nz);
        Ok(TokenLimiter {
            redis: Arc::new(redis_of(conf)?),
            script: redis::Script::new(SCRIPT),
            prefix: conf.key.clone(),
            rate: f64::from(burst_nz.get()) / period.as_secs_f64(),
            burst: burst_nz.get(),
            local: RateLimiter::keyed(quota),
            redis_up: Arc::new(AtomicBool::new(true)),
            probing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether Redis decides now (false while the local fallback does).
    pub fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Relaxed)
    }

    /// Takes a token for `key`. Never fails: without Redis the local bucket answers.
    pub async fn take(&self, key: &str) -> Verdict {
        if self.redis_up() {
            let mut invocation = self.script.key(counter(&self.prefix, key));
            invocation.arg(self.rate).arg(self.burst);
            match self.redis.invoke::<u64>(&invocation).await {
                Ok(0) => return Verdict::Allowed,
                Ok(wait_ms) => {
                    return Verdict::Refused {
                        retry_after: Duration::from_millis(wait_ms),
                    };
                }
                Err(e) => self.fall_back(&e),
            }
        }
        self.take_locally(key)
    }

    fn take_locally(&self, key: &str) -> Verdict {
        match self.local.check_key(&key.to_owned()) {
            Ok(()) => Verdict::Allowed,
            Err(not_until) => Verdict::Refused {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }

    /// Redis failed: the local bucket decides until the probe hears from Redis again.
    fn fall_back(&self, e: &redis::RedisError) {
        if self.redis_up.swap(false, Ordering::Relaxed) {
            tracing::error!(error = %e, "redis limiter: Redis unreachable, limiting locally");
        }
        if self.probing.swap(true, Ordering::Relaxed) {
            return;
        }
        let (redis, up, probing) = (
            self.redis.clone(),
            self.redis_up.clone(),
            self.probing.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if redis.query::<String>(&redis::cmd("PING")).await.is_ok() {
                    up.store(true, Ordering::Relaxed);
                    probing.store(false, Ordering::Relaxed);
                    tracing::info!("redis limiter: Redis answers again, limiting there");
                    return;
                }
            }
        });
    }
}
