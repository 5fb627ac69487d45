//! One load per key at a time (against cache breakdown): callers missing the same key while
//! it loads share that load. A test binary of its own, so no other test's queries share the
//! counter it reads.

mod support;

use rustctl_model_tests::pg::{Trial, TrialModel};
use rustctl_runtime::sql::sqlx;
use support::Redis;

/// How many times `trial.find_one` has queried the database.
fn loads() -> u64 {
    let text = rustctl_runtime::metrics::Metrics::new().render();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("sql_client_requests_duration_ms_count{command=\"trial.find_one\"} ")
        })
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_make_one_query() {
    let (conn, name) = support::pg(include_str!("../sql/pg.sql")).await;
    let redis = Redis::start();
    let trials = TrialModel::new(conn.clone(), Some(redis.cache()));
    let t = Trial {
        id: "NCT052219".into(),
        name: "adjuvant".into(),
        status: "completed".into(),
        enrolled_count: 300,
    };
    trials.insert(&t).await.unwrap();
    // A lock that blocks every read of the table keeps the first load waiting while all the
    // other callers arrive.
    let pool = conn.pool().unwrap();
    let mut locker = pool.begin().await.unwrap();
    sqlx::query("lock table trial in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    let before = loads();
    let mut callers = Vec::new();
    for _ in 0..32 {
        let trials = trials.clone();
        callers.push(tokio::spawn(
            async move { trials.find_one("NCT052219").await },
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        callers.iter().all(|c| !c.is_finished()),
        "the load waits for the lock"
    );
    locker.commit().await.unwrap();
    for c in callers {
        assert_eq!(c.await.unwrap().unwrap(), t);
    }
    assert_eq!(loads() - before, 1, "32 concurrent misses made one query");
    assert!(redis.get("cache:trial:id:NCT052219").is_some());
    support::drop_pg(conn, &name).await;
}
