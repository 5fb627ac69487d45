//! The built-in stack of one route: every enabled middleware, in the documented order, run
//! inside one future.
//!
//! Order, outermost first: recover → trace → access log → metrics → CORS → MaxConns →
//! shedding → breaker → MaxBytes → rate limit → JWT → timeout → gunzip → (then, as tower
//! layers inside the stack: content-security signature, the contract's middlewares, the
//! handler). The stages from access log to JWT are admitted in that order and finished in
//! reverse; a stage that answers a request itself (a 503, 413, 429, 401, a CORS preflight)
//! skips everything after it, while every stage before it still sees the answer: it is
//! logged, counted and traced. Only an admitted request gets the rest: the timeout (counted
//! from the request's arrival) bounds the gzip body's inflation and everything inside it, so
//! a request refused by the rate limit or JWT is never inflated.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use tower::{Layer, Service};

use super::timeout::Deadline;
use super::trace::Traced;
use super::{
    AccessLog, BreakerMiddleware, Cors, Gunzip, Jwt, MaxBytes, MaxConns, MetricsMiddleware,
    RateLimit, Refusal, Shedding, Stage, Timeout, Trace, gunzip, recover,
};

/// The built-in middlewares of one route; `None` (or `false`) is switched off.
#[derive(Default)]
pub struct Stack {
    /// Panic recovery: a panicking handler answers 500 and is logged.
    pub recover: bool,
    /// Trace ids and `traceparent`, and a span when spans are exported.
    pub trace: Option<Trace>,
    /// The access log line.
    pub log: Option<AccessLog>,
    /// Prometheus metrics.
    pub metrics: Option<MetricsMiddleware>,
    /// CORS.
    pub cors: Option<Cors>,
    /// `MaxConns`.
    pub max_conns: Option<MaxConns>,
    /// Load shedding.
    pub shedding: Option<Shedding>,
    /// The route's circuit breaker.
    pub breaker: Option<BreakerMiddleware>,
    /// `Timeout`.
    pub timeout: Option<Timeout>,
    /// `MaxBytes`.
    pub max_bytes: Option<MaxBytes>,
    /// gzip request bodies.
    pub gunzip: Option<Gunzip>,
    /// The rate limit.
    pub limit: Option<RateLimit>,
    /// JWT.
    pub jwt: Option<Jwt>,
}

type Ticket<S> = Option<<S as Stage>::Ticket>;

/// What the stages admitted for one request hand on to their `finish`.
#[derive(Default)]
struct Tickets {
    log: Ticket<AccessLog>,
    metrics: Ticket<MetricsMiddleware>,
    cors: Ticket<Cors>,
    max_conns: Ticket<MaxConns>,
    shedding: Ticket<Shedding>,
    breaker: Ticket<BreakerMiddleware>,
}

fn admit<S: Stage>(
    stage: &Option<S>,
    req: &mut Request,
    now: Instant,
) -> Result<Option<S::Ticket>, Refusal> {
    stage.as_ref().map(|s| s.admit(req, now)).transpose()
}

fn finish<S: Stage>(
    stage: &Option<S>,
    ticket: Option<S::Ticket>,
    resp: &mut Response,
    now: Instant,
) {
    if let (Some(s), Some(t)) = (stage, ticket) {
        s.finish(t, resp, now);
    }
}

impl Stack {
    /// Admits the request stage by stage; on the first refusal, the refusal.
    fn admit(&self, req: &mut Request, now: Instant, t: &mut Tickets) -> Result<(), Refusal> {
        t.log = admit(&self.log, req, now)?;
        t.metrics = admit(&self.metrics, req, now)?;
        t.cors = admit(&self.cors, req, now)?;
        t.max_conns = admit(&self.max_conns, req, now)?;
        t.shedding = admit(&self.shedding, req, now)?;
        t.breaker = admit(&self.breaker, req, now)?;
        admit(&self.max_bytes, req, now)?;
        admit(&self.limit, req, now)?;
        admit(&self.jwt, req, now)?;
        Ok(())
    }

    /// Finishes the admitted stages, innermost first.
    fn finish(&self, t: Tickets, resp: &mut Response) {
        let now = Instant::now();
        finish(&self.breaker, t.breaker, resp, now);
        finish(&self.shedding, t.shedding, resp, now);
        finish(&self.max_conns, t.max_conns, resp, now);
        finish(&self.cors, t.cors, resp, now);
        finish(&self.metrics, t.metrics, resp, now);
        finish(&self.log, t.log, resp, now);
    }
}

/// Applies a [`Stack`] to a route.
#[derive(Clone)]
pub struct StackLayer(Arc<Stack>);

impl StackLayer {
    /// The layer for `stack`.
    pub fn new(stack: Stack) -> Self {
        StackLayer(Arc::new(stack))
    }
}

impl<S> Layer<S> for StackLayer {
    type Service = StackService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StackService {
            stack: self.0.clone(),
            inner,
        }
    }
}

/// A route's service behind its [`Stack`].
#[derive(Clone)]
pub struct StackService<S> {
    stack: Arc<Stack>,
    inner: S,
}

