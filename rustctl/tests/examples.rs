//! The examples are generated from their contracts and committed: regenerating them must change
//! nothing (`--check`), so a contract edit without regeneration fails CI.

use std::path::Path;

use assert_cmd::Command;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `(contract, service directory)` for each generated example.
const API_EXAMPLES: &[(&str, &str)] = &[
    ("patient/patient.api", "patient"),
    ("epro/epro.api", "epro"),
    ("trial/trial.api", "trial/trial-api"),
];

/// `(proto, service directory)` for each generated gRPC example.
const RPC_EXAMPLES: &[(&str, &str)] = &[("trial/trial.proto", "trial/trial-rpc")];

#[test]
fn every_example_is_in_sync_with_its_contract() {
    for (contract, dir) in API_EXAMPLES {
        let out = Command::cargo_bin("rustctl")
            .unwrap()
            .env("NO_COLOR", "1")
            .args(["api", "go", "--check", "--api"])
            .arg(examples().join(contract))
            .arg("--dir")
            .arg(examples().join(dir))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "examples/{dir} is out of date with {contract}; run `rustctl api go`:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for (proto, dir) in RPC_EXAMPLES {
        let out = Command::cargo_bin("rustctl")
            .unwrap()
            .env("NO_COLOR", "1")
            .args(["rpc", "protoc", "--check"])
            .arg(examples().join(proto))
            .arg("--out")
            .arg(examples().join(dir))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "examples/{dir} is out of date with {proto}; run `rustctl rpc protoc`:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
