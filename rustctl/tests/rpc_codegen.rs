//! The gRPC generator in-process: `.proto` files compiled with protox (no protoc), golden
//! snapshots of the templates' output, and located errors for broken files.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rustctl::codegen::rpc::plan;
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Options, RuntimeDep, Style};
use rustctl::proto;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/proto")
        .join(path)
}

fn options() -> Options {
    Options {
        style: Style::Snake,
        runtime: RuntimeDep::Path("../runtime".into()),
        standalone: true,
        port: 8080,
    }
}

fn snapshot_plan(name: &str, file: &Path, includes: &[PathBuf]) {
    let compiled = proto::compile(file, includes).unwrap();
    let rpc = proto::lower::lower(&compiled);
    let pb = proto::generate_code(&compiled).unwrap();
    let descriptor = prost::Message::encode_to_vec(&compiled.descriptors);
    let plan = plan(
        &rpc,
        &pb,
        &descriptor,
        &Templates::load(None).unwrap(),
        &options(),
    )
    .unwrap();
    let mut listing = String::new();
    for file in &plan.files {
        listing.push_str(&format!("{:?} {}\n", file.ownership, file.path.display()));
        // prost's and tonic's own output is theirs to test; the descriptor bytes are opaque.
        if file.path.starts_with("src/pb") || file.path.ends_with("lib.rs") {
            continue;
        }
        let key = file.path.display().to_string().replace('/', "__");
        insta::assert_snapshot!(format!("{name}__{key}"), file.contents);
    }
    insta::assert_snapshot!(format!("{name}__listing"), listing);
}

#[test]
fn the_articles_trial_proto() {
    let trial = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/trial/trial.proto");
    snapshot_plan("trial", &trial, &[]);
}

#[test]
fn streaming_of_all_four_kinds_well_known_types_and_two_services() {
    snapshot_plan("streams", &fixture("valid/streams.proto"), &[]);
}

/// Generated crates forbid unsafe code: on their own through `[lints.rust]`, inside rustctl's
/// workspace through its lints.
#[test]
fn generated_crates_forbid_unsafe_code() {
    let compiled = proto::compile(&fixture("valid/streams.proto"), &[]).unwrap();
    let rpc = proto::lower::lower(&compiled);
    let pb = proto::generate_code(&compiled).unwrap();
    let descriptor = prost::Message::encode_to_vec(&compiled.descriptors);
    let templates = Templates::load(None).unwrap();
    for standalone in [true, false] {
        let options = Options {
            standalone,
            ..options()
        };
        let plan = plan(&rpc, &pb, &descriptor, &templates, &options).unwrap();
        let cargo = plan
            .files
            .iter()
            .find(|f| f.path == Path::new("Cargo.toml"))
            .unwrap();
        let want = if standalone {
            "\n[lints.rust]\nunsafe_code = \"forbid\"\n"
        } else {
            "\n[lints]\nworkspace = true\n"
        };
        assert!(cargo.contents.contains(want), "{}", cargo.contents);
    }
}

#[test]
fn imports_resolve_against_the_file_and_include_paths() {
    let compiled = proto::compile(&fixture("valid/imports.proto"), &[]).unwrap();
    let rpc = proto::lower::lower(&compiled);
    assert_eq!(
        rpc.services[0].methods[0].input.in_lib(),
        "pb::orders::ListOrdersRequest"
    );
    let pb = proto::generate_code(&compiled).unwrap();
    let names: Vec<&str> = pb.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["mod.rs", "orders.rs", "shared.rs"]);
    assert!(pb[1].1.contains("super::shared::Page"), "{}", pb[1].1);
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let err = proto::compile(&fixture("invalid/syntax.proto"), &[]).unwrap_err();
    let rendered = err.render(false);
    assert!(rendered.contains("syntax.proto:7:1:"), "{rendered}");
    assert!(rendered.contains("string id = 1"), "{rendered}");
}

#[test]
fn an_unknown_type_is_located() {
    let err = proto::compile(&fixture("invalid/unknown_type.proto"), &[]).unwrap_err();
    let rendered = err.render(false);
    assert!(rendered.contains("unknown_type.proto:6:3:"), "{rendered}");
    assert!(rendered.contains("Missing"), "{rendered}");
}

#[test]
fn the_cli_reports_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("rustctl")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(["rpc", "protoc"])
        .arg(fixture("invalid/missing_import.proto"))
        .arg("--out")
        .arg(dir.path().join("svc"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("nowhere/else.proto")
                .and(predicate::str::contains("not generated")),
        );
    assert!(!dir.path().join("svc").exists());
}

#[test]
fn rpc_regeneration_keeps_logic_and_check_detects_drift() {
    let dir = tempfile::tempdir().unwrap();
    let proto_file = dir.path().join("greet.proto");
    std::fs::write(&proto_file, "syntax = \"proto3\";\npackage greet;\nmessage Req { string name = 1; }\nmessage Resp { string msg = 1; }\nservice Greeter {\n  rpc Hello(Req) returns (Resp);\n}\n").unwrap();
    let svc = dir.path().join("svc");
    let run = |check: bool| {
        let mut cmd = Command::cargo_bin("rustctl").unwrap();
        cmd.args(["rpc", "protoc"])
            .arg(&proto_file)
            .arg("--out")
            .arg(&svc);
        if check {
            cmd.arg("--check");
        }
        cmd
    };
    run(false).assert().success();
    let logic = svc.join("src/logic/greeter/hello.rs");
    let mine = std::fs::read_to_string(&logic).unwrap().replace(
        "Ok(Default::default())",
        "Ok(pb::greet::Resp { msg: req.name })",
    );
    std::fs::write(&logic, &mine).unwrap();
    run(true).assert().success();
    std::fs::write(
        &proto_file,
        std::fs::read_to_string(&proto_file).unwrap().replace(
            "rpc Hello(Req) returns (Resp);",
            "rpc Hello(Req) returns (Resp);\n  rpc Bye(Req) returns (Resp);",
        ),
    )
    .unwrap();
    run(true)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("would create").and(predicate::str::contains("bye.rs")));
    run(false).assert().success();
    assert_eq!(std::fs::read_to_string(&logic).unwrap(), mine);
    assert!(svc.join("src/logic/greeter/bye.rs").exists());
    run(true).assert().success();
}

/// `src/pb` is wholly generated: a file there the plan does not hold (a package that left the
/// contract) is obsolete, as is a server file with rustctl's header; `--prune` deletes both.
#[test]
fn obsolete_generated_rpc_files_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let svc = dir.path().join("svc");
    let protoc = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("rustctl").unwrap();
        cmd.env("NO_COLOR", "1")
            .args(["rpc", "protoc"])
            .arg(fixture("valid/streams.proto"))
            .arg("--out")
            .arg(&svc)
            .args(extra);
        cmd
    };
    protoc(&[]).assert().success();
    std::fs::write(
        svc.join("src/pb/gone.rs"),
        "// prost output of a removed package\n",
    )
    .unwrap();
    std::fs::write(
        svc.join("src/server/gone.rs"),
        "// Code generated by rustctl. DO NOT EDIT.\n",
    )
    .unwrap();
    protoc(&["--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("src/pb/gone.rs"))
        .stdout(predicate::str::contains("src/server/gone.rs"));
    protoc(&["--prune"]).assert().success();
    assert!(!svc.join("src/pb/gone.rs").exists());
    assert!(!svc.join("src/server/gone.rs").exists());
    protoc(&["--check"]).assert().success();
}
