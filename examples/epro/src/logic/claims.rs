//! The claims of epro's tokens, as a type: logic reads them with `ctx.claims_as::<AuthClaims>()`
//! and a token without them is refused with 401. A module of the service's own beside the
//! route modules (declared in `own_modules.rs`).

use serde::Deserialize;

/// What epro's tokens say about their bearer.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthClaims {
    /// Who the token was issued to.
    pub sub: String,
    /// `admin`, `investigator`, ...
    #[serde(default)]
    pub role: String,
}
