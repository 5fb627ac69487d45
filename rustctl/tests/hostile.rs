//! Contracts written by an attacker: their text never becomes code, names that would merge
//! routes are refused, imports read only contracts inside the project, and rustctl never
//! writes through a symlink or outside the directory it was given.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use assert_cmd::Command;
use predicates::prelude::*;
use proc_macro2::{TokenStream, TokenTree};
use proptest::prelude::*;
use rustctl::api::{self, lower::lower};
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{FilePlan, Options, RuntimeDep, Style};
use rustctl::proto;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(path)
}

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn options(style: Style) -> Options {
    Options {
        style,
        runtime: RuntimeDep::Path("../runtime".into()),
        standalone: true,
        port: 8888,
    }
}

/// Every identifier of a Rust file; panics (naming the file) when it is not valid Rust.
fn identifiers(path: &Path, text: &str) -> Vec<String> {
    syn::parse_file(text).unwrap_or_else(|e| panic!("{} is not Rust: {e}\n{text}", path.display()));
    fn walk(tokens: TokenStream, out: &mut Vec<String>) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(i) => out.push(i.to_string()),
                TokenTree::Group(g) => walk(g.stream(), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(TokenStream::from_str(text).unwrap(), &mut out);
    out
}

/// No generated Rust file holds `PWNED` as code (comments and string literals are data).
fn assert_no_injected_code(plan: &FilePlan) {
    for file in &plan.files {
        if file.path.extension().is_some_and(|e| e == "rs") {
            let idents = identifiers(&file.path, &file.contents);
            assert!(
                !idents.iter().any(|i| i.contains("PWNED")),
                "{} runs contract text:\n{}",
                file.path.display(),
                file.contents
            );
        }
    }
}

fn api_plan(path: &Path, style: Style) -> FilePlan {
    let checked = api::check_with(
        path,
        &api::CheckOptions {
            style,
            ..Default::default()
        },
    );
    assert!(!checked.has_errors(), "{}", checked.render(false));
    let service = lower(&checked.loaded, "contract.api");
    rustctl::codegen::api::plan(&service, &Templates::load(None).unwrap(), &options(style)).unwrap()
}

#[test]
fn contract_text_in_every_position_stays_data() {
    for style in [Style::Snake, Style::Lower] {
        assert_no_injected_code(&api_plan(&fixture("api/hostile/injection.api"), style));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any text in a doc string or a tag's key, default, options or range: the output is Rust
    /// that never holds it as code.
    #[test]
    fn arbitrary_text_in_docs_and_tags_stays_data(
        doc in "[^\"]{0,40}",
        key in "[^\"`,\\\\]{1,20}",
        default in "[^\"`,\\\\|]{0,20}",
    ) {
        let doc = format!("{doc} PWNED() }} {{ // */ \n fn PWNED() {{}}");
        let contract = format!(
            "type Req {{\n\tA string `form:\"{key}PWNED\\n\"\\\"),PWNED,optional,default={default}\"`\n}}\n\
             service s-api {{\n\t@doc \"{doc}\"\n\t@handler h\n\tget /a (Req)\n}}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.api");
        std::fs::write(&path, &contract).unwrap();
        let checked = api::check(&path);
        // A contract the validator refuses generates nothing, which is safe too.
        if !checked.has_errors() {
            let service = lower(&checked.loaded, "a.api");
            let plan = rustctl::codegen::api::plan(
                &service, &Templates::load(None).unwrap(), &options(Style::Snake),
            ).unwrap();
            assert_no_injected_code(&plan);
        }
    }
}

#[test]
fn proto_names_that_are_rust_keywords_generate_rust() {
    let compiled = proto::compile(&fixture("proto/valid/keywords.proto"), &[]).unwrap();
    let rpc = proto::lower::lower(&compiled);
    assert!(proto::names::check(&compiled, &rpc, Style::Snake).is_empty());
    let pb = proto::generate_code(&compiled).unwrap();
    let descriptor = prost::Message::encode_to_vec(&compiled.descriptors);
    let plan = rustctl::codegen::rpc::plan(
        &rpc,
        &pb,
        &descriptor,
        &Templates::load(None).unwrap(),
        &options(Style::Lower),
    )
    .unwrap();
    let paths: Vec<String> = plan
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    // `service Mod` must not take the place of `src/server/mod.rs`.
    assert_eq!(
        paths.iter().filter(|p| *p == "src/server/mod.rs").count(),
        1
    );
    assert!(
        paths.contains(&"src/server/mod_.rs".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"src/logic/mod_/type_.rs".to_string()),
        "{paths:?}"
    );
    // Comments and options of the `.proto` never reach generated code, prost's included.
    assert_no_injected_code(&plan);
}

// ---------------------------------------------------------------------------------------------
// Names that would merge

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn groups_and_handlers_that_share_a_module_are_refused_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let api = write(
        dir.path(),
        "c.api",
        "@server(\n\tgroup: Admin\n\tmiddleware: AdminOnly\n)\nservice c-api {\n\t@handler ping\n\tpost /admin/ping\n}\n\n\
         @server(\n\tgroup: admin\n)\nservice c-api {\n\t@handler ping\n\tpost /public/ping\n}\n",
    );
    rustctl()
        .args(["api", "go", "--api"])
        .arg(&api)
        .arg("--dir")
        .arg(dir.path().join("svc"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "c.api:11:9: group `admin` and group `Admin` both become `admin`",
        ))
        .stderr(predicate::str::contains("c.api:2:9"))
        .stderr(predicate::str::contains(
            "c.api:14:11: handler `ping` and handler `ping`",
        ));
    assert!(!dir.path().join("svc").exists(), "nothing is generated");
}

/// `api validate` (with `extra` flags) on `contract` fails with every message of `expected`.
fn assert_refused(file: &Path, contract: &str, extra: &[&str], expected: &[&str]) {
    std::fs::write(file, contract).unwrap();
    let mut assert = rustctl()
        .args(["api", "validate"])
        .args(extra)
        .arg("--api")
        .arg(file)
        .assert()
        .code(1);
    for message in expected {
        assert = assert.stderr(predicate::str::contains(*message));
    }
}

#[test]
fn handler_names_are_checked_in_the_chosen_style() {
    let dir = tempfile::tempdir().unwrap();
    let api = write(
        dir.path(),
        "h.api",
        "service h-api {\n\t@handler get_user\n\tget /a\n\t@handler getuser\n\tget /b\n}\n",
    );
    rustctl()
        .args(["api", "validate", "--api"])
        .arg(&api)
        .assert()
        .success();
    let contract = std::fs::read_to_string(&api).unwrap();
    assert_refused(
        &api,
        &contract,
        &["--style", "lower"],
        &["h.api:4:11: handler `getuser` and handler `get_user` both become `getuser`"],
    );
    assert_refused(
        &dir.path().join("s.api"),
        "type addReq {}\ntype AddReq {}\n\
         @server(\n\tmiddleware: AdminOnly, admin_only\n)\n\
         service s-api {\n\t@handler GetUser\n\tget /a\n\t@handler get_user\n\tget /b\n}\n",
        &[],
        &[
            "s.api:2:6: type `AddReq` and type `addReq`",
            "s.api:4:25: middleware `admin_only` and middleware `AdminOnly`",
            "s.api:9:11: handler `get_user` and handler `GetUser`",
        ],
    );
}

#[test]
fn rust_keywords_and_builtin_names_are_refused_or_escaped() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(
        &dir.path().join("k.api"),
        "type Self {}\ntype String {\n\tX int `json:\"x\"`\n}\n\
         type Req {\n\tName string `json:\"name\"`\n}\n\
         service k-api {\n\t@handler get\n\tpost /a (Req)\n}\n",
        &[],
        &[
            "k.api:1:6: type `Self` becomes Rust's `Self`",
            "k.api:2:6: type `String` becomes Rust's `String`",
        ],
    );
}

