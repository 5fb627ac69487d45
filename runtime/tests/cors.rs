//! CORS on routes registered the way generated code registers them (`RouteGroup::post` and
//! siblings): a preflight to any declared path is answered, and real answers (errors included)
//! carry the CORS headers. Checked in-process, and end to end with headless Chromium fetching
//! from a page of another origin.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use common::conf;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use rustctl_runtime::{Error, RouteGroup, Server};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";

/// A JSON POST that wants `Authorization: Bearer <TOKEN>`.
async fn echo(headers: HeaderMap, Json(body): Json<Value>) -> Result<Json<Value>, Error> {
    let auth = headers.get(http::header::AUTHORIZATION);
    if auth.and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return Err(Error::Unauthorized("bearer token required".into()));
    }
    Ok(Json(json!({"echo": body["msg"], "user": "alice"})))
}

async fn item() -> &'static str {
    "item"
}

fn server(origins: &str) -> Server {
    let mut server = Server::new(conf(&format!("Cors:\n  AllowOrigins: [{origins}]\n")));
    server
        .add_routes(RouteGroup::new().prefix("/api").post("/echo", echo, ()))
        .add_routes(RouteGroup::new().get("/items/:id", item, ()))
        // A second method on a path declared by another group.
        .add_routes(RouteGroup::new().delete("/items/:id", item, ()));
    server
}

async fn send(server: &Server, req: Request) -> (StatusCode, HeaderMap, String) {
    let resp = server.router().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn preflight(path: &str, origin: &str, method: &str) -> Request {
    Request::options(path)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn preflights_are_answered_on_every_declared_path() {
    let app = "http://app.example";
    let s = server("\"http://app.example\"");
    for (path, method) in [
        ("/api/echo", "POST"),
        ("/items/7", "GET"),
        ("/items/7", "DELETE"),
    ] {
        let (status, h, _) = send(&s, preflight(path, app, method)).await;
        assert_eq!(status, 204, "{method} {path}");
        assert_eq!(h["access-control-allow-origin"], app, "{method} {path}");
        assert_eq!(h["access-control-allow-credentials"], "true");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains(method), "{methods}");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization,content-type"
        );
    }

    let (status, h, _) = send(&s, preflight("/api/echo", "http://evil.example", "POST")).await;
    assert_eq!(status, 204, "answered, but without a grant");
    assert!(h.get("access-control-allow-origin").is_none());
    assert!(h.get("access-control-allow-methods").is_none());

    let (status, _, _) = send(&s, preflight("/nowhere", app, "POST")).await;
    assert_eq!(status, 404, "undeclared paths stay unknown");

    let plain_options = Request::options("/api/echo")
        .header("origin", app)
        .body(Body::empty())
        .unwrap();
    let (status, h, _) = send(&s, plain_options).await;
    assert_eq!(status, 405, "OPTIONS without a preflight is not a route");
    assert_eq!(h["access-control-allow-origin"], app);
}

#[tokio::test]
async fn answers_and_errors_carry_cors_headers() {
    let app = "http://app.example";
    let s = server("\"http://app.example\"");
    let post = |token: Option<&str>| {
        let mut req = Request::post("/api/echo")
            .header("origin", app)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.body(Body::from(r#"{"msg":"hi"}"#)).unwrap()
    };
    let (status, h, body) = send(&s, post(Some(TOKEN))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h["access-control-allow-origin"], app);
    assert_eq!(h["vary"], "Origin");
    let (status, h, _) = send(&s, post(None)).await;
    assert_eq!(status, 401);
    assert_eq!(
        h["access-control-allow-origin"], app,
        "the browser may read the 401"
    );
    let wrong_method = Request::put("/api/echo")
        .header("origin", app)
        .body(Body::empty())
        .unwrap();
    let (status, h, _) = send(&s, wrong_method).await;
    assert_eq!(status, 405);
    assert_eq!(h["access-control-allow-origin"], app);
}

/// The page's script fetches the API cross-origin and writes what it got into the DOM.
fn page(api: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const out = document.getElementById("out");
fetch("{api}/api/echo", {{
  method: "POST",
  headers: {{"Content-Type": "application/json", "Authorization": "Bearer {TOKEN}"}},
  body: JSON.stringify({{msg: "hello from the page"}}),
}})
  .then(r => r.text().then(t => {{ out.textContent = "status=" + r.status + " body=" + t; }}))
  .catch(e => {{ out.textContent = "fetch failed: " + e; }});
</script></body></html>"#
    )
}

/// Runs headless Chromium on `url` and returns the DOM after the page's script ran.
fn chromium_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "this test needs a real browser: `chromium` is not installed \
             (run `apt-get install chromium`)"
        ),
        Err(e) => panic!("cannot start chromium: {e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("id=\"out\""),
        "chromium printed no DOM (exit {}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_origin_calls_a_generated_route() {
    // The page's origin: 127.0.0.1 on a port of its own.
    let pages = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://{}", pages.local_addr().unwrap());
    let api = server(&format!("\"{page_origin}\""))
        .listen()
        .await
        .unwrap();
    let api_base = format!("http://{}", api.addr());
    let html = page(&api_base);
    let page_server = tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/page.html",
            get(move || async move { axum::response::Html(html) }),
        );
        axum::serve(pages, app).await
    });

    let url = format!("{page_origin}/page.html");
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&url))
        .await
        .unwrap();
    page_server.abort();
    api.shutdown();
    api.wait().await.unwrap();

    let text = dom
        .split("<pre id=\"out\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_default()
        .replace("&quot;", "\"");
    let body = text.strip_prefix("status=200 body=").unwrap_or_else(|| {
        panic!("the cross-origin fetch did not succeed; the page shows: {text}")
    });
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v, json!({"echo": "hello from the page", "user": "alice"}));
}
