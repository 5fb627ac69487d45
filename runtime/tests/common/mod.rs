//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rustctl_runtime::RestConf;
use rustctl_runtime::config;

/// A config for a server on 127.0.0.1 with free ports; `extra` adds YAML lines.
pub fn conf(extra: &str) -> RestConf {
    let text = format!(
        "Name: rt-test\nHost: 127.0.0.1\nPort: 0\nDevServer:\n  Host: 127.0.0.1\n  Port: 0\n{extra}"
    );
    config::from_str::<RestConf>(&text, "test.yaml")
        .expect("test config")
        .0
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
