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
mod limit;
mod rest;
mod source;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub(crate) use de::fold;
pub use limit::{LimitConf, LimitRule, RouteLimitConf};
pub(crate) use rest::millis;
#[cfg(test)]
pub(crate) use rest::parse_duration_ms;
pub use rest::{
    AuthConf, Batcher, CorsConf, DevServerConf, LogConf, LogEncoding, LogLevel, LogMode,
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

/// A command line [`path_from_args`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// `-f` (or `--file`) came last, or `-f=` had nothing after the `=`.
    #[error("`{flag}` needs a value: `{flag} FILE` names the config file to load")]
    MissingValue {
        /// The flag as given (`-f`, `--file`, `-f=`, `--file=`).
        flag: String,
    },
    /// `-f=FILE` with a `FILE` that is not valid Unicode, on a system where only the separate
    /// form can carry it.
    #[error("`{flag}FILE`: FILE is not valid Unicode; give it as `-f FILE`")]
    NotUnicode {
        /// The flag as given (`-f=`, `--file=`).
        flag: String,
    },
}

/// The config file named on the command line with `-f FILE` (go-zero's flag; also `--file FILE`,
/// `-f=FILE`, `--file=FILE`), or `default` when none is given; see [`path_from`].
///
/// # Errors
/// As [`path_from`].
pub fn path_from_args(default: &str) -> Result<PathBuf, ArgsError> {
    path_from(std::env::args_os().skip(1), default)
}

/// The config file named by `args` (the command line without the program name) with
/// `-f FILE`, `--file FILE`, `-f=FILE` or `--file=FILE`, or `default` when no argument names
/// one. The first such argument wins; other arguments are left to the caller. Paths need not
/// be valid Unicode.
///
/// # Errors
/// A flag without a value (`-f` last, an empty `-f=` or `-f ""`), rather than quietly loading
/// `default`; on systems other than Unix and Windows, `-f=FILE` with a `FILE` that is not
/// valid Unicode.
pub fn path_from(
    args: impl IntoIterator<Item = OsString>,
    default: &str,
) -> Result<PathBuf, ArgsError> {
    let missing = |flag: &str| ArgsError::MissingValue {
        flag: flag.to_owned(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-f" || arg == "--file" {
            let flag = arg.to_string_lossy();
            return match args.next() {
                Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(missing(&flag)),
            };
        }
        for flag in ["-f=", "--file="] {
            if let Some(path) = strip_prefix(&arg, flag) {
                return match path {
                    Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                    Some(_) => Err(missing(flag)),
                    None => Err(ArgsError::NotUnicode {
                        flag: flag.to_owned(),
                    }),
                };
            }
        }
    }
    Ok(PathBuf::from(default))
}

/// What follows `prefix` in `arg`, if `arg` starts with it: `Some(None)` when the rest cannot
/// be cut out of a non-Unicode `arg` on this system.
fn strip_prefix(arg: &OsStr, prefix: &str) -> Option<Option<OsString>> {
    if let Some(s) = arg.to_str() {
        return s.strip_prefix(prefix).map(|rest| Some(rest.into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        arg.as_bytes()
            .strip_prefix(prefix.as_bytes())
            .map(|rest| Some(OsStr::from_bytes(rest).to_owned()))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::{OsStrExt, OsStringExt};
        let arg: Vec<u16> = arg.encode_wide().collect();
        let prefix: Vec<u16> = prefix.encode_utf16().collect();
        arg.strip_prefix(&prefix[..])
            .map(|rest| Some(OsString::from_wide(rest)))
    }
    #[cfg(not(any(unix, windows)))]
    {
        arg.as_encoded_bytes()
            .starts_with(prefix.as_bytes())
            .then_some(None)
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    fn p(args: &[&str]) -> Result<PathBuf, ArgsError> {
        path_from(args.iter().map(OsString::from), "etc/d.yaml")
    }

    fn missing(flag: &str) -> Result<PathBuf, ArgsError> {
        Err(ArgsError::MissingValue { flag: flag.into() })
    }

    #[test]
    fn config_path_flags() {
        assert_eq!(p(&[]), Ok(PathBuf::from("etc/d.yaml")));
        assert_eq!(p(&["-v"]), Ok(PathBuf::from("etc/d.yaml")));
        assert_eq!(p(&["-f", "etc/x.yaml"]), Ok(PathBuf::from("etc/x.yaml")));
        assert_eq!(p(&["--file", "a.yaml"]), Ok(PathBuf::from("a.yaml")));
        assert_eq!(p(&["-f=b.yaml"]), Ok(PathBuf::from("b.yaml")));
        assert_eq!(p(&["--file=c.yaml"]), Ok(PathBuf::from("c.yaml")));
        assert_eq!(p(&["-f", "x.yaml", "-f"]), Ok(PathBuf::from("x.yaml")));
    }

    #[test]
    fn a_flag_without_a_value_is_an_error_not_the_default() {
        assert_eq!(p(&["-f"]), missing("-f"));
        assert_eq!(p(&["--file"]), missing("--file"));
        assert_eq!(p(&["-f", ""]), missing("-f"));
        assert_eq!(p(&["-f="]), missing("-f="));
        assert_eq!(p(&["--file="]), missing("--file="));
        let e = p(&["-f"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "`-f` needs a value: `-f FILE` names the config file to load"
        );
    }

    #[cfg(unix)]
    #[test]
    fn paths_need_not_be_unicode() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let name = OsString::from_vec(b"etc/\xff.yaml".to_vec());
        let flag = |f: &str| {
            let mut arg = f.as_bytes().to_vec();
            arg.extend_from_slice(name.as_bytes());
            OsString::from_vec(arg)
        };
        let from = |args: Vec<OsString>| path_from(args, "etc/d.yaml");
        let want = Ok(PathBuf::from(&name));
        assert_eq!(from(vec!["-f".into(), name.clone()]), want);
        assert_eq!(from(vec![flag("-f=")]), want);
        assert_eq!(from(vec![flag("--file=")]), want);
        // Other arguments that are not Unicode are left alone.
        assert_eq!(
            from(vec![flag("--other="), "-f".into(), "x.yaml".into()]),
            Ok(PathBuf::from("x.yaml"))
        );
    }
}
