//! Decompresses `Content-Encoding: gzip` request bodies (flate2), bounded by `MaxBytes` both
//! before (compressed) and after (decompressed) so a small gzip bomb cannot expand unchecked.

use std::io::Read;

use axum::body::Body;
use axum::extract::Request;
use flate2::read::GzDecoder;
use http::header;

use crate::bind::read_body;
use crate::error::Error;

/// The gunzip middleware; decompressed bodies over `max` bytes answer 413. Unlike the other
/// middlewares it must read the body before the request goes on, so the stack awaits
/// [`inflate`] for the requests it [applies](Gunzip::applies) to.
#[derive(Clone, Copy, Debug)]
pub struct Gunzip {
    pub(crate) max: u64,
}

impl Gunzip {
    /// Limits decompressed bodies to `max` bytes.
    pub fn new(max: u64) -> Self {
        Gunzip { max }
    }

    /// Whether the request has a gzip body.
    pub fn applies(&self, req: &Request) -> bool {
        crate::header::get(req.headers(), &header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
    }
}

/// Reads and decompresses the body: the request as if it had been sent plain.
pub(crate) async fn inflate(req: Request, max: u64) -> Result<Request, Error> {
    let (mut parts, body) = req.into_parts();
    let compressed = read_body(body).await?;
    let mut out = Vec::new();
    GzDecoder::new(&compressed[..])
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::BadRequest(format!("invalid gzip body: {e}")))?;
    if out.len() as u64 > max {
        return Err(Error::PayloadTooLarge);
    }
    parts.headers.remove(header::CONTENT_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, out.len().into());
    Ok(Request::from_parts(parts, Body::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Stack;
    use crate::middleware::test_util::run_stack;
    use axum::response::{IntoResponse, Response};
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
        let stack = || Stack {
            gunzip: Some(Gunzip::new(100)),
            ..Stack::default()
        };
        let (s, _, body) = run_stack(stack(), echo, post(gz(b"hello gzip"))).await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "hello gzip"));
        let (s, _, _) = run_stack(stack(), echo, post(gz(&[b'a'; 1000]))).await;
        assert_eq!(s, 413, "decompressed size is bounded");
        let (s, _, body) = run_stack(stack(), echo, post(b"not gzip".to_vec())).await;
        assert_eq!(s, 400, "{body}");
        let plain = Request::post("/").body(Body::from("plain")).unwrap();
        let (s, _, body) = run_stack(stack(), echo, plain).await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "plain"));
    }
}
