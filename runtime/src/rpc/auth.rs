//! go-zero's RPC app-key auth (`Auth: true`): every call carries `app` and `token` metadata,
//! and the token must equal the field `app` of the Redis hash `Redis.Key`. Tokens found are
//! kept in a local cache for about 5 minutes (go-zero's `collection.Cache` of the
//! authenticator), so Redis sees one `HGET` per app and replica every few minutes.
//!
//! Answers, as go-zero's `Authenticator`:
//! - `app` or `token` missing or empty: UNAUTHENTICATED "app/token required";
//! - a token that is not the one in the hash: UNAUTHENTICATED "access denied";
//! - Redis unreachable or failing: INTERNAL with the error under `StrictControl: true`,
//!   otherwise the call is let through (and a warning logged).
//!
//! One deliberate difference: an app that is not in the hash at all is UNAUTHENTICATED
//! ("access denied") in both modes; go-zero reads Redis' nil reply as an error there, so
//! without `StrictControl` it lets unknown apps in.
//!
//! The client side is `RpcClientConf.{App,Token}`, sent as this metadata on every call.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use super::conf::RedisKeyConf;
use super::intercept::status_response;
use super::intercept::{CallFuture, Intercept, RpcRequest, RpcResponse, done};
use crate::redis_conn::Redis;

/// Metadata keys (go-zero's `appKey`, `tokenKey`).
pub(crate) const APP_KEY: &str = "app";
pub(crate) const TOKEN_KEY: &str = "token";
const MISSING_METADATA: &str = "app/token required";
const ACCESS_DENIED: &str = "access denied";

/// How long a token read from Redis is trusted (go-zero's `defaultExpiration`), spread by
/// ±5 % so entries don't all expire together (as go-zero's cache does).
const CACHE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Calls to these services skip auth so health probes (which send no metadata) keep working.
const EXEMPT: &[&str] = &["/grpc.health.v1.Health/"];

