//! `Limit` per client (`KeyBy`) on a real server: each client address, header value or JWT
//! claim has its own quota; a config that cannot be used stops the server at start.

mod common;

use std::net::IpAddr;

use axum::routing::get;
use common::conf;
use rustctl_runtime::{RouteGroup, Server};

async fn statuses(client: &reqwest::Client, url: &str, n: usize, header: Option<&str>) -> Vec<u16> {
    let mut v = Vec::new();
    for _ in 0..n {
        let mut req = client.get(url);
        if let Some(h) = header {
            req = req.header("x-api-key", h);
        }
        v.push(req.send().await.unwrap().status().as_u16());
    }
    v
}

fn from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_client_address_has_its_own_quota() {
    let mut server = Server::new(conf("Limit: {Period: 60, Quota: 2, KeyBy: ip}\n"));
    server.add_routes(RouteGroup::new().route("/hello", get(|| async { "hi" })));
    let running = server.listen().await.unwrap();
    let url = format!("http://{}/hello", running.addr());
    // Loopback answers from any 127.x address: two clients on one machine.
    assert_eq!(
        statuses(&from("127.0.0.1"), &url, 3, None).await,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(&from("127.0.0.2"), &url, 3, None).await,
        [200, 200, 429]
    );
    running.shutdown();
}

#[tokio::test]
async fn each_header_value_has_its_own_quota() {
    let mut server = Server::new(conf(
        "Limit:\n  Routes: [{Path: /keyed, Period: 60, Quota: 1, KeyBy: 'header:X-Api-Key'}]\n",
    ));
    server.add_routes(
        RouteGroup::new()
            .route("/keyed", get(|| async { "hi" }))
            .route("/free", get(|| async { "hi" })),
    );
    let running = server.listen().await.unwrap();
    let base = format!("http://{}", running.addr());
    let client = from("127.0.0.1");
    let keyed = format!("{base}/keyed");
    assert_eq!(statuses(&client, &keyed, 2, Some("a")).await, [200, 429]);
    assert_eq!(statuses(&client, &keyed, 2, Some("b")).await, [200, 429]);
    // Only the route listed is limited.
    assert_eq!(
        statuses(&client, &format!("{base}/free"), 3, Some("a")).await,
        [200; 3]
    );
    running.shutdown();
}

#[tokio::test]
async fn unusable_limit_sections_are_refused_naming_the_key() {
    let text = "Name: a\nPort: 0\nLimit: {Period: 1, Quota: 5, KeyBy: 'cookie:x'}\n";
    let err = rustctl_runtime::config::from_str::<rustctl_runtime::RestConf>(text, "a.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.yaml") && err.contains("Limit.KeyBy"),
        "{err}"
    );
    // A config built in code is checked when the server starts.
    let mut conf = conf("");
    conf.limit.period = 1;
    conf.limit.quota = 5;
    conf.limit.redis.host = "127.0.0.1:6379".into();
    conf.limit.kind = "sliding".into();
    let mut server = Server::new(conf);
    server.add_routes(RouteGroup::new().route("/a", get(|| async { "hi" })));
    let Err(e) = server.listen().await else {
        panic!("Kind: sliding was accepted");
    };
    assert!(e.to_string().contains("Limit.Kind"), "{e}");
}
