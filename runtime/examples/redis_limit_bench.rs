//! What a Redis limit adds to a request on loopback (docs/bench.md): one REST route served
//! with the local `Limit` and with the Redis token and period limits, called one request at a
//! time; latency percentiles of each, and of the limiters' own `take`.
//!
//! `cargo run --release -p rustctl-runtime --example redis_limit_bench -- [requests]`
//! (default 20000; needs Redis on 127.0.0.1:6379).

use std::time::{Duration, Instant};

use axum::routing::get;
use rustctl_runtime::redis_limit::{PeriodLimit, TokenLimiter};
use rustctl_runtime::rpc::RedisKeyConf;
use rustctl_runtime::{RestConf, RouteGroup, Server, config};

fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.99), at(0.999))
}

fn redis(key: &str) -> RedisKeyConf {
    RedisKeyConf {
        host: "127.0.0.1:6379".into(),
        key: format!("bench:{key}:{}", std::process::id()),
        ..RedisKeyConf::default()
    }
}

async fn serve(limit: &str) -> (rustctl_runtime::Running, String) {
    let text = format!(
        "Name: bench\nHost: 127.0.0.1\nPort: 0\nMode: dev\nLog: {{Level: error}}\n\
         DevServer: {{Enabled: false}}\n{limit}"
    );
    let conf: RestConf = config::from_str(&text, "bench.yaml").unwrap().0;
    let mut server = Server::new(conf);
    server.add_routes(RouteGroup::new().route("/hello", get(|| async { "hi" })));
    let running = server.listen().await.unwrap();
    let url = format!("http://{}/hello", running.addr());
    (running, url)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let quota = 1_000_000_000u64;
    let token = TokenLimiter::new(&redis("token"), Duration::from_secs(1), quota).unwrap();
    let period = PeriodLimit::new(&redis("period"), Duration::from_secs(3600), quota).unwrap();
    for (name, limiter) in [("TokenLimiter::take", 0), ("PeriodLimit::take", 1)] {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n + 1000 {
            let start = Instant::now();
            if limiter == 0 {
                assert!(token.take("k").await.allowed());
            } else {
                assert!(period.take("k").await.unwrap().allowed());
            }
            if i >= 1000 {
                lat.push(start.elapsed());
            }
        }
        assert!(token.redis_up(), "Redis on 127.0.0.1:6379 is needed");
        let (p50, p99, p999) = percentiles(lat);
        eprintln!("{name:<34} p50 {p50:.3} ms  p99 {p99:.3} ms  p99.9 {p999:.3} ms");
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let prefix = |kind: &str| format!("bench:rest:{kind}:{}", std::process::id());
    let configs = [
        (
            "GET /hello, local Limit",
            format!("Limit: {{Period: 1, Quota: {quota}}}\n"),
        ),
        (
            "GET /hello, Redis token Limit",
            format!(
                "Limit: {{Period: 1, Quota: {quota}, KeyBy: ip, \
                 Redis: {{Host: 127.0.0.1:6379, Key: '{}'}}}}\n",
                prefix("token")
            ),
        ),
        (
            "GET /hello, Redis period Limit",
            format!(
                "Limit: {{Period: 3600, Quota: {quota}, Kind: period, KeyBy: ip, \
                 Redis: {{Host: 127.0.0.1:6379, Key: '{}'}}}}\n",
                prefix("period")
            ),
        ),
    ];
    let mut p99s = Vec::new();
    for (name, limit) in &configs {
        let (running, url) = serve(limit).await;
        let mut lat = Vec::with_capacity(n);
        for i in 0..n + 1000 {
            let start = Instant::now();
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let _ = resp.bytes().await.unwrap();
            if i >= 1000 {
                lat.push(start.elapsed());
            }
        }
        running.shutdown();
        let (p50, p99, p999) = percentiles(lat);
        p99s.push((p50, p99));
        eprintln!("{name:<34} p50 {p50:.3} ms  p99 {p99:.3} ms  p99.9 {p999:.3} ms");
    }
    for (i, (name, _)) in configs.iter().enumerate().skip(1) {
        eprintln!(
            "{name}: adds {:.3} ms at p50, {:.3} ms at p99",
            p99s[i].0 - p99s[0].0,
            p99s[i].1 - p99s[0].1
        );
    }
}
