//! A rate limit per client, or shared by every replica through Redis: the `Limit` section (or
//! one of its `Routes`) with `KeyBy` or `Redis` set. Refused requests get 429 with
//! `Retry-After`, as with the local limit (`limit.rs`).
//!
//! It runs as a layer inside the stack, after JWT (a limit keyed by a claim needs the verified
//! claims) and within the route's timeout (which bounds a slow Redis). The plain local limit
//! stays a stage of the stack: it needs no claims and no I/O.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderName;
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use super::Claims;
use crate::config::LimitRule;
use crate::error::Error;
use crate::metrics::{Metrics, Rejection};
use crate::redis_limit::{PeriodLimit, TokenLimiter, Verdict};

/// Whose requests a limit counts together (`KeyBy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBy {
    /// Everyone's (`KeyBy` empty, the default).
    All,
    /// Each client address's (`ip`).
    Ip,
    /// Each value of a request header's (`header:X-Api-Key`).
    Header(HeaderName),
    /// Each value of a JWT claim's (`claim:sub`), for routes behind `jwt`.
    Claim(String),
}

impl KeyBy {
    /// `""`, `ip`, `header:<name>` or `claim:<name>`.
    ///
    /// # Errors
    /// Anything else; the message says what is accepted.
    pub fn parse(s: &str) -> Result<KeyBy, String> {
        let s = s.trim();
        let bad = || format!("`{s}` is not ip, header:<name> or claim:<name>");
        match s.split_once(':') {
            _ if s.is_empty() => Ok(KeyBy::All),
            _ if s.eq_ignore_ascii_case("ip") => Ok(KeyBy::Ip),
            Some((kind, name)) if kind.eq_ignore_ascii_case("header") => {
                HeaderName::try_from(name.trim())
                    .map(KeyBy::Header)
                    .map_err(|_| bad())
            }
            Some((kind, name)) if kind.eq_ignore_ascii_case("claim") && !name.trim().is_empty() => {
                Ok(KeyBy::Claim(name.trim().to_owned()))
            }
            _ => Err(bad()),
        }
    }

    /// The request's client key. A request without the header or claim is counted by its
    /// address. Header and claim values are hashed: fixed-size keys, none of the client's
    /// bytes in Redis key names.
    fn key(&self, req: &Request) -> String {
        let hashed = |v: &[u8]| {
            let digest = Sha256::digest(v);
            let mut s = String::with_capacity(34);
            s.push_str("h:");
            for b in &digest[..16] {
                s.push_str(&format!("{b:02x}"));
            }
            s
        };
        let by_ip = || match crate::peer::current() {
            Some(addr) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_owned(),
        };
        match self {
            KeyBy::All => "all".to_owned(),
            KeyBy::Ip => by_ip(),
            KeyBy::Header(name) => match req.headers().get(name) {
                Some(v) => hashed(v.as_bytes()),
                None => by_ip(),
            },
            KeyBy::Claim(claim) => {
                let value = req
                    .extensions()
                    .get::<Claims>()
                    .and_then(|c| c.0.get(claim))
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                match value {
                    Some(v) => hashed(v.as_bytes()),
                    None => by_ip(),
                }
            }
        }
    }
}

/// Where the counts live.
enum Backend {
    /// In this process, a bucket per client key.
    Local(DefaultKeyedRateLimiter<String>),
    /// Redis token bucket (falls back to a local one while Redis is down).
    Token(Box<TokenLimiter>),
    /// Redis fixed window (lets requests through while Redis is down).
    Period(Box<PeriodLimit>),
}

/// One limit: its counts, whose requests it counts together, and where refusals are counted.
pub struct SharedLimit {
    backend: Backend,
    /// The period limit's Redis failed on the last request (logged once per outage).
    failing: std::sync::atomic::AtomicBool,
    key_by: KeyBy,
    metrics: Arc<Metrics>,
    path: Arc<str>,
}

