//! `rustctl model`: DDL of each dialect → models. The real-server tests of the generated code
//! are in `tests/models` (a crate of models generated from `tests/models/sql`); this file
//! checks those models are what rustctl generates today, snapshots every template, and runs
//! the CLI on bad and hostile input.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Ownership, Style};
use rustctl::sqlmodel::codegen::{ModelOptions, plan};
use rustctl::sqlmodel::ddl::{DEFAULT_IGNORED, ReadOptions, parse};
use rustctl::sqlmodel::{Dialect, Table};

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

fn options() -> ReadOptions {
    ReadOptions {
        ignored: DEFAULT_IGNORED.split(',').map(str::to_owned).collect(),
        strict: false,
    }
}

fn tables(dialect: Dialect, sql: &str) -> Vec<Table> {
    parse("t.sql", sql, dialect, &options()).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_checked_in_models_are_what_rustctl_generates() {
    let dir = models_dir();
    for (db, sql, out, flags) in [
        ("mysql", "mysql.sql", "mysql", &["-c"][..]),
        (
            "mysql",
            "mysql.sql",
            "mysql_strict",
            &["-c", "--strict"][..],
        ),
        ("pg", "pg.sql", "pg", &["-c"][..]),
        ("sqlite", "sqlite.sql", "sqlite", &["-c"][..]),
        ("sqlite", "sqlite.sql", "sqlite_plain", &[][..]),
    ] {
        let mut cmd = rustctl();
        cmd.current_dir(&dir)
            .args(["model", db, "ddl", "--check", "--src"])
            .arg(Path::new("sql").join(sql))
            .arg("--dir")
            .arg(Path::new("src").join(out))
            .args(flags);
        cmd.assert()
            .success()
            .stdout(predicate::str::contains("0 created, 0 updated, "));
    }
    // The example's models too, with the command its schema files name.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/trial/trial-rpc");
    for db in ["pg", "sqlite"] {
        rustctl()
            .current_dir(&example)
            .args(["model", db, "ddl", "--check", "-c", "--src"])
            .arg(format!("sql/trial.{db}.sql"))
            .args(["--dir", &format!("src/model/{db}")])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "0 created, 0 updated, 2 unchanged",
            ));
    }
}

const SMALL: &[(Dialect, &str)] = &[
    (
        Dialect::Mysql,
        "CREATE TABLE `order` (`id` bigint unsigned NOT NULL AUTO_INCREMENT, `sn` varchar(32) NOT \
         NULL COMMENT 'order number', `note` text, PRIMARY KEY (`id`), UNIQUE KEY `sn` (`sn`));",
    ),
    (
        Dialect::Postgres,
        "CREATE TABLE account (email TEXT PRIMARY KEY, tenant INT NOT NULL, login TEXT, \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(), UNIQUE (tenant, login));",
    ),
    (
        Dialect::Sqlite,
        "CREATE TABLE note (id INTEGER PRIMARY KEY, body BLOB NOT NULL UNIQUE, score REAL);",
    ),
];

#[test]
fn every_template_renders_as_snapshotted() {
    let templates = Templates::load(None).unwrap();
    for (dialect, sql) in SMALL {
        for cache in [true, false] {
            let options = ModelOptions {
                dialect: *dialect,
                cache,
                style: Style::Snake,
            };
            let plan = plan(&tables(*dialect, sql), &[], &templates, &options).unwrap();
            for f in &plan.files {
                let name = format!(
                    "{}_{}_{}",
                    dialect.command(),
                    if cache { "cached" } else { "plain" },
                    f.path.display()
                );
                // Every generated Rust file parses.
                syn::parse_file(&f.contents)
                    .unwrap_or_else(|e| panic!("{name} does not parse: {e}\n{}", f.contents));
                // The scaffold and mod.rs read the same for every dialect: snapshotted once.
                let shared = f.ownership == Ownership::Scaffold || f.path == Path::new("mod.rs");
                if shared && !(cache && *dialect == Dialect::Mysql) {
                    continue;
                }
                insta::assert_snapshot!(name, f.contents);
            }
        }
    }
}

