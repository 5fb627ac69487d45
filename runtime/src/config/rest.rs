//! The runtime's own config keys, named as in go-zero's `rest.RestConf`.

use serde::{Deserialize, Deserializer};

use super::{LimitConf, Validate};
use crate::rules::check_range;

/// Accepts milliseconds as a number (`3000`) or a duration string (`3s`, `500ms`, `1m`, `1h`).
/// A duration in milliseconds: a number, or a string with a unit (`500ms`, `3s`, `1m`, `1h`).
pub(crate) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_duration_ms(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration `{s}` (use milliseconds or a unit: 500ms, 3s, 1m, 1h)"
            ))
        }),
    }
}

/// `"1500"`, `"500ms"`, `"1.5s"`, `"1m"`, `"1h"` in milliseconds.
pub(crate) fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some((n * scale).round() as u64)
}

/// `Mode`: shedding only runs in `pro`, as in go-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Development.
    Dev,
    /// Test.
    Test,
    /// Production (go-zero's default).
    #[default]
    Pro,
}

/// The keys a REST service reads; generated services load it with
/// [`super::load_service`]. Defaults are go-zero's.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestConf {
    /// Service name (required); used in logs, metrics and traces.
    pub name: String,
    /// Listen address, default `0.0.0.0`.
    pub host: String,
    /// Listen port (required; `0` picks a free port, useful in tests).
    pub port: Option<u16>,
    /// Per-request timeout in ms (default 3000, 0 disables).
    #[serde(deserialize_with = "millis")]
    pub timeout: u64,
    /// How long a client may take to send a request head, in ms, from its first byte (from
    /// the accept for a new connection); then the connection is closed (default 10s, 0
    /// disables). Go's `http.Server.ReadHeaderTimeout`; go-zero has no such key.
    #[serde(deserialize_with = "millis")]
    pub read_header_timeout: u64,
    /// How long a keep-alive connection may sit with no request in flight, in ms, before it
    /// is closed (default 75s, longer than the 60 s of common load balancers so that they
    /// close first; 0 disables). Go's `http.Server.IdleTimeout`.
    #[serde(deserialize_with = "millis")]
    pub idle_timeout: u64,
    /// Max concurrent requests before 503 (default 10000, 0 disables).
    pub max_conns: usize,
    /// Max request body bytes before 413 (default 1048576).
    pub max_bytes: u64,
    /// CPU usage (per mille) above which shedding starts (default 900, range `[0:1000]`).
    pub cpu_threshold: u64,
    /// Log request and response details of every call.
    pub verbose: bool,
    /// `dev`, `test` or `pro` (default).
    pub mode: Mode,
    /// Logging.
    pub log: LogConf,
    /// A separate Prometheus listener (go-zero's key); `/metrics` is on the dev server too.
    pub prometheus: PrometheusConf,
    /// OpenTelemetry tracing.
    pub telemetry: TelemetryConf,
    /// Dev server: health, metrics, pprof.
    pub dev_server: DevServerConf,
    /// JWT secret and expiry, for routes declared with `jwt`.
    pub auth: AuthConf,
    /// Server-wide rate limit (routes can set their own).
    pub limit: LimitConf,
    /// Graceful shutdown timings.
    pub shutdown: ShutdownConf,
    /// On/off switches for the built-in middlewares.
    pub middlewares: MiddlewaresConf,
    /// CORS settings.
    pub cors: CorsConf,
    /// Content-security signature verification, for routes declared with `signature: true`.
    pub signature: SignatureConf,
    /// Keys in the file that no struct knows (filled by the loader, logged by the server).
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
    /// The top-level sections none of the keys above names, as read: where a group declared
    /// `jwt: AdminAuth` finds its `AdminAuth` keys ([`RestConf::jwt_section`]).
    #[serde(rename = "$other")]
    pub other_sections: serde_json::Map<String, serde_json::Value>,
}

impl Default for RestConf {
    fn default() -> Self {
        RestConf {
            name: String::new(),
            host: "0.0.0.0".into(),
            port: None,
            timeout: 3000,
            read_header_timeout: 10_000,
            idle_timeout: 75_000,
            max_conns: 10_000,
            max_bytes: 1_048_576,
            cpu_threshold: 900,
            verbose: false,
            mode: Mode::Pro,
            log: LogConf::default(),
            prometheus: PrometheusConf::default(),
            telemetry: TelemetryConf::default(),
            dev_server: DevServerConf::default(),
            auth: AuthConf::default(),
            limit: LimitConf::default(),
            shutdown: ShutdownConf::default(),
            middlewares: MiddlewaresConf::default(),
            cors: CorsConf::default(),
            signature: SignatureConf::default(),
            unknown_keys: Vec::new(),
            other_sections: serde_json::Map::new(),
        }
    }
}

