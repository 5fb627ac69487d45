//! epro-api against its generated OpenAPI document and TypeScript client, judged by tools
//! nobody here wrote: schemathesis (PyPI) checks every response of the running service against
//! the document, and Node.js's test runner calls the service through the client compiled by
//! `tsc --strict`. `.ci/run` installs them (npm ones under `$RUSTCTL_TOOLS`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The JWT secret of this run: made up at run time, as the example ships none.
const SECRET: &str = "epro-conformance-secret";

/// A token the service accepts, for `doctor-42`.
fn token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "doctor-42", "role": "investigator", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
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

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Starts `epro-api` with its own config on free ports; the base URL.
async fn start() -> (Service, String) {
    let (port, dev) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_epro-api"))
        .args(["-f", "etc/epro-api.yaml"])
        .current_dir(manifest_dir())
        .env("EPRO_PORT", port.to_string())
        .env("EPRO_DEV_PORT", dev.to_string())
        .env("EPRO_ACCESS_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/epro/v1/export"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "epro-api did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (Service(child), base)
}

/// A tool nobody here wrote: npm ones from `$RUSTCTL_TOOLS` (default ~/.cache/rustctl-tools),
/// others from PATH. A missing tool fails with how to install it.
fn run(program: &str, args: &[&str], dir: &Path, envs: &[(&str, &str)], install: &str) -> Output {
    let tools = std::env::var_os("RUSTCTL_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rustctl-tools")
        });
    let npm = tools.join("node_modules/.bin").join(program);
    let program = if npm.exists() {
        npm
    } else {
        PathBuf::from(program)
    };
    Command::new(&program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): `{install}` (.ci/run does)",
                program.display()
            )
        })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn schemathesis_finds_the_service_true_to_its_document() {
    let (_service, base) = start().await;
    let work = tempfile::tempdir().unwrap();
    let document = manifest_dir().join("openapi.json");
    let bearer = format!("Authorization: Bearer {}", token());
    let config = manifest_dir().join("tests/schemathesis.toml");
    let out = run(
        "schemathesis",
        &[
            "--config-file",
            config.to_str().unwrap(),
            "run",
            document.to_str().unwrap(),
            "--url",
            &base,
            "--max-examples",
            "50",
            // Deterministic (no example database written either): a failure reproduces.
            "--generation-deterministic",
            // Credentials, so that cases reach logic past JWT and the AdminOnly middleware;
            // schemathesis still checks a route refuses a request without them.
            "-H",
            &bearer,
            "-H",
            "X-User-Role: admin",
        ],
        work.path(),
        &[],
        "pip install schemathesis==4.32.5",
    );
    let report = text(&out);
    assert!(out.status.success(), "schemathesis:\n{report}");
    let cases = report
        .lines()
        .find(|l| l.contains(" generated"))
        .unwrap_or("no case count");
    eprintln!("schemathesis, epro-api: {}", cases.trim());
}

#[tokio::test]
async fn the_typescript_client_calls_the_running_service() {
    let (_service, base) = start().await;
    let out_dir = tempfile::tempdir().unwrap();
    let client = manifest_dir().join("client/client.ts");
    let tsc = run(
        "tsc",
        &[
            "--strict",
            "--target",
            "ES2022",
            "--module",
            "ES2022",
            "--moduleResolution",
            "bundler",
            "--lib",
            "ES2022,DOM",
            "--outDir",
            out_dir.path().to_str().unwrap(),
            client.to_str().unwrap(),
        ],
        manifest_dir(),
        &[],
        "npm install typescript@5.9.3",
    );
    assert!(tsc.status.success(), "tsc:\n{}", text(&tsc));
    std::fs::write(out_dir.path().join("package.json"), r#"{"type":"module"}"#).unwrap();
    let compiled = out_dir.path().join("client.js");
    let node = run(
        "node",
        &["--test", "tests/client.test.mjs"],
        manifest_dir(),
        &[
            ("CLIENT", compiled.to_str().unwrap()),
            ("BASE_URL", &base),
            ("TOKEN", &token()),
        ],
        "apt-get install nodejs (Node.js 20 or later)",
    );
    assert!(node.status.success(), "node --test:\n{}", text(&node));
}

/// The document's facts hold both ways: a value it calls invalid is a 400 naming the field,
/// the edge it calls valid is accepted. The limits are read from the document, not restated.
#[tokio::test]
async fn schema_facts_hold_both_ways() {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest_dir().join("openapi.json")).unwrap(),
    )
    .unwrap();
    let submit = &document["paths"]["/epro/v1/questionnaires"]["post"];
    let body = &submit["requestBody"]["content"]["application/json"]["schema"];
    let score = &body["properties"]["painScore"];
    let (min, max) = (
        score["minimum"].as_i64().unwrap(),
        score["maximum"].as_i64().unwrap(),
    );
    let required: Vec<&str> = body["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(required.contains(&"patientId") && required.contains(&"painScore"));
    let format = &document["paths"]["/epro/v1/export"]["get"]["parameters"][0];
    assert_eq!(format["name"], "format");
    let allowed: Vec<&str> = format["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    let (_service, base) = start().await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        let client = client.clone();
        let url = format!("{base}/epro/v1/questionnaires");
        async move {
            let resp = client.post(url).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    for ok in [min, max] {
        let (status, reply) = post(json!({"patientId": "P-1", "painScore": ok})).await;
        assert!(
            (200..300).contains(&status),
            "painScore {ok}: {status} {reply}"
        );
    }
    for bad in [min - 1, max + 1] {
        let (status, reply) = post(json!({"patientId": "P-1", "painScore": bad})).await;
        assert_eq!(status, 400, "painScore {bad}: {reply}");
        assert!(
            reply["msg"].as_str().unwrap().contains("`painScore`"),
            "{reply}"
        );
    }
    for field in &required {
        let mut body = json!({"patientId": "P-1", "painScore": min});
        body.as_object_mut().unwrap().remove(*field);
        let (status, reply) = post(body).await;
        assert_eq!(status, 400, "without {field}: {reply}");
        assert!(
            reply["msg"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{reply}"
        );
    }
    // The enum's values are plain words: nothing to percent-encode.
    let export = |format: String| {
        let client = client.clone();
        let url = format!("{base}/epro/v1/export?format={format}");
        async move {
            let resp = client
                .get(url)
                .header("X-User-Role", "admin")
                .send()
                .await
                .unwrap();
            // `csv` answers CSV: only error bodies are read as JSON.
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
            )
        }
    };
    for value in &allowed {
        let (status, _) = export(value.to_string()).await;
        assert_eq!(status, 200, "format={value}");
    }
    let (status, reply) = export(format!("{}-not", allowed[0])).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("`format`"),
        "{reply}"
    );
}
