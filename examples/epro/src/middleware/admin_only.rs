//! The `AdminOnly` middleware named in the contract: the article's step 4.1. Only an operator
//! whose `X-User-Role` header says `admin` may export patient data.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustctl_runtime::Error;

use crate::svc::ServiceContext;

/// Runs before the handlers of every route that names `AdminOnly`.
pub async fn handle(State(svc): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let _ = svc;
    let role = req
        .headers()
        .get("X-User-Role")
        .and_then(|v| v.to_str().ok());
    if role != Some("admin") {
        return Error::Forbidden("权限不足".into()).into_response();
    }
    next.run(req).await
}
