//! rustfmt over a whole plan in one process, so generated code is rustfmt-clean and a user's
//! `cargo fmt --check` never fights the generator.
//!
//! One rustfmt process costs ~25 ms however many files it formats, so the files of a plan are
//! formatted together, laid out in a scratch directory as in the crate (rustfmt follows `mod`
//! declarations). Files repeated once per route (handlers, logic stubs) are laid out by their
//! templates already (see `signature` in `api.rs`): they are written empty and not read back,
//! which keeps a 1,000-route contract fast.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether rustfmt could be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formatted {
    /// Every source was formatted.
    Yes,
    /// rustfmt is not installed; sources are left as the templates wrote them.
    RustfmtMissing,
}

/// One file of the crate: its path in the crate, its source, and whether to format it.
pub struct Source<'a> {
    /// Relative to the crate root.
    pub path: &'a Path,
    /// The text, replaced by the formatted text.
    pub text: &'a mut String,
    /// Whether to format it (otherwise it only stands in for a module file).
    pub format: bool,
}

/// Formats the sources marked `format` in place with the toolchain's rustfmt (edition 2024).
pub fn format_all(sources: &mut [Source<'_>]) -> Result<Formatted, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut targets: Vec<PathBuf> = Vec::new();
    for source in sources.iter() {
        let path = dir.path().join(source.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let text = if source.format {
            source.text.as_str()
        } else {
            ""
        };
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        if source.format {
            targets.push(path);
        }
    }
    if targets.is_empty() {
        return Ok(Formatted::Yes);
    }
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let out = match Command::new(rustfmt)
        .args(["--edition", "2024", "--quiet"])
        .args(&targets)
        .output()
    {
        Ok(out) => out,
        Err(_) => return Ok(Formatted::RustfmtMissing),
    };
    if !out.status.success() {
        return Err(format!(
            "rustfmt rejected the generated code (a template produced invalid Rust):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for source in sources.iter_mut().filter(|s| s.format) {
        *source.text =
            std::fs::read_to_string(dir.path().join(source.path)).map_err(|e| e.to_string())?;
    }
    Ok(Formatted::Yes)
}
