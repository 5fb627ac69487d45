//! Tasks spawned for a request keep its trace: [`spawn`] carries the request's trace ids, its
//! tracing span and its client's address into the new task, current on every poll, so that
//! the lines logic writes there (an SSE route's or a gRPC stream's) carry `trace` and `span`.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::current::{self, Current};
use crate::ids::Ids;
use crate::peer::ClientAddr;

/// Spawns `fut` on the tokio runtime with the current request's trace ids, tracing span and
/// client address current while it runs: `tokio::spawn` for work done on behalf of a request.
/// Outside a request it is a plain `tokio::spawn`.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(carry(fut))
}

/// `fut`, polled with what is current now (the request's ids, span and client address).
pub fn carry<F: Future>(fut: F) -> Carried<F> {
    Carried {
        ids: current::get::<Ids>(),
        peer: current::get::<ClientAddr>(),
        fut: fut.instrument(tracing::Span::current()),
    }
}

pin_project_lite::pin_project! {
    /// A future polled with the ids, span and client address of the request that made it.
    pub struct Carried<F> {
        ids: Option<Ids>,
        peer: Option<ClientAddr>,
        #[pin]
        fut: tracing::instrument::Instrumented<F>,
    }
}

fn enter<T: Current>(value: Option<T>) -> Option<current::Restore<T>> {
    value.map(current::enter)
}

impl<F: Future> Future for Carried<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _ids = enter(*this.ids);
        let _peer = enter(*this.peer);
        this.fut.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{self, WithIds};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spawned_task_keeps_the_ids_and_address_of_its_request() {
        let ids = Ids::new_trace();
        let addr: std::net::SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let request = WithIds::new(ids, async move {
            let task = spawn(async {
                tokio::task::yield_now().await;
                (ids::current(), crate::peer::current())
            });
            task.await.unwrap()
        });
        let seen = current::WithCurrent::new(ClientAddr(addr), request).await;
        assert_eq!(seen, (Some(ids), Some(addr)));
        // Outside a request: nothing is current in the task.
        let seen = spawn(async { (ids::current(), crate::peer::current()) })
            .await
            .unwrap();
        assert_eq!(seen, (None, None));
    }
}