impl RestConf {
    /// The JWT keys of the section `name` (`jwt: AdminAuth` reads `AdminAuth`, as goctl's
    /// generated code does), matched case-insensitively like every key; `Auth` is
    /// [`RestConf::auth`]. An error (naming the key) when the section is missing or its
    /// `AccessSecret` is unusable: a server must not verify tokens against an empty key.
    pub fn jwt_section(&self, name: &str) -> Result<AuthConf, String> {
        let wanted = super::de::fold(name);
        let auth = if wanted == super::de::fold("Auth") {
            self.auth.clone()
        } else {
            let found = self
                .other_sections
                .iter()
                .find(|(key, _)| super::de::fold(key) == wanted);
            let Some((key, value)) = found else {
                return Err(format!(
                    "`{name}.AccessSecret` is required by routes declared `jwt: {name}`, \
                     and the config has no `{name}` section"
                ));
            };
            match super::section::<AuthConf>(key, value.clone()) {
                Ok((auth, _)) => auth,
                Err((key, message)) => return Err(format!("`{key}`: {message}")),
            }
        };
        auth.check_secret(name)?;
        Ok(auth)
    }
}

impl Validate for RestConf {
    fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() {
            errs.push(("Name".into(), "required key is missing".into()));
        }
        if self.port.is_none() {
            errs.push(("Port".into(), "required key is missing".into()));
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
        errs.extend(self.limit.problems());
        if self.log.mode == LogMode::File && self.log.path.trim().is_empty() {
            errs.push(("Log.Path".into(), "required when Log.Mode is file".into()));
        }
        errs
    }
}

/// `Log` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConf {
    /// Name written as `service` on every line (defaults to `Name`).
    pub service_name: String,
    /// `console` (default) or `file`.
    pub mode: LogMode,
    /// `json` (default) or `plain`.
    pub encoding: LogEncoding,
    /// Directory for `file` mode, default `logs`.
    pub path: String,
    /// `debug`, `info` (default), `error` or `severe`.
    pub level: LogLevel,
    /// Days of rotated files to keep (0 keeps all).
    pub keep_days: usize,
    /// `daily` (default), `hourly` or `size`; see docs/runtime.md.
    pub rotation: Rotation,
    /// `size` rotation: megabytes the live file may reach before it is rotated (0, the
    /// default, means no limit).
    pub max_size: u64,
    /// `size` rotation: rotated files kept (0, the default, keeps all; `KeepDays` still
    /// applies).
    pub max_backups: usize,
    /// `size` rotation: gzip rotated files (default false).
    pub compress: bool,
    /// Calls slower than this many ms log a `slowcall` warning (default 500).
    #[serde(deserialize_with = "millis")]
    pub slow_threshold: u64,
    /// Include `caller` (file:line) on every line (default true).
    pub caller: bool,
}

impl Default for LogConf {
    fn default() -> Self {
        LogConf {
            service_name: String::new(),
            mode: LogMode::Console,
            encoding: LogEncoding::Json,
            path: "logs".into(),
            level: LogLevel::Info,
            keep_days: 0,
            rotation: Rotation::Daily,
            max_size: 0,
            max_backups: 0,
            compress: false,
            slow_threshold: 500,
            caller: true,
        }
    }
}

/// `Log.Mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogMode {
    /// Standard output.
    Console,
    /// Rotated files under `Log.Path`.
    File,
}

/// `Log.Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    /// One JSON object per line with go-zero's field names.
    Json,
    /// Human-readable text.
    Plain,
}

/// `Log.Level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Info and above.
    Info,
    /// Errors only.
    Error,
    /// go-zero's `severe`: errors only.
    Severe,
}

/// `Log.Rotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// A new file each day.
    Daily,
    /// A new file each hour.
    Hourly,
    /// A new file when the live one would grow past `MaxSize` megabytes (go-zero's `size`).
    Size,
}