#[test]
fn real_world_mysql_ddl_parses() {
    // The shapes of MySQL dumps (mysqldump, Navicat, go-zero-looklook's deploy/sql): version
    // comments, SET lines, charsets and collations, USING BTREE, table options, ON UPDATE.
    let sql = "/*!40101 SET NAMES utf8mb4 */;\nSET FOREIGN_KEY_CHECKS = 0;\n\
        DROP TABLE IF EXISTS `user_auth`;\n\
        CREATE TABLE `user_auth` (\n\
          `id` bigint NOT NULL AUTO_INCREMENT,\n\
          `create_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\
          `update_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n\
          `delete_time` timestamp NULL DEFAULT NULL,\n\
          `del_state` tinyint NOT NULL DEFAULT '0',\n\
          `version` bigint NOT NULL DEFAULT '0' COMMENT '版本号',\n\
          `user_id` bigint NOT NULL DEFAULT '0',\n\
          `auth_key` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL DEFAULT '' COMMENT '平台唯一id',\n\
          `auth_type` varchar(12) COLLATE utf8mb4_general_ci NOT NULL DEFAULT '',\n\
          PRIMARY KEY (`id`) USING BTREE,\n\
          UNIQUE KEY `idx_type_key` (`auth_type`,`auth_key`) USING BTREE,\n\
          UNIQUE KEY `idx_userId_key` (`user_id`,`auth_type`),\n\
          KEY `idx_user` (`user_id`)\n\
        ) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci ROW_FORMAT=DYNAMIC COMMENT='用户授权表';\n\
        SET FOREIGN_KEY_CHECKS = 1;\n";
    let t = &tables(Dialect::Mysql, sql)[0];
    assert_eq!(t.name, "user_auth");
    assert!(t.columns[t.primary].auto);
    assert_eq!(t.uniques.len(), 2);
    let version = t.columns.iter().find(|c| c.name == "version").unwrap();
    assert_eq!(version.comment.as_deref(), Some("版本号"));
    let delete_time = t.columns.iter().find(|c| c.name == "delete_time").unwrap();
    assert_eq!(delete_time.rust.ty, "Option<sql::types::OffsetDateTime>");
    assert!(
        t.columns
            .iter()
            .find(|c| c.name == "update_time")
            .unwrap()
            .ignored
    );
}

#[test]
fn postgres_serial_identity_and_unique_index_statements() {
    let sql = "CREATE TABLE IF NOT EXISTS public.member (\n\
          id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n\
          org BIGSERIAL NOT NULL,\n\
          handle CHARACTER VARYING(40) NOT NULL\n\
        );\n\
        CREATE UNIQUE INDEX IF NOT EXISTS member_org_handle ON public.member USING btree (org, handle);\n\
        CREATE INDEX member_handle ON member (handle);\n";
    let t = &tables(Dialect::Postgres, sql)[0];
    assert_eq!(t.name, "member");
    assert!(t.columns[t.primary].auto);
    assert_eq!(t.uniques, vec![vec![1, 2]]);
}

/// Runs `rustctl model <db> ddl` on `sql` in a fresh directory; the command's assertion and
/// the directory (the model directory is `<dir>/out`).
fn run_bad(db: &str, sql: &str) -> (assert_cmd::assert::Assert, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.sql"), sql).unwrap();
    let assert = rustctl()
        .current_dir(dir.path())
        .args(["model", db, "ddl", "--src", "schema.sql", "--dir", "out"])
        .assert();
    (assert, dir)
}

