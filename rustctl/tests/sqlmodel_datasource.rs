//! `rustctl model mysql|pg datasource` against the real MariaDB and PostgreSQL (`.ci/run`
//! starts them): the tables of `tests/models/sql` are created in a throwaway database, read
//! back through the catalog, and must give the same models as their DDL.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use sqlx::Connection;

fn rustctl() -> Command {
    let mut cmd = Command::cargo_bin("rustctl").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `sql` on the server at `url` (one statement at a time, as the fixtures are written).
fn run_sql(url: &str, sql: &str) {
    block_on(async {
        if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) is needed: {e}. \
                     Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) \
                     main start` (.ci/run does)"
                )
            });
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::MySqlConnection::connect(url).await.unwrap_or_else(|e| {
                panic!(
                    "MariaDB/MySQL at 127.0.0.1:3306 (root, no password) is needed: {e}. Start it \
                     with `start-stop-daemon --start --oknodo --background --exec \
                     /usr/sbin/mariadbd` (.ci/run does)"
                )
            });
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
    });
}

/// The lines of a generated file that are code (doc comments carry the SQL type as each
/// source spells it: `BIGSERIAL` in DDL, `bigint` in the catalog).
fn code_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("///") && !l.starts_with("//!"))
        .map(str::to_owned)
        .collect()
}

fn compare(out: &Path, checked_in: &str, table: &str, allowed: &[&str]) {
    let from_catalog = code_lines(&out.join(format!("{table}_model_gen.rs")));
    let from_ddl = code_lines(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/models/src")
            .join(checked_in)
            .join(format!("{table}_model_gen.rs")),
    );
    assert_eq!(from_catalog.len(), from_ddl.len(), "{table}");
    for (a, b) in from_catalog.iter().zip(&from_ddl) {
        if a != b {
            assert!(
                allowed.iter().any(|x| b.contains(x)),
                "{table}: catalog gives `{a}`, DDL gives `{b}`"
            );
        }
    }
}

#[test]
fn postgres_catalog_gives_the_models_of_its_ddl() {
    let db = format!("rustctl_ds_pg_{}", std::process::id());
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    run_sql(admin, &format!("drop database if exists {db} with (force)"));
    run_sql(admin, &format!("create database {db}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    run_sql(&url, include_str!("models/sql/pg.sql"));
    let dir = tempfile::tempdir().unwrap();
    rustctl()
        .current_dir(dir.path())
        .args([
            "model",
            "pg",
            "datasource",
            "--url",
            &url,
            "--table",
            "*",
            "--dir",
            "m",
            "-c",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("7 created"));
    compare(&dir.path().join("m"), "pg", "user", &[]);
    compare(&dir.path().join("m"), "pg", "trial", &[]);
    // UUIDs and arrays read through pg_catalog (`integer[]`, `character varying(20)[]`, ...).
    compare(&dir.path().join("m"), "pg", "device", &[]);
    // The catalog spells `INT[][]` as `integer[]`; its declared dimensions still refuse it.
    run_sql(
        &url,
        "create table grid (id int primary key, cells int[][]); \
         create table span (id int primary key, spans interval[])",
    );
    for (table, says) in [
        (
            "grid",
            "table `grid`, column `cells`: `integer[][]`: multi-dimensional arrays are not \
             supported",
        ),
        (
            "span",
            "table `span`, column `spans`: `interval[]`: arrays of `interval` are not supported",
        ),
    ] {
        rustctl()
            .current_dir(dir.path())
            .args(["model", "pg", "datasource", "--url", &url, "-t", table])
            .args(["--dir", "g"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(says));
        assert!(!dir.path().join("g").exists());
    }
    // A pattern that matches nothing writes nothing.
    rustctl()
        .current_dir(dir.path())
        .args([
            "model",
            "pg",
            "datasource",
            "--url",
            &url,
            "-t",
            "nope*",
            "--dir",
            "n",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--table `nope*` matches no table"));
    assert!(!dir.path().join("n").exists());
    run_sql(admin, &format!("drop database if exists {db} with (force)"));
}

#[test]
fn mysql_catalog_gives_the_models_of_its_ddl() {
    let db = format!("rustctl_ds_my_{}", std::process::id());
    let admin = "mysql://root@127.0.0.1:3306";
    run_sql(admin, &format!("drop database if exists {db}"));
    run_sql(admin, &format!("create database {db}"));
    let url = format!("mysql://root@127.0.0.1:3306/{db}");
    run_sql(&url, include_str!("models/sql/mysql.sql"));
    let dir = tempfile::tempdir().unwrap();
    rustctl()
        .current_dir(dir.path())
        .args([
            "model",
            "mysql",
            "datasource",
            "--url",
            &url,
            "--table",
            "us*,trial,account",
        ])
        .args(["--dir", "m", "-c"])
        .assert()
        .success()
        .stdout(predicate::str::contains("7 created"));
    // MariaDB's JSON is LONGTEXT in its catalog (a `String`); MySQL's is JSON.
    compare(
        &dir.path().join("m"),
        "mysql",
        "user",
        &["pub info: Option<sql::types::JsonValue>"],
    );
    compare(&dir.path().join("m"), "mysql", "trial", &[]);
    // `bigint(20) unsigned` in the catalog: the same i64 mapping as the DDL without --strict.
    compare(&dir.path().join("m"), "mysql", "account", &[]);
    run_sql(admin, &format!("drop database if exists {db}"));
}

#[test]
fn a_refused_connection_says_what_to_check_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    rustctl()
        .current_dir(dir.path())
        .args([
            "model",
            "pg",
            "datasource",
            "-t",
            "*",
            "--dir",
            "m",
            "--url",
        ])
        .arg(format!("postgres://u@127.0.0.1:{port}/db"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--url: cannot read the PostgreSQL catalog")
                .and(predicate::str::contains("is the database running")),
        );
    assert!(!dir.path().join("m").exists());
    rustctl()
        .args([
            "model",
            "sqlite",
            "datasource",
            "--url",
            "x",
            "-t",
            "*",
            "--dir",
            "m",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use `rustctl model sqlite ddl"));
}
