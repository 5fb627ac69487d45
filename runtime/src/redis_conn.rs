//! A connection to the Redis of a go-zero `RedisKeyConf` (`Host`, `Type: node|cluster`,
//! `User`, `Pass`), made on first use (go-zero's `NonBlock`) and remade after failures, with
//! go-zero's one-second bound on connecting and on each reply.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, FromRedisValue, IntoConnectionInfo, RedisConnectionInfo};
use tokio::sync::OnceCell;

use crate::rpc::RedisKeyConf;

/// go-zero's `RedisConf.PingTimeout` default; bounds connecting and each reply.
const TIMEOUT: Duration = Duration::from_secs(1);

enum Client {
    Node(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

#[derive(Clone)]
enum Conn {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A Redis node or cluster; connects when first asked.
pub(crate) struct Redis {
    client: Client,
    conn: OnceCell<Conn>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

/// `host:port` → a TCP address (port 6379 when left out).
fn addr(host: &str) -> Result<ConnectionAddr, String> {
    let host = host.trim();
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("Redis.Host `{host}` is not host:port"))?,
        ),
        _ => (host, 6379),
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return Err(format!("Redis.Host `{host}` has no host"));
    }
    Ok(ConnectionAddr::Tcp(h.to_owned(), port))
}

impl Redis {
    /// Prepares a connection to the Redis of `conf` without connecting. The error names the
    /// key at fault (`Redis.Host ...`).
    pub(crate) fn new(conf: &RedisKeyConf) -> Result<Self, String> {
        if let Some(err) = conf.problem() {
            return Err(err);
        }
        let mut settings = RedisConnectionInfo::default();
        if !conf.user.is_empty() {
            settings = settings.set_username(&conf.user);
        }
        if !conf.pass.is_empty() {
            settings = settings.set_password(&conf.pass);
        }
        let client = if conf.r#type.eq_ignore_ascii_case("cluster") {
            let mut nodes = Vec::new();
            for h in conf.host.split(',').filter(|h| !h.trim().is_empty()) {
                let info = addr(h)?
                    .into_connection_info()
                    .map_err(|e| e.to_string())?
                    .set_redis_settings(settings.clone());
                nodes.push(info);
            }
            let client = ClusterClientBuilder::new(nodes)
                .connection_timeout(TIMEOUT)
                .response_timeout(TIMEOUT)
                .build()
                .map_err(|e| format!("Redis: {e}"))?;
            Client::Cluster(client)
        } else {
            let info = addr(&conf.host)?
                .into_connection_info()
                .map_err(|e| e.to_string())?
                .set_redis_settings(settings);
            Client::Node(redis::Client::open(info).map_err(|e| format!("Redis: {e}"))?)
        };
        Ok(Redis {
            client,
            conn: OnceCell::new(),
        })
    }

    async fn conn(&self) -> redis::RedisResult<Conn> {
        self.conn
            .get_or_try_init(|| async {
                match &self.client {
                    Client::Node(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(TIMEOUT))
                            .set_response_timeout(Some(TIMEOUT))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config(client.clone(), config)
                            .await
                            .map(Conn::Node)
                    }
                    Client::Cluster(client) => {
                        client.get_async_connection().await.map(Conn::Cluster)
                    }
                }
            })
            .await
            .cloned()
    }

    /// Runs a Lua script (EVALSHA, loading it when Redis does not know it yet).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self.conn().await? {
            Conn::Node(mut c) => script.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => script.invoke_async(&mut c).await,
        }
    }

    /// Runs `cmd`.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self.conn().await? {
            Conn::Node(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_or_name_the_key() {
        assert!(
            matches!(addr("10.0.0.9:6380"), Ok(ConnectionAddr::Tcp(h, 6380)) if h == "10.0.0.9")
        );
        assert!(matches!(addr("redis"), Ok(ConnectionAddr::Tcp(h, 6379)) if h == "redis"));
        assert!(matches!(addr("[::1]:7000"), Ok(ConnectionAddr::Tcp(h, 7000)) if h == "::1"));
        assert!(addr("host:port").unwrap_err().contains("Redis.Host"));
        assert!(addr(":6379").unwrap_err().contains("has no host"));
    }
}
