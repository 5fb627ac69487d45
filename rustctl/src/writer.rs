//! Applies a [`FilePlan`] to a directory: the only code that writes generated files.
//!
//! Generated files are rewritten only when their bytes change (so cargo rebuilds nothing when the
//! contract did not change); scaffold files are created when missing and never touched again.
//!
//! Every write goes through [`Confined`]: a path is written only when it lies below the
//! directory rustctl was given and no part of it below that directory is a symlink, so neither
//! a checked-in link nor a dangling one can send a write anywhere else.

use std::collections::BTreeSet;
use std::io;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

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
    /// Generated files the contract no longer produces (a removed route's handler, say).
    pub obsolete: Vec<PathBuf>,
    /// Obsolete files deleted (`--prune`).
    pub removed: Vec<PathBuf>,
}

/// How [`apply`] treats the disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode {
    /// Write nothing; only report.
    pub check: bool,
    /// Delete obsolete generated files (never a file without rustctl's header outside a
    /// wholly generated directory, so never one of the user's).
    pub prune: bool,
}

impl Report {
    /// Whether anything was (or would be) created, rewritten or left obsolete.
    pub fn changed(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty() || !self.obsolete.is_empty()
    }
}

/// Writes `plan` under `dir`. With `check`, writes nothing and reports what would change.
pub fn apply(plan: &FilePlan, dir: &Path, check: bool) -> io::Result<Report> {
    apply_with(
        plan,
        dir,
        Mode {
            check,
            prune: false,
        },
    )
}

/// Writes `plan` under `dir` as `mode` says.
pub fn apply_with(plan: &FilePlan, dir: &Path, mode: Mode) -> io::Result<Report> {
    let check = mode.check;
    let mut report = Report::default();
    let root = Confined::new(dir);
    let mut seen = BTreeSet::new();
    for file in &plan.files {
        // Two plan entries for one path would make the second silently win.
        if !seen.insert(file.path.as_path()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: planned twice (two contract names map to one file)",
                    file.path.display()
                ),
            ));
        }
        let existing = root.read(&file.path)?;
        match (file.ownership, existing) {
            (_, None) => {
                if !check {
                    root.create(&file.path, file.contents.as_bytes())?;
                }
                report.created.push(file.path.clone());
            }
            (Ownership::Generated, Some(old)) if old == file.contents.as_bytes() => {
                report.unchanged.push(file.path.clone());
            }
            (Ownership::Generated, Some(_)) => {
                if !check {
                    root.replace(&file.path, file.contents.as_bytes())?;
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
    let theirs = user_modules(plan, &root)?;
    for owned in &plan.owned_dirs {
        let mut found = Vec::new();
        rust_files(&dir.join(owned), &mut found)?;
        for path in found {
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if !planned.contains(rel.as_path())
                && rel.file_name().is_some_and(|n| n != "mod.rs")
                && !theirs.iter().any(|t| rel.starts_with(t))
            {
                report.orphaned.push(rel);
            }
        }
    }
    report.orphaned.sort();
    if !plan.partial {
        report.obsolete = obsolete(plan, dir, &planned)?;
    }
    if mode.prune && !check {
        for rel in std::mem::take(&mut report.obsolete) {
            root.remove(&rel)?;
            report.removed.push(rel);
        }
    }
    Ok(report)
}

/// The files and directories of the modules the user declares in the plan's own-module lists
/// (`pub mod helpers;` in `src/logic/own_modules.rs` is `src/logic/helpers.rs` or
/// `src/logic/helpers/`): theirs, so never orphans.
fn user_modules(plan: &FilePlan, root: &Confined) -> io::Result<Vec<PathBuf>> {
    let mut theirs = Vec::new();
    for list in &plan.user_modules {
        let Some(text) = root.read(list)? else {
            continue;
        };
        let dir = list.parent().unwrap_or(Path::new(""));
        for name in declared_modules(&String::from_utf8_lossy(&text)) {
            let name = name.trim_start_matches("r#");
            theirs.push(dir.join(format!("{name}.rs")));
            theirs.push(dir.join(name));
        }
    }
    Ok(theirs)
}

/// The names of the modules `text` declares with `mod name;` (`pub`, `pub(crate)` or
/// attributes on the line before are fine). A line scan rather than a Rust parser: the file
/// holds declarations only, and a declaration missed here is merely reported as an orphan.
fn declared_modules(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in text.lines() {
        let mut rest = line.trim();
        if let Some(after) = rest.strip_prefix("pub") {
            rest = after.trim_start();
            if rest.starts_with('(') {
                rest = rest.split_once(')').map_or("", |(_, r)| r).trim_start();
            }
        }
        let Some(decl) = rest.strip_prefix("mod ") else {
            continue;
        };
        if let Some(name) = decl.trim().strip_suffix(';') {
            let name = name.trim();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '#')
            {
                names.push(name);
            }
        }
    }
    names
}

/// Files under `src/` that rustctl generated (its header, or a wholly generated directory)
/// and that `plan` no longer holds.
fn obsolete(plan: &FilePlan, dir: &Path, planned: &BTreeSet<&Path>) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    rust_files(&dir.join("src"), &mut found)?;
    let mut out = Vec::new();
    for path in found {
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        if planned.contains(rel.as_path()) {
            continue;
        }
        let wholly = plan.generated_dirs.iter().any(|d| rel.starts_with(d));
        if wholly || starts_with_header(&path)? {
            out.push(rel);
        }
    }
    Ok(out)
}

