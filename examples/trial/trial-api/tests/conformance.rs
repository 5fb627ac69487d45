//! trial-api (with the trial-rpc it calls) against its generated OpenAPI document, judged by
//! schemathesis (PyPI): no server error, every response of its documented status and schema,
//! requests the document calls valid accepted and invalid ones refused. `.ci/run` installs it.
//!
//! Needs the `trial-rpc` binary next to this test's: `cargo test --workspace` builds it (or run
//! `cargo build -p trial-rpc` first).

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

#[tokio::test]
async fn schemathesis_finds_the_service_true_to_its_document() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (rpc_port, rpc_dev, api_port, api_dev, prom) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let _rpc = Process(
        Command::new(trial_rpc_binary())
            .args(["-f", "etc/trial.yaml"])
            .current_dir(here.parent().unwrap().join("trial-rpc"))
            .env("TRIAL_RPC_PORT", rpc_port.to_string())
            .env("TRIAL_RPC_DEV_PORT", rpc_dev.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _api = Process(
        Command::new(env!("CARGO_BIN_EXE_trial-api"))
            .current_dir(here)
            .env("TRIAL_RPC_PORT", rpc_port.to_string())
            .env("TRIAL_API_PORT", api_port.to_string())
            .env("TRIAL_API_DEV_PORT", api_dev.to_string())
            .env("TRIAL_API_PROMETHEUS_PORT", prom.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for health in [
        format!("http://127.0.0.1:{rpc_dev}/healthz"),
        format!("http://127.0.0.1:{api_dev}/healthz"),
    ] {
        while !reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "{health} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let work = tempfile::tempdir().unwrap();
    let document = here.join("openapi.json");
    let base = format!("http://127.0.0.1:{api_port}");
    let out = Command::new("schemathesis")
        .args(["run", document.to_str().unwrap(), "--url", &base])
        .args(["--checks", "all"])
        // Undeclared methods: the built-in stack answers before method routing does, by design.
        .args(["--exclude-checks", "unsupported_method"])
        .args(["--max-examples", "50", "--generation-deterministic"])
        .current_dir(work.path())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run schemathesis ({e}): `pip install schemathesis==4.32.5` (.ci/run does)"
            )
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis:\n{report}");
    let cases = report
        .lines()
        .find(|l| l.contains(" generated"))
        .unwrap_or("no case count");
    eprintln!("schemathesis, trial-api: {}", cases.trim());
}
