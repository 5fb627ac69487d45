//! The Redis limiters against real Redis servers: the one `.ci/run` starts on 127.0.0.1:6379,
//! and, for the fallback, a `redis-server` of the test's own that it stops and starts again.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustctl_runtime::redis_limit::{PeriodLimit, TokenLimiter, Verdict};
use rustctl_runtime::rpc::RedisKeyConf;

/// A key prefix no other run uses.
fn prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:{name}:{}:{nanos}", std::process::id())
}

fn shared_redis(key: String) -> RedisKeyConf {
    RedisKeyConf {
        host: "127.0.0.1:6379".into(),
        key,
        ..RedisKeyConf::default()
    }
}

const NO_REDIS: &str = "Redis on 127.0.0.1:6379 is needed: .ci/run starts it \
    (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no)";

#[tokio::test]
async fn period_limit_counts_a_fixed_window_per_key() {
    let conf = shared_redis(prefix("period"));
    let limit = PeriodLimit::new(&conf, Duration::from_secs(5), 3).unwrap();
    for _ in 0..3 {
        assert_eq!(limit.take("alice").await.expect(NO_REDIS), Verdict::Allowed);
    }
    let Verdict::Refused { retry_after } = limit.take("alice").await.unwrap() else {
        panic!("the fourth request in the window was allowed");
    };
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(5),
        "{retry_after:?}"
    );
    // Another client has a quota of its own.
    assert_eq!(limit.take("bob").await.unwrap(), Verdict::Allowed);
    // A second limiter on the same prefix (another replica) shares the counts.
    let replica = PeriodLimit::new(&conf, Duration::from_secs(5), 3).unwrap();
    assert!(!replica.take("alice").await.unwrap().allowed());
}

#[tokio::test]
async fn token_limiter_shares_one_bucket_across_replicas() {
    let conf = shared_redis(prefix("token"));
    let a = TokenLimiter::new(&conf, Duration::from_secs(60), 4).unwrap();
    let b = TokenLimiter::new(&conf, Duration::from_secs(60), 4).unwrap();
    let mut allowed = 0;
    for i in 0..8 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        if limiter.take("client").await.allowed() {
            allowed += 1;
        }
    }
    assert!(a.redis_up() && b.redis_up(), "{NO_REDIS}");
    assert_eq!(allowed, 4, "the burst is shared, not one per replica");
    let Verdict::Refused { retry_after } = a.take("client").await else {
        panic!("allowed past the burst");
    };
    // One token every 15 s.
    assert!(
        retry_after > Duration::from_secs(10) && retry_after <= Duration::from_secs(15),
        "{retry_after:?}"
    );
    assert!(a.take("other client").await.allowed());
}

/// A redis-server of this test's own.
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
            if redis.cli(&["ping"]).as_deref() == Some("PONG") {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not start");
    }

    fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is needed: apt-get install redis-tools (as .ci/run does)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limiter_falls_back_while_redis_is_down_and_returns() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = OwnRedis::start(port);
    let conf = RedisKeyConf {
        host: format!("127.0.0.1:{port}"),
        key: "fallback".into(),
        ..RedisKeyConf::default()
    };
    let limiter = TokenLimiter::new(&conf, Duration::from_secs(60), 3).unwrap();
    assert!(limiter.take("c").await.allowed());
    assert_eq!(redis.cli(&["exists", "fallback:c"]).as_deref(), Some("1"));

    redis.stop();
    // The local bucket, at the same rate, decides: no error, and still a limit.
    let verdicts: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(limiter.take("c").await.allowed());
        }
        v
    };
    assert!(!limiter.redis_up());
    assert_eq!(
        verdicts,
        [true, true, true, false],
        "the local bucket holds 3"
    );

    // Redis back (empty): the probe notices and decisions go back to it.
    let redis = OwnRedis::start(port);
    for _ in 0..100 {
        if limiter.redis_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(limiter.redis_up(), "the probe never saw Redis again");
    assert!(limiter.take("c").await.allowed(), "a fresh bucket in Redis");
    assert_eq!(redis.cli(&["exists", "fallback:c"]).as_deref(), Some("1"));
}
