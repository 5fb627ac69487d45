//! Reading a config file: `${VAR}` expansion, then parsing by extension into a neutral tree.

use std::path::Path;

use serde_json::Value;

use super::ConfigError;

/// Expands `${VAR}` and `${VAR:-default}` in `text`; `$${` writes a literal `${`.
///
/// Unlike go-zero (which silently expands an unset variable to nothing) an unset variable
/// without a default is an error naming the variable and the line, because an empty secret or
/// host is a bug found in production otherwise.
pub(crate) fn expand_env(
    text: &str,
    file: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let line = text.len() - rest.len() + pos;
        let line = text[..line].matches('\n').count() + 1;
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(ConfigError::Env {
                file: file.to_path_buf(),
                line,
                message: "unterminated `${`".into(),
            });
        };
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match lookup(name).or_else(|| default.map(str::to_owned)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(ConfigError::Env {
                    file: file.to_path_buf(),
                    line,
                    message: format!("environment variable `{name}` is not set"),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `text` as YAML (`.yaml`/`.yml`), JSON (`.json`) or TOML (`.toml`).
pub(crate) fn parse(text: &str, file: &Path) -> Result<Value, ConfigError> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parse_err = |message: String| ConfigError::Parse {
        file: file.to_path_buf(),
        message,
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match ext.as_str() {
        "yaml" | "yml" => {
            serde_saphyr::from_str::<Value>(text).map_err(|e| parse_err(e.to_string()))
        }
        "json" => serde_json::from_str::<Value>(text).map_err(|e| parse_err(e.to_string())),
        "toml" => toml::from_str::<Value>(text).map_err(|e| parse_err(e.to_string())),
        other => Err(parse_err(format!(
            "unsupported config extension `{other}` (use .yaml, .yml, .json or .toml)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PORT").then(|| "8080".to_owned())
    }

    #[test]
    fn expands_set_default_and_escaped() {
        let p = Path::new("a.yaml");
        let got = expand_env("Port: ${PORT}\nHost: ${HOST:-0.0.0.0}\nX: $${PORT}", p, env).unwrap();
        assert_eq!(got, "Port: 8080\nHost: 0.0.0.0\nX: ${PORT}");
    }

    #[test]
    fn unset_variable_names_variable_and_line() {
        let err = expand_env("Name: a\nSecret: ${NOPE}\n", Path::new("a.yaml"), env).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a.yaml:2"), "{msg}");
        assert!(msg.contains("NOPE"), "{msg}");
    }
}
