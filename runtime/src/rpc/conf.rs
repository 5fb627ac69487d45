//! The RPC server's and client's config keys, named as in go-zero's `zrpc.RpcServerConf` and
//! `zrpc.RpcClientConf`, loaded with the same case-insensitive loader as the REST config.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{
    self, ConfigError, DevServerConf, LogConf, Mode, PrometheusConf, RestConf, ShutdownConf,
    TelemetryConf, Validate, millis,
};
use crate::rules::check_range;

/// Accepts milliseconds as a number (`2000`) or a duration string (`2s`, `500ms`, `1m`).
/// The keys an RPC service reads (go-zero's `RpcServerConf`); load it with [`load_service`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RpcServerConf {
    /// Service name (required); used in logs, metrics and traces.
    pub name: String,
    /// `host:port` to listen on, default `0.0.0.0:8080` (port `0`: any free port).
    pub listen_on: String,
    /// Per-call timeout in ms (default 2000, 0 disables); a smaller `grpc-timeout` sent by the
    /// client wins.
    #[serde(deserialize_with = "millis")]
    pub timeout: u64,
    /// Per-method timeouts overriding `Timeout` (go-zero's `MethodTimeouts`).
    pub method_timeouts: Vec<MethodTimeoutConf>,
    /// CPU usage (per mille) above which shedding starts (default 900, range `[0:1000]`).
    pub cpu_threshold: u64,
    /// `dev`, `test` or `pro` (default); shedding only runs in `pro`.
    pub mode: Mode,
    /// Logging.
    pub log: LogConf,
    /// A separate Prometheus listener; `/metrics` is on the dev server too.
    pub prometheus: PrometheusConf,
    /// OpenTelemetry tracing.
    pub telemetry: TelemetryConf,
    /// Dev server: health, metrics, pprof.
    pub dev_server: DevServerConf,
    /// Register the gRPC health service (default true).
    pub health: bool,
    /// go-zero's app-key auth: calls must carry `app` and `token` metadata matching the
    /// `Redis.Key` hash (see `docs/runtime.md`, RPC).
    pub auth: bool,
    /// Where `Auth` reads tokens: `Host`, `Type`, `User`, `Pass`, `Key` (the app → token hash).
    pub redis: RedisKeyConf,
    /// With `Auth`: answer INTERNAL when Redis fails (default false: let the call through).
    pub strict_control: bool,
    /// Registration in etcd (`Hosts`, `Key`): the server publishes its address under
    /// `Key/<lease id>` while it serves (see `docs/runtime.md`, Discovery).
    pub etcd: EtcdConf,
    /// Graceful shutdown timings.
    pub shutdown: ShutdownConf,
    /// On/off switches for the built-in interceptors.
    pub middlewares: RpcMiddlewaresConf,
    /// Keys in the file that no struct knows (filled by the loader, logged by the server).
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
}

impl Default for RpcServerConf {
    fn default() -> Self {
        RpcServerConf {
            name: String::new(),
            listen_on: "0.0.0.0:8080".into(),
            timeout: 2000,
            method_timeouts: Vec::new(),
            cpu_threshold: 900,
            mode: Mode::Pro,
            log: LogConf::default(),
            prometheus: PrometheusConf::default(),
            telemetry: TelemetryConf::default(),
            dev_server: DevServerConf::default(),
            health: true,
            auth: false,
            redis: RedisKeyConf::default(),
            strict_control: false,
            etcd: EtcdConf::default(),
            shutdown: ShutdownConf::default(),
            middlewares: RpcMiddlewaresConf::default(),
            unknown_keys: Vec::new(),
        }
    }
}

impl RpcServerConf {
    /// The REST config holding the keys process setup (logging, tracing) reads.
    pub(crate) fn setup_conf(&self) -> RestConf {
        RestConf {
            name: self.name.clone(),
            log: self.log.clone(),
            telemetry: self.telemetry.clone(),
            ..RestConf::default()
        }
    }
}

impl Validate for RpcServerConf {
    fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() {
            errs.push(("Name".into(), "required key is missing".into()));
        }
        if split_host_port(&self.listen_on).is_none() {
            errs.push((
                "ListenOn".into(),
                format!("`{}` is not host:port", self.listen_on),
            ));
        }
        errs.extend(check_range(
            "CpuThreshold",
            self.cpu_threshold as f64,
            "[0:1000]",
        ));
        errs.extend(check_range(
            "Telemetry.Sampler",
            self.telemetry.sampler,
            "[0:1]",
        ));
        if !self.etcd.hosts.is_empty()
            && let Some(problem) = self.etcd.problem()
        {
            errs.push(("Etcd".into(), problem));
        }
        if self.auth
            && let Some(problem) = self.redis.problem()
        {
            errs.push((
                "Redis".into(),
                format!("{problem} (required by `Auth: true`)"),
            ));
        }
        errs
    }
}

