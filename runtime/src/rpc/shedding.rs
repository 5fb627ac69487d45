//! Load shedding (`Mode: pro` only): go-zero's CPU-based adaptive shedder; a refused call
//! answers RESOURCE_EXHAUSTED, as go-zero's `UnarySheddingInterceptor` does.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use super::intercept::{
    Call, CallFuture, Intercept, RpcRequest, RpcResponse, done, on_end, status_response,
};
use crate::load::Shedder;

/// The shedding interceptor (one shedder per server).
#[derive(Clone)]
pub(crate) struct Shedding(pub(crate) Arc<Shedder>);

impl Intercept for Shedding {
    fn intercept<F>(
        &self,
        call: &Call,
        req: RpcRequest,
        next: impl FnOnce(RpcRequest) -> F,
    ) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static,
    {
        let Some(promise) = self.0.allow() else {
            tracing::error!(method = %call.method, "grpc shedding reject: {}", call.method);
            let resp = status_response(tonic::Status::resource_exhausted("service overloaded"));
            return Box::pin(std::future::ready(resp));
        };
        let fut = next(req);
        Box::pin(async move {
            let resp = done(fut.await);
            on_end(resp, move |code| {
                if code == tonic::Code::DeadlineExceeded {
                    promise.fail();
                } else {
                    promise.pass();
                }
            })
        })
    }
}
