//! Real servers on 127.0.0.1, real tonic clients: a hand-written `test.Echo` service (prost
//! messages derived by hand, no protoc) and the gRPC health service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_prost::ProstCodec;
use tower::Service;

use super::*;
use crate::config::{DevServerConf, Mode, ShutdownConf};

#[derive(Clone, PartialEq, prost::Message)]
struct EchoReq {
    #[prost(string, tag = "1")]
    msg: String,
    #[prost(uint64, tag = "2")]
    sleep_ms: u64,
    #[prost(bool, tag = "3")]
    panic: bool,
    #[prost(int32, tag = "4")]
    fail_code: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoResp {
    #[prost(string, tag = "1")]
    msg: String,
    #[prost(string, tag = "2")]
    trace_id: String,
    #[prost(string, tag = "3")]
    server: String,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `test.Echo`, written the way tonic's generated server is.
#[derive(Clone, Default)]
struct Echo {
    server: Arc<str>,
    calls: Arc<AtomicUsize>,
}

impl Echo {
    fn named(server: &str) -> Self {
        Echo {
            server: Arc::from(server),
            calls: Arc::default(),
        }
    }
}

impl NamedService for Echo {
    const NAME: &'static str = "test.Echo";
}

struct EchoMethod(Echo);

impl tonic::server::UnaryService<EchoReq> for EchoMethod {
    type Response = EchoResp;
    type Future = BoxFut<Result<tonic::Response<EchoResp>, Status>>;

    fn call(&mut self, req: tonic::Request<EchoReq>) -> Self::Future {
        let echo = self.0.clone();
        Box::pin(async move {
            echo.calls.fetch_add(1, Ordering::SeqCst);
            let trace_id = TraceContext::current()
                .map(|t| t.trace_id())
                .unwrap_or_default();
            // What logic's `Ctx` would say of the deadline, in place of the echo.
            let (ctx, mut r) = crate::Ctx::split_grpc(req);
            if r.msg == "deadline?" {
                r.msg = match ctx.remaining() {
                    Some(left) => format!("{}ms left", left.as_millis()),
                    None => "no deadline".to_owned(),
                };
            }
            if r.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(r.sleep_ms)).await;
            }
            assert!(!r.panic, "handler bug");
            if r.fail_code != 0 {
                return Err(Status::new(Code::from(r.fail_code), "failing on purpose"));
            }
            tracing::info!("echoing {}", r.msg);
            Ok(tonic::Response::new(EchoResp {
                msg: r.msg,
                trace_id,
                server: echo.server.to_string(),
            }))
        })
    }
}

/// `rpc Stream(EchoReq) returns (stream EchoResp)`: three replies, then `fail_code` if set.
struct StreamMethod(Echo);

type EchoStream = Pin<Box<dyn futures_util::Stream<Item = Result<EchoResp, Status>> + Send>>;

impl tonic::server::ServerStreamingService<EchoReq> for StreamMethod {
    type Response = EchoResp;
    type ResponseStream = EchoStream;
    type Future = BoxFut<Result<tonic::Response<EchoStream>, Status>>;

    fn call(&mut self, req: tonic::Request<EchoReq>) -> Self::Future {
        let server = self.0.server.to_string();
        Box::pin(async move {
            let r = req.into_inner();
            let mut items: Vec<Result<EchoResp, Status>> = (0..3)
                .map(|i| {
                    Ok(EchoResp {
                        msg: format!("{}{i}", r.msg),
                        server: server.clone(),
                        ..EchoResp::default()
                    })
                })
                .collect();
            if r.fail_code != 0 {
                items.push(Err(Status::new(Code::from(r.fail_code), "stream broke")));
            }
            let pause = Duration::from_millis(r.sleep_ms);
            let stream: EchoStream = Box::pin(futures_util::StreamExt::then(
                futures_util::stream::iter(items),
                move |item| async move {
                    tokio::time::sleep(pause).await;
                    item
                },
            ));
            Ok(tonic::Response::new(stream))
        })
    }
}