/// go-zero's `redis.RedisKeyConf`: a Redis server and a key on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RedisKeyConf {
    /// `host:port` (port 6379 when left out); `Type: cluster`: comma-separated nodes.
    pub host: String,
    /// `node` (default) or `cluster`.
    pub r#type: String,
    /// ACL user (optional).
    pub user: String,
    /// Password (optional).
    pub pass: String,
    /// The key (for `Auth`: the hash of app → token).
    pub key: String,
}

impl Default for RedisKeyConf {
    fn default() -> Self {
        RedisKeyConf {
            host: String::new(),
            r#type: "node".into(),
            user: String::new(),
            pass: String::new(),
            key: String::new(),
        }
    }
}

impl RedisKeyConf {
    /// What makes the section unusable, as go-zero's `RedisKeyConf.Validate` checks it.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.host.trim().is_empty() {
            Some("Redis.Host is empty".into())
        } else if !["node", "cluster"].contains(&self.r#type.to_ascii_lowercase().as_str()) {
            Some(format!(
                "Redis.Type `{}` is not node or cluster",
                self.r#type
            ))
        } else if self.key.is_empty() {
            Some("Redis.Key is empty".into())
        } else {
            None
        }
    }
}

/// One entry of `MethodTimeouts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MethodTimeoutConf {
    /// `/package.Service/Method`.
    pub full_method: String,
    /// Timeout in ms (or `500ms`, `3s`); 0 disables for this method.
    #[serde(deserialize_with = "millis")]
    pub timeout: u64,
}

/// Splits `host:port` (`[::1]:80`, `:8080` meaning all interfaces).
pub(crate) fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.trim().rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Some((host.to_owned(), port))
}

/// `Middlewares` section of the RPC server: every built-in interceptor can be switched off.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RpcMiddlewaresConf {
    /// Span per call, W3C `traceparent` from metadata.
    pub trace: bool,
    /// Panic recovery.
    pub recover: bool,
    /// Access log (go-zero calls it `Stat`; both keys are read).
    pub log: bool,
    /// go-zero's name for the access log.
    pub stat: bool,
    /// Prometheus metrics.
    pub prometheus: bool,
    /// Per-method circuit breaker.
    pub breaker: bool,
    /// Load shedding (pro mode only).
    pub shedding: bool,
    /// Per-call timeout.
    pub timeout: bool,
}

impl Default for RpcMiddlewaresConf {
    fn default() -> Self {
        RpcMiddlewaresConf {
            trace: true,
            recover: true,
            log: true,
            stat: true,
            prometheus: true,
            breaker: true,
            shedding: true,
            timeout: true,
        }
    }
}

/// How to reach an RPC service (go-zero's `RpcClientConf`), usually a section of the caller's
/// config: `TrialRpc: { Endpoints: [127.0.0.1:8080] }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RpcClientConf {
    /// Direct connections: `host:port` or `http://host:port`; calls are balanced across them.
    pub endpoints: Vec<String>,
    /// Instead of `Endpoints`: `host:port`, `dns:///host:port`, `k8s://namespace/service:port`,
    /// `etcd://host1,host2/key`, or a scheme a registered resolver serves (see
    /// [`super::register_resolver`]).
    pub target: Option<String>,
    /// go-zero's discovery section (`Hosts`, `Key`, `User`, `Pass`): the replicas registered
    /// under `Key` in that etcd, followed as they come and go.
    pub etcd: EtcdConf,
    /// Per-call timeout in ms (default 2000, 0 disables); a smaller deadline set on the
    /// request wins.
    #[serde(deserialize_with = "millis")]
    pub timeout: u64,
    /// Don't fail startup when no server answers yet (default true): connect lazily.
    pub non_block: bool,
    /// HTTP/2 keepalive ping interval in ms (0, the default, sends none).
    #[serde(deserialize_with = "millis")]
    pub keepalive_time: u64,
    /// With `Token`: sent as `app` metadata on every call (for a server with `Auth: true`).
    pub app: String,
    /// With `App`: sent as `token` metadata on every call.
    pub token: String,
    /// On/off switches for the client's interceptors.
    pub middlewares: RpcClientMiddlewaresConf,
}

