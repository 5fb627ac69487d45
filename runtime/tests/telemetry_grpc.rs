//! The default batcher, OTLP/gRPC, delivers spans to a real gRPC endpoint on 127.0.0.1.
//!
//! The collector is a plain HTTP/2 handler speaking gRPC's framing (length-prefixed protobuf,
//! `grpc-status` trailer), so the test needs no gRPC server framework.

mod common;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use common::{client, conf};
use http_body::Frame;
use http_body_util::StreamBody;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use rustctl_runtime::{RouteGroup, Server};
use tokio::sync::mpsc;

async fn export(
    State(tx): State<mpsc::UnboundedSender<(String, String)>>,
    body: Bytes,
) -> Response {
    assert_eq!(body[0], 0, "uncompressed message");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let req = ExportTraceServiceRequest::decode(&body[5..5 + len]).expect("OTLP protobuf");
    for rs in req.resource_spans {
        for ss in rs.scope_spans {
            for s in ss.spans {
                let hex: String = s.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                let _ = tx.send((hex, s.name));
            }
        }
    }
    let msg = ExportTraceServiceResponse::default().encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let frames = futures_util::stream::iter([
        Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(framed))),
        Ok(Frame::trailers(trailers)),
    ]);
    Response::builder()
        .header("content-type", "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_collector_receives_the_span() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            post(export),
        )
        .with_state(tx);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // `Batcher` left out: OTLP/gRPC is the default.
    let mut server = Server::new(conf(&format!(
        "Log:\n  Level: error\nTelemetry:\n  Endpoint: {endpoint}\n"
    )));
    server.add_routes(RouteGroup::new().route("/ping", get(|| async { "pong" })));
    let running = server.listen().await.unwrap();
    let trace = "6bf92f3577b34da6a3ce929d0e0e4736";
    let r = client()
        .get(format!("http://{}/ping", running.addr()))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::task::spawn_blocking(rustctl_runtime::setup::flush_spans)
        .await
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv())
        .await
        .expect("a span within 15 s")
        .unwrap();
    assert_eq!(seen, (trace.to_owned(), "GET /ping".to_owned()));
    running.shutdown();
    running.wait().await.unwrap();
}
