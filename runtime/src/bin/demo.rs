//! A tiny service written the way generated code uses the runtime; the shutdown test runs it.
//!
//! `rustctl-runtime-demo -f etc/demo.yaml`

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use rustctl_runtime::rules::Range;
use rustctl_runtime::{Bind, BindError, Binder, Bound, Error, FieldSpec, RouteGroup, Server};
use serde::Serialize;

#[derive(Debug, Default)]
struct SlowReq {
    ms: u64,
}

impl Bind for SlowReq {
    fn bind(b: &mut Binder) -> Result<Self, BindError> {
        Ok(SlowReq {
            ms: b.form(
                &FieldSpec::new("ms")
                    .default("0")
                    .range(Range::unbounded().ge(0.0).le(10000.0)),
            )?,
        })
    }
}

#[derive(Serialize)]
struct SlowResp {
    slept_ms: u64,
}

async fn slow(Bound(req): Bound<SlowReq>) -> Result<Json<SlowResp>, Error> {
    tokio::time::sleep(Duration::from_millis(req.ms)).await;
    Ok(Json(SlowResp { slept_ms: req.ms }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.iter().position(|a| a == "-f") {
        Some(i) if i + 1 < args.len() => args[i + 1].clone(),
        _ => "etc/demo.yaml".to_owned(),
    };
    let conf = match rustctl_runtime::config::load_service::<Empty>(&path) {
        Ok(c) => c.rest,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut server = Server::new(conf);
    server.add_routes(RouteGroup::new().route("/slow", get(slow)));
    match server.start().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The demo has no keys of its own.
#[derive(Debug, Default, serde::Deserialize)]
struct Empty {}

impl rustctl_runtime::config::Validate for Empty {}
