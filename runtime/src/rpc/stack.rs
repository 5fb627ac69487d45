//! The server's interceptors, run as stages of one future per call: a synchronous look at
//! the call on its way in (which may answer it instead), the handler's future polled with the
//! call's ids current (and panics caught), and one observer of the reply's end for everything
//! that reports the outcome. One tower layer and one boxed future per interceptor cost more
//! than the interceptors' own work (the REST [`crate::middleware::Stack`] found the same).
//!
//! Order, outermost first, as go-zero's: trace → access log → metrics → shedding (pro mode) →
//! breaker (per method) → timeout → recover → auth (`Auth: true`, a layer of its own: it
//! waits for Redis) → service. Every refusal and every recovered panic is logged, counted and
//! reported to the breaker like any other answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use super::accesslog::{self, AccessLog};
use super::intercept::{
    Deadline, RpcRequest, RpcResponse, acceptable, deadline_status, observe, status_response,
};
use super::methods::{Method, Methods};
use super::recover::recovered;
use super::shedding::{self, Shedding};
use super::timeout;
use super::trace::{self, CallIds};
use crate::load::Promise;

/// Which interceptors a server runs, built once from its `Middlewares`.
pub(crate) struct Interceptors {
    pub(crate) trace: bool,
    pub(crate) access_log: Option<AccessLog>,
    /// Each method's breaker (when breakers are on) and metric series (when metrics are).
    pub(crate) methods: Methods,
    pub(crate) shedding: Option<Shedding>,
    /// Whether calls are bounded by a deadline (the server's limit, the client's
    /// `grpc-timeout`).
    pub(crate) timeout: bool,
    pub(crate) recover: bool,
}

/// Makes [`Interceptors`] a tower layer.
#[derive(Clone)]
pub(crate) struct StackLayer(pub(crate) Arc<Interceptors>);

impl<S> Layer<S> for StackLayer {
    type Service = Stack<S>;
    fn layer(&self, inner: S) -> Stack<S> {
        Stack {
            on: self.0.clone(),
            inner,
        }
    }
}

/// The interceptors around the services.
#[derive(Clone)]
pub(crate) struct Stack<S> {
    on: Arc<Interceptors>,
    inner: S,
}

impl<S> Service<RpcRequest> for Stack<S>
where
    S: Service<RpcRequest, Response = RpcResponse, Error = Infallible>,
{
    type Response = RpcResponse;
    type Error = Infallible;
    type Future = StackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: RpcRequest) -> Self::Future {
        let on = &*self.on;
        let now = Instant::now();
        let method = on.methods.get(req.uri().path());
        let mut ending = Ending {
            start: now,
            ids: on.trace.then(|| trace::start(&method.name, req.headers())),
            access_log: on.access_log.map(|log| (log, accesslog::remote(&req))),
            promise: None,
            breaker: false,
            method,
        };
        // Answered on the way in: the outcome is still logged and counted.
        let answered = |resp, ending| StackFuture {
            fut: None,
            answer: Some(resp),
            ending: Some(ending),
            deadline: None,
            recover: false,
        };
        if let Some(shedding) = &on.shedding {
            match shedding.admit(&ending.method.name, now) {
                Ok(promise) => ending.promise = Some(promise),
                Err(status) => return answered(status_response(status), ending),
            }
        }
        if let Some(breaker) = &ending.method.breaker {
            if !breaker.allow() {
                return answered(status_response(super::breaker::open_status()), ending);
            }
            ending.breaker = true;
        }
        let deadline = on
            .timeout
            .then(|| timeout::deadline(ending.method.limit, req.headers(), now))
            .flatten();
        // Services only build their future here (work starts when it is polled), but a panic
        // while building it is recovered all the same.
        let fut = {
            let _current = Current::enter(&ending, deadline.as_ref());
            let inner = &mut self.inner;
            if on.recover {
                std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req)))
                    .map_err(|payload| recovered(&ending.method.name, &*payload))
            } else {
                Ok(inner.call(req))
            }
        };
        match fut {
            Ok(fut) => StackFuture {
                fut: Some(fut),
                answer: None,
                ending: Some(ending),
                deadline,
                recover: on.recover,
            },
            Err(resp) => answered(resp, ending),
        }
    }
}

