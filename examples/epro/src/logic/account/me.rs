//! `get /epro/v1/me`: Who the bearer token belongs to.

use rustctl_runtime::{Claims, Error};

use crate::svc::ServiceContext;
use crate::types::MeResponse;

pub async fn me(svc: &ServiceContext, claims: &Claims) -> Result<MeResponse, Error> {
    let _ = svc;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok(MeResponse {
        subject: text("sub"),
        role: text("role"),
    })
}
