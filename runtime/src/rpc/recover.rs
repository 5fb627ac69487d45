//! Recovery: a panicking handler answers INTERNAL and is logged; the server lives on.

use std::any::Any;

use super::intercept::{RpcResponse, status_response};

fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// Logs the panic of a call to `method` and answers INTERNAL in its place.
pub(crate) fn recovered(method: &str, payload: &(dyn Any + Send)) -> RpcResponse {
    tracing::error!(
        method,
        "grpc panic recovered: {method}: {}",
        message(payload)
    );
    status_response(tonic::Status::internal("internal server error"))
}
