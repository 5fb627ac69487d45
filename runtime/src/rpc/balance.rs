//! The power-of-two-choices balancer a client calls through: tower's `p2c::Balance` over one
//! lazily connected tonic channel per endpoint, each measured with peak-EWMA latency times
//! in-flight calls (`PeakEwma`): the same load go-zero's p2c picker computes (EWMA latency ×
//! (inflight + 1)). Endpoints come and go through the [`EndpointSender`] its resolver feeds
//! (`resolve.rs`), while calls run.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::balance::p2c::Balance;
use tower::buffer::Buffer;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover};
use tower::util::BoxService;

use super::resolve::EndpointSender;

/// The balanced pool the client calls through.
pub(crate) type Pool = Buffer<
    http::Request<Body>,
    std::pin::Pin<
        Box<dyn Future<Output = Result<http::Response<Body>, tower::BoxError>> + Send + 'static>,
    >,
>;

/// How each endpoint's channel connects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EndpointOpts {
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalive: Option<Duration>,
}

/// Builds the pool and the sender its resolver feeds.
pub(crate) fn pool(opts: EndpointOpts) -> (Pool, EndpointSender) {
    let (sender, mut rx) = EndpointSender::channel();
    let healthy = Arc::new(AtomicUsize::new(0));
    // Endpoints become lazily connected channels as the balancer polls for changes (inside
    // the runtime). A finished stream would make the balancer fail, so it never ends.
    let changes = futures_util::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        Poll::Ready(Some(Change::Insert(key, addr))) => match channel(&addr, opts) {
            Ok(ch) => {
                let svc = Ejecting::new(ch, healthy.clone());
                Poll::Ready(Some(Ok::<_, Infallible>(Change::Insert(key, svc))))
            }
            Err(e) => {
                tracing::error!(endpoint = %addr, error = %e, "invalid rpc endpoint ignored");
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        },
        Poll::Ready(Some(Change::Remove(key))) => Poll::Ready(Some(Ok(Change::Remove(key)))),
        Poll::Ready(None) | Poll::Pending => Poll::Pending,
    });
    let measured = PeakEwmaDiscover::new(
        changes,
        Duration::from_millis(30),
        Duration::from_secs(10),
        CompleteOnResponse::default(),
    );
    let balance = Balance::new(measured);
    let pool = Buffer::new(BoxService::new(balance), 1024);
    (pool, sender)
}

/// How long an endpoint whose connection failed sits out the first time (gRPC's first
/// reconnect backoff); each failure in a row multiplies it by 1.6 (gRPC's multiplier), up to
/// [`EJECT_MAX`].
const EJECT_FOR: Duration = Duration::from_secs(1);

/// The longest sit-out: the etcd lease TTL, by which a dead registered replica is gone.
const EJECT_MAX: Duration = Duration::from_secs(10);

/// How long an endpoint sits out after `strikes` failed calls in a row.
fn eject_for(strikes: u32) -> Duration {
    EJECT_FOR
        .mul_f64(1.6f64.powi(strikes.saturating_sub(1).min(16) as i32))
        .min(EJECT_MAX)
}

/// Whether an endpoint sits out, and its failures in a row.
#[derive(Default)]
struct Ejection {
    until: Option<tokio::time::Instant>,
    strikes: u32,
}

/// One endpoint in the balancer. When its transport fails (refused, reset), it reports
/// not-ready for a backoff ([`eject_for`]), so p2c picks among the others instead of sending
/// calls to a dead replica (a SIGKILLed one stays registered until its lease runs out); the
/// last healthy endpoint is never ejected (its callers get UNAVAILABLE at once rather than
/// waiting for their deadline). A call that reaches it resets the backoff.
struct Ejecting {
    inner: Channel,
    ejected_until: Arc<Mutex<Ejection>>,
    healthy: Arc<AtomicUsize>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Ejecting {
    fn new(inner: Channel, healthy: Arc<AtomicUsize>) -> Self {
        healthy.fetch_add(1, Ordering::SeqCst);
        Ejecting {
            inner,
            ejected_until: Arc::default(),
            healthy,
            sleep: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type EndpointFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, tower::BoxError>> + Send>>;

impl tower::Service<http::Request<Body>> for Ejecting {
    type Response = http::Response<Body>;
    type Error = tower::BoxError;
    type Future = EndpointFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let until = lock(&self.ejected_until).until;
        if let Some(until) = until {
            if tokio::time::Instant::now() < until {
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            self.sleep = None;
            lock(&self.ejected_until).until = None;
            self.healthy.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let fut = self.inner.call(req);
        let (until, healthy) = (self.ejected_until.clone(), self.healthy.clone());
        Box::pin(async move {
            let res = fut.await;
            let mut ejection = lock(&until);
            if res.is_err() {
                let others_left = ejection.until.is_none()
                    && healthy
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                            (h > 1).then(|| h - 1)
                        })
                        .is_ok();
                if others_left {
                    ejection.strikes += 1;
                    ejection.until =
                        Some(tokio::time::Instant::now() + eject_for(ejection.strikes));
                }
            } else {
                ejection.strikes = 0;
            }
            drop(ejection);
            res.map_err(Into::into)
        })
    }
}

impl Drop for Ejecting {
    fn drop(&mut self) {
        if lock(&self.ejected_until).until.is_none() {
            self.healthy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn channel(addr: &str, opts: EndpointOpts) -> Result<Channel, tonic::transport::Error> {
    Ok(endpoint(addr, opts)?.connect_lazy())
}

pub(crate) fn endpoint(
    addr: &str,
    opts: EndpointOpts,
) -> Result<Endpoint, tonic::transport::Error> {
    let ep = Endpoint::from_shared(addr.to_owned())?
        .connect_timeout(opts.connect_timeout)
        .tcp_nodelay(true);
    Ok(match opts.keepalive {
        Some(every) => ep.http2_keep_alive_interval(every),
        None => ep,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_back_off_to_the_lease_ttl() {
        let secs: Vec<f64> = (1..=7).map(|s| eject_for(s).as_secs_f64()).collect();
        let want = [1.0, 1.6, 2.56, 4.096, 6.5536, 10.0, 10.0];
        for (got, want) in secs.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{secs:?}");
        }
        assert_eq!(eject_for(u32::MAX), EJECT_MAX);
    }
}
