//! The REST server: route groups from the contract, the built-in middleware stack in a fixed
//! order, the dev server, and graceful shutdown.
//!
//! Stack, outermost first (each can be switched off under `Middlewares`):
//! recover → trace → access log → metrics → CORS → MaxConns → shedding (pro mode) →
//! breaker → MaxBytes → rate limit → JWT (routes with `jwt` or `jwtTransition`) → timeout →
//! gunzip → content-security signature (routes with `signature`) →
//! user middlewares (in the order the contract names them) → handler.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, Route};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Layer, Service, ServiceBuilder};

use crate::config::{LimitConf, Mode, RestConf, fold};
use crate::devserver::DevState;
use crate::error::Error;
pub use crate::lifecycle::Running;
use crate::lifecycle::SideListeners;
use crate::load::{CpuSource, Shedder};
use crate::metrics::Metrics;
use crate::middleware::{
    AccessLog, BreakerMiddleware, Cors, Gunzip, Jwt, MaxBytes, MaxConns, MetricsMiddleware,
    RateLimit, SharedLimit, SharedLimitLayer, Shedding, Signature, SignatureLayer, Slots, Stack,
    StackLayer, Timeout, Trace,
};

/// A user middleware of a group: wraps each of the group's routes in it.
type UserLayer = Arc<dyn Fn(MethodRouter) -> MethodRouter + Send + Sync>;

/// A route's handler as the group holds it until the server builds the route.
enum Endpoint {
    /// A method router: the stack wraps it as an axum layer (a second boxed route per call).
    Router(Box<MethodRouter>),
    /// A handler: given the stack, the route with the stack straight around the handler;
    /// given none, a plain method router (for routes with middlewares inside the stack).
    Handler(Box<dyn FnOnce(Option<StackLayer>) -> MethodRouter + Send>),
}

/// `RouteGroup::get(path, handler, state)` and its siblings, one per HTTP method.
macro_rules! method_routes {
    ($($name:ident => $filter:ident),* $(,)?) => {$(
        #[doc = concat!("Adds a `", stringify!($filter), "` route served by `handler` with `state` ",
            "(see [`RouteGroup::handle`]).")]
        pub fn $name<H, T, S>(self, path: &str, handler: H, state: S) -> Self
        where
            H: Handler<T, S>,
            T: 'static,
            S: Clone + Send + Sync + 'static,
        {
            self.handle(MethodFilter::$filter, path, handler, state)
        }
    )*};
}

/// Routes sharing the options of one `@server(...)` block of the contract.
#[must_use]
pub struct RouteGroup {
    prefix: String,
    jwt: Option<String>,
    jwt_transition: Option<String>,
    signature: bool,
    middlewares: Vec<UserLayer>,
    timeout: Option<Duration>,
    max_bytes: Option<u64>,
    limit: Option<LimitConf>,
    routes: Vec<(String, Endpoint)>,
}

