//! Generation speed: a contract with 1,000 routes (and 2,000 types), from text to a service
//! directory.
//!
//! `cargo bench -p rustctl --bench generate` prints medians of: the pure pipeline (parse,
//! validate, lower, render: no I/O), the whole run into an empty directory, and a regeneration
//! that changes nothing. Directories are made in `/dev/shm` when it exists, so the figures
//! measure rustctl rather than the disk (on this project's VMs creating 2,000 files on disk
//! costs about a second by itself). The target is under 200 ms in release.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustctl::api::{self, lower::lower};
use rustctl::codegen::FilePlan;
use rustctl::codegen::api::plan;
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Options, RuntimeDep, Style};
use rustctl::writer::apply;

fn contract(n: usize) -> String {
    let mut s = String::from("syntax = \"v1\"\n\n");
    for i in 0..n {
        s.push_str(&format!(
            "type Req{i} {{\n\tId   int64  `path:\"id\"`\n\tName string `form:\"name,optional\"`\n}}\n\ntype Resp{i} {{\n\tOk    bool     `json:\"ok\"`\n\tItems []string `json:\"items\"`\n}}\n\n"
        ));
    }
    for g in 0..10 {
        s.push_str(&format!(
            "@server (\n\tgroup: group{g}\n\tprefix: /api/g{g}\n)\nservice bench-api {{\n"
        ));
        for i in (g * n / 10)..((g + 1) * n / 10) {
            s.push_str(&format!(
                "\t@handler route{i}\n\tget /items{i}/:id (Req{i}) returns (Resp{i})\n\n"
            ));
        }
        s.push_str("}\n\n");
    }
    s
}

/// Contract file to plan: everything but the writes.
fn pipeline(api: &Path) -> FilePlan {
    let checked = api::check(api);
    assert!(!checked.has_errors(), "{}", checked.render(false));
    let service = lower(&checked.loaded, "bench.api");
    let options = Options {
        style: Style::Snake,
        runtime: RuntimeDep::Path("../runtime".into()),
        standalone: true,
        port: 8888,
    };
    plan(&service, &Templates::load(None).unwrap(), &options).unwrap()
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let base: PathBuf = if Path::new("/dev/shm").is_dir() {
        "/dev/shm".into()
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::tempdir_in(&base).unwrap();
    let api = dir.path().join("bench.api");
    std::fs::write(&api, contract(1000)).unwrap();
    let runs = 9;
    let (mut pure, mut fresh, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let mut files = 0;
    for run in 0..runs {
        let start = Instant::now();
        let p = pipeline(&api);
        pure.push(start.elapsed());
        files = p.files.len();

        let out = dir.path().join(format!("svc{run}"));
        let start = Instant::now();
        let report = apply(&pipeline(&api), &out, false).unwrap();
        fresh.push(start.elapsed());
        assert_eq!(report.created.len(), files);

        let start = Instant::now();
        let report = apply(&pipeline(&api), &out, false).unwrap();
        again.push(start.elapsed());
        assert!(!report.changed(), "regeneration must change nothing");
    }
    let fresh_ms = median(fresh);
    println!(
        "contract: 1000 routes, 2000 types -> {files} files (directories in {})",
        base.display()
    );
    println!(
        "parse + validate + lower + render:  {:>7.1} ms (median of {runs})",
        median(pure)
    );
    println!("generate into an empty directory:   {fresh_ms:>7.1} ms");
    println!(
        "regenerate, nothing changed:        {:>7.1} ms",
        median(again)
    );
    println!(
        "target < 200 ms: {}",
        if fresh_ms < 200.0 { "met" } else { "MISSED" }
    );
}
