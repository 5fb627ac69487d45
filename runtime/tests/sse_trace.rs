//! Server-sent events keep their request's trace: logic runs in a task of its own, and the
//! lines it writes there carry the request's `trace` and a `span`.

mod common;

use axum::routing::get;
use common::{client, conf};
use rustctl_runtime::sse::{self, EventSender};
use rustctl_runtime::{Error, RouteGroup, Server};
use serde_json::Value;

#[tokio::test]
async fn sse_logic_lines_carry_the_request_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let mut server = Server::new(conf(&format!("Log:\n  Mode: file\n  Path: {path}\n")));
    server.add_routes(RouteGroup::new().route(
        "/ticks",
        get(|| async {
            sse::respond(|tx: EventSender<u32>| async move {
                for n in 1..=2 {
                    tokio::task::yield_now().await;
                    tracing::info!(n, "tick from the stream");
                    tx.send(n)
                        .await
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
                Ok(())
            })
        }),
    ));
    let running = server.listen().await.unwrap();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let body = client()
        .get(format!("http://{}/ticks", running.addr()))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "data: 1\n\ndata: 2\n\n");
    running.shutdown();
    running.wait().await.unwrap();
    rustctl_runtime::log::flush();

    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        for l in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            lines.push(serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")));
        }
    }
    let ticks: Vec<&Value> = lines
        .iter()
        .filter(|v| v["content"] == "tick from the stream")
        .collect();
    assert_eq!(ticks.len(), 2, "{lines:#?}");
    let access = lines
        .iter()
        .find(|v| {
            v["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("[HTTP] 200 - GET /ticks - "))
        })
        .unwrap_or_else(|| panic!("no access line in {lines:#?}"));
    for tick in ticks {
        assert_eq!(tick["trace"], trace, "{tick}");
        // The request's own span (a new hop), not the caller's.
        assert_eq!(tick["span"], access["span"], "{tick}");
        assert_ne!(tick["span"], "b7ad6b7169203331", "{tick}");
    }
}
