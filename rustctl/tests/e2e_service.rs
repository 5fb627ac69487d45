//! Generated services, built and run as a user would: `rustctl api new`, `cargo build`, start
//! the binary, call it over HTTP. Builds share one target directory (`target/e2e` in the
//! workspace) so the runtime's dependencies compile once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn shared_target() -> PathBuf {
    workspace().join("target/e2e")
}

fn rustctl(args: &[&str], cwd: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_rustctl"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rustctl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs cargo in `dir` with the shared target directory; returns stderr on success.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cargo {args:?} failed in {}:\n{stderr}",
        dir.display()
    );
    stderr
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rest = String::new();
    reader.read_to_string(&mut rest)?;
    let body = rest
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn api_new_builds_runs_and_answers_its_route() {
    let tmp = tempfile::tempdir().unwrap();
    rustctl(&["api", "new", "greet", "--dir", "."], tmp.path());
    let svc = tmp.path().join("greet");
    let stderr = cargo(&svc, &["build", "--quiet"]);
    assert!(
        !stderr.contains("warning"),
        "the fresh service must build without warnings:\n{stderr}"
    );

    let port = free_port();
    std::fs::write(
        svc.join("etc/test.yaml"),
        format!("Name: greet-api\nHost: 127.0.0.1\nPort: {port}\nLog:\n  Mode: console\nDevServer:\n  Enabled: false\n"),
    )
    .unwrap();
    let child = Command::new(shared_target().join("debug/greet-api"))
        .args(["-f", "etc/test.yaml"])
        .current_dir(&svc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        match get(port, "/from/you") {
            Ok(answer) => break answer,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("the service did not answer on port {port}: {e}"),
        }
    };
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json, serde_json::json!({ "message": "" }));

    // `options=you|me` on the path parameter: anything else is a 400 naming the field.
    let (status, body) = get(port, "/from/bob").unwrap();
    assert_eq!(status, 400, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["msg"].as_str().unwrap().contains("name"), "{json}");
}

#[test]
fn a_contract_using_every_feature_compiles_without_warnings_and_passes_clippy() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/valid/all_features.api");
    rustctl(
        &["api", "go", "--api", api.to_str().unwrap(), "--dir", "svc"],
        tmp.path(),
    );
    let svc = tmp.path().join("svc");
    cargo(
        &svc,
        &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
    );
    let fmt = Command::new(env!("CARGO"))
        .args(["fmt", "--check"])
        .current_dir(&svc)
        .output()
        .unwrap();
    assert!(
        fmt.status.success(),
        "{}",
        String::from_utf8_lossy(&fmt.stdout)
    );
}

/// Middlewares are wired by their functions, not by name: a middleware the contract names
/// whose `handle` is gone fails `cargo check` (at `routes.rs`), not the service's start-up.
#[test]
fn a_missing_middleware_is_a_compile_error() {
    let tmp = tempfile::tempdir().unwrap();
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/valid/all_features.api");
    rustctl(
        &["api", "go", "--api", api.to_str().unwrap(), "--dir", "svc"],
        tmp.path(),
    );
    let svc = tmp.path().join("svc");
    let file = svc.join("src/middleware/rate_log.rs");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("pub async fn handle("), "{text}");
    std::fs::write(
        &file,
        text.replace("pub async fn handle(", "pub async fn renamed("),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--message-format=short"])
        .current_dir(&svc)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "builds without the middleware:\n{stderr}"
    );
    assert!(
        stderr.contains("src/routes.rs")
            && stderr.contains("`handle` in module `crate::middleware::rate_log`"),
        "the error names the route table's use of the middleware:\n{stderr}"
    );
}

#[test]
fn grpc_services_with_every_streaming_kind_compile_without_warnings_and_pass_clippy() {
    let tmp = tempfile::tempdir().unwrap();
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proto/valid/streams.proto");
    rustctl(
        &["rpc", "protoc", proto.to_str().unwrap(), "--out", "streams"],
        tmp.path(),
    );
    rustctl(&["rpc", "new", "pinger", "--dir", "."], tmp.path());
    for svc in ["streams", "pinger"] {
        let dir = tmp.path().join(svc);
        cargo(
            &dir,
            &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
        );
        let fmt = Command::new(env!("CARGO"))
            .args(["fmt", "--check"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            fmt.status.success(),
            "{svc}: {}",
            String::from_utf8_lossy(&fmt.stdout)
        );
    }
}

/// Contracts full of Rust keywords and of text that would be code if pasted raw
/// (tests/hostile.rs): the services they generate compile without warnings.
#[test]
fn hostile_contracts_generate_services_that_compile_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let api = tests.join("api/hostile/injection.api");
    let proto = tests.join("proto/valid/keywords.proto");
    for style in ["snake", "lower"] {
        let api_dir = format!("api-{style}");
        let rpc_dir = format!("rpc-{style}");
        rustctl(
            &[
                "api",
                "go",
                "--style",
                style,
                "--api",
                api.to_str().unwrap(),
                "--dir",
                &api_dir,
            ],
            tmp.path(),
        );
        let proto = proto.to_str().unwrap();
        rustctl(
            &["rpc", "protoc", "--style", style, proto, "--out", &rpc_dir],
            tmp.path(),
        );
        for dir in [api_dir, rpc_dir] {
            cargo(
                &tmp.path().join(dir),
                &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
            );
        }
    }
}
