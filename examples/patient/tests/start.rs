//! What the generated `main` does with a command line or a config it cannot use: it refuses to
//! start, saying why, instead of running on the default config, without logs, or panicking.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// Runs `patient-api` with `args` until it exits (a server that started would serve until
/// killed: it gets a deadline); its status and stderr.
fn run(args: &[OsString]) -> (ExitStatus, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_patient-api"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATIENT_PORT", free_port().to_string())
        .env("PATIENT_DEV_PORT", free_port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut service = Service(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = service.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "patient-api started with {args:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(service.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn a_flag_without_a_file_is_refused() {
    for flag in ["-f", "--file", "-f="] {
        let (status, stderr) = run(&[flag.into()]);
        assert_eq!(status.code(), Some(1), "{flag}: {stderr}");
        assert!(stderr.contains("needs a value"), "{flag}: {stderr}");
    }
}

#[test]
fn an_unopenable_log_directory_is_refused() {
    // `Log.Path` below a regular file: no one, root included, can create it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("patient-start");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("not-a-dir"), "").unwrap();
    let logs = dir.join("not-a-dir/logs");
    let config = dir.join("patient-api.yaml");
    std::fs::write(
        &config,
        format!(
            "Name: patient-api\nHost: 127.0.0.1\nPort: ${{PATIENT_PORT}}\nLog:\n  Mode: file\n  Path: {}\n",
            logs.display()
        ),
    )
    .unwrap();
    let (status, stderr) = run(&["-f".into(), config.into()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Log.Path"), "{stderr}");
    assert!(stderr.contains(logs.to_str().unwrap()), "{stderr}");
}

#[cfg(unix)]
#[test]
fn arguments_that_are_not_unicode_do_not_panic() {
    use std::os::unix::ffi::OsStringExt;
    let missing = OsString::from_vec(b"etc/\xff-missing.yaml".to_vec());
    for args in [
        vec![OsString::from("-f"), missing.clone()],
        vec![OsString::from_vec(b"-f=etc/\xff-missing.yaml".to_vec())],
        vec![OsString::from_vec(b"--\xff".to_vec()), "-f".into(), missing],
    ] {
        let (status, stderr) = run(&args);
        assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        // The missing file is the one named, not the default config.
        assert!(stderr.contains("-missing.yaml"), "{args:?}: {stderr}");
    }
}
