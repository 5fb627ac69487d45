//! Decompresses `Content-Encoding: gzip` request bodies (flate2), bounded by `MaxBytes` both
//! before (compressed) and after (decompressed) so a small gzip bomb cannot expand unchecked.

use std::io::Read;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;
use http::header;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::bind::read_body;
use crate::error::Error;
use futures_util::future::Either;
use tower::{Layer, Service};

/// The gunzip middleware; decompressed bodies over `max` bytes answer 413.
#[derive(Clone, Copy, Debug)]
pub struct Gunzip {
    max: u64,
}

impl Gunzip {
    /// Limits decompressed bodies to `max` bytes.
    pub fn new(max: u64) -> Self {
        Gunzip { max }
    }
}

/// The gunzip layer.
#[derive(Clone, Copy, Debug)]
pub struct GunzipLayer(pub Gunzip);

impl<S> Layer<S> for GunzipLayer {
    type Service = GunzipService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GunzipService {
            gunzip: self.0,
            inner,
        }
    }
}

/// The gunzip service. Unlike the other middlewares it must read the body before calling on,
/// so it is a plain tower service that clones its inner service only for gzip requests.
#[derive(Clone, Debug)]
pub struct GunzipService<S> {
    gunzip: Gunzip,
    inner: S,
}

impl<S> Service<Request> for GunzipService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        futures_util::future::Map<
            S::Future,
            fn(Result<Response, Infallible>) -> Result<Response, Infallible>,
        >,
        Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use futures_util::FutureExt;
        let gzip = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        if !gzip {
            let id: fn(Result<Response, Infallible>) -> Result<Response, Infallible> = |r| r;
            return Either::Left(self.inner.call(req).map(id));
        }
        // The clone is the one that was driven to readiness (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.gunzip.max;
        Either::Right(Box::pin(async move {
            match inflate(req, max).await {
                Ok(req) => inner.call(req).await,
                Err(e) => Ok(e.into_response()),
            }
        }))
    }
}

async fn inflate(req: Request, max: u64) -> Result<Request, Error> {
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
    use crate::middleware::test_util::run_layer;
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
        let (s, _, body) =
            run_layer(GunzipLayer(Gunzip::new(100)), echo, post(gz(b"hello gzip"))).await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "hello gzip"));
        let (s, _, _) =
            run_layer(GunzipLayer(Gunzip::new(100)), echo, post(gz(&[b'a'; 1000]))).await;
        assert_eq!(s, 413, "decompressed size is bounded");
        let (s, _, body) = run_layer(
            GunzipLayer(Gunzip::new(100)),
            echo,
            post(b"not gzip".to_vec()),
        )
        .await;
        assert_eq!(s, 400, "{body}");
    }
}
