//! Per-route timeout: past the deadline the handler is dropped and the client gets 503 JSON
//! (go-zero's status for timeouts).

use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::{Handle, ResponseFuture, done};
use crate::error::Error;

/// The timeout middleware.
#[derive(Clone, Copy)]
pub struct Timeout(pub Duration);

impl Handle for Timeout {
    fn handle<F>(&self, req: Request, next: impl FnOnce(Request) -> F) -> ResponseFuture
    where
        F: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let uri = req.uri().clone();
        let limit = self.0;
        let fut = next(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(resp) => done(resp),
                Err(_) => {
                    tracing::error!(%uri, timeout = ?limit, "request timed out");
                    Error::Timeout.into_response()
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[tokio::test(start_paused = true)]
    async fn slow_handler_times_out() {
        let slow = |_r| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        };
        let (s, _, body) = run(Timeout(Duration::from_millis(50)), slow, get("/")).await;
        assert_eq!(s, 503);
        assert!(body.contains("timed out"), "{body}");
        let (s, _, _) = run(Timeout(Duration::from_secs(60)), slow, get("/")).await;
        assert_eq!(s, 200);
    }
}
