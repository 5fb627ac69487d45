//! OpenTelemetry tracing: a parent-based ratio sampler and a batch exporter chosen by
//! `Telemetry.Batcher`. The batch processor runs on its own thread, so export never blocks a
//! request. Without an `Endpoint` spans still get ids (for logs and `traceparent`) but are not
//! exported.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};

use crate::config::{Batcher, TelemetryConf};

/// Whether spans are exported anywhere.
/// The OpenTelemetry context a request's W3C `traceparent` header names (the parent of the
/// request's span when spans are exported).
pub(crate) fn parent_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    struct Headers<'a>(&'a http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Headers(headers))
}

pub(crate) fn exports(conf: &TelemetryConf) -> bool {
    !conf.endpoint.trim().is_empty() || conf.batcher == Batcher::File
}

/// Builds the provider for `conf`; `service` names it when `Telemetry.Name` is empty.
/// Also returns what to log about it once logging is up (it is built before).
pub(crate) fn provider(conf: &TelemetryConf, service: &str) -> (SdkTracerProvider, Vec<Note>) {
    let mut notes = Vec::new();
    let name = if conf.name.is_empty() {
        service.to_owned()
    } else {
        conf.name.clone()
    };
    let mut b = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            conf.sampler,
        ))))
        .with_resource(Resource::builder().with_service_name(name).build());
    let endpoint = conf.endpoint.trim();
    if exports(conf) {
        match exporter(conf, endpoint) {
            Ok(exp) => b = b.with_batch_exporter(exp),
            Err(e) => notes.push(Note::Error(format!("telemetry exporter not started: {e}"))),
        }
        match conf.batcher {
            Batcher::Jaeger => notes.push(Note::Info(format!(
                "Telemetry.Batcher jaeger: sending OTLP/gRPC to {endpoint} (Jaeger accepts OTLP)"
            ))),
            Batcher::Zipkin => notes.push(Note::Warn(format!(
                "Telemetry.Batcher zipkin: Zipkin's own protocol is not supported; sending \
                 OTLP/gRPC to {endpoint} (an OpenTelemetry Collector can forward it to Zipkin)"
            ))),
            _ => {}
        }
    }
    (b.build(), notes)
}

/// Something to log about the telemetry setup.
pub(crate) enum Note {
    /// Informational.
    Info(String),
    /// A setting that does not do all it says.
    Warn(String),
    /// The exporter could not be built.
    Error(String),
}

fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

/// The exporter is an enum so one `with_batch_exporter` call takes any of them.
enum Exporter {
    Otlp(Box<opentelemetry_otlp::SpanExporter>),
    File(crate::telemetry_file::FileExporter),
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exporter")
    }
}

impl opentelemetry_sdk::trace::SpanExporter for Exporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Exporter::Otlp(e) => e.export(batch).await,
            Exporter::File(e) => e.export(batch).await,
        }
    }
    fn shutdown_with_timeout(&self, t: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Exporter::Otlp(e) => e.shutdown_with_timeout(t),
            Exporter::File(e) => e.shutdown_with_timeout(t),
        }
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Exporter::Otlp(e) => e.force_flush(),
            Exporter::File(e) => e.force_flush(),
        }
    }
    fn set_resource(&mut self, r: &Resource) {
        match self {
            Exporter::Otlp(e) => e.set_resource(r),
            Exporter::File(e) => e.set_resource(r),
        }
    }
}

fn exporter(conf: &TelemetryConf, endpoint: &str) -> Result<Exporter, String> {
    let grpc = |ep: &str| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(with_scheme(ep))
            .with_timeout(Duration::from_secs(10))
            .build()
            .map(|e| Exporter::Otlp(Box::new(e)))
            .map_err(|e| e.to_string())
    };
    match conf.batcher {
        Batcher::Otlpgrpc => grpc(endpoint),
        Batcher::Jaeger | Batcher::Zipkin => grpc(endpoint),
        Batcher::Otlphttp => {
            let mut url = with_scheme(endpoint);
            if url.trim_end_matches('/').matches('/').count() <= 2 {
                url = format!("{}/v1/traces", url.trim_end_matches('/'));
            }
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .with_timeout(Duration::from_secs(10))
                .with_headers(Default::default())
                .build()
                .map(|e| Exporter::Otlp(Box::new(e)))
                .map_err(|e| e.to_string())
        }
        Batcher::File => crate::telemetry_file::FileExporter::create(&conf.output_path)
            .map(Exporter::File)
            .map_err(|e| e.to_string()),
    }
}

/// The tracer the tracing layer uses.
pub(crate) fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer("rustctl-runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes(batcher: Batcher) -> Vec<Note> {
        let conf = TelemetryConf {
            endpoint: "127.0.0.1:4317".into(),
            batcher,
            ..TelemetryConf::default()
        };
        let (provider, notes) = provider(&conf, "svc");
        let _ = provider.shutdown();
        notes
    }

    #[tokio::test]
    async fn jaeger_and_zipkin_are_sent_as_otlp_and_zipkin_warns() {
        let [Note::Info(jaeger)] = &notes(Batcher::Jaeger)[..] else {
            panic!("jaeger: one info note");
        };
        assert!(jaeger.contains("OTLP/gRPC to 127.0.0.1:4317"), "{jaeger}");
        let [Note::Warn(zipkin)] = &notes(Batcher::Zipkin)[..] else {
            panic!("zipkin: one warning");
        };
        assert!(zipkin.contains("not supported"), "{zipkin}");
        assert!(zipkin.contains("OTLP/gRPC to 127.0.0.1:4317"), "{zipkin}");
        assert!(notes(Batcher::Otlpgrpc).is_empty());
    }
}
