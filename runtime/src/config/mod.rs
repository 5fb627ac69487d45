//! Config loading: YAML/JSON/TOML by extension, `${VAR}` expansion, case-insensitive keys,
//! defaults, required keys and option/range checks, with errors naming the file and key path.
//!
//! Two entry points:
//! - [`load`] reads any `DeserializeOwned` struct (the runtime's [`RestConf`] or a user's);
//! - [`load_service`] reads the go-zero-style layout where the service's own keys sit next to the
//!   runtime's top-level keys in one file, returning both halves in a [`ServiceConfig`].
//!
//! Keys match case-insensitively (and ignoring `_`/`-`) for every struct; see `de.rs` for why
//! this is done in a deserializer wrapper. Unknown keys are collected as warnings.

mod de;
mod rest;
mod source;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub(crate) use de::fold;
pub(crate) use rest::millis;
#[cfg(test)]
pub(crate) use rest::parse_duration_ms;
pub use rest::{
    AuthConf, Batcher, CorsConf, DevServerConf, LimitConf, LogConf, LogEncoding, LogLevel, LogMode,
    MIN_SECRET_LEN, MiddlewaresConf, Mode, PrivateKeyConf, PrometheusConf, RestConf, Rotation,
    ShutdownConf, SignatureConf, TelemetryConf,
};

