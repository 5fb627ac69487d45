//! JWT (HS256, `Auth.AccessSecret`): a missing, malformed, expired, wrongly signed or
//! non-HS256 (including `alg: none`) token answers 401, and so does one that is not valid yet
//! (`nbf`) or claims to be issued in the future (`iat`), beyond [`FUTURE_LEEWAY_SECS`]. The
//! claims are put in the request extensions and reach handlers through the [`Claims`] extractor.
//!
//! Secret rotation (go-zero's `jwtTransition`, `rest.WithJwtTransition`): [`Jwt::transition`]
//! also accepts tokens signed with `Auth.PrevSecret`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{Refusal, Stage, refuse};
use crate::error::Error;

/// How far in the future a token's `nbf` (not before) and `iat` (issued at) may lie: the
/// clocks of the issuer and of this server may differ by this much.
pub(crate) const FUTURE_LEEWAY_SECS: u64 = 30;

/// The verified claims of the request's token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Claims>()
            .cloned()
            .ok_or_else(|| Error::Unauthorized("route is not protected by jwt".into()))
    }
}

/// The JWT middleware.
#[derive(Clone)]
pub struct Jwt {
    /// The current secret's key, then the previous secret's during a rotation.
    keys: Arc<[DecodingKey]>,
    validation: Arc<Validation>,
}

impl Jwt {
    /// Verifies HS256 tokens signed with `secret`.
    pub fn new(secret: &str) -> Self {
        Self::transition(secret, "")
    }

    /// Verifies HS256 tokens signed with `secret` or, during a secret rotation, with
    /// `prev_secret` (go-zero's `WithJwtTransition`). An empty `prev_secret` is ignored.
    pub fn transition(secret: &str, prev_secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let mut keys = vec![DecodingKey::from_secret(secret.as_bytes())];
        if !prev_secret.is_empty() && prev_secret != secret {
            keys.push(DecodingKey::from_secret(prev_secret.as_bytes()));
        }
        Jwt {
            keys: keys.into(),
            validation: Arc::new(validation),
        }
    }

    /// Refuses every token: for a group whose secret is missing, so that its routes stay
    /// closed even where the server is used without `listen` (which refuses to start then).
    pub(crate) fn refuse_all() -> Self {
        Jwt {
            keys: Arc::from(Vec::new()),
            validation: Arc::new(Validation::new(Algorithm::HS256)),
        }
    }

    fn decode(&self, token: &str) -> jsonwebtoken::errors::Result<Map<String, Value>> {
        let mut first_err = None;
        for key in self.keys.iter() {
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation) {
                Ok(data) => return Ok(data.claims),
                // Only a signature mismatch is worth trying the other secret for; anything
                // else (malformed, expired, wrong algorithm) fails the same way with both.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_err.unwrap_or_else(|| ErrorKind::InvalidSignature.into()))
    }
}

/// Refuses a token that is not valid yet (`nbf`) or says it was issued later than now (`iat`),
/// beyond [`FUTURE_LEEWAY_SECS`]. jsonwebtoken checks `nbf` only with the leeway it also gives
/// `exp` (none here), and `iat` not at all.
fn not_in_the_future(claims: &Map<String, Value>) -> Result<(), &'static str> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let latest = now.saturating_add(FUTURE_LEEWAY_SECS) as f64;
    for (claim, refusal, not_a_number) in [
        ("nbf", "token not valid yet", "`nbf` is not a number"),
        ("iat", "token issued in the future", "`iat` is not a number"),
    ] {
        match claims.get(claim).map(Value::as_f64) {
            None => {}
            Some(Some(t)) if t <= latest => {}
            Some(Some(_)) => return Err(refusal),
            Some(None) => return Err(not_a_number),
        }
    }
    Ok(())
}

impl Stage for Jwt {
    type Ticket = ();

