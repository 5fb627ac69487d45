//! `rustctl api openapi`, `api ts` and `api doc`: snapshots of what they write, the CLI as a
//! user runs it, and the verdict of tools nobody here wrote: `openapi-spec-validator` and
//! `@redocly/cli lint` on every document, `tsc --strict` on every client, for every contract of
//! the test corpus and the examples. `.ci/run` installs the tools (npm ones under
//! `$RUSTCTL_TOOLS`, by default `~/.cache/rustctl-tools`).

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every contract that validates: the corpus (valid, warnings, hostile) and the examples.
fn corpus() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["api/valid", "api/warn", "api/hostile"] {
        for entry in std::fs::read_dir(tests_dir().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "api") {
                out.push(path);
            }
        }
    }
    for example in ["patient/patient.api", "epro/epro.api", "trial/trial.api"] {
        out.push(tests_dir().join("../../examples").join(example));
    }
    out.push(tests_dir().join("consumers/shadowed.api"));
    out.sort();
    out
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// An npm tool installed by `.ci/run`, or one on PATH.
fn npm_tool(name: &str) -> PathBuf {
    let home = std::env::var_os("RUSTCTL_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rustctl-tools")
        });
    let installed = home.join("node_modules/.bin").join(name);
    if installed.exists() {
        installed
    } else {
        PathBuf::from(name)
    }
}

/// Runs a tool nobody here wrote; a missing tool fails with how to install it.
fn run_tool(mut cmd: Process, install: &str) -> std::process::Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run {program} ({e}): install it with `{install}` (.ci/run does)"),
    }
}

fn openapi(contract: &Path) -> String {
    let out = rustctl()
        .args(["api", "openapi", "--api"])
        .arg(contract)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn openapi_documents() {
    insta::glob!("api/valid/*.api", |path| {
        insta::assert_snapshot!(openapi(path));
    });
}

#[test]
fn ts_client_and_markdown_docs() {
    for contract in ["api/valid/all_features.api", "api/hostile/injection.api"] {
        let path = tests_dir().join(contract);
        let dir = tempfile::tempdir().unwrap();
        for (command, files) in [
            ("ts", vec!["types.ts".to_string(), "client.ts".to_string()]),
            ("doc", Vec::new()),
        ] {
            rustctl()
                .args(["api", command, "--api"])
                .arg(&path)
                .arg("--dir")
                .arg(dir.path())
                .assert()
                .success();
            let files = if files.is_empty() {
                let mut md: Vec<String> = std::fs::read_dir(dir.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".md"))
                    .collect();
                md.sort();
                md
            } else {
                files
            };
            for file in files {
                let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
                insta::assert_snapshot!(format!("{}__{file}", stem(&path)), text);
            }
        }
    }
}

/// Of two fields with one key, the one embedded least deep is the one on the wire (Go's rule):
/// one property, one parameter, one TypeScript member.
#[test]
fn an_embedded_field_is_shadowed_by_the_outer_one() {
    let contract = tests_dir().join("consumers/shadowed.api");
    let doc: serde_json::Value = serde_json::from_str(&openapi(&contract)).unwrap();
    let reply = &doc["components"]["schemas"]["RoleListResp"];
    assert_eq!(reply["properties"]["data"]["type"], "array", "{reply}");
    assert_eq!(
        reply["required"],
        serde_json::json!(["code", "msg", "data"])
    );
    let params = doc["paths"]["/roles"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let page: Vec<_> = params.iter().filter(|p| p["name"] == "page").collect();
    assert_eq!(page.len(), 1, "{params:?}");
    assert_eq!(page[0]["required"], true, "the outer `page` is required");

    let dir = tempfile::tempdir().unwrap();
    rustctl()
        .args(["api", "ts", "--api"])
        .arg(&contract)
        .arg("--dir")
        .arg(dir.path())
        .assert()
        .success();
    let types = std::fs::read_to_string(dir.path().join("types.ts")).unwrap();
    let reply = &types[types.find("interface RoleListResp").unwrap()..];
    let reply = &reply[..reply.find('}').unwrap()];
    assert_eq!(reply.matches("data").count(), 1, "{reply}");
    assert!(reply.contains("data: RoleInfo[];"), "{reply}");
}

/// `template init` writes the client and docs templates too, and `--home` overrides them.
#[test]
fn client_and_doc_templates_can_be_overridden() {
    let home = tempfile::tempdir().unwrap();
    rustctl()
        .args(["template", "init", "--home"])
        .arg(home.path())
        .assert()
        .success();
    for name in [
        "ts/types.ts.tera",
        "ts/client.ts.tera",
        "doc/service.md.tera",
    ] {
        assert!(home.path().join(name).is_file(), "{name} not written");
    }
    std::fs::write(
        home.path().join("doc/service.md.tera"),
        "# {{ title }} (house style)\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    rustctl()
        .args(["api", "doc", "--api"])
        .arg(tests_dir().join("../../examples/patient/patient.api"))
        .arg("--dir")
        .arg(out.path())
        .arg("--home")
        .arg(home.path())
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "using template override doc/service.md",
        ));
    let page = std::fs::read_to_string(out.path().join("patient-api.md")).unwrap();
    assert_eq!(page, "# 患者信息查询 (house style)\n");
}

