//! SIGTERM with requests in flight: a real service process drains them and exits cleanly.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_completes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("demo.yaml");
    std::fs::File::create(&conf)
        .unwrap()
        .write_all(
            b"Name: demo\nHost: 127.0.0.1\nPort: 0\nDevServer:\n  Host: 127.0.0.1\n  Port: 0\n\
              Shutdown:\n  WrapUpTime: 100ms\n  WaitTime: 10s\n",
        )
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustctl-runtime-demo"))
        .args(["-f", conf.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The startup line carries both addresses; the rest of stdout is drained in the background.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addrs = None;
    while addrs.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("startup line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("Starting server at"))
        {
            let dev = v["dev_addr"].as_str().unwrap().trim_start_matches("Some(");
            addrs = Some((
                v["addr"].as_str().unwrap().to_owned(),
                dev.trim_end_matches(')').to_owned(),
            ));
        }
    }
    let (addr, dev) = addrs.unwrap();
    let c = client();
    let inflight: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let url = format!("http://{addr}/slow?ms=700");
            tokio::spawn(async move {
                let r = c.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            })
        })
        .collect();
    // Wait until all four are inside the handler, as the in-flight gauge reports.
    let mut seen = false;
    for _ in 0..400 {
        let m = c
            .get(format!("http://{dev}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains("http_server_requests_in_flight 4") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen, "requests never got in flight");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for t in inflight {
        let (s, body) = t.await.unwrap();
        assert_eq!((s, body.as_str()), (200, r#"{"slept_ms":700}"#));
    }
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        c.get(format!("http://{addr}/slow")).send().await.is_err(),
        "listener closed"
    );
}