/// `Prometheus` section: when `Port` is set, `/metrics` (or `Path`) is also served there.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PrometheusConf {
    /// Listen address.
    pub host: String,
    /// Listen port; 0 (default) means no separate listener.
    pub port: u16,
    /// Metrics path, default `/metrics`.
    pub path: String,
}

impl Default for PrometheusConf {
    fn default() -> Self {
        PrometheusConf {
            host: "0.0.0.0".into(),
            port: 0,
            path: "/metrics".into(),
        }
    }
}

/// `Telemetry` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TelemetryConf {
    /// Service name on spans (defaults to `Name`).
    pub name: String,
    /// Exporter endpoint (`host:port` or URL); empty disables export.
    pub endpoint: String,
    /// Ratio of new traces sampled, `[0:1]`, default 1.
    pub sampler: f64,
    /// Exporter kind.
    pub batcher: Batcher,
    /// File for the `file` batcher.
    pub output_path: String,
}

impl Default for TelemetryConf {
    fn default() -> Self {
        TelemetryConf {
            name: String::new(),
            endpoint: String::new(),
            sampler: 1.0,
            batcher: Batcher::Otlpgrpc,
            output_path: String::new(),
        }
    }
}

/// `Telemetry.Batcher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Batcher {
    /// OTLP over gRPC (default).
    Otlpgrpc,
    /// OTLP over HTTP/protobuf.
    Otlphttp,
    /// JSON lines to `Telemetry.OutputPath`.
    File,
    /// Accepted for go-zero configs: Jaeger speaks OTLP, so spans go there as OTLP/gRPC.
    Jaeger,
    /// Accepted for go-zero configs: Zipkin's own protocol is not supported, so spans go to the
    /// endpoint as OTLP/gRPC (as for `jaeger`), with a warning.
    Zipkin,
}

/// `DevServer` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DevServerConf {
    /// Whether to start it (default true).
    pub enabled: bool,
    /// Listen address.
    pub host: String,
    /// Listen port, default 6060 (0 picks a free port).
    pub port: u16,
    /// Metrics path, default `/metrics`.
    pub metrics_path: String,
    /// Health path, default `/healthz`.
    pub health_path: String,
    /// Serve `/metrics` (default true).
    pub enable_metrics: bool,
    /// Serve `/debug/pprof/profile` (default true).
    pub enable_pprof: bool,
}

impl Default for DevServerConf {
    fn default() -> Self {
        DevServerConf {
            enabled: true,
            host: "0.0.0.0".into(),
            port: 6060,
            metrics_path: "/metrics".into(),
            health_path: "/healthz".into(),
            enable_metrics: true,
            enable_pprof: true,
        }
    }
}

/// `Auth` section: the HS256 secret and token lifetime in seconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AuthConf {
    /// HS256 secret.
    pub access_secret: String,
    /// The secret being rotated out: routes with `jwtTransition` also accept tokens signed
    /// with it (empty: none).
    pub prev_secret: String,
    /// Token lifetime in seconds (for issuing tokens; verification uses `exp`).
    pub access_expire: i64,
}

/// The shortest `AccessSecret` accepted (go-zero refuses shorter ones too).
pub const MIN_SECRET_LEN: usize = 8;

impl AuthConf {
    /// Whether `AccessSecret` can sign tokens: set, and not shorter than [`MIN_SECRET_LEN`]
    /// bytes. `section` names the section in the error.
    pub fn check_secret(&self, section: &str) -> Result<(), String> {
        let secret = &self.access_secret;
        if secret.is_empty() {
            Err(format!(
                "`{section}.AccessSecret` is required by routes declared `jwt: {section}` \
                 (an empty key would accept tokens anyone can sign)"
            ))
        } else if secret.len() < MIN_SECRET_LEN {
            Err(format!(
                "`{section}.AccessSecret` is shorter than {MIN_SECRET_LEN} bytes"
            ))
        } else {
            Ok(())
        }
    }
}

