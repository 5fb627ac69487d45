//! A log output that cannot be opened stops servers from starting, naming `Log.Path`, instead
//! of leaving them running with no logs. Logging is set up once per process, so this file is a
//! test binary of its own: both tests ask for the same unusable directory, and whichever runs
//! second is refused by the first one's set-up, with the same message.

mod common;

use std::path::{Path, PathBuf};

use rustctl_runtime::Server;
use rustctl_runtime::config::{LogConf, LogMode};
use rustctl_runtime::rpc::{RpcServer, RpcServerConf};

/// A `Log.Path` below a regular file: a directory that can be neither created nor written,
/// whoever runs the test (root included). The same for both tests.
fn unusable_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("log_output");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    file.join("logs")
}

fn assert_names_log_path(e: std::io::Error, path: &Path) {
    let message = e.to_string();
    assert!(message.contains("Log.Path"), "{message}");
    assert!(message.contains(path.to_str().unwrap()), "{message}");
}

#[tokio::test]
async fn rest_server_refuses_to_start_without_its_log_file() {
    let path = unusable_dir();
    let conf = common::conf(&format!("Log:\n  Mode: file\n  Path: {}\n", path.display()));
    let Err(e) = Server::new(conf).listen().await else {
        panic!("started without its log output");
    };
    assert_names_log_path(e, &path);
}

#[tokio::test]
async fn rpc_server_refuses_to_start_without_its_log_file() {
    let path = unusable_dir();
    let conf = RpcServerConf {
        name: "log.rpc".into(),
        listen_on: "127.0.0.1:0".into(),
        log: LogConf {
            mode: LogMode::File,
            path: path.to_str().unwrap().into(),
            ..LogConf::default()
        },
        ..RpcServerConf::default()
    };
    let Err(e) = RpcServer::new(conf).listen().await else {
        panic!("started without its log output");
    };
    assert_names_log_path(e, &path);
}
