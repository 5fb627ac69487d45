//! The `AdminOnly` middleware named in the contract: the article's step 4.1. Only an operator
//! whose `X-User-Role` header says `admin` may export patient data.
//!
//! DEMO ONLY. The role comes from a header the client sets, so anyone can send
//! `X-User-Role: admin`. A real service takes the role from something the server verified: put
//! the route in a `jwt:` group and read the role from the token's claims. The service logs a
//! warning saying so the first time this middleware runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustctl_runtime::Error;

use crate::svc::ServiceContext;

/// Runs before the handlers of every route that names `AdminOnly`.
pub async fn handle(State(svc): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let _ = svc;
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "AdminOnly trusts the client-sent X-User-Role header: a demo, not access control"
        );
    });
    let role = req
        .headers()
        .get("X-User-Role")
        .and_then(|v| v.to_str().ok());
    if role != Some("admin") {
        return Error::Forbidden("权限不足".into()).into_response();
    }
    next.run(req).await
}
