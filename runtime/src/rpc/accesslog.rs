//! One access-log line per call (`[RPC] code - method - remote` with a `duration` field) and a
//! `slowcall` warning past `Log.SlowThreshold`, as go-zero's stat interceptor writes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::Level;

use super::intercept::{Call, CallFuture, Intercept, RpcRequest, RpcResponse, done, on_end};
use super::trace::CallIds;
use crate::log::Ms;

/// The access-log interceptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessLog {
    pub(crate) slow: Duration,
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
    let line = format!("[RPC] {code:?} - {method} - {remote}");
    // To the runtime's log output when it is installed, formatted by its writer thread
    // (skipping tracing's dispatch, for the one line every call writes), as REST's access
    // line; else through tracing.
    static SITE: crate::log::Callsite = crate::log::Callsite::new(file!(), line!() + 1);
    if !crate::log::defer(Level::INFO, &SITE, &line, elapsed) {
        tracing::info!(target: "access", duration = %Ms(elapsed), "{line}");
    }
    if elapsed > slow {
        let duration = Ms(elapsed).to_string();
        tracing::warn!(
            target: "access",
            duration,
            "[RPC] slowcall - {method} - {remote} - slowcall({duration})"
        );
    }
}
