//! The one error type handlers, binding and every built-in middleware answer with, and the one
//! place the JSON error shape is decided.
//!
//! Default body: `{"code": <code>, "msg": "<message>"}` where `code` is the HTTP status unless a
//! [`Error::Custom`] code is given. Replace the shape once at startup with [`set_error_renderer`].

use std::sync::OnceLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// What logic, request binding and the middleware stack return on failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed (binding failures land here).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than `MaxBytes`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 429 with `Retry-After: secs`.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until a request may succeed.
        retry_after: u64,
    },
    /// 503: overloaded, shedding, or the breaker is open.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 503 (as go-zero): the handler did not finish within the route's timeout.
    #[error("request timed out")]
    Timeout,
    /// 500: the detail is logged, the client sees only "internal server error".
    #[error("{0}")]
    Internal(String),
    /// Any status with an application-defined code.
    #[error("{msg}")]
    Custom {
        /// HTTP status.
        status: StatusCode,
        /// Application error code written as `code`.
        code: i64,
        /// Message written as `msg`.
        msg: String,
    },
}

impl Error {
    /// A [`Error::Custom`] error.
    pub fn custom(status: StatusCode, code: i64, msg: impl Into<String>) -> Self {
        Error::Custom {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::ServiceUnavailable(_) | Error::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Custom { status, .. } => *status,
        }
    }

    /// The body fields of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        let status = self.status();
        let (code, msg) = match self {
            Error::Custom { code, msg, .. } => (*code, msg.as_str()),
            Error::Internal(_) => (i64::from(status.as_u16()), "internal server error"),
            _ => (i64::from(status.as_u16()), ""),
        };
        ErrorBody { status, code, msg }
    }
}

/// The parts of an error a renderer turns into a response.
#[derive(Debug, Clone, Copy)]
pub struct ErrorBody<'a> {
    /// HTTP status.
    pub status: StatusCode,
    /// `code` field (the status number unless custom).
    pub code: i64,
    /// `msg` field; empty means "use the error's display text".
    pub msg: &'a str,
}

/// Turns an error into a response; see [`set_error_renderer`].
pub type ErrorRenderer = fn(status: StatusCode, code: i64, msg: &str) -> Response;

static RENDERER: OnceLock<ErrorRenderer> = OnceLock::new();

/// Replaces the JSON error shape for the whole process. Call once, before serving; returns
/// `false` if a renderer was already set.
pub fn set_error_renderer(renderer: ErrorRenderer) -> bool {
    RENDERER.set(renderer).is_ok()
}

fn default_renderer(status: StatusCode, code: i64, msg: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "msg": msg })),
    )
        .into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let body = self.body();
        let display;
        let msg = if body.msg.is_empty() {
            display = self.to_string();
            display.as_str()
        } else {
            body.msg
        };
        let render = RENDERER.get().copied().unwrap_or(default_renderer);
        let mut resp = render(body.status, body.code, msg);
        if let Error::TooManyRequests { retry_after } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn json(e: Error) -> (StatusCode, serde_json::Value, Option<HeaderValue>) {
        let resp = e.into_response();
        let status = resp.status();
        let retry = resp.headers().get(header::RETRY_AFTER).cloned();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap(), retry)
    }

    #[tokio::test]
    async fn statuses_and_body_shape() {
        let (s, b, _) = json(Error::NotFound("no trial 7".into())).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(b, serde_json::json!({"code": 404, "msg": "no trial 7"}));
        let (s, b, _) = json(Error::custom(StatusCode::CONFLICT, 10042, "dup")).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(b, serde_json::json!({"code": 10042, "msg": "dup"}));
        let (s, b, _) = json(Error::Internal("db down: password=x".into())).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(b["msg"], "internal server error");
        let (s, _, retry) = json(Error::TooManyRequests { retry_after: 3 }).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.unwrap(), "3");
        assert_eq!(
            json(Error::Timeout).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            json(Error::BadRequest("x".into())).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            json(Error::Unauthorized("x".into())).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            json(Error::Forbidden("x".into())).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            json(Error::PayloadTooLarge).await.0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
