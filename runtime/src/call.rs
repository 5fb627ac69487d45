//! Per-call options of an RPC client: a deadline and metadata, set for one call rather than
//! for the whole client. Generated clients take them with every method, so a fake client in a
//! test sees what logic sent.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::Stream;

use tonic::Status;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

/// A stream of messages, boxed so that a client trait can take and return streams and stay
/// usable as `dyn` (a test's fake builds one with `Box::pin(futures::stream::iter(...))`).
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

/// A deadline and metadata for one call. `CallOptions::new()` sets neither; [`crate::Ctx::call`]
/// starts from the deadline of the request being served.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    timeout: Option<Duration>,
    metadata: MetadataMap,
    /// A metadata entry that is not valid ASCII metadata: the call fails with
    /// `INVALID_ARGUMENT` instead of going out without it.
    invalid: Option<String>,
}

impl CallOptions {
    /// No deadline of its own (the client's `Timeout` applies) and no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The call must be answered within `timeout` (sent as `grpc-timeout`; the client's own
    /// `Timeout` still applies when it is smaller).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The call must be answered by `at`.
    pub fn deadline(self, at: Instant) -> Self {
        self.timeout(at.saturating_duration_since(Instant::now()))
    }

    /// Adds an ASCII metadata entry (`x-tenant: acme`).
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        match (
            key.parse::<AsciiMetadataKey>(),
            value.parse::<AsciiMetadataValue>(),
        ) {
            (Ok(k), Ok(v)) => {
                self.metadata.append(k, v);
            }
            _ => {
                self.invalid.get_or_insert_with(|| key.to_string());
            }
        }
        self
    }

    /// The timeout asked for, if any.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The metadata to send.
    pub fn get_metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// The stream of a client-streaming (or bidirectional) call as a request carrying these
    /// options. The client's `Timeout` does not bound it: only a deadline set here does.
    pub fn streaming_request<T>(
        self,
        messages: BoxStream<T>,
    ) -> Result<tonic::Request<Outgoing<T>>, Status> {
        self.server_streaming_request(Outgoing(messages))
    }

    /// `message` as the request of a streaming call (a server-streaming call's one message;
    /// [`Self::streaming_request`] passes its stream here), carrying these options and marked
    /// as streaming: the client's `Timeout` does not bound the call, only a deadline set here
    /// does.
    pub fn server_streaming_request<T>(self, message: T) -> Result<tonic::Request<T>, Status> {
        let mut request = self.request(message)?;
        request.extensions_mut().insert(Streams);
        Ok(request)
    }

    /// `message` as a request carrying these options.
    pub fn request<T>(self, message: T) -> Result<tonic::Request<T>, Status> {
        if let Some(key) = self.invalid {
            return Err(Status::invalid_argument(format!(
                "metadata {key:?} is not valid ASCII metadata"
            )));
        }
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata;
        if let Some(t) = self.timeout {
            request.set_timeout(t);
        }
        Ok(request)
    }
}

/// Marks the request of a call that streams (its extension): the RPC client's `Timeout`
/// bounds unary calls only, as go-zero's client does, so a watch can stay open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Streams;

/// A [`BoxStream`] of messages to send, as a type of its own: handed to tonic as a
/// `dyn Stream` directly, the call's future cannot be proven `Send` (a rustc limitation with
/// trait objects in higher-ranked bounds); behind this concrete type it can.
pub struct Outgoing<T>(BoxStream<T>);

impl<T> Stream for Outgoing<T> {
    type Item = T;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_request() {
        let req = CallOptions::new()
            .timeout(Duration::from_millis(250))
            .metadata("x-tenant", "acme")
            .request(7u32)
            .unwrap();
        assert_eq!(req.metadata().get("x-tenant").unwrap(), "acme");
        assert_eq!(req.metadata().get("grpc-timeout").unwrap(), "250000u");
        assert_eq!(*req.get_ref(), 7);
        let plain = CallOptions::new().request(()).unwrap();
        assert!(plain.metadata().is_empty());
    }

    #[tokio::test]
    async fn a_streaming_request_sends_the_messages() {
        use futures_util::StreamExt;
        let messages: BoxStream<u32> = Box::pin(futures_util::stream::iter([1, 2, 3]));
        let req = CallOptions::new()
            .metadata("x-batch", "7")
            .streaming_request(messages)
            .unwrap();
        assert_eq!(req.metadata().get("x-batch").unwrap(), "7");
        let sent: Vec<u32> = req.into_inner().collect().await;
        assert_eq!(sent, [1, 2, 3]);
    }

    #[test]
    fn bad_metadata_fails_the_call() {
        let err = CallOptions::new()
            .metadata("x-note", "line\nbreak")
            .request(())
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_request_deadline_carries_over() {
        let at = Instant::now() + Duration::from_secs(2);
        let opts = crate::Ctx::default().with_deadline(at).call();
        let t = opts.get_timeout().unwrap();
        assert!(t <= Duration::from_secs(2) && t > Duration::from_secs(1));
        assert_eq!(crate::Ctx::default().call().get_timeout(), None);
    }
}
