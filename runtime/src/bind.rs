//! Request binding building blocks for generated request types.
//!
//! A generated type implements [`Bind`] with one line per field:
//!
//! ```
//! use rustctl_runtime::bind::{Bind, BindError, Binder, FieldSpec};
//! use rustctl_runtime::rules::Range;
//!
//! #[derive(Debug, Default)]
//! pub struct ListReq { pub id: i64, pub status: String, pub page: u32, pub tags: Vec<String> }
//!
//! impl Bind for ListReq {
//!     fn bind(b: &mut Binder) -> Result<Self, BindError> {
//!         Ok(Self {
//!             id: b.path(&FieldSpec::new("id").range(Range::unbounded().ge(1.0)))?,
//!             status: b.form(&FieldSpec::new("status").options("open|closed").default("open"))?,
//!             page: b.form(&FieldSpec::new("page").optional()
//!                 .range(Range::unbounded().ge(0.0).le(1000.0)))?,
//!             tags: b.form(&FieldSpec::new("tag").optional())?,
//!         })
//!     }
//! }
//! ```
//!
//! and its handler takes [`Bound<ListReq>`]. Any failure is a 400 naming the field.

use std::future::{Future, Ready};

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Either};
use http::request::Parts;
use http::{Extensions, HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ctx::Ctx;
use crate::error::Error;
use crate::rules::{self, Range};

/// Per-field rules from the contract's tags; built with `const` methods so generated code can
/// keep specs in `const`s.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    name: &'static str,
    optional: bool,
    default: Option<&'static str>,
    options: Option<&'static str>,
    range: Option<Range>,
}

impl FieldSpec {
    /// A required field named `name` (the key in the path, form, header or JSON body).
    pub const fn new(name: &'static str) -> Self {
        FieldSpec {
            name,
            optional: false,
            default: None,
            options: None,
            range: None,
        }
    }
    /// Absent is allowed: the field takes its type's default (`0`, `""`, `None`, `[]`).
    pub const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// Absent takes this value (written as in the contract: `default=10`).
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
    /// Allowed values, `a|b|c` or `[a,b,c]`.
    pub const fn options(mut self, options: &'static str) -> Self {
        self.options = Some(options);
        self
    }
    /// Allowed numeric interval, e.g. `[0:100]` as `Range::unbounded().ge(0.0).le(100.0)`:
    /// built from its limits, not parsed from text, so checking a request parses nothing
    /// and a malformed range cannot reach run time.
    pub const fn range(mut self, range: Range) -> Self {
        self.range = Some(range);
        self
    }
    /// The field's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// A binding failure: always a 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct BindError {
    /// The field's name.
    pub field: String,
    /// What was wrong.
    pub message: String,
}

impl BindError {
    fn new(spec: &FieldSpec, message: impl Into<String>) -> Self {
        BindError {
            field: spec.name.to_owned(),
            message: message.into(),
        }
    }
}

impl From<BindError> for Error {
    fn from(e: BindError) -> Self {
        Error::BadRequest(e.to_string())
    }
}

/// Converts the raw string value(s) of a path, form or header field into a Rust type.
pub trait FromValues: Sized {
    /// Converts non-empty `values` (repeated form keys give several).
    fn from_values(values: &[&str]) -> Result<Self, String>;
    /// The value of an absent optional field.
    fn absent() -> Self;
    /// Whether `range=` applies (numbers only).
    const NUMERIC: bool = false;
}

macro_rules! from_values_num {
    ($($t:ty => $what:literal),*) => {$(
        impl FromValues for $t {
            fn from_values(values: &[&str]) -> Result<Self, String> {
                let v = values[0].trim();
                v.parse::<$t>().map_err(|_| format!("expected {}, got `{v}`", $what))
            }
            fn absent() -> Self { <$t>::default() }
            const NUMERIC: bool = true;
        }
    )*};
}
from_values_num!(
    i8 => "an integer", i16 => "an integer", i32 => "an integer", i64 => "an integer",
    isize => "an integer", u8 => "an unsigned integer", u16 => "an unsigned integer",
    u32 => "an unsigned integer", u64 => "an unsigned integer", usize => "an unsigned integer",
    f32 => "a number", f64 => "a number"
);

impl FromValues for bool {
    fn from_values(values: &[&str]) -> Result<Self, String> {
        match values[0].trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            v => Err(format!("expected a boolean, got `{v}`")),
        }
    }
    fn absent() -> Self {
        false
    }
}