#[test]
fn a_contract_with_errors_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = tests_dir().join("api/invalid/undefined_type.api");
    let out = dir.path().join("openapi.json");
    rustctl()
        .args(["api", "openapi", "--api"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("undefined_type.api:"))
        .stderr(predicates::str::contains("no document written"));
    assert!(!out.exists());
    for command in ["ts", "doc"] {
        rustctl()
            .args(["api", command, "--api"])
            .arg(&bad)
            .arg("--dir")
            .arg(dir.path().join(command))
            .assert()
            .code(1);
        assert!(!dir.path().join(command).exists());
    }
}

#[test]
fn connect_is_left_out_with_a_warning_naming_its_line() {
    let contract = tests_dir().join("api/valid/all_features.api");
    let text = std::fs::read_to_string(&contract).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("connect /users/connect"))
        .unwrap()
        + 1;
    let out = rustctl()
        .args(["api", "openapi", "--api"])
        .arg(&contract)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("all_features.api:{line}:"))
            && stderr.contains("OpenAPI 3.1 has no CONNECT operation"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("/users/connect"));
}

#[test]
fn openapi_output_file_check_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let contract = tests_dir().join("../../examples/patient/patient.api");
    let out = dir.path().join("openapi.json");
    let run = |extra: &[&str]| {
        let mut cmd = rustctl();
        cmd.args(["api", "openapi", "--api"])
            .arg(&contract)
            .arg("-o")
            .arg(&out)
            .args(extra);
        cmd.output().unwrap()
    };
    assert!(
        run(&["--check"]).status.code() == Some(1),
        "a missing file is drift"
    );
    assert!(!out.exists());
    assert!(run(&[]).status.success());
    assert!(run(&["--check"]).status.success());
    std::fs::write(&out, "{}").unwrap();
    let drift = run(&["--check"]);
    assert_eq!(drift.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&drift.stdout).contains("out of date"));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{}",
        "--check writes nothing"
    );

    let yaml = rustctl()
        .args([
            "api",
            "openapi",
            "--yaml",
            "--server",
            "http://api.test:1",
            "--api",
        ])
        .arg(&contract)
        .output()
        .unwrap();
    let yaml = String::from_utf8(yaml.stdout).unwrap();
    assert!(yaml.contains("openapi: \"3.1.0\""), "{yaml}");
    assert!(yaml.contains("http://api.test:1"), "{yaml}");

    // The YAML says what the JSON says, for hostile text too.
    let hostile = tests_dir().join("api/hostile/injection.api");
    let yaml = rustctl()
        .args(["api", "openapi", "--yaml", "--api"])
        .arg(&hostile)
        .output()
        .unwrap();
    let from_yaml: serde_json::Value =
        serde_saphyr::from_str(&String::from_utf8(yaml.stdout).unwrap()).unwrap();
    let from_json: serde_json::Value = serde_json::from_str(&openapi(&hostile)).unwrap();
    assert_eq!(from_yaml, from_json);
}

/// The examples carry their documents and clients; regenerating them must change nothing.
#[test]
fn examples_documents_are_in_sync_with_their_contracts() {
    let examples = tests_dir().join("../../examples");
    for (contract, dir, port) in [
        ("patient/patient.api", "patient", 8081),
        ("epro/epro.api", "epro", 8082),
        ("trial/trial.api", "trial/trial-api", 8888),
    ] {
        let api = examples.join(contract);
        let dir = examples.join(dir);
        let server = format!("http://127.0.0.1:{port}");
        let checks: [Vec<std::ffi::OsString>; 3] = [
            vec![
                "openapi".into(),
                "--server".into(),
                server.into(),
                "-o".into(),
                dir.join("openapi.json").into(),
            ],
            vec!["ts".into(), "--dir".into(), dir.join("client").into()],
            vec!["doc".into(), "--dir".into(), dir.join("docs").into()],
        ];
        for args in checks {
            let out = rustctl()
                .arg("api")
                .args(&args)
                .arg("--check")
                .arg("--api")
                .arg(&api)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{} is out of date with {contract}: run `rustctl api {}` (see docs/cli.md):\n{}",
                dir.display(),
                args[0].to_string_lossy(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

#[test]
fn validators_accept_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for contract in corpus() {
        let file = dir.path().join(format!("{}.json", stem(&contract)));
        std::fs::write(&file, openapi(&contract)).unwrap();
        files.push(file);
    }
    let mut validator = Process::new("openapi-spec-validator");
    validator.args(&files);
    let out = run_tool(validator, "pip install openapi-spec-validator");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused a document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut redocly = Process::new(npm_tool("redocly"));
    redocly
        .arg("lint")
        .arg("--config")
        .arg(tests_dir().join("consumers/redocly.yaml"))
        .args(&files)
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true");
    let out = run_tool(redocly, "npm install @redocly/cli@2.77.0");
    assert!(
        out.status.success(),
        "redocly lint found errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn typescript_clients_compile_strict() {
    let dir = tempfile::tempdir().unwrap();
    let mut clients = Vec::new();
    for contract in corpus() {
        let out = dir.path().join(stem(&contract));
        rustctl()
            .args(["api", "ts", "--api"])
            .arg(&contract)
            .arg("--dir")
            .arg(&out)
            .assert()
            .success();
        clients.push(out.join("client.ts"));
    }
    let mut tsc = Process::new(npm_tool("tsc"));
    tsc.args([
        "--strict",
        "--noEmit",
        "--target",
        "ES2022",
        "--module",
        "ES2022",
        "--moduleResolution",
        "bundler",
        "--lib",
        "ES2022,DOM",
    ])
    .args(&clients);
    let out = run_tool(tsc, "npm install typescript@5.9.3");
    assert!(
        out.status.success(),
        "tsc --strict refused a generated client:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
