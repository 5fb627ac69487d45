//! Server-sent events for the routes of an `sse: true` group: logic sends values into a channel,
//! and the response streams each one as an SSE event whose data is the value as JSON.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::Error;

/// Where logic sends events; the stream ends when it is dropped (when logic returns).
pub type EventSender<T> = mpsc::Sender<T>;

/// The events of one response.
pub type Events = Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// The response of an SSE route: the events, with keep-alive comments while logic is quiet.
pub type EventStream = Sse<KeepAliveStream<Events>>;

/// Runs `logic` with a sender and answers at once with the stream of what it sends. The status
/// is 200 before logic runs, so an error logic returns later becomes a final `error` event
/// (and a log line) instead of a status code. Logic runs in a task of its own that keeps the
/// request's trace ids and client address ([`crate::spawn`]): its log lines carry `trace`
/// and `span`.
pub fn respond<T, F, Fut>(logic: F) -> EventStream
where
    T: Serialize + Send + 'static,
    F: FnOnce(EventSender<T>) -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<T>(16);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<Event>();
    let work = logic(tx);
    crate::task::spawn(async move {
        if let Err(e) = work.await {
            // Rendered here rather than in the stream, so the error is logged even when the
            // client has gone.
            let _ = err_tx.send(error_event(e).await);
        }
    });
    let events = futures_util::stream::unfold((rx, Some(err_rx)), |(mut rx, err_rx)| async move {
        if let Some(item) = rx.recv().await {
            let event = match Event::default().json_data(&item) {
                Ok(event) => event,
                Err(e) => error_event(Error::Internal(format!("sse event: {e}"))).await,
            };
            return Some((Ok(event), (rx, err_rx)));
        }
        // The sender is gone: logic finished. Report its error, if any, then end.
        let event = match err_rx {
            Some(err_rx) => err_rx.await.ok(),
            None => None,
        }?;
        Some((Ok(event), (rx, None)))
    });
    let events: Events = Box::pin(events);
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The most of a rendered error body an `error` event carries.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The `error` event for `error`: its data is the body the error renderer gives the same error
/// on the normal path, so the client sees what a plain route would show (never an
/// [`Error::Internal`] detail, which is logged there instead).
async fn error_event(error: Error) -> Event {
    if !matches!(error, Error::Internal(_)) {
        tracing::warn!(error = %error, "sse logic failed");
    }
    let status = error.status();
    let body = error.into_response().into_body();
    let data = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        // Browsers ignore an event without data: say at least what the status says.
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    Event::default().event("error").data(data)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[derive(Serialize)]
    struct Tick {
        n: u32,
    }

    async fn body(stream: EventStream) -> String {
        let bytes = stream
            .into_response()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn events_are_json_and_the_stream_ends_with_logic() {
        let stream = respond(|tx: EventSender<Tick>| async move {
            for n in 1..=3 {
                tx.send(Tick { n })
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
            Ok(())
        });
        let text = body(stream).await;
        assert_eq!(
            text,
            "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\n"
        );
    }

    #[tokio::test]
    async fn a_logic_error_is_the_last_event() {
        let stream = respond(|tx: EventSender<Tick>| async move {
            tx.send(Tick { n: 1 })
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            Err(Error::NotFound("no more ticks".into()))
        });
        let text = body(stream).await;
        assert_eq!(
            text,
            "data: {\"n\":1}\n\nevent: error\ndata: {\"code\":404,\"msg\":\"no more ticks\"}\n\n"
        );
    }

    #[tokio::test]
    async fn an_internal_error_shows_what_the_error_path_shows() {
        let stream = respond(|_tx: EventSender<Tick>| async move {
            Err(Error::Internal(
                "db at 10.0.0.7 refused password hunter2".into(),
            ))
        });
        let text = body(stream).await;
        assert_eq!(
            text,
            "event: error\ndata: {\"code\":500,\"msg\":\"internal server error\"}\n\n"
        );
    }
}
