//! The examples are generated from their contracts and committed: regenerating them must change
//! nothing (`--check`), so a contract edit without regeneration fails CI. Also what the
//! workspace's manifests promise about every member: its lints and its `rust-version`.

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

/// Every crate of the workspace (the examples included) inherits its lints, and they forbid
/// unsafe code.
#[test]
fn every_workspace_member_forbids_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &Path| -> toml::Table {
        let text = std::fs::read_to_string(path).unwrap();
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let workspace = read(&root.join("Cargo.toml"));
    assert_eq!(
        workspace["workspace"]["lints"]["rust"]["unsafe_code"].as_str(),
        Some("forbid")
    );
    let members = workspace["workspace"]["members"].as_array().unwrap();
    for dir in ["patient", "epro", "trial/trial-api", "trial/trial-rpc"] {
        let member = format!("examples/{dir}");
        assert!(
            members.iter().any(|m| m.as_str() == Some(&member)),
            "{member} is not a workspace member"
        );
    }
    for member in members {
        let manifest = root.join(member.as_str().unwrap()).join("Cargo.toml");
        let lints = read(&manifest).get("lints").cloned();
        assert_eq!(
            lints.as_ref().and_then(|l| l.get("workspace")),
            Some(&toml::Value::Boolean(true)),
            "{}: needs `[lints] workspace = true`",
            manifest.display()
        );
    }
}

/// The workspace's `rust-version` is one the code and every locked dependency build with: at
/// least 1.88 (let chains) and at least each dependency's own `rust-version`.
#[test]
fn the_declared_rust_version_covers_every_dependency() {
    let version = |v: &str| -> Vec<u32> {
        let mut parts: Vec<u32> = v.split('.').map(|n| n.parse().unwrap()).collect();
        parts.resize(3, 0);
        parts
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members = metadata["workspace_members"].as_array().unwrap();
    let mut declared = None;
    let mut needed = (version("1.88"), "let chains".to_owned());
    for package in metadata["packages"].as_array().unwrap() {
        let Some(v) = package["rust_version"].as_str() else {
            continue;
        };
        let name = package["name"].as_str().unwrap();
        if members.contains(&package["id"]) {
            if name == "rustctl-runtime" || name == "rustctl" {
                assert_eq!(*declared.get_or_insert(v), v, "{name}");
            }
        } else if version(v) > needed.0 {
            needed = (version(v), format!("{name} {}", package["version"]));
        }
    }
    let declared = declared.expect("rustctl and rustctl-runtime declare a rust-version");
    assert!(
        version(declared) >= needed.0,
        "rust-version {declared} is older than {:?}, which {} needs",
        needed.0,
        needed.1
    );
}