#[test]
fn bad_ddl_names_the_place_and_writes_nothing() {
    for (db, sql, says) in [
        (
            "mysql",
            "CREATE TABLE a (\n  id bigint NOT NULL,\n  name varchar(10) NOT NULL DEFAULT,\n  PRIMARY KEY (id)\n);\n",
            "schema.sql:3:",
        ),
        (
            "pg",
            "CREATE TABLE a (id INT PRIMARY KEY);\nCREATE TABLE b (x INT);\n",
            "schema.sql:2:14: table `b` has no primary key",
        ),
        (
            "pg",
            "CREATE TABLE a (\n  id INT PRIMARY KEY,\n  at INTERVAL\n);\n",
            "schema.sql:3:3: table `a`, column `at`: `INTERVAL` has no Rust type",
        ),
        (
            "pg",
            "CREATE TABLE a (\n  id INT PRIMARY KEY,\n  grid INT[][]\n);\n",
            "schema.sql:3:3: table `a`, column `grid`: `INT[][]`: multi-dimensional arrays are \
             not supported",
        ),
        (
            "pg",
            "CREATE TABLE a (\n  id INT PRIMARY KEY,\n  spans INTERVAL[]\n);\n",
            "column `spans`: `INTERVAL[]`: arrays of `INTERVAL` are not supported; use an array \
             of a supported type",
        ),
        (
            "mysql",
            "CREATE TABLE a (x int, y int, PRIMARY KEY (x, y));",
            "has a primary key of 2 columns (x, y)",
        ),
        (
            "sqlite",
            "INSERT INTO a VALUES (1);",
            "no CREATE TABLE statement found",
        ),
        (
            "sqlite",
            "CREATE TABLE a (id INTEGER PRIMARY KEY);\nCREATE TABLE A (id INTEGER PRIMARY KEY);",
            "table `A` is declared twice (first at schema.sql:1:14)",
        ),
    ] {
        let (assert, dir) = run_bad(db, sql);
        assert
            .code(1)
            .stderr(predicate::str::contains(says).and(predicate::str::contains("not generated")));
        assert!(
            !dir.path().join("out").exists(),
            "{says}: something was written"
        );
    }
}

#[test]
fn regenerating_keeps_your_file_and_check_reports_drift() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE TABLE trial (id TEXT PRIMARY KEY, name TEXT NOT NULL);";
    std::fs::write(dir.path().join("a.sql"), sql).unwrap();
    let gen_args = [
        "model", "sqlite", "ddl", "--src", "*.sql", "--dir", "model", "-c",
    ];
    rustctl()
        .current_dir(dir.path())
        .args(gen_args)
        .assert()
        .success()
        .stdout(predicate::str::contains("3 created"));
    let mine = dir.path().join("model/trial_model.rs");
    let custom = "// my queries\n";
    std::fs::write(&mine, custom).unwrap();
    std::fs::write(
        dir.path().join("a.sql"),
        "CREATE TABLE trial (id TEXT PRIMARY KEY, name TEXT NOT NULL, phase INTEGER);",
    )
    .unwrap();
    let mut check = gen_args.to_vec();
    check.push("--check");
    rustctl()
        .current_dir(dir.path())
        .args(&check)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("would update")
                .and(predicate::str::contains("trial_model_gen.rs")),
        );
    rustctl()
        .current_dir(dir.path())
        .args(gen_args)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 updated"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), custom);
    let generated = std::fs::read_to_string(dir.path().join("model/trial_model_gen.rs")).unwrap();
    assert!(generated.contains("pub phase: Option<i64>,"));
    // A second schema file's table joins the first in mod.rs.
    std::fs::write(
        dir.path().join("b.sql"),
        "CREATE TABLE site (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    rustctl()
        .current_dir(dir.path())
        .args(["model", "sqlite", "ddl", "--src", "b.sql", "--dir", "model"])
        .assert()
        .success();
    let module = std::fs::read_to_string(dir.path().join("model/mod.rs")).unwrap();
    assert!(module.contains("pub mod site_model;") && module.contains("pub mod trial_model;"));
}

#[test]
fn hostile_names_stay_inside_string_literals() {
    // Quoted identifiers may hold anything: quotes, braces, line breaks, comment openers.
    let sql = "CREATE TABLE \"x\"\"); drop table y; --\n{}\" (\n  \"id\" INTEGER PRIMARY KEY,\n  \"a\"\"b */ } fn evil() {\" TEXT UNIQUE\n);";
    let t = tables(Dialect::Postgres, sql);
    let templates = Templates::load(None).unwrap();
    let plan = plan(
        &t,
        &[],
        &templates,
        &ModelOptions {
            dialect: Dialect::Postgres,
            cache: true,
            style: Style::Snake,
        },
    )
    .unwrap();
    for f in &plan.files {
        syn::parse_file(&f.contents)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}\n{}", f.path.display(), f.contents));
        let idents = identifiers(&f.contents);
        assert!(!idents.contains(&"evil".to_string()), "{}", f.contents);
        assert!(!idents.contains(&"drop".to_string()), "{}", f.contents);
    }
    let generated = &plan.files[1].contents;
    // Quotes inside the name are doubled in the SQL, as PostgreSQL reads them.
    assert!(
        generated.contains(r#"from \"x\"\"); drop table y; --\n{}\""#),
        "{generated}"
    );
}