/// Why a config could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}", file = file.display())]
    Io {
        /// The config file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `${VAR}` expansion failed.
    #[error("{file}:{line}: {message}", file = file.display())]
    Env {
        /// The config file.
        file: PathBuf,
        /// 1-based line of the `${`.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The text is not valid YAML/JSON/TOML.
    #[error("{file}: {message}", file = file.display())]
    Parse {
        /// The config file.
        file: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key has a wrong type, a value outside its options or range, or is missing.
    #[error("{file}: key `{key}`: {message}", file = file.display())]
    Key {
        /// The config file.
        file: PathBuf,
        /// Dotted key path, e.g. `Log.Level` (`.` for the document root).
        key: String,
        /// What was wrong.
        message: String,
    },
}

/// A checked config: `validate` returns `(key path, message)` pairs for every violated rule.
pub trait Validate {
    /// Lists every problem; an empty list means the config is usable.
    fn validate(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// The result of [`load_service`]: the runtime's keys and the service's own keys from one file.
#[derive(Debug, Clone)]
pub struct ServiceConfig<T> {
    /// The runtime's keys (`Name`, `Port`, `Log`, ...).
    pub rest: RestConf,
    /// The service's own keys.
    pub app: T,
}

/// Reads `path` into `T`; unknown keys are returned as warnings.
pub fn load_with_warnings<T: DeserializeOwned + Validate>(
    path: impl AsRef<Path>,
) -> Result<(T, Vec<String>), ConfigError> {
    let path = path.as_ref();
    let value = read_value(path)?;
    let (t, unknown) = from_value::<T>(value, path)?;
    check(&t, path)?;
    Ok((t, unknown))
}

/// Reads `path` into `T` (see the module docs). Unknown keys are logged as warnings.
pub fn load<T: DeserializeOwned + Validate>(path: impl AsRef<Path>) -> Result<T, ConfigError> {
    let (t, unknown) = load_with_warnings(path)?;
    for key in unknown {
        tracing::warn!(key = %key, "unknown config key");
    }
    Ok(t)
}

/// Reads one file holding both the runtime's keys and the service's keys `T`.
///
/// A key is reported unknown only when neither [`RestConf`] nor `T` knows it; the warnings are
/// kept in [`RestConf::unknown_keys`] and logged by the server once logging is set up.
pub fn load_service<T: DeserializeOwned + Validate>(
    path: impl AsRef<Path>,
) -> Result<ServiceConfig<T>, ConfigError> {
    let path = path.as_ref();
    let value = read_value(path)?;
    let (mut rest, u1) = from_value::<RestConf>(value.clone(), path)?;
    let (app, u2) = from_value::<T>(value, path)?;
    check(&rest, path)?;
    check(&app, path)?;
    // A key unknown to one half may belong to the other: keep only keys (or their sub-keys)
    // that both halves rejected.
    let covered = |p: &String, others: &[String]| {
        others
            .iter()
            .any(|q| p == q || p.starts_with(&format!("{q}.")) || p.starts_with(&format!("{q}[")))
    };
    let mut unknown: Vec<String> = u1.iter().filter(|p| covered(p, &u2)).cloned().collect();
    unknown.extend(u2.iter().filter(|q| covered(q, &u1)).cloned());
    unknown.sort();
    unknown.dedup();
    rest.unknown_keys = unknown;
    Ok(ServiceConfig { rest, app })
}

/// Parses config text in the format given by `file`'s extension (used by tests and tools that
/// hold the text already). `${VAR}` expansion uses the process environment.
pub fn from_str<T: DeserializeOwned + Validate>(
    text: &str,
    file: impl AsRef<Path>,
) -> Result<(T, Vec<String>), ConfigError> {
    let file = file.as_ref();
    let text = source::expand_env(text, file, |k| std::env::var(k).ok())?;
    let value = source::parse(&text, file)?;
    let (t, unknown) = from_value::<T>(value, file)?;
    check(&t, file)?;
    Ok((t, unknown))
}

fn read_value(path: &Path) -> Result<serde_json::Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let text = source::expand_env(&text, path, |k| std::env::var(k).ok())?;
    source::parse(&text, path)
}

fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    file: &Path,
) -> Result<(T, Vec<String>), ConfigError> {
    let unknown = de::Unknown::default();
    let result = serde_path_to_error::deserialize::<_, T>(de::De::new(value, &unknown));
    match result {
        Ok(t) => Ok((t, unknown.into_inner())),
        Err(e) => Err(ConfigError::Key {
            file: file.to_path_buf(),
            key: e.path().to_string(),
            message: e.into_inner().to_string(),
        }),
    }
}

/// Reads `value`, the section at the top-level key `key`, into `T` with the same key matching
/// as a whole file; on failure, the dotted key path and the message.
pub(crate) fn section<T: DeserializeOwned>(
    key: &str,
    value: serde_json::Value,
) -> Result<(T, Vec<String>), (String, String)> {
    let unknown = de::Unknown::default();
    let result =
        serde_path_to_error::deserialize::<_, T>(de::De::at(value, key.to_owned(), &unknown));
    match result {
        Ok(t) => Ok((t, unknown.into_inner())),
        Err(e) => {
            let path = e.path().to_string();
            let key = if path == "." {
                key.to_owned()
            } else {
                format!("{key}.{path}")
            };
            Err((key, e.into_inner().to_string()))
        }
    }
}

fn check<T: Validate>(t: &T, file: &Path) -> Result<(), ConfigError> {
    match t.validate().into_iter().next() {
        None => Ok(()),
        Some((key, message)) => Err(ConfigError::Key {
            file: file.to_path_buf(),
            key,
            message,
        }),
    }
}

/// The config file named on the command line with `-f FILE` (go-zero's flag; also `--file FILE`,
/// `-f=FILE`, `--file=FILE`), or `default` when none is given.
pub fn path_from_args(default: &str) -> PathBuf {
    path_from(std::env::args().skip(1), default)
}

fn path_from(args: impl IntoIterator<Item = String>, default: &str) -> PathBuf {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-f" || arg == "--file" {
            if let Some(path) = args.next() {
                return PathBuf::from(path);
            }
        } else if let Some(path) = arg
            .strip_prefix("-f=")
            .or_else(|| arg.strip_prefix("--file="))
        {
            return PathBuf::from(path);
        }
    }
    PathBuf::from(default)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn config_path_flags() {
        let p = |args: &[&str]| path_from(args.iter().map(|s| s.to_string()), "etc/d.yaml");
        assert_eq!(p(&[]), PathBuf::from("etc/d.yaml"));
        assert_eq!(p(&["-f", "etc/x.yaml"]), PathBuf::from("etc/x.yaml"));
        assert_eq!(p(&["--file", "a.yaml"]), PathBuf::from("a.yaml"));
        assert_eq!(p(&["-f=b.yaml"]), PathBuf::from("b.yaml"));
        assert_eq!(p(&["--file=c.yaml"]), PathBuf::from("c.yaml"));
        assert_eq!(p(&["-f"]), PathBuf::from("etc/d.yaml"));
    }
}