impl SharedLimit {
    /// The limit `rule` asks for, for the route (or `*`, the whole server) at `path`; `None`
    /// when `Quota` is 0. Redis counters are named `<Redis.Key>:<path>:<client key>`.
    ///
    /// # Errors
    /// `KeyBy`, `Kind` or the `Redis` section is unusable (the message names the key).
    pub fn new(
        rule: &LimitRule,
        path: Arc<str>,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Self>, String> {
        if rule.quota == 0 {
            return Ok(None);
        }
        let key_by = KeyBy::parse(&rule.key_by).map_err(|e| format!("Limit.KeyBy: {e}"))?;
        let period = Duration::from_secs(rule.period);
        let backend = if rule.redis.host.trim().is_empty() {
            let burst = NonZeroU32::new(u32::try_from(rule.quota).unwrap_or(u32::MAX))
                .ok_or("Limit.Quota must be > 0")?;
            let quota = Quota::with_period(period / burst.get())
                .ok_or("Limit.Period must be > 0")?
                .allow_burst(burst);
            Backend::Local(RateLimiter::keyed(quota))
        } else {
            let mut redis = rule.redis.clone();
            let prefix = if redis.key.trim().is_empty() {
                "limit"
            } else {
                redis.key.trim()
            };
            redis.key = format!("{prefix}:{path}");
            match rule.kind.trim().to_ascii_lowercase().as_str() {
                "" | "token" => Backend::Token(Box::new(
                    TokenLimiter::new(&redis, period, rule.quota)
                        .map_err(|e| format!("Limit: {e}"))?,
                )),
                "period" => Backend::Period(Box::new(
                    PeriodLimit::new(&redis, period, rule.quota)
                        .map_err(|e| format!("Limit: {e}"))?,
                )),
                other => return Err(format!("Limit.Kind: `{other}` is not token or period")),
            }
        };
        Ok(Some(SharedLimit {
            backend,
            failing: std::sync::atomic::AtomicBool::new(false),
            key_by,
            metrics,
            path,
        }))
    }

    async fn check(&self, key: String) -> Verdict {
        match &self.backend {
            Backend::Local(buckets) => match buckets.check_key(&key) {
                Ok(()) => Verdict::Allowed,
                Err(not_until) => Verdict::Refused {
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                },
            },
            Backend::Token(limiter) => limiter.take(&key).await,
            Backend::Period(limiter) => {
                use std::sync::atomic::Ordering::Relaxed;
                match limiter.take(&key).await {
                    Ok(verdict) => {
                        if self.failing.swap(false, Relaxed) {
                            tracing::info!("period limit: Redis answers again");
                        }
                        verdict
                    }
                    Err(e) => {
                        if !self.failing.swap(true, Relaxed) {
                            tracing::error!(
                                error = %e,
                                "period limit: Redis failed; requests let through until it answers"
                            );
                        }
                        Verdict::Allowed
                    }
                }
            }
        }
    }
}

/// Applies a [`SharedLimit`] to a route; clones share the counts.
#[derive(Clone)]
pub struct SharedLimitLayer(Arc<SharedLimit>);

impl SharedLimitLayer {
    /// The layer for `limit`.
    pub fn new(limit: SharedLimit) -> Self {
        SharedLimitLayer(Arc::new(limit))
    }
}

impl<S> Layer<S> for SharedLimitLayer {
    type Service = SharedLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SharedLimitService {
            limit: self.0.clone(),
            inner,
        }
    }
}

/// A route's service behind a [`SharedLimit`].
#[derive(Clone)]
pub struct SharedLimitService<S> {
    limit: Arc<SharedLimit>,
    inner: S,
}

impl<S> Service<Request> for SharedLimitService<S>
where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let key = self.limit.key_by.key(&req);
        let limit = self.limit.clone();
        // The clone driven to readiness goes with the request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match limit.check(key).await {
                Verdict::Allowed => inner.call(req).await,
                Verdict::Refused { retry_after } => {
                    limit.metrics.reject(&limit.path, Rejection::Limit);
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    Ok(Error::TooManyRequests {
                        retry_after: secs.max(1),
                    }
                    .into_response())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_by_parses_or_says_what_is_accepted() {
        assert_eq!(KeyBy::parse("").unwrap(), KeyBy::All);
        assert_eq!(KeyBy::parse("IP").unwrap(), KeyBy::Ip);
        assert_eq!(
            KeyBy::parse("header:X-Api-Key").unwrap(),
            KeyBy::Header(HeaderName::from_static("x-api-key"))
        );
        assert_eq!(
            KeyBy::parse("claim:sub").unwrap(),
            KeyBy::Claim("sub".into())
        );
        for bad in ["host", "header:", "header:bad name", "claim:"] {
            assert!(
                KeyBy::parse(bad).unwrap_err().contains("is not ip"),
                "{bad}"
            );
        }
    }

    #[test]
    fn client_keys_hash_what_the_client_sends() {
        let req = Request::builder()
            .header("x-api-key", "k1")
            .body(axum::body::Body::empty())
            .unwrap();
        let by_header = KeyBy::Header(HeaderName::from_static("x-api-key"));
        let k = by_header.key(&req);
        assert!(
            k.starts_with("h:") && k.len() == 34 && !k.contains("k1"),
            "{k}"
        );
        let mut claimed = Request::new(axum::body::Body::empty());
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"sub": "u-7"}"#).unwrap();
        claimed.extensions_mut().insert(Claims(claims));
        let by_claim = KeyBy::Claim("sub".into());
        assert_ne!(
            by_claim.key(&claimed),
            by_claim.key(&req),
            "no claim: by address"
        );
        assert_eq!(KeyBy::All.key(&req), "all");
    }
}
