//! Panic recovery: a panicking handler answers 500 (JSON), the panic is logged, the server
//! lives on. Built on tower-http's `CatchPanicLayer`.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use tower::layer::util::Stack;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::Error;

type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;
type PanicResponse = http::Response<tower_http::body::UnsyncBoxBody<bytes::Bytes, tower::BoxError>>;
type ToAxum = fn(PanicResponse) -> Response;

/// The recovery layer (responses mapped back to axum's body type).
pub type RecoverLayer = Stack<CatchPanicLayer<PanicHandler>, MapResponseLayer<ToAxum>>;

fn on_panic(err: Box<dyn Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %msg, "handler panicked");
    Error::Internal(format!("panic: {msg}")).into_response()
}

fn into_axum(r: PanicResponse) -> Response {
    r.into_response()
}

/// Builds the recovery layer.
pub fn recover() -> RecoverLayer {
    Stack::new(
        CatchPanicLayer::custom(on_panic as PanicHandler),
        MapResponseLayer::new(into_axum as ToAxum),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt;

    #[tokio::test]
    async fn panic_becomes_500_json() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("kaboom")
                    }
                }),
            )
            .layer(recover());
        let req = http::Request::get("/boom").body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], 500);
    }
}
