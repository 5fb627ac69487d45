//! One quota for every replica: three `trial-api` processes (one `trial-rpc` behind them) with
//! their `Limit` in the Redis `.ci/run` starts on 127.0.0.1:6379, called in turn; and, with a
//! `redis-server` of the test's own stopped and started again, the fallback.
//!
//! Needs the `trial-rpc` binary next to this test's (`cargo test --workspace` builds it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Process(Child);

impl Drop for Process {
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

fn trial_rpc_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("trial-rpc{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p trial-rpc` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// A Redis key prefix no other run uses.
fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:trial-api:{}:{nanos}", std::process::id())
}

/// trial-rpc and three trial-api replicas whose config ends with `limit` (YAML); the
/// replicas' base URLs.
async fn replicas(limit: &str) -> (Vec<Process>, Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rpc_port = free_port();
    let rpc_conf = dir.path().join("trial.yaml");
    std::fs::write(
        &rpc_conf,
        format!("Name: trial.rpc\nListenOn: 127.0.0.1:{rpc_port}\nDevServer: {{Enabled: false}}\n"),
    )
    .unwrap();
    let mut procs = vec![Process(
        Command::new(trial_rpc_binary())
            .arg("-f")
            .arg(&rpc_conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )];
    let mut urls = Vec::new();
    for i in 0..3 {
        let port = free_port();
        let conf = dir.path().join(format!("api{i}.yaml"));
        std::fs::write(
            &conf,
            format!(
                "Name: trial-api\nHost: 127.0.0.1\nPort: {port}\nMode: dev\n\
                 DevServer: {{Enabled: false}}\nLog: {{Level: error}}\n\
                 TrialRpc: {{Endpoints: ['127.0.0.1:{rpc_port}']}}\n{limit}"
            ),
        )
        .unwrap();
        procs.push(Process(
            Command::new(env!("CARGO_BIN_EXE_trial-api"))
                .arg("-f")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        urls.push(format!("http://127.0.0.1:{port}"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let rpc = format!("http://127.0.0.1:{rpc_port}");
    for url in urls.iter().chain([&rpc]) {
        while std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err() {
            assert!(Instant::now() < deadline, "{url} never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (procs, urls, dir)
}

/// Calls `/trial/NCT045148` `n` times, replica after replica, with `header` if given; the
/// statuses, and every 429's `Retry-After`.
async fn call_round_robin(urls: &[String], n: usize, header: Option<&str>) -> (Vec<u16>, Vec<u64>) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (mut statuses, mut retry) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut req = client.get(format!("{}/trial/NCT045148", urls[i % urls.len()]));
        if let Some(h) = header {
            req = req.header("X-Client", h);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            retry.push(
                resp.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
        statuses.push(status);
    }
    (statuses, retry)
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_redis_token_bucket_per_client_is_shared_by_three_replicas() {
    let limit = format!(
        "Limit:\n  Period: 60\n  Quota: 4\n  KeyBy: header:X-Client\n  \
         Redis: {{Host: 127.0.0.1:6379, Key: '{}'}}\n",
        prefix()
    );
    let (_procs, urls, _dir) = replicas(&limit).await;
    let (alice, retry) = call_round_robin(&urls, 12, Some("alice")).await;
    assert_eq!(
        (count(&alice, 200), count(&alice, 429)),
        (4, 8),
        "one bucket of 4 for alice across the replicas (a local limit would allow 12): {alice:?}; \
         is Redis running on 127.0.0.1:6379? (.ci/run starts it)"
    );
    // One token every 15 s.
    assert!(retry.iter().all(|r| (1..=15).contains(r)), "{retry:?}");
    // Another client has a bucket of its own.
    let (bob, _) = call_round_robin(&urls, 6, Some("bob")).await;
    assert_eq!(count(&bob, 200), 4, "{bob:?}");
}

#[tokio::test]
async fn a_route_s_redis_period_limit_is_shared_by_three_replicas() {
    let limit = format!(
        "Limit:\n  Routes:\n    - Path: /trial/:id\n      Period: 60\n      Quota: 5\n      \
         Kind: period\n      Redis: {{Host: 127.0.0.1:6379, Key: '{}'}}\n",
        prefix()
    );
    let (_procs, urls, _dir) = replicas(&limit).await;
    let (statuses, retry) = call_round_robin(&urls, 15, None).await;
    assert_eq!(
        (count(&statuses, 200), count(&statuses, 429)),
        (5, 10),
        "{statuses:?}"
    );
    assert!(retry.iter().all(|r| (1..=60).contains(r)), "{retry:?}");
}

/// A redis-server of this test's own, on a free port.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed: apt-get install redis-server (as .ci/run does)");
        let redis = OwnRedis { port, child };
        for _ in 0..100 {
            if redis.cli(&["ping"]) == "PONG" {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not start");
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is needed: apt-get install redis-tools (as .ci/run does)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The limiter's counters in this Redis.
    fn counters(&self) -> usize {
        self.cli(&["--scan", "--pattern", "fallback:*"])
            .lines()
            .count()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn replicas_limit_locally_while_redis_is_down_and_go_back_to_it() {
    let port = free_port();
    let redis = OwnRedis::start(port);
    let limit = format!(
        "Limit:\n  Period: 60\n  Quota: 1000\n  KeyBy: header:X-Client\n  \
         Redis: {{Host: '127.0.0.1:{port}', Key: fallback}}\n"
    );
    let (_procs, urls, _dir) = replicas(&limit).await;
    let (statuses, _) = call_round_robin(&urls, 6, Some("carol")).await;
    assert_eq!(statuses, [200; 6]);
    assert!(redis.counters() > 0, "the limit counts in Redis");

    drop(redis);
    // Redis is gone: every replica limits locally, and no request fails.
    let (statuses, _) = call_round_robin(&urls, 30, Some("carol")).await;
    assert_eq!(statuses, [200; 30], "requests failed while Redis was down");

    // Back (empty): the replicas' probes find it and the counts are in Redis again.
    let redis = OwnRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.counters() == 0 {
        assert!(
            Instant::now() < deadline,
            "the replicas never went back to Redis"
        );
        let (statuses, _) = call_round_robin(&urls, 3, Some("carol")).await;
        assert_eq!(statuses, [200; 3]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
