//! trial-rpc with `DataSource` on the real PostgreSQL and `CacheRedis` on a real Redis (the
//! default, an embedded SQLite file, is what `examples/run.sh` and the other tests use): the
//! service creates and seeds its table in a throwaway database, answers from it, caches the
//! row in Redis, and answers `NotFound` for an unknown trial.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustctl_runtime::sql::{PoolConf, SqlConn, sqlx};
use trial_rpc::pb::trial::GetTrialRequest;
use trial_rpc::pb::trial::trial_client::TrialClient;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn redis_get(port: u16, key: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let mut buf = vec![0; 65536];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn admin(sql: &str) {
    let conn = SqlConn::<sqlx::Postgres>::connect(ADMIN, &PoolConf::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) is needed: {e}. Start \
                 it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
                 start` (.ci/run does)"
            )
        });
    sqlx::raw_sql(sql)
        .execute(conn.pool().unwrap())
        .await
        .unwrap();
    conn.close().await;
}

#[tokio::test]
async fn trials_come_from_postgres_through_the_redis_cache() {
    let db = format!("rustctl_trial_rpc_{}", std::process::id());
    admin(&format!("drop database if exists {db} with (force)")).await;
    admin(&format!("create database {db}")).await;
    let redis_port = free_port();
    let _redis = Killed(
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &redis_port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed (`apt-get install redis-server`; .ci/run does)"),
    );
    wait_for(redis_port, "redis-server");

    let (port, dev) = (free_port(), free_port());
    let config = std::env::temp_dir().join(format!("trial-rpc-pg-{}.yaml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "Name: trial.rpc\nListenOn: 127.0.0.1:{port}\nLog:\n  Level: error\n\
             DevServer:\n  Enabled: true\n  Port: {dev}\n\
             DataSource: postgres://postgres@127.0.0.1:5432/{db}\n\
             CacheRedis:\n  - Host: 127.0.0.1:{redis_port}\n"
        ),
    )
    .unwrap();
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_trial-rpc"))
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port, "trial-rpc");

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = TrialClient::new(channel);
    let ask = |id: &str| tonic::Request::new(GetTrialRequest { id: id.into() });
    let trial = client
        .get_trial_info(ask("NCT045148"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trial.name, "一项评估XXX药物有效性的III期临床研究");
    assert_eq!(trial.enrolled_count, 152);
    let cached = redis_get(redis_port, "cache:trial:id:NCT045148");
    assert!(cached.contains("\"enrolled_count\":152"), "{cached}");
    let missing = client.get_trial_info(ask("NCT000000")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // The rows are in PostgreSQL, seeded on first start.
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let conn = SqlConn::<sqlx::Postgres>::connect(&url, &PoolConf::default())
        .await
        .unwrap();
    let rows = conn
        .fetch_all(
            "test.count",
            sqlx::query("select id from trial order by id"),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    conn.close().await;

    // SIGTERM: the server drains, closes its pool and exits cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_file(&config);
    admin(&format!("drop database if exists {db} with (force)")).await;
}
