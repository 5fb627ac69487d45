//! The error shape is replaced in one place and every error follows it.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::BodyExt;
use rustctl_runtime::{Error, error::set_error_renderer, sse};

fn envelope(status: StatusCode, code: i64, msg: &str) -> Response {
    let body =
        serde_json::json!({"error": {"status": status.as_u16(), "code": code, "message": msg}});
    (status, Json(body)).into_response()
}

#[tokio::test]
async fn custom_renderer_applies_to_all_errors() {
    assert!(set_error_renderer(envelope));
    assert!(!set_error_renderer(envelope), "second set must be refused");
    let resp = Error::NotFound("no such trial".into()).into_response();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": {"status": 404, "code": 404, "message": "no such trial"}})
    );
    let resp = Error::TooManyRequests { retry_after: 2 }.into_response();
    assert_eq!(resp.headers()["retry-after"], "2");

    // A server-sent events route's error event follows the same shape, and an internal
    // error's detail stays out of it as on every other path.
    let stream = sse::respond(|_tx: sse::EventSender<()>| async {
        Err(Error::Internal("db password=hunter2".into()))
    });
    let bytes = stream
        .into_response()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "event: error\ndata: {\"error\":{\"code\":500,\"message\":\"internal server error\",\"status\":500}}\n\n"
    );
}
