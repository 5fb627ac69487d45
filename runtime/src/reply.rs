//! What a route answers when its logic wants more than `200` and a JSON body: a status (201,
//! 204, ...), headers, cookies, a redirect, or a body that is not JSON (a CSV download).
//!
//! Generated handlers answer `Reply<T>` and convert what logic returns into it, so logic keeps
//! returning `Ok(value)` (a `T` converts into a `200` JSON reply) and returns a `Reply<T>`
//! only where it needs one: `Ok(Reply::created(value).location("/trials/7"))`.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::error::Error;

/// A response: status, headers and a body that is `T` as JSON, nothing, or bytes.
#[derive(Debug, Clone)]
pub struct Reply<T = ()> {
    status: StatusCode,
    headers: HeaderMap,
    body: Body<T>,
    /// A header that could not be set (a name or value no HTTP message may carry): the reply
    /// answers 500 rather than dropping it silently.
    invalid: Option<String>,
}

/// A reply's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<T> {
    /// `T` as JSON (a value that serializes to `null`, such as `()`, sends no body).
    Json(T),
    /// No body.
    Empty,
    /// Bytes of a content type of their own.
    Bytes {
        /// The `Content-Type`.
        content_type: HeaderValue,
        /// The body.
        bytes: Bytes,
    },
}

impl<T> From<T> for Reply<T> {
    /// `200` with `value` as JSON: what a plain `Ok(value)` from logic answers.
    fn from(value: T) -> Self {
        Reply::ok(value)
    }
}

impl<T> Reply<T> {
    fn with(status: StatusCode, body: Body<T>) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body,
            invalid: None,
        }
    }

    /// `200` with `value` as JSON.
    pub fn ok(value: T) -> Self {
        Self::with(StatusCode::OK, Body::Json(value))
    }

    /// `201 Created` with `value` as JSON; add `.location(...)` to say where it lives.
    pub fn created(value: T) -> Self {
        Self::with(StatusCode::CREATED, Body::Json(value))
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self::with(StatusCode::NO_CONTENT, Body::Empty)
    }

    /// `303 See Other` to `location`: the client follows with a GET.
    pub fn redirect(location: &str) -> Self {
        Self::with(StatusCode::SEE_OTHER, Body::Empty).header(header::LOCATION, location)
    }

    /// `200` with `bytes` as the body, of `content_type`.
    pub fn bytes(content_type: &str, bytes: impl Into<Bytes>) -> Self {
        let mut reply = Self::with(StatusCode::OK, Body::Empty);
        match HeaderValue::from_str(content_type) {
            Ok(content_type) => {
                reply.body = Body::Bytes {
                    content_type,
                    bytes: bytes.into(),
                }
            }
            Err(_) => reply.invalid = Some(format!("content type {content_type:?}")),
        }
        reply
    }

    /// A download: `bytes` of `content_type`, saved by the browser as `file_name`
    /// (`Content-Disposition: attachment`).
    pub fn file(content_type: &str, file_name: &str, bytes: impl Into<Bytes>) -> Self {
        Self::bytes(content_type, bytes).header(header::CONTENT_DISPOSITION, &attachment(file_name))
    }

    /// The same reply with another status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header (a name may repeat). A name or value HTTP cannot carry (a line break,
    /// say) makes the reply a 500, logged with the name.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.headers.append(name, v);
            }
            Err(_) => {
                self.invalid.get_or_insert_with(|| format!("header {name}"));
            }
        }
        self
    }

    /// `Location: uri`, for a `201` or a redirect.
    pub fn location(self, uri: &str) -> Self {
        self.header(header::LOCATION, uri)
    }

    /// Adds a `Set-Cookie` header, written as given: `"session=abc; Path=/; HttpOnly"`.
    pub fn cookie(self, set_cookie: &str) -> Self {
        self.header(header::SET_COOKIE, set_cookie)
    }

    /// The status it answers with.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The headers it adds.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Its body.
    pub fn body(&self) -> &Body<T> {
        &self.body
    }

    /// The JSON value it answers with, if its body is one.
    pub fn value(&self) -> Option<&T> {
        match &self.body {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }
}

/// `attachment; filename="..."`, the name's quotes, backslashes and control characters
/// replaced so that the header value stays one valid parameter.
fn attachment(file_name: &str) -> String {
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() || !c.is_ascii() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        if let Some(what) = self.invalid {
            return Error::Internal(format!("reply has an invalid {what}")).into_response();
        }
        let mut resp = match self.body {
            Body::Json(value) => match serde_json::to_vec(&value) {
                Ok(json) if json == b"null" => Response::default(),
                Ok(json) => (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    json,
                )
                    .into_response(),
                Err(e) => return Error::Internal(format!("reply body: {e}")).into_response(),
            },
            Body::Empty => Response::default(),
            Body::Bytes {
                content_type,
                bytes,
            } => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        };
        *resp.status_mut() = self.status;
        // The reply's headers replace the body's defaults (a `Content-Type` set by logic wins);
        // a name set several times keeps every value. `HeaderMap`'s owning iterator names a
        // repeated header only at its first value.
        let mut last: Option<HeaderName> = None;
        for (name, value) in self.headers {
            match name {
                Some(name) => {
                    resp.headers_mut().insert(name.clone(), value);
                    last = Some(name);
                }
                None => {
                    if let Some(name) = &last {
                        resp.headers_mut().append(name.clone(), value);
                    }
                }
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn parts(r: impl IntoResponse) -> (StatusCode, HeaderMap, Vec<u8>) {
        let resp = r.into_response();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    #[derive(Serialize)]
    struct Trial {
        id: u32,
    }

    #[tokio::test]
    async fn a_plain_value_is_200_json() {
        let reply: Reply<Trial> = Trial { id: 7 }.into();
        let (status, headers, body) = parts(reply).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, br#"{"id":7}"#);
    }

    #[tokio::test]
    async fn unit_sends_no_body() {
        let (status, headers, body) = parts(Reply::from(())).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get(header::CONTENT_TYPE).is_none());
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn created_with_location_cookies_and_headers() {
        let reply = Reply::created(Trial { id: 9 })
            .location("/trials/9")
            .cookie("a=1; Path=/")
            .cookie("b=2; HttpOnly")
            .header(HeaderName::from_static("x-request-kind"), "create");
        let (status, headers, body) = parts(reply).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[header::LOCATION], "/trials/9");
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
        assert_eq!(headers["x-request-kind"], "create");
        assert_eq!(body, br#"{"id":9}"#);
    }

    #[tokio::test]
    async fn redirect_and_no_content() {
        let (status, headers, body) = parts(Reply::<Trial>::redirect("/login")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/login");
        assert!(body.is_empty());
        let (status, _, body) = parts(Reply::<Trial>::no_content()).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn a_file_download() {
        let reply = Reply::<Trial>::file("text/csv", "export \"all\".csv", "id\n7\n");
        let (status, headers, body) = parts(reply).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/csv");
        assert_eq!(
            headers[header::CONTENT_DISPOSITION],
            "attachment; filename=\"export _all_.csv\""
        );
        assert_eq!(body, b"id\n7\n");
    }

    #[tokio::test]
    async fn a_header_http_cannot_carry_is_a_500_not_a_dropped_header() {
        let reply = Reply::created(Trial { id: 1 }).location("/a\r\nSet-Cookie: x=1");
        let (status, headers, _) = parts(reply).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(headers.get(header::LOCATION).is_none());
        assert!(headers.get(header::SET_COOKIE).is_none());
    }
}