impl FromValues for String {
    fn from_values(values: &[&str]) -> Result<Self, String> {
        Ok(values[0].to_owned())
    }
    fn absent() -> Self {
        String::new()
    }
}

impl<T: FromValues> FromValues for Option<T> {
    fn from_values(values: &[&str]) -> Result<Self, String> {
        T::from_values(values).map(Some)
    }
    fn absent() -> Self {
        None
    }
    const NUMERIC: bool = T::NUMERIC;
}

impl<T: FromValues> FromValues for Vec<T> {
    fn from_values(values: &[&str]) -> Result<Self, String> {
        values
            .iter()
            .map(|v| T::from_values(std::slice::from_ref(v)))
            .collect()
    }
    fn absent() -> Self {
        Vec::new()
    }
    const NUMERIC: bool = T::NUMERIC;
}

/// A generated request type: binds itself field by field from a [`Binder`].
pub trait Bind: Sized {
    /// Reads every field; the first failure is returned.
    fn bind(binder: &mut Binder) -> Result<Self, BindError>;
}

/// The request's parts, ready for field-by-field binding.
#[derive(Debug, Default)]
pub struct Binder {
    path: PathParams,
    form: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    json: Option<Result<Map<String, Value>, String>>,
}

impl Binder {
    /// A binder over already-split request parts (used by [`Bound`] and in tests).
    pub fn new(
        path: Vec<(String, String)>,
        form: Vec<(String, String)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        Binder {
            path: PathParams::Owned(path),
            form,
            headers,
            body,
            json: None,
        }
    }

    /// A path parameter (`/users/{id}` or go-zero's `/users/:id`).
    pub fn path<T: FromValues>(&mut self, spec: &FieldSpec) -> Result<T, BindError> {
        match &self.path {
            PathParams::Owned(pairs) => {
                convert_pairs(spec, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }
            PathParams::Routed(params) => convert_pairs(spec, params),
        }
    }

    /// A query-string or url-encoded form field; repeated keys bind to a `Vec`.
    pub fn form<T: FromValues>(&mut self, spec: &FieldSpec) -> Result<T, BindError> {
        let pairs = self.form.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        convert_pairs(spec, pairs)
    }

    /// A header (name matched case-insensitively).
    pub fn header<T: FromValues>(&mut self, spec: &FieldSpec) -> Result<T, BindError> {
        let mut values = Vec::new();
        for v in self.headers.get_all(spec.name) {
            values.push(
                v.to_str()
                    .map_err(|_| BindError::new(spec, "header value is not valid text"))?,
            );
        }
        convert(spec, &values)
    }

    /// A field of the JSON body object; nested types deserialize with serde.
    pub fn json<T: DeserializeOwned + Default>(
        &mut self,
        spec: &FieldSpec,
    ) -> Result<T, BindError> {
        let body = &self.body;
        let parsed = self.json.get_or_insert_with(|| {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Map::new());
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(mut map)) => {
                    map.values_mut().for_each(integral_floats_as_integers);
                    Ok(map)
                }
                Ok(_) => Err("request body must be a JSON object".to_owned()),
                Err(e) => Err(format!("request body is not valid JSON: {e}")),
            }
        });
        let map = parsed.as_ref().map_err(|e| BindError {
            field: spec.name.to_owned(),
            message: e.clone(),
        })?;
        let value = match map.get(spec.name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => match spec.default {
                Some(d) => serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.into())),
                None if spec.optional => return Ok(T::default()),
                None => return Err(BindError::new(spec, "required field is missing")),
            },
        };
        if let Some(opts) = spec.options {
            let raw = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            check_options(spec, opts, &raw)?;
        }
        if let (Some(range), Some(n)) = (spec.range, value.as_f64()) {
            check_range(spec, range, n)?;
        }
        serde_json::from_value(value).map_err(|e| BindError::new(spec, e.to_string()))
    }

    /// The whole body as JSON (for a request type that is entirely the body).
    pub fn body<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let error = |e: serde_json::Error| BindError {
            field: "body".into(),
            message: e.to_string(),
        };
        let mut value: Value = serde_json::from_slice(&self.body).map_err(error)?;
        integral_floats_as_integers(&mut value);
        serde_json::from_value(value).map_err(error)
    }
}

