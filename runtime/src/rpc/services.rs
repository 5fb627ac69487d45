//! The services of a server, found by the service name in a call's path
//! (`/package.Service/Method`).
//!
//! Written here instead of using tonic's `Routes`, which is an axum router: for every call it
//! matched the path against `/{Service}/{*rest}` patterns, decoded the path parameter, added
//! three request extensions and turned the request and the reply body into axum's body type
//! and back (a box each time): a dozen allocations per call to choose among a handful of
//! names. Answers for unknown services are the same as tonic's: UNIMPLEMENTED.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::server::NamedService;
use tower::Service;

use super::intercept::{RpcRequest, RpcResponse, status_response};

/// A service's future, boxed.
type ServiceFuture = Pin<Box<dyn Future<Output = Result<RpcResponse, Infallible>> + Send>>;

/// Calls one service (a clone of it: tonic's services are cheap handles, ready at once).
type Call = Box<dyn Fn(RpcRequest) -> ServiceFuture + Send + Sync>;

/// The services of a server by name.
#[derive(Clone, Default)]
pub(crate) struct Services {
    by_name: Arc<Vec<(&'static str, Call)>>,
}

impl Services {
    /// Adds `svc` under its name; a later service of the same name replaces it.
    pub(crate) fn add<S>(&mut self, svc: S)
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let call: Call = Box::new(move |req| Box::pin(svc.clone().call(req)));
        let by_name =
            Arc::get_mut(&mut self.by_name).expect("services are added before the server serves");
        by_name.retain(|(name, _)| *name != S::NAME);
        by_name.push((S::NAME, call));
    }

    fn find(&self, path: &str) -> Option<&Call> {
        let service = service_of(path)?;
        self.by_name
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, call)| call)
    }
}

/// The service a call's path (`/package.Service/Method`) names.
pub(crate) fn service_of(path: &str) -> Option<&str> {
    Some(path.strip_prefix('/')?.split_once('/')?.0)
}

impl Service<RpcRequest> for Services {
    type Response = RpcResponse;
    type Error = Infallible;
    type Future = ServiceCall;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RpcRequest) -> ServiceCall {
        match self.find(req.uri().path()) {
            Some(call) => ServiceCall::Service(call(req)),
            None => ServiceCall::Unimplemented,
        }
    }
}

/// A call to a service, or the answer for a service the server does not have.
pub(crate) enum ServiceCall {
    Service(ServiceFuture),
    Unimplemented,
}

impl Future for ServiceCall {
    type Output = Result<RpcResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ServiceCall::Service(fut) => fut.as_mut().poll(cx),
            ServiceCall::Unimplemented => {
                Poll::Ready(Ok(status_response(tonic::Status::unimplemented(""))))
            }
        }
    }
}
