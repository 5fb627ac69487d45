//! Content-security signatures (`signature: true`) against a real client on 127.0.0.1: replays
//! are refused (nonce store in the real Redis at 127.0.0.1:6379, and the local fallback), and a
//! hostile `X-Content-Security` header neither costs seconds of CPU nor stalls other requests.
//!
//! The figures in docs/security.md come from
//! `cargo test --release -p rustctl-runtime --test signature -- --nocapture --test-threads 1`.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{client, conf};
use hmac::{Hmac, Mac};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use rustctl_runtime::{RouteGroup, Running, Server};
use sha2::{Digest, Sha256};

const AES_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// A 2048-bit key (go-zero's usual size: the RSA cost measured here is the real one) in a PEM
/// file, made once per test binary.
fn key() -> &'static (RsaPrivateKey, tempfile::TempPath) {
    static KEY: OnceLock<(RsaPrivateKey, tempfile::TempPath)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs1_pem(LineEnding::LF).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), pem.as_bytes()).unwrap();
        (key, file.into_temp_path())
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The RSA part of the header: `plain` encrypted block by block with the server's public key.
fn secret(plain: &[u8]) -> String {
    let public = RsaPublicKey::from(&key().0);
    let mut out = Vec::new();
    for chunk in plain.chunks(public.size() - 11) {
        let block = public
            .encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, chunk)
            .unwrap();
        out.extend_from_slice(&block);
    }
    B64.encode(out)
}

