//! Per-route timeout: past the deadline the handler is dropped and the client gets 503 JSON
//! (go-zero's status for timeouts).

use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;

use axum::response::{IntoResponse, Response};

use super::done;
use crate::error::Error;

/// The timeout middleware.
#[derive(Clone, Copy)]
pub struct Timeout(pub Duration);

impl Timeout {
    /// Awaits `fut` (the rest of the stack) for at most the timeout.
    pub async fn run<F>(&self, fut: F) -> Response
    where
        F: Future<Output = Result<Response, Infallible>>,
    {
        match tokio::time::timeout(self.0, fut).await {
            Ok(resp) => done(resp),
            Err(_) => {
                tracing::error!(timeout = ?self.0, "request timed out");
                Error::Timeout.into_response()
            }
        }
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
}
