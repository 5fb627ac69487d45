//! ePRO end to end: the real binary on free ports, a real HTTP client.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The JWT secret of this test run: made up at run time, as the example ships none.
fn secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("epro-test-{nanos:x}-{:x}", std::process::id())
    })
}

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

async fn start() -> (Service, String) {
    let (port, dev) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_epro-api"))
        .args(["-f", "etc/epro-api.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("EPRO_PORT", port.to_string())
        .env("EPRO_DEV_PORT", dev.to_string())
        .env("EPRO_ACCESS_SECRET", secret())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/epro/v1");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/export")).await.is_err() {
        assert!(Instant::now() < deadline, "epro-api did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (Service(child), base)
}

async fn submit(base: &str, body: Value) -> (u16, Value, Duration) {
    let (status, body, elapsed, _) = submit_at(base, body).await;
    (status, body, elapsed)
}

/// Also the `Location` a created submission answers with.
async fn submit_at(base: &str, body: Value) -> (u16, Value, Duration, Option<String>) {
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{base}/questionnaires"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let location = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap(), elapsed, location)
}

#[tokio::test]
async fn the_three_tasks_run_at_once_and_each_reports() {
    let (_service, base) = start().await;

    // Tasks take 100, 50 and 150 ms: together about the slowest, never the sum (300 ms).
    let (status, body, elapsed, location) = submit_at(
        &base,
        json!({"patientId": "P-1001", "patientName": "张三", "painScore": 8}),
    )
    .await;
    // Logic answers `Reply::created(..).location(..)`: 201 and where the submission lives.
    assert_eq!(status, 201, "{body}");
    let id = body["submissionId"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/epro/v1/questionnaires/{id}")));
    assert_eq!(body["complete"], true, "{body}");
    assert_eq!(body["alerted"], true, "pain 8 > threshold 7: {body}");
    let tasks = body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(tasks.iter().all(|t| t["ok"] == true), "{body}");
    let server_ms = body["elapsedMs"].as_i64().unwrap();
    assert!(
        (140..280).contains(&server_ms),
        "took {server_ms} ms: not concurrent? {body}"
    );
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");

    let (_, body, _) = submit(&base, json!({"patientId": "P-1002", "painScore": 3})).await;
    assert_eq!(body["alerted"], false, "{body}");

    // One task fails: the failure is reported, the other tasks still ran and report too.
    let (status, body, _) = submit(&base, json!({"patientId": " ", "painScore": 9})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["complete"], false, "{body}");
    let tasks = body["tasks"].as_array().unwrap();
    let store = tasks.iter().find(|t| t["task"] == "store").unwrap();
    assert_eq!(store["ok"], false);
    assert!(
        store["detail"]
            .as_str()
            .unwrap()
            .contains("patientId is empty")
    );
    assert!(
        tasks.iter().filter(|t| t["ok"] == true).count() == 2,
        "{body}"
    );

    // The contract's range=[0:10]: a 400 naming the field.
    let (status, body, _) = submit(&base, json!({"patientId": "P-1", "painScore": 11})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("painScore"),
        "{body}"
    );
}

#[tokio::test]
async fn export_is_for_admins_only() {
    let (_service, base) = start().await;
    submit(&base, json!({"patientId": "P-7", "painScore": 2})).await;
    let client = reqwest::Client::new();

    let denied = client.get(format!("{base}/export")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let denied = client
        .get(format!("{base}/export"))
        .header("X-User-Role", "doctor")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    let ok = client
        .get(format!("{base}/export"))
        .header("X-User-Role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["format"], "json", "default=json: {body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["patientRef"].as_str().unwrap().starts_with("anon-"),
        "de-identified: {body}"
    );
    assert!(
        !body.to_string().contains("P-7"),
        "the patient id must not leak: {body}"
    );

    // `?format=csv`: the same rows as a CSV file to download.
    let csv = client
        .get(format!("{base}/export?format=csv"))
        .header("X-User-Role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers()["content-disposition"],
        "attachment; filename=\"epro-export.csv\""
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "submissionId,patientRef,painScore");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains(",anon-") && lines[1].ends_with(",2"),
        "{text}"
    );
}

#[tokio::test]
async fn the_jwt_group_needs_a_valid_token() {
    let (_service, base) = start().await;
    let client = reqwest::Client::new();
    let missing = client.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = json!({"sub": "doctor-42", "role": "investigator", "exp": exp});
    let sign = |secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let forged = client
        .get(format!("{base}/me"))
        .bearer_auth(sign("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let ok = client
        .get(format!("{base}/me"))
        .bearer_auth(sign(secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(
        body,
        json!({"subject": "doctor-42", "role": "investigator"})
    );
}

#[test]
fn the_config_ships_no_jwt_secret() {
    let child = Command::new(env!("CARGO_BIN_EXE_epro-api"))
        .args(["-f", "etc/epro-api.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("EPRO_PORT", free_port().to_string())
        .env("EPRO_DEV_PORT", free_port().to_string())
        .env_remove("EPRO_ACCESS_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that started would serve until killed (on drop): give it a deadline.
    let mut service = Service(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = service.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "epro-api started without EPRO_ACCESS_SECRET"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(service.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("EPRO_ACCESS_SECRET"), "{stderr}");
}
