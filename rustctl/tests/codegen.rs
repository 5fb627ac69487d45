//! The api generator in-process: golden snapshots of every template's output, rustfmt-clean
//! output, and the regeneration rules (generated files follow the contract, the user's files
//! never change).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use assert_cmd::Command;
use predicates::prelude::*;
use rustctl::api::{self, lower::lower};
use rustctl::codegen::api::plan;
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Options, RuntimeDep, Style};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/valid")
        .join(name)
}

fn options() -> Options {
    Options {
        style: Style::Snake,
        runtime: RuntimeDep::Path("../runtime".into()),
        standalone: true,
        port: 8888,
    }
}

/// `rustctl api go --api API --dir DIR`, ready for more flags.
fn api_go(api: &Path, dir: &Path) -> Command {
    let mut cmd = rustctl();
    cmd.args(["api", "go", "--api"])
        .arg(api)
        .arg("--dir")
        .arg(dir);
    cmd
}

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn every_template_output_for_a_contract_using_every_feature() {
    let checked = api::check(&corpus("all_features.api"));
    assert!(!checked.has_errors(), "{}", checked.render(false));
    let service = lower(&checked.loaded, "all_features.api");
    let plan = plan(&service, &Templates::load(None).unwrap(), &options()).unwrap();
    let mut listing = String::new();
    for file in &plan.files {
        listing.push_str(&format!("{:?} {}\n", file.ownership, file.path.display()));
        let name = file.path.display().to_string().replace('/', "__");
        insta::assert_snapshot!(format!("every__{name}"), file.contents);
    }
    insta::assert_snapshot!("every__listing", listing);
}

/// The route table wraps each group in its middlewares' functions, in the contract's order,
/// so a missing middleware is a compile error (see e2e_service.rs); no middleware is looked up
/// by name. Range checks are built from their limits: nothing parses `range=` text per request.
#[test]
fn middlewares_and_ranges_are_typed_in_generated_code() {
    let checked = api::check(&corpus("all_features.api"));
    let service = lower(&checked.loaded, "all_features.api");
    let plan = plan(&service, &Templates::load(None).unwrap(), &options()).unwrap();
    let file = |path: &str| {
        &plan
            .files
            .iter()
            .find(|f| f.path == Path::new(path))
            .unwrap()
            .contents
    };
    let routes = file("src/routes.rs");
    let auth = routes
        .find(".middleware(axum::middleware::from_fn_with_state(svc.clone(), crate::middleware::auth_check::handle))")
        .expect(routes);
    let rate = routes
        .find(".middleware(axum::middleware::from_fn_with_state(svc.clone(), crate::middleware::rate_log::handle))")
        .expect(routes);
    assert!(
        auth < rate,
        "the contract's order (AuthCheck, RateLog):\n{routes}"
    );
    assert!(!routes.contains(".middleware(\""), "{routes}");
    let mods = file("src/middleware/mod.rs");
    assert!(!mods.contains("use_middleware"), "{mods}");
    let types = file("src/types.rs");
    for range in [
        ".range(rustctl_runtime::rules::Range::unbounded().ge(1.0).le(1000.0))",
        ".range(rustctl_runtime::rules::Range::unbounded().gt(0.0).le(100.0))",
        ".range(rustctl_runtime::rules::Range::unbounded().ge(0.5))",
    ] {
        assert!(types.contains(range), "{range} in\n{types}");
    }
    assert!(!types.contains(".range(\""), "{types}");
}

