//! `rustctl api openapi`, `rustctl api ts` and `rustctl api doc`: documents for the contract's
//! consumers (other tools, front ends, readers), from the same lowered contract as the code.

use std::io;
use std::path::Path;

use super::{ClientArgs, ImportArgs, OpenapiArgs, Output};
use crate::api::Checked;
use crate::api::lower::lower;
use crate::codegen::templates::Templates;
use crate::diagnostic::display_path;
use crate::model::Service;
use crate::writer::{Confined, Mode};

/// Loads and validates the contract, printing every finding; `None` when it has errors.
fn load(
    api: &Path,
    imports: &ImportArgs,
    what: &str,
    o: &mut Output<'_>,
) -> io::Result<Option<(Checked, Service)>> {
    let checked = crate::api::check_with(
        api,
        &crate::api::CheckOptions {
            imports: imports.policy(),
            ..Default::default()
        },
    );
    write!(o.err, "{}", checked.render(o.color))?;
    if checked.has_errors() {
        writeln!(
            o.err,
            "{}: no {what} written: fix the errors first",
            display_path(api)
        )?;
        return Ok(None);
    }
    let contract = api
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let service = lower(&checked.loaded, &contract);
    Ok(Some((checked, service)))
}

/// `rustctl api openapi`.
pub fn openapi(args: &OpenapiArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let Some((checked, service)) = load(&args.api, &args.imports, "document", o)? else {
        return Ok(1);
    };
    let options = crate::openapi::Options {
        servers: args.servers.clone(),
    };
    let built = crate::openapi::build(&service, &checked.loaded, &options);
    write!(
        o.err,
        "{}",
        checked.loaded.sources.render_all(&built.warnings, o.color)
    )?;
    let text = if args.yaml {
        match built.document.to_yaml() {
            Ok(text) => text,
            Err(e) => {
                writeln!(o.err, "error: writing YAML: {e}")?;
                return Ok(1);
            }
        }
    } else {
        built.document.to_json()
    };
    let Some(output) = &args.output else {
        write!(o.out, "{text}")?;
        return Ok(0);
    };
    // Written by name in its own directory, never through a link.
    let (dir, name) = match (output.parent(), output.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => (dir, Path::new(name)),
        (_, Some(name)) => (Path::new("."), Path::new(name)),
        _ => {
            writeln!(o.err, "error: {} names no file", display_path(output))?;
            return Ok(2);
        }
    };
    let target = Confined::new(dir);
    let old = target.read(name)?;
    if old.as_deref() == Some(text.as_bytes()) {
        writeln!(o.out, "unchanged {}", display_path(output))?;
        return Ok(0);
    }
    if args.check {
        writeln!(
            o.out,
            "{} is out of date with the contract: run `rustctl api openapi` without --check",
            display_path(output)
        )?;
        return Ok(1);
    }
    target.replace(name, text.as_bytes())?;
    let verb = if old.is_some() {
        "updated "
    } else {
        "created "
    };
    writeln!(o.out, "{verb} {}", display_path(output))?;
    Ok(0)
}

/// `rustctl api ts`.
pub fn ts(args: &ClientArgs, o: &mut Output<'_>) -> io::Result<i32> {
    generate(
        args,
        "client",
        "rustctl api ts",
        o,
        crate::consumers::ts::plan,
    )
}

/// `rustctl api doc`.
pub fn doc(args: &ClientArgs, o: &mut Output<'_>) -> io::Result<i32> {
    generate(
        args,
        "docs",
        "rustctl api doc",
        o,
        crate::consumers::markdown::plan,
    )
}

type Planner = fn(
    &Service,
    &crate::api::loader::Loaded,
    &Templates,
) -> Result<crate::consumers::Planned, crate::codegen::GenError>;

fn generate(
    args: &ClientArgs,
    what: &str,
    regenerate: &str,
    o: &mut Output<'_>,
    planner: Planner,
) -> io::Result<i32> {
    let Some((checked, service)) = load(&args.api, &args.imports, what, o)? else {
        return Ok(1);
    };
    let planned =
        Templates::load(args.home.as_deref()).and_then(|t| planner(&service, &checked.loaded, &t));
    let plan = match planned {
        Ok(planned) => {
            write!(
                o.err,
                "{}",
                checked
                    .loaded
                    .sources
                    .render_all(&planned.warnings, o.color)
            )?;
            Ok(planned.plan)
        }
        Err(e) => Err(e),
    };
    let mode = Mode {
        check: args.check,
        prune: false,
    };
    super::generate::write_plan(plan, &args.dir, mode, regenerate, o)
}