/// Every identifier of a Rust file (comments and string literals are data, not idents).
fn identifiers(text: &str) -> Vec<String> {
    use proc_macro2::{TokenStream, TokenTree};
    use std::str::FromStr;
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

#[test]
fn goctl_test_data_shapes_parse() {
    // The shapes of goctl's own model test data: escapes in comments, a unique index declared
    // twice, camelCase names, a column named like its table, `float(M,D)`, a key that is not
    // AUTO_INCREMENT.
    let sql = "-- members --\nCREATE TABLE `member`(\n\
          `id` bigint(10) NOT NULL,\n\
          `member` varchar(50) NOT NULL DEFAULT '' COMMENT 'login\\tname',\n\
          `nickName` varchar(255) COLLATE utf8mb4_general_ci NOT NULL DEFAULT '' COMMENT 'line\\nbreak */ fn x() {}',\n\
          `score` float(10,0) DEFAULT NULL,\n\
          `createTime` timestamp NULL DEFAULT CURRENT_TIMESTAMP,\n\
          PRIMARY KEY (`id`) USING BTREE,\n\
          UNIQUE KEY `nick_index` (`nickName`),\n\
          UNIQUE KEY `nick_index2` (`nickName`),\n\
          KEY `member_index` (`member`)\n\
        ) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;";
    let t = tables(Dialect::Mysql, sql);
    let member = &t[0];
    assert!(!member.columns[member.primary].auto);
    assert_eq!(
        member.uniques,
        vec![vec![2]],
        "the index declared twice counts once"
    );
    let fields: Vec<&str> = member.columns.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        ["id", "member", "nick_name", "score", "create_time"]
    );
    assert_eq!(member.columns[3].rust.ty, "Option<f32>");
    let templates = Templates::load(None).unwrap();
    let options = ModelOptions {
        dialect: Dialect::Mysql,
        cache: true,
        style: Style::Lower,
    };
    let plan = plan(&t, &[], &templates, &options).unwrap();
    let names: Vec<String> = plan
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(names, ["membermodel.rs", "membermodel_gen.rs", "mod.rs"]);
    let generated = &plan.files[1].contents;
    syn::parse_file(generated).unwrap();
    assert!(
        !identifiers(generated).contains(&"x".to_string()),
        "{generated}"
    );
    // Not AUTO_INCREMENT: the key is inserted with the row, and insert returns nothing.
    assert!(generated.contains("pub async fn insert(&self, row: &Member) -> Result<(), SqlError>"));
    assert!(generated.contains("pub async fn find_one_by_nick_name(&self, nick_name: &str)"));
}

#[test]
fn models_generated_into_a_new_service_are_wired_into_it() {
    let dir = tempfile::tempdir().unwrap();
    rustctl()
        .current_dir(dir.path())
        .args(["rpc", "new", "shop", "--runtime-version", "0.1.0"])
        .assert()
        .success();
    let svc = dir.path().join("shop");
    std::fs::write(
        svc.join("schema.sql"),
        "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
    )
    .unwrap();
    let args = [
        "model",
        "sqlite",
        "ddl",
        "--src",
        "schema.sql",
        "--dir",
        "src/model",
        "-c",
    ];
    rustctl()
        .current_dir(&svc)
        .args(args)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Cargo.toml (rustctl-runtime feature \"sqlite\")")
                .and(predicate::str::contains("main.rs (mod model;)")),
        );
    let manifest = std::fs::read_to_string(svc.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("rustctl-runtime = { version = \"0.1.0\", features = [\"sqlite\"] }"),
        "{manifest}"
    );
    let main = std::fs::read_to_string(svc.join("src/main.rs")).unwrap();
    assert!(main.contains("mod logic;\nmod model;\n"), "{main}");
    // Wired once: the next run and --check leave both files alone.
    rustctl()
        .current_dir(&svc)
        .args(args)
        .assert()
        .success()
        .stdout(predicate::str::contains("updated ").not());
    rustctl()
        .current_dir(&svc)
        .args(args)
        .arg("--check")
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(svc.join("src/main.rs")).unwrap(),
        main
    );
}
