//! The built-in middlewares, one per file, each with its own tests, and [`Stack`], which
//! runs them for a route in one fixed order.
//!
//! Most are a [`Stage`]: a synchronous look at the request (which may answer it instead) and
//! a look at the response on its way out. The stack runs every stage of a request inside one
//! future, rather than one tower layer and one boxed future per middleware: with a dozen
//! middlewares that per-layer plumbing cost more than the middlewares' own work.

mod accesslog;
mod breaker;
mod cors;
mod gunzip;
mod jwt;
mod limit;
mod maxbytes;
mod maxconns;
mod metrics;
mod recover;
mod shared_limit;
mod shedding;
mod signature;
mod stack;
mod timeout;
mod trace;

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;

pub use accesslog::AccessLog;
pub use breaker::BreakerMiddleware;
pub use cors::Cors;
pub use gunzip::Gunzip;
pub use jwt::{Claims, Jwt};
pub use limit::RateLimit;
pub use maxbytes::MaxBytes;
pub use maxconns::{MaxConns, Slot, Slots};
pub use metrics::MetricsMiddleware;
pub use shared_limit::{KeyBy, SharedLimit, SharedLimitLayer, SharedLimitService};
pub use shedding::Shedding;
pub use signature::{
    CONTENT_SECURITY, Signature, SignatureError, SignatureLayer, SignatureService,
};
pub use stack::{Stack, StackFuture, StackLayer, StackService};
pub use timeout::Timeout;
pub use trace::Trace;

/// The future a middleware returns.
pub type ResponseFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send + 'static>>;

/// Unwraps an inner service's result (the error type is `Infallible`).
pub fn done(r: Result<Response, Infallible>) -> Response {
    match r {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// A stage's own answer to a request it refuses (boxed: refusals are rare, and the common
/// `Ok` path stays small).
pub type Refusal = Box<Response>;

/// Refuses a request with `answer`.
pub fn refuse(answer: impl axum::response::IntoResponse) -> Refusal {
    Box::new(answer.into_response())
}

/// A middleware in two steps around the rest of the stack.
///
/// The stack reads the clock once on the way in and once on the way out and hands both
/// readings to every stage (a dozen clock reads per request cost more than some stages).
pub trait Stage: Send + Sync + 'static {
    /// What [`Stage::admit`] hands on to [`Stage::finish`]: a permit, a start time, ...
    type Ticket: Send + 'static;

    /// Looks at the request before it goes on, `now` being when it arrived. `Err` answers it
    /// instead: the stages after this one and the handler are skipped, and this one is not
    /// finished; the stages before it still see the answer.
    fn admit(&self, req: &mut Request, now: Instant) -> Result<Self::Ticket, Refusal>;

    /// Sees the response on its way out, `now` being when it was ready.
    fn finish(&self, ticket: Self::Ticket, resp: &mut Response, now: Instant) {
        let _ = (ticket, resp, now);
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
    use std::time::Instant;
    use tower::util::BoxCloneSyncService;
    use tower::{Layer, Service, ServiceExt, service_fn};

    use super::{Stack, StackLayer, Stage};

    type Out = (StatusCode, http::HeaderMap, String);

    /// Runs `req` through `stage` in front of `handler`.
    pub(crate) async fn run<S, F, Fut, R>(stage: S, handler: F, mut req: Request) -> Out
    where
        S: Stage,
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let resp = match stage.admit(&mut req, Instant::now()) {
            Err(refusal) => *refusal,
            Ok(ticket) => {
                let mut resp = handler(req).await.into_response();
                stage.finish(ticket, &mut resp, Instant::now());
                resp
            }
        };
        parts(resp).await
    }

    /// Runs `req` through `stack` in front of `handler`.
    pub(crate) async fn run_stack<F, Fut, R>(stack: Stack, handler: F, req: Request) -> Out
    where
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        run_layer(StackLayer::new(stack), handler, req).await
    }

    async fn parts(resp: Response) -> Out {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
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
        parts(resp).await
    }

    pub(crate) fn get(uri: &str) -> Request {
        Request::get(uri).body(Body::empty()).unwrap()
    }
}
