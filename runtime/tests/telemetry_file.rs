//! `Telemetry.Batcher: file` writes finished spans as JSON lines with the propagated trace id.

mod common;

use axum::routing::get;
use common::{client, conf};
use rustctl_runtime::{RouteGroup, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_batcher_writes_spans() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.log");
    let mut server = Server::new(conf(&format!(
        "Log:\n  Level: error\nTelemetry:\n  Batcher: file\n  OutputPath: {}\n",
        out.display()
    )));
    server.add_routes(RouteGroup::new().route("/ping", get(|| async { "pong" })));
    let running = server.listen().await.unwrap();
    let trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    let r = client()
        .get(format!("http://{}/ping", running.addr()))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["traceparent"].to_str().unwrap().contains(trace));
    tokio::task::spawn_blocking(rustctl_runtime::setup::flush_spans)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let span: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|v: &serde_json::Value| v["name"] == "GET /ping")
        .unwrap_or_else(|| panic!("no span in {text}"));
    assert_eq!(span["traceId"], trace);
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    running.shutdown();
    running.wait().await.unwrap();
}
