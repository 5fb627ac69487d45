//! What shipping a service needs from its config file: ports, health and metrics paths,
//! shutdown timings, and the environment variables it reads.
//!
//! The file is read the way the runtime reads it (`${VAR:-default}` expanded, keys matched
//! without regard to case, `_` or `-`), except that the environment of the machine running
//! rustctl is never consulted: every `${VAR:-default}` takes its default, so the same config
//! gives the same Dockerfile and manifests on every machine.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::DeployError;

/// The runtime's defaults (runtime/src/config/rest.rs, `DevServerConf` and `ShutdownConf`).
const DEV_PORT: u16 = 6060;
const HEALTH_PATH: &str = "/healthz";
const METRICS_PATH: &str = "/metrics";
const WRAP_UP_MS: u64 = 1000;
const WAIT_MS: u64 = 5500;

/// Which server the config configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A REST service (`Port`).
    Rest,
    /// A gRPC service (`ListenOn`).
    Rpc,
}

/// The facts read from one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `Name`.
    pub name: String,
    /// REST or gRPC and the service's port (`Port`, or the port of `ListenOn`); `None` for a
    /// program that serves nothing (a job).
    pub server: Option<(Kind, u16)>,
    /// The dev server's port, when it is enabled.
    pub dev_port: Option<u16>,
    /// `DevServer.HealthPath`.
    pub health_path: String,
    /// Where Prometheus scrapes: a port and a path (`Prometheus.Port` when set, else the dev
    /// server's `/metrics`), if any.
    pub metrics: Option<(u16, String)>,
    /// `Shutdown.WrapUpTime + Shutdown.WaitTime`: how long the service may take to stop.
    pub shutdown_ms: u64,
    /// `${VAR}` references without a default: values the deployment must supply.
    pub required_env: Vec<String>,
}

/// Reads `path` (YAML, JSON or TOML).
pub fn read(path: &Path) -> Result<ConfigFacts, DeployError> {
    let text = crate::contract_file::read_contract(path, None).map_err(|e| DeployError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse(&text, path)
}

/// Reads config `text`; `path` names it in errors and picks the format by extension.
pub fn parse(text: &str, path: &Path) -> Result<ConfigFacts, DeployError> {
    let err = |message: String| DeployError::Config {
        path: path.to_path_buf(),
        message,
    };
    let (expanded, required_env) = expand_defaults(text).map_err(err)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let root: Value = match ext.as_str() {
        "toml" => toml::from_str(&expanded).map_err(|e| err(e.to_string()))?,
        "yaml" | "yml" | "json" => {
            serde_saphyr::from_str(&expanded).map_err(|e| err(e.to_string()))?
        }
        other => {
            return Err(err(format!(
                "unknown config format `.{other}` (use .yaml, .yml, .json or .toml)"
            )));
        }
    };
    if !root.is_object() {
        return Err(err("the config is not a map of keys".into()));
    }
    facts(&root, required_env).map_err(err)
}

fn facts(root: &Value, required_env: Vec<String>) -> Result<ConfigFacts, String> {
    let name = match get(root, &["Name"]) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("`Name` is missing or empty".into()),
    };
    for key in ["Port", "ListenOn"] {
        if has_null(root, key) {
            return Err(format!(
                "`{key}` has no value (a `${{VAR}}` without a default?): give it one, \
                 `${{VAR:-8080}}`"
            ));
        }
    }
    let server = if let Some(listen) = get(root, &["ListenOn"]) {
        let Value::String(listen) = listen else {
            return Err("`ListenOn` is not a `host:port` string".into());
        };
        let port = listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| format!("`ListenOn`: `{listen}` is not `host:port`"))?;
        Some((Kind::Rpc, port))
    } else if get(root, &["Port"]).is_some() {
        Some((Kind::Rest, port_at(root, &["Port"])?.unwrap_or(0)))
    } else {
        None
    };
    if server.is_some_and(|(_, port)| port == 0) {
        return Err("the service port is 0 (a free port at start): set a fixed one".into());
    }
    let dev_enabled = bool_at(root, &["DevServer", "Enabled"])?.unwrap_or(true);
    let dev_port = if dev_enabled {
        Some(port_at(root, &["DevServer", "Port"])?.unwrap_or(DEV_PORT)).filter(|p| *p != 0)
    } else {
        None
    };
    let health_path =
        string_at(root, &["DevServer", "HealthPath"])?.unwrap_or_else(|| HEALTH_PATH.into());
    let prometheus = port_at(root, &["Prometheus", "Port"])?.unwrap_or(0);
    let metrics = if prometheus != 0 {
        let path = string_at(root, &["Prometheus", "Path"])?.unwrap_or_else(|| METRICS_PATH.into());
        Some((prometheus, path))
    } else if let Some(dev) = dev_port
        && bool_at(root, &["DevServer", "EnableMetrics"])?.unwrap_or(true)
    {
        let path =
            string_at(root, &["DevServer", "MetricsPath"])?.unwrap_or_else(|| METRICS_PATH.into());
        Some((dev, path))
    } else {
        None
    };
    let shutdown_ms = millis_at(root, &["Shutdown", "WrapUpTime"])?.unwrap_or(WRAP_UP_MS)
        + millis_at(root, &["Shutdown", "WaitTime"])?.unwrap_or(WAIT_MS);
    Ok(ConfigFacts {
        name,
        server,
        dev_port,
        health_path,
        metrics,
        shutdown_ms,
        required_env,
    })
}

