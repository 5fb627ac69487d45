//! `MaxBytes`: a declared `Content-Length` over the limit is refused with 413 at once; other
//! bodies are wrapped in `http_body_util::Limited`, and reading past the limit is a 413 (see
//! `bind`). Hand-written instead of tower-http's `RequestBodyLimitLayer` so the 413 carries the
//! runtime's JSON error shape.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use http_body_util::Limited;

use super::{Refusal, Stage, refuse};
use crate::error::Error;

/// The max-body middleware.
#[derive(Clone, Copy)]
pub struct MaxBytes(pub u64);

impl Stage for MaxBytes {
    type Ticket = ();

    fn admit(&self, req: &mut Request, _now: Instant) -> Result<(), Refusal> {
        use http_body::Body as _;
        let declared = crate::header::get(req.headers(), &http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.0) {
            return Err(refuse(Error::PayloadTooLarge));
        }
        // A body known to be empty (most GETs) needs no counting.
        if req.body().size_hint().upper() != Some(0) {
            let limit = usize::try_from(self.0).unwrap_or(usize::MAX);
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::new(Limited::new(body, limit));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::read_body;
    use crate::middleware::test_util::run;
    use axum::response::{IntoResponse, Response};

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
