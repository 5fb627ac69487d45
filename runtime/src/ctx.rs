//! The request context logic receives, one type for REST and gRPC: the trace and span ids, the
//! deadline, the headers (gRPC metadata is HTTP/2 headers too), the client's address, the JWT
//! claims, and a logger whose lines carry the trace wherever they are written.
//!
//! Generated REST handlers extract it (`Call(ctx, req)`, or `ctx: Ctx` for a route without a
//! request type), generated gRPC glue builds it from the call ([`Ctx::split_grpc`]); both pass
//! `&ctx` to logic right after the service context.
//! Tests build one with [`Ctx::default`] and the `with_*` methods.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{Extensions, HeaderMap};
use serde::de::DeserializeOwned;

use crate::call::CallOptions;
use crate::current;
use crate::deadline::{self, RequestDeadline};
use crate::error::Error;
use crate::ids::{self, Ids};
use crate::middleware::Claims;
use crate::peer::{self, ClientAddr};

/// What logic knows about the request it serves.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    ids: Option<Ids>,
    deadline: Option<Instant>,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    claims: Option<Claims>,
}

impl Ctx {
    /// The context of the gRPC call `request`: its metadata, the caller's address, the
    /// deadline the server's timeout interceptor set (the smaller of `Timeout` and the
    /// caller's `grpc-timeout`; current while the handler is polled, as the trace ids are),
    /// and the trace ids.
    pub fn from_grpc<T>(request: &tonic::Request<T>) -> Ctx {
        Ctx {
            ids: ids::current(),
            deadline: request
                .extensions()
                .get::<RequestDeadline>()
                .map(|d| d.0)
                .or_else(deadline::current),
            peer: request.remote_addr().or_else(peer::current),
            headers: request.metadata().clone().into_headers(),
            claims: request.extensions().get::<Claims>().cloned(),
        }
    }

    /// The context of the gRPC call `request` (as [`Ctx::from_grpc`]) and its message: the
    /// metadata moves into the context instead of being copied.
    pub fn split_grpc<T>(request: tonic::Request<T>) -> (Ctx, T) {
        let peer = request.remote_addr().or_else(peer::current);
        let (metadata, extensions, message) = request.into_parts();
        let ctx = Ctx {
            ids: ids::current(),
            deadline: extensions
                .get::<RequestDeadline>()
                .map(|d| d.0)
                .or_else(deadline::current),
            peer,
            headers: metadata.into_headers(),
            claims: extensions.get::<Claims>().cloned(),
        };
        (ctx, message)
    }

    /// The W3C trace id (32 hex digits), if the request is traced.
    pub fn trace_id(&self) -> Option<String> {
        self.ids.map(|i| i.trace_id())
    }

    /// This request's span id (16 hex digits), if the request is traced.
    pub fn span_id(&self) -> Option<String> {
        self.ids.map(|i| i.span_id())
    }

    /// The trace and span ids.
    pub fn ids(&self) -> Option<Ids> {
        self.ids
    }

    /// When the request must be answered: the route's timeout (REST) or the smaller of the
    /// server's `Timeout` and the caller's deadline (gRPC); `None` when nothing limits it.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left until [`Ctx::deadline`] (zero once it has passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The request's headers (REST) or metadata (gRPC; binary `-bin` entries included).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header or metadata entry as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The verified JWT claims, on routes that require a token.
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }

    /// The claims as the service's own claims type (`#[derive(Deserialize)] struct
    /// AuthClaims { sub: String, role: String }`): 401 when the route carries no token
    /// or the token's claims do not have that shape.
    pub fn claims_as<C: DeserializeOwned>(&self) -> Result<C, Error> {
        let claims = self
            .claims
            .as_ref()
            .ok_or_else(|| Error::Unauthorized("route is not protected by jwt".into()))?;
        serde_json::from_value(serde_json::Value::Object(claims.0.clone()))
            .map_err(|e| Error::Unauthorized(format!("token claims: {e}")))
    }

    /// Runs `f` with this request's trace ids and client address current: the lines `f`
    /// logs carry `trace` and `span`, also on a thread or task that is not the request's.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _ids = self.ids.map(current::enter);
        let _peer = self.peer.map(|p| current::enter(ClientAddr(p)));
        f()
    }

    /// A logger whose lines carry this request's trace.
    pub fn log(&self) -> Logger<'_> {
        Logger { ctx: self }
    }

    /// Options for an RPC made on behalf of this request: it inherits the deadline, so a
    /// downstream call never outlives the caller's patience.
    pub fn call(&self) -> CallOptions {
        let options = CallOptions::new();
        match self.deadline {
            Some(at) => options.deadline(at),
            None => options,
        }
    }

    /// A copy whose deadline is `deadline` (for tests, or to give a step less time).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A copy with `headers` (for tests).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// A copy with these claims (for tests).
    pub fn with_claims(mut self, claims: Claims) -> Self {
        self.claims = Some(claims);
        self
    }

    /// A copy with the client address `peer` (for tests).
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// A copy traced with `ids` (for tests).
    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = Some(ids);
        self
    }
}

