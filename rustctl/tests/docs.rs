//! Code the docs show as generated is what the templates generate. A fenced block right after
//! `<!-- generated: PATH -->` (PATH a golden file under `rustctl/tests/snapshots/`, which the
//! snapshot tests keep equal to the templates' output) must appear in that file verbatim,
//! whole lines, in order; a line `// ...` in the block stands for lines left out.

use std::path::{Path, PathBuf};

const MARKER: &str = "<!-- generated: ";
const ELISION: &str = "// ...";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fenced code block of a doc.
struct Block {
    /// `docs/x.md:LINE` of the opening fence.
    at: String,
    /// The heading the block sits under.
    heading: String,
    /// The golden file its marker names, if it has one.
    generated: Option<String>,
    /// The lines between the fences.
    lines: Vec<String>,
}

fn blocks(doc: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let mut blocks = Vec::new();
    let (mut heading, mut previous) = (String::new(), "");
    let mut open: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(block) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                blocks.extend(open.take());
                previous = line;
            } else {
                block.lines.push(line.to_owned());
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            let generated = previous
                .trim()
                .strip_prefix(MARKER)
                .map(|rest| rest.strip_suffix(" -->").unwrap_or(rest).trim().to_owned());
            open = Some(Block {
                at: format!("{doc}:{}", n + 1),
                heading: heading.clone(),
                generated,
                lines: Vec::new(),
            });
        } else if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_owned();
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(open.is_none(), "{doc}: a code block is not closed");
    blocks
}

/// The golden file's contents without insta's header.
fn golden(path: &str) -> String {
    let text = std::fs::read_to_string(root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e} (the docs name it as generated code)"));
    match text
        .strip_prefix("---\n")
        .and_then(|t| t.split_once("\n---\n"))
    {
        Some((_, body)) => body.to_owned(),
        None => text,
    }
}

/// Where `block` is not in `golden`: the first run of lines (between elisions) that is not
/// found, whole lines and in order, after the previous one.
fn missing_part(block: &[String], golden: &str) -> Option<String> {
    let golden = format!("\n{golden}\n");
    let mut from = 0;
    for part in block.split(|l| l.trim() == ELISION) {
        if part.is_empty() {
            continue;
        }
        let needle = format!("\n{}\n", part.join("\n"));
        match golden[from..].find(&needle) {
            Some(at) => from += at + needle.len() - 1,
            None => return Some(part.join("\n")),
        }
    }
    None
}

fn docs() -> Vec<String> {
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    docs.push("README.md".into());
    docs.sort();
    docs
}

#[test]
fn generated_code_in_the_docs_is_what_the_templates_generate() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for doc in docs() {
        for block in blocks(&doc) {
            let Some(path) = &block.generated else {
                continue;
            };
            assert!(
                path.starts_with("rustctl/tests/snapshots/"),
                "{}: `{path}` is not a golden file",
                block.at
            );
            if let Some(part) = missing_part(&block.lines, &golden(path)) {
                wrong.push(format!(
                    "{}: not in {path} (copy it from there again):\n{part}",
                    block.at
                ));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert!(checked >= 10, "only {checked} marked blocks: markers lost?");
}

/// Every block of runtime.md's "surface generated code calls" sections is checked.
#[test]
fn the_surface_sections_show_only_checked_code() {
    let blocks = blocks("docs/runtime.md");
    let surface: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.heading.contains("surface generated code calls"))
        .collect();
    for block in &surface {
        assert!(
            block.generated.is_some(),
            "{}: code in a surface section must name the golden file it comes from \
             (`{MARKER}rustctl/tests/snapshots/... -->`)",
            block.at
        );
    }
    assert!(surface.len() >= 8, "the surface sections lost their code");
}

#[test]
fn an_excerpt_matches_whole_lines_in_order() {
    let golden = "fn a() {\n    one();\n    two();\n}\n";
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(missing_part(&lines("fn a() {\n    one();"), golden), None);
    assert_eq!(missing_part(&lines("fn a() {\n// ...\n}"), golden), None);
    // A piece of a line, or lines out of order, are not excerpts.
    assert!(missing_part(&lines("one();"), golden).is_some());
    assert!(missing_part(&lines("    two();\n// ...\n    one();"), golden).is_some());
    assert!(missing_part(&lines("    one();\n}"), golden).is_some());
}
