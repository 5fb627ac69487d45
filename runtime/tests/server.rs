//! The REST server against a real HTTP client on 127.0.0.1: every built-in middleware fires.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use common::{client, conf};
use rustctl_runtime::load::CpuSource;
use rustctl_runtime::rules::Range;
use rustctl_runtime::{
    Bind, BindError, Binder, Bound, Claims, Error, FieldSpec, RouteGroup, Running, Server,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

#[derive(Debug, Default)]
struct GetTrialReq {
    id: i64,
    arm: String,
}

impl Bind for GetTrialReq {
    fn bind(b: &mut Binder) -> Result<Self, BindError> {
        Ok(GetTrialReq {
            id: b.path(&FieldSpec::new("id").range(Range::unbounded().ge(1.0)))?,
            arm: b.form(&FieldSpec::new("arm").options("a|b").default("a"))?,
        })
    }
}

#[derive(Serialize)]
struct Trial {
    id: i64,
    arm: String,
}

async fn get_trial(Bound(req): Bound<GetTrialReq>) -> Result<Json<Trial>, Error> {
    if req.id == 404 {
        return Err(Error::NotFound("no such trial".into()));
    }
    Ok(Json(Trial {
        id: req.id,
        arm: req.arm,
    }))
}

async fn start(server: Server) -> (Running, String) {
    let running = server.listen().await.unwrap();
    let base = format!("http://{}", running.addr());
    (running, base)
}

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let s = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn routes_binding_errors_tracing_metrics_and_promtool() {
    let mut server = Server::new(conf(""));
    server.add_routes(
        RouteGroup::new()
            .prefix("/api")
            .route("/trials/:id", get(get_trial)),
    );
    let (running, base) = start(server).await;
    let c = client();

    let (s, v) = json(
        c.get(format!("{base}/api/trials/7?arm=b"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v), (200, serde_json::json!({"id": 7, "arm": "b"})));

    let (s, v) = json(c.get(format!("{base}/api/trials/0")).send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert!(v["msg"].as_str().unwrap().contains("`id`"), "{v}");

    let (s, v) = json(
        c.get(format!("{base}/api/trials/1?arm=z"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["msg"].as_str().unwrap().contains("`arm`"), "{v}");

    let (s, v) = json(
        c.get(format!("{base}/api/trials/404"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            404,
            serde_json::json!({"code": 404, "msg": "no such trial"})
        )
    );

    let (s, v) = json(c.get(format!("{base}/nope")).send().await.unwrap()).await;
    assert_eq!((s, v["code"].clone()), (404, Value::from(404)));

    let resp = c
        .get(format!("{base}/api/trials/3"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    let tp = resp.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(tp.ends_with("-01"), "{tp}");

    let dev = format!("http://{}", running.dev_addr().unwrap());
    let health = c.get(format!("{dev}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = c
        .get(format!("{dev}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"http_server_requests_code_total{path="/api/trials/:id",method="GET",code="200"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"code="400"} 2"#), "{metrics}");
    assert!(
        metrics.contains("# TYPE http_server_requests_duration_ms histogram"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"le="750.0""#), "{metrics}");
    promtool_check(&metrics);

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
        .expect("promtool (Debian package `prometheus`) must be installed; .ci/run installs it");
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
    // Exit 1 is a parse error; exit 3 means lint findings. go-zero's own metric name
    // `http_server_requests_duration_ms` trips the "abbreviated units" lint, which we keep for
    // dashboard compatibility; any other finding fails the test.
    let code = out.status.code();
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !(l.starts_with("http_server_requests_duration_ms ") && l.contains("abbreviated units"))
        })
        .collect();
    assert!(
        matches!(code, Some(0) | Some(3)) && findings.is_empty(),
        "promtool check metrics (exit {code:?}) failed:\n{text}\n---\n{metrics}"
    );
}

#[tokio::test]
async fn body_limit_gzip_rate_limit_and_timeout() {
    async fn echo(body: String) -> String {
        body
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }
    let mut server = Server::new(conf(""));
    server
        .add_routes(RouteGroup::new().max_bytes(16).route("/echo", post(echo)))
        .add_routes(RouteGroup::new().route("/echo-any", post(echo)))
        .add_routes(
            RouteGroup::new()
                .limit(60, 2)
                .route("/limited", get(|| async { "ok" })),
        )
        .add_routes(
            RouteGroup::new()
                .timeout(Duration::from_millis(100))
                .route("/slow", get(slow)),
        );
    let (running, base) = start(server).await;
    let c = client();

    let r = c
        .post(format!("{base}/echo"))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "small");
    let (s, v) = json(
        c.post(format!("{base}/echo"))
            .body(vec![b'x'; 17])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v["code"].clone()), (413, Value::from(413)));

    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"zipped body").unwrap();
        e.finish().unwrap()
    };
    let r = c
        .post(format!("{base}/echo-any"))
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "zipped body");

    for _ in 0..2 {
        assert_eq!(
            c.get(format!("{base}/limited"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let r = c.get(format!("{base}/limited")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");

    let started = std::time::Instant::now();
    let (s, v) = json(c.get(format!("{base}/slow")).send().await.unwrap()).await;
    assert_eq!(s, 503);
    assert_eq!(v["msg"], "request timed out");
    assert!(started.elapsed() < Duration::from_secs(3));

    running.shutdown();
    running.wait().await.unwrap();
}

fn token(secret: &str, exp_offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"userId": 7, "exp": now + exp_offset}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_user_middleware_cors_and_panic_recovery() {
    async fn me(claims: Claims) -> String {
        format!("user {}", claims.get("userId").unwrap())
    }
    // Each middleware adds its name to `x-seen` on the way in; the innermost one reports the
    // list in `x-checked`, so the header shows the order they ran in.
    async fn tag(State(name): State<&'static str>, mut req: Request, next: Next) -> Response {
        let seen = match req.headers().get("x-seen") {
            Some(v) => format!("{},{name}", v.to_str().unwrap()),
            None => name.to_owned(),
        };
        req.headers_mut().insert("x-seen", seen.parse().unwrap());
        let mut resp = next.run(req).await;
        if !resp.headers().contains_key("x-checked") {
            resp.headers_mut()
                .insert("x-checked", seen.parse().unwrap());
        }
        resp
    }
    async fn boom() -> &'static str {
        panic!("handler bug")
    }
    let mut server = Server::new(conf(
        "Auth:\n  AccessSecret: t0ps3cret\n  AccessExpire: 3600\n",
    ));
    server
        .add_routes(
            RouteGroup::new()
                .jwt("Auth")
                .middleware(from_fn_with_state("first", tag))
                .middleware(from_fn_with_state("second", tag))
                .route("/me", get(me)),
        )
        .add_routes(
            RouteGroup::new()
                .route("/boom", get(boom))
                .route("/ok", get(|| async { "ok" })),
        );
    let (running, base) = start(server).await;
    let c = client();

    let r = c.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers().get("x-checked").is_none(),
        "user middleware runs after jwt"
    );
    let r = c
        .get(format!("{base}/me"))
        .bearer_auth(token("t0ps3cret", -5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "expired");
    let r = c
        .get(format!("{base}/me"))
        .bearer_auth(token("t0ps3cret", 60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-checked"],
        "first,second",
        "user middlewares run in the order the group adds them"
    );
    assert_eq!(r.text().await.unwrap(), "user 7");

    let r = c
        .request(reqwest::Method::OPTIONS, format!("{base}/me"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "preflight answered before jwt: {}",
        r.status()
    );
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    let (s, v) = json(c.get(format!("{base}/boom")).send().await.unwrap()).await;
    assert_eq!((s, v["code"].clone()), (500, Value::from(500)));
    assert_eq!(
        c.get(format!("{base}/ok")).send().await.unwrap().status(),
        200,
        "server lives on"
    );

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn jwt_transition_accepts_the_previous_secret() {
    async fn me(claims: Claims) -> String {
        format!("user {}", claims.get("userId").unwrap())
    }
    let mut server = Server::new(conf(
        "auth:\n  accessSecret: n3w-s3cret\n  prev_secret: 0ld-s3cret\n",
    ));
    assert_eq!(server.conf().auth.prev_secret, "0ld-s3cret");
    server
        .add_routes(
            RouteGroup::new()
                .prefix("/rotating")
                .jwt("Auth")
                .jwt_transition("Auth")
                .route("/me", get(me)),
        )
        .add_routes(
            RouteGroup::new()
                .prefix("/plain")
                .jwt("Auth")
                .route("/me", get(me)),
        );
    let (running, base) = start(server).await;
    let c = client();
    let call = |path: &str, tok: Option<String>| {
        let mut req = c.get(format!("{base}{path}"));
        if let Some(t) = tok {
            req = req.bearer_auth(t);
        }
        async move { json(req.send().await.unwrap()).await }
    };

    let (s, v) = call("/rotating/me", Some(token("0ld-s3cret", 60))).await;
    assert_eq!(
        (s, v),
        (200, Value::from("user 7")),
        "previous secret, transition"
    );
    let (s, _) = call("/rotating/me", Some(token("n3w-s3cret", 60))).await;
    assert_eq!(s, 200, "current secret, transition");
    let (s, v) = call("/rotating/me", Some(token("0th3r", 60))).await;
    assert_eq!(
        (s, v["code"].clone()),
        (401, Value::from(401)),
        "unknown secret"
    );
    let (s, _) = call("/rotating/me", Some(token("0ld-s3cret", -5))).await;
    assert_eq!(s, 401, "expired, previous secret");
    let (s, _) = call("/rotating/me", None).await;
    assert_eq!(s, 401, "no token: transition implies jwt");

    let (s, v) = call("/plain/me", Some(token("0ld-s3cret", 60))).await;
    assert_eq!(
        (s, v["code"].clone()),
        (401, Value::from(401)),
        "previous secret, plain jwt"
    );
    let (s, _) = call("/plain/me", Some(token("n3w-s3cret", 60))).await;
    assert_eq!(s, 200, "current secret, plain jwt");

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn jwt_groups_read_the_section_they_name() {
    async fn me(claims: Claims) -> String {
        format!("user {}", claims.get("userId").unwrap())
    }
    let mut server = Server::new(conf(
        "Auth:\n  AccessSecret: us3r-s3cret\n\
         adminauth:\n  accessSecret: adm1n-s3cret\n  AccessExpire: 600\n\
         OpsAuth:\n  AccessSecret: n3w-0ps-s3cret\n  PrevSecret: 0ld-0ps-s3cret\n",
    ));
    server
        .add_routes(
            RouteGroup::new()
                .prefix("/user")
                .jwt("Auth")
                .route("/me", get(me)),
        )
        .add_routes(
            RouteGroup::new()
                .prefix("/admin")
                .jwt("AdminAuth")
                .route("/me", get(me)),
        )
        .add_routes(
            RouteGroup::new()
                .prefix("/ops")
                .jwt("Auth")
                .jwt_transition("OpsAuth")
                .route("/me", get(me)),
        );
    let (running, base) = start(server).await;
    let c = client();
    let status = |path: &str, secret: &str| {
        let req = c
            .get(format!("{base}{path}"))
            .bearer_auth(token(secret, 60));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for (path, secret, want) in [
        ("/user/me", "us3r-s3cret", 200),
        ("/user/me", "adm1n-s3cret", 401),
        ("/admin/me", "adm1n-s3cret", 200),
        ("/admin/me", "us3r-s3cret", 401),
        ("/ops/me", "n3w-0ps-s3cret", 200),
        ("/ops/me", "0ld-0ps-s3cret", 200),
        ("/ops/me", "us3r-s3cret", 401),
    ] {
        assert_eq!(status(path, secret).await, want, "{path} with {secret}");
    }
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn jwt_routes_without_a_usable_secret_do_not_start() {
    for (config, section, key) in [
        ("", "Auth", "Auth.AccessSecret"),
        ("Auth:\n  AccessSecret: \"\"\n", "Auth", "Auth.AccessSecret"),
        (
            "Auth:\n  AccessSecret: short\n",
            "Auth",
            "Auth.AccessSecret",
        ),
        (
            "Auth:\n  AccessSecret: us3r-s3cret\n",
            "AdminAuth",
            "AdminAuth.AccessSecret",
        ),
        (
            "AdminAuth:\n  AccessExpire: 60\n",
            "AdminAuth",
            "AdminAuth.AccessSecret",
        ),
    ] {
        let mut server = Server::new(conf(config));
        server.add_routes(
            RouteGroup::new()
                .jwt(section)
                .route("/me", get(|| async { "me" })),
        );
        // Even in process, without `listen`, the routes let no token through.
        for secret in ["", "short", "us3r-s3cret"] {
            let req = axum::http::Request::get("/me")
                .header("authorization", format!("Bearer {}", token(secret, 60)))
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = tower::ServiceExt::oneshot(server.router(), req)
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{config:?}: signed with {secret:?}");
        }
        let err = match server.listen().await {
            Ok(_) => panic!("{config:?}: started without `{key}`"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&format!("`{key}`")), "{config:?}: {err}");
    }
}

/// go-zero's client side of content security (see `middleware/signature.rs`): an AES key and
/// the time RSA-encrypted for the server's key, an HMAC over time/method/path/query/body hash,
/// and with `encrypt` the body as base64(AES-ECB(body)).
mod content_security {
    use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use hmac::{Hmac, Mac};
    use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
    use sha2::{Digest, Sha256};

    pub const KEY: &[u8; 16] = b"0123456789abcdef";

    pub fn ecb(data: &[u8], encrypt: bool) -> Vec<u8> {
        let c = aes::Aes128::new_from_slice(KEY).unwrap();
        let mut out = data.to_vec();
        if encrypt {
            let pad = 16 - out.len() % 16;
            out.resize(out.len() + pad, pad as u8);
        }
        for chunk in out.chunks_mut(16) {
            let mut b = aes::Block::from(<[u8; 16]>::try_from(&*chunk).unwrap());
            if encrypt {
                c.encrypt_block(&mut b);
            } else {
                c.decrypt_block(&mut b);
            }
            chunk.copy_from_slice(&b);
        }
        if !encrypt {
            let pad = *out.last().unwrap() as usize;
            out.truncate(out.len() - pad);
        }
        out
    }

    /// The header and the body to send.
    pub fn sign(
        public: &RsaPublicKey,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        encrypt: bool,
    ) -> (String, Vec<u8>) {
        let body = if encrypt {
            B64.encode(ecb(body, true)).into_bytes()
        } else {
            body.to_vec()
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let body_hash: String = Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).unwrap();
        mac.update(
            [time.as_str(), method, path, query, &body_hash]
                .join("\n")
                .as_bytes(),
        );
        let signature = B64.encode(mac.finalize().into_bytes());
        let secret = format!(
            "version=v1; type={}; key={}; time={time}",
            u8::from(encrypt),
            B64.encode(KEY)
        );
        let secret = public
            .encrypt(
                &mut rsa::rand_core::OsRng,
                Pkcs1v15Encrypt,
                secret.as_bytes(),
            )
            .unwrap();
        let header = format!(
            "key=fp1; secret={}; signature={signature}",
            B64.encode(secret)
        );
        (header, body)
    }
}

#[tokio::test]
async fn signature_routes_verify_content_security() {
    use base64::Engine;
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    let b64 = base64::engine::general_purpose::STANDARD;
    // A throwaway key, small for test speed only.
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key_file.path(),
        private.to_pkcs1_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let public = rsa::RsaPublicKey::from(&private);
    let mut server = Server::new(conf(&format!(
        "signature:\n  strict: true\n  expiry: 10m\n  privateKeys:\n    - fingerprint: fp1\n      keyFile: {}\n",
        key_file.path().display()
    )));
    assert_eq!(server.conf().signature.expiry, 600_000);
    server
        .add_routes(
            RouteGroup::new()
                .prefix("/signed")
                .signature(true)
                .route(
                    "/echo",
                    post(|body: String| async move { format!("got {body}") }),
                )
                .route("/ping", get(|| async { "pong" })),
        )
        .add_routes(RouteGroup::new().route("/open", get(|| async { "open" })));
    let (running, base) = start(server).await;
    let c = client();

    let (h, body) = content_security::sign(&public, "GET", "/signed/ping?x=1", b"", false);
    let r = c
        .get(format!("{base}/signed/ping?x=1"))
        .header("x-content-security", h)
        .send()
        .await
        .unwrap();
    assert!(body.is_empty());
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "pong".into())
    );

    let (h, body) = content_security::sign(&public, "POST", "/signed/echo", b"hello", false);
    let r = c
        .post(format!("{base}/signed/echo"))
        .header("x-content-security", h.clone())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "got hello".into())
    );

    let (s, v) = json(
        c.post(format!("{base}/signed/echo"))
            .header("x-content-security", h)
            .body("tampered")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (403, Value::from(403)),
        "tampered body: {v}"
    );
    let (s, _) = json(c.get(format!("{base}/signed/ping")).send().await.unwrap()).await;
    assert_eq!(s, 403, "unsigned, strict");
    assert_eq!(
        c.get(format!("{base}/open")).send().await.unwrap().status(),
        200,
        "groups without signature are not checked"
    );

    let (h, body) = content_security::sign(&public, "POST", "/signed/echo", b"secret", true);
    let r = c
        .post(format!("{base}/signed/echo"))
        .header("x-content-security", h)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let enc = b64.decode(r.text().await.unwrap()).unwrap();
    assert_eq!(content_security::ecb(&enc, false), b"got secret");

    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn breaker_opens_on_failing_route() {
    let mut server = Server::new(conf(""));
    server.add_routes(
        RouteGroup::new().route("/fail", get(|| async { Error::Internal("db down".into()) })),
    );
    let (running, base) = start(server).await;
    let c = client();
    let mut dropped = 0;
    for _ in 0..60 {
        let r = c.get(format!("{base}/fail")).send().await.unwrap();
        if r.status() == 503 {
            assert!(r.text().await.unwrap().contains("circuit breaker"));
            dropped += 1;
        } else {
            assert_eq!(r.status(), 500);
        }
    }
    assert!(dropped >= 10, "breaker dropped only {dropped} of 60");
    let metrics = running_metrics(&running).await;
    assert!(metrics.contains(r#"reason="breaker""#), "{metrics}");
    running.shutdown();
    running.wait().await.unwrap();
}

async fn running_metrics(r: &Running) -> String {
    client()
        .get(format!("http://{}/metrics", r.dev_addr().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn max_conns_refuses_and_shutdown_drains_in_flight() {
    let gate = Arc::new(Notify::new());
    let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
    let g = gate.clone();
    let handler = get(move || {
        let g = g.clone();
        let tx = entered_tx.clone();
        async move {
            let wait = g.notified();
            tx.send(()).unwrap();
            wait.await;
            "done"
        }
    });
    let mut server = Server::new(conf(
        "MaxConns: 2\nShutdown:\n  WrapUpTime: 300\n  WaitTime: 5000\n",
    ));
    server.add_routes(RouteGroup::new().route("/hold", handler));
    let (running, base) = start(server).await;
    let c = client();

    let inflight: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            let url = format!("{base}/hold");
            tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    entered.recv().await.unwrap();
    entered.recv().await.unwrap();
    let (s, v) = json(c.get(format!("{base}/hold")).send().await.unwrap()).await;
    assert_eq!(s, 503, "{v}");

    // SIGTERM-equivalent while two requests are in flight.
    let dev = format!("http://{}", running.dev_addr().unwrap());
    running.shutdown();
    let mut unready = false;
    for _ in 0..50 {
        if c.get(format!("{dev}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
        {
            unready = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(unready, "readiness turns false during shutdown");
    gate.notify_waiters();
    for t in inflight {
        assert_eq!(t.await.unwrap(), 200, "in-flight requests complete");
    }
    running.wait().await.unwrap();
    assert!(
        c.get(format!("{base}/hold")).send().await.is_err(),
        "listener closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_drops_under_forced_cpu_overload_in_pro_mode() {
    let cpu = Arc::new(AtomicU64::new(0));
    let mut server = Server::with_cpu_source(
        conf("Mode: pro\nCpuThreshold: 800\n"),
        CpuSource::Fixed(cpu.clone()),
    );
    server.add_routes(RouteGroup::new().route(
        "/work",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "ok"
        }),
    ));
    let (running, base) = start(server).await;
    let c = client();
    cpu.store(1000, Ordering::Relaxed);
    let mut shed = 0;
    for _ in 0..3 {
        let batch: Vec<_> = (0..40)
            .map(|_| {
                let c = c.clone();
                let url = format!("{base}/work");
                tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for t in batch {
            match t.await.unwrap() {
                503 => shed += 1,
                200 => {}
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert!(shed > 0, "nothing was shed");
    let metrics = running_metrics(&running).await;
    assert!(metrics.contains(r#"reason="shed""#), "{metrics}");
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pprof_profile_is_a_gzipped_pprof_protobuf() {
    use pprof::protos::Message;
    use std::io::Read;
    let server = Server::new(conf(""));
    let running = server.listen().await.unwrap();
    let url = format!(
        "http://{}/debug/pprof/profile?seconds=1",
        running.dev_addr().unwrap()
    );
    // Some CPU work to sample while the profile runs.
    let burn = tokio::task::spawn_blocking(|| {
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(900) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        x
    });
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let gz = r.bytes().await.unwrap();
    burn.await.unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let profile = pprof::protos::Profile::decode(raw.as_slice()).expect("pprof protobuf");
    let types: Vec<&str> = profile
        .sample_type
        .iter()
        .map(|t| profile.string_table[t.ty as usize].as_str())
        .collect();
    assert!(
        types.contains(&"cpu") || types.contains(&"samples"),
        "{types:?}"
    );
    assert!(profile.duration_nanos > 0);
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn prometheus_listener_serves_metrics() {
    // A free port for the separate Prometheus listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server::new(conf(&format!(
        "Prometheus:\n  Host: 127.0.0.1\n  Port: {port}\n  Path: /prom\n"
    )));
    server.add_routes(RouteGroup::new().route("/x", get(|| async { "x" })));
    let running = server.listen().await.unwrap();
    let c = client();
    c.get(format!("http://{}/x", running.addr()))
        .send()
        .await
        .unwrap();
    let m = c
        .get(format!("http://127.0.0.1:{port}/prom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"http_server_requests_code_total{path="/x",method="GET",code="200"} 1"#),
        "{m}"
    );
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let mut server = Server::new(conf("Cors:\n  AllowOrigins: [\"https://app.example\"]\n"));
    server.add_routes(RouteGroup::new().route("/x", get(|| async { "x" })));
    let (running, base) = start(server).await;
    let c = client();
    let preflight = |origin: &'static str| {
        c.request(reqwest::Method::OPTIONS, format!("{base}/x"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    running.shutdown();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shedding_outside_pro_mode() {
    let cpu = Arc::new(AtomicU64::new(1000));
    let mut server = Server::with_cpu_source(conf("Mode: dev\n"), CpuSource::Fixed(cpu));
    server.add_routes(RouteGroup::new().route(
        "/work",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "ok"
        }),
    ));
    let (running, base) = start(server).await;
    let c = client();
    for _ in 0..3 {
        let batch: Vec<_> = (0..40)
            .map(|_| {
                let c = c.clone();
                let url = format!("{base}/work");
                tokio::spawn(async move { c.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for t in batch {
            assert_eq!(t.await.unwrap(), 200, "dev mode never sheds");
        }
    }
    running.shutdown();
    running.wait().await.unwrap();
}
