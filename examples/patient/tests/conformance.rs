//! patient-api against its generated OpenAPI document and TypeScript client, judged by tools
//! nobody here wrote: schemathesis (PyPI) checks every response of the running service against
//! the document, and Node.js's test runner calls the service through the client compiled by
//! `tsc --strict`. `.ci/run` installs them (npm ones under `$RUSTCTL_TOOLS`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Starts `patient-api` with its own config on free ports; the base URL.
async fn start() -> (Service, String) {
    let (port, dev) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_patient-api"))
        .args(["-f", "etc/patient-api.yaml"])
        .current_dir(manifest_dir())
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
    let out = run(
        "schemathesis",
        &[
            "run",
            document.to_str().unwrap(),
            "--url",
            &base,
            "--checks",
            "all",
            // Undeclared methods: the built-in stack (rate limit, JWT) and the contract's
            // middlewares answer before method routing does, by design (docs/runtime.md).
            "--exclude-checks",
            "unsupported_method",
            "--max-examples",
            "50",
            // Deterministic (no example database written either): a failure reproduces.
            "--generation-deterministic",
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
    eprintln!("schemathesis, patient-api: {}", cases.trim());
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
        &[("CLIENT", compiled.to_str().unwrap()), ("BASE_URL", &base)],
        "apt-get install nodejs (Node.js 20 or later)",
    );
    assert!(node.status.success(), "node --test:\n{}", text(&node));
}
