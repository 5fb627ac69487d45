//! Per-route timeout: past the deadline the handler is dropped and the client gets 503 JSON
//! (go-zero's status for timeouts).

use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::{Handle, Next};
use crate::error::Error;

/// The timeout middleware.
#[derive(Clone, Copy)]
pub struct Timeout(pub Duration);

impl Handle for Timeout {
    async fn handle<N: Next>(self, req: Request, next: N) -> Response {
        let uri = req.uri().clone();
        match tokio::time::timeout(self.0, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!(%uri, timeout = ?self.0, "request timed out");
                Error::Timeout.into_response()
            }
        }
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
