//! rust-zero (crates.io `rust-zero-rest` 0.1.0-alpha.1, the REST crate of kevwan/rust-zero) serving
//! the route of ../../peers.sh: `GET /from/{name}` -> `{"message":"hello <name>"}`, on
//! 127.0.0.1:$PORT.
//!
//! rust-zero's REST server is Actix Web, not tokio's multi-threaded runtime: `RestServer` runs
//! `RestServerConfig::workers` Actix workers, each a thread with its own single-threaded runtime,
//! and its default is one worker (so `TOKIO_WORKER_THREADS` does not apply and is not needed).
//! `RestServerConfig::default()` is used as it is, but for the address. Its standard stack, all on
//! by default, outermost first (Actix runs the last `wrap` first): route policies (none
//! configured), content encryption (installed disabled), request body limit (4 MiB, gzip bodies
//! decompressed), adaptive load shedding (CPU 90 %), concurrency limit (1024, 256 reserved for
//! priority routes), timeout (10 s), Prometheus metrics, W3C trace context, request id, browser
//! security headers, panic recovery, request logging (one `info` event per request).
//! crates.io has only this alpha.1 release; the repository's main branch has since added a server
//! circuit breaker (on by default) and optional rate limit and CORS layers to the stack.
//! Logging: the framework logs through `tracing` and installs no subscriber itself; this installs
//! `tracing_subscriber::fmt` at its defaults (level `info`, stdout), as rust-zero's demo does.
use actix_web::web;
use rest::{RestServer, RestServerConfig};
use serde::Serialize;

#[derive(Serialize)]
struct Response {
    message: String,
}

async fn from(name: web::Path<String>) -> web::Json<Response> {
    web::Json(Response {
        message: format!("hello {}", name.into_inner()),
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18084);
    let config = RestServerConfig {
        address: ([127, 0, 0, 1], port).into(),
        ..RestServerConfig::default()
    };
    let server = RestServer::new(config).map_err(std::io::Error::other)?;
    server
        .run(|routes| {
            routes.route("/from/{name}", web::get().to(from));
        })?
        .await
}
