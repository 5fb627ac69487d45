//! One access-log line per call (`[RPC] code - method - remote` with a `duration` field) and a
//! `slowcall` warning past `Log.SlowThreshold`, as go-zero's stat interceptor writes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::intercept::{Call, CallFuture, Intercept, RpcRequest, RpcResponse, done, on_end};
use super::trace::CallIds;

/// The access-log interceptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessLog {
    pub(crate) slow: Duration,
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

fn remote(req: &RpcRequest) -> Option<SocketAddr> {
    req.extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
}

impl Intercept for AccessLog {
    fn intercept<F>(
        &self,
        call: &Call,
        req: RpcRequest,
        next: impl FnOnce(RpcRequest) -> F,
    ) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static,
    {
        let start = Instant::now();
        let method = call.method.clone();
        let remote = remote(&req).map_or_else(|| "-".to_owned(), |a| a.to_string());
        let slow = self.slow;
        let ids = req.extensions().get::<CallIds>().cloned();
        let fut = next(req);
        Box::pin(async move {
            let resp = done(fut.await);
            on_end(resp, move |code| {
                let log = || log_call(code, start.elapsed(), slow, &method, &remote);
                match &ids {
                    Some(ids) => ids.scope(log),
                    None => log(),
                }
            })
        })
    }
}

/// Writes the access line (and the slow-call warning) of one finished call.
fn log_call(code: tonic::Code, elapsed: Duration, slow: Duration, method: &str, remote: &str) {
    let duration = fmt_ms(elapsed);
    tracing::info!(
        target: "access",
        duration = %duration,
        code = code as i32,
        "[RPC] {code:?} - {method} - {remote}"
    );
    if elapsed > slow {
        tracing::warn!(
            target: "access",
            duration = %duration,
            "[RPC] slowcall - {method} - {remote} - slowcall({duration})"
        );
    }
}