/// Generated crates forbid unsafe code: on their own through `[lints.rust]`, inside rustctl's
/// workspace through its lints.
#[test]
fn generated_crates_forbid_unsafe_code() {
    let checked = api::check(&corpus("minimal.api"));
    let service = lower(&checked.loaded, "minimal.api");
    let templates = Templates::load(None).unwrap();
    for standalone in [true, false] {
        let options = Options {
            standalone,
            ..options()
        };
        let plan = plan(&service, &templates, &options).unwrap();
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
fn the_new_service_contract_and_its_files() {
    let templates = Templates::load(None).unwrap();
    let contract = rustctl::codegen::api::new_contract(&templates, "greet").unwrap();
    insta::assert_snapshot!("new__greet.api", contract);
}

#[test]
fn lower_style_names_files_without_underscores() {
    let checked = api::check(&corpus("all_features.api"));
    let service = lower(&checked.loaded, "all_features.api");
    let plan = plan(
        &service,
        &Templates::load(None).unwrap(),
        &Options {
            style: Style::Lower,
            ..options()
        },
    )
    .unwrap();
    let paths: Vec<String> = plan
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(
        paths.contains(&"src/logic/admin/users/getuser.rs".to_string()),
        "{paths:?}"
    );
    let routes = &plan
        .files
        .iter()
        .find(|f| f.path.ends_with("routes.rs"))
        .unwrap()
        .contents;
    assert!(
        routes.contains("admin::users::getuser::get_user"),
        "{routes}"
    );
}

/// Long names push signatures and imports past 100 columns: `cargo fmt` must still find nothing
/// to change in a fresh service.
#[test]
fn cargo_fmt_changes_nothing_even_with_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("long.api");
    std::fs::write(
        &api,
        "type AVeryLongRequestTypeNameThatKeepsGoingAndGoing {\n\tId int64 `path:\"id\"`\n}\n\ntype AVeryLongResponseTypeNameThatKeepsGoingAndGoing {\n\tOk bool `json:\"ok\"`\n}\n\n@server (\n\tjwt: Auth\n\tgroup: some/deeply/nested/group\n)\nservice long-api {\n\t@handler getSomethingWithAnExtremelyLongHandlerNameIndeed\n\tget /x/:id (AVeryLongRequestTypeNameThatKeepsGoingAndGoing) returns ([]AVeryLongResponseTypeNameThatKeepsGoingAndGoing)\n\n\t@handler s\n\tget /s\n}\n",
    )
    .unwrap();
    let out = dir.path().join("svc");
    api_go(&api, &out).assert().success();
    // What `cargo fmt --check` does: rustfmt from the crate root, following `mod` declarations.
    let output = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(out.join("src/main.rs"))
        .output()
        .expect("rustfmt is needed for this test: rustup component add rustfmt");
    assert!(
        output.status.success(),
        "cargo fmt would change the generated service:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn mtimes(dir: &Path) -> Vec<(PathBuf, SystemTime, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            let bytes = std::fs::read(&p).unwrap();
            (p, m, bytes)
        })
        .collect()
}

const V1: &str = r#"type Req {
	Id int64 `path:"id"`
}

type Resp {
	Name string `json:"name"`
}

@server (
	group: users
)
service shop-api {
	@handler getUser
	get /users/:id (Req) returns (Resp)

	@handler deleteUser
	delete /users/:id (Req)
}
"#;

/// `Resp` gains a field, `deleteUser` leaves, `listUsers` arrives.
const V2: &str = r#"type Req {
	Id int64 `path:"id"`
}

type Resp {
	Name  string `json:"name"`
	Email string `json:"email"`
}

@server (
	group: users
)
service shop-api {
	@handler getUser
	get /users/:id (Req) returns (Resp)

	@handler listUsers
	get /users returns ([]Resp)
}
"#;