impl Default for RouteGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteGroup {
    /// An empty group with the server's defaults.
    pub fn new() -> Self {
        RouteGroup {
            prefix: String::new(),
            jwt: None,
            jwt_transition: None,
            signature: false,
            middlewares: Vec::new(),
            timeout: None,
            max_bytes: None,
            limit: None,
            routes: Vec::new(),
        }
    }
    /// `prefix: /v1`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_owned();
        self
    }
    /// `jwt: AdminAuth`: require a valid HS256 token signed with the `AccessSecret` of the
    /// config section named (`AdminAuth.AccessSecret`; see [`RestConf::jwt_section`]). A
    /// missing section or secret stops the server from starting.
    pub fn jwt(mut self, section: &str) -> Self {
        self.jwt = Some(section.to_owned());
        self
    }
    /// `jwtTransition: AdminAuth`: like `jwt`, and during a secret rotation tokens signed with
    /// the section's `PrevSecret` are accepted as well as those signed with its
    /// `AccessSecret`. Implies `jwt`, and its section wins over the one `jwt` names, as
    /// go-zero's `WithJwtTransition` wins over `WithJwt`.
    pub fn jwt_transition(mut self, section: &str) -> Self {
        self.jwt_transition = Some(section.to_owned());
        self
    }
    /// `signature: true`: verify the `X-Content-Security` header with the `Signature`
    /// section's keys (go-zero's content security; see docs/runtime.md).
    pub fn signature(mut self, on: bool) -> Self {
        self.signature = on;
        self
    }
    /// `middleware: A, B`: a user middleware, any tower layer (generated route tables pass
    /// `axum::middleware::from_fn_with_state(svc.clone(), crate::middleware::a::handle)`, so
    /// a missing middleware is a compile error). Middlewares run in the order they are added,
    /// inside the built-in stack, right before the handler.
    pub fn middleware<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.middlewares
            .push(Arc::new(move |mr: MethodRouter| mr.layer(layer.clone())));
        self
    }
    /// `timeout: 5s`: overrides `Timeout` (zero disables).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// `maxBytes: 1024`: overrides `MaxBytes`.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = Some(n);
        self
    }
    /// A rate limit of its own for each route of the group (instead of the server's `Limit`).
    pub fn limit(mut self, period_secs: u64, quota: u64) -> Self {
        self.limit = Some(LimitConf {
            period: period_secs,
            quota,
            ..LimitConf::default()
        });
        self
    }
    /// Adds a route. `path` may use axum's `{id}` or go-zero's `:id`.
    pub fn route(mut self, path: &str, handler: MethodRouter) -> Self {
        self.routes
            .push((path.to_owned(), Endpoint::Router(Box::new(handler))));
        self
    }

    /// Adds a route for `method` served by `handler` with `state` (what generated code
    /// registers). Cheaper per request than [`RouteGroup::route`] with a method router:
    /// the stack wraps the handler itself instead of a boxed route around it.
    pub fn handle<H, T, S>(mut self, method: MethodFilter, path: &str, handler: H, state: S) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
        S: Clone + Send + Sync + 'static,
    {
        let build = move |stack: Option<StackLayer>| {
            let svc = handler.with_state(state);
            match stack {
                // The stack also wraps the method router's fallback (the 405 for other
                // methods), so that CORS answers a preflight (`OPTIONS`) to this path and
                // a 405 carries the CORS headers.
                Some(stack) => MethodRouter::new()
                    .layer(stack.clone())
                    .on_service(method, stack.layer(svc)),
                None => MethodRouter::new().on_service(method, svc),
            }
        };
        self.routes
            .push((path.to_owned(), Endpoint::Handler(Box::new(build))));
        self
    }

    method_routes! {
        get => GET, post => POST, put => PUT, delete => DELETE, patch => PATCH,
        head => HEAD, options => OPTIONS, trace => TRACE, connect => CONNECT,
    }
}

