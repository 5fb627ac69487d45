//! The REST listener's connections: HTTP/1.1 and HTTP/2 on one port (hyper-util's auto
//! builder, as `axum::serve` uses), graceful shutdown, and the two limits a connection has
//! apart from its requests:
//!
//! - `ReadHeaderTimeout`: a request head must be complete within this of its first byte (of
//!   the accept, for a new connection), so a client sending a head slowly or not at all
//!   cannot hold a connection;
//! - `IdleTimeout`: a keep-alive connection with no request in flight is closed after this.
//!
//! Both count from the first time the connection waits in that phase, which is microseconds
//! after it began: the clock is read then, not on every change of phase.
//!
//! Neither runs while a request is served, from its head to the end of its response body (an
//! event stream included): that is the route's `Timeout`. hyper's own `header_read_timeout`
//! is not used: it starts whenever hyper waits for a head, on a keep-alive connection right
//! after the previous response, so it would end idle connections after the header limit too.
//!
//! [`Timed`], the socket as hyper reads it, keeps the limits; it knows whether a request is in
//! flight from the connection's [`Activity`], which [`Tracked`] updates: a request counts from
//! its call until its response body is done or dropped.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::StatusCode;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::config::RestConf;
use crate::peer::PeerService;

/// A connection's limits; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `ReadHeaderTimeout`.
    pub(crate) header: Option<Duration>,
    /// `IdleTimeout`.
    pub(crate) idle: Option<Duration>,
}

impl Limits {
    /// The limits `conf` sets (0 ms switches one off).
    pub(crate) fn of(conf: &RestConf) -> Self {
        let ms = |n: u64| (n > 0).then(|| Duration::from_millis(n));
        Limits {
            header: ms(conf.read_header_timeout),
            idle: ms(conf.idle_timeout),
        }
    }

    /// The shorter of the limits that are on (`None` when both are off).
    fn shortest(&self) -> Option<Duration> {
        match (self.header, self.idle) {
            (Some(h), Some(i)) => Some(h.min(i)),
            (h, i) => h.or(i),
        }
    }
}

/// When a connection's timer must fire at the latest: at its deadline `at`, and no later than
/// the shortest limit from now (the earliest any deadline set from now on can be).
fn earliest(at: Instant, shortest: Option<Duration>) -> Instant {
    shortest.map_or(at, |d| at.min(Instant::now() + d))
}

/// Accepts connections on `listener` and serves `router` on each until `drain` fires (or its
/// sender is dropped); then the listener closes, open connections finish what they are
/// serving (HTTP/2: GOAWAY) and this returns. When this future is dropped instead (the
/// shutdown's `WaitTime` ran out), the connections still open are dropped with it.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    drain: oneshot::Receiver<()>,
) -> io::Result<()> {
    let (closing_tx, closing) = watch::channel(false);
    let mut drain = std::pin::pin!(drain);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut drain => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // The client gave up between SYN and accept: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        conns.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            closing.clone(),
        ));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends; when `closing` turns true, finishes gracefully.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Timed::new(stream, limits, activity.clone()));
    let svc = TowerToHyperService::new(Tracked {
        inner: PeerService::new(peer, router),
        activity,
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // The CONNECT protocol, for WebSockets over HTTP/2 (as `axum::serve`).
    builder.http2().enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(io, svc);
    let mut conn = std::pin::pin!(conn);
    let mut told = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, %peer, "connection ended");
                }
                return;
            }
            _ = closing.wait_for(|c| *c), if !told => {
                told = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the requests of one connection are doing, shared by its [`Tracked`] service and its
/// [`Timed`] socket.
#[derive(Default)]
struct Activity {
    /// Requests whose response body is not done yet.
    busy: AtomicUsize,
    /// Requests finished so far: the socket sees from it that one came and went.
    finished: AtomicU64,
    /// The connection was switched to another protocol (101): no limits apply any more.
    upgraded: AtomicBool,
    /// The socket's reader, woken when the last request in flight finishes, so that the idle
    /// limit starts then even if the client stays silent.
    reader: AtomicWaker,
}

/// One request in flight; dropped when its response body is done (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::SeqCst);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // `finished` first: a reader that sees `busy` at 0 also sees the count go up.
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.reader.wake();
        }
    }
}

/// The connection's service: the router (with the client's address), each request counted
/// in the connection's [`Activity`] until its response body is done.
#[derive(Clone)]
struct Tracked {
    inner: PeerService,
    activity: Arc<Activity>,
}