#[test]
fn regeneration_keeps_user_files_and_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("shop.api");
    let svc = dir.path().join("svc");
    std::fs::write(&api, V1).unwrap();
    let go = || api_go(&api, &svc);
    go().assert()
        .success()
        .stdout(predicate::str::contains("created  "));

    // The user fills in a logic file.
    let logic = svc.join("src/logic/users/get_user.rs");
    let mine = std::fs::read_to_string(&logic)
        .unwrap()
        .replace(
            "Ok(Default::default())",
            "Ok(Resp { name: format!(\"user {}\", req.id), ..Default::default() })",
        )
        .replace("let _ = (svc, req);", "let _ = svc;");
    std::fs::write(&logic, &mine).unwrap();

    // Up to date: --check passes and a run changes no file's bytes or mtime.
    api_go(&api, &svc).arg("--check").assert().success();
    let before = mtimes(&svc);
    std::thread::sleep(std::time::Duration::from_millis(20));
    go().assert()
        .success()
        .stdout(predicate::str::contains("0 created, 0 updated"));
    assert_eq!(
        mtimes(&svc),
        before,
        "an unchanged contract must not touch any file"
    );

    // The contract changes: --check fails and writes nothing.
    std::fs::write(&api, V2).unwrap();
    api_go(&api, &svc)
        .arg("--check")
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("would update").and(predicate::str::contains("src/types.rs")),
        )
        .stdout(
            predicate::str::contains("would create").and(predicate::str::contains("list_users.rs")),
        );
    assert_eq!(mtimes(&svc), before, "--check must write nothing");

    go().assert()
        .success()
        .stdout(
            predicate::str::contains("orphaned")
                .and(predicate::str::contains("src/logic/users/delete_user.rs")),
        )
        .stdout(
            predicate::str::contains("created ")
                .and(predicate::str::contains("src/logic/users/list_users.rs")),
        );
    assert_eq!(
        std::fs::read_to_string(&logic).unwrap(),
        mine,
        "the edited logic file is byte-identical"
    );
    let types = std::fs::read_to_string(svc.join("src/types.rs")).unwrap();
    assert!(types.contains("pub email: String"), "{types}");
    assert!(
        !svc.join("src/handler/users/delete_user.rs").exists() || {
            // A generated handler of a removed route is no longer wired in.
            let m = std::fs::read_to_string(svc.join("src/handler/users/mod.rs")).unwrap();
            !m.contains("delete_user")
        }
    );
    assert!(
        svc.join("src/logic/users/delete_user.rs").exists(),
        "orphaned logic is kept, not deleted"
    );
    // The removed route's handler is obsolete until pruned.
    api_go(&api, &svc).arg("--check").assert().code(1);
    api_go(&api, &svc).arg("--prune").assert().success();
    api_go(&api, &svc).arg("--check").assert().success();
}

#[test]
fn modules_of_the_users_own_under_logic_are_not_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("shop.api");
    let svc = dir.path().join("svc");
    std::fs::write(&api, V1).unwrap();
    api_go(&api, &svc).assert().success();
    let logic = svc.join("src/logic");
    let own = logic.join("own_modules.rs");
    let mut list = std::fs::read_to_string(&own).unwrap();
    list.push_str("pub mod helpers;\npub mod pricing;\n");
    std::fs::write(&own, &list).unwrap();
    std::fs::write(logic.join("helpers.rs"), "pub fn one() -> u8 {\n    1\n}\n").unwrap();
    std::fs::create_dir_all(logic.join("pricing")).unwrap();
    std::fs::write(logic.join("pricing/mod.rs"), "pub mod tax;\n").unwrap();
    std::fs::write(logic.join("pricing/tax.rs"), "").unwrap();
    // An undeclared file is still reported.
    std::fs::write(logic.join("scratch.rs"), "").unwrap();
    api_go(&api, &svc).assert().success().stdout(
        predicate::str::contains("orphaned")
            .and(predicate::str::contains("scratch.rs"))
            .and(predicate::str::contains("helpers").not())
            .and(predicate::str::contains("pricing").not()),
    );
    // Regeneration keeps the user's list and the generated `mod.rs` includes it.
    assert_eq!(std::fs::read_to_string(&own).unwrap(), list);
    let m = std::fs::read_to_string(logic.join("mod.rs")).unwrap();
    assert!(m.contains("include!(\"own_modules.rs\");"), "{m}");
    api_go(&api, &svc).arg("--check").assert().success();
}