/// JSON has one number type: `6.0` and `6` are the same number to JSON Schema (an OpenAPI
/// document's `integer` accepts both) and to JavaScript, which cannot even write them apart.
/// serde reads `6.0` into no integer type, so every integral float becomes the integer before
/// binding; a float field reads the integer as well, and a `serde_json::Value` keeps the same
/// number. Nesting is bounded by serde_json's recursion limit on the parse before.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            // Exactly representable: an integral f64 in these ranges converts without loss.
            if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                *value = Value::from(f as u64);
            } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn check_options(spec: &FieldSpec, options: &str, raw: &str) -> Result<(), BindError> {
    if rules::is_option(options, raw) {
        Ok(())
    } else {
        Err(BindError::new(
            spec,
            format!(
                "value `{raw}` is not one of [{}]",
                rules::split_options(options).join(", ")
            ),
        ))
    }
}

fn check_range(spec: &FieldSpec, r: Range, n: f64) -> Result<(), BindError> {
    if r.contains(n) {
        Ok(())
    } else {
        Err(BindError::new(
            spec,
            format!("value {n} is out of range {r}"),
        ))
    }
}

/// Converts the values `pairs` hold under the field's name; a name seen once (nearly every
/// field) is converted without collecting its values first.
fn convert_pairs<'a, T: FromValues>(
    spec: &FieldSpec,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<T, BindError> {
    let mut values = pairs
        .into_iter()
        .filter(|(k, _)| *k == spec.name)
        .map(|(_, v)| v);
    match (values.next(), values.next()) {
        (None, _) => convert(spec, &[]),
        (Some(one), None) => convert(spec, &[one]),
        (Some(first), Some(second)) => {
            let all: Vec<&str> = [first, second].into_iter().chain(values).collect();
            convert(spec, &all)
        }
    }
}

fn convert<T: FromValues>(spec: &FieldSpec, values: &[&str]) -> Result<T, BindError> {
    let default;
    let values = if values.is_empty() {
        match spec.default {
            Some(d) => {
                default = [d];
                &default[..]
            }
            None if spec.optional => return Ok(T::absent()),
            None => return Err(BindError::new(spec, "required field is missing")),
        }
    } else {
        values
    };
    if let Some(opts) = spec.options {
        for v in values {
            check_options(spec, opts, v)?;
        }
    }
    let out = T::from_values(values).map_err(|m| BindError::new(spec, m))?;
    if let Some(range) = spec.range.filter(|_| T::NUMERIC) {
        for v in values {
            let n: f64 = v
                .trim()
                .parse()
                .map_err(|_| BindError::new(spec, format!("expected a number, got `{v}`")))?;
            check_range(spec, range, n)?;
        }
    }
    Ok(out)
}

/// Axum extractor for generated request types: `async fn h(Bound(req): Bound<ListReq>)`.
///
/// Reads path params, the query string, a url-encoded form body, headers and a JSON body; a
/// failure answers 400 (413 when the body exceeds `MaxBytes`).
#[derive(Debug, Clone)]
pub struct Bound<T>(pub T);

impl<S: Send + Sync, T: Bind + Send + 'static> FromRequest<S> for Bound<T> {
    type Rejection = Error;

    fn from_request(req: Request, _: &S) -> impl Future<Output = Result<Self, Error>> + Send {
        split_then(req, |mut binder, _| {
            T::bind(&mut binder).map(Bound).map_err(Error::from)
        })
    }
}

/// What a generated handler extracts: the request's [`Ctx`] and its bound request type,
/// `async fn h(State(svc): State<Arc<Svc>>, Call(ctx, req): Call<ListReq>)`.
///
/// Binds as [`Bound`] does; the context gets the request's headers once binding is done,
/// moved rather than copied (a `ctx: Ctx` beside a `Bound` must clone them).
#[derive(Debug)]
pub struct Call<T>(pub Ctx, pub T);

impl<S: Send + Sync, T: Bind + Send + 'static> FromRequest<S> for Call<T> {
    type Rejection = Error;

    fn from_request(req: Request, _: &S) -> impl Future<Output = Result<Self, Error>> + Send {
        split_then(req, |mut binder, extensions| {
            let bound = T::bind(&mut binder)?;
            let ctx = Ctx::of_rest(&extensions, std::mem::take(&mut binder.headers));
            Ok(Call(ctx, bound))
        })
    }
}