    fn admit(&self, req: &mut Request, _now: Instant) -> Result<(), Refusal> {
        let token = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return Err(refuse(Error::Unauthorized("missing bearer token".into())));
        };
        match self.decode(token) {
            Ok(claims) => match not_in_the_future(&claims) {
                Ok(()) => {
                    req.extensions_mut().insert(Claims(claims));
                    Ok(())
                }
                Err(why) => {
                    tracing::debug!(error = why, "jwt rejected");
                    Err(refuse(Error::Unauthorized(format!("invalid token: {why}"))))
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "jwt rejected");
                Err(refuse(Error::Unauthorized(format!("invalid token: {e}"))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn token(secret: &str, exp: i64) -> String {
        let claims = serde_json::json!({"userId": 42, "exp": exp});
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    async fn call(auth: Option<String>) -> (u16, String) {
        call_with(Jwt::new("s3cret"), auth).await
    }

    async fn call_with(jwt: Jwt, auth: Option<String>) -> (u16, String) {
        let mut req = get("/");
        if let Some(a) = auth {
            req.headers_mut()
                .insert("authorization", a.parse().unwrap());
        }
        let handler = |req: Request| async move {
            let (mut parts, _) = req.into_parts();
            let c = Claims::from_request_parts(&mut parts, &()).await.unwrap();
            c.get("userId").unwrap().to_string()
        };
        let (s, _, body) = run(jwt, handler, req).await;
        (s.as_u16(), body)
    }

    #[tokio::test]
    async fn valid_token_reaches_handler_with_claims() {
        let (s, body) = call(Some(format!("Bearer {}", token("s3cret", now() + 60)))).await;
        assert_eq!((s, body.as_str()), (200, "42"));
    }

    #[tokio::test]
    async fn bad_tokens_are_401() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(format!(r#"{{"userId":42,"exp":{}}}"#, now() + 60))
        );
        for auth in [
            None,
            Some("Bearer".to_owned()),
            Some("Bearer not.a.jwt".to_owned()),
            Some(format!("Bearer {}", token("s3cret", now() - 10))),
            Some(format!("Bearer {}", token("other", now() + 60))),
            Some(format!("Bearer {none}")),
        ] {
            let (s, body) = call(auth.clone()).await;
            assert_eq!(s, 401, "{auth:?}: {body}");
        }
    }

    fn token_with(secret: &str, claims: serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn tokens_not_yet_valid_or_issued_in_the_future_are_401() {
        let year = 365 * 24 * 3600;
        let exp = now() + 2 * year;
        for (claims, why) in [
            (
                serde_json::json!({"userId": 42, "exp": exp, "nbf": now() + year}),
                "nbf next year",
            ),
            (
                serde_json::json!({"userId": 42, "exp": exp, "iat": now() + year}),
                "iat next year",
            ),
            (
                serde_json::json!({"userId": 42, "exp": exp, "iat": now() + FUTURE_LEEWAY_SECS as i64 + 60}),
                "iat beyond the leeway",
            ),
            (
                serde_json::json!({"userId": 42, "exp": exp, "nbf": "soon"}),
                "nbf not a number",
            ),
            (
                serde_json::json!({"userId": 42, "exp": exp, "iat": "today"}),
                "iat not a number",
            ),
        ] {
            let (s, body) = call(Some(format!("Bearer {}", token_with("s3cret", claims)))).await;
            assert_eq!(s, 401, "{why}: {body}");
        }
        for (claims, why) in [
            (
                serde_json::json!({"userId": 42, "exp": exp, "nbf": now() - 10, "iat": now() - 10}),
                "valid since 10 s",
            ),
            (
                serde_json::json!({"userId": 42, "exp": exp, "nbf": now() + 2, "iat": now() + 2}),
                "a clock 2 s ahead",
            ),
        ] {
            let (s, body) = call(Some(format!("Bearer {}", token_with("s3cret", claims)))).await;
            assert_eq!((s, body.as_str()), (200, "42"), "{why}");
        }
    }

    #[tokio::test]
    async fn transition_accepts_current_and_previous_secret() {
        let jwt = Jwt::transition("new-secret", "old-secret");
        for secret in ["new-secret", "old-secret"] {
            let auth = Some(format!("Bearer {}", token(secret, now() + 60)));
            let (s, body) = call_with(jwt.clone(), auth).await;
            assert_eq!((s, body.as_str()), (200, "42"), "signed with {secret}");
        }
        for auth in [
            format!("Bearer {}", token("third", now() + 60)),
            format!("Bearer {}", token("old-secret", now() - 10)),
        ] {
            let (s, body) = call_with(jwt.clone(), Some(auth.clone())).await;
            assert_eq!(s, 401, "{auth}: {body}");
        }
        let auth = Some(format!("Bearer {}", token("old-secret", now() + 60)));
        let (s, _) = call_with(Jwt::new("new-secret"), auth.clone()).await;
        assert_eq!(s, 401, "plain jwt rejects the previous secret");
        let (s, _) = call_with(Jwt::transition("new-secret", ""), auth).await;
        assert_eq!(s, 401, "an empty PrevSecret is not a key");
    }
}