#[test]
fn a_changed_signature_is_reported_stale() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("shop.api");
    let svc = dir.path().join("svc");
    std::fs::write(&api, V1).unwrap();
    api_go(&api, &svc).assert().success();
    // The parameters are the contract's: a new request type makes the logic stale.
    let v2 = V1
        .replace(
            "type Resp {",
            "type Query {\n\tId int64 `path:\"id\"`\n}\n\ntype Resp {",
        )
        .replace("get /users/:id (Req)", "get /users/:id (Query)");
    std::fs::write(&api, &v2).unwrap();
    api_go(&api, &svc)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("stale").and(predicate::str::contains(
                "pub async fn get_user(svc: &ServiceContext, ctx: &Ctx, req: Query)",
            )),
        );
    // The return type is the logic's to widen (a value or a `Reply` of it): not stale, and a
    // mismatch with the contract's response is a compile error in the generated handler.
    std::fs::write(&api, V1.replace("returns (Resp)", "returns ([]Resp)")).unwrap();
    api_go(&api, &svc)
        .assert()
        .success()
        .stdout(predicate::str::contains("stale").not());
}

#[test]
fn template_overrides_from_home_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("tpl");
    rustctl()
        .args(["template", "init", "--home"])
        .arg(&home)
        .assert()
        .success()
        .stdout(predicate::str::contains("api/logic.rs.tera"));
    let logic_tpl = home.join("api/logic.rs.tera");
    let text = std::fs::read_to_string(&logic_tpl).unwrap();
    std::fs::write(
        &logic_tpl,
        text.replace("it is yours.", "it is yours (house style)."),
    )
    .unwrap();
    let api = dir.path().join("shop.api");
    std::fs::write(&api, V1).unwrap();
    api_go(&api, &dir.path().join("svc"))
        .arg("--home")
        .arg(&home)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "using template override api/logic.rs",
        ));
    let logic =
        std::fs::read_to_string(dir.path().join("svc/src/logic/users/get_user.rs")).unwrap();
    assert!(logic.contains("(house style)"), "{logic}");
    let types = std::fs::read_to_string(dir.path().join("svc/src/types.rs")).unwrap();
    assert!(types.starts_with("// Code generated by rustctl. DO NOT EDIT."));
}

#[test]
fn a_contract_with_errors_generates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("bad.api");
    std::fs::write(
        &api,
        "service a-api {\n\t@handler a\n\tget /a (Missing)\n}\n",
    )
    .unwrap();
    api_go(&api, &dir.path().join("svc"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "bad.api:3:10: undefined type `Missing`",
        ));
    assert!(!dir.path().join("svc/src").exists());
}

