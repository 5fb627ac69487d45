//! Spans reach a real OTLP/HTTP receiver on 127.0.0.1 with the propagated trace id.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use common::{client, conf};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use rustctl_runtime::{RouteGroup, Server};
use tokio::sync::mpsc;

type Seen = (String, String, String);

async fn receive(State(tx): State<mpsc::UnboundedSender<Seen>>, body: Bytes) -> Vec<u8> {
    let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
    for rs in req.resource_spans {
        for ss in rs.scope_spans {
            for s in ss.spans {
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let _ = tx.send((hex(&s.trace_id), hex(&s.parent_span_id), s.name));
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_with_the_propagated_trace_id() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = collector.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(tx);
    tokio::spawn(async move { axum::serve(collector, app).await.unwrap() });

    let mut server = Server::new(conf(&format!(
        "Log:\n  Level: error\nTelemetry:\n  Name: trial-api\n  Endpoint: {endpoint}\n  Sampler: 1.0\n  Batcher: otlphttp\n"
    )));
    server.add_routes(RouteGroup::new().route("/ping", get(|| async { "pong" })));
    let running = server.listen().await.unwrap();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let r = client()
        .get(format!("http://{}/ping", running.addr()))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The batch exporter would send within its 5 s delay; flushing makes it immediate.
    tokio::task::spawn_blocking(rustctl_runtime::setup::flush_spans)
        .await
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv())
        .await
        .expect("a span within 15 s")
        .unwrap();
    assert_eq!(
        seen,
        (trace.to_owned(), parent.to_owned(), "GET /ping".to_owned())
    );
    running.shutdown();
    running.wait().await.unwrap();
}
