//! The tera templates: embedded in the binary, overridable file by file from a `--home`
//! directory.
//!
//! Contract text is data. It reaches generated text only through this module's escaping:
//! every `{{ value }}` is autoescaped with [`one_line`] (no line break, control or bidi
//! character can end a comment or start a new line of code), and a value that lands inside a
//! Rust string literal goes through the `rust_str` filter, which writes the whole literal.
//! Code built in Rust from validated names (signatures, import lines, dependency tables) is
//! marked `| safe` in the templates: that is the only way around the escaping.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::GenError;

/// Every template, by name, as shipped in `templates/`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "api/new.api",
        include_str!("../../../templates/api/new.api.tera"),
    ),
    (
        "api/Cargo.toml",
        include_str!("../../../templates/api/Cargo.toml.tera"),
    ),
    (
        "api/etc.yaml",
        include_str!("../../../templates/api/etc.yaml.tera"),
    ),
    (
        "api/main.rs",
        include_str!("../../../templates/api/main.rs.tera"),
    ),
    (
        "api/config.rs",
        include_str!("../../../templates/api/config.rs.tera"),
    ),
    (
        "api/svc.rs",
        include_str!("../../../templates/api/svc.rs.tera"),
    ),
    (
        "api/types.rs",
        include_str!("../../../templates/api/types.rs.tera"),
    ),
    (
        "api/routes.rs",
        include_str!("../../../templates/api/routes.rs.tera"),
    ),
    (
        "api/handler.rs",
        include_str!("../../../templates/api/handler.rs.tera"),
    ),
    (
        "api/logic.rs",
        include_str!("../../../templates/api/logic.rs.tera"),
    ),
    (
        "api/mod.rs",
        include_str!("../../../templates/api/mod.rs.tera"),
    ),
    (
        "api/own_modules.rs",
        include_str!("../../../templates/api/own_modules.rs.tera"),
    ),
    (
        "api/middleware.rs",
        include_str!("../../../templates/api/middleware.rs.tera"),
    ),
    (
        "api/middleware_mod.rs",
        include_str!("../../../templates/api/middleware_mod.rs.tera"),
    ),
    (
        "rpc/new.proto",
        include_str!("../../../templates/rpc/new.proto.tera"),
    ),
    (
        "rpc/Cargo.toml",
        include_str!("../../../templates/rpc/Cargo.toml.tera"),
    ),
    (
        "rpc/etc.yaml",
        include_str!("../../../templates/rpc/etc.yaml.tera"),
    ),
    (
        "rpc/main.rs",
        include_str!("../../../templates/rpc/main.rs.tera"),
    ),
    (
        "rpc/config.rs",
        include_str!("../../../templates/rpc/config.rs.tera"),
    ),
    (
        "rpc/svc.rs",
        include_str!("../../../templates/rpc/svc.rs.tera"),
    ),
    (
        "rpc/lib.rs",
        include_str!("../../../templates/rpc/lib.rs.tera"),
    ),
    (
        "rpc/server_mod.rs",
        include_str!("../../../templates/rpc/server_mod.rs.tera"),
    ),
    (
        "rpc/server.rs",
        include_str!("../../../templates/rpc/server.rs.tera"),
    ),
    (
        "rpc/client.rs",
        include_str!("../../../templates/rpc/client.rs.tera"),
    ),
    (
        "rpc/logic.rs",
        include_str!("../../../templates/rpc/logic.rs.tera"),
    ),
    (
        "ts/types.ts",
        include_str!("../../../templates/ts/types.ts.tera"),
    ),
    (
        "ts/client.ts",
        include_str!("../../../templates/ts/client.ts.tera"),
    ),
    (
        "doc/service.md",
        include_str!("../../../templates/doc/service.md.tera"),
    ),
    (
        "docker/Dockerfile",
        include_str!("../../../templates/docker/Dockerfile.tera"),
    ),
    (
        "docker/dockerignore",
        include_str!("../../../templates/docker/dockerignore.tera"),
    ),
    (
        "kube/deploy.yaml",
        include_str!("../../../templates/kube/deploy.yaml.tera"),
    ),
    (
        "kube/job.yaml",
        include_str!("../../../templates/kube/job.yaml.tera"),
    ),
    (
        "ci/gitlab-ci.yml",
        include_str!("../../../templates/ci/gitlab-ci.yml.tera"),
    ),
    (
        "ci/github.yml",
        include_str!("../../../templates/ci/github.yml.tera"),
    ),
    (
        "model/mod.rs",
        include_str!("../../../templates/model/mod.rs.tera"),
    ),
    (
        "model/model.rs",
        include_str!("../../../templates/model/model.rs.tera"),
    ),
    (
        "model/model_gen.rs",
        include_str!("../../../templates/model/model_gen.rs.tera"),
    ),
];

