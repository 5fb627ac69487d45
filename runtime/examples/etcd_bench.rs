//! How fast discovery follows replicas (docs/bench.md): an etcd of its own on loopback, a client
//! watching `bench.rpc`, and replicas started and stopped one after another; for each, the
//! time from `listen()` returning until the client's endpoints include it, and from a graceful
//! stop until they no longer do.
//!
//! `cargo run --release -p rustctl-runtime --example etcd_bench -- [replicas]` (default 20;
//! needs `etcd` on PATH: Debian's etcd-server).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustctl_runtime::config::{DevServerConf, Mode, ShutdownConf};
use rustctl_runtime::rpc::{EtcdConf, RpcClient, RpcClientConf, RpcServer, RpcServerConf};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn until(mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "not within 20 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    start.elapsed()
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} median {:.1} ms  max {:.1} ms  (n={})",
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut etcd = Command::new("etcd")
        .args(["--name", "b", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("b={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd is needed: apt-get install etcd-server");
    let section = EtcdConf {
        hosts: vec![format!("127.0.0.1:{client_port}")],
        key: "bench.rpc".into(),
        ..EtcdConf::default()
    };
    let client = RpcClient::connect_lazy(&RpcClientConf {
        etcd: section.clone(),
        ..RpcClientConf::default()
    })
    .unwrap();
    let replica = || RpcServerConf {
        name: "bench.rpc".into(),
        listen_on: "127.0.0.1:0".into(),
        mode: Mode::Dev,
        etcd: section.clone(),
        dev_server: DevServerConf {
            enabled: false,
            ..DevServerConf::default()
        },
        shutdown: ShutdownConf {
            wrap_up_time: 0,
            wait_time: 1000,
        },
        ..RpcServerConf::default()
    };
    // One replica stays throughout: a client never drops its last endpoint (docs/runtime.md).
    let anchor = RpcServer::new(replica()).listen().await.unwrap();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..n + 1 {
        let running = RpcServer::new(replica()).listen().await.unwrap();
        let addr = format!("http://{}", running.addr());
        let seen = until(|| client.endpoints().contains(&addr)).await;
        let stop = Instant::now();
        running.shutdown();
        until(|| !client.endpoints().contains(&addr)).await;
        let gone = stop.elapsed();
        let _ = running.wait().await;
        // The first round includes etcd's own start.
        if i > 0 {
            up.push(seen);
            down.push(gone);
        }
    }
    summary("registration visible to a watching client", up);
    summary("graceful stop out of the client's endpoints", down);
    anchor.shutdown();
    let _ = etcd.kill();
    let _ = etcd.wait();
}
