//! CORS with `Cors.AllowOrigins` (`*` or a list), following go-zero's rules: an allowed
//! origin gets `Access-Control-Allow-Origin` (with credentials for a listed origin), a
//! preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here with 204, before
//! the protective middlewares and JWT, and answers vary by `Origin` when a list decides.
//!
//! Hand-written rather than tower-http's `CorsLayer`: that one builds and appends its headers
//! on every response, browser or not, which cost a fifth of the whole stack's time per
//! request; here a request without `Origin` costs one header lookup.

use std::time::Instant;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{Refusal, Stage};

const ANY: HeaderValue = HeaderValue::from_static("*");
const METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, POST, PATCH, PUT, DELETE");
/// go-zero's default allowed request headers, when a preflight names none.
const HEADERS: HeaderValue = HeaderValue::from_static(
    "Content-Type, Origin, X-CSRF-Token, Authorization, AccessToken, Token, Range",
);
const EXPOSE: HeaderValue = HeaderValue::from_static(
    "Content-Length, Content-Type, Access-Control-Allow-Origin, Access-Control-Allow-Headers, traceparent",
);
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");

/// The CORS middleware.
#[derive(Clone, Debug)]
pub struct Cors {
    /// `None`: any origin.
    origins: Option<Vec<HeaderValue>>,
}

impl Cors {
    /// Allows `origins`; empty or containing `*` allows any origin.
    pub fn new(origins: &[String]) -> Self {
        let any = origins.is_empty() || origins.iter().any(|o| o == "*");
        Cors {
            origins: (!any).then(|| origins.iter().filter_map(|o| o.parse().ok()).collect()),
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            None => Some(ANY),
            Some(list) => list.contains(origin).then(|| origin.clone()),
        }
    }

    fn set(&self, headers: &mut HeaderMap, origin: HeaderValue) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE);
        if self.origins.is_some() {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
    }

    fn vary(&self, headers: &mut HeaderMap) {
        if self.origins.is_some() {
            headers.append(VARY, VARY_ORIGIN);
        }
    }
}

impl Stage for Cors {
    /// The allowed origin to answer with, for a cross-origin request.
    type Ticket = Option<HeaderValue>;

    fn admit(&self, req: &mut Request, _now: Instant) -> Result<Option<HeaderValue>, Refusal> {
        let Some(origin) = crate::header::get(req.headers(), &ORIGIN) else {
            return Ok(None);
        };
        let allowed = self.allow(origin);
        let preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if !preflight {
            return Ok(allowed);
        }
        let mut resp = StatusCode::NO_CONTENT.into_response();
        let h = resp.headers_mut();
        self.vary(h);
        if let Some(origin) = allowed {
            self.set(h, origin);
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            let asked = req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS);
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                asked.cloned().unwrap_or(HEADERS),
            );
            h.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
        }
        Err(Box::new(resp))
    }

    fn finish(&self, allowed: Option<HeaderValue>, resp: &mut Response, _now: Instant) {
        let h = resp.headers_mut();
        self.vary(h);
        if let Some(origin) = allowed {
            self.set(h, origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};
    use axum::body::Body;

    fn preflight(origin: &str) -> Request {
        Request::options("/")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-token")
            .body(Body::empty())
            .unwrap()
    }

    fn from(origin: &str) -> Request {
        let mut req = get("/");
        req.headers_mut()
            .insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        req
    }

    #[tokio::test]
    async fn any_origin() {
        let cors = Cors::new(&["*".into()]);
        let (s, h, _) = run(cors.clone(), |_r| async { "ok" }, from("https://a.example")).await;
        assert_eq!(s, 200);
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert!(h.get(VARY).is_none());
        let (s, h, _) = run(cors.clone(), |_r| async { "ok" }, get("/")).await;
        assert_eq!(s, 200);
        assert!(
            h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "not a browser request"
        );
        let (s, h, _) = run(
            cors,
            |_r| async { "handler" },
            preflight("https://a.example"),
        )
        .await;
        assert_eq!(s, 204, "answered before the handler");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], METHODS);
        assert_eq!(h[ACCESS_CONTROL_ALLOW_HEADERS], "x-token");
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "86400");
    }

    #[tokio::test]
    async fn listed_origins_only() {
        let cors = Cors::new(&["https://app.example".into()]);
        let (_, h, _) = run(
            cors.clone(),
            |_r| async { "ok" },
            from("https://app.example"),
        )
        .await;
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[VARY], "Origin");
        let (s, h, _) = run(
            cors.clone(),
            |_r| async { "ok" },
            from("https://evil.example"),
        )
        .await;
        assert_eq!(s, 200, "the browser, not the server, refuses the answer");
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(h[VARY], "Origin");
        let (s, h, _) = run(cors, |_r| async { "ok" }, preflight("https://evil.example")).await;
        assert_eq!(s, 204);
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(h.get(ACCESS_CONTROL_ALLOW_METHODS).is_none());
    }
}
