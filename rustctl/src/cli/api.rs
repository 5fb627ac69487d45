//! `rustctl api validate` and `rustctl api format`.

use std::io;
use std::path::{Path, PathBuf};

use super::{FormatArgs, Output, ValidateArgs};
use crate::api::ast::Item;
use crate::api::{format as formatter, parser};
use crate::diagnostic::{SourceMap, display_path};
use crate::writer::Confined;

/// Loads, validates and reports; exit 1 when there is any error.
pub fn validate(args: &ValidateArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let checked = crate::api::check_with(
        &args.api,
        &crate::api::CheckOptions {
            imports: args.imports.policy(),
            style: args.style,
        },
    );
    let (loaded, diagnostics) = (&checked.loaded, &checked.diagnostics);
    write!(o.err, "{}", checked.render(o.color))?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        writeln!(
            o.err,
            "{}: {errors} error(s), {warnings} warning(s)",
            display_path(&args.api)
        )?;
        return Ok(1);
    }
    let (mut types, mut routes) = (0, 0);
    for (_, file) in loaded.iter() {
        for item in &file.items {
            match item {
                Item::Type(t) => types += t.decls.len(),
                Item::Service(s) => routes += s.items.len(),
                _ => {}
            }
        }
    }
    writeln!(
        o.out,
        "{}: ok ({} file(s), {types} type(s), {routes} route(s), {warnings} warning(s))",
        display_path(&args.api),
        loaded.files.len(),
    )?;
    Ok(0)
}

/// Formats each file; with `--check`, only reports the ones that would change.
pub fn format(args: &FormatArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let mut files = args.api.clone();
    if let Some(dir) = &args.dir {
        collect_api_files(dir, &mut files)?;
    }
    let mut code = 0;
    for path in files {
        let text = match crate::contract_file::read_contract(&path, None) {
            Ok(text) => text,
            Err(e) => {
                writeln!(o.err, "{}: cannot read: {e}", display_path(&path))?;
                code = 1;
                continue;
            }
        };
        let (ast, errors) = parser::parse(&text, 0);
        if !errors.is_empty() {
            let mut sources = SourceMap::default();
            sources.add(path.clone(), text);
            write!(o.err, "{}", sources.render_all(&errors, o.color))?;
            writeln!(
                o.err,
                "{}: not formatted: fix the syntax errors first",
                display_path(&path)
            )?;
            code = 1;
            continue;
        }
        let formatted = formatter::format(&ast, &text);
        if args.stdout {
            write!(o.out, "{formatted}")?;
        } else if formatted != text {
            if args.check {
                writeln!(o.out, "{}: not formatted", display_path(&path))?;
                code = 1;
            } else {
                // Replaced by name in its own directory, never through a link.
                let (dir, name) = match (path.parent(), path.file_name()) {
                    (Some(dir), Some(name)) => (dir, Path::new(name)),
                    _ => (Path::new("."), path.as_path()),
                };
                Confined::new(dir).replace(name, formatted.as_bytes())?;
                writeln!(o.out, "{}: formatted", display_path(&path))?;
            }
        }
    }
    Ok(code)
}

/// Every `*.api` file under `dir`, sorted so runs are deterministic. Links are not followed: a
/// linked directory is not walked, and a linked `.api` file is an error (formatting it would
/// write through the link).
fn collect_api_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?))))
        .collect::<io::Result<_>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in entries {
        let is_api = path.extension().is_some_and(|e| e == "api");
        if kind.is_dir() {
            collect_api_files(&path, out)?;
        } else if kind.is_symlink() && is_api {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to format {}: it is a symlink; rustctl never writes through one",
                    display_path(&path)
                ),
            ));
        } else if kind.is_file() && is_api {
            out.push(path);
        }
    }
    Ok(())
}