/// The form two keys are compared in, as the runtime's loader compares them.
fn fold(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn get<'a>(root: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut at = root;
    for key in keys {
        let wanted = fold(key);
        at = at
            .as_object()?
            .iter()
            .find(|(k, _)| fold(k) == wanted)
            .map(|(_, v)| v)?;
    }
    (!at.is_null()).then_some(at)
}

/// Whether the top-level `key` is there with no value (`Port:`).
fn has_null(root: &Value, key: &str) -> bool {
    let wanted = fold(key);
    root.as_object()
        .is_some_and(|m| m.iter().any(|(k, v)| fold(k) == wanted && v.is_null()))
}

fn key_name(keys: &[&str]) -> String {
    keys.join(".")
}

fn port_at(root: &Value, keys: &[&str]) -> Result<Option<u16>, String> {
    let Some(v) = get(root, keys) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| u16::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("`{}`: `{v}` is not a port number", key_name(keys)))
}

fn bool_at(root: &Value, keys: &[&str]) -> Result<Option<bool>, String> {
    match get(root, keys) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(format!("`{}`: `{v}` is not true or false", key_name(keys))),
    }
}

fn string_at(root: &Value, keys: &[&str]) -> Result<Option<String>, String> {
    match get(root, keys) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("`{}`: `{v}` is not a string", key_name(keys))),
    }
}

fn millis_at(root: &Value, keys: &[&str]) -> Result<Option<u64>, String> {
    let Some(v) = get(root, keys) else {
        return Ok(None);
    };
    let ms = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => duration_ms(s),
        _ => None,
    };
    ms.map(Some).ok_or_else(|| {
        format!(
            "`{}`: `{v}` is not a duration (milliseconds, or 500ms, 3s, 1m, 1h)",
            key_name(keys)
        )
    })
}

/// A duration as the runtime reads it: milliseconds, or a number with `ms`, `s`, `m` or `h`.
fn duration_ms(s: &str) -> Option<u64> {
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
    (n >= 0.0).then(|| (n * scale).round() as u64)
}

/// `text` with every `${VAR:-default}` replaced by its default and `$${` by `${`, and the
/// names of the `${VAR}` references that have no default (each replaced by an empty string).
/// Hand-written: this is the runtime's own syntax (runtime/src/config/source.rs), minus the
/// lookup in the environment, and no crate expands it without consulting the environment.
pub fn expand_defaults(text: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut required = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let line = text[..text.len() - rest.len() + pos].matches('\n').count() + 1;
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("line {line}: unterminated `${{`"));
        };
        let expr = &after[..end];
        match expr.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => {
                if !expr.is_empty() && !required.iter().any(|r| r == expr) {
                    required.push(expr.to_string());
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, required))
}

/// The config files of a service: `etc/*.yaml`, `*.yml`, `*.json`, `*.toml`, sorted.
pub fn candidates(service_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(service_dir.join("etc"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| PathBuf::from("etc").join(e.file_name()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json" | "toml"))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> Result<ConfigFacts, DeployError> {
        parse(text, Path::new("etc/x.yaml"))
    }

    #[test]
    fn defaults_are_the_runtimes() {
        let f = facts("Name: a\nPort: 8888\n").unwrap();
        assert_eq!(f.server, Some((Kind::Rest, 8888)));
        assert_eq!(f.dev_port, Some(6060));
        assert_eq!(f.health_path, "/healthz");
        assert_eq!(f.metrics, Some((6060, "/metrics".into())));
        assert_eq!(f.shutdown_ms, 6500);
    }

    #[test]
    fn env_defaults_keys_in_any_case_and_durations() {
        let f = facts(
            "name: r\nlisten_on: 0.0.0.0:${P:-9090}\ndev-server:\n  port: ${D:-7000}\n\
             prometheus: {port: 9100, path: /m}\nSHUTDOWN: {WaitTime: 10s, wrapUpTime: 500ms}\n\
             Auth: {AccessSecret: '${SECRET}'}\nOther: ${SECRET}\n",
        )
        .unwrap();
        assert_eq!(f.server, Some((Kind::Rpc, 9090)));
        assert_eq!(f.dev_port, Some(7000));
        assert_eq!(f.metrics, Some((9100, "/m".into())));
        assert_eq!(f.shutdown_ms, 10_500);
        assert_eq!(f.required_env, vec!["SECRET".to_string()]);
    }

    #[test]
    fn a_job_serves_nothing() {
        assert_eq!(facts("Name: a\n").unwrap().server, None);
    }

    #[test]
    fn a_disabled_dev_server_has_no_port_and_no_metrics() {
        let f = facts("Name: a\nPort: 1\nDevServer: {Enabled: false}\n").unwrap();
        assert_eq!((f.dev_port, f.metrics), (None, None));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = |t: &str| facts(t).unwrap_err().to_string();
        assert!(e("Name: a\nPort: eighty\n").contains("`Port`: `\"eighty\"` is not a port"));
        assert!(e("Name: a\nPort: 70000\n").contains("`Port`"));
        assert!(e("Port: 1\n").contains("`Name` is missing"));
        assert!(e("Name: a\nListenOn: nowhere\n").contains("`ListenOn`: `nowhere`"));
        assert!(e("Name: a\nPort: 1\nShutdown: {WaitTime: soon}\n").contains("Shutdown.WaitTime"));
        assert!(e("Name: a\nPort: ${P\n").contains("line 2: unterminated"));
        assert!(e("Name: a\nPort: 0\n").contains("port is 0"));
        assert!(e("Name: a\nPort: ${PORT}\n").contains("`Port` has no value"));
    }
}
