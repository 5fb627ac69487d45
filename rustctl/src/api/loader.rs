//! Reads a `.api` file and everything it imports: paths are relative to the importing file,
//! each file is read once however often it is imported, and import cycles are errors.
//!
//! A contract is untrusted input (it may come from a pull request), and a diagnostic quotes the
//! file it is about. So an import must name a `.api` file, which must be a regular file (not a
//! FIFO, a device or `/proc`) of at most [`crate::contract_file::MAX_CONTRACT_BYTES`], inside the project root unless
//! the caller widens it: nothing else is ever read, let alone quoted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ast::{ApiFile, Item, Span};
use super::parser;
use crate::contract_file::read_contract;
use crate::diagnostic::{Diagnostic, FileId, SourceMap};

/// A root file and its imports, parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The text of every file read.
    pub sources: SourceMap,
    /// The syntax tree of each file, indexed by [`FileId`].
    pub files: Vec<ApiFile>,
    /// The file that was asked for.
    pub root: FileId,
    /// Syntax errors, missing imports and import cycles.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Whether any error was found while loading.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every file with its id, root first.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &ApiFile)> {
        self.files.iter().enumerate()
    }
}

/// Where imports may be read from.
#[derive(Debug, Clone, Default)]
pub struct ImportPolicy {
    /// Imports must lie inside this directory (after following symlinks); `None`: the entry
    /// contract's directory.
    pub root: Option<PathBuf>,
    /// Read imports from anywhere (they must still be `.api` regular files of bounded size).
    pub anywhere: bool,
}

/// Loads `path` and its imports from disk, imports as `policy` allows.
pub fn load(path: &Path, policy: &ImportPolicy) -> Loaded {
    let root = policy
        .root
        .clone()
        .or_else(|| path.parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let root = match root.canonicalize() {
        Ok(root) => root,
        // No directory, no file in it: the entry's own read names the problem.
        Err(_) if policy.root.is_none() => root,
        Err(e) => {
            let mut out = Loaded::default();
            out.diagnostics.push(Diagnostic::bare(format!(
                "{}: cannot use as the project root: {e}",
                crate::diagnostic::display_path(&root)
            )));
            return out;
        }
    };
    let entry = path.to_path_buf();
    load_with(path, &mut |p| {
        let inside = if p == entry || policy.anywhere {
            None
        } else {
            Some(root.as_path())
        };
        read_contract(p, inside)
    })
}

/// Loads `path` and its imports through `read`, so tests and tools can load from memory.
pub fn load_with(path: &Path, read: &mut dyn FnMut(&Path) -> std::io::Result<String>) -> Loaded {
    let mut loader = Loader {
        read,
        out: Loaded::default(),
        seen: HashMap::new(),
        stack: Vec::new(),
    };
    match (loader.read)(path) {
        Ok(text) => {
            loader.visit(path.to_path_buf(), text);
        }
        Err(err) => loader.out.diagnostics.push(Diagnostic::bare(format!(
            "{}: cannot read: {err}",
            crate::diagnostic::display_path(path)
        ))),
    }
    loader.out
}

struct Loader<'a> {
    read: &'a mut dyn FnMut(&Path) -> std::io::Result<String>,
    out: Loaded,
    /// Normalised path → file id, so a file imported twice is read once.
    seen: HashMap<PathBuf, FileId>,
    /// Files being loaded, outermost first, to detect cycles.
    stack: Vec<FileId>,
}

impl Loader<'_> {
    fn visit(&mut self, path: PathBuf, text: String) -> FileId {
        let key = normalize(&path);
        let id = self.out.sources.add(path.clone(), text);
        self.seen.insert(key, id);
        let (ast, errors) = parser::parse(&self.out.sources.file(id).text, id);
        self.out.diagnostics.extend(errors);
        let imports: Vec<(String, Span)> = ast
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Import(import) => Some(import),
                _ => None,
            })
            .flat_map(|import| import.paths.iter().map(|p| (p.text.clone(), p.span)))
            .collect();
        self.out.files.push(ast);
        self.stack.push(id);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (target, span) in imports {
            self.import(id, &dir, &target, span);
        }
        self.stack.pop();
        id
    }

    fn import(&mut self, from: FileId, dir: &Path, target: &str, span: Span) {
        if target.is_empty() {
            self.out
                .diagnostics
                .push(Diagnostic::error(from, span, "empty import path"));
            return;
        }
        if !target.ends_with(".api") {
            self.out.diagnostics.push(
                Diagnostic::error(from, span, "an import must name a `.api` file")
                    .with_help("only contracts are read; their text may be quoted in errors"),
            );
            return;
        }
        let path = dir.join(target);
        let key = normalize(&path);
        if let Some(&existing) = self.seen.get(&key) {
            if let Some(pos) = self.stack.iter().position(|&f| f == existing) {
                let chain: Vec<String> = self.stack[pos..]
                    .iter()
                    .chain(std::iter::once(&existing))
                    .map(|&f| crate::diagnostic::display_path(&self.out.sources.file(f).path))
                    .collect();
                self.out.diagnostics.push(
                    Diagnostic::error(from, span, "import cycle")
                        .with_label(chain.join(" -> "))
                        .with_help("remove one of these imports"),
                );
            }
            return;
        }
        match (self.read)(&path) {
            Ok(text) => {
                self.visit(path, text);
            }
            Err(err) => {
                let mut d =
                    Diagnostic::error(from, span, format!("cannot read imported file `{target}`"))
                        .with_label(format!("{}: {err}", crate::diagnostic::display_path(&path)));
                if err.kind() == std::io::ErrorKind::PermissionDenied {
                    d = d.with_help(
                        "imports must lie inside the project root: widen it with --root, or \
                         allow any place with --imports-anywhere",
                    );
                }
                self.out.diagnostics.push(d);
            }
        }
    }
}

/// `a/./b/../c.api` → `a/c.api`, without touching the disk (imports may name files that do not
/// exist, and symlinked trees should still report the path the user wrote).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}
