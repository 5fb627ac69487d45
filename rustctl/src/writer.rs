//! Applies a [`FilePlan`] to a directory: the only code that writes generated files.
//!
//! Generated files are rewritten only when their bytes change (so cargo rebuilds nothing when the
//! contract did not change); scaffold files are created when missing and never touched again.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::codegen::{FilePlan, Ownership};

/// What a run did (or, with `check`, would do) to each file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Files that did not exist.
    pub created: Vec<PathBuf>,
    /// Generated files whose contents changed.
    pub updated: Vec<PathBuf>,
    /// Generated files already up to date.
    pub unchanged: Vec<PathBuf>,
    /// Scaffold files that exist and were left alone.
    pub kept: Vec<PathBuf>,
    /// Logic or middleware files no route or contract entry refers to any more.
    pub orphaned: Vec<PathBuf>,
    /// Scaffold logic files whose function no longer matches the contract, with the expected
    /// signature.
    pub stale: Vec<(PathBuf, String)>,
}

impl Report {
    /// Whether anything was (or would be) created or rewritten.
    pub fn changed(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty()
    }
}

/// Writes `plan` under `dir`. With `check`, writes nothing and reports what would change.
pub fn apply(plan: &FilePlan, dir: &Path, check: bool) -> io::Result<Report> {
    let mut report = Report::default();
    let mut made_dirs = BTreeSet::new();
    for file in &plan.files {
        let path = dir.join(&file.path);
        let existing = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        match (file.ownership, existing) {
            (_, None) => {
                if !check {
                    // A new file has nothing to protect from a half-finished write.
                    if let Some(parent) = path.parent()
                        && made_dirs.insert(parent.to_path_buf())
                    {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&path, file.contents.as_bytes())?;
                }
                report.created.push(file.path.clone());
            }
            (Ownership::Generated, Some(old)) if old == file.contents.as_bytes() => {
                report.unchanged.push(file.path.clone());
            }
            (Ownership::Generated, Some(_)) => {
                if !check {
                    write_atomically(&path, file.contents.as_bytes())?;
                }
                report.updated.push(file.path.clone());
            }
            (Ownership::Scaffold, Some(old)) => {
                if let Some(signature) = &file.signature
                    && !normalize(&String::from_utf8_lossy(&old)).contains(&normalize(signature))
                {
                    report.stale.push((file.path.clone(), signature.clone()));
                }
                report.kept.push(file.path.clone());
            }
        }
    }
    let planned: BTreeSet<&Path> = plan.files.iter().map(|f| f.path.as_path()).collect();
    for owned in &plan.owned_dirs {
        let mut found = Vec::new();
        rust_files(&dir.join(owned), &mut found)?;
        for path in found {
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if !planned.contains(rel.as_path()) && rel.file_name().is_some_and(|n| n != "mod.rs") {
                report.orphaned.push(rel);
            }
        }
    }
    report.orphaned.sort();
    Ok(report)
}

/// Whitespace and trailing commas removed, so rustfmt's line breaks do not matter.
fn normalize(s: &str) -> String {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    compact.replace(",)", ")")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!(
        "{}.rustctl-tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::PlannedFile;

    fn plan(files: &[(&str, &str, Ownership)]) -> FilePlan {
        FilePlan {
            files: files
                .iter()
                .map(|(p, c, o)| PlannedFile {
                    path: PathBuf::from(p),
                    contents: c.to_string(),
                    ownership: *o,
                    signature: None,
                })
                .collect(),
            owned_dirs: vec![PathBuf::from("src/logic")],
            overrides: Vec::new(),
        }
    }

    #[test]
    fn generated_files_are_rewritten_only_when_changed_and_scaffold_never() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = plan(&[
            ("gen.rs", "v1", Ownership::Generated),
            ("src/logic/a.rs", "stub", Ownership::Scaffold),
        ]);
        let r = apply(&p1, dir.path(), false).unwrap();
        assert_eq!(r.created.len(), 2);
        std::fs::write(dir.path().join("src/logic/a.rs"), "mine").unwrap();
        let mtime = std::fs::metadata(dir.path().join("gen.rs"))
            .unwrap()
            .modified()
            .unwrap();
        let r = apply(&p1, dir.path(), false).unwrap();
        assert_eq!(r.unchanged, vec![PathBuf::from("gen.rs")]);
        assert_eq!(r.kept, vec![PathBuf::from("src/logic/a.rs")]);
        assert!(!r.changed());
        assert_eq!(
            std::fs::metadata(dir.path().join("gen.rs"))
                .unwrap()
                .modified()
                .unwrap(),
            mtime
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/logic/a.rs")).unwrap(),
            "mine"
        );

        let p2 = plan(&[("gen.rs", "v2", Ownership::Generated)]);
        let r = apply(&p2, dir.path(), true).unwrap();
        assert_eq!(r.updated, vec![PathBuf::from("gen.rs")]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("gen.rs")).unwrap(),
            "v1",
            "check writes nothing"
        );
        assert_eq!(r.orphaned, vec![PathBuf::from("src/logic/a.rs")]);
        apply(&p2, dir.path(), false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("gen.rs")).unwrap(),
            "v2"
        );
    }

    #[test]
    fn stale_signatures_ignore_line_breaks() {
        assert_eq!(
            normalize("pub async fn a(\n    x: i64,\n) -> R"),
            normalize("pub async fn a(x: i64) -> R")
        );
    }
}
