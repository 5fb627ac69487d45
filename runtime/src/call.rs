//! Per-call options of an RPC client: a deadline and metadata, set for one call rather than
//! for the whole client. Generated clients take them with every method, so a fake client in a
//! test sees what logic sent.

use std::time::{Duration, Instant};

use tonic::Status;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

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
