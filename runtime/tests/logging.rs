//! Log lines: go-zero field names, trace/span ids inside a request, one access line per
//! request, slow-call warnings, file output.

mod common;

use std::time::Duration;

use axum::routing::get;
use common::{client, conf};
use rustctl_runtime::{ClientAddr, RouteGroup, Server};
use serde_json::Value;

#[tokio::test]
async fn json_lines_carry_ids_access_and_slowcall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let mut server = Server::new(conf(&format!(
        "Verbose: true\nLog:\n  Mode: file\n  Path: {path}\n  SlowThreshold: 1ms\n"
    )));
    let who = |ClientAddr(addr): ClientAddr| async move { addr.to_string() };
    server.add_routes(
        RouteGroup::new()
            .route(
                "/hello",
                get(|| async {
                    tracing::info!(patient = 12, "inside handler");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "hi"
                }),
            )
            .get("/who", who, ()),
    );
    let running = server.listen().await.unwrap();
    // The client's address reaches handlers over HTTP/1.1 and HTTP/2 (where each request
    // runs in a task of its own).
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for c in [client(), h2] {
        let r = c
            .get(format!("http://{}/who", running.addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let addr: std::net::SocketAddr = r.text().await.unwrap().parse().unwrap();
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        assert_ne!(addr.port(), running.addr().port());
    }
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let r = client()
        .get(format!("http://{}/hello", running.addr()))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .header("authorization", "Bearer top-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    running.shutdown();
    running.wait().await.unwrap();
    rustctl_runtime::log::flush();

    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        assert!(
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("rt-test"),
            "{p:?}"
        );
        for l in std::fs::read_to_string(&p).unwrap().lines() {
            lines.push(serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")));
        }
    }
    let find = |pred: &dyn Fn(&Value) -> bool| -> Value {
        lines
            .iter()
            .find(|v| pred(v))
            .cloned()
            .unwrap_or_else(|| panic!("no such line in {lines:#?}"))
    };
    let inside = find(&|v| v["content"] == "inside handler");
    assert_eq!(inside["trace"], trace);
    assert_eq!(inside["level"], "info");
    assert_eq!(inside["patient"], 12);
    assert_eq!(inside["service"], "rt-test");
    assert!(inside["span"].as_str().unwrap().len() == 16, "{inside}");
    assert!(
        inside["caller"].as_str().unwrap().contains("logging.rs"),
        "{inside}"
    );
    assert!(
        inside["@timestamp"].as_str().unwrap().contains('T'),
        "{inside}"
    );

    let access: Vec<&Value> = lines
        .iter()
        .filter(|v| {
            let c = v["content"].as_str().unwrap_or("");
            v["level"] == "info"
                && c.starts_with("[HTTP] 200 - GET /hello - ")
                && !c.ends_with(" - details")
        })
        .collect();
    assert_eq!(access.len(), 1, "one access line per request: {lines:#?}");
    let content = access[0]["content"].as_str().unwrap();
    assert!(
        content.contains(" - 127.0.0.1:"),
        "client address: {content}"
    );
    assert_eq!(access[0]["trace"], trace);
    assert_eq!(access[0]["span"], inside["span"]);
    assert!(access[0]["duration"].as_str().unwrap().ends_with("ms"));
    // The access line's caller is the line in the runtime that writes it, short as go-zero's.
    let caller = access[0]["caller"].as_str().unwrap();
    let (file, line) = caller.rsplit_once(':').unwrap();
    assert_eq!(file, "middleware/accesslog.rs", "{caller}");
    assert!(line.parse::<u32>().is_ok_and(|n| n > 0), "{caller}");

    let details = find(&|v| v["content"] == "[HTTP] 200 - GET /hello - details");
    let req_headers = details["request_headers"].as_str().unwrap();
    assert!(
        req_headers.contains("authorization: <redacted>"),
        "{details}"
    );
    assert!(!details.to_string().contains("top-secret"), "{details}");
    assert!(
        details["response_headers"]
            .as_str()
            .unwrap()
            .contains("content-type: text/plain"),
        "{details}"
    );
    assert_eq!(details["trace"], trace);

    // Under load the `/who` requests may be slow calls too: pick the one of `/hello`.
    let slow = find(&|v| {
        let c = v["content"].as_str().unwrap_or("");
        c.contains("GET /hello") && c.contains("slowcall")
    });
    assert_eq!(slow["level"], "warn");
    assert_eq!(slow["trace"], trace);
}