#[test]
fn proto_services_and_rpcs_that_share_a_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.proto",
        "syntax = \"proto3\";\nmessage M {}\nservice Foo {\n  rpc GetUser(M) returns (M);\n  rpc get_user(M) returns (M);\n}\nservice foo {}\n",
    );
    rustctl()
        .args(["rpc", "protoc"])
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("svc"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "c.proto:5:7: rpc `get_user` and `GetUser` (",
        ))
        .stderr(predicate::str::contains(
            "c.proto:4:7) both become `get_user.rs`",
        ))
        .stderr(predicate::str::contains(
            "c.proto:7:9: service `foo` and `Foo` (",
        ))
        .stderr(predicate::str::contains("fn get_user").not());
    assert!(!dir.path().join("svc/src").exists());
}

#[test]
fn new_refuses_names_that_are_not_service_names() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../escape", "a/b", "fn", "a b", "9lives", "naïve"] {
        for kind in ["api", "rpc"] {
            rustctl()
                .current_dir(dir.path())
                .args([kind, "new", name])
                .assert()
                .code(2)
                .stderr(predicate::str::contains("cannot name a service"));
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(!dir.path().parent().unwrap().join("escape").exists());
}

// ---------------------------------------------------------------------------------------------
// Imports

#[test]
fn imports_read_only_contracts_inside_the_project() {
    let outer = tempfile::tempdir().unwrap();
    let project = outer.path().join("project");
    write(outer.path(), "secret.api", "SECRET_OUTSIDE_THE_PROJECT\n");
    write(&project, "shared/ok.api", "type Ok {}\n");
    write(&project, "notes.txt", "SECRET_NOTES\n");
    symlink(outer.path().join("secret.api"), project.join("linked.api")).unwrap();
    symlink("/dev/zero", project.join("zero.api")).unwrap();
    let fifo = project.join("fifo.api");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    write(&project, "big.api", &"// padding\n".repeat(500_000));
    let api = write(
        &project,
        "a.api",
        "import (\n\t\"/proc/self/environ\"\n\t\"../secret.api\"\n\t\"notes.txt\"\n\t\"linked.api\"\n\t\
         \"zero.api\"\n\t\"fifo.api\"\n\t\"big.api\"\n\t\"shared/ok.api\"\n)\n\
         service a-api {\n\t@handler a\n\tget /a\n}\n",
    );
    let out = rustctl()
        .env("CI_SECRET_TOKEN", "SECRET_FROM_THE_ENVIRONMENT")
        .args(["api", "validate", "--api"])
        .arg(&api)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("SECRET"),
        "a diagnostic quoted a file that is no contract:\n{stderr}"
    );
    for (line, what) in [
        (2, "an import must name a `.api` file"),
        (3, "outside"),
        (4, "an import must name a `.api` file"),
        (5, "outside"),
        (6, "not a regular file"),
        (7, "not a regular file"),
        (8, "larger than 4 MiB"),
    ] {
        let at = format!("a.api:{line}:");
        assert!(
            stderr.lines().any(|l| l.contains(&at)) && stderr.contains(what),
            "line {line}: expected `{what}`:\n{stderr}"
        );
    }
    assert!(stderr.contains("7 error(s)"), "{stderr}");

    // --root widens the project; the linked file then is a contract and may be read.
    rustctl()
        .args(["api", "validate", "--root"])
        .arg(outer.path())
        .arg("--api")
        .arg(write(
            &project,
            "b.api",
            "import \"../secret.api\"\nservice b-api {\n\t@handler b\n\tget /b\n}\n",
        ))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("secret.api:1:1"));
}

