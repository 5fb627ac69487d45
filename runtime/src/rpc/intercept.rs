//! What the server's interceptors and the client share: gRPC errors as trailers-only
//! responses (`Status::into_http`), so every stage sees a plain `http::Response` and reads the
//! outcome with [`code_of`]; the end of a call observed on its reply's body ([`observe`]);
//! deadlines; and [`Intercept`], the shape of an interceptor that must wait for something
//! before the handler runs (auth), made a tower layer by [`InterceptLayer`]. Like the REST
//! middlewares' `Handle`, `next` is called at most once and before `intercept` returns, so the
//! inner stack is called in place instead of being cloned per call.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tower::{Layer, Service};

/// A request as the server's stack sees it.
pub(crate) type RpcRequest = http::Request<Body>;
/// A response as the server's stack sees it.
pub(crate) type RpcResponse = http::Response<Body>;
/// The future an interceptor returns.
pub(crate) type CallFuture = Pin<Box<dyn Future<Output = RpcResponse> + Send + 'static>>;

/// A server interceptor.
pub(crate) trait Intercept: Clone + Send + Sync + 'static {
    /// Handles one call.
    fn intercept<F>(&self, req: RpcRequest, next: impl FnOnce(RpcRequest) -> F) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static;
}

/// Unwraps an inner result whose error is `Infallible`.
pub(crate) fn done(r: Result<RpcResponse, Infallible>) -> RpcResponse {
    match r {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// A trailers-only gRPC error response.
pub(crate) fn status_response(status: tonic::Status) -> RpcResponse {
    status.into_http()
}

/// The gRPC code a response carries up front: the `Status` an interceptor put in its
/// extensions, else the `grpc-status` header (trailers-only answers), else OK (the real code
/// follows in the trailers, which unary handlers only use for success).
pub(crate) fn code_of(resp: &RpcResponse) -> tonic::Code {
    if let Some(s) = resp.extensions().get::<tonic::Status>() {
        return s.code();
    }
    match resp.headers().get("grpc-status") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .map_or(tonic::Code::Unknown, tonic::Code::from),
        None if resp.status() == http::StatusCode::OK => tonic::Code::Ok,
        None => tonic::Code::Unavailable,
    }
}

/// Whether `resp` is the whole answer (errors, refusals): nothing follows in a body.
fn trailers_only(resp: &RpcResponse) -> bool {
    resp.extensions().get::<tonic::Status>().is_some()
        || resp.headers().contains_key("grpc-status")
        || resp.status() != http::StatusCode::OK
        || http_body::Body::is_end_stream(resp.body())
}

/// Observes the end of a call and bounds it by its deadline. `on_end` runs with the call's
/// final code when the call ends: at once for trailers-only answers (errors, refusals),
/// otherwise when the body's trailers carry `grpc-status` (the end of a unary reply or of a
/// stream); a body dropped before its end (client gone, connection closed) ends the call as
/// CANCELLED. When the deadline passes first, the reply ends with DEADLINE_EXCEEDED trailers.
/// Both in one body wrapper.
pub(crate) fn observe<E>(
    resp: RpcResponse,
    deadline: Option<Deadline>,
    on_end: Option<E>,
) -> RpcResponse
where
    E: FnOnce(tonic::Code) + Send + 'static,
{
    if trailers_only(&resp) {
        if let Some(f) = on_end {
            f(code_of(&resp));
        }
        return resp;
    }
    if deadline.is_none() && on_end.is_none() {
        return resp;
    }
    resp.map(|inner| {
        Body::new(CallBody {
            inner,
            deadline,
            on_end,
            expired: false,
        })
    })
}

/// The DEADLINE_EXCEEDED status both sides answer with.
pub(crate) fn deadline_status(limit: Duration) -> tonic::Status {
    tonic::Status::deadline_exceeded(format!("deadline exceeded after {}ms", limit.as_millis()))
}

/// A call's deadline. Its timer is made the first time the call has to wait: most unary
/// calls are answered on their first poll and never touch the timer wheel.
pub(crate) struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    /// A deadline `limit` after `start`.
    pub(crate) fn new(start: std::time::Instant, limit: Duration) -> Self {
        Deadline {
            at: tokio::time::Instant::from_std(start + limit),
            limit,
            timer: None,
        }
    }

    /// When it passes.
    pub(crate) fn instant(&self) -> std::time::Instant {
        self.at.into_std()
    }

    /// The limit it was made with.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Whether the deadline has passed; if not, `cx` is woken when it does.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let at = self.at;
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

/// A response body that reports the call's final code once and, with a deadline, ends the
/// reply with DEADLINE_EXCEEDED trailers when the deadline passes first.
struct CallBody<E: FnOnce(tonic::Code)> {
    inner: Body,
    deadline: Option<Deadline>,
    on_end: Option<E>,
    expired: bool,
}

impl<E: FnOnce(tonic::Code)> CallBody<E> {
    fn finish(&mut self, code: tonic::Code) {
        if let Some(f) = self.on_end.take() {
            f(code);
        }
    }
}

// Nothing in it is pinned structurally: `inner` is a boxed body, the timer is boxed.
impl<E: FnOnce(tonic::Code)> Unpin for CallBody<E> {}

impl<E: FnOnce(tonic::Code)> http_body::Body for CallBody<E> {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(polled) = Pin::new(&mut this.inner).poll_frame(cx) {
            match &polled {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        // Only the code: `Status::from_header_map` also decodes the message
                        // and copies the other trailers, a cost every call paid for nothing.
                        let code = trailers
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i32>().ok())
                            .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
                        this.finish(code);
                    }
                }
                Some(Err(status)) => this.finish(status.code()),
                // Ended without trailers: not a proper gRPC answer.
                None => this.finish(tonic::Code::Unknown),
            }
            return Poll::Ready(polled);
        }
        let Some(deadline) = this.deadline.as_mut() else {
            return Poll::Pending;
        };
        if !deadline.poll_expired(cx) {
            return Poll::Pending;
        }
        this.expired = true;
        let status = deadline_status(deadline.limit);
        this.finish(status.code());
        let mut trailers = http::HeaderMap::new();
        // A status always renders into headers.
        let _ = status.add_header(&mut trailers);
        Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<E: FnOnce(tonic::Code)> Drop for CallBody<E> {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}