/// Lines logged for one request: each carries its `trace` and `span`.
#[derive(Debug, Clone, Copy)]
pub struct Logger<'a> {
    ctx: &'a Ctx,
}

impl Logger<'_> {
    /// An `error` line.
    pub fn error(&self, msg: &str) {
        self.ctx.scope(|| tracing::error!("{msg}"));
    }

    /// A `warn` line.
    pub fn warn(&self, msg: &str) {
        self.ctx.scope(|| tracing::warn!("{msg}"));
    }

    /// An `info` line.
    pub fn info(&self, msg: &str) {
        self.ctx.scope(|| tracing::info!("{msg}"));
    }

    /// A `debug` line.
    pub fn debug(&self, msg: &str) {
        self.ctx.scope(|| tracing::debug!("{msg}"));
    }
}

impl Ctx {
    /// The context of the REST request being served, whose extensions are `extensions`; its
    /// headers are handed over whole (see [`crate::Call`], which moves them in uncopied).
    pub(crate) fn of_rest(extensions: &Extensions, headers: HeaderMap) -> Ctx {
        Ctx {
            ids: ids::current(),
            deadline: deadline::current(),
            headers,
            peer: peer::of(extensions),
            claims: extensions.get::<Claims>().cloned(),
        }
    }
}

/// The extractor for a handler without a bound request type; with one, [`crate::Call`] gives
/// the context and the request together without copying the headers.
impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx::of_rest(&parts.extensions, parts.headers.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn grpc_metadata_peer_and_deadline() {
        let mut request = tonic::Request::new(());
        request
            .metadata_mut()
            .insert("x-site", "berlin".parse().unwrap());
        let ctx = Ctx::from_grpc(&request);
        assert_eq!(ctx.header("x-site"), Some("berlin"));
        assert_eq!(ctx.deadline(), None);
        assert_eq!(ctx.peer(), None);

        // The deadline the server's timeout interceptor worked out.
        let at = Instant::now() + Duration::from_millis(1500);
        request.extensions_mut().insert(RequestDeadline(at));
        let ctx = Ctx::from_grpc(&request);
        assert_eq!(ctx.deadline(), Some(at));
        assert!(ctx.remaining().unwrap() <= Duration::from_millis(1500));

        // Split: the same context, and the message.
        let mut request = tonic::Request::new(7u8);
        request
            .metadata_mut()
            .insert("x-site", "berlin".parse().unwrap());
        request.extensions_mut().insert(RequestDeadline(at));
        let (ctx, message) = Ctx::split_grpc(request);
        assert_eq!(message, 7);
        assert_eq!(ctx.header("x-site"), Some("berlin"));
        assert_eq!(ctx.deadline(), Some(at));
    }

    #[test]
    fn typed_claims() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct AuthClaims {
            sub: String,
            role: String,
        }
        let claims = serde_json::json!({"sub": "u1", "role": "admin", "exp": 1});
        let serde_json::Value::Object(map) = claims else {
            unreachable!()
        };
        let ctx = Ctx::default().with_claims(Claims(map));
        assert_eq!(
            ctx.claims_as::<AuthClaims>().unwrap(),
            AuthClaims {
                sub: "u1".into(),
                role: "admin".into()
            }
        );
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Other {
            tenant: String,
        }
        assert!(matches!(
            ctx.claims_as::<Other>(),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            Ctx::default().claims_as::<AuthClaims>(),
            Err(Error::Unauthorized(_))
        ));
    }

    #[tokio::test]
    async fn rest_parts() {
        let addr: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let ids = Ids::new_trace();
        let mut req = http::Request::new(());
        req.headers_mut()
            .insert("x-site", HeaderValue::from_static("rome"));
        let (mut parts, ()) = req.into_parts();
        let at = Instant::now() + Duration::from_secs(3);
        let ctx = ids::with_ids(ids, || {
            let _peer = current::enter(ClientAddr(addr));
            let _deadline = deadline::enter(at);
            futures_util::FutureExt::now_or_never(Ctx::from_request_parts(&mut parts, &()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(ctx.header("x-site"), Some("rome"));
        assert_eq!(ctx.peer(), Some(addr));
        assert_eq!(ctx.deadline(), Some(at));
        assert_eq!(ctx.trace_id(), Some(ids.trace_id()));
        assert_eq!(ctx.span_id(), Some(ids.span_id()));
        // The logger's lines carry the ids even where nothing is current.
        assert_eq!(ids::current(), None);
        assert_eq!(ctx.scope(ids::current), Some(ids));
    }
}
