//! Real servers for the model tests: a throwaway database per test on the machine's
//! PostgreSQL and MariaDB (started by `.ci/run`), and a private Redis per test (its own
//! `redis-server` on a free port, so one test's keys never meet another's and a test can stop
//! it).

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
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &port.to_string()])
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
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
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

    /// The value at `key` (`None`: no such key).
    pub fn get(&self, key: &str) -> Option<String> {
        let reply = self.cmd(&["GET", key])?;
        if reply.starts_with("$-1") {
            return None;
        }
        reply.split("\r\n").nth(1).map(str::to_owned)
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
