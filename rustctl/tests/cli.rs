//! The CLI as a user runs it: the real binary, real files in a temp directory.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

const UNFORMATTED: &str = "syntax=\"v1\"\ntype Req{\nName string `json:\"name\"` // kept\n    Age int `json:\"age\"`\n}\nservice a-api{\n@handler a\npost /a(Req)\n}\n";

#[test]
fn version_and_help() {
    rustctl()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    rustctl()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("api"));
    rustctl()
        .args(["api", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("validate").and(predicate::str::contains("format")));
}

#[test]
fn validate_accepts_the_trial_contract() {
    let trial = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/trial/trial.api");
    rustctl()
        .args(["api", "validate", "--api"])
        .arg(&trial)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok (1 file(s), 2 type(s), 1 route(s), 0 warning(s))",
        ));
}

#[test]
fn validate_rejects_with_location_source_line_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.api");
    std::fs::write(&file, "type Req {\n\tUser Profile `json:\"user\"`\n}\n\nservice a-api {\n\t@handler a\n\tpost /a (Req)\n}\n").unwrap();
    rustctl()
        .current_dir(dir.path())
        .args(["api", "validate", "--api", "bad.api"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("bad.api:2:7: undefined type `Profile`")
                .and(
                    predicate::str::contains("\tUser Profile `json:\"user\"`")
                        .or(predicate::str::contains("User Profile `json:\"user\"`")),
                )
                .and(predicate::str::contains("───────"))
                .and(predicate::str::contains("1 error(s)")),
        );
}

#[test]
fn validate_reports_several_syntax_errors_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.api"),
        "type A {\n\tX int json\n}\n\ntype B {}\n\nservice a-api {\n\tget /a\n}\n",
    )
    .unwrap();
    rustctl()
        .current_dir(dir.path())
        .args(["api", "validate", "--api", "x.api"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("x.api:2:8:").and(predicate::str::contains("x.api:8:2:")));
}

#[test]
fn validate_passes_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.api"),
        "service a-api {\n\t@handler a\n\tget /a/:id\n}\n",
    )
    .unwrap();
    rustctl()
        .current_dir(dir.path())
        .args(["api", "validate", "--api", "w.api"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "w.api:3:6: path parameter `:id` is not bound",
        ))
        .stdout(predicate::str::contains("1 warning(s)"));
}

#[test]
fn validate_names_a_missing_file() {
    rustctl()
        .args(["api", "validate", "--api", "no/such.api"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no/such.api: cannot read"));
}

#[test]
fn format_rewrites_in_place_keeping_comments_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.api");
    std::fs::write(&file, UNFORMATTED).unwrap();
    rustctl()
        .args(["api", "format", "--api"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("formatted"));
    let once = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        once,
        "syntax = \"v1\"\n\ntype Req {\n\tName string `json:\"name\"` // kept\n\tAge  int    `json:\"age\"`\n}\n\nservice a-api {\n\t@handler a\n\tpost /a (Req)\n}\n"
    );
    rustctl()
        .args(["api", "format", "--check", "--api"])
        .arg(&file)
        .assert()
        .success()
        .stdout("");
    rustctl()
        .args(["api", "format", "--api"])
        .arg(&file)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), once);
}

#[test]
fn format_check_reports_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.api");
    std::fs::write(&file, UNFORMATTED).unwrap();
    rustctl()
        .args(["api", "format", "--check", "--api"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("a.api: not formatted"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNFORMATTED);
}

#[test]
fn format_stdout_prints_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.api");
    std::fs::write(&file, UNFORMATTED).unwrap();
    rustctl()
        .args(["api", "format", "--stdout", "--api"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("syntax = \"v1\"\n\ntype Req {"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNFORMATTED);
}

#[test]
fn format_refuses_a_file_with_syntax_errors_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.api");
    let broken = "type A {\n\tX int `json:\"x\"\n}\n";
    std::fs::write(&file, broken).unwrap();
    rustctl()
        .args(["api", "format", "--api"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("a.api:2:8:")
                .and(predicate::str::contains("fix the syntax errors first")),
        );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
}

#[test]
fn format_dir_formats_every_api_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("a.api"), UNFORMATTED).unwrap();
    std::fs::write(dir.path().join("sub/b.api"), UNFORMATTED).unwrap();
    std::fs::write(dir.path().join("notes.txt"), UNFORMATTED).unwrap();
    rustctl()
        .args(["api", "format", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    rustctl()
        .args(["api", "format", "--check", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        UNFORMATTED
    );
}

#[test]
fn usage_errors_exit_2() {
    rustctl().args(["api", "format"]).assert().code(2);
    rustctl().args(["api", "nope"]).assert().code(2);
}