#[test]
fn proto_imports_stay_inside_include_directories_and_nesting_is_bounded() {
    let outer = tempfile::tempdir().unwrap();
    let project = outer.path().join("p");
    write(outer.path(), "secret.proto", "SECRET_OUTSIDE\n");
    std::fs::create_dir_all(&project).unwrap();
    symlink(
        outer.path().join("secret.proto"),
        project.join("linked.proto"),
    )
    .unwrap();
    let fifo = project.join("fifo.proto");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (import, what) in [
        ("linked.proto", "outside"),
        ("fifo.proto", "not a regular file"),
    ] {
        let file = write(
            &project,
            "a.proto",
            &format!("syntax = \"proto3\";\nimport \"{import}\";\nmessage M {{}}\n"),
        );
        let out = rustctl()
            .args(["rpc", "protoc"])
            .arg(&file)
            .arg("--out")
            .arg(project.join("svc"))
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(what) && !stderr.contains("SECRET"),
            "{stderr}"
        );
    }
    let depth = 500;
    let deep = write(
        &project,
        "deep.proto",
        &format!(
            "syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\n\
             message M {{ M m = 1; int32 x = 2; }}\n\
             extend google.protobuf.FileOptions {{ M mo = 50001; }}\noption (mo) = {}{{ x: 1 }}{};\n\
             service S {{ rpc A(M) returns (M); }}\n",
            "{ m: ".repeat(depth),
            " }".repeat(depth)
        ),
    );
    rustctl()
        .args(["rpc", "protoc"])
        .arg(&deep)
        .arg("--out")
        .arg(project.join("svc"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("deep.proto:5:")
                .and(predicate::str::contains("nested more than 64 levels deep")),
        );
}

