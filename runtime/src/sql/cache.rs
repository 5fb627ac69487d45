//! go-zero's cached models (`sqlc.CachedConn`), cache-aside in Redis:
//!
//! - a row is cached as JSON under `cache:<table>:<primary column>:<value>`; a unique index's
//!   key (`cache:<table>:<column>:<value>`) holds only the primary key, so a row is stored once;
//! - a lookup that finds no row caches the placeholder `*` for `NotFoundExpiry` (against cache
//!   penetration: a flood of lookups of a missing id reaches the database once a minute);
//! - every expiry is jittered by ±5% (against an avalanche of keys written together expiring
//!   together);
//! - one load per key at a time ([`super::flight`], against breakdown of a hot key);
//! - every write deletes every key of the row, after the write;
//! - when Redis fails (down, slow beyond a second), reads go to the database and the service
//!   keeps answering; the failure is logged and counted (`result="error"`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SqlError;
use super::flight::{Flights, Role};
use super::metrics::cache_result;
use super::ring::Ring;
use crate::redis_conn::Redis;
use crate::rpc::RedisKeyConf;

/// What a lookup of a missing row caches.
const PLACEHOLDER: &str = "*";

/// One node of `CacheRedis` (go-zero's `cache.NodeConf`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CacheNodeConf {
    /// `host:port`; with `Type: cluster`, comma-separated nodes of one cluster.
    pub host: String,
    /// `node` (default) or `cluster`.
    pub r#type: String,
    /// ACL user (optional).
    pub user: String,
    /// Password (optional).
    pub pass: String,
    /// This node's share of keys among several (default 100).
    pub weight: u32,
}

impl Default for CacheNodeConf {
    fn default() -> Self {
        CacheNodeConf {
            host: String::new(),
            r#type: "node".into(),
            user: String::new(),
            pass: String::new(),
            weight: 100,
        }
    }
}

/// `CacheRedis`: the cache's nodes (go-zero's `cache.CacheConf`); keys are spread over them by
/// consistent hashing. Empty: no cache.
pub type CacheConf = Vec<CacheNodeConf>;

/// Expiries, go-zero's defaults: rows for 7 days, "not found" for a minute.
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// How long a cached row lives.
    pub expiry: Duration,
    /// How long the "not found" placeholder lives.
    pub not_found_expiry: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            expiry: Duration::from_secs(7 * 24 * 3600),
            not_found_expiry: Duration::from_secs(60),
        }
    }
}

struct Inner {
    nodes: Vec<Redis>,
    ring: Ring,
    options: CacheOptions,
    flights: Arc<Flights>,
}

/// The Redis nodes of `CacheRedis`. Cloning is cheap; clones share connections.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("nodes", &self.inner.nodes.len())
            .finish()
    }
}