#[test]
fn api_new_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("greet")).unwrap();
    std::fs::write(dir.path().join("greet/keep.txt"), "mine").unwrap();
    rustctl()
        .args(["api", "new", "greet", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("greet/keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn each_jwt_section_a_contract_names_is_read_and_configured_without_a_usable_secret() {
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("auth.api");
    let contract = "@server (\n\tjwt: AdminAuth\n\tprefix: /admin\n)\nservice auth-api {\n\t\
                    @handler adminMe\n\tget /me\n}\n\n@server (\n\tjwt: Auth\n\t\
                    jwtTransition: OpsAuth\n\tprefix: /ops\n)\nservice auth-api {\n\t\
                    @handler opsMe\n\tget /me\n}\n\n@server (\n\tjwt: admin_auth\n\t\
                    prefix: /other\n)\nservice auth-api {\n\t@handler otherMe\n\tget /me\n}\n";
    std::fs::write(&api, contract).unwrap();
    let checked = api::check(&api);
    assert!(!checked.has_errors(), "{}", checked.render(false));
    let service = lower(&checked.loaded, "auth.api");
    let plan = plan(&service, &Templates::load(None).unwrap(), &options()).unwrap();
    let file = |name: &str| {
        let found = plan.files.iter().find(|f| f.path.ends_with(name));
        found.unwrap().contents.clone()
    };

    // Each group checks the section it names; `jwtTransition`'s section wins, as in go-zero.
    let routes = file("src/routes.rs");
    for call in [
        ".jwt(\"AdminAuth\")",
        ".jwt(\"admin_auth\")",
        ".jwt(\"Auth\")\n            .jwt_transition(\"OpsAuth\")",
    ] {
        assert!(routes.contains(call), "{call} missing:\n{routes}");
    }

    // One section per section read (the runtime matches `admin_auth` to `AdminAuth`), each
    // secret from the environment: the scaffold ships none that would work.
    let yaml = file("etc/auth-api.yaml");
    for section in [
        "\nAdminAuth:\n  AccessSecret: ${ADMINAUTH_ACCESS_SECRET}\n  AccessExpire: 86400\n",
        "\nOpsAuth:\n  AccessSecret: ${OPSAUTH_ACCESS_SECRET}\n  AccessExpire: 86400\n",
    ] {
        assert!(yaml.contains(section), "{section:?} missing:\n{yaml}");
    }
    assert!(
        yaml.contains("\n  PrevSecret: \"${OPSAUTH_PREV_SECRET:-}\"\n"),
        "{yaml}"
    );
    assert_eq!(yaml.matches("AccessSecret:").count(), 2, "{yaml}");
    assert_eq!(yaml.matches("PrevSecret:").count(), 1, "{yaml}");
}

/// A removed route leaves its handler behind: reported as obsolete, failing `--check`, and
/// deleted with `--prune`; the route's logic file is the user's and stays.
#[test]
fn generated_files_of_removed_routes_are_reported_and_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let api = tmp.path().join("p.api");
    let svc = tmp.path().join("svc");
    std::fs::write(
        &api,
        "@server(\n\tgroup: admin\n)\nservice p-api {\n\t@handler ping\n\tget /ping\n}\n\n\
         service p-api {\n\t@handler pong\n\tget /pong\n}\n",
    )
    .unwrap();
    api_go(&api, &svc).assert().success();
    // A file of the user's among the handlers: never reported, never deleted.
    std::fs::write(svc.join("src/handler/notes.rs"), "// mine\n").unwrap();
    std::fs::write(&api, "service p-api {\n\t@handler pong\n\tget /pong\n}\n").unwrap();

    api_go(&api, &svc)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("obsolete ").and(predicate::str::contains(
                "src/handler/admin/ping.rs (generated for something no longer in the contract",
            )),
        )
        .stdout(predicate::str::contains(
            "src/logic/admin/mod.rs (generated",
        ))
        .stdout(
            predicate::str::contains("orphaned")
                .and(predicate::str::contains("src/logic/admin/ping.rs")),
        )
        .stdout(predicate::str::contains("notes.rs").not());
    assert!(
        svc.join("src/handler/admin/ping.rs").exists(),
        "kept without --prune"
    );
    api_go(&api, &svc)
        .arg("--check")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run `rustctl api go --prune`"));

    api_go(&api, &svc).arg("--prune").assert().success().stdout(
        predicate::str::contains("removed ")
            .and(predicate::str::contains("src/handler/admin/ping.rs")),
    );
    assert!(
        !svc.join("src/handler/admin").exists(),
        "empty directories go too"
    );
    assert!(!svc.join("src/logic/admin/mod.rs").exists());
    assert!(
        svc.join("src/logic/admin/ping.rs").exists(),
        "logic is the user's"
    );
    assert_eq!(
        std::fs::read_to_string(svc.join("src/handler/notes.rs")).unwrap(),
        "// mine\n"
    );
    api_go(&api, &svc).arg("--check").assert().success();
}

/// `rustctl-bench` (runtime/src/bin/bench.rs) measures the runtime as a fresh service runs it:
/// its configuration is a copy of what `api new` writes, and must stay one.
#[test]
fn the_runtime_benchmark_runs_the_config_of_a_fresh_service() {
    let dir = tempfile::tempdir().unwrap();
    rustctl()
        .args(["api", "new", "bench", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    let fresh = std::fs::read_to_string(dir.path().join("bench/etc/bench-api.yaml")).unwrap();
    let bench = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src/bin/bench-service.yaml"),
    )
    .unwrap();
    assert_eq!(bench, fresh, "update runtime/src/bin/bench-service.yaml");
}