/// go-zero's `codes.Acceptable`: which outcomes count as a success for breakers.
pub(crate) fn acceptable(code: tonic::Code) -> bool {
    !matches!(
        code,
        tonic::Code::DeadlineExceeded
            | tonic::Code::Internal
            | tonic::Code::Unavailable
            | tonic::Code::DataLoss
            | tonic::Code::Unimplemented
            | tonic::Code::ResourceExhausted
    )
}

/// Parses a `grpc-timeout` header value (`100m`, `2S`, `1H`, ...).
pub(crate) fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (num, unit) = v.split_at(v.len() - 1);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a `grpc-timeout` header value (at most 8 digits, as the spec demands).
pub(crate) fn format_grpc_timeout(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    }
}

/// Makes an [`Intercept`] a tower layer.
#[derive(Clone, Debug)]
pub(crate) struct InterceptLayer<I>(pub(crate) I);

impl<I: Clone, S> Layer<S> for InterceptLayer<I> {
    type Service = Intercepted<I, S>;
    fn layer(&self, inner: S) -> Self::Service {
        Intercepted {
            icpt: self.0.clone(),
            inner,
        }
    }
}

/// The service [`InterceptLayer`] produces.
#[derive(Clone, Debug)]
pub(crate) struct Intercepted<I, S> {
    icpt: I,
    inner: S,
}

impl<I, S> Service<RpcRequest> for Intercepted<I, S>
where
    I: Intercept,
    S: Service<RpcRequest, Response = RpcResponse, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = RpcResponse;
    type Error = Infallible;
    type Future =
        futures_util::future::Map<CallFuture, fn(RpcResponse) -> Result<RpcResponse, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: RpcRequest) -> Self::Future {
        use futures_util::FutureExt;
        let inner = &mut self.inner;
        self.icpt
            .intercept(req, |r| inner.call(r))
            .map(Ok as fn(RpcResponse) -> Result<RpcResponse, Infallible>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("123456789m"), None);
        assert_eq!(format_grpc_timeout(Duration::from_millis(250)), "250m");
        assert_eq!(format_grpc_timeout(Duration::from_micros(10)), "1m");
    }

    #[test]
    fn codes_from_responses() {
        let r = status_response(tonic::Status::unavailable("x"));
        assert_eq!(code_of(&r), tonic::Code::Unavailable);
        let mut ok = RpcResponse::new(Body::empty());
        assert_eq!(code_of(&ok), tonic::Code::Ok);
        ok.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("4"));
        assert_eq!(code_of(&ok), tonic::Code::DeadlineExceeded);
        assert!(acceptable(tonic::Code::NotFound) && !acceptable(tonic::Code::Internal));
    }
}
