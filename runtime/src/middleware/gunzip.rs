//! Decompresses `Content-Encoding: gzip` request bodies (flate2), bounded by `MaxBytes` both
//! before (compressed) and after (decompressed) so a small gzip bomb cannot expand unchecked.

use std::io::Read;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;
use http::header;

use super::{Handle, Next};
use crate::bind::read_body;
use crate::error::Error;

/// The gunzip middleware; decompressed bodies over `max` bytes answer 413.
#[derive(Clone, Copy)]
pub struct Gunzip {
    max: u64,
}

impl Gunzip {
    /// Limits decompressed bodies to `max` bytes.
    pub fn new(max: u64) -> Self {
        Gunzip { max }
    }
}

impl Handle for Gunzip {
    async fn handle<N: Next>(self, req: Request, next: N) -> Response {
        let gzip = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        if !gzip {
            return next.run(req).await;
        }
        let (mut parts, body) = req.into_parts();
        let compressed = match read_body(body).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        };
        let mut out = Vec::new();
        let read = GzDecoder::new(&compressed[..])
            .take(self.max.saturating_add(1))
            .read_to_end(&mut out);
        if let Err(e) = read {
            return Error::BadRequest(format!("invalid gzip body: {e}")).into_response();
        }
        if out.len() as u64 > self.max {
            return Error::PayloadTooLarge.into_response();
        }
        parts.headers.remove(header::CONTENT_ENCODING);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, out.len().into());
        next.run(Request::from_parts(parts, Body::from(out))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::run;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    async fn echo(req: Request) -> Response {
        match read_body(req.into_body()).await {
            Ok(b) => b.into_response(),
            Err(e) => e.into_response(),
        }
    }

    fn post(body: Vec<u8>) -> Request {
        Request::post("/")
            .header("content-encoding", "gzip")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn inflates_and_bounds() {
        let (s, _, body) = run(Gunzip::new(100), echo, post(gz(b"hello gzip"))).await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "hello gzip"));
        let (s, _, _) = run(Gunzip::new(100), echo, post(gz(&[b'a'; 1000]))).await;
        assert_eq!(s, 413, "decompressed size is bounded");
        let (s, _, body) = run(Gunzip::new(100), echo, post(b"not gzip".to_vec())).await;
        assert_eq!(s, 400, "{body}");
    }
}
