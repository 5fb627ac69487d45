//! `get /epro/v1/me`: Who the bearer token belongs to.

use rustctl_runtime::{Ctx, Error};

use crate::logic::claims::AuthClaims;
use crate::svc::ServiceContext;
use crate::types::MeResponse;

pub async fn me(svc: &ServiceContext, ctx: &Ctx) -> Result<MeResponse, Error> {
    let _ = svc;
    let claims: AuthClaims = ctx.claims_as()?;
    Ok(MeResponse {
        subject: claims.sub,
        role: claims.role,
    })
}
