//! The tera templates: embedded in the binary, overridable file by file from a `--home`
//! directory.

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
        tera.autoescape_on(vec![]);
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
    let mut written = Vec::new();
    for (name, text) in EMBEDDED {
        let path = home.join(file_name(name));
        if path.exists() && !force {
            written.push((path, false));
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)?;
        written.push((path, true));
    }
    Ok(written)
}
