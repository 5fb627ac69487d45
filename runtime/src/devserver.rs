//! The dev server (`DevServer`, default port 6060): `/healthz` (503 once shutdown begins),
//! `/metrics` (Prometheus text) and `/debug/pprof/profile?seconds=N` (a gzipped pprof protobuf
//! that `go tool pprof` and flamegraph viewers read).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde::Deserialize;

use crate::config::DevServerConf;
use crate::error::Error;
use crate::metrics::Metrics;

/// What the dev server reports on.
#[derive(Clone)]
pub(crate) struct DevState {
    pub(crate) ready: Arc<AtomicBool>,
    pub(crate) metrics: Arc<Metrics>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn health(State(s): State<DevState>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "OK").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

/// OpenMetrics when the scraper asks for it (Prometheus does), the classic text otherwise.
pub(crate) async fn metrics(State(s): State<DevState>, headers: http::HeaderMap) -> Response {
    let wants_om = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if wants_om {
        (
            [(header::CONTENT_TYPE, OPENMETRICS)],
            s.metrics.render_openmetrics(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
            s.metrics.render(),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
struct ProfileQuery {
    seconds: Option<u64>,
}

async fn profile(Query(q): Query<ProfileQuery>) -> Result<Response, Error> {
    let secs = q.seconds.unwrap_or(30).clamp(1, 300);
    let gz = tokio::task::spawn_blocking(move || cpu_profile(Duration::from_secs(secs)))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"profile\"",
            ),
        ],
        gz,
    )
        .into_response())
}

/// Samples the process at 100 Hz for `d` and returns the gzipped pprof protobuf.
fn cpu_profile(d: Duration) -> Result<Vec<u8>, Error> {
    use pprof::protos::Message;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(100)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| Error::Conflict(format!("profiler busy: {e}")))?;
    std::thread::sleep(d);
    let report = guard
        .report()
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let profile = report.pprof().map_err(|e| Error::Internal(e.to_string()))?;
    let raw = profile.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)
        .map_err(|e| Error::Internal(e.to_string()))?;
    gz.finish().map_err(|e| Error::Internal(e.to_string()))
}

/// The dev server's routes.
pub(crate) fn router(conf: &DevServerConf, state: DevState) -> Router {
    let mut r = Router::new().route(&conf.health_path, get(health));
    if conf.enable_metrics {
        r = r.route(&conf.metrics_path, get(metrics));
    }
    if conf.enable_pprof {
        r = r.route("/debug/pprof/profile", get(profile));
    }
    r.with_state(state)
}
