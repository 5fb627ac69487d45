//! Where `.proto` files may be read from. protox's own include resolver opens whatever a name
//! resolves to: a symlink to `/etc/passwd` (whose text the parse error then quotes) or a FIFO
//! (which blocks forever). This one opens only regular files that really lie inside an include
//! directory, and refuses text nested deeper than protox's recursive parser can take.

use std::path::{Path, PathBuf};

use protox::Error;
use protox::file::{File, FileResolver, IncludeFileResolver};

use crate::contract_file::read_contract;

/// How deeply braces, brackets and angle brackets may nest in a `.proto` file. protox-parse
/// descends once per level and has no limit of its own: an option value nested a few hundred
/// levels deep overflows the stack. Real files stay far below this.
pub const MAX_NESTING: usize = 64;

/// Include directories, each holding files only below itself.
pub struct ConfinedIncludes {
    dirs: Vec<(IncludeFileResolver, PathBuf)>,
}

impl ConfinedIncludes {
    /// Resolves names against `dirs` in order. Directories that do not exist are skipped.
    pub fn new(dirs: &[PathBuf]) -> Self {
        ConfinedIncludes {
            dirs: dirs
                .iter()
                .filter_map(|d| {
                    let real = d.canonicalize().ok()?;
                    Some((IncludeFileResolver::new(d.clone()), real))
                })
                .collect(),
        }
    }
}

/// One file held in memory (fuzzing, tests), checked as files from disk are.
pub struct InMemory {
    name: String,
    text: String,
}

impl InMemory {
    /// The file `name` with contents `text`.
    pub fn new(name: &str, text: &str) -> Self {
        InMemory {
            name: name.to_string(),
            text: text.to_string(),
        }
    }
}

impl FileResolver for InMemory {
    fn open_file(&self, name: &str) -> Result<File, Error> {
        if name != self.name {
            return Err(Error::file_not_found(name));
        }
        check_nesting(name, &self.text)?;
        File::from_source(name, &self.text)
    }
}

impl FileResolver for ConfinedIncludes {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.dirs.iter().find_map(|(r, _)| r.resolve_path(path))
    }

    fn open_file(&self, name: &str) -> Result<File, Error> {
        for (resolver, real) in &self.dirs {
            let path = real.join(name);
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let text = read_contract(&path, Some(real))
                .map_err(|e| Error::new(format!("{name}: {e} (the include directory)")))?;
            check_nesting(name, &text)?;
            // Checked: protox's resolver may now read it (and keep the path it reports).
            return resolver.open_file(name);
        }
        Err(Error::file_not_found(name))
    }
}

/// An error at the first place `text` nests deeper than [`MAX_NESTING`]. Strings and comments
/// are skipped, as the parser skips them.
pub fn check_nesting(name: &str, text: &str) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'<' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let line = text[..i].matches('\n').count() + 1;
                    let column = i - text[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
                    return Err(Error::new(format!(
                        "{name}:{line}:{column}: nested more than {MAX_NESTING} levels deep"
                    )));
                }
            }
            b'}' | b']' | b'>' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_outside_strings_and_comments() {
        let deep = format!(
            "{}{}",
            "{".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        let err = check_nesting("a.proto", &format!("option x = 1;\n  {deep}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.proto:2:"), "{err}");
        let ok = format!("{}{}", "{".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert!(check_nesting("a.proto", &ok).is_ok());
        let quoted = format!("// {deep}\n/* {deep} */\n\"{deep}\" '{deep}'");
        assert!(check_nesting("a.proto", &quoted).is_ok());
    }
}