/// `rpc Spawned(EchoReq) returns (stream EchoResp)` as the generated server writes a streaming
/// method: logic runs in a task of its own, sending into a channel, and logs as it goes.
struct SpawnedMethod;

impl tonic::server::ServerStreamingService<EchoReq> for SpawnedMethod {
    type Response = EchoResp;
    type ResponseStream = EchoStream;
    type Future = BoxFut<Result<tonic::Response<EchoStream>, Status>>;

    fn call(&mut self, req: tonic::Request<EchoReq>) -> Self::Future {
        Box::pin(async move {
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let r = req.into_inner();
            crate::spawn(async move {
                for i in 0..2 {
                    tokio::task::yield_now().await;
                    tracing::info!("streaming {}{i}", r.msg);
                    let item = EchoResp {
                        msg: format!("{}{i}", r.msg),
                        ..EchoResp::default()
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
            });
            // What `tokio_stream::wrappers::ReceiverStream` does.
            let stream: EchoStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
                rx.recv().await.map(|item| (item, rx))
            }));
            Ok(tonic::Response::new(stream))
        })
    }
}

impl Service<http::Request<Body>> for Echo {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let echo = self.clone();
        match req.uri().path() {
            "/test.Echo/Echo" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<EchoResp, EchoReq>::default());
                Ok(grpc.unary(EchoMethod(echo), req).await)
            }),
            "/test.Echo/Stream" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<EchoResp, EchoReq>::default());
                Ok(grpc.server_streaming(StreamMethod(echo), req).await)
            }),
            "/test.Echo/Spawned" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<EchoResp, EchoReq>::default());
                Ok(grpc.server_streaming(SpawnedMethod, req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// What a generated client does.
async fn call(client: &RpcClient, req: tonic::Request<EchoReq>) -> Result<EchoResp, Status> {
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/test.Echo/Echo");
    grpc.unary(req, path, ProstCodec::<EchoReq, EchoResp>::default())
        .await
        .map(tonic::Response::into_inner)
}

async fn echo(client: &RpcClient, req: EchoReq) -> Result<EchoResp, Status> {
    call(client, tonic::Request::new(req)).await
}

fn msg(s: &str) -> EchoReq {
    EchoReq {
        msg: s.into(),
        ..EchoReq::default()
    }
}

fn conf() -> RpcServerConf {
    RpcServerConf {
        name: "echo.rpc".into(),
        listen_on: "127.0.0.1:0".into(),
        mode: Mode::Dev,
        dev_server: DevServerConf {
            enabled: false,
            ..DevServerConf::default()
        },
        shutdown: ShutdownConf {
            wrap_up_time: 0,
            wait_time: 5000,
        },
        ..RpcServerConf::default()
    }
}

async fn serve(conf: RpcServerConf, echo: Echo) -> RunningRpc {
    let mut server = RpcServer::new(conf);
    server.add_service(echo);
    server.listen().await.unwrap()
}

async fn client_for(running: &RunningRpc, edit: impl FnOnce(&mut RpcClientConf)) -> RpcClient {
    let mut c = RpcClientConf::endpoints([running.addr().to_string()]);
    edit(&mut c);
    RpcClient::connect(&c).await.unwrap()
}

async fn health(addr: std::net::SocketAddr, service: &str) -> Result<i32, Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status)
}

