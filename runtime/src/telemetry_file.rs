//! `Telemetry.Batcher: file`: finished spans as JSON lines, like go-zero's file exporter.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::Status;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[derive(Debug)]
pub(crate) struct FileExporter(Mutex<File>);

impl FileExporter {
    pub(crate) fn create(path: &str) -> std::io::Result<Self> {
        let path = if path.is_empty() { "trace.log" } else { path };
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileExporter(Mutex::new(f)))
    }
}

impl SpanExporter for FileExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::new();
        for s in batch {
            let line = serde_json::json!({
                "name": s.name,
                "traceId": s.span_context.trace_id().to_string(),
                "spanId": s.span_context.span_id().to_string(),
                "parentSpanId": s.parent_span_id.to_string(),
                "kind": format!("{:?}", s.span_kind),
                "startTime": humantime(s.start_time),
                "endTime": humantime(s.end_time),
                "status": match &s.status { Status::Error { description } => format!("error: {description}"), Status::Ok => "ok".into(), Status::Unset => "unset".into() },
                "attributes": s.attributes.iter().map(|kv| (kv.key.to_string(), serde_json::Value::String(kv.value.to_string()))).collect::<serde_json::Map<_, _>>(),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(out.as_bytes())
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn shutdown_with_timeout(&self, _t: Duration) -> OTelSdkResult {
        self.force_flush()
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.flush()
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn set_resource(&mut self, _r: &Resource) {}
}

fn humantime(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
