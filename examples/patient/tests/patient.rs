//! The article's patient lookup, end to end: the real binary on a free port, a real HTTP client.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Service(Child);

impl Drop for Service {
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

/// Starts `patient-api` with its own config, on free ports.
async fn start() -> (Service, String) {
    let (port, dev) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_patient-api"))
        .args(["-f", "etc/patient-api.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATIENT_PORT", port.to_string())
        .env("PATIENT_DEV_PORT", dev.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/patient/1001")).await.is_err() {
        assert!(Instant::now() < deadline, "patient-api did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (Service(child), base)
}

#[tokio::test]
async fn known_unknown_and_malformed_ids() {
    let (_service, base) = start().await;

    let ok = reqwest::get(format!("{base}/patient/1001")).await.unwrap();
    assert_eq!(ok.status(), 200);
    let json: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": 1001, "name": "王女士", "trialId": "NCT045148", "isEnrolled": true})
    );

    let missing = reqwest::get(format!("{base}/patient/9999")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let json: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(json["msg"], "患者信息未找到");

    let malformed = reqwest::get(format!("{base}/patient/abc")).await.unwrap();
    assert_eq!(malformed.status(), 400);
    let json: serde_json::Value = malformed.json().await.unwrap();
    assert!(json["msg"].as_str().unwrap().contains("`id`"), "{json}");
}
