//! The client address of the request being served.
//!
//! axum's `ConnectInfo` puts the address into every request's extensions, which allocates
//! the extension map for each request; that was a measurable share of the REST stack's cost
//! (docs/bench.md). Here the address rides with the request's future instead and is current
//! on the thread while that future is polled, as the request's trace ids are (`ids.rs`):
//! the access log and the [`ClientAddr`] extractor read it from there.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use http::request::Parts;
use tower::Service;

use crate::current::{self, Current, WithCurrent};
use crate::error::Error;

thread_local! {
    static PEER: Cell<Option<ClientAddr>> = const { Cell::new(None) };
}

impl Current for ClientAddr {
    fn slot() -> &'static std::thread::LocalKey<Cell<Option<ClientAddr>>> {
        &PEER
    }
}

/// The client address of the request being served on this thread, if known.
pub fn current() -> Option<SocketAddr> {
    current::get::<ClientAddr>().map(|c| c.0)
}

/// The client's address, for handlers: `async fn h(ClientAddr(addr): ClientAddr)`.
/// Outside a server (an in-process `oneshot`), axum's `ConnectInfo` extension is read instead;
/// without either the request is answered 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        of(&parts.extensions)
            .map(ClientAddr)
            .ok_or_else(|| Error::Internal("the client address is unknown".into()))
    }
}

/// The address of the request with these extensions: the current one, else `ConnectInfo`.
pub(crate) fn of(extensions: &http::Extensions) -> Option<SocketAddr> {
    current().or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
}

/// The router of one connection: each request's future knows the client's address.
#[derive(Clone)]
pub(crate) struct PeerService {
    peer: SocketAddr,
    router: Router,
}

impl PeerService {
    /// `router` serving the connection from `peer`.
    pub(crate) fn new(peer: SocketAddr, router: Router) -> Self {
        PeerService { peer, router }
    }
}

impl Service<Request> for PeerService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = WithPeer<<Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let peer = ClientAddr(self.peer);
        let _restore = current::enter(peer);
        WithPeer::new(peer, self.router.call(req))
    }
}

/// A request's future, polled with its client's address current.
pub(crate) type WithPeer<F> = WithCurrent<ClientAddr, F>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_only_while_polled() {
        let addr: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        assert_eq!(current(), None);
        let fut = WithPeer::new(ClientAddr(addr), async { current() });
        let seen = futures_util::FutureExt::now_or_never(fut).unwrap();
        assert_eq!(seen, Some(addr));
        assert_eq!(current(), None);
    }

    #[test]
    fn falls_back_to_connect_info() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut ext = http::Extensions::new();
        assert_eq!(of(&ext), None);
        ext.insert(ConnectInfo(addr));
        assert_eq!(of(&ext), Some(addr));
    }
}
