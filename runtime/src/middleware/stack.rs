//! The built-in stack of one route: every enabled middleware, in the documented order, run
//! inside one future.
//!
//! Order, outermost first: recover → trace → access log → metrics → CORS → MaxConns →
//! shedding → breaker → timeout → MaxBytes → gunzip → rate limit → JWT → (then, as tower
//! layers inside the stack: content-security signature, the contract's middlewares, the
//! handler). Stages are admitted in that order and finished in reverse; a stage that answers
//! a request itself (a 503, 413, 429, 401, a CORS preflight) skips everything after it,
//! while every stage before it still sees the answer: it is logged, counted and traced.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower::{Layer, Service};

use super::{
    AccessLog, BreakerMiddleware, Cors, Gunzip, Jwt, MaxBytes, MaxConns, MetricsMiddleware,
    RateLimit, Refusal, ResponseFuture, Shedding, Stage, Timeout, Trace, done, gunzip, recover,
};
use crate::ids::WithIds;

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

    /// Awaits the rest of the stack under the timeout and panic recovery.
    async fn guard<F>(&self, fut: F, start: Instant) -> Response
    where
        F: Future<Output = Result<Response, Infallible>> + Send,
    {
        let timed = async {
            match &self.timeout {
                Some(t) => t.run(fut, start).await,
                None => done(fut.await),
            }
        };
        if self.recover {
            match AssertUnwindSafe(timed).catch_unwind().await {
                Ok(resp) => resp,
                Err(panic) => recover::answer(panic),
            }
        } else {
            timed.await
        }
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

/// How the request went on after admission.
enum Next<F> {
    /// A stage (or a panic in the inner service's `call`) answered it.
    Answered(Response),
    /// The rest of the stack is running.
    Called(F),
    /// A gzip body is read first, then the service is called (boxed apart: it is rare, and
    /// the body-reading future would otherwise enlarge every request's future).
    Gzip(ResponseFuture),
}

impl<S> Service<Request> for StackService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future =
        futures_util::future::Map<ResponseFuture, fn(Response) -> Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let stack = self.stack.clone();
        let traced = stack.trace.as_ref().map(|t| t.begin(&req));
        let scope = traced.as_ref().map(|t| t.enter());
        let mut tickets = Tickets {
            log: None,
            metrics: None,
            cors: None,
            max_conns: None,
            shedding: None,
            breaker: None,
        };
        let now = Instant::now();
        let next = match stack.admit(&mut req, now, &mut tickets) {
            Err(refusal) => Next::Answered(*refusal),
            Ok(()) if stack.gunzip.as_ref().is_some_and(|g| g.applies(&req)) => {
                // The service is needed after `call` returns: the clone that was driven to
                // readiness goes with the request (tower's usual swap).
                let clone = self.inner.clone();
                let mut svc = std::mem::replace(&mut self.inner, clone);
                let (stack, max) = (stack.clone(), stack.gunzip.as_ref().map_or(0, |g| g.max));
                Next::Gzip(Box::pin(async move {
                    match gunzip::inflate(req, max).await {
                        Ok(req) => stack.guard(svc.call(req), now).await,
                        Err(e) => e.into_response(),
                    }
                }))
            }
            Ok(()) if stack.recover => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                    Ok(fut) => Next::Called(fut),
                    Err(panic) => Next::Answered(recover::answer(panic)),
                }
            }
            Ok(()) => Next::Called(self.inner.call(req)),
        };
        drop(scope);
        let scope = traced.as_ref().map(|t| (t.ids, t.span.clone()));
        let fut = async move {
            let mut resp = match next {
                Next::Answered(resp) => resp,
                Next::Called(fut) => stack.guard(fut, now).await,
                Next::Gzip(fut) => fut.await,
            };
            stack.finish(tickets, &mut resp);
            if let Some(t) = &traced {
                t.finish(&mut resp);
            }
            resp
        };
        use tracing::Instrument;
        // Every line logged while the request runs carries its ids; with an exporter, its
        // work also belongs to the request's span.
        let fut: ResponseFuture = match scope {
            None => Box::pin(fut),
            Some((ids, None)) => Box::pin(WithIds::new(ids, fut)),
            Some((ids, Some(span))) => Box::pin(WithIds::new(ids, fut.instrument(span))),
        };
        fut.map(Ok as fn(Response) -> Result<Response, Infallible>)
    }
}