// ---------------------------------------------------------------------------------------------
// Writes

fn contract(dir: &Path) -> PathBuf {
    write(
        dir,
        "w.api",
        "service w-api {\n\t@handler ping\n\tget /ping\n}\n",
    )
}

fn api_go(api: &Path, out: &Path) -> Command {
    let mut cmd = rustctl();
    cmd.args(["api", "go", "--api"])
        .arg(api)
        .arg("--dir")
        .arg(out);
    cmd
}

#[test]
fn a_dangling_symlink_in_the_service_never_creates_a_file_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let api = contract(tmp.path());
    let svc = tmp.path().join("svc");
    std::fs::create_dir_all(svc.join("src")).unwrap();
    let outside = tmp.path().join("outside.rs");
    symlink(&outside, svc.join("src/types.rs")).unwrap();
    api_go(&api, &svc)
        .assert()
        .failure()
        .stderr(predicate::str::contains("src/types.rs").and(predicate::str::contains("symlink")));
    assert!(!outside.exists(), "a file was created through the link");
}

#[test]
fn links_to_files_and_directories_are_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let api = contract(tmp.path());
    let svc = tmp.path().join("svc");
    api_go(&api, &svc).assert().success();

    // Links planted at the names earlier versions used for their temporary files.
    let planted = write(tmp.path(), "planted.txt", "planted\n");
    for name in ["src/routes.rs.rustctl-tmp", "src/types.rs.rustctl-tmp"] {
        symlink(&planted, svc.join(name)).unwrap();
    }
    std::fs::write(&api, "service w-api {\n\t@handler ping2\n\tget /ping2\n}\n").unwrap();
    api_go(&api, &svc).assert().success();
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "planted\n");
    assert!(
        std::fs::read_to_string(svc.join("src/routes.rs"))
            .unwrap()
            .contains("/ping2")
    );

    // A generated file replaced by a link to a file the user cares about.
    let profile = write(tmp.path(), "home/.bashrc", "# mine\n");
    std::fs::remove_file(svc.join("src/routes.rs")).unwrap();
    symlink(&profile, svc.join("src/routes.rs")).unwrap();
    std::fs::write(&api, "service w-api {\n\t@handler pong\n\tget /pong\n}\n").unwrap();
    api_go(&api, &svc)
        .assert()
        .failure()
        .stderr(predicate::str::contains("src/routes.rs").and(predicate::str::contains("symlink")));
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), "# mine\n");

    // A generated directory replaced by a link to another directory.
    std::fs::remove_file(svc.join("src/routes.rs")).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::remove_dir_all(svc.join("src/handler")).unwrap();
    symlink(&elsewhere, svc.join("src/handler")).unwrap();
    api_go(&api, &svc)
        .assert()
        .failure()
        .stderr(predicate::str::contains("src/handler").and(predicate::str::contains("symlink")));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn format_never_writes_through_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let target = write(
        tmp.path(),
        "outside/real.api",
        "service   x-api {\n@handler a\nget /a\n}\n",
    );
    let before = std::fs::read_to_string(&target).unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    symlink(&target, tree.join("linked.api")).unwrap();
    symlink(tmp.path().join("outside"), tree.join("linked-dir")).unwrap();
    rustctl()
        .args(["api", "format", "--dir"])
        .arg(&tree)
        .assert()
        .failure()
        .stderr(predicate::str::contains("linked.api").and(predicate::str::contains("symlink")));
    rustctl()
        .args(["api", "format", "--api"])
        .arg(tree.join("linked.api"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("symlink"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), before);
}
