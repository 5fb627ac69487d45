//! `find_one` through the cache against the same lookup without it, on the real PostgreSQL and
//! a private `redis-server` on loopback (`.ci/run` starts PostgreSQL; `redis-server` must be
//! installed). `cargo bench -p rustctl-model-tests --bench cache` prints:
//! - the latency of a cache hit, one caller at a time (p50, p99), and of the uncached lookup;
//! - the rate of hits and of uncached lookups with 64 concurrent callers, in three alternating
//!   pairs of windows (so a change in the machine's load falls on both sides of a pair), and
//!   the median of the three ratios.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustctl_model_tests::pg::{Trial, TrialModel};

const SEQUENTIAL: usize = 20_000;
const CALLERS: usize = 64;
const WINDOW: Duration = Duration::from_secs(3);
const PAIRS: usize = 3;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

async fn latencies(model: &TrialModel) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let start = Instant::now();
        model.find_one("NCT045148").await.unwrap();
        took.push(start.elapsed());
    }
    took.sort();
    (percentile(&took, 0.5), percentile(&took, 0.99))
}

async fn rate(model: &TrialModel) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + WINDOW;
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (model, done) = (model.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                model.find_one("NCT045148").await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (conn, name) = support::pg(include_str!("../sql/pg.sql")).await;
    let redis = support::Redis::start();
    let cached = TrialModel::new(conn.clone(), Some(redis.cache()));
    let uncached = TrialModel::new(conn.clone(), None);
    cached
        .insert(&Trial {
            id: "NCT045148".into(),
            name: "phase III".into(),
            status: "recruiting".into(),
            enrolled_count: 152,
        })
        .await
        .unwrap();
    cached.find_one("NCT045148").await.unwrap(); // now cached
    let (hit50, hit99) = latencies(&cached).await;
    let (db50, db99) = latencies(&uncached).await;
    println!(
        "find_one, one caller: cache hit p50 {hit50:?} p99 {hit99:?}; uncached p50 {db50:?} p99 {db99:?}"
    );
    let mut ratios = Vec::new();
    for pair in 1..=PAIRS {
        let hits = rate(&cached).await;
        let direct = rate(&uncached).await;
        println!(
            "find_one, {CALLERS} callers, pair {pair}: cache hits {hits:.0}/s; uncached \
             {direct:.0}/s; ratio {:.2}",
            hits / direct
        );
        ratios.push(hits / direct);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.2}", ratios[ratios.len() / 2]);
    drop(redis);
    support::drop_pg(conn, &name).await;
}
