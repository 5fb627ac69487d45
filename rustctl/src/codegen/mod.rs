//! Generators: a pure function from the service model to a [`FilePlan`]. Nothing here touches
//! the disk; [`crate::writer`] applies plans.
//!
//! Output is laid out by the templates alone, never by running rustfmt: the same contract gives
//! the same bytes on every machine, whatever rustfmt version is installed (so `--check` cannot
//! flap between machines), and a 1,000-route contract generates in well under 200 ms. Scaffold
//! files are written the way rustfmt lays them out; generated modules are marked
//! `#[rustfmt::skip]` where `main.rs` declares them, so `cargo fmt` leaves them alone.

pub mod api;
pub mod layout;
pub mod rpc;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use templates::Templates;

/// Who owns a file once it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Derived from the contract: rewritten whenever its bytes would change.
    Generated,
    /// Written once for the user to edit; never touched again.
    Scaffold,
}

/// One file the generator wants to exist.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Relative to the service directory, `/`-separated.
    pub path: PathBuf,
    /// The full contents.
    pub contents: String,
    /// The ownership rule.
    pub ownership: Ownership,
    /// For a logic file: the function signature the generated handler calls, so an existing
    /// file whose signature no longer matches can be reported as stale.
    pub signature: Option<String>,
}

/// Everything one generator run wants on disk.
#[derive(Debug, Clone, Default)]
pub struct FilePlan {
    /// The files, in a stable order.
    pub files: Vec<PlannedFile>,
    /// Directories whose `.rs` scaffold files must all be in the plan; others are orphans.
    pub owned_dirs: Vec<PathBuf>,
    /// Template overrides that were used (from `--home`).
    pub overrides: Vec<String>,
}

impl FilePlan {
    /// Adds a file.
    pub fn add(&mut self, path: impl Into<PathBuf>, contents: String, ownership: Ownership) {
        self.files.push(PlannedFile {
            path: path.into(),
            contents,
            ownership,
            signature: None,
        });
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A template failed to render (a user's `--home` override, usually).
    #[error("template `{name}`: {message}")]
    Template {
        /// The template's name.
        name: String,
        /// What tera or rustfmt said.
        message: String,
    },
}

/// How file names are spelled, as goctl's `--style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Style {
    /// `get_trial_info.rs` (goctl's `go_zero`): the Rust convention.
    #[default]
    #[value(alias = "go_zero")]
    Snake,
    /// `gettrialinfo.rs` (goctl's `gozero`).
    #[value(alias = "gozero")]
    Lower,
}

impl Style {
    /// The file and module name for a snake-case Rust name. It is a Rust identifier too (files
    /// are declared as modules), so a keyword that `lower` uncovers keeps an underscore.
    pub fn file(self, snake: &str) -> String {
        match self {
            Style::Snake => snake.to_string(),
            Style::Lower => {
                let lower = snake.replace('_', "");
                if lower.is_empty()
                    || lower.starts_with(|c: char| c.is_ascii_digit())
                    || crate::api::lower::is_keyword(&lower)
                {
                    format!("{lower}_")
                } else {
                    lower
                }
            }
        }
    }
}

/// Where the generated service finds `rustctl-runtime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeDep {
    /// A path dependency (absolute, or relative to the service directory).
    Path(String),
    /// A crates.io version requirement.
    Version(String),
    /// A git repository, optionally pinned.
    Git {
        /// The repository URL.
        url: String,
        /// A branch, tag or commit.
        rev: Option<String>,
    },
}

impl RuntimeDep {
    pub fn toml(&self) -> String {
        match self {
            RuntimeDep::Path(p) => format!("{{ path = {} }}", toml_string(p)),
            RuntimeDep::Version(v) => toml_string(v),
            RuntimeDep::Git { url, rev: None } => format!("{{ git = {} }}", toml_string(url)),
            RuntimeDep::Git { url, rev: Some(r) } => {
                format!("{{ git = {}, rev = {} }}", toml_string(url), toml_string(r))
            }
        }
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Options of one generation run, for either generator.
#[derive(Debug, Clone)]
pub struct Options {
    /// File naming.
    pub style: Style,
    /// The runtime dependency line.
    pub runtime: RuntimeDep,
    /// Add an empty `[workspace]` so the service builds on its own.
    pub standalone: bool,
    /// The port in the scaffolded config (`Port` or `ListenOn`).
    pub port: u16,
}

/// A tree of Rust modules: each directory (as its module path) and the modules it declares.
pub type ModuleTree = BTreeMap<Vec<String>, BTreeSet<String>>;

impl FilePlan {
    /// One generated `mod.rs` per directory of `tree` below `root`, each declaring its modules.
    pub fn add_module_tree(
        &mut self,
        templates: &Templates,
        root: &str,
        tree: &ModuleTree,
        doc: &str,
    ) -> Result<(), GenError> {
        #[derive(Serialize)]
        struct ModCtx<'a> {
            doc: &'a str,
            modules: &'a BTreeSet<String>,
        }
        for (dir, modules) in tree {
            let mut path = PathBuf::from(root);
            path.extend(dir);
            path.push("mod.rs");
            let text = templates.render("api/mod.rs", &ModCtx { doc, modules })?;
            self.add(path, text, Ownership::Generated);
        }
        Ok(())
    }

    /// Renders each `(path, template, ownership)` with one context and adds the files.
    pub fn render_each(
        &mut self,
        templates: &Templates,
        context: &impl Serialize,
        files: &[(&str, &str, Ownership)],
    ) -> Result<(), GenError> {
        for (path, template, ownership) in files {
            self.add(*path, templates.render(template, context)?, *ownership);
        }
        Ok(())
    }
}
