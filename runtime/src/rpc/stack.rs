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
use super::breaker::BreakerIntercept;
use super::intercept::{
    Deadline, RpcRequest, RpcResponse, acceptable, deadline_status, observe, status_response,
};
use super::recover::recovered;
use super::shedding::{self, Shedding};
use super::timeout::Timeout;
use super::trace::{self, CallIds};
use crate::load::Promise;

/// Which interceptors a server runs, built once from its `Middlewares`.
#[derive(Clone)]
pub(crate) struct Interceptors {
    pub(crate) trace: bool,
    pub(crate) access_log: Option<AccessLog>,
    pub(crate) metrics: bool,
    pub(crate) shedding: Option<Shedding>,
    pub(crate) breaker: Option<BreakerIntercept>,
    pub(crate) timeout: Option<Timeout>,
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

    fn call(&mut self, mut req: RpcRequest) -> Self::Future {
        let on = &*self.on;
        let method: Arc<str> = Arc::from(req.uri().path());
        let ids = on.trace.then(|| trace::start(&method, &mut req));
        let mut ending = Ending {
            start: Instant::now(),
            access_log: on.access_log.map(|log| (log, accesslog::remote(&req))),
            metrics: on.metrics,
            promise: None,
            breaker: None,
            ids,
            method,
        };
        let refused = |resp, ending| StackFuture {
            fut: None,
            answer: Some(resp),
            ending: Some(ending),
            deadline: None,
            recover: false,
        };
        if let Some(shedding) = &on.shedding {
            match shedding.admit(&ending.method) {
                Ok(promise) => ending.promise = Some(promise),
                Err(status) => return refused(status_response(status), ending),
            }
        }
        if let Some(breakers) = &on.breaker {
            match breakers.admit(&ending.method) {
                Ok(breaker) => ending.breaker = breaker,
                Err(status) => return refused(status_response(status), ending),
            }
        }
        let deadline = on
            .timeout
            .as_ref()
            .and_then(|t| t.start(&ending.method, &mut req));
        // Services only build their future here (work starts when it is polled), but a panic
        // while building it is recovered all the same.
        let fut = {
            let _current = ending.ids.as_ref().map(CallIds::enter);
            let inner = &mut self.inner;
            if on.recover {
                std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req)))
                    .map_err(|payload| recovered(&ending.method, &*payload))
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
            Err(resp) => refused(resp, ending),
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
                    let _current = ending.ids.as_ref().map(CallIds::enter);
                    if *this.recover {
                        std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
                            .unwrap_or_else(|p| Poll::Ready(Ok(recovered(&ending.method, &*p))))
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
    method: Arc<str>,
    start: Instant,
    ids: Option<CallIds>,
    access_log: Option<(AccessLog, Option<SocketAddr>)>,
    metrics: bool,
    promise: Option<Promise>,
    breaker: Option<Arc<crate::breaker::Breaker>>,
}

impl Ending {
    /// Whether anything waits for the outcome (otherwise the reply is passed on untouched).
    fn observes(&self) -> bool {
        self.access_log.is_some()
            || self.metrics
            || self.promise.is_some()
            || self.breaker.is_some()
            || matches!(self.ids, Some(CallIds::Span(..)))
    }

    /// Reports the final `code`, innermost interceptor first.
    fn finish(self, code: tonic::Code) {
        if let Some(breaker) = &self.breaker {
            breaker.record(acceptable(code));
        }
        if let Some(promise) = self.promise {
            shedding::settle(promise, code);
        }
        let elapsed = self.start.elapsed();
        if self.metrics {
            super::metrics::get().server(&self.method, code, elapsed.as_secs_f64() * 1000.0);
        }
        if let Some((log, remote)) = &self.access_log {
            let _current = self.ids.as_ref().map(CallIds::enter);
            log.write(code, elapsed, &self.method, *remote);
        }
        if let Some(ids) = &self.ids {
            ids.record(code);
        }
    }
}
