//! The go-zero `.api` language: grammar, syntax tree, import loading, validation, formatting.

pub mod ast;
pub mod format;
pub mod loader;
pub mod lower;
pub mod parser;
pub mod tag;
pub mod validate;

use std::path::Path;

use crate::diagnostic::Diagnostic;
pub use loader::Loaded;

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

/// Loads the contract at `path` with its imports and validates it.
pub fn check(path: &Path) -> Checked {
    let loaded = loader::load(path);
    let diagnostics = validate::validate(&loaded);
    Checked {
        loaded,
        diagnostics,
    }
}
