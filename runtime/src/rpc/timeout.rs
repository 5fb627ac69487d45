//! Per-call timeout: the smaller of the server's limit for the method and the client's
//! `grpc-timeout`; past it the handler is dropped and the call answers DEADLINE_EXCEEDED.
//!
//! The server's limit is the method's `MethodTimeouts` entry, else `Timeout` for a unary
//! method. A streaming method gets no limit of the server's own unless its entry gives one: as
//! go-zero's server, whose timeout interceptor is unary only. A watch stream may rightly run
//! for hours; the client's deadline still bounds it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prost::Message;

use super::conf::MethodTimeoutConf;
use super::intercept::{Deadline, parse_grpc_timeout};

/// The server's limits: `Timeout`, the overrides of `MethodTimeouts`, and which methods stream.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeout {
    default: Option<Duration>,
    methods: HashMap<String, Option<Duration>>,
    streams: HashSet<String>,
}

impl Timeout {
    /// From `Timeout` and `MethodTimeouts` (ms; 0 disables), and the streaming methods'
    /// names (`/package.Service/Method`).
    pub(crate) fn new(
        default_ms: u64,
        methods: &[MethodTimeoutConf],
        streams: HashSet<String>,
    ) -> Self {
        let d = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Timeout {
            default: d(default_ms),
            methods: methods
                .iter()
                .map(|m| (m.full_method.clone(), d(m.timeout)))
                .collect(),
            streams,
        }
    }

    /// The server's own limit on a call to `method`, if any.
    pub(crate) fn limit(&self, method: &str) -> Option<Duration> {
        match self.methods.get(method) {
            Some(t) => *t,
            None if self.streams.contains(method) => None,
            None => self.default,
        }
    }
}

/// The deadline of a call that arrived at `now` with `headers`: the smaller of the server's
/// `limit` and the client's `grpc-timeout`, if either is set.
pub(crate) fn deadline(
    limit: Option<Duration>,
    headers: &http::HeaderMap,
    now: Instant,
) -> Option<Deadline> {
    Some(Deadline::new(now, effective(limit, headers)?))
}

/// The smaller of `conf` and the request's `grpc-timeout`.
pub(crate) fn effective(conf: Option<Duration>, headers: &http::HeaderMap) -> Option<Duration> {
    let asked = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    match (conf, asked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The methods that stream (either way) among the services an encoded `FileDescriptorSet`
/// describes, as `/package.Service/Method`. A set that does not decode names none (reflection
/// reports it).
pub(crate) fn streaming_methods(encoded_fds: &[u8]) -> Vec<String> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(encoded_fds) else {
        return Vec::new();
    };
    let mut streams = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            let service_name = match package {
                "" => service.name().to_owned(),
                p => format!("{p}.{}", service.name()),
            };
            for m in &service.method {
                if m.client_streaming() || m.server_streaming() {
                    streams.push(format!("/{service_name}/{}", m.name()));
                }
            }
        }
    }
    streams
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use prost_types::{
        FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, ServiceDescriptorProto,
    };

    /// An encoded descriptor set for `package.Service` with `(method, streams)`.
    pub(crate) fn descriptor_set(
        package: &str,
        service: &str,
        methods: &[(&str, bool)],
    ) -> Vec<u8> {
        let method = methods
            .iter()
            .map(|&(name, streams)| MethodDescriptorProto {
                name: Some(name.into()),
                server_streaming: Some(streams),
                ..Default::default()
            })
            .collect();
        FileDescriptorSet {
            file: vec![FileDescriptorProto {
                name: Some(format!("{service}.proto")),
                package: (!package.is_empty()).then(|| package.into()),
                service: vec![ServiceDescriptorProto {
                    name: Some(service.into()),
                    method,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn smaller_deadline_wins() {
        let mut h = http::HeaderMap::new();
        let s = |ms| Some(Duration::from_millis(ms));
        assert_eq!(effective(s(2000), &h), s(2000));
        h.insert("grpc-timeout", http::HeaderValue::from_static("100m"));
        assert_eq!(effective(s(2000), &h), s(100));
        assert_eq!(effective(s(50), &h), s(50));
        assert_eq!(effective(None, &h), s(100));
    }

    #[test]
    fn streams_get_no_server_limit_unless_their_entry_gives_one() {
        let fds = descriptor_set(
            "a.v1",
            "Feed",
            &[("Get", false), ("Watch", true), ("Tail", true)],
        );
        let streams: HashSet<String> = streaming_methods(&fds).into_iter().collect();
        assert_eq!(
            streams,
            HashSet::from(["/a.v1.Feed/Watch".to_owned(), "/a.v1.Feed/Tail".to_owned()])
        );
        let entry = MethodTimeoutConf {
            full_method: "/a.v1.Feed/Tail".into(),
            timeout: 60_000,
        };
        let t = Timeout::new(2000, &[entry], streams);
        let s = |ms| Some(Duration::from_millis(ms));
        assert_eq!(t.limit("/a.v1.Feed/Get"), s(2000));
        assert_eq!(t.limit("/a.v1.Feed/Watch"), None);
        assert_eq!(t.limit("/a.v1.Feed/Tail"), s(60_000));
        assert_eq!(t.limit("/a.v1.Feed/Unknown"), s(2000));
        assert_eq!(
            streaming_methods(&descriptor_set("", "Bare", &[("S", true)])),
            ["/Bare/S"]
        );
        assert!(streaming_methods(b"\xff\xff not a descriptor").is_empty());
        // A set as tonic-prost-build writes it: the health service's `Watch` streams.
        assert_eq!(
            streaming_methods(tonic_health::pb::FILE_DESCRIPTOR_SET),
            ["/grpc.health.v1.Health/Watch"]
        );
    }
}
