//! The access line of a gRPC call in the service's real log output: written once per call by
//! the log writer thread (not through tracing's dispatch), carrying the caller's trace id and
//! the call's duration.

use rustctl_runtime::config::{DevServerConf, LogConf, LogMode, Mode, ShutdownConf};
use rustctl_runtime::rpc::{RpcServer, RpcServerConf};
use serde_json::Value;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn an_access_line_per_call_carries_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let conf = RpcServerConf {
        name: "rpc-log-test".into(),
        listen_on: "127.0.0.1:0".into(),
        mode: Mode::Dev,
        health: true,
        log: LogConf {
            mode: LogMode::File,
            path: dir.path().to_str().unwrap().to_owned(),
            ..LogConf::default()
        },
        dev_server: DevServerConf {
            enabled: false,
            ..DevServerConf::default()
        },
        shutdown: ShutdownConf {
            wrap_up_time: 0,
            wait_time: 5000,
        },
        ..RpcServerConf::default()
    };
    let running = RpcServer::new(conf).listen().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut req = tonic::Request::new(HealthCheckRequest { service: "".into() });
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
    );
    HealthClient::new(channel).check(req).await.unwrap();
    running.shutdown();
    running.wait().await.unwrap();
    rustctl_runtime::log::flush();

    let mut access = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        for l in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            if v["content"].as_str().is_some_and(|c| {
                c.starts_with("[RPC] Ok - /grpc.health.v1.Health/Check - 127.0.0.1:")
            }) {
                access.push(v);
            }
        }
    }
    assert_eq!(access.len(), 1, "one access line per call: {access:?}");
    let line = &access[0];
    assert_eq!(line["trace"], trace, "{line}");
    assert_eq!(line["level"], "info", "{line}");
    assert!(line["duration"].as_str().unwrap().ends_with("ms"), "{line}");
    assert!(
        line["caller"]
            .as_str()
            .unwrap()
            .starts_with("rpc/accesslog.rs:"),
        "{line}"
    );
}