/// `X-Content-Security` for a plain-body request signed at `time` for `method path?query`.
fn header(time: i64, method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let body_hash: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(AES_KEY).unwrap();
    mac.update(format!("{time}\n{method}\n{path}\n{query}\n{body_hash}").as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let secret = secret(
        format!(
            "version=v1; type=0; key={}; time={time}",
            B64.encode(AES_KEY)
        )
        .as_bytes(),
    );
    format!("key=k1; secret={secret}; signature={signature}")
}

/// A strict signature server: `POST /orders` (signed) and `GET /ping` (not), with `extra`
/// config lines in the `Signature` section.
async fn start(extra: &str) -> (Running, String) {
    let key_file = key().1.to_str().unwrap();
    let mut server = Server::new(conf(&format!(
        "Log:\n  Level: error\nSignature:\n  Strict: true\n  PrivateKeys:\n    - {{Fingerprint: k1, KeyFile: {key_file}}}\n{extra}"
    )));
    server
        .add_routes(RouteGroup::new().signature(true).post(
            "/orders",
            |body: String| async move { body },
            (),
        ))
        .add_routes(RouteGroup::new().get("/ping", || async { "pong" }, ()));
    let running = server.listen().await.unwrap();
    let base = format!("http://{}", running.addr());
    (running, base)
}

async fn post(base: &str, header: &str, uri: &str, body: &'static str) -> u16 {
    client()
        .post(format!("{base}{uri}"))
        .header("x-content-security", header)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rustctl-test:{name}:{}:{nanos}", std::process::id())
}

#[tokio::test]
async fn a_replay_is_refused_with_redis() {
    let prefix = unique_prefix("replay");
    let (running, base) = start(&format!(
        "  Redis: {{Host: 127.0.0.1:6379, Key: \"{prefix}\"}}\n"
    ))
    .await;
    let h = header(now(), "POST", "/orders", "", b"one order");
    assert_eq!(post(&base, &h, "/orders", "one order").await, 200);
    assert_eq!(
        post(&base, &h, "/orders", "one order").await,
        403,
        "the same signed request again"
    );

    let mut redis = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(keys.len(), 1, "one nonce in Redis: {keys:?}");
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query(&mut redis).unwrap();
    assert!(
        (3500..=3601).contains(&ttl),
        "kept as long as the signature is valid (Expiry 1h): {ttl}"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_replay_is_refused_by_the_local_store_when_redis_is_down() {
    // Nothing listens on port 1: every Redis call fails at once.
    let (running, base) = start("  Redis: {Host: 127.0.0.1:1, Key: sig}\n").await;
    let h = header(now(), "POST", "/orders", "", b"x");
    assert_eq!(post(&base, &h, "/orders", "x").await, 200, "Redis down");
    assert_eq!(post(&base, &h, "/orders", "x").await, 403);
    running.shutdown();
    running.wait().await.unwrap();

    let (running, base) = start("").await;
    let h = header(now(), "POST", "/orders", "", b"x");
    assert_eq!(
        post(&base, &h, "/orders", "x").await,
        200,
        "no Redis at all"
    );
    assert_eq!(post(&base, &h, "/orders", "x").await, 403);
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn a_signature_holds_only_for_the_routed_path_and_a_near_time() {
    let (running, base) = start("").await;
    // Signed for /admin/orders; sent to /orders, naming the signed path in X-Request-Uri.
    let h = header(now(), "POST", "/admin/orders", "", b"x");
    let status = client()
        .post(format!("{base}/orders"))
        .header("x-content-security", h)
        .header("x-request-uri", "/admin/orders")
        .body("x")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403, "signed for another path");

    let h = header(now() + 58 * 60, "POST", "/orders", "", b"x");
    assert_eq!(post(&base, &h, "/orders", "x").await, 403, "58 min ahead");
    let h = header(now() + 2, "POST", "/orders", "", b"x");
    assert_eq!(post(&base, &h, "/orders", "x").await, 200, "a little skew");
    let h = header(now() - 50 * 60, "POST", "/orders", "", b"y");
    assert_eq!(post(&base, &h, "/orders", "y").await, 200, "within Expiry");
    running.shutdown();
    running.wait().await.unwrap();
}

/// A header of about `kib` KiB whose secret is all valid RSA blocks: before the fix the server
/// decrypted every one of them on its async worker.
fn huge_header(kib: usize) -> String {
    let public_size = RsaPublicKey::from(&key().0).size();
    let blocks = kib * 1024 * 3 / 4 / public_size;
    let plain = vec![b'a'; blocks * (public_size - 11)];
    format!("key=k1; secret={}; signature=AAAA", secret(&plain))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_header_is_refused_quickly_and_stalls_nothing() {
    let (running, base) = start("").await;
    let header = huge_header(300);
    let c = client();
    // Pings go over a connection of their own, opened before the huge requests.
    let pinger = client();
    let r = pinger.get(format!("{base}/ping")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let huge: Vec<_> = (0..4)
        .map(|_| {
            let (c, url, h) = (c.clone(), format!("{base}/orders"), header.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let r = c.post(url).header("x-content-security", h).send();
                let status = tokio::time::timeout(Duration::from_secs(60), r)
                    .await
                    .map(|r| r.unwrap().status().as_u16());
                (status, t.elapsed())
            })
        })
        .collect();
    // An unrelated request every 100 ms while the huge ones are in flight.
    let mut pings = Vec::new();
    while pings.len() < 5 || (!huge.iter().all(|h| h.is_finished()) && pings.len() < 50) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let p = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            pinger.get(format!("{base}/ping")).send(),
        )
        .await;
        assert_eq!(r.expect("ping answered").unwrap().status(), 200);
        pings.push(p.elapsed());
    }
    let mut times = Vec::new();
    for h in huge {
        let (status, took) = h.await.unwrap();
        assert_eq!(status, Ok(403), "refused (Strict)");
        times.push(took);
    }
    let slowest = *pings.iter().max().unwrap();
    eprintln!(
        "4 concurrent requests with a {} KiB header: answered in {times:?}; \
         the slowest of {} unrelated GETs sent meanwhile took {slowest:?}",
        header.len() / 1024,
        pings.len(),
    );
    for took in times {
        assert!(took < Duration::from_secs(1), "refused quickly: {took:?}");
    }
    assert!(
        slowest < Duration::from_millis(500),
        "an unrelated request waited {slowest:?}"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_valid_signatures_does_not_starve_other_requests() {
    let (running, base) = start("").await;
    let c = client();
    // Pings go over a connection of their own, opened before the flood.
    let pinger = client();
    let r = pinger.get(format!("{base}/ping")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let n = 200;
    let headers: Vec<String> = (0..n)
        .map(|i| header(now(), "POST", "/orders", &format!("n={i}"), b""))
        .collect();
    let t = Instant::now();
    let flood: Vec<_> = headers
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let (c, url) = (c.clone(), format!("{base}/orders?n={i}"));
            tokio::spawn(async move {
                let r = c.post(url).header("x-content-security", h).send().await;
                r.unwrap().status().as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut pings = Vec::new();
    for _ in 0..5 {
        let p = Instant::now();
        let r = pinger.get(format!("{base}/ping")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        pings.push(p.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut ok = 0;
    for f in flood {
        ok += usize::from(f.await.unwrap() == 200);
    }
    let all = t.elapsed();
    eprintln!(
        "{n} concurrent validly signed requests: {ok} answered 200 in {all:?}; \
         unrelated GETs meanwhile took {pings:?}"
    );
    let slowest = pings.iter().max().unwrap();
    assert!(
        *slowest < all / 4,
        "unrelated requests waited behind the RSA work: {pings:?} (flood {all:?})"
    );
    running.shutdown();
    running.wait().await.unwrap();
}
