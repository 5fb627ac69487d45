//! One access-log line per call (`[RPC] code - method - remote` with a `duration` field) and a
//! `slowcall` warning past `Log.SlowThreshold`, as go-zero's stat interceptor writes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::Level;

use super::intercept::RpcRequest;
use crate::log::{Ms, line};

/// The access-log interceptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessLog {
    pub(crate) slow: Duration,
}

/// The caller's address, as the connection saw it.
pub(crate) fn remote(req: &RpcRequest) -> Option<SocketAddr> {
    req.extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
}

impl AccessLog {
    /// Writes the access line (and the slow-call warning) of one call finished `at`.
    pub(crate) fn write(
        &self,
        code: tonic::Code,
        at: Instant,
        elapsed: Duration,
        method: &str,
        remote: Option<SocketAddr>,
    ) {
        let mut text = line::buffer(32 + method.len());
        text.push_str("[RPC] ");
        text.push_str(code_name(code));
        text.push_str(" - ");
        text.push_str(method);
        text.push_str(" - ");
        line::push_remote(&mut text, remote);
        // To the runtime's log output when it is installed, formatted by its writer thread
        // (skipping tracing's dispatch, for the one line every call writes), as REST's access
        // line; else through tracing.
        static SITE: crate::log::Callsite = crate::log::Callsite::new(file!(), line!() + 1);
        if !crate::log::defer(Level::INFO, &SITE, &text, elapsed, at) {
            tracing::info!(target: "access", duration = %Ms(elapsed), "{text}");
        }
        if elapsed > self.slow {
            let duration = Ms(elapsed).to_string();
            let mut peer = String::new();
            line::push_remote(&mut peer, remote);
            tracing::warn!(
                target: "access",
                duration,
                "[RPC] slowcall - {method} - {peer} - slowcall({duration})"
            );
        }
        line::recycle(text);
    }
}

/// The code's name as `tonic::Code`'s `Debug` writes it (`Ok`, `NotFound`, ...), without `fmt`.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_debug_names() {
        for i in 0..17 {
            let code = tonic::Code::from_i32(i);
            assert_eq!(code_name(code), format!("{code:?}"));
        }
    }
}
