//! The article's trial platform end to end: `trial-rpc` and `trial-api` as real processes on
//! free ports, called over HTTP as a browser would.
//!
//! Needs the `trial-rpc` binary next to this test's: `cargo test --workspace` builds it (or run
//! `cargo build -p trial-rpc` first).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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

/// `target/<profile>/trial-rpc`, next to the directory holding this test binary.
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

struct Platform {
    _rpc: Process,
    _api: Process,
    api: String,
    api_dev: String,
    rpc_dev: String,
    rpc_log: PathBuf,
    _logs: tempfile::TempDir,
}

/// Starts both services; `quota` is trial-api's `Limit.Quota` per second.
async fn start(quota: u32) -> Platform {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let logs = tempfile::tempdir().unwrap();
    let (rpc_port, rpc_dev, api_port, api_dev, prom) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let rpc_log = logs.path().join("trial-rpc.log");
    let rpc = Command::new(trial_rpc_binary())
        .args(["-f", "etc/trial.yaml"])
        .current_dir(examples.join("trial-rpc"))
        .env("TRIAL_RPC_PORT", rpc_port.to_string())
        .env("TRIAL_RPC_DEV_PORT", rpc_dev.to_string())
        .stdout(Stdio::from(File::create(&rpc_log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = Command::new(env!("CARGO_BIN_EXE_trial-api"))
        .current_dir(examples.join("trial-api"))
        .env("TRIAL_RPC_PORT", rpc_port.to_string())
        .env("TRIAL_API_PORT", api_port.to_string())
        .env("TRIAL_API_DEV_PORT", api_dev.to_string())
        .env("TRIAL_API_PROMETHEUS_PORT", prom.to_string())
        .env("TRIAL_API_LIMIT_QUOTA", quota.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let platform = Platform {
        _rpc: Process(rpc),
        _api: Process(api),
        api: format!("http://127.0.0.1:{api_port}"),
        api_dev: format!("http://127.0.0.1:{api_dev}"),
        rpc_dev: format!("http://127.0.0.1:{rpc_dev}"),
        rpc_log,
        _logs: logs,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    for health in [
        format!("{}/healthz", platform.rpc_dev),
        format!("{}/healthz", platform.api_dev),
    ] {
        while !reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "{health} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    platform
}

#[tokio::test]
async fn trials_answer_with_the_articles_json_and_the_trace_crosses_services() {
    let p = start(1000).await;
    let client = reqwest::Client::new();

    let resp = client
        .get(format!("{}/trial/NCT045148", p.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": "NCT045148", "name": "一项评估XXX药物有效性的III期临床研究", "status": "招募中", "enrolledCount": 152})
    );
    let body: Value = client
        .get(format!("{}/trial/NCT052219", p.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["enrolledCount"], 300);
    assert_eq!(body["status"], "已完成");

    // gRPC NotFound from trial-rpc → 404 with a JSON error.
    let resp = client
        .get(format!("{}/trial/NCT000000", p.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["msg"], "临床试验项目未找到");

    // A caller's W3C trace id reaches trial-rpc's log lines for the same call; so do the
    // `x-caller` metadata trial-api's logic sends and the deadline the call inherits (the
    // logic of trial-rpc logs both from its request context).
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = client
        .get(format!("{}/trial/NCT052219", p.api))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&p.rpc_log).unwrap_or_default();
        if log.lines().any(|l| {
            l.contains(&format!("trace={trace_id}"))
                && l.contains("NCT052219")
                && l.contains("trial-api")
                && l.contains("left_ms=Some(")
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "trace id {trace_id} not in trial-rpc's log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both metrics endpoints list the calls.
    let api_metrics = reqwest::get(format!("{}/metrics", p.api_dev))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        api_metrics
            .lines()
            .any(|l| l.starts_with("http_server_requests_code_total")
                && l.contains("trial")
                && l.contains("code=\"404\"")),
        "{api_metrics}"
    );
    let rpc_metrics = reqwest::get(format!("{}/metrics", p.rpc_dev))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rpc_metrics
            .lines()
            .any(|l| l.starts_with("rpc_server_requests_code_total") && l.contains("getTrialInfo")),
        "{rpc_metrics}"
    );
}

#[tokio::test]
async fn exceeding_the_quota_is_429() {
    let p = start(3).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let resp = client
            .get(format!("{}/trial/NCT045148", p.api))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert!(
                resp.headers().contains_key("retry-after"),
                "429 without Retry-After"
            );
        }
        statuses.push(resp.status().as_u16());
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "a quota of 3 per second let 10 quick requests through: {statuses:?}"
    );
}