/// The path parameters a binder reads: the router's own (no copies), or given.
#[derive(Debug)]
enum PathParams {
    Owned(Vec<(String, String)>),
    Routed(RawPathParams),
}

impl Default for PathParams {
    fn default() -> Self {
        PathParams::Owned(Vec::new())
    }
}

/// A binding extractor's future: ready at once, or reading the body first.
type Binding<R> = Either<Ready<Result<R, Error>>, BoxFuture<'static, Result<R, Error>>>;

/// A request bound by `bind` once its body is read. Without a body (most GETs and DELETEs)
/// this is ready at once: no body-reading future is built, so the handler's future, which
/// holds this one, stays small (under glibc's per-thread cache limit of 1 032 bytes; the
/// body-reading path goes in a box of its own).
fn split_then<R: Send + 'static>(
    req: Request,
    bind: impl FnOnce(Binder, Extensions) -> Result<R, Error> + Send + 'static,
) -> Binding<R> {
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        let (binder, extensions) = binder(parts, Bytes::new());
        return Either::Left(std::future::ready(bind(binder, extensions)));
    }
    Either::Right(Box::pin(async move {
        let body = read_body(body).await?;
        let (binder, extensions) = binder(parts, body);
        bind(binder, extensions)
    }))
}

/// The request split for binding, and its extensions (the client's address, the claims).
fn binder(mut parts: Parts, body: Bytes) -> (Binder, Extensions) {
    // The router's parameters are ready at once (the extractor does not wait on anything).
    let path = match RawPathParams::from_request_parts(&mut parts, &()).now_or_never() {
        Some(Ok(params)) => PathParams::Routed(params),
        _ => PathParams::Owned(Vec::new()),
    };
    let mut form: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = crate::header::get(&parts.headers, &header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        form.extend(form_urlencoded::parse(&body).into_owned());
    }
    let binder = Binder {
        path,
        form,
        headers: parts.headers,
        body,
        json: None,
    };
    (binder, parts.extensions)
}