/// Calls `path` with an `EchoReq`, as a client that knows a method the server may not.
async fn call_path(client: &RpcClient, path: &'static str) -> Result<EchoResp, Status> {
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(
        tonic::Request::new(msg("x")),
        path,
        ProstCodec::<EchoReq, EchoResp>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn unknown_services_and_methods_answer_unimplemented() {
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |c| c.middlewares.breaker = false).await;
    for path in [
        "/test.Nope/Echo",
        "/test.Echo/Nope",
        "/test.Ech/Echo",
        "/test.Echo.x/Echo",
    ] {
        let err = call_path(&client, path).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{path}: {err:?}");
    }
    // The right path still reaches the service.
    assert_eq!(
        call_path(&client, "/test.Echo/Echo").await.unwrap().msg,
        "x"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn unary_echo_and_health() {
    let running = serve(conf(), Echo::named("a")).await;
    let client = client_for(&running, |_| {}).await;
    let resp = echo(&client, msg("hello")).await.unwrap();
    assert_eq!((resp.msg.as_str(), resp.server.as_str()), ("hello", "a"));
    assert_eq!(resp.trace_id.len(), 32, "a trace is started for every call");
    // The health service is a second real service behind the same stack.
    let serving = ServingStatus::Serving as i32;
    assert_eq!(health(running.addr(), "").await.unwrap(), serving);
    assert_eq!(health(running.addr(), "test.Echo").await.unwrap(), serving);
    assert_eq!(
        health(running.addr(), "nope").await.unwrap_err().code(),
        Code::NotFound
    );
    // tonic's generated client (here the health one) runs over `RpcClient` unchanged, as
    // rustctl's generated `FooClient::new(client)` does.
    let mut generated = HealthClient::new(client.clone());
    let status = generated
        .check(HealthCheckRequest {
            service: "test.Echo".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, serving);
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn deadlines_from_the_client_and_the_server() {
    let running = serve(
        RpcServerConf {
            timeout: 150,
            // A per-method override for another method must not apply here.
            method_timeouts: vec![crate::rpc::MethodTimeoutConf {
                full_method: "/test.Echo/Stream".into(),
                timeout: 10,
            }],
            ..conf()
        },
        Echo::default(),
    )
    .await;
    let slow = |ms| EchoReq {
        sleep_ms: ms,
        ..msg("slow")
    };
    // The client's deadline (100 ms) is smaller than the server's and goes along as
    // `grpc-timeout`.
    let client = client_for(&running, |c| c.timeout = 100).await;
    let t = Instant::now();
    let err = echo(&client, slow(1000)).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(t.elapsed() < Duration::from_millis(900));
    // Without a client deadline the server's `Timeout` (150 ms) answers.
    let client = client_for(&running, |c| c.timeout = 0).await;
    let err = echo(&client, slow(1000)).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("150ms"), "{err:?}");
    // A deadline set on the request itself is honoured too.
    let mut req = tonic::Request::new(slow(1000));
    req.set_timeout(Duration::from_millis(50));
    let err = call(&client, req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    echo(&client, slow(10)).await.unwrap();
    // The handler's `Ctx` knows the deadline: here the server's 150 ms.
    let left = echo(&client, msg("deadline?")).await.unwrap().msg;
    let ms: u64 = left.trim_end_matches("ms left").parse().expect(&left);
    assert!((100..=150).contains(&ms), "{left}");
    running.shutdown();
    running.wait().await.unwrap();
    // `MethodTimeouts` overrides `Timeout` for its method.
    let running = serve(
        RpcServerConf {
            timeout: 5000,
            method_timeouts: vec![crate::rpc::MethodTimeoutConf {
                full_method: "/test.Echo/Echo".into(),
                timeout: 80,
            }],
            ..conf()
        },
        Echo::default(),
    )
    .await;
    let client = client_for(&running, |c| c.timeout = 0).await;
    let err = echo(&client, slow(1000)).await.unwrap_err();
    assert!(err.message().contains("80ms"), "{err:?}");
    running.shutdown();
    running.wait().await.unwrap();
}

/// Calls a method that fails with INTERNAL until a breaker refuses.
async fn until_refused(client: &RpcClient) -> (usize, Status) {
    let failing = EchoReq {
        fail_code: Code::Internal as i32,
        ..msg("x")
    };
    for i in 0..2000 {
        let err = echo(client, failing.clone()).await.unwrap_err();
        if err.code() == Code::Unavailable {
            return (i, err);
        }
        assert_eq!(err.code(), Code::Internal, "{err:?}");
    }
    panic!("the breaker never opened");
}

#[tokio::test]
async fn server_breaker_opens_on_failures() {
    let echo_svc = Echo::default();
    let running = serve(conf(), echo_svc.clone()).await;
    let client = client_for(&running, |c| c.middlewares.breaker = false).await;
    let (sent, err) = until_refused(&client).await;
    assert!(err.message().contains("circuit breaker is open"), "{err:?}");
    assert_eq!(
        echo_svc.calls.load(Ordering::SeqCst),
        sent,
        "the refused call never reached the handler"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn client_breaker_opens_without_calling() {
    let echo_svc = Echo::default();
    let mut c = conf();
    c.middlewares.breaker = false;
    let running = serve(c, echo_svc.clone()).await;
    let client = client_for(&running, |_| {}).await;
    let (sent, _) = until_refused(&client).await;
    let before = echo_svc.calls.load(Ordering::SeqCst);
    assert_eq!(before, sent);
    // While open, most calls are refused locally: the server sees fewer than were made.
    let mut refused = 0;
    for _ in 0..50 {
        let err = echo(
            &client,
            EchoReq {
                fail_code: 13,
                ..msg("x")
            },
        )
        .await
        .unwrap_err();
        if err.code() == Code::Unavailable {
            refused += 1;
        }
    }
    assert!(refused > 0);
    assert_eq!(echo_svc.calls.load(Ordering::SeqCst), before + 50 - refused);
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_server_lives() {
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    let err = echo(
        &client,
        EchoReq {
            panic: true,
            ..msg("boom")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert_eq!(echo(&client, msg("again")).await.unwrap().msg, "again");
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn panics_count_as_failures_for_the_breaker() {
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |c| c.middlewares.breaker = false).await;
    let panicking = EchoReq {
        panic: true,
        ..msg("boom")
    };
    for _ in 0..2000 {
        let err = echo(&client, panicking.clone()).await.unwrap_err();
        if err.code() == Code::Unavailable {
            assert!(err.message().contains("circuit breaker is open"), "{err:?}");
            running.shutdown();
            running.wait().await.unwrap();
            return;
        }
        assert_eq!(err.code(), Code::Internal, "{err:?}");
    }
    panic!("2000 panics and the breaker never opened");
}

#[tokio::test]
async fn trace_context_travels_from_client_to_server() {
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    // A call made while serving a request (a gateway handler) continues that request's trace.
    let ids =
        crate::ids::Ids::from_hex("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true)
            .unwrap();
    let resp = crate::ids::WithIds::new(ids, echo(&client, msg("traced")))
        .await
        .unwrap();
    assert_eq!(resp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    // An explicit `traceparent` in the metadata wins.
    let mut req = tonic::Request::new(msg("explicit"));
    req.metadata_mut().insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    let resp = call(&client, req).await.unwrap();
    assert_eq!(resp.trace_id, "0af7651916cd43dd8448eb211c80319c");
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn p2c_spreads_calls_over_endpoints() {
    let a = serve(conf(), Echo::named("a")).await;
    let b = serve(conf(), Echo::named("b")).await;
    let c = RpcClientConf::endpoints([a.addr().to_string(), format!("http://{}", b.addr())]);
    let client = RpcClient::connect(&c).await.unwrap();
    assert_eq!(client.endpoints().len(), 2);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for i in 0..60 {
        let r = echo(&client, msg(&i.to_string())).await.unwrap();
        *seen.entry(r.server).or_default() += 1;
    }
    assert!(
        seen.len() == 2 && seen.values().all(|n| *n >= 5),
        "{seen:?}"
    );
    for r in [a, b] {
        r.shutdown();
        r.wait().await.unwrap();
    }
}

#[tokio::test]
async fn non_block_decides_whether_a_down_server_fails_startup() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = RpcClientConf::endpoints([format!("127.0.0.1:{port}")]);
    c.timeout = 300;
    let lazy = RpcClient::connect(&c).await.unwrap();
    let err = echo(&lazy, msg("x")).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{err:?}"
    );
    c.non_block = false;
    assert!(
        RpcClient::connect_lazy(&c).is_ok(),
        "lazy whatever NonBlock says"
    );
    let err = RpcClient::connect(&c).await.unwrap_err();
    assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
    // A target through the DNS resolver.
    let running = serve(conf(), Echo::named("dns")).await;
    let target = RpcClientConf {
        target: Some(format!("dns:///localhost:{}", running.addr().port())),
        non_block: false,
        ..RpcClientConf::default()
    };
    let client = RpcClient::connect(&target).await.unwrap();
    // Where `localhost` also names ::1 (not listened on), one call may fail before that
    // endpoint sits out.
    let mut answered = None;
    for _ in 0..3 {
        if let Ok(r) = echo(&client, msg("d")).await {
            answered = Some(r.server);
            break;
        }
    }
    assert_eq!(answered.as_deref(), Some("dns"));
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn metrics_on_the_dev_server_pass_promtool() {
    let mut c = conf();
    c.dev_server = DevServerConf {
        enabled: true,
        host: "127.0.0.1".into(),
        port: 0,
        ..DevServerConf::default()
    };
    let running = serve(c, Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    echo(&client, msg("m")).await.unwrap();
    let _ = echo(
        &client,
        EchoReq {
            fail_code: 5,
            ..msg("m")
        },
    )
    .await;
    let url = format!("http://{}/metrics", running.dev_addr().unwrap());
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    for want in [
        "rpc_server_requests_duration_ms_bucket{le=\"5.0\",method=\"/test.Echo/Echo\"}",
        "rpc_server_requests_code_total{method=\"/test.Echo/Echo\",code=\"0\"}",
        "rpc_server_requests_code_total{method=\"/test.Echo/Echo\",code=\"5\"}",
        "rpc_client_requests_duration_ms_count{method=\"/test.Echo/Echo\"}",
        "# TYPE rpc_client_requests_code_total counter",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(want) || l == want),
            "{want} missing:\n{text}"
        );
    }
    promtool_check(&text);
    running.shutdown();
    running.wait().await.unwrap();
}

fn promtool_check(metrics: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // go-zero's names end in `_ms`, which trips the "abbreviated units" lint (kept for
    // dashboard compatibility); any other finding fails.
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.contains("_requests_duration_ms ") && l.contains("abbreviated units")))
        .collect();
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)) && findings.is_empty(),
        "promtool: {text}"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() {
    let mut c = conf();
    c.shutdown.wrap_up_time = 300;
    let running = serve(c, Echo::default()).await;
    let addr = running.addr();
    let client = client_for(&running, |_| {}).await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            echo(
                &client,
                EchoReq {
                    sleep_ms: 600,
                    ..msg("in flight")
                },
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.shutdown();
    // During the wrap-up the health service says NOT_SERVING; the listener still accepts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        health(addr, "").await.unwrap(),
        ServingStatus::NotServing as i32
    );
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.msg, "in flight");
    running.wait().await.unwrap();
    assert!(
        health(addr, "").await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn reflection_lists_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut server = RpcServer::new(conf());
    server
        .add_service(Echo::default())
        .with_reflection(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let running = server.listen().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream_once(req))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("{resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::iter([item])
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_calls_finish() {
    // A SIGTERM listener of our own first: from then on the signal no longer kills the
    // process, and `start` (which listens for it too) gets it.
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = conf();
    c.listen_on = format!("127.0.0.1:{port}");
    c.shutdown.wrap_up_time = 100;
    let mut server = RpcServer::new(c);
    server.add_service(Echo::named("term"));
    let serving = tokio::spawn(server.start());
    let client = RpcClient::connect(&RpcClientConf {
        non_block: false,
        ..RpcClientConf::endpoints([format!("127.0.0.1:{port}")])
    })
    .await
    .unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            echo(
                &client,
                EchoReq {
                    sleep_ms: 500,
                    ..msg("draining")
                },
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    term.recv().await;
    assert_eq!(slow.await.unwrap().unwrap().msg, "draining");
    serving.await.unwrap().unwrap();
    let err = echo(&client, msg("after")).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_answers_resource_exhausted_under_forced_overload() {
    let cpu = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut server = RpcServer::with_cpu_source(
        RpcServerConf {
            mode: Mode::Pro,
            cpu_threshold: 800,
            ..conf()
        },
        crate::load::CpuSource::Fixed(cpu.clone()),
    );
    server.add_service(Echo::default());
    let running = server.listen().await.unwrap();
    let client = client_for(&running, |c| c.middlewares.breaker = false).await;
    cpu.store(1000, Ordering::Relaxed);
    let mut shed = 0;
    for _ in 0..3 {
        let batch: Vec<_> = (0..40)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let req = EchoReq {
                        sleep_ms: 50,
                        ..msg("load")
                    };
                    echo(&client, req).await
                })
            })
            .collect();
        for t in batch {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(e) if e.code() == Code::ResourceExhausted => shed += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    }
    assert!(shed > 0, "nothing was shed");
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn calls_outliving_wait_time_are_dropped() {
    let mut c = conf();
    c.shutdown.wait_time = 200;
    let running = serve(c, Echo::default()).await;
    let client = client_for(&running, |c| c.timeout = 0).await;
    let stuck = tokio::spawn({
        let client = client.clone();
        async move {
            let req = EchoReq {
                sleep_ms: 10_000,
                ..msg("stuck")
            };
            echo(&client, req).await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    running.shutdown();
    running.wait().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let err = tokio::time::timeout(Duration::from_secs(2), stuck)
        .await
        .expect("the stuck call ends with the server")
        .unwrap()
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
}

/// Reads a whole `test.Echo/Stream` reply: the messages and how it ended.
async fn stream(client: &RpcClient, req: EchoReq) -> (Vec<String>, Code) {
    stream_from(client, "/test.Echo/Stream", req).await
}

/// Reads a whole server-streaming reply of `method`: the messages and how it ended.
async fn stream_from(
    client: &RpcClient,
    method: &'static str,
    req: EchoReq,
) -> (Vec<String>, Code) {
    stream_request(client, method, tonic::Request::new(req)).await
}

/// [`stream_from`] with a request made by the caller (`CallOptions`).
async fn stream_request(
    client: &RpcClient,
    method: &'static str,
    req: tonic::Request<EchoReq>,
) -> (Vec<String>, Code) {
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(method);
    let codec = ProstCodec::<EchoReq, EchoResp>::default();
    let mut s = match grpc.server_streaming(req, path, codec).await {
        Ok(r) => r.into_inner(),
        Err(e) => return (Vec::new(), e.code()),
    };
    let mut got = Vec::new();
    loop {
        match s.message().await {
            Ok(Some(m)) => got.push(m.msg),
            Ok(None) => return (got, Code::Ok),
            Err(e) => return (got, e.code()),
        }
    }
}

#[tokio::test]
async fn streams_are_recorded_when_they_end() {
    let mut c = conf();
    c.dev_server = DevServerConf {
        enabled: true,
        host: "127.0.0.1".into(),
        port: 0,
        ..DevServerConf::default()
    };
    let running = serve(c, Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    let (got, code) = stream(&client, msg("s")).await;
    assert_eq!(
        (got, code),
        (vec!["s0".into(), "s1".into(), "s2".into()], Code::Ok)
    );
    let (got, code) = stream(
        &client,
        EchoReq {
            fail_code: Code::DataLoss as i32,
            ..msg("f")
        },
    )
    .await;
    assert_eq!((got.len(), code), (3, Code::DataLoss));
    let url = format!("http://{}/metrics", running.dev_addr().unwrap());
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    // The code is the one in the stream's trailers, not the OK the response started with.
    for side in ["server", "client"] {
        for code in ["0", "15"] {
            let want = format!(
                "rpc_{side}_requests_code_total{{method=\"/test.Echo/Stream\",code=\"{code}\"}} 1"
            );
            assert!(text.lines().any(|l| l == want), "{want} missing:\n{text}");
        }
    }
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn deadlines_bound_whole_streams() {
    let running = serve(
        RpcServerConf {
            timeout: 250,
            ..conf()
        },
        Echo::default(),
    )
    .await;
    let paced = EchoReq {
        sleep_ms: 100,
        ..msg("p")
    };
    // The client's deadline ends the stream it is reading.
    let client = client_for(&running, |c| c.timeout = 150).await;
    let (got, code) = stream(&client, paced.clone()).await;
    assert_eq!((got.len(), code), (1, Code::DeadlineExceeded));
    // A server that does not know the method streams (no descriptors) bounds it by `Timeout`.
    let client = client_for(&running, |c| c.timeout = 0).await;
    let (got, code) = stream(&client, paced.clone()).await;
    assert_eq!((got.len(), code), (2, Code::DeadlineExceeded));
    running.shutdown();
    running.wait().await.unwrap();
}

/// A server that knows `/test.Echo/Stream` streams, from descriptors as generated code
/// registers them. Uncounted: `streams_are_recorded_when_they_end` counts that method's calls.
async fn serve_streaming(mut c: RpcServerConf) -> RunningRpc {
    c.middlewares.prometheus = false;
    let fds = super::timeout::tests::descriptor_set("test", "Echo", &[("Stream", true)]);
    let mut server = RpcServer::new(c);
    server.add_service(Echo::default());
    server.with_reflection(Vec::leak(fds));
    server.listen().await.unwrap()
}

#[tokio::test]
async fn timeouts_bound_unary_calls_only_as_go_zeros_do() {
    let running = serve_streaming(RpcServerConf {
        timeout: 250,
        ..conf()
    })
    .await;
    let paced = EchoReq {
        sleep_ms: 100,
        ..msg("p")
    };
    let uncounted = |timeout| {
        move |c: &mut RpcClientConf| {
            c.timeout = timeout;
            c.middlewares.prometheus = false;
        }
    };
    // The server leaves a stream to the client's deadline: 300 ms of messages outlive its
    // `Timeout`.
    let client = client_for(&running, uncounted(0)).await;
    let (got, code) = stream(&client, paced.clone()).await;
    assert_eq!((got.len(), code), (3, Code::Ok));
    // A client that does not know the call streams bounds it by its `Timeout`.
    let client = client_for(&running, uncounted(150)).await;
    let (got, code) = stream(&client, paced.clone()).await;
    assert_eq!((got.len(), code), (1, Code::DeadlineExceeded));
    // Told so (as generated clients tell it), only the deadline set on the call bounds it.
    let streaming = |options: crate::CallOptions| {
        let req = options.server_streaming_request(paced.clone()).unwrap();
        stream_request(&client, "/test.Echo/Stream", req)
    };
    let (got, code) = streaming(crate::CallOptions::new()).await;
    assert_eq!((got.len(), code), (3, Code::Ok));
    let short = crate::CallOptions::new().timeout(Duration::from_millis(150));
    let (got, code) = streaming(short).await;
    assert_eq!((got.len(), code), (1, Code::DeadlineExceeded));
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn health_watch_outlives_the_server_timeout() {
    let running = serve(
        RpcServerConf {
            timeout: 200,
            ..conf()
        },
        Echo::default(),
    )
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let serving = ServingStatus::Serving as i32;
    assert_eq!(watch.message().await.unwrap().unwrap().status, serving);
    // Past `Timeout` the stream is still open: its next message is shutdown's NOT_SERVING.
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.shutdown();
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_method_timeout_bounds_a_stream() {
    let running = serve_streaming(RpcServerConf {
        timeout: 0,
        method_timeouts: vec![crate::rpc::MethodTimeoutConf {
            full_method: "/test.Echo/Stream".into(),
            timeout: 250,
        }],
        ..conf()
    })
    .await;
    let client = client_for(&running, |c| c.timeout = 0).await;
    let paced = EchoReq {
        sleep_ms: 100,
        ..msg("p")
    };
    let (got, code) = stream(&client, paced).await;
    assert_eq!((got.len(), code), (2, Code::DeadlineExceeded));
    running.shutdown();
    running.wait().await.unwrap();
}

/// An event's message and the trace id current when it was written.
type Line = (String, Option<String>);

/// Records every event with the request ids current when it was written.
#[derive(Clone, Default)]
struct Capture(Arc<std::sync::Mutex<Vec<Line>>>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let trace = crate::ids::current().map(|ids| ids.trace_id());
        self.0.lock().unwrap().push((m.0, trace));
    }
}

/// On a current-thread runtime every task (server, connections, client) runs on this thread,
/// so a thread-local subscriber sees all their lines.
#[tokio::test]
async fn log_lines_of_a_call_carry_its_trace_id() {
    use tracing_subscriber::layer::SubscriberExt;
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ids = crate::ids::Ids::from_hex(trace, "00f067aa0ba902b7", true).unwrap();
    crate::ids::WithIds::new(ids, echo(&client, msg("logged")))
        .await
        .unwrap();
    let lines = capture.0.lock().unwrap().clone();
    // The access line goes straight to the runtime's own log output, not through this
    // thread's subscriber: tests/rpc_access_log.rs reads it there.
    let line = lines.iter().find(|(m, _)| m.starts_with("echoing logged"));
    assert_eq!(line.and_then(|l| l.1.as_deref()), Some(trace), "{lines:?}");
    running.shutdown();
    running.wait().await.unwrap();
}

/// A streaming method's logic runs in a task of its own: its lines carry the call's trace.
#[tokio::test]
async fn log_lines_of_a_streaming_task_carry_the_call_trace_id() {
    use tracing_subscriber::layer::SubscriberExt;
    let running = serve(conf(), Echo::default()).await;
    let client = client_for(&running, |_| {}).await;
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ids = crate::ids::Ids::from_hex(trace, "00f067aa0ba902b7", true).unwrap();
    let (got, code) =
        crate::ids::WithIds::new(ids, stream_from(&client, "/test.Echo/Spawned", msg("s"))).await;
    assert_eq!((got, code), (vec!["s0".into(), "s1".into()], Code::Ok));
    let lines: Vec<Line> = capture.0.lock().unwrap().clone();
    let lines: Vec<&Line> = lines
        .iter()
        .filter(|(m, _)| m.starts_with("streaming"))
        .collect();
    for want in ["streaming s0", "streaming s1"] {
        let line = lines.iter().find(|(m, _)| m == want);
        assert_eq!(
            line.and_then(|l| l.1.as_deref()),
            Some(trace),
            "{want}: {lines:?}"
        );
    }
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_dead_endpoint_sits_out_while_others_serve() {
    let alive = serve(conf(), Echo::named("alive")).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = RpcClient::connect(&RpcClientConf::endpoints([
        alive.addr().to_string(),
        dead.to_string(),
    ]))
    .await
    .unwrap();
    let mut failed = 0;
    for i in 0..30 {
        match echo(&client, msg(&i.to_string())).await {
            Ok(r) => assert_eq!(r.server, "alive"),
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                failed += 1;
            }
        }
    }
    assert!(failed <= 2, "{failed} calls went to the dead endpoint");
    alive.shutdown();
    alive.wait().await.unwrap();
}