impl<S> Service<Request> for StackService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = StackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let stack = self.stack.clone();
        let traced = stack.trace.as_ref().map(|t| t.begin(&req));
        let scope = traced.as_ref().map(|t| t.enter());
        let mut tickets = Tickets::default();
        let now = Instant::now();
        let inner = match stack.admit(&mut req, now, &mut tickets) {
            Err(refusal) => Err(*refusal),
            Ok(()) if stack.gunzip.as_ref().is_some_and(|g| g.applies(&req)) => {
                // The service is needed after `call` returns: the clone that was driven to
                // readiness goes with the request (tower's usual swap).
                let clone = self.inner.clone();
                let mut svc = std::mem::replace(&mut self.inner, clone);
                let max = stack.gunzip.as_ref().map_or(0, |g| g.max);
                Ok(Inner::Gzip {
                    fut: Box::pin(async move {
                        match gunzip::inflate(req, max).await {
                            Ok(req) => svc.call(req).await,
                            Err(e) => Ok(e.into_response()),
                        }
                    }),
                })
            }
            Ok(()) if stack.recover => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                    Ok(fut) => Ok(Inner::Service { fut }),
                    Err(panic) => Err(recover::answer(panic)),
                }
            }
            Ok(()) => Ok(Inner::Service {
                fut: self.inner.call(req),
            }),
        };
        drop(scope);
        let state = match inner {
            Err(resp) => State::Answered { resp: Some(resp) },
            Ok(inner) => State::Running {
                fut: AssertUnwindSafe(Timeout::deadline(stack.timeout, inner, now)).catch_unwind(),
            },
        };
        StackFuture {
            stack,
            tickets,
            traced,
            state,
        }
    }
}

/// A boxed inner call (the rare gzip path, which reads the body first).
type BoxedCall = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The inner service's call.
    #[project = InnerProj]
    enum Inner<F> {
        /// Called at once.
        Service { #[pin] fut: F },
        /// A gzip body is inflated first, then the service is called (boxed apart: the
        /// body-reading future would otherwise enlarge every request's future).
        Gzip { fut: BoxedCall },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Inner<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            InnerProj::Service { fut } => fut.poll(cx),
            InnerProj::Gzip { fut } => fut.as_mut().poll(cx),
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        /// A stage (or a panic in the inner service's `call`) answered; taken at completion.
        Answered { resp: Option<Response> },
        /// The inner call runs under the timeout, and panics are caught.
        Running { #[pin] fut: CatchUnwind<AssertUnwindSafe<Deadline<Inner<F>>>> },
        /// The inner call is over (and dropped).
        Done,
    }
}

pin_project_lite::pin_project! {
    /// One request through a [`Stack`], written out by hand rather than as an `async` block
    /// so that it has a name: axum then boxes it once, where an unnameable future needed a
    /// box of its own (an allocation and a copy of the whole future per request).
    pub struct StackFuture<F> {
        stack: Arc<Stack>,
        tickets: Tickets,
        traced: Option<Traced>,
        #[pin]
        state: State<F>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for StackFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Every line logged while the request runs carries its ids; with an exporter, its
        // work also belongs to the request's span.
        let _scope = this.traced.as_ref().map(|t| t.enter());
        let mut resp = match this.state.as_mut().project() {
            StateProj::Answered { resp } => resp.take(),
            StateProj::Running { fut } => match std::task::ready!(fut.poll(cx)) {
                Ok(resp) => Some(resp),
                Err(panic) if this.stack.recover => Some(recover::answer(panic)),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            StateProj::Done => None,
        }
        .expect("StackFuture polled after completion");
        // The handler's future is dropped before the request is logged and counted.
        this.state.set(State::Done);
        this.stack.finish(std::mem::take(this.tickets), &mut resp);
        if let Some(t) = this.traced.as_ref() {
            t.finish(&mut resp);
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::Context;

    use axum::body::Body;
    use tower::{Layer, Service, service_fn};

    use super::*;
    use crate::load::{CpuSource, Shedder};
    use crate::metrics::Metrics;
    use crate::middleware::Slots;

    /// A request whose client goes away before it is answered gives back everything its
    /// stages hold: the MaxConns slot, its place in the in-flight gauge and in the shedder.
    #[test]
    fn an_abandoned_request_gives_back_what_it_held() {
        let metrics = Arc::new(Metrics::new());
        let slots = Slots::new(1);
        let shedder = Arc::new(Shedder::new(900, CpuSource::Fixed(Default::default())));
        let path: Arc<str> = Arc::from("/");
        let stack = Stack {
            metrics: Some(MetricsMiddleware::new(metrics.clone(), path.clone())),
            max_conns: Some(MaxConns::new(slots.clone(), metrics.clone(), path.clone())),
            shedding: Some(Shedding::new(shedder.clone(), metrics.clone(), path)),
            ..Stack::default()
        };
        let never = service_fn(|_: Request| std::future::pending::<Result<Response, Infallible>>());
        let mut svc = StackLayer::new(stack).layer(never);
        let mut fut = Box::pin(svc.call(Request::new(Body::empty())));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(
            slots.try_take().is_none(),
            "the request holds the only slot"
        );
        assert_eq!(shedder.flying(), 1);
        assert!(
            metrics
                .render()
                .contains("http_server_requests_in_flight 1")
        );
        drop(fut);
        assert!(slots.try_take().is_some(), "the slot is free again");
        assert_eq!(shedder.flying(), 0);
        assert!(
            metrics
                .render()
                .contains("http_server_requests_in_flight 0")
        );
    }
}
