//! `rustctl model` speed: 200 MySQL tables (12 columns, a primary key and two unique indexes
//! each, cached) from DDL text to a model directory.
//!
//! `cargo bench -p rustctl --bench model` prints medians of the pure pipeline (parse, build the
//! tables, render: no I/O) and of the whole run into an empty directory (in `/dev/shm` when it
//! exists, so the figure measures rustctl rather than the disk). The target is under 1 s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustctl::codegen::Style;
use rustctl::codegen::templates::Templates;
use rustctl::sqlmodel::Dialect;
use rustctl::sqlmodel::codegen::{ModelOptions, plan};
use rustctl::sqlmodel::ddl::{DEFAULT_IGNORED, ReadOptions, parse};
use rustctl::writer::apply;

fn ddl(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "CREATE TABLE `table_{i}` (\n  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n  \
             `create_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,\n  \
             `update_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n  \
             `code` varchar(32) NOT NULL DEFAULT '' COMMENT 'business code',\n  \
             `tenant` int NOT NULL DEFAULT '0',\n  `name` varchar(255) NOT NULL DEFAULT '',\n  \
             `amount` decimal(10,2) NOT NULL DEFAULT '0.00',\n  `score` double DEFAULT NULL,\n  \
             `payload` json DEFAULT NULL,\n  `born` date DEFAULT NULL,\n  \
             `flag` tinyint(1) NOT NULL DEFAULT '0',\n  `note` text,\n  PRIMARY KEY (`id`),\n  \
             UNIQUE KEY `idx_code` (`code`),\n  UNIQUE KEY `idx_tenant_name` (`tenant`, `name`)\n) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
        ));
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = ddl(200);
    let read = ReadOptions {
        ignored: DEFAULT_IGNORED.split(',').map(str::to_owned).collect(),
        strict: false,
    };
    let options = ModelOptions {
        dialect: Dialect::Mysql,
        cache: true,
        style: Style::Snake,
    };
    let templates = Templates::load(None).unwrap();
    let mut pure = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let tables = parse("bench.sql", &text, Dialect::Mysql, &read).unwrap();
        let p = plan(&tables, &[], &templates, &options).unwrap();
        assert_eq!(p.files.len(), 401);
        pure.push(start.elapsed());
    }
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let mut whole = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let start = Instant::now();
        let templates = Templates::load(None).unwrap();
        let tables = parse("bench.sql", &text, Dialect::Mysql, &read).unwrap();
        let p = plan(&tables, &[], &templates, &options).unwrap();
        apply(&p, &dir.path().join("model"), false).unwrap();
        whole.push(start.elapsed());
    }
    println!(
        "200 tables: parse + plan {:?} (median of 10); whole run into an empty directory {:?} (median of 5)",
        median(pure),
        median(whole)
    );
}
