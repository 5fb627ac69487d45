//! One access-log line per request (go-zero's `[HTTP] code - method path - remote - agent`
//! with a `duration` field) and a `slowcall` warning past `Log.SlowThreshold`. With `Verbose`
//! a second line carries the request and response headers (credentials redacted), like
//! go-zero's detailed log handler (which also dumps bodies; this one does not buffer them).

use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use tracing::Level;

use super::{Refusal, Stage};
use crate::log::{Ms, line};

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

/// How the access line starts; the status goes in place of `000` once known.
const HEAD: &str = "[HTTP] 000 - ";
const STATUS: std::ops::Range<usize> = 7..10;
const _: () = assert!(HEAD.as_bytes()[STATUS.start] == b'0' && HEAD.as_bytes()[STATUS.end] == b' ');

/// What the access line needs from the request.
pub struct Seen {
    start: Instant,
    /// The line, `[HTTP] 000 - GET /path - remote - agent`, the status to be filled in. The
    /// request's parts are copied out at once: a clone of the method, URI or header would
    /// keep the connection's read buffer shared until the answer is done, and hyper would
    /// then copy it instead of reusing it in place.
    line: String,
    /// Where `GET /path` ends in `line`.
    target_end: usize,
    /// With `Verbose`: the request headers, written out.
    headers: Option<String>,
}

impl Stage for AccessLog {
    type Ticket = Seen;

    fn admit(&self, req: &mut Request, now: Instant) -> Result<Seen, Refusal> {
        let agent = crate::header::get(req.headers(), &http::header::USER_AGENT);
        let agent = agent.and_then(|v| v.to_str().ok()).unwrap_or("-");
        let path = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
        let mut line = line::buffer(HEAD.len() + 40 + path + agent.len());
        line.push_str(HEAD);
        line.push_str(req.method().as_str());
        line.push(' ');
        push_uri(&mut line, req.uri());
        let target_end = line.len();
        line.push_str(" - ");
        line::push_remote(&mut line, crate::peer::of(req.extensions()));
        line.push_str(" - ");
        line.push_str(agent);
        Ok(Seen {
            start: now,
            line,
            target_end,
            headers: self.verbose.then(|| Headers(req.headers()).to_string()),
        })
    }

    fn finish(&self, seen: Seen, resp: &mut Response, now: Instant) {
        let elapsed = now.duration_since(seen.start);
        let Seen {
            mut line,
            target_end,
            headers,
            ..
        } = seen;
        // `[HTTP] 200 - GET /path - remote - agent`: a status is three digits.
        let mut code = itoa::Buffer::new();
        let code = code.format(resp.status().as_u16());
        if code.len() == STATUS.len() {
            line.replace_range(STATUS, code);
        }
        // What the lines after the access line need, copied only when they are written.
        let details = headers.map(|h| (line[..target_end].to_owned(), h));
        let slow = (elapsed > self.slow).then(|| line.clone());
        // To the runtime's log output when it is installed, formatted by its writer thread
        // (skipping tracing's dispatch, for the one line every request writes); else through
        // tracing.
        static SITE: crate::log::Callsite = crate::log::Callsite::new(file!(), line!() + 1);
        if !crate::log::defer(Level::INFO, &SITE, &line, elapsed, now) {
            tracing::info!(target: "access", message = line.as_str(), duration = %Ms(elapsed));
        }
        line::recycle(line);
        if let Some((request, h)) = details {
            tracing::info!(
                target: "access",
                request_headers = h.as_str(),
                response_headers = %Headers(resp.headers()),
                "{request} - details"
            );
        }
        if let Some(line) = slow {
            let duration = Ms(elapsed).to_string();
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
        line::push_remote(&mut s, Some("10.0.0.255:8080".parse().unwrap()));
        line::push_remote(&mut s, Some("[::1]:80".parse().unwrap()));
        line::push_remote(&mut s, None);
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
