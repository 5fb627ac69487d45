//! The `Limit` section: a rate limit for the whole server, or per route (`Routes`), counted in
//! this process or in Redis (shared by every replica), for everyone together or per client.

use serde::Deserialize;

use crate::middleware::KeyBy;
use crate::rpc::RedisKeyConf;
use crate::rules::check_range;

/// `Limit` section: `Quota` requests per `Period` seconds; 0 disables.
///
/// Without `Redis.Host` and `KeyBy`, one local token bucket holds `Quota` tokens and refills
/// `Quota` per `Period`. `KeyBy` gives each client a bucket of its own; `Redis.Host` keeps the
/// buckets in Redis, shared by every replica (`Kind: token`, go-zero's `TokenLimiter`, with a
/// local fallback while Redis is down; or `Kind: period`, go-zero's `PeriodLimit`, a fixed
/// window).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LimitConf {
    /// Window in seconds.
    pub period: u64,
    /// Requests allowed per window (also the burst size).
    pub quota: u64,
    /// With `Redis.Host`: `token` (default) or `period`.
    pub kind: String,
    /// Whose requests count together: empty (everyone's), `ip`, `header:<name>` or
    /// `claim:<name>` (a JWT claim, for routes behind `jwt`).
    pub key_by: String,
    /// Where shared counts live: `Host`, `Type`, `User`, `Pass`, and `Key`, the prefix of the
    /// counters (default `limit`). Empty `Host`: counted in this process.
    pub redis: RedisKeyConf,
    /// Limits of their own for some routes, instead of the server's.
    pub routes: Vec<RouteLimitConf>,
}

/// One entry of `Limit.Routes`: the route's go-zero path and its limit's keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RouteLimitConf {
    /// The route as the contract writes it, prefix included (`/v1/trial/:id`).
    pub path: String,
    /// Window in seconds.
    pub period: u64,
    /// Requests allowed per window.
    pub quota: u64,
    /// With `Redis.Host`: `token` (default) or `period`.
    pub kind: String,
    /// As `Limit.KeyBy`.
    pub key_by: String,
    /// As `Limit.Redis`.
    pub redis: RedisKeyConf,
}

/// One limit, the server's or a route's.
#[derive(Debug, Clone, Default)]
pub struct LimitRule {
    /// Window in seconds.
    pub period: u64,
    /// Requests allowed per window.
    pub quota: u64,
    /// `token` or `period` (Redis only).
    pub kind: String,
    /// Whose requests count together.
    pub key_by: String,
    /// Where shared counts live (empty `Host`: in this process).
    pub redis: RedisKeyConf,
}

impl LimitRule {
    /// Whether it needs the per-client or Redis limiter rather than the plain local bucket.
    pub fn shared(&self) -> bool {
        !self.key_by.trim().is_empty() || !self.redis.host.trim().is_empty()
    }

    /// Problems, each with its key under `at` (`Limit`, `Limit.Routes[0]`).
    fn problems(&self, at: &str) -> Vec<(String, String)> {
        let mut errs: Vec<(String, String)> =
            check_range(&format!("{at}.Period"), self.period as f64, "[0:]")
                .into_iter()
                .collect();
        if self.quota > 0 && self.period == 0 {
            errs.push((
                format!("{at}.Period"),
                format!("must be > 0 when {at}.Quota is set"),
            ));
        }
        if let Err(e) = KeyBy::parse(&self.key_by) {
            errs.push((format!("{at}.KeyBy"), e));
        }
        if !self.redis.host.trim().is_empty() {
            if !["", "token", "period"].contains(&self.kind.trim().to_ascii_lowercase().as_str()) {
                errs.push((
                    format!("{at}.Kind"),
                    format!("`{}` is not token or period", self.kind),
                ));
            }
            let mut redis = self.redis.clone();
            if redis.key.trim().is_empty() {
                redis.key = "limit".into();
            }
            if let Some(problem) = redis.problem() {
                errs.push((format!("{at}.Redis"), problem));
            }
        }
        errs
    }
}

impl LimitConf {
    /// The server-wide limit.
    pub fn rule(&self) -> LimitRule {
        LimitRule {
            period: self.period,
            quota: self.quota,
            kind: self.kind.clone(),
            key_by: self.key_by.clone(),
            redis: self.redis.clone(),
        }
    }

    /// Every problem of the section and its routes, keyed by their full key path.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut errs = self.rule().problems("Limit");
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("Limit.Routes[{i}]");
            if r.path.trim().is_empty() {
                errs.push((format!("{at}.Path"), "required key is missing".into()));
            }
            errs.extend(r.rule().problems(&at));
        }
        errs
    }
}

impl RouteLimitConf {
    /// The route's limit.
    pub fn rule(&self) -> LimitRule {
        LimitRule {
            period: self.period,
            quota: self.quota,
            kind: self.kind.clone(),
            key_by: self.key_by.clone(),
            redis: self.redis.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_keys() {
        let route = |path: &str, period| RouteLimitConf {
            path: path.into(),
            period,
            quota: 3,
            ..RouteLimitConf::default()
        };
        let conf = LimitConf {
            period: 1,
            quota: 5,
            key_by: "host".into(),
            kind: "sliding".into(),
            redis: RedisKeyConf {
                host: "127.0.0.1:6379".into(),
                ..RedisKeyConf::default()
            },
            routes: vec![route("/a", 0), route("", 1)],
        };
        let keys: Vec<String> = conf.problems().into_iter().map(|e| e.0).collect();
        assert_eq!(
            keys,
            [
                "Limit.KeyBy",
                "Limit.Kind",
                "Limit.Routes[0].Period",
                "Limit.Routes[1].Path"
            ]
        );
        assert!(conf.rule().shared());
        assert!(!conf.routes[0].rule().shared());
        let fine = LimitConf {
            key_by: "ip".into(),
            kind: "period".into(),
            routes: Vec::new(),
            ..conf
        };
        assert!(fine.problems().is_empty(), "{:?}", fine.problems());
    }
}
