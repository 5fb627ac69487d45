//! `trial-rpc` called by a gRPC client nobody here wrote: Python's `grpcio`, with stubs
//! compiled from `trial.proto` by `grpcio-tools` (`.ci/run` installs both from PyPI:
//! `pip install grpcio grpcio-tools grpcio-health-checking`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
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

#[test]
fn a_python_grpcio_client_calls_the_service_and_its_health_check() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools, grpc_health"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "this test needs Python with grpcio: pip install grpcio grpcio-tools grpcio-health-checking"
    );

    let (port, dev) = (free_port(), free_port());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_trial-rpc"))
            .args(["-f", "etc/trial.yaml"])
            .current_dir(dir)
            .env("TRIAL_RPC_PORT", port.to_string())
            .env("TRIAL_RPC_DEV_PORT", dev.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "trial-rpc did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(&python)
        .arg(dir.join("tests/python_client.py"))
        .arg(format!("127.0.0.1:{port}"))
        .arg(dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("python client: ok"));
}
