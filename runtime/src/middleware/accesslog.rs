//! One access-log line per request (go-zero's `[HTTP] code - method path - remote - agent`
//! with a `duration` field) and a `slowcall` warning past `Log.SlowThreshold`. With `Verbose`
//! a second line carries the request and response headers (credentials redacted), like
//! go-zero's detailed log handler (which also dumps bodies; this one does not buffer them).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use tracing::Level;

use super::{Refusal, Stage};

/// The access-log middleware.
#[derive(Clone, Copy)]
pub struct AccessLog {
    slow: Duration,
    verbose: bool,
}

impl AccessLog {
    /// Warns about calls slower than `slow`.
    pub fn new(slow: Duration) -> Self {
        AccessLog {
            slow,
            verbose: false,
        }
    }

    /// Also logs request and response headers (`Verbose`).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }
}

/// Headers as `name: value` pairs, with credentials redacted.
struct Headers<'a>(&'a http::HeaderMap);

impl std::fmt::Display for Headers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let secret = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE].contains(name);
            match (secret, value.to_str()) {
                (true, _) => write!(f, "{name}: <redacted>")?,
                (false, Ok(v)) => write!(f, "{name}: {v}")?,
                (false, Err(_)) => write!(f, "{name}: <binary>")?,
            }
        }
        Ok(())
    }
}

/// go-zero writes durations as `12.3ms`.
pub(crate) struct Ms(pub(crate) Duration);

impl Ms {
    /// Appends the duration, formatted without floating point (this runs per request).
    fn push(&self, out: &mut String) {
        // In 64 bits: 128-bit division is a library call (u64 microseconds last 584 554 years).
        let micros = u64::try_from(self.0.as_micros()).unwrap_or(u64::MAX - 50);
        let tenths = (micros + 50) / 100;
        out.push_str(itoa::Buffer::new().format(tenths / 10));
        out.push('.');
        out.push(char::from(b'0' + (tenths % 10) as u8));
        out.push_str("ms");
    }
}

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::with_capacity(16);
        self.push(&mut s);
        f.write_str(&s)
    }
}

/// Appends the request target as sent: the path and query (or the whole URI of an
/// absolute-form request).
fn push_uri(out: &mut String, uri: &http::Uri) {
    match uri.path_and_query() {
        Some(pq) if uri.scheme().is_none() => out.push_str(pq.as_str()),
        _ => {
            use std::fmt::Write as _;
            let _ = write!(out, "{uri}");
        }
    }
}

/// Appends the client's address; IPv4 without the formatting machinery (this runs per
/// request, and `SocketAddr`'s `Display` was the costliest part of the line).
fn push_remote(out: &mut String, remote: Option<SocketAddr>) {
    match remote {
        Some(SocketAddr::V4(a)) => {
            let mut n = itoa::Buffer::new();
            for (i, octet) in a.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(n.format(octet));
            }
            out.push(':');
            out.push_str(n.format(a.port()));
        }
        Some(a) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
        None => out.push('-'),
    }
}

/// What the access line needs from the request.
pub struct Seen {
    start: Instant,
    /// `GET /path - remote - agent`, copied out at once: a clone of the method, URI or
    /// header would keep the connection's read buffer shared until the answer is done, and
    /// hyper would then copy it instead of reusing it in place.
    request: String,
    /// Where `GET /path` ends in `request`.
    target_end: usize,
    /// With `Verbose`: the request headers, written out.
    headers: Option<String>,
}

impl Stage for AccessLog {
    type Ticket = Seen;

    fn admit(&self, req: &mut Request, now: Instant) -> Result<Seen, Refusal> {
        let agent = req.headers().get(http::header::USER_AGENT);
        let agent = agent.and_then(|v| v.to_str().ok()).unwrap_or("-");
        let path = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        let mut request = String::with_capacity(40 + path + agent.len());
        request.push_str(req.method().as_str());
        request.push(' ');
        push_uri(&mut request, req.uri());
        let target_end = request.len();
        request.push_str(" - ");
        push_remote(&mut request, crate::peer::of(req.extensions()));
        request.push_str(" - ");
        request.push_str(agent);
        Ok(Seen {
            start: now,
            request,
            target_end,
            headers: self.verbose.then(|| Headers(req.headers()).to_string()),
        })
    }

    fn finish(&self, seen: Seen, resp: &mut Response, now: Instant) {
        let elapsed = now.duration_since(seen.start);
        // The line and its duration are built in a reused buffer: this runs per request.
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => self.write(&seen, resp, elapsed, &mut buf),
            Err(_) => self.write(&seen, resp, elapsed, &mut String::new()),
        });
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl AccessLog {
    /// Writes the access line (and the verbose and slow-call lines), using `buf`.
    fn write(&self, seen: &Seen, resp: &Response, elapsed: Duration, buf: &mut String) {
        // `[HTTP] 200 - GET /path - remote - agent`, then the duration.
        buf.clear();
        buf.push_str("[HTTP] ");
        buf.push_str(itoa::Buffer::new().format(resp.status().as_u16()));
        buf.push_str(" - ");
        let request = buf.len() + seen.target_end;
        buf.push_str(&seen.request);
        let end = buf.len();
        Ms(elapsed).push(buf);
        let (line, duration) = buf.split_at(end);
        // Straight to the runtime's log output when it is installed (skipping tracing's
        // dispatch, for the one line every request writes); else through tracing.
        let fields = [("duration", duration)];
        const FILE: &str = crate::log::short_file(file!());
        if !crate::log::direct(Level::INFO, (FILE, line!()), line, &fields) {
            tracing::info!(target: "access", message = line, duration);
        }
        if let Some(h) = &seen.headers {
            let request = &line[..request];
            tracing::info!(
                target: "access",
                request_headers = h.as_str(),
                response_headers = %Headers(resp.headers()),
                "{request} - details"
            );
        }
        if elapsed > self.slow {
            tracing::warn!(target: "access", duration, "{line} - slowcall({duration})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::test_util::{get, run};

    #[test]
    fn formats_like_go_zero() {
        assert_eq!(Ms(Duration::from_micros(12_345)).to_string(), "12.3ms");
        assert_eq!(Ms(Duration::from_micros(12_351)).to_string(), "12.4ms");
        assert_eq!(Ms(Duration::from_micros(40)).to_string(), "0.0ms");
        assert_eq!(Ms(Duration::from_secs(3)).to_string(), "3000.0ms");
        let mut s = String::new();
        push_remote(&mut s, Some("10.0.0.255:8080".parse().unwrap()));
        push_remote(&mut s, Some("[::1]:80".parse().unwrap()));
        push_remote(&mut s, None);
        assert_eq!(s, "10.0.0.255:8080[::1]:80-");
        let mut s = String::new();
        push_uri(&mut s, &"/a/b?x=1&y=%20".parse().unwrap());
        push_uri(&mut s, &"http://h:1/p?q".parse().unwrap());
        assert_eq!(s, "/a/b?x=1&y=%20http://h:1/p?q");
    }

    #[test]
    fn verbose_headers_redact_credentials() {
        let mut h = http::HeaderMap::new();
        h.insert("x-a", "1".parse().unwrap());
        h.insert("authorization", "Bearer secret".parse().unwrap());
        let shown = Headers(&h).to_string();
        assert_eq!(shown, "x-a: 1; authorization: <redacted>");
    }

    #[tokio::test]
    async fn passes_the_response_through() {
        let (s, _, body) = run(
            AccessLog::new(Duration::ZERO),
            |_r| async { "hi" },
            get("/a"),
        )
        .await;
        assert_eq!((s.as_u16(), body.as_str()), (200, "hi"));
    }
}
