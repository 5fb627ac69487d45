//! Per-route timeout: past the deadline the handler is dropped and the client gets 503 JSON
//! (go-zero's status for timeouts).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};

use super::done;
use crate::error::Error;

/// The timeout middleware.
#[derive(Clone, Copy)]
pub struct Timeout(pub Duration);

impl Timeout {
    /// `fut` (the rest of the stack) until the timeout has passed since `start`, when the
    /// request arrived; `None` waits for `fut` however long it takes.
    pub(crate) fn deadline<F>(timeout: Option<Timeout>, fut: F, start: Instant) -> Deadline<F> {
        Deadline {
            fut,
            timer: None,
            limit: timeout.map(|t| (start + t.0, t.0)),
        }
    }
}

pin_project_lite::pin_project! {
    /// `fut` until its deadline, then the timeout's answer. The timer is armed only when `fut`
    /// is not ready at its first poll: most requests are, and then no timer is registered
    /// and cancelled for them (unlike `tokio::time::timeout`). It is boxed, to keep every
    /// request's future small.
    pub(crate) struct Deadline<F> {
        #[pin]
        fut: F,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        // When, and the configured timeout (for the log line).
        limit: Option<(Instant, Duration)>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Deadline<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        // Logic reads its deadline (`Ctx::deadline`) while the handler is polled.
        let _deadline = this.limit.map(|(at, _)| crate::deadline::enter(at));
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(done(v));
        }
        let Some((at, timeout)) = *this.limit else {
            return Poll::Pending;
        };
        let at = tokio::time::Instant::from_std(at);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        std::task::ready!(timer.as_mut().poll(cx));
        tracing::error!(?timeout, "request timed out");
        Poll::Ready(Error::Timeout.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Stack;
    use crate::middleware::test_util::{get, run_stack};

    fn with_timeout(t: Duration) -> Stack {
        Stack {
            timeout: Some(Timeout(t)),
            ..Stack::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_handler_times_out() {
        let slow = |_r| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        };
        let (s, _, body) = run_stack(with_timeout(Duration::from_millis(50)), slow, get("/")).await;
        assert_eq!(s, 503);
        assert!(body.contains("timed out"), "{body}");
        let (s, _, _) = run_stack(with_timeout(Duration::from_secs(60)), slow, get("/")).await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn the_handler_sees_its_deadline() {
        let handler = |_r| async {
            let left = crate::deadline::current()
                .map(|at| at.saturating_duration_since(std::time::Instant::now()));
            format!(
                "{}",
                left.is_some_and(|l| l <= Duration::from_secs(5) && l > Duration::from_secs(4))
            )
        };
        let (s, _, body) = run_stack(with_timeout(Duration::from_secs(5)), handler, get("/")).await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "true"));
        let (_, _, body) = run_stack(Stack::default(), handler, get("/")).await;
        assert_eq!(body, "false");
    }
}