/// Rewrites each path parameter segment (go-zero's `:id` or axum's `{id}` / `{*rest}`) with
/// `param(name)`, `name` as written inside (`*rest` for a catch-all).
fn rewrite_params(path: &str, param: impl Fn(&str) -> String) -> String {
    path.split('/')
        .map(|seg| {
            let name = seg
                .strip_prefix(':')
                .or_else(|| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
            name.map_or_else(|| seg.to_owned(), &param)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The route as axum routes it (`/v1/trials/{id}`).
fn axum_path(prefix: &str, path: &str) -> String {
    let joined = format!("{prefix}/{}", path.trim_start_matches('/'));
    rewrite_params(&joined, |name| format!("{{{name}}}"))
}

/// The route as go-zero writes it (`/v1/trials/:id`), for metric labels: dashboards built
/// for go-zero services keep working.
fn go_zero_path(axum_path: &str) -> String {
    rewrite_params(axum_path, |name| {
        format!(":{}", name.trim_start_matches('*'))
    })
}

/// The server's `Limit` when per client or in Redis, and the `Limit.Routes` limits; a
/// section that cannot be used is a problem that stops `listen`.
#[allow(clippy::type_complexity)]
fn shared_limits(
    conf: &RestConf,
    metrics: &Arc<Metrics>,
    problems: &mut Vec<String>,
) -> (
    Option<SharedLimitLayer>,
    Vec<(String, Option<SharedLimitLayer>)>,
) {
    if !conf.middlewares.limit {
        return (None, Vec::new());
    }
    let mut build = |rule: &crate::config::LimitRule, path: &str| match SharedLimit::new(
        rule,
        Arc::from(path),
        metrics.clone(),
    ) {
        Ok(limit) => limit.map(SharedLimitLayer::new),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let server = conf.limit.rule();
    let shared = if server.shared() {
        build(&server, "*")
    } else {
        None
    };
    let routes = conf
        .limit
        .routes
        .iter()
        .map(|r| {
            let path = go_zero_path(&axum_path("", &r.path));
            let layer = build(&r.rule(), &path);
            (path, layer)
        })
        .collect();
    (shared, routes)
}

/// A REST service.
pub struct Server {
    conf: Arc<RestConf>,
    router: Router,
    metrics: Arc<Metrics>,
    slots: Arc<Slots>,
    shedder: Option<Arc<Shedder>>,
    limit: Option<RateLimit>,
    /// The server's `Limit` when it is per client or in Redis (then `limit` is `None`).
    shared_limit: Option<SharedLimitLayer>,
    /// `Limit.Routes`: each route's own limit, by go-zero path (`None`: quota 0, no limit).
    route_limits: Vec<(String, Option<SharedLimitLayer>)>,
    /// The `Signature` keys, loaded by the first group with `signature`.
    signature: Option<Option<Signature>>,
    /// The config sections route groups read their JWT keys from (not unknown keys).
    jwt_sections: Vec<String>,
    /// Config problems found while setting up and adding routes; `listen` refuses to start
    /// with them.
    problems: Vec<String>,
    ready: Arc<AtomicBool>,
}

impl Server {
    /// A server for `conf`; sets up logging and tracing once per process.
    pub fn new(conf: RestConf) -> Self {
        Self::with_cpu_source(conf, CpuSource::System)
    }

    /// Like [`Server::new`] with shedding reading CPU usage from `cpu` (for tests and drills).
    pub fn with_cpu_source(conf: RestConf, cpu: CpuSource) -> Self {
        // A log output that cannot be opened stops `listen`: no service runs without its logs.
        let mut problems: Vec<String> = crate::setup::init(&conf).err().into_iter().collect();
        let metrics = Arc::new(Metrics::new());
        let (shared_limit, route_limits) = shared_limits(&conf, &metrics, &mut problems);
        let shedder = (conf.mode == Mode::Pro && conf.middlewares.shedding)
            .then(|| Arc::new(Shedder::new(conf.cpu_threshold, cpu)));
        let limit = if conf.middlewares.limit && !conf.limit.rule().shared() {
            RateLimit::new(
                Duration::from_secs(conf.limit.period),
                conf.limit.quota,
                metrics.clone(),
                Arc::from("*"),
            )
        } else {
            None
        };
        let mut router = Router::new().fallback(|| async { Error::NotFound("not found".into()) });
        if conf.max_bytes > 2 * 1024 * 1024 {
            // axum's own 2 MiB extractor limit must not undercut `MaxBytes`.
            router = router.layer(DefaultBodyLimit::disable());
        }
        Server {
            slots: Slots::new(conf.max_conns.max(1)),
            conf: Arc::new(conf),
            router,
            metrics,
            shedder,
            limit,
            shared_limit,
            route_limits,
            signature: None,
            jwt_sections: Vec::new(),
            problems,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The config the server runs with.
    pub fn conf(&self) -> &RestConf {
        &self.conf
    }

    /// The server's metrics (rendered on the dev server's `/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Adds a group of routes with its options.
    ///
    /// # Panics
    /// When a route conflicts with another (a mistake in generated or hand-written setup
    /// code, found at startup), or when the group has `signature` and a
    /// `Signature.PrivateKeys` file cannot be loaded (the message names the key) or
    /// `Signature.Strict` has no keys.
    ///
    /// A group with `jwt` whose section or `AccessSecret` is missing (or too short) does not
    /// panic: its routes refuse every token, and [`Server::listen`] returns the error.
    pub fn add_routes(&mut self, mut group: RouteGroup) -> &mut Self {
        if group.signature && self.signature.is_none() {
            match Signature::from_conf(&self.conf.signature) {
                Ok(sig) => self.signature = Some(sig),
                Err(e) => panic!("{e}"),
            }
        }
        let jwt = self.jwt(&group);
        for (path, endpoint) in std::mem::take(&mut group.routes) {
            let full = axum_path(&group.prefix, &path);
            let stacked = self.stack(&full, &group, jwt.clone(), endpoint);
            let router = std::mem::take(&mut self.router);
            self.router = router.route(&full, stacked);
        }
        self
    }

    /// The JWT check of a group with `jwt` or `jwtTransition`, from the section it names;
    /// when that section is unusable, one that refuses every token, and the problem is kept
    /// for `listen`.
    fn jwt(&mut self, g: &RouteGroup) -> Option<Jwt> {
        let section = g.jwt_transition.as_deref().or(g.jwt.as_deref())?;
        self.jwt_sections.push(section.to_owned());
        match self.conf.jwt_section(section) {
            Ok(auth) => {
                let prev = if g.jwt_transition.is_some() {
                    auth.prev_secret.as_str()
                } else {
                    ""
                };
                Some(Jwt::transition(&auth.access_secret, prev))
            }
            Err(problem) => {
                if !self.problems.contains(&problem) {
                    self.problems.push(problem);
                }
                Some(Jwt::refuse_all())
            }
        }
    }

    /// The unknown config keys worth a warning: those no route group reads either.
    fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        let read: Vec<String> = self.jwt_sections.iter().map(|s| fold(s)).collect();
        self.conf
            .unknown_keys
            .iter()
            .map(String::as_str)
            .filter(move |key| {
                let top = key.split(['.', '[']).next().unwrap_or(key);
                !read.contains(&fold(top))
            })
    }

    /// The route at `full` with its stack, the group's signature check and middlewares.
    fn stack(
        &self,
        full: &str,
        g: &RouteGroup,
        jwt: Option<Jwt>,
        endpoint: Endpoint,
    ) -> MethodRouter {
        let stack = StackLayer::new(self.built_ins(full, g, jwt));
        let signature = self
            .signature
            .as_ref()
            .and_then(Option::as_ref)
            .filter(|_| g.signature)
            .map(|s| SignatureLayer(s.clone()));
        let shared_limit = match self.route_limit(full) {
            Some(layer) => layer.clone(),
            None if g.limit.is_some() => None,
            None => self.shared_limit.clone(),
        };
        let mut mr = match endpoint {
            Endpoint::Handler(build)
                if signature.is_none() && shared_limit.is_none() && g.middlewares.is_empty() =>
            {
                return build(Some(stack));
            }
            Endpoint::Handler(build) => build(None),
            Endpoint::Router(mr) => *mr,
        };
        // The last layer applied runs first: the contract's first middleware is outermost.
        for layer in g.middlewares.iter().rev() {
            mr = layer(mr);
        }
        let layers = ServiceBuilder::new()
            .layer(stack)
            .option_layer(shared_limit)
            .option_layer(signature);
        mr.layer(layers.into_inner())
    }

    /// The `Limit.Routes` entry of the route at `full` (axum form), if any.
    fn route_limit(&self, full: &str) -> Option<&Option<SharedLimitLayer>> {
        let path = go_zero_path(full);
        self.route_limits
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, l)| l)
    }

    /// The built-in middlewares of the route at `full`, as configured.
    fn built_ins(&self, full: &str, g: &RouteGroup, jwt: Option<Jwt>) -> Stack {
        let c = &self.conf;
        let on = c.middlewares;
        let path: Arc<str> = Arc::from(go_zero_path(full));
        let timeout = g.timeout.unwrap_or(Duration::from_millis(c.timeout));
        let max_bytes = g.max_bytes.unwrap_or(c.max_bytes);
        let limit = match &g.limit {
            Some(l) => RateLimit::new(
                Duration::from_secs(l.period),
                l.quota,
                self.metrics.clone(),
                path.clone(),
            ),
            None => self.limit.clone(),
        }
        // `Limit.Routes` (or a shared server-wide limit) is a layer instead (`stack`).
        .filter(|_| self.route_limit(full).is_none());
        Stack {
            recover: on.recover,
            trace: on.trace.then(|| Trace::new(full)),
            log: on.log.then(|| {
                AccessLog::new(Duration::from_millis(c.log.slow_threshold)).verbose(c.verbose)
            }),
            metrics: on
                .prometheus
                .then(|| MetricsMiddleware::new(self.metrics.clone(), path.clone())),
            cors: on.cors.then(|| Cors::new(&c.cors.allow_origins)),
            max_conns: (on.max_conns && c.max_conns > 0)
                .then(|| MaxConns::new(self.slots.clone(), self.metrics.clone(), path.clone())),
            shedding: self
                .shedder
                .as_ref()
                .map(|s| Shedding::new(s.clone(), self.metrics.clone(), path.clone())),
            breaker: on
                .breaker
                .then(|| BreakerMiddleware::new(self.metrics.clone(), path.clone())),
            timeout: (on.timeout && !timeout.is_zero()).then_some(Timeout(timeout)),
            max_bytes: on.max_bytes.then_some(MaxBytes(max_bytes)),
            gunzip: on.gunzip.then(|| Gunzip::new(max_bytes)),
            limit: limit.filter(|_| on.limit),
            jwt,
        }
    }

    /// The router with every route and its stack, for in-process tests (`oneshot`).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Binds the listeners and starts serving; returns a handle to stop it.
    ///
    /// # Errors
    /// Binding fails, or a config problem found while setting up (a log output that cannot be
    /// opened) or adding routes (a `jwt` section without a usable `AccessSecret`): the message
    /// names the key (`Log.Path`, the section's `AccessSecret`).
    pub async fn listen(self) -> std::io::Result<Running> {
        if !self.problems.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("config: {}", self.problems.join("; ")),
            ));
        }
        for key in self.unknown_keys() {
            tracing::warn!(key = %key, "unknown config key ignored");
        }
        let c = self.conf.clone();
        let port = c.port.unwrap_or(0);
        let listener = TcpListener::bind((c.host.as_str(), port)).await?;
        let addr = listener.local_addr()?;
        let dev_state = DevState {
            ready: self.ready.clone(),
            metrics: self.metrics.clone(),
        };
        let side = SideListeners::start(&c.dev_server, &c.prometheus, dev_state).await?;
        let dev_addr = side.dev_addr;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let limits = crate::conn::Limits::of(&c);
        let serve = crate::conn::serve(listener, self.router, limits, drain_rx);
        let mut serve_task = tokio::spawn(serve);
        let ready = self.ready.clone();
        ready.store(true, Ordering::Relaxed);
        tracing::info!(%addr, ?dev_addr, "Starting server at {addr}");
        let task = tokio::spawn(async move {
            // Wait for a stop request (or for the server to end by itself).
            tokio::select! {
                _ = stop_rx.wait_for(|s| *s) => {}
                res = &mut serve_task => {
                    return res.map_err(std::io::Error::other).and_then(|r| r);
                }
            }
            ready.store(false, Ordering::Relaxed);
            crate::lifecycle::drain(&c.shutdown, drain_tx, &mut serve_task, side.tasks, "server")
                .await
        });
        Ok(Running {
            addr,
            dev_addr,
            stop: stop_tx,
            task,
        })
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully and flushes logs and spans.
    pub async fn start(self) -> std::io::Result<()> {
        self.listen().await?.until_signal().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_paths_become_axum_paths() {
        assert_eq!(axum_path("/v1", "/users/:id"), "/v1/users/{id}");
        assert_eq!(axum_path("", "/users/{id}/x"), "/users/{id}/x");
        assert_eq!(axum_path("", "/"), "/");
    }

    #[test]
    fn sections_read_by_jwt_groups_are_not_unknown_keys() {
        let text = "Name: a\nPort: 0\nAdminAuth:\n  AccessSecret: adm1n-s3cret\n\
                    Typo: 1\nAdminAuthX:\n  AccessSecret: x\nLog:\n  Levle: info\n";
        let (mut conf, unknown) = crate::config::from_str::<RestConf>(text, "a.yaml").unwrap();
        assert_eq!(unknown, ["AdminAuth", "AdminAuthX", "Typo", "Log.Levle"]);
        conf.unknown_keys = unknown;
        let mut server = Server::new(conf);
        assert_eq!(
            server.unknown_keys().count(),
            4,
            "no group reads AdminAuth yet"
        );
        server.add_routes(
            RouteGroup::new()
                .jwt("admin_auth")
                .route("/me", axum::routing::get(|| async { "me" })),
        );
        assert!(server.problems.is_empty(), "{:?}", server.problems);
        let unknown: Vec<&str> = server.unknown_keys().collect();
        assert_eq!(unknown, ["AdminAuthX", "Typo", "Log.Levle"]);
    }

    #[test]
    fn metric_labels_use_go_zero_paths() {
        assert_eq!(go_zero_path("/v1/users/{id}/x"), "/v1/users/:id/x");
        assert_eq!(go_zero_path("/files/{*rest}"), "/files/:rest");
        assert_eq!(go_zero_path("/"), "/");
    }
}
