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

use std::path::PathBuf;

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