/// What the handler finds current while it is polled: the call's ids (and span), and its
/// deadline (`Ctx::deadline`).
struct Current<'a> {
    _ids: Option<(
        crate::current::Restore<crate::ids::Ids>,
        Option<tracing::span::Entered<'a>>,
    )>,
    _deadline: Option<crate::current::Restore<crate::deadline::RequestDeadline>>,
}

impl<'a> Current<'a> {
    fn enter(ending: &'a Ending, deadline: Option<&Deadline>) -> Self {
        Current {
            _ids: ending.ids.as_ref().map(CallIds::enter),
            _deadline: deadline.map(|d| crate::deadline::enter(d.instant())),
        }
    }
}

pin_project_lite::pin_project! {
    /// One call through the interceptors.
    pub(crate) struct StackFuture<F> {
        #[pin]
        fut: Option<F>,
        // The answer when the call was answered on its way in.
        answer: Option<RpcResponse>,
        ending: Option<Ending>,
        deadline: Option<Deadline>,
        recover: bool,
    }
}

impl<F> Future for StackFuture<F>
where
    F: Future<Output = Result<RpcResponse, Infallible>>,
{
    type Output = Result<RpcResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let resp = match this.fut.as_mut().as_pin_mut() {
            None => this
                .answer
                .take()
                .expect("StackFuture polled after it completed"),
            Some(fut) => {
                let ending = this.ending.as_ref().expect("a running call has its ending");
                let polled = {
                    let _current = Current::enter(ending, this.deadline.as_ref());
                    if *this.recover {
                        std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))).unwrap_or_else(
                            |p| Poll::Ready(Ok(recovered(&ending.method.name, &*p))),
                        )
                    } else {
                        fut.poll(cx)
                    }
                };
                let resp = match polled {
                    Poll::Ready(Ok(resp)) => resp,
                    Poll::Ready(Err(never)) => match never {},
                    Poll::Pending => match this.deadline.take_if(|d| d.poll_expired(cx)) {
                        // Answered in the handler's place; the handler is dropped.
                        Some(d) => status_response(deadline_status(d.limit())),
                        None => return Poll::Pending,
                    },
                };
                this.fut.set(None);
                resp
            }
        };
        let ending = this.ending.take().filter(Ending::observes);
        let on_end = ending.map(|e| move |code| e.finish(code));
        Poll::Ready(Ok(observe(resp, this.deadline.take(), on_end)))
    }
}

/// Everything that reports a call's outcome, run once when it ends (its reply's last frame,
/// or at once for a trailers-only answer).
struct Ending {
    method: Arc<Method>,
    start: Instant,
    ids: Option<CallIds>,
    access_log: Option<(AccessLog, Option<SocketAddr>)>,
    promise: Option<Promise>,
    /// Whether the method's breaker let the call through (and waits for its outcome).
    breaker: bool,
}

impl Ending {
    /// Whether anything waits for the outcome (otherwise the reply is passed on untouched).
    fn observes(&self) -> bool {
        self.access_log.is_some()
            || self.method.counted()
            || self.promise.is_some()
            || self.breaker
            || matches!(self.ids, Some(CallIds::Span(..)))
    }

    /// Reports the final `code`, innermost interceptor first.
    fn finish(self, code: tonic::Code) {
        let end = Instant::now();
        if let (true, Some(breaker)) = (self.breaker, &self.method.breaker) {
            breaker.record(acceptable(code));
        }
        if let Some(promise) = self.promise {
            shedding::settle(promise, code, end);
        }
        let elapsed = end.saturating_duration_since(self.start);
        self.method.record(code, elapsed.as_secs_f64() * 1000.0);
        if let Some((log, remote)) = &self.access_log {
            let _current = self.ids.as_ref().map(CallIds::enter);
            log.write(code, end, elapsed, &self.method.name, *remote);
        }
        if let Some(ids) = &self.ids {
            ids.record(code);
        }
    }
}
