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
pub use gunzip::Gunzip;
pub use jwt::{Claims, Jwt};
pub use limit::RateLimit;
pub use maxbytes::MaxBytes;
pub use maxconns::MaxConns;
pub use metrics::MetricsMiddleware;
pub use recover::recover;
pub use shedding::Shedding;
pub use timeout::Timeout;
pub use trace::Trace;

/// The rest of the stack, as seen by a middleware.
pub trait Next: Send + 'static {
    /// Runs the rest of the stack.
    fn run(self, req: Request) -> impl Future<Output = Response> + Send;
}

impl<S> Next for S
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    async fn run(mut self, req: Request) -> Response {
        match self.call(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// A middleware body: state cloned per request, an async function of the request.
pub trait Handle: Clone + Send + Sync + 'static {
    /// Handles one request, calling `next` to continue.
    fn handle<N: Next>(self, req: Request, next: N) -> impl Future<Output = Response> + Send;
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
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone is the one that was driven to readiness (tower's usual swap).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let handle = self.handle.clone();
        Box::pin(async move { Ok(handle.handle(req, inner).await) })
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
    use tower::{Layer, Service, ServiceExt, service_fn};

    use super::{Handle, HandleLayer};

    /// Runs `req` through `h` in front of `handler`.
    pub(crate) async fn run<H, F, Fut, R>(
        h: H,
        handler: F,
        req: Request,
    ) -> (StatusCode, http::HeaderMap, String)
    where
        H: Handle,
        F: Fn(Request) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let svc = service_fn(move |req: Request| {
            let f = handler.clone();
            async move { Ok::<Response, Infallible>(f(req).await.into_response()) }
        });
        let mut svc = HandleLayer(h).layer(svc);
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