fn starts_with_header(path: &Path) -> io::Result<bool> {
    use std::io::Read;
    let header = crate::codegen::GENERATED_HEADER.as_bytes();
    let mut first = vec![0; header.len()];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < first.len() {
        match file.read(&mut first[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(first == header)
}

/// A directory rustctl may write below. Paths are relative to it; each one is refused when it
/// would leave the directory (`..`, an absolute path) or pass through a symlink.
///
/// Checks and writes are separate system calls, so a process racing rustctl on the same
/// machine could still swap a directory for a link in between; the threat here is a
/// repository's contents (a checked-in or dangling link), which cannot race.
#[derive(Debug, Clone)]
pub struct Confined {
    root: PathBuf,
}

impl Confined {
    /// Writes below `root` (which itself may be reached through a link the user chose).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Confined { root: root.into() }
    }

    /// `rel` below the root, after checking each existing part of it is no symlink.
    fn resolve(&self, rel: &Path) -> io::Result<PathBuf> {
        let mut path = self.root.clone();
        for part in rel.components() {
            match part {
                Component::Normal(name) => path.push(name),
                Component::CurDir => continue,
                _ => return Err(refuse(rel, "leaves the output directory")),
            }
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(refuse(
                        &path,
                        "is a symlink; rustctl never writes through one",
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(with_path(&path, e)),
            }
        }
        Ok(path)
    }

    /// The bytes of an existing regular file, `None` when there is no file.
    pub fn read(&self, rel: &Path) -> io::Result<Option<Vec<u8>>> {
        let path = self.resolve(rel)?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => Err(refuse(&path, "is not a regular file")),
            Ok(_) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| with_path(&path, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(&path, e)),
        }
    }

    /// Creates a file that does not exist yet (never following or replacing anything there).
    pub fn create(&self, rel: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.resolve(rel)?;
        self.make_parents(rel)?;
        // `create_new` is O_EXCL: it fails on anything already there, a dangling link included.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| with_path(&path, e))?;
        file.write_all(bytes).map_err(|e| with_path(&path, e))
    }

    /// Replaces a file through a fresh temporary file and a rename, so an interrupted run never
    /// leaves half a file and the rename replaces the name, never a link's target.
    pub fn replace(&self, rel: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.resolve(rel)?;
        self.make_parents(rel)?;
        let dir = path.parent().unwrap_or(&self.root);
        // A random name created with O_EXCL: nothing planted at a guessable name is followed.
        let mut tmp = tempfile::Builder::new()
            .prefix(".rustctl-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| with_path(dir, e))?;
        tmp.write_all(bytes).map_err(|e| with_path(tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| with_path(&path, e.error))
            .map(drop)
    }

    /// Removes a file (never through a link), then its directories that are left empty.
    pub fn remove(&self, rel: &Path) -> io::Result<()> {
        let path = self.resolve(rel)?;
        std::fs::remove_file(&path).map_err(|e| with_path(&path, e))?;
        let mut dir = rel.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            // Fails (and stops) at the first directory that still holds something.
            if std::fs::remove_dir(self.resolve(d)?).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Creates the missing directories of `rel`'s parent one by one, none through a link.
    fn make_parents(&self, rel: &Path) -> io::Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut path = self.root.clone();
        if !path.as_os_str().is_empty() {
            std::fs::create_dir_all(&path).map_err(|e| with_path(&path, e))?;
        }
        for part in parent.components() {
            let Component::Normal(name) = part else {
                continue;
            };
            path.push(name);
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = std::fs::symlink_metadata(&path).map_err(|e| with_path(&path, e))?;
                    if !meta.is_dir() {
                        return Err(refuse(&path, "is in the way of a directory"));
                    }
                }
                Err(e) => return Err(with_path(&path, e)),
            }
        }
        Ok(())
    }
}

fn refuse(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing to write {}: it {why}", path.display()),
    )
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
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
    // `file_type` does not follow links: a linked directory is neither walked nor reported.
    let mut paths: Vec<(PathBuf, std::fs::FileType)> = entries
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?))))
        .collect::<io::Result<_>>()?;
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        if kind.is_dir() {
            rust_files(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
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
            generated_dirs: Vec::new(),
            overrides: Vec::new(),
            user_modules: Vec::new(),
            partial: false,
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
    fn modules_the_user_declares_are_not_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let logic = dir.path().join("src/logic");
        std::fs::create_dir_all(logic.join("helpers")).unwrap();
        std::fs::write(
            logic.join("own_modules.rs"),
            "// mine\npub mod dates;\n#[cfg(test)]\npub(crate) mod helpers;\n",
        )
        .unwrap();
        for f in ["dates.rs", "helpers/csv.rs", "removed_route.rs"] {
            std::fs::write(logic.join(f), "").unwrap();
        }
        let mut p = plan(&[("src/logic/own_modules.rs", "// mine", Ownership::Scaffold)]);
        p.user_modules
            .push(PathBuf::from("src/logic/own_modules.rs"));
        let report = apply(&p, dir.path(), true).unwrap();
        assert_eq!(
            report.orphaned,
            [PathBuf::from("src/logic/removed_route.rs")]
        );
        assert_eq!(
            declared_modules("mod a;\n  pub mod r#type;\npub(crate) mod b ;\n// mod c;\nmod d {}"),
            ["a", "r#type", "b"]
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