/// `Middlewares` of a client (go-zero's `ClientMiddlewaresConf`); all default on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RpcClientMiddlewaresConf {
    /// Propagate `traceparent` (and make a client span when exporting).
    pub trace: bool,
    /// Log calls slower than 500 ms as `slowcall` warnings.
    pub duration: bool,
    /// `rpc_client_*` metrics.
    pub prometheus: bool,
    /// Per-method client-side breaker.
    pub breaker: bool,
    /// Apply `Timeout` (a deadline set on the request still applies when off).
    pub timeout: bool,
}

impl Default for RpcClientMiddlewaresConf {
    fn default() -> Self {
        RpcClientMiddlewaresConf {
            trace: true,
            duration: true,
            prometheus: true,
            breaker: true,
            timeout: true,
        }
    }
}

impl Default for RpcClientConf {
    fn default() -> Self {
        RpcClientConf {
            endpoints: Vec::new(),
            target: None,
            etcd: EtcdConf::default(),
            timeout: 2000,
            non_block: true,
            keepalive_time: 0,
            app: String::new(),
            token: String::new(),
            middlewares: RpcClientMiddlewaresConf::default(),
        }
    }
}

impl RpcClientConf {
    /// A config for direct connections to `endpoints`, with the defaults otherwise.
    pub fn endpoints<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RpcClientConf {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..RpcClientConf::default()
        }
    }
}

impl RpcClientConf {
    /// Where calls go when `Endpoints` is empty: `Target`, else the `Etcd` section as
    /// `etcd://hosts/key`.
    pub fn target(&self) -> Option<String> {
        match self.target.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Some(t.to_owned()),
            _ if !self.etcd.hosts.is_empty() => Some(format!(
                "etcd://{}/{}",
                self.etcd.hosts.join(","),
                self.etcd.key
            )),
            _ => None,
        }
    }

    /// Whether calls go to the replicas of the `Etcd` section (no `Endpoints`, no `Target`).
    pub(crate) fn target_is_etcd_section(&self) -> bool {
        self.endpoints.is_empty()
            && self.target.as_deref().is_none_or(|t| t.trim().is_empty())
            && !self.etcd.hosts.is_empty()
    }
}

/// go-zero's `discov.EtcdConf`: where a server registers and a client discovers replicas.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EtcdConf {
    /// etcd endpoints, `host:port`.
    pub hosts: Vec<String>,
    /// The key the service registers under (e.g. `trial.rpc`); replicas are `Key/<id>`.
    pub key: String,
    /// A fixed id for this replica's key (`Key/<ID>`); 0, the default, uses the lease id.
    #[serde(rename = "ID")]
    pub id: i64,
    /// etcd user (with `Pass`).
    pub user: String,
    /// etcd password.
    pub pass: String,
    /// TLS client certificate: accepted for go-zero configs, refused at start (not built).
    pub cert_file: String,
    /// TLS client key: refused at start like `CertFile`.
    pub cert_key_file: String,
    /// TLS CA: refused at start like `CertFile`.
    #[serde(rename = "CACertFile")]
    pub ca_cert_file: String,
    /// Skip TLS verification (go-zero's key; meaningless without TLS).
    pub insecure_skip_verify: bool,
}

impl Validate for RpcClientConf {
    fn validate(&self) -> Vec<(String, String)> {
        if self.endpoints.is_empty() && self.target().is_none() {
            vec![(
                "Endpoints".into(),
                "set `Endpoints`, `Target` or `Etcd` to reach the service".into(),
            )]
        } else if self.target_is_etcd_section()
            && let Some(problem) = self.etcd.problem()
        {
            vec![("Etcd".into(), problem)]
        } else {
            Vec::new()
        }
    }
}

/// The result of [`load_service`]: the runtime's RPC keys and the service's own keys.
#[derive(Debug, Clone)]
pub struct RpcServiceConfig<T> {
    /// The runtime's keys (`Name`, `ListenOn`, `Log`, ...).
    pub rpc: RpcServerConf,
    /// The service's own keys (e.g. an `RpcClientConf` section for a service it calls).
    pub app: T,
}

/// Reads one file holding both the RPC server's keys and the service's keys `T` (same rules as
/// [`crate::config::load_service`]: formats by extension, `${VAR}`, case-insensitive keys;
/// a key is reported unknown only when neither half knows it).
pub fn load_service<T: DeserializeOwned + Validate>(
    path: impl AsRef<Path>,
) -> Result<RpcServiceConfig<T>, ConfigError> {
    let path = path.as_ref();
    let (mut rpc, u1) = config::load_with_warnings::<RpcServerConf>(path)?;
    let (app, u2) = config::load_with_warnings::<T>(path)?;
    rpc.unknown_keys = unknown_in_both(&u1, &u2);
    Ok(RpcServiceConfig { rpc, app })
}

