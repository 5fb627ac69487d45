//! A model generated into a new service, built as a user would: `rustctl rpc new`, `rustctl
//! model sqlite ddl -c`, then `cargo clippy -D warnings` and `cargo fmt --check` with no other
//! edit. Shares `target/e2e` with `e2e_service.rs`, so the runtime compiles once.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e")
}

fn run(program: &str, args: &[&str], dir: &Path, target: bool) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    if target {
        cmd.env("CARGO_TARGET_DIR", shared_target())
            .env_remove("RUSTFLAGS");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_new_service_with_a_cached_model_passes_clippy_and_fmt_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let rustctl = env!("CARGO_BIN_EXE_rustctl");
    run(
        rustctl,
        &["rpc", "new", "shop", "--dir", "."],
        tmp.path(),
        false,
    );
    let svc = tmp.path().join("shop");
    std::fs::write(
        svc.join("schema.sql"),
        "CREATE TABLE item (\n  id INTEGER PRIMARY KEY,\n  sku TEXT NOT NULL UNIQUE,\n  \
         price REAL,\n  shop INTEGER NOT NULL,\n  code TEXT,\n  UNIQUE (shop, code)\n);\n",
    )
    .unwrap();
    let model = [
        "model",
        "sqlite",
        "ddl",
        "--src",
        "schema.sql",
        "--dir",
        "src/model",
        "-c",
    ];
    run(rustctl, &model, &svc, false);
    run(
        env!("CARGO"),
        &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"],
        &svc,
        true,
    );
    run(env!("CARGO"), &["fmt", "--check"], &svc, false);
}