impl Service<http::Request<Incoming>> for Tracked {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = TrackedFuture<<PeerService as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::begin(&self.activity);
        TrackedFuture {
            fut: self.inner.call(req.map(Body::new)),
            in_flight: Some(in_flight),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's response future, holding its place in the connection's activity.
    struct TrackedFuture<F> {
        #[pin]
        fut: F,
        in_flight: Option<InFlight>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for TrackedFuture<F> {
    type Output = Result<http::Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = match std::task::ready!(this.fut.poll(cx)) {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let in_flight = this.in_flight.take();
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(f) = &in_flight
        {
            // The socket now carries another protocol, with timing of its own.
            f.0.upgraded.store(true, Ordering::SeqCst);
        }
        Poll::Ready(Ok(resp.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

/// A response body that ends its request's [`InFlight`] when dropped.
struct TrackedBody {
    inner: Body,
    _in_flight: Option<InFlight>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where a connection is, as far as its limits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the rest of a request head: `ReadHeaderTimeout` runs.
    Head,
    /// Serving: no limit runs.
    Busy,
    /// Keep-alive, nothing in flight, nothing received: `IdleTimeout` runs.
    Idle,
}

/// A connection's socket, closed (an error to hyper) when the limit of its phase runs out.
/// The phase follows the connection's [`Activity`], checked each time hyper reads.
struct Timed {
    io: TcpStream,
    activity: Arc<Activity>,
    limits: Limits,
    phase: Phase,
    /// `Activity::finished` when last looked at.
    finished: u64,
    /// Whether the client speaks HTTP/2 (`None` until its first bytes). HTTP/2 heads come in
    /// frames between others, so there only the idle limit runs once the preface is in.
    h2: Option<bool>,
    /// The limit of the current phase.
    limit: Option<Duration>,
    /// When `limit` runs out: set the first time the phase waits for the client, not when it
    /// starts. A request that arrives whole then costs one clock reading instead of four,
    /// and the limit still counts from the moment the connection waits (microseconds after
    /// the phase began).
    deadline: Option<Instant>,
    /// The timer of `deadline`, made the first time hyper waits with one set.
    sleep: Option<Pin<Box<Sleep>>>,
}

/// How an HTTP/2 connection starts (its client preface, `PRI * HTTP/2.0...`).
const H2_PREFACE_START: &[u8] = b"PRI ";

impl Timed {
    fn new(io: TcpStream, limits: Limits, activity: Arc<Activity>) -> Self {
        let mut timed = Timed {
            io,
            activity,
            limits,
            phase: Phase::Head,
            finished: 0,
            h2: None,
            limit: None,
            deadline: None,
            sleep: None,
        };
        timed.enter(Phase::Head);
        timed
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.limit = match phase {
            Phase::Head => self.limits.header,
            Phase::Idle => self.limits.idle,
            Phase::Busy => None,
        };
        self.deadline = None;
    }

    /// Follows the requests: busy while one is in flight, idle once one came and went.
    fn follow(&mut self) {
        let a = &self.activity;
        if a.busy.load(Ordering::SeqCst) > 0 || a.upgraded.load(Ordering::SeqCst) {
            self.phase = Phase::Busy;
            return;
        }
        let finished = a.finished.load(Ordering::SeqCst);
        if self.phase == Phase::Busy || finished != self.finished {
            self.finished = finished;
            self.enter(Phase::Idle);
        }
    }

    /// Bytes arrived: an idle HTTP/1 connection is now reading a head; an HTTP/2 one has
    /// sent its preface and waits for requests.
    fn received(&mut self, bytes: &[u8]) {
        let h2 = *self.h2.get_or_insert_with(|| {
            // A client sends the preface in one piece; a shorter first read counts as
            // HTTP/1, whose limits are the stricter.
            bytes.starts_with(H2_PREFACE_START)
        });
        match self.phase {
            Phase::Idle if !h2 => self.enter(Phase::Head),
            Phase::Head if h2 => self.enter(Phase::Idle),
            _ => {}
        }
    }

    fn expired(&self) -> io::Error {
        let what = match self.phase {
            Phase::Head => "no complete request head within ReadHeaderTimeout",
            _ => "idle for IdleTimeout",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }

    /// Whether a head that has been waited for is past its limit. Only heads are checked
    /// before reading: an idle connection that becomes readable is no longer idle, and its
    /// timer ends it if it stays silent.
    fn head_past_deadline(&self) -> bool {
        self.phase == Phase::Head && self.deadline.is_some_and(|at| Instant::now() >= at)
    }
}

impl AsyncRead for Timed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow();
        // Checked before reading too: a client sending a byte now and then is always
        // readable, and must not keep a head open past the limit that way.
        if this.head_past_deadline() {
            return Poll::Ready(Err(this.expired()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.received(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if this.phase == Phase::Busy => {
                this.activity.reader.register(cx.waker());
                // The request may have finished since `follow`, its wake-up before this
                // registration: look again.
                if this.activity.busy.load(Ordering::SeqCst) == 0 {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Poll::Pending => {
                let Some(limit) = this.limit else {
                    return Poll::Pending;
                };
                let at = *this.deadline.get_or_insert_with(|| Instant::now() + limit);
                // The deadline moves with every request; the timer moves only when it
                // fires. It is armed no later than `now + the shorter limit`, which is no
                // later than any deadline a phase can set from now on, so it never fires
                // late; when it fires early it is armed again (a timer-wheel update every
                // few seconds per connection instead of one per request).
                let shortest = this.limits.shortest();
                let sleep = this.sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(earliest(at, shortest)))
                });
                loop {
                    match sleep.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) if Instant::now() >= at => {
                            return Poll::Ready(Err(this.expired()));
                        }
                        Poll::Ready(()) => sleep.as_mut().reset(earliest(at, shortest)),
                    }
                }
            }
        }
    }
}

impl AsyncWrite for Timed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
