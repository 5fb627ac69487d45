//! Real servers for the model tests: a throwaway database per test on the machine's
//! PostgreSQL and MariaDB (started by `.ci/run`), and a private Redis per test (its own
//! `redis-server` on a free port, so one test's keys never meet another's and a test can stop
//! it), or a private Redis cluster.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustctl_runtime::sql::{
    Cache, CacheConf, CacheNodeConf, CacheOptions, PoolConf, SqlConn, sqlx,
};

/// A database name nobody else uses.
pub fn db_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("rustctl_{tag}_{}_{nanos}", std::process::id())
}

/// A fresh PostgreSQL database holding `ddl`; its name, for [`drop_pg`].
pub async fn pg(ddl: &str) -> (SqlConn<sqlx::Postgres>, String) {
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = db_name("pg");
    let root = SqlConn::<sqlx::Postgres>::connect(admin, &PoolConf::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) is needed: {e}. Start \
                 it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
                 start` (.ci/run does)"
            )
        });
    let pool = root.pool().unwrap();
    sqlx::raw_sql(&format!("create database {name}"))
        .execute(pool)
        .await
        .unwrap();
    root.close().await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let conn = SqlConn::<sqlx::Postgres>::connect(&url, &PoolConf::default())
        .await
        .unwrap();
    sqlx::raw_sql(ddl)
        .execute(conn.pool().unwrap())
        .await
        .unwrap();
    (conn, name)
}

/// Drops a database [`pg`] made.
pub async fn drop_pg(conn: SqlConn<sqlx::Postgres>, name: &str) {
    conn.close().await;
    let root = SqlConn::<sqlx::Postgres>::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
        &PoolConf::default(),
    )
    .await
    .unwrap();
    sqlx::raw_sql(&format!("drop database if exists {name} with (force)"))
        .execute(root.pool().unwrap())
        .await
        .unwrap();
    root.close().await;
}

/// A fresh MariaDB/MySQL database holding `ddl`; its name, for [`drop_mysql`].
pub async fn mysql(ddl: &str) -> (SqlConn<sqlx::MySql>, String) {
    let name = db_name("my");
    let root = SqlConn::<sqlx::MySql>::connect("mysql://root@127.0.0.1:3306", &PoolConf::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "MariaDB/MySQL at 127.0.0.1:3306 (user root, no password) is needed: {e}. Start \
                 it with `start-stop-daemon --start --oknodo --background --exec \
                 /usr/sbin/mariadbd` (.ci/run does)"
            )
        });
    sqlx::raw_sql(&format!("create database {name}"))
        .execute(root.pool().unwrap())
        .await
        .unwrap();
    root.close().await;
    let url = format!("mysql://root@127.0.0.1:3306/{name}");
    let conn = SqlConn::<sqlx::MySql>::connect(&url, &PoolConf::default())
        .await
        .unwrap();
    sqlx::raw_sql(ddl)
        .execute(conn.pool().unwrap())
        .await
        .unwrap();
    (conn, name)
}

/// Drops a database [`mysql`] made.
pub async fn drop_mysql(conn: SqlConn<sqlx::MySql>, name: &str) {
    conn.close().await;
    let root = SqlConn::<sqlx::MySql>::connect("mysql://root@127.0.0.1:3306", &PoolConf::default())
        .await
        .unwrap();
    sqlx::raw_sql(&format!("drop database if exists {name}"))
        .execute(root.pool().unwrap())
        .await
        .unwrap();
    root.close().await;
}

/// A fresh SQLite database file holding `ddl` (the directory goes when the guard drops).
pub async fn sqlite(ddl: &str) -> (SqlConn<sqlx::Sqlite>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let conn = SqlConn::<sqlx::Sqlite>::connect(&url, &PoolConf::default())
        .await
        .unwrap();
    sqlx::raw_sql(ddl)
        .execute(conn.pool().unwrap())
        .await
        .unwrap();
    (conn, dir)
}

/// A private `redis-server`, stopped (killed) on drop or by [`Redis::stop`].
pub struct Redis {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Redis {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port, &[])
    }

    /// Starts one on `port` with `extra` arguments and waits until it answers.
    fn start_on(port: u16, extra: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server is needed (`apt-get install redis-server`; .ci/run does): {e}")
            });
        let redis = Redis {
            child: Some(child),
            port,
        };
        for _ in 0..100 {
            if redis.cmd(&["PING"]).is_some_and(|r| r.contains("PONG")) {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not answer");
    }

    /// The cache on this server.
    pub fn cache(&self) -> Cache {
        let conf: CacheConf = vec![CacheNodeConf {
            host: format!("127.0.0.1:{}", self.port),
            ..CacheNodeConf::default()
        }];
        Cache::new(&conf, CacheOptions::default()).unwrap().unwrap()
    }

    /// Runs a command with redis-cli's wire format spoken by hand (RESP arrays); the raw
    /// reply, or `None` when the server is gone.
    pub fn cmd(&self, args: &[&str]) -> Option<String> {
        resp(self.port, args)
    }

    /// The value at `key` (`None`: no such key).
    pub fn get(&self, key: &str) -> Option<String> {
        bulk(&self.cmd(&["GET", key])?)
    }

    /// The remaining time to live of `key` in milliseconds.
    pub fn pttl(&self, key: &str) -> i64 {
        let reply = self.cmd(&["PTTL", key]).unwrap();
        reply.trim_start_matches(':').trim().parse().unwrap()
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bulk string reply's text (`None` for nil).
fn bulk(reply: &str) -> Option<String> {
    if reply.starts_with("$-1") {
        return None;
    }
    reply.split("\r\n").nth(1).map(str::to_owned)
}

/// Runs a command on the server at `port` with redis-cli's wire format spoken by hand (RESP
/// arrays); the raw reply, or `None` when the server is gone.
fn resp(port: u16, args: &[&str]) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 65536];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A Redis cluster of its own: `redis-server --cluster-enabled yes` processes joined by
/// `redis-cli --cluster create` (masters only), killed on drop or by [`RedisCluster::stop`].
pub struct RedisCluster {
    nodes: Vec<Redis>,
    _dir: tempfile::TempDir,
}

/// A port that is free, and whose cluster bus port (+10000) is free and valid too.
fn cluster_port(taken: &[u16]) -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for i in 0..20_000u32 {
        let port = 20_000 + u16::try_from((seed.wrapping_add(i * 7919)) % 30_000).unwrap();
        if taken.contains(&port) {
            continue;
        }
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair for a Redis cluster node");
}

impl RedisCluster {
    /// Starts `n` masters, creates the cluster and waits until every node reports it ok.
    pub fn start(n: usize) -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes: Vec<Redis> = Vec::new();
        for _ in 0..n {
            let taken: Vec<u16> = nodes.iter().map(|r| r.port).collect();
            let port = cluster_port(&taken);
            let conf = dir.path().join(format!("nodes-{port}.conf"));
            nodes.push(Redis::start_on(
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().unwrap(),
                    "--dir",
                    dir.path().to_str().unwrap(),
                ],
            ));
        }
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|r| format!("127.0.0.1:{}", r.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("redis-cli is needed (it comes with redis-server): {e}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        for _ in 0..250 {
            if cluster.nodes.iter().all(|r| {
                r.cmd(&["CLUSTER", "INFO"])
                    .is_some_and(|i| i.contains("cluster_state:ok"))
            }) {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the Redis cluster did not become ok");
    }

    /// The cache on this cluster (`Type: cluster`, every node in `Host`).
    pub fn cache(&self) -> Cache {
        let conf: CacheConf = vec![CacheNodeConf {
            host: self
                .nodes
                .iter()
                .map(|r| format!("127.0.0.1:{}", r.port))
                .collect::<Vec<_>>()
                .join(","),
            r#type: "cluster".into(),
            ..CacheNodeConf::default()
        }];
        Cache::new(&conf, CacheOptions::default()).unwrap().unwrap()
    }

    /// Runs a command on the node serving `key`'s slot (following `-MOVED`).
    pub fn cmd_for(&self, key: &str, args: &[&str]) -> Option<String> {
        let mut port = self.nodes.first()?.port;
        for _ in 0..3 {
            let reply = resp(port, args)?;
            match reply.strip_prefix("-MOVED ") {
                Some(moved) => {
                    let to = moved.split_whitespace().nth(1)?;
                    port = to.rsplit_once(':')?.1.parse().ok()?;
                }
                None => return Some(reply),
            }
        }
        panic!("{key}: redirected too often");
    }

    /// The port of the node serving `key`'s slot (the one that does not redirect).
    pub fn owner(&self, key: &str) -> u16 {
        self.nodes
            .iter()
            .map(|r| r.port)
            .find(|&p| resp(p, &["EXISTS", key]).is_some_and(|r| !r.starts_with("-MOVED")))
            .unwrap_or_else(|| panic!("no node serves {key}"))
    }

    /// The value at `key` (`None`: no such key).
    pub fn get(&self, key: &str) -> Option<String> {
        bulk(&self.cmd_for(key, &["GET", key])?)
    }

    /// The remaining time to live of `key` in milliseconds.
    pub fn pttl(&self, key: &str) -> i64 {
        let reply = self.cmd_for(key, &["PTTL", key]).unwrap();
        reply.trim_start_matches(':').trim().parse().unwrap()
    }

    /// Kills every node.
    pub fn stop(&mut self) {
        for r in &mut self.nodes {
            r.stop();
        }
    }
}
