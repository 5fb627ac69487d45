//! `MaxBytes`: a declared `Content-Length` over the limit is refused with 413 at once; other
//! bodies are wrapped in `http_body_util::Limited`, and reading past the limit is a 413 (see
//! `bind`). Hand-written instead of tower-http's `RequestBodyLimitLayer` so the 413 carries the
//! runtime's JSON error shape.

use axum::body::Body;
use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;

use super::{Handle, ResponseFuture, done};
use crate::error::Error;

/// The max-body middleware.
#[derive(Clone, Copy)]
pub struct MaxBytes(pub u64);

impl Handle for MaxBytes {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.0) {
            return Box::pin(std::future::ready(Error::PayloadTooLarge.into_response()));
        }
        let limit = usize::try_from(self.0).unwrap_or(usize::MAX);
        let req = req.map(|b| Body::new(Limited::new(b, limit)));
        let fut = next(req);
        Box::pin(async move { done(fut.await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::read_body;
    use crate::middleware::test_util::run;

    async fn echo_len(req: Request) -> Response {
        match read_body(req.into_body()).await {
            Ok(b) => b.len().to_string().into_response(),
            Err(e) => e.into_response(),
        }
    }

    #[tokio::test]
    async fn declared_and_streamed_oversize_is_413() {
        let req = Request::post("/").body(Body::from(vec![0u8; 11])).unwrap();
        let (s, _, _) = run(MaxBytes(10), echo_len, req).await;
        assert_eq!(s, 413);
        // No Content-Length: a stream of chunks.
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 6])),
            Ok(bytes::Bytes::from(vec![0u8; 6])),
        ]);
        let req = Request::post("/").body(Body::from_stream(chunks)).unwrap();
        let (s, _, body) = run(MaxBytes(10), echo_len, req).await;
        assert_eq!(s, 413, "{body}");
        let req = Request::post("/").body(Body::from(vec![0u8; 10])).unwrap();
        assert_eq!(run(MaxBytes(10), echo_len, req).await.2, "10");
    }
}