/// Reads a whole body; a `MaxBytes` overflow becomes 413.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, Error> {
    // Most GETs have no body, and say so: nothing to collect.
    if http_body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
        if is_length_limit(&e) {
            Error::PayloadTooLarge
        } else {
            Error::BadRequest(format!("failed to read request body: {e}"))
        }
    })
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A spec with its range is a `const`: the range is built at compile time, and checking a
    /// value parses no range text.
    const PAGE: FieldSpec = FieldSpec::new("page").range(Range::unbounded().ge(1.0).lt(100.0));

    #[test]
    fn ranges_are_built_once_not_parsed_per_request() {
        assert_eq!(PAGE.range, Some(Range::parse("[1:100)").unwrap()));
        assert!(check_range(&PAGE, PAGE.range.unwrap(), 1.0).is_ok());
        let err = check_range(&PAGE, PAGE.range.unwrap(), 100.0).unwrap_err();
        assert_eq!(err.message, "value 100 is out of range [1:100)");
        assert_eq!(convert::<u32>(&PAGE, &["99"]), Ok(99));
        assert!(convert::<u32>(&PAGE, &["0"]).is_err());
    }

    #[test]
    fn an_integral_float_binds_to_an_integer_field() {
        #[derive(Debug, Default, serde::Deserialize)]
        struct Inner {
            n: u8,
        }
        let body = br#"{"score": 6.0, "big": -9.0e15, "ratio": 2.0, "inner": {"n": 3.0},
            "half": 6.5, "score_opt": 7.0}"#;
        let mut b = Binder::new(vec![], vec![], HeaderMap::new(), Bytes::from_static(body));
        let options = FieldSpec::new("score_opt").options("7|8");
        assert_eq!(b.json::<i64>(&FieldSpec::new("score")), Ok(6));
        assert_eq!(
            b.json::<i64>(&FieldSpec::new("big")),
            Ok(-9_000_000_000_000_000)
        );
        assert_eq!(b.json::<f64>(&FieldSpec::new("ratio")), Ok(2.0));
        assert_eq!(b.json::<Inner>(&FieldSpec::new("inner")).unwrap().n, 3);
        assert_eq!(b.json::<i64>(&options), Ok(7), "options compare the number");
        let err = b.json::<i64>(&FieldSpec::new("half")).unwrap_err();
        assert_eq!(err.field, "half", "6.5 is still no integer");
    }

    #[derive(Debug, Default, PartialEq)]
    struct Req {
        id: i64,
        status: String,
        page: u32,
        tags: Vec<String>,
        ratio: Option<f64>,
        agent: String,
        name: String,
        age: u8,
        extra: Vec<i32>,
    }

    impl Bind for Req {
        fn bind(b: &mut Binder) -> Result<Self, BindError> {
            Ok(Req {
                id: b.path(&FieldSpec::new("id").range(Range::unbounded().ge(1.0)))?,
                status: b.form(
                    &FieldSpec::new("status")
                        .options("open|closed")
                        .default("open"),
                )?,
                page: b.form(
                    &FieldSpec::new("page")
                        .optional()
                        .range(Range::unbounded().ge(0.0).le(100.0)),
                )?,
                tags: b.form(&FieldSpec::new("tag").optional())?,
                ratio: b.form(
                    &FieldSpec::new("ratio")
                        .optional()
                        .range(Range::unbounded().gt(0.0).le(1.0)),
                )?,
                agent: b.header(&FieldSpec::new("x-agent").optional())?,
                name: b.json(&FieldSpec::new("name"))?,
                age: b.json(
                    &FieldSpec::new("age")
                        .range(Range::unbounded().ge(18.0).le(120.0))
                        .default("30"),
                )?,
                extra: b.json(&FieldSpec::new("extra").optional())?,
            })
        }
    }

    async fn call(uri: &str, body: &str) -> (u16, String) {
        let app = Router::new().route(
            "/trials/{id}",
            post(|Bound(r): Bound<Req>| async move { format!("{r:?}") }),
        );
        let req = Request::post(uri)
            .header("x-agent", "t")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn binds_every_source_with_defaults() {
        let (s, b) = call("/trials/7?page=2&tag=a&tag=b", r#"{"name":"n"}"#).await;
        assert_eq!(s, 200, "{b}");
        let want = Req {
            id: 7,
            status: "open".into(),
            page: 2,
            tags: vec!["a".into(), "b".into()],
            ratio: None,
            agent: "t".into(),
            name: "n".into(),
            age: 30,
            extra: vec![],
        };
        assert_eq!(b, format!("{want:?}"));
    }

    #[tokio::test]
    async fn a_call_binds_the_request_and_hands_its_headers_to_the_context() {
        let app = Router::new().route(
            "/trials/{id}",
            post(|Call(ctx, r): Call<Req>| async move {
                format!(
                    "{} {} {}",
                    r.id,
                    r.agent,
                    ctx.header("x-agent").unwrap_or("-")
                )
            }),
        );
        let send = |uri: &str| {
            Request::post(uri)
                .header("x-agent", "t")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"name":"n"}"#))
                .unwrap()
        };
        let resp = app.clone().oneshot(send("/trials/7")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "7 t t", "the header binds and stays readable in ctx");
        // Binding fails as `Bound` fails: 400 naming the field.
        let resp = app.oneshot(send("/trials/0")).await.unwrap();
        assert_eq!(resp.status(), 400);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(
            String::from_utf8_lossy(&bytes).contains("`id`"),
            "{bytes:?}"
        );
    }

    async fn rejected(uri: &str, body: &str, field: &str, what: &str) {
        let (s, b) = call(uri, body).await;
        assert_eq!(s, 400, "{b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["code"], 400);
        let msg = v["msg"].as_str().unwrap();
        assert!(
            msg.contains(&format!("`{field}`")) && msg.contains(what),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn failures_are_400_naming_the_field() {
        let ok = r#"{"name":"n"}"#;
        rejected("/trials/abc", ok, "id", "integer").await;
        rejected("/trials/0", ok, "id", "out of range").await;
        rejected(
            "/trials/1?status=x",
            ok,
            "status",
            "not one of [open, closed]",
        )
        .await;
        rejected("/trials/1?page=101", ok, "page", "out of range").await;
        rejected("/trials/1?page=-1", ok, "page", "unsigned").await;
        rejected("/trials/1?ratio=0", ok, "ratio", "out of range").await;
        rejected("/trials/1", "{}", "name", "required").await;
        rejected(
            "/trials/1",
            r#"{"name":"n","age":12}"#,
            "age",
            "out of range",
        )
        .await;
        rejected(
            "/trials/1",
            r#"{"name":"n","extra":["x"]}"#,
            "extra",
            "invalid type",
        )
        .await;
        rejected("/trials/1", "{not json", "name", "not valid JSON").await;
    }
}
