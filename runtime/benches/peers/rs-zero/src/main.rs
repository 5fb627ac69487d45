//! rs-zero (crates.io `rs-zero` 0.2.x) serving the route of ../../peers.sh: `GET /from/{name}` ->
//! `{"message":"hello <name>"}`, on 127.0.0.1:$PORT, one tokio worker (`TOKIO_WORKER_THREADS=1`).
//!
//! Set up the way rs-zero's generated services start (`rzcli new-rest` / `api gen`): the
//! framework's `RestServiceConfig` at its defaults (host 127.0.0.1, its default; the port from
//! `PORT`), its logging config, a `MetricsRegistry` with `/metrics` merged in, and `RestServer`,
//! which wraps the router in rs-zero's default layer stack. With those defaults (`[middlewares]
//! metrics = true, resilience = true`) the layers on are, outermost first:
//!   sensitive-header marking (Authorization), tower-http `TraceLayer`, request id (set + propagate
//!   `x-request-id`), uniform error mapping, metrics (an `info` span per request, Prometheus
//!   counters/histogram/in-flight), route circuit breaker (consecutive-failure + SRE adaptive),
//!   adaptive load shedder (max 1024 in flight), concurrency limit (1024), timeout (5 s),
//!   request body limit (1 MiB).
//! Off by default: JWT auth (no secret) and the Redis rate limiter. (The library's bare
//! `RestConfig::default()`, which rs-zero's REST manual shows, is lighter: no metrics and no
//! breaker/shedder/concurrency layers.)
//! Logging: its default `[log]` section (console, plain text, level `info`), which writes to
//! stdout; the metrics span closes at `info`, so each request logs one line there.
//! The handler answers with plain `axum::Json`, not rs-zero's `ApiResponse` envelope, so the
//! body is the same as the other servers'.
use axum::{Json, Router, extract::Path, routing::get};
use rs_zero::core::{RestServiceConfig, emit_config_warnings, init_tracing, shutdown_signal};
use rs_zero::observability::{MetricsRegistry, metrics_router};
use rs_zero::rest::RestServer;
use serde::Serialize;

#[derive(Serialize)]
struct Response {
    message: String,
}

async fn from(Path(name): Path<String>) -> Json<Response> {
    Json(Response {
        message: format!("hello {name}"),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut app = RestServiceConfig::default();
    app.server.port = std::env::var("PORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18083);
    app.server.host = "127.0.0.1".to_string();
    let _ = init_tracing(app.log_config());
    emit_config_warnings(&app.validate_features());

    let metrics = MetricsRegistry::new();
    let router = Router::new()
        .route("/from/{name}", get(from))
        .merge(metrics_router(metrics.clone()));
    let mut config = app.rest_config();
    config.metrics_registry = Some(metrics);
    RestServer::new(config, router)
        .serve_with_shutdown(app.addr()?, shutdown_signal())
        .await?;
    Ok(())
}
