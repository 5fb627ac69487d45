//! Connection limits over real sockets on 127.0.0.1: a request head must arrive within
//! `ReadHeaderTimeout`, an idle keep-alive connection is closed after `IdleTimeout`, and a
//! request being served is cut by neither.

mod common;

use std::time::{Duration, Instant};

use axum::routing::get;
use common::conf;
use rustctl_runtime::{RouteGroup, Running, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serve(limits: &str) -> Running {
    let mut server = Server::new(conf(limits));
    server.add_routes(
        RouteGroup::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                    "slow"
                }),
            ),
    );
    server.listen().await.unwrap()
}

/// Waits until the server closes `conn` (end of stream or a reset), at most `limit`; how long
/// that took, or `None` if it stayed open.
async fn closed_within(conn: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + limit).into(), conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Sends a keep-alive `GET path` and reads its whole response (bodies here are short).
async fn get_on(conn: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text.into_owned();
            }
        }
    }
}

#[tokio::test]
async fn half_a_request_head_is_cut_off_after_read_header_timeout() {
    let running = serve("ReadHeaderTimeout: 300ms\nIdleTimeout: 10s\n").await;
    let mut conn = TcpStream::connect(running.addr()).await.unwrap();
    conn.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let took = closed_within(&mut conn, Duration::from_secs(5)).await;
    let took = took.expect("a half-sent request head kept its connection open for 5 s");
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(2)).contains(&took),
        "closed after {took:?}"
    );

    // So is one that trickles its head a byte at a time, each in time for the last.
    let mut trickle = TcpStream::connect(running.addr()).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    for byte in b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Padding: "
        .iter()
        .cycle()
        .take(60)
    {
        if trickle.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed = closed
        || closed_within(&mut trickle, Duration::from_millis(100))
            .await
            .is_some();
    assert!(
        closed,
        "a trickled head kept its connection open for {:?}",
        start.elapsed()
    );

    // A connection that sends nothing at all is closed as soon.
    let mut silent = TcpStream::connect(running.addr()).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some_and(|t| t < Duration::from_secs(2)), "{took:?}");

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let running = serve("ReadHeaderTimeout: 300ms\nIdleTimeout: 1s\n").await;
    let mut conn = TcpStream::connect(running.addr()).await.unwrap();
    let resp = get_on(&mut conn, "/ok").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // Idle longer than the header timeout: still open, and serves the next request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let resp = get_on(&mut conn, "/ok").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let took = closed_within(&mut conn, Duration::from_secs(5)).await;
    let took = took.expect("an idle keep-alive connection stayed open for 5 s");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&took),
        "closed after {took:?} of idleness"
    );

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn half_a_head_on_a_keep_alive_connection_is_cut_off_after_read_header_timeout() {
    // The connection's timer is armed for the idle phase first; the head's shorter limit
    // must still hold from the head's first byte.
    let running = serve("ReadHeaderTimeout: 300ms\nIdleTimeout: 10s\n").await;
    let mut conn = TcpStream::connect(running.addr()).await.unwrap();
    let resp = get_on(&mut conn, "/ok").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    conn.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut conn, Duration::from_secs(5)).await;
    let took = took.expect("half a head stayed open for 5 s on a keep-alive connection");
    assert!(
        (Duration::from_millis(250)..Duration::from_millis(1500)).contains(&took),
        "closed {took:?} after half a head"
    );

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn an_http2_connection_waits_for_requests_as_long_as_idle_timeout() {
    let running = serve("ReadHeaderTimeout: 300ms\nIdleTimeout: 1s\n").await;
    let mut conn = TcpStream::connect(running.addr()).await.unwrap();
    // The client preface and an empty SETTINGS frame; then no request.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let took = closed_within(&mut conn, Duration::from_secs(5)).await;
    let took = took.expect("an idle HTTP/2 connection stayed open for 5 s");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&took),
        "closed after {took:?}"
    );

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_request_being_served_is_cut_by_neither_limit() {
    let running = serve("ReadHeaderTimeout: 300ms\nIdleTimeout: 500ms\n").await;
    let mut conn = TcpStream::connect(running.addr()).await.unwrap();
    let resp = get_on(&mut conn, "/slow").await;
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("slow"),
        "{resp}"
    );

    // Over HTTP/2 as well (one connection, the request multiplexed on it).
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{}/slow", running.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow");

    running.shutdown();
    running.wait().await.unwrap();
}

#[test]
fn limits_have_defaults_and_zero_switches_them_off() {
    let c = conf("");
    assert_eq!((c.read_header_timeout, c.idle_timeout), (10_000, 75_000));
    let c = conf("ReadHeaderTimeout: 0\nIdleTimeout: 2m\n");
    assert_eq!((c.read_header_timeout, c.idle_timeout), (0, 120_000));
}