/// Checks `app`/`token` against the hash `key` (go-zero's `auth.Authenticator`).
pub(crate) struct Authenticator {
    redis: Redis,
    key: String,
    strict: bool,
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("key", &self.key)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Prepares the authenticator for `conf` without connecting (go-zero's `NonBlock`): the
    /// connection is made by the first call and remade after failures.
    pub(crate) fn new(conf: &RedisKeyConf, strict: bool) -> Result<Self, String> {
        Ok(Authenticator {
            redis: Redis::new(conf)?,
            key: conf.key.clone(),
            strict,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// `HGET key app`.
    async fn fetch(&self, app: &str) -> redis::RedisResult<Option<String>> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(&self.key).arg(app);
        self.redis.query(&cmd).await
    }

    fn cached(&self, app: &str) -> Option<String> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(app) {
            Some((token, until)) if *until > Instant::now() => Some(token.clone()),
            Some(_) => {
                cache.remove(app);
                None
            }
            None => None,
        }
    }

    fn remember(&self, app: &str, token: &str) {
        let expiry = CACHE_EXPIRY.mul_f64(0.95 + 0.1 * fastrand::f64());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(app.to_owned(), (token.to_owned(), Instant::now() + expiry));
    }

    /// Checks the credentials of one call (`None`: missing or empty metadata).
    pub(crate) async fn authenticate(
        &self,
        creds: Option<(String, String)>,
    ) -> Result<(), tonic::Status> {
        let Some((app, token)) = creds else {
            return Err(tonic::Status::unauthenticated(MISSING_METADATA));
        };
        let expect = match self.cached(&app) {
            Some(t) => t,
            None => match self.fetch(&app).await {
                Ok(Some(t)) => {
                    self.remember(&app, &t);
                    t
                }
                Ok(None) => return Err(tonic::Status::unauthenticated(ACCESS_DENIED)),
                Err(e) if self.strict => return Err(tonic::Status::internal(e.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, app = %app, "rpc auth: Redis failed; call let through (StrictControl is off)");
                    return Ok(());
                }
            },
        };
        if same_token(&expect, &token) {
            Ok(())
        } else {
            Err(tonic::Status::unauthenticated(ACCESS_DENIED))
        }
    }
}

/// Whether the token sent is the one stored, in time that does not depend on where the two
/// differ (`==` stops at the first wrong byte, telling a guesser how much of a guess is right).
/// Only the length may show, as with every constant-time comparison.
fn same_token(expect: &str, given: &str) -> bool {
    expect.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The first `app` and `token` values, both non-empty (go-zero's `ParseCredential`).
pub(crate) fn credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Some((get(APP_KEY)?, get(TOKEN_KEY)?))
}

/// The auth interceptor, innermost (after timeout), where go-zero adds it.
#[derive(Clone, Debug)]
pub(crate) struct Auth(pub(crate) Arc<Authenticator>);

impl Intercept for Auth {
    fn intercept<F>(&self, req: RpcRequest, next: impl FnOnce(RpcRequest) -> F) -> CallFuture
    where
        F: Future<Output = Result<RpcResponse, Infallible>> + Send + 'static,
    {
        if EXEMPT.iter().any(|p| req.uri().path().starts_with(p)) {
            let fut = next(req);
            return Box::pin(async move { done(fut.await) });
        }
        let creds = credentials(req.headers());
        // `next` only builds the inner future (services start work when polled), so a refused
        // call drops it unpolled: the handler never runs.
        let fut = next(req);
        let auth = self.0.clone();
        Box::pin(async move {
            match auth.authenticate(creds).await {
                Ok(()) => done(fut.await),
                Err(status) => status_response(status),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};

    use tonic::body::Body;
    use tonic::server::NamedService;
    use tonic::{Code, Status};
    use tonic_prost::ProstCodec;
    use tower::Service;

    use super::*;
    use crate::config::{DevServerConf, Mode, ShutdownConf};
    use crate::rpc::{RpcClient, RpcClientConf, RpcServer, RpcServerConf, RunningRpc};

    const REDIS: &str = "127.0.0.1:6379";

    /// Fails (never skips) when no Redis answers: these tests are about the real server.
    fn redis() -> redis::Connection {
        let hint = format!(
            "the RPC auth tests need a Redis server at {REDIS}; start one with \
             `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" \
             --appendonly no` (`bash .ci/run` installs and starts it)"
        );
        let client = redis::Client::open(format!("redis://{REDIS}")).unwrap();
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("{hint}: {e}"));
        let pong: String = redis::cmd("PING")
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("{hint}: {e}"));
        assert_eq!(pong, "PONG", "{hint}");
        conn
    }

    /// A test-unique hash of app → token, deleted when dropped (also on a failing test).
    struct Hash {
        key: String,
    }

    impl Hash {
        fn new(name: &str, apps: &[(&str, &str)]) -> Self {
            let key = format!("rustctl:test:rpc-auth:{}:{name}", std::process::id());
            let mut conn = redis();
            let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
            for (app, token) in apps {
                let _: () = redis::cmd("HSET")
                    .arg(&key)
                    .arg(app)
                    .arg(token)
                    .query(&mut conn)
                    .unwrap();
            }
            Hash { key }
        }

        fn set(&self, app: &str, token: &str) {
            let _: () = redis::cmd("HSET")
                .arg(&self.key)
                .arg(app)
                .arg(token)
                .query(&mut redis())
                .unwrap();
        }

        fn conf(&self) -> RedisKeyConf {
            RedisKeyConf {
                host: REDIS.into(),
                key: self.key.clone(),
                ..RedisKeyConf::default()
            }
        }
    }

    impl Drop for Hash {
        fn drop(&mut self) {
            if let Ok(client) = redis::Client::open(format!("redis://{REDIS}"))
                && let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2))
            {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&self.key).query(&mut conn);
            }
        }
    }

    /// `test.Auth/Ping(()) returns (())`, counting the calls that reach it.
    #[derive(Clone, Default)]
    struct Ping(Arc<AtomicUsize>);

    impl NamedService for Ping {
        const NAME: &'static str = "test.Auth";
    }

    struct PingMethod;

    impl tonic::server::UnaryService<()> for PingMethod {
        type Response = ();
        type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<()>, Status>> + Send>>;
        fn call(&mut self, _req: tonic::Request<()>) -> Self::Future {
            Box::pin(async { Ok(tonic::Response::new(())) })
        }
    }

    impl Service<http::Request<Body>> for Ping {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future =
            Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<Body>) -> Self::Future {
            let calls = self.0.clone();
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<(), ()>::default());
                Ok(grpc.unary(PingMethod, req).await)
            })
        }
    }

    async fn serve(hash: &Hash, strict: bool, ping: Ping) -> RunningRpc {
        let conf = RpcServerConf {
            name: "auth.rpc".into(),
            listen_on: "127.0.0.1:0".into(),
            mode: Mode::Dev,
            auth: true,
            redis: hash.conf(),
            strict_control: strict,
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
        let mut server = RpcServer::new(conf);
        server.add_service(ping);
        server.listen().await.unwrap()
    }

    async fn client(running: &RunningRpc, app: &str, token: &str) -> RpcClient {
        let conf = RpcClientConf {
            app: app.into(),
            token: token.into(),
            ..RpcClientConf::endpoints([running.addr().to_string()])
        };
        RpcClient::connect(&conf).await.unwrap()
    }

    /// Calls `/test.Auth/Ping` with `metadata` added to the request.
    async fn ping(client: &RpcClient, metadata: &[(&'static str, &str)]) -> Result<(), Status> {
        let mut grpc = tonic::client::Grpc::new(client.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        let mut req = tonic::Request::new(());
        for (k, v) in metadata {
            req.metadata_mut().insert(*k, v.parse().unwrap());
        }
        let path = http::uri::PathAndQuery::from_static("/test.Auth/Ping");
        grpc.unary(req, path, ProstCodec::<(), ()>::default())
            .await
            .map(tonic::Response::into_inner)
    }

    #[tokio::test]
    async fn server_checks_app_and_token_against_the_redis_hash() {
        let hash = Hash::new("server", &[("gateway", "s3cret")]);
        let handler = Ping::default();
        let running = serve(&hash, false, handler.clone()).await;
        let bare = client(&running, "", "").await;

        ping(&bare, &[("app", "gateway"), ("token", "s3cret")])
            .await
            .expect("the app's token passes");

        let wrong = ping(&bare, &[("app", "gateway"), ("token", "guess")])
            .await
            .unwrap_err();
        assert_eq!(
            (wrong.code(), wrong.message()),
            (Code::Unauthenticated, "access denied")
        );

        let unknown = ping(&bare, &[("app", "stranger"), ("token", "s3cret")])
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::Unauthenticated);

        for md in [
            &[][..],
            &[("app", "gateway")][..],
            &[("token", "s3cret")][..],
            &[("app", ""), ("token", "s3cret")][..],
        ] {
            let missing = ping(&bare, md).await.unwrap_err();
            assert_eq!(
                (missing.code(), missing.message()),
                (Code::Unauthenticated, "app/token required"),
                "metadata {md:?}"
            );
        }
        assert_eq!(
            handler.0.load(Ordering::SeqCst),
            1,
            "refused calls never reach the handler"
        );

        // Health probes carry no credentials and still answer.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let health = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await;
        assert!(health.is_ok(), "{health:?}");

        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn client_sends_app_and_token_from_its_conf() {
        let hash = Hash::new("client", &[("gateway", "s3cret")]);
        let running = serve(&hash, true, Ping::default()).await;

        let good = client(&running, "gateway", "s3cret").await;
        for _ in 0..3 {
            ping(&good, &[])
                .await
                .expect("conf credentials are sent on every call");
        }
        let bad = client(&running, "gateway", "nope").await;
        assert_eq!(
            ping(&bad, &[]).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        // Metadata the caller set wins over the conf's.
        ping(&bad, &[("token", "s3cret")]).await.unwrap();

        running.shutdown();
        running.wait().await.unwrap();
    }

    #[tokio::test]
    async fn tokens_are_cached_and_redis_failures_follow_strict_control() {
        let hash = Hash::new("cache", &[("gateway", "old")]);
        let auth = Authenticator::new(&hash.conf(), true).unwrap();
        let creds = |t: &str| Some(("gateway".to_owned(), t.to_owned()));
        auth.authenticate(creds("old")).await.unwrap();
        // The hash changes; the cached token is trusted until it expires (about 5 minutes).
        hash.set("gateway", "new");
        auth.authenticate(creds("old")).await.unwrap();
        assert_eq!(
            auth.authenticate(creds("new")).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        // A fresh authenticator (another replica, or after expiry) reads the new token.
        let fresh = Authenticator::new(&hash.conf(), true).unwrap();
        fresh.authenticate(creds("new")).await.unwrap();

        // Redis unreachable: INTERNAL when strict, let through otherwise.
        let down = RedisKeyConf {
            host: "127.0.0.1:1".into(),
            ..hash.conf()
        };
        let strict = Authenticator::new(&down, true).unwrap();
        assert_eq!(
            strict.authenticate(creds("x")).await.unwrap_err().code(),
            Code::Internal
        );
        let lenient = Authenticator::new(&down, false).unwrap();
        lenient.authenticate(creds("x")).await.unwrap();
        // Missing metadata is refused even then.
        assert_eq!(
            lenient.authenticate(None).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn token_comparison_takes_as_long_wherever_the_tokens_differ() {
        // With `==` a guess that is wrong in its first byte is refused at once and one wrong
        // only in its last byte after reading the whole token: the time leaks how much of a
        // guess is right. Long tokens make that difference far larger than timer noise.
        let expect = "t".repeat(1 << 20);
        let wrong_first = format!("x{}", &expect[1..]);
        let wrong_last = format!("{}x", &expect[..expect.len() - 1]);
        let fastest = |given: &str| {
            (0..15)
                .map(|_| {
                    let start = Instant::now();
                    assert!(!same_token(std::hint::black_box(&expect), given));
                    start.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let (first, last) = (fastest(&wrong_first), fastest(&wrong_last));
        assert!(
            first * 4 > last,
            "a guess wrong in its first byte is refused in {first:?}, one wrong in its last \
             byte in {last:?}: the comparison is not constant-time"
        );
        assert!(same_token(&expect, &expect.clone()));
        assert!(!same_token(&expect, &expect[1..]));
        assert!(!same_token("", "x"));
    }

    #[test]
    fn redis_conf_checks() {
        let ok = RedisKeyConf {
            host: "127.0.0.1:6379".into(),
            key: "apps".into(),
            ..RedisKeyConf::default()
        };
        assert!(Authenticator::new(&ok, false).is_ok());
        let no_key = RedisKeyConf {
            key: String::new(),
            ..ok.clone()
        };
        assert!(
            Authenticator::new(&no_key, false)
                .unwrap_err()
                .contains("Key")
        );
        let bad_type = RedisKeyConf {
            r#type: "sentinel".into(),
            ..ok.clone()
        };
        assert!(
            Authenticator::new(&bad_type, false)
                .unwrap_err()
                .contains("Type")
        );
        let mut headers = http::HeaderMap::new();
        headers.insert("app", "a".parse().unwrap());
        assert_eq!(credentials(&headers), None);
        headers.insert("token", "t".parse().unwrap());
        assert_eq!(credentials(&headers), Some(("a".into(), "t".into())));
    }
}
