//! The built-in middlewares, one per file, each with its own tests.
//!
//! Each is a small `Handle` (its state plus an async `handle(req, next)`), turned into a tower
//! `Layer`/`Service` by [`HandleLayer`]: one boxed future per middleware per request, no boxed
//! inner service (unlike `axum::middleware::from_fn`, which boxes both).

mod accesslog;
mod breaker;
mod gunzip;
mod jwt;
mod limit;
mod maxbytes;
mod maxconns;
mod metrics;
mod recover;
mod shedding;
mod signature;
mod timeout;
mod trace;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

pub use accesslog::AccessLog;
pub use breaker::BreakerMiddleware;
pub use gunzip::{Gunzip, GunzipLayer};
pub use jwt::{Claims, Jwt};
pub use limit::RateLimit;
pub use maxbytes::MaxBytes;
pub use maxconns::MaxConns;
pub use metrics::MetricsMiddleware;
pub use recover::recover;
pub use shedding::Shedding;
pub use signature::{
    CONTENT_SECURITY, Signature, SignatureError, SignatureLayer, SignatureService,
};
pub use timeout::Timeout;
pub use trace::Trace;

/// The future a middleware returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// Unwraps an inner service's result (the error type is `Infallible`).
pub fn done(r: Result<Response, Infallible>) -> Response {
    match r {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// A middleware: synchronous checks on the request, then either an early response or a call
/// of `next` (the rest of the stack, called at most once, before `handle` returns) whose
/// future it wraps.
///
/// Calling `next` synchronously lets [`HandleService`] call its inner service in place instead
/// of cloning it per request; with a dozen layers, per-layer clones of the whole inner stack
/// were the largest cost of the stack.
pub trait Handle: Clone + Send + Sync + 'static {
    /// Handles one request.
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static;
}

/// Makes a [`Handle`] a tower layer.
#[derive(Clone, Debug)]
pub struct HandleLayer<H>(pub H);

impl<H: Clone, S> Layer<S> for HandleLayer<H> {
    type Service = HandleService<H, S>;
    fn layer(&self, inner: S) -> Self::Service {
        HandleService {
            handle: self.0.clone(),
            inner,
        }
    }
}

/// The service [`HandleLayer`] produces.
#[derive(Clone, Debug)]
pub struct HandleService<H, S> {
    handle: H,
    inner: S,
}

impl<H, S> Service<Request> for HandleService<H, S>
where
    H: Handle,
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        futures_util::future::Map<ResponseFuture, fn(Response) -> Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use futures_util::FutureExt;
        let inner = &mut self.inner;
        self.handle
            .handle(req, |r| inner.call(r))
            .map(Ok as fn(Response) -> Result<Response, Infallible>)
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::util::BoxCloneSyncService;
    use tower::{Layer, Service, ServiceExt, service_fn};

    use super::{Handle, HandleLayer};

    type Out = (StatusCode, http::HeaderMap, String);

    /// Runs `req` through `h` in front of `handler`.
    pub(crate) async fn run<H, F, Fut, R>(h: H, handler: F, req: Request) -> Out
    where
        H: Handle,
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        run_layer(HandleLayer(h), handler, req).await
    }

    /// Runs `req` through `layer` in front of `handler`.
    pub(crate) async fn run_layer<L, F, Fut, R>(layer: L, handler: F, req: Request) -> Out
    where
        L: Layer<BoxCloneSyncService<Request, Response, Infallible>>,
        L::Service: Service<Request, Response = Response, Error = Infallible>,
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let svc = service_fn(move |req: Request| {
            let f = handler.clone();
            async move { Ok::<Response, Infallible>(f(req).await.into_response()) }
        });
        let mut svc = layer.layer(BoxCloneSyncService::new(svc));
        let resp = svc.ready().await.unwrap().call(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    pub(crate) fn get(uri: &str) -> Request {
        Request::get(uri).body(Body::empty()).unwrap()
    }
}