/// Keys (or sub-keys) that both halves rejected.
fn unknown_in_both(u1: &[String], u2: &[String]) -> Vec<String> {
    let covered = |p: &String, others: &[String]| {
        others
            .iter()
            .any(|q| p == q || p.starts_with(&format!("{q}.")) || p.starts_with(&format!("{q}[")))
    };
    let mut unknown: Vec<String> = u1.iter().filter(|p| covered(p, u2)).cloned().collect();
    unknown.extend(u2.iter().filter(|q| covered(q, u1)).cloned());
    unknown.sort();
    unknown.dedup();
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_duration_ms;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, rename_all = "PascalCase")]
    struct Gateway {
        trial_rpc: RpcClientConf,
    }
    impl Validate for Gateway {}

    #[test]
    fn loads_go_zero_keys_case_insensitively_with_app_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trial.yaml");
        std::fs::write(
            &path,
            "name: trial.rpc\nlistenon: 127.0.0.1:0\nTIMEOUT: 3s\nMode: dev\nHealth: false\n\
             Middlewares: {Breaker: false}\nAuth: true\nStrictControl: true\n\
             Redis: {Host: 10.0.0.9:6379, Type: node, Pass: pw, Key: rpc:apps}\nMethodTimeouts: [{FullMethod: /a.B/C, Timeout: 5s}]\n\
             TrialRpc:\n  Endpoints: [127.0.0.1:9001, http://h:2]\n  nonblock: false\n  \
             Middlewares: {breaker: false}\n  App: gateway\n  Token: s3cret\n\
             Typo: 1\n",
        )
        .unwrap();
        let c = load_service::<Gateway>(&path).unwrap();
        assert_eq!(c.rpc.name, "trial.rpc");
        assert_eq!(c.rpc.listen_on, "127.0.0.1:0");
        assert_eq!(c.rpc.timeout, 3000);
        assert_eq!(c.rpc.mode, Mode::Dev);
        assert!(!c.rpc.health && !c.rpc.middlewares.breaker && c.rpc.middlewares.trace);
        assert_eq!(c.rpc.unknown_keys, vec!["Typo".to_owned()]);
        assert_eq!(
            c.app.trial_rpc.endpoints,
            vec!["127.0.0.1:9001", "http://h:2"]
        );
        assert!(!c.app.trial_rpc.non_block);
        assert!(!c.app.trial_rpc.middlewares.breaker && c.app.trial_rpc.middlewares.trace);
        assert_eq!(c.rpc.method_timeouts[0].full_method, "/a.B/C");
        assert_eq!(c.rpc.method_timeouts[0].timeout, 5000);
        assert_eq!(c.app.trial_rpc.timeout, 2000);
        assert!(c.rpc.auth && c.rpc.strict_control);
        assert_eq!(
            (c.rpc.redis.host.as_str(), c.rpc.redis.r#type.as_str()),
            ("10.0.0.9:6379", "node")
        );
        assert_eq!(
            (c.rpc.redis.pass.as_str(), c.rpc.redis.key.as_str()),
            ("pw", "rpc:apps")
        );
        assert_eq!(
            (c.app.trial_rpc.app.as_str(), c.app.trial_rpc.token.as_str()),
            ("gateway", "s3cret")
        );
    }

    #[test]
    fn defaults_and_checks() {
        let c = RpcServerConf::default();
        assert_eq!((c.listen_on.as_str(), c.timeout), ("0.0.0.0:8080", 2000));
        assert_eq!(c.cpu_threshold, 900);
        let errs = RpcServerConf {
            listen_on: "nope".into(),
            ..c
        }
        .validate();
        let keys: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(keys, ["Name", "ListenOn"]);
        let auth = RpcServerConf {
            name: "a".into(),
            auth: true,
            ..RpcServerConf::default()
        };
        assert_eq!(auth.validate()[0].0, "Redis");
        assert_eq!(RpcClientConf::default().validate()[0].0, "Endpoints");
        let etcd = RpcClientConf {
            etcd: EtcdConf {
                hosts: vec!["10.0.0.1:2379".into(), "10.0.0.2:2379".into()],
                key: "trial.rpc".into(),
                ..EtcdConf::default()
            },
            ..RpcClientConf::default()
        };
        assert_eq!(
            etcd.target().as_deref(),
            Some("etcd://10.0.0.1:2379,10.0.0.2:2379/trial.rpc")
        );
        assert!(etcd.validate().is_empty());
        assert_eq!(split_host_port(":80"), Some(("0.0.0.0".into(), 80)));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1".into(), 80)));
        assert_eq!(parse_duration_ms("1500"), Some(1500));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500));
    }
}
