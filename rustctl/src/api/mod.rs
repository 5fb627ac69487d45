//! The go-zero `.api` language: grammar, syntax tree, import loading, validation, formatting.

pub mod ast;
pub mod format;
pub mod loader;
pub mod lower;
pub mod names;
pub mod parser;
pub mod tag;
pub mod validate;

use std::path::Path;

use crate::codegen::Style;
use crate::diagnostic::Diagnostic;
pub use loader::{ImportPolicy, Loaded};

/// A contract loaded with its imports and checked.
#[derive(Debug)]
pub struct Checked {
    /// Every file read, parsed.
    pub loaded: Loaded,
    /// Syntax and semantic findings, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every finding, rendered for a terminal.
    pub fn render(&self, color: bool) -> String {
        self.loaded.sources.render_all(&self.diagnostics, color)
    }
}

/// What a check reads and for which file names it checks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Where imports may come from.
    pub imports: ImportPolicy,
    /// The file names the contract's names must map to without clashing.
    pub style: Style,
}

/// Loads the contract at `path` with its imports and validates it, with default options.
pub fn check(path: &Path) -> Checked {
    check_with(path, &CheckOptions::default())
}

/// Loads the contract at `path` with its imports and validates it, names included.
pub fn check_with(path: &Path, options: &CheckOptions) -> Checked {
    let loaded = loader::load(path, &options.imports);
    let mut diagnostics = validate::validate(&loaded);
    if !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.extend(names::check(&loaded, options.style));
    }
    Checked {
        loaded,
        diagnostics,
    }
}
