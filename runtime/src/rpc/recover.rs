//! Recovery: a panicking handler answers INTERNAL and is logged; the server lives on.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::intercept::{
    Call, CallFuture, Intercept, RpcRequest, RpcResponse, done, status_response,
};

/// The recovery interceptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recover;

fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

fn recovered(method: &str, payload: &(dyn Any + Send)) -> RpcResponse {
    tracing::error!(
        method,
        "grpc panic recovered: {method}: {}",
        message(payload)
    );
    status_response(tonic::Status::internal("internal server error"))
}

impl Intercept for Recover {
    fn intercept<F>(
        &self,
        call: &Call,
        req: RpcRequest,
        next: impl FnOnce(RpcRequest) -> F,
    ) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static,
    {
        let method = call.method.clone();
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| next(req))) {
            Ok(fut) => fut,
            Err(payload) => {
                let resp = recovered(&method, &*payload);
                return Box::pin(std::future::ready(resp));
            }
        };
        Box::pin(async move {
            match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(r) => done(r),
                Err(payload) => recovered(&method, &*payload),
            }
        })
    }
}