/// `d` ± 5%, as go-zero's `mathx.Unstable(0.05)`.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.95 + fastrand::f64() * 0.1)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Cache {
    /// The cache of `conf`; connects on first use. `Ok(None)` when `conf` has no node. The
    /// error names the key at fault (`CacheRedis[1].Host ...`).
    pub fn new(conf: &CacheConf, options: CacheOptions) -> Result<Option<Cache>, SqlError> {
        let nodes: Vec<&CacheNodeConf> =
            conf.iter().filter(|n| !n.host.trim().is_empty()).collect();
        if nodes.is_empty() {
            return Ok(None);
        }
        let mut redis = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let key_conf = RedisKeyConf {
                host: node.host.clone(),
                r#type: node.r#type.clone(),
                user: node.user.clone(),
                pass: node.pass.clone(),
                // Required by `RedisKeyConf`'s check; a cache names its keys per row.
                key: "cache".into(),
            };
            let r = Redis::new(&key_conf).map_err(|e| {
                SqlError::Config(format!(
                    "CacheRedis[{i}]: {}",
                    e.strip_prefix("Redis.").unwrap_or(&e)
                ))
            })?;
            redis.push(r);
        }
        let ring = Ring::new(nodes.iter().map(|n| (n.host.as_str(), n.weight)));
        Ok(Some(Cache {
            inner: Arc::new(Inner {
                nodes: redis,
                ring,
                options,
                flights: Arc::default(),
            }),
        }))
    }

    fn node(&self, key: &str) -> &Redis {
        &self.inner.nodes[self.inner.ring.node(key)]
    }

    /// The cached text of `key`; `Err` when Redis failed.
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.node(key)
            .query(redis::cmd("GET").arg(key))
            .await
            .map_err(|e| e.to_string())
    }

    /// Caches `text` under `key` for about `ttl`; a failure is logged, never returned (the row
    /// is read from the database next time).
    async fn set(&self, key: &str, text: &str, ttl: Duration) {
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(text)
            .arg("PX")
            .arg(millis(jitter(ttl)))
            .to_owned();
        if let Err(e) = self.node(key).query::<()>(&cmd).await {
            tracing::error!(key, error = %e, "cache: set failed");
        }
    }

    /// Deletes `keys`. go-zero logs a failed delete and moves on: the row stays cached until
    /// it expires; so does this (a delete is never the reason a write fails).
    pub async fn del(&self, keys: &[String]) {
        let mut by_node: Vec<Vec<&str>> = vec![Vec::new(); self.inner.nodes.len()];
        for k in keys {
            by_node[self.inner.ring.node(k)].push(k);
        }
        for (node, keys) in self.inner.nodes.iter().zip(by_node) {
            if keys.is_empty() {
                continue;
            }
            let mut cmd = redis::cmd("DEL");
            for k in &keys {
                cmd.arg(*k);
            }
            if let Err(e) = node.query::<()>(&cmd).await {
                tracing::error!(keys = ?keys, error = %e, "cache: delete failed");
            }
        }
    }
}

/// A model's connection: the database, and the cache in front of it when `CacheRedis` is set.
pub struct CachedConn<DB: sqlx::Database> {
    conn: super::SqlConn<DB>,
    cache: Option<Cache>,
}

