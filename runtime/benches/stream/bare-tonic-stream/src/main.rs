//! The ceiling for gRPC server-streaming checks: bare tonic serving `feed.Feed/Watch` of
//! `../stream.proto`, answering `count` Events (`text: "event"`, `seq` 0, 1, ...) as fast as the
//! client reads them. PORT env (default 18091); `#[tokio::main]`, so TOKIO_WORKER_THREADS sets the
//! workers, as for a generated service.
//!
//! BARE_STREAM picks how the reply stream is made, the two idioms of tonic's own examples:
//! - `iter` (default): `tokio_stream::iter` over the events, no task, no channel;
//! - `channel`: a task sending into `mpsc::channel(16)` read by a `ReceiverStream` (tonic's
//!   route_guide `list_features`), the shape a `rustctl`-generated service streams with (same
//!   capacity), so the difference to it is the runtime's stack, not the channel.
//!   BARE_CHANNEL_CAP sets another capacity (default 16, what the generated glue uses), to see
//!   what the capacity costs.
use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub mod feed {
    tonic::include_proto!("feed");
}
use feed::feed_server::{Feed, FeedServer};
use feed::{Event, WatchRequest};

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

struct Bare {
    /// The channel's capacity; `None`: `tokio_stream::iter`.
    channel: Option<usize>,
}

fn event(seq: i64) -> Event {
    Event {
        text: "event".to_owned(),
        seq,
    }
}

#[tonic::async_trait]
impl Feed for Bare {
    type WatchStream = EventStream;

    async fn watch(&self, req: Request<WatchRequest>) -> Result<Response<EventStream>, Status> {
        let count = i64::from(req.into_inner().count.max(0));
        if let Some(capacity) = self.channel {
            let (tx, rx) = tokio::sync::mpsc::channel(capacity);
            tokio::spawn(async move {
                for seq in 0..count {
                    if tx.send(Ok(event(seq))).await.is_err() {
                        break; // the client went away
                    }
                }
            });
            Ok(Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )))
        } else {
            Ok(Response::new(Box::pin(tokio_stream::iter(
                (0..count).map(|seq| Ok(event(seq))),
            ))))
        }
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18091);
    let capacity = match std::env::var("BARE_CHANNEL_CAP") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&c| c > 0)
            .expect("BARE_CHANNEL_CAP: a number > 0"),
        Err(_) => 16,
    };
    let channel = match std::env::var("BARE_STREAM").as_deref() {
        Ok("channel") => Some(capacity),
        Ok("iter") | Err(_) => None,
        Ok(other) => panic!("BARE_STREAM={other}: expected `iter` or `channel`"),
    };
    tonic::transport::Server::builder()
        .add_service(FeedServer::new(Bare { channel }))
        .serve(([127, 0, 0, 1], port).into())
        .await
        .unwrap();
}