/// `Signature` section (go-zero's `SignatureConf`): verification of the `X-Content-Security`
/// header on routes with `signature: true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SignatureConf {
    /// Refuse (403) requests that are unsigned or fail verification; `false` (default) only
    /// logs them and lets them through, as go-zero does.
    pub strict: bool,
    /// How old the signed timestamp may be, in ms (default 1h; whole seconds count).
    #[serde(deserialize_with = "millis")]
    pub expiry: u64,
    /// How far ahead of this server's clock the signed timestamp may be, in ms (default 5m).
    #[serde(deserialize_with = "millis")]
    pub max_skew: u64,
    /// Accept each signature once while it is valid (default true); a replay fails.
    pub replay_protection: bool,
    /// Most signatures this process keeps for replay protection (default 100000); when full,
    /// those expiring first are dropped and anything expiring no later is refused.
    pub replay_capacity: usize,
    /// A Redis that replicas share seen signatures through (`Key` is the key prefix, default
    /// `signature`); without `Host`, or while it is unreachable, each process checks alone.
    pub redis: crate::rpc::RedisKeyConf,
    /// The RSA private keys clients encrypt their secret for, by fingerprint.
    pub private_keys: Vec<PrivateKeyConf>,
}

impl Default for SignatureConf {
    fn default() -> Self {
        SignatureConf {
            strict: false,
            expiry: 3_600_000,
            max_skew: 300_000,
            replay_protection: true,
            replay_capacity: 100_000,
            redis: crate::rpc::RedisKeyConf::default(),
            private_keys: Vec::new(),
        }
    }
}

/// One entry of `Signature.PrivateKeys`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PrivateKeyConf {
    /// The name clients send as `key=` in `X-Content-Security`.
    pub fingerprint: String,
    /// Path of a PEM RSA private key (PKCS#1 `RSA PRIVATE KEY`, as go-zero, or PKCS#8).
    pub key_file: String,
}

/// `Shutdown` section (ms or duration strings).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ShutdownConf {
    /// Time between turning readiness off and closing the listener (default 1s).
    #[serde(deserialize_with = "millis")]
    pub wrap_up_time: u64,
    /// Deadline for in-flight requests after the listener closes (default 5.5s).
    #[serde(deserialize_with = "millis")]
    pub wait_time: u64,
}

impl Default for ShutdownConf {
    fn default() -> Self {
        ShutdownConf {
            wrap_up_time: 1000,
            wait_time: 5500,
        }
    }
}

/// `Middlewares` section: every built-in middleware can be switched off; all default on.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MiddlewaresConf {
    /// Tracing span + traceparent.
    pub trace: bool,
    /// Access log.
    pub log: bool,
    /// Prometheus metrics.
    pub prometheus: bool,
    /// MaxConns.
    pub max_conns: bool,
    /// Circuit breaker.
    pub breaker: bool,
    /// Load shedding (pro mode only).
    pub shedding: bool,
    /// Timeout.
    pub timeout: bool,
    /// Panic recovery.
    pub recover: bool,
    /// MaxBytes.
    pub max_bytes: bool,
    /// gzip request bodies.
    pub gunzip: bool,
    /// Rate limit.
    pub limit: bool,
    /// CORS.
    pub cors: bool,
}

impl Default for MiddlewaresConf {
    fn default() -> Self {
        MiddlewaresConf {
            trace: true,
            log: true,
            prometheus: true,
            max_conns: true,
            breaker: true,
            shedding: true,
            timeout: true,
            recover: true,
            max_bytes: true,
            gunzip: true,
            limit: true,
            cors: true,
        }
    }
}

/// `Cors` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CorsConf {
    /// Allowed origins; `*` (default) allows any.
    pub allow_origins: Vec<String>,
}

impl Default for CorsConf {
    fn default() -> Self {
        CorsConf {
            allow_origins: vec!["*".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("3s"), Some(3000));
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("5.5s"), Some(5500));
        assert_eq!(parse_duration_ms("1m"), Some(60_000));
        assert_eq!(parse_duration_ms("3x"), None);
    }

    #[test]
    fn size_rotation_keys() {
        let text = "Name: a\nPort: 1\nLog:\n  Mode: file\n  Rotation: size\n  maxsize: 100\n  MAX_BACKUPS: 3\n  KeepDays: 7\n  Compress: true\n";
        let (c, unknown) = crate::config::from_str::<RestConf>(text, "a.yaml").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(c.log.rotation, Rotation::Size);
        assert_eq!(c.log.max_size, 100);
        assert_eq!(c.log.max_backups, 3);
        assert_eq!(c.log.keep_days, 7);
        assert!(c.log.compress);
        let d = LogConf::default();
        assert_eq!((d.max_size, d.max_backups, d.compress), (0, 0, false));
    }
}