impl<DB: sqlx::Database> Clone for CachedConn<DB> {
    fn clone(&self) -> Self {
        CachedConn {
            conn: self.conn.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<DB: sqlx::Database> std::fmt::Debug for CachedConn<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedConn")
            .field("conn", &self.conn)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<DB: sqlx::Database> CachedConn<DB> {
    /// The database behind `cache` (none: every read goes to the database).
    pub fn new(conn: super::SqlConn<DB>, cache: Option<Cache>) -> Self {
        CachedConn { conn, cache }
    }

    /// The database connection.
    pub fn conn(&self) -> &super::SqlConn<DB> {
        &self.conn
    }

    /// The same cache in front of another connection (a transaction's).
    pub fn with_conn(&self, conn: super::SqlConn<DB>) -> Self {
        CachedConn {
            conn,
            cache: self.cache.clone(),
        }
    }

    /// The row cached under `key`, or the one `load` reads from the database (then cached).
    /// [`SqlError::NotFound`] when there is none (then the placeholder is cached).
    pub async fn query_row<T, F, Fut>(&self, key: &str, load: F) -> Result<T, SqlError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, SqlError>>,
    {
        let Some(cache) = &self.cache else {
            return load().await?.ok_or(SqlError::NotFound);
        };
        match cache.get(key).await {
            Ok(Some(text)) if text == PLACEHOLDER => {
                cache_result(key, "placeholder");
                return Err(SqlError::NotFound);
            }
            Ok(Some(text)) => match serde_json::from_str(&text) {
                Ok(row) => {
                    cache_result(key, "hit");
                    return Ok(row);
                }
                // A row cached by an older schema: drop it and read the database.
                Err(e) => {
                    tracing::warn!(key, error = %e, "cache: undecodable row, reloading");
                    cache.del(&[key.to_owned()]).await;
                }
            },
            Ok(None) => cache_result(key, "miss"),
            Err(e) => {
                cache_result(key, "error");
                tracing::error!(key, error = %e, "cache: get failed, reading the database");
                return load().await?.ok_or(SqlError::NotFound);
            }
        }
        let leader = match cache.inner.flights.join(key).await {
            Role::Follower(shared) => return decode_shared(shared),
            Role::Leader(leader) => leader,
        };
        let loaded = load().await;
        match &loaded {
            Ok(Some(row)) => {
                let text = to_json(row)?;
                cache.set(key, &text, cache.inner.options.expiry).await;
                leader.finish(Ok(Some(text)));
            }
            Ok(None) => {
                cache
                    .set(key, PLACEHOLDER, cache.inner.options.not_found_expiry)
                    .await;
                leader.finish(Ok(None));
            }
            Err(e) => leader.finish(Err(e.to_string())),
        }
        loaded?.ok_or(SqlError::NotFound)
    }

    /// The row a unique index leads to, as go-zero's `QueryRowIndexCtx`: `index_key` caches
    /// the row's primary key (`primary_of` the row, as JSON); the row itself is cached under
    /// `primary_key` of that value, as [`query_row`] does, loaded by `load_primary`. On a miss
    /// the row is read by the index with `load`, and both keys are set.
    ///
    /// [`query_row`]: CachedConn::query_row
    pub async fn query_row_index<T, Pk, F, Fut, P, PFut>(
        &self,
        index_key: &str,
        primary_of: impl Fn(&T) -> Pk,
        primary_key: impl Fn(&Pk) -> String,
        load: F,
        load_primary: P,
    ) -> Result<T, SqlError>
    where
        T: Serialize + DeserializeOwned,
        Pk: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, SqlError>>,
        P: FnOnce(Pk) -> PFut,
        PFut: Future<Output = Result<Option<T>, SqlError>>,
    {
        let Some(cache) = &self.cache else {
            return load().await?.ok_or(SqlError::NotFound);
        };
        match cache.get(index_key).await {
            Ok(Some(text)) if text == PLACEHOLDER => {
                cache_result(index_key, "placeholder");
                Err(SqlError::NotFound)
            }
            Ok(Some(text)) => {
                let pk: Pk =
                    serde_json::from_str(&text).map_err(|e| SqlError::Cache(e.to_string()))?;
                cache_result(index_key, "hit");
                // The row's own entry may have expired or been deleted: reload it by its key.
                let key = primary_key(&pk);
                self.query_row(&key, || load_primary(pk)).await
            }
            Ok(None) => {
                cache_result(index_key, "miss");
                match load().await? {
                    Some(row) => {
                        let pk = primary_of(&row);
                        let pk_text = to_json(&pk)?;
                        let row_text = to_json(&row)?;
                        let expiry = cache.inner.options.expiry;
                        cache.set(index_key, &pk_text, expiry).await;
                        cache.set(&primary_key(&pk), &row_text, expiry).await;
                        Ok(row)
                    }
                    None => {
                        let expiry = cache.inner.options.not_found_expiry;
                        cache.set(index_key, PLACEHOLDER, expiry).await;
                        Err(SqlError::NotFound)
                    }
                }
            }
            Err(e) => {
                cache_result(index_key, "error");
                tracing::error!(key = index_key, error = %e, "cache: get failed, reading the database");
                load().await?.ok_or(SqlError::NotFound)
            }
        }
    }

    /// Runs a write, then deletes `keys` (every key of the rows it touched).
    pub async fn exec<T, Fut>(&self, keys: &[String], write: Fut) -> Result<T, SqlError>
    where
        Fut: Future<Output = Result<T, SqlError>>,
    {
        let result = write.await;
        if let Some(cache) = &self.cache {
            cache.del(keys).await;
        }
        result
    }

    /// Deletes `keys` from the cache (custom writes call it).
    pub async fn del_cache(&self, keys: &[String]) {
        if let Some(cache) = &self.cache {
            cache.del(keys).await;
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, SqlError> {
    serde_json::to_string(value).map_err(|e| SqlError::Cache(e.to_string()))
}

fn decode_shared<T: DeserializeOwned>(shared: super::flight::Shared) -> Result<T, SqlError> {
    match shared {
        Ok(Some(text)) => serde_json::from_str(&text).map_err(|e| SqlError::Cache(e.to_string())),
        Ok(None) => Err(SqlError::NotFound),
        Err(e) => Err(SqlError::Cache(format!("loading the row failed: {e}"))),
    }
}