/// The file a template is stored in, relative to `templates/` or a `--home` directory.
pub fn file_name(name: &str) -> String {
    format!("{name}.tera")
}

/// The loaded templates: embedded ones, with the user's overrides where they exist.
pub struct Templates {
    tera: tera::Tera,
    /// Names of templates taken from `--home`.
    pub overrides: Vec<String>,
}

impl Templates {
    /// Loads the embedded templates, replaced by `home/<name>.tera` where that file exists.
    pub fn load(home: Option<&Path>) -> Result<Templates, GenError> {
        let mut tera = tera::Tera::default();
        let mut overrides = Vec::new();
        let mut sources = Vec::new();
        for (name, text) in EMBEDDED {
            let user: Option<PathBuf> = home
                .map(|h| h.join(file_name(name)))
                .filter(|p| p.is_file());
            let text = match user {
                Some(path) => {
                    overrides.push(name.to_string());
                    std::fs::read_to_string(&path).map_err(|e| GenError::Template {
                        name: name.to_string(),
                        message: format!("{}: {e}", path.display()),
                    })?
                }
                None => text.to_string(),
            };
            sources.push((name.to_string(), text));
        }
        // Every template, whatever its suffix (`""` is a suffix of every name).
        tera.autoescape_on(vec![""]);
        tera.set_escape_fn(one_line);
        tera.register_filter("rust_str", rust_str_filter);
        tera.register_filter("yaml_str", yaml_str_filter);
        tera.add_raw_templates(sources)
            .map_err(|e| GenError::Template {
                name: "(all)".into(),
                message: error_chain(&e),
            })?;
        Ok(Templates { tera, overrides })
    }

    /// Renders `name` with `context`.
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String, GenError> {
        let ctx = tera::Context::from_serialize(context).map_err(|e| GenError::Template {
            name: name.into(),
            message: error_chain(&e),
        })?;
        self.tera
            .render(name, &ctx)
            .map_err(|e| GenError::Template {
                name: name.into(),
                message: error_chain(&e),
            })
    }
}

/// `text` made safe for any place on one line of generated text, a `//` comment included:
/// line breaks, other control characters and the Unicode characters that end a line or
/// reorder text (U+2028/2029, bidi overrides and isolates: "Trojan Source") become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if breaks_line(c) { ' ' } else { c })
        .collect()
}

fn breaks_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
                | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` as a complete Rust string literal, quotes included: every character Rust would read
/// as an escape, a quote or a line break is escaped (`str::escape_debug` writes only escapes
/// Rust string literals accept).
pub fn rust_str(text: &str) -> String {
    format!("\"{}\"", text.escape_debug())
}

fn rust_str_filter(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(rust_str(&text)))
}

/// `text` as one YAML scalar in block context that reads back as the same string: plain when
/// that is unambiguous (a command line, a path), else double-quoted with JSON's escapes (a
/// JSON string is a YAML double-quoted scalar). Hand-written: YAML libraries emit whole
/// documents, and templates need the one scalar.
pub fn yaml_str(text: &str) -> String {
    if yaml_plain_ok(text) {
        return text.to_string();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if breaks_line(c) || c == '\u{FEFF}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_plain_ok(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    // Words YAML 1.1 or 1.2 reads as a bool, a null or a number are quoted.
    let reserved = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    (first.is_ascii_alphabetic() || matches!(first, '/' | '$' | '_'))
        && !reserved
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
}

fn yaml_str_filter(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let text = match value {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(yaml_str(&text)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes every template into `home` (for `rustctl template init`); returns the paths written.
/// Existing files are kept unless `force`.
pub fn write_all(home: &Path, force: bool) -> std::io::Result<Vec<(PathBuf, bool)>> {
    let dir = crate::writer::Confined::new(home);
    let mut written = Vec::new();
    for (name, text) in EMBEDDED {
        let rel = PathBuf::from(file_name(name));
        let exists = dir.read(&rel)?.is_some();
        if exists && !force {
            written.push((home.join(rel), false));
            continue;
        }
        if exists {
            dir.replace(&rel, text.as_bytes())?;
        } else {
            dir.create(&rel, text.as_bytes())?;
        }
        written.push((home.join(rel), true));
    }
    Ok(written)
}
