//! `rustctl api new`, `rustctl api go` and `rustctl template init`.

use std::io;
use std::path::{Path, PathBuf};

use super::{GenArgs, GoArgs, ImportArgs, NewArgs, Output, RuntimeArgs, TemplateInitArgs};
use crate::api::lower::lower;
use crate::codegen::api::{new_contract, plan};
use crate::codegen::templates::{Templates, write_all};
use crate::codegen::{FilePlan, GenError, Options, RuntimeDep};
use crate::diagnostic::display_path;
use crate::writer::{Confined, Mode, Report, apply_with};

/// The runtime crate of the checkout this binary was built from.
fn checkout_runtime() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime")
        .canonicalize()
        .ok()
}

/// The runtime dependency for a service in `service_dir`, and whether the service should be a
/// workspace of its own (it is, unless it lies inside this checkout, like the examples).
pub(super) fn runtime_dep(
    args: &RuntimeArgs,
    service_dir: &Path,
) -> io::Result<(RuntimeDep, bool)> {
    std::fs::create_dir_all(service_dir)?;
    let service_dir = service_dir.canonicalize()?;
    let checkout = checkout_runtime();
    let inside = checkout
        .as_ref()
        .and_then(|r| r.parent())
        .is_some_and(|root| service_dir.starts_with(root));
    let dep = if let Some(v) = &args.runtime_version {
        RuntimeDep::Version(v.clone())
    } else if let Some(url) = &args.runtime_git {
        RuntimeDep::Git {
            url: url.clone(),
            rev: args.runtime_rev.clone(),
        }
    } else {
        let target = match &args.runtime_path {
            Some(p) => p.canonicalize()?,
            None => match checkout {
                Some(p) => p,
                None => return Ok((RuntimeDep::Version(env!("CARGO_PKG_VERSION").into()), true)),
            },
        };
        RuntimeDep::Path(relative_if_inside(&target, &service_dir, inside))
    };
    Ok((dep, !inside))
}

/// `target` relative to `from` when both are inside the checkout, so nothing machine-specific is
/// committed; absolute otherwise.
fn relative_if_inside(target: &Path, from: &Path, inside: bool) -> String {
    if !inside {
        return display_path(target);
    }
    let common = target
        .components()
        .zip(from.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut rel = PathBuf::new();
    for _ in 0..ups {
        rel.push("..");
    }
    for c in target.components().skip(common) {
        rel.push(c);
    }
    display_path(&rel)
}

/// Whether `name` can name a new service: its directory, contract, crate and config.
pub(super) fn check_new_name(name: &str, o: &mut Output<'_>) -> io::Result<bool> {
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.split('-').all(word)
        && !crate::api::lower::is_keyword(name);
    if !ok {
        writeln!(
            o.err,
            "error: `{}` cannot name a service: use ASCII letters, digits, `_` and `-`, starting \
             with a letter (e.g. `greet` or `user-center`), and no Rust keyword",
            name.escape_debug()
        )?;
    }
    Ok(ok)
}

/// `rustctl api new NAME`: a contract like goctl's, then `api go` on it.
pub fn api_new(args: &NewArgs, o: &mut Output<'_>) -> io::Result<i32> {
    if !check_new_name(&args.name, o)? {
        return Ok(2);
    }
    let dir = args.dir.join(&args.name);
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        writeln!(
            o.err,
            "error: {} already exists and is not empty; use `rustctl api go` to update a service",
            display_path(&dir)
        )?;
        return Ok(1);
    }
    let templates = match Templates::load(args.codegen.home.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    let contract = match new_contract(&templates, &args.name) {
        Ok(c) => c,
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    let api_name = format!("{}.api", args.name);
    Confined::new(&dir).create(Path::new(&api_name), contract.as_bytes())?;
    let api = dir.join(api_name);
    writeln!(o.out, "created  {}", display_path(&api))?;
    let imports = ImportArgs::default();
    let code = generate(&api, &dir, &args.codegen, &imports, args.port, false, o)?;
    if code == 0 {
        writeln!(
            o.out,
            "\nDone. Run it:\n  cd {} && cargo run\n  curl http://127.0.0.1:{}/from/you",
            display_path(&dir),
            args.port
        )?;
    }
    Ok(code)
}

/// `rustctl api go`.
pub fn api_go(args: &GoArgs, o: &mut Output<'_>) -> io::Result<i32> {
    generate(
        &args.api,
        &args.dir,
        &args.codegen,
        &args.imports,
        args.port,
        args.check,
        o,
    )
}

fn generate(
    api: &Path,
    dir: &Path,
    codegen: &GenArgs,
    imports: &ImportArgs,
    port: u16,
    check: bool,
    o: &mut Output<'_>,
) -> io::Result<i32> {
    let checked = crate::api::check_with(
        api,
        &crate::api::CheckOptions {
            imports: imports.policy(),
            style: codegen.style,
        },
    );
    write!(o.err, "{}", checked.render(o.color))?;
    if checked.has_errors() {
        writeln!(
            o.err,
            "{}: not generated: fix the errors first",
            display_path(api)
        )?;
        return Ok(1);
    }
    let contract = api
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let service = lower(&checked.loaded, &contract);
    let options = options(codegen, dir, port, check)?;
    let plan = Templates::load(codegen.home.as_deref()).and_then(|t| plan(&service, &t, &options));
    let mode = Mode {
        check,
        prune: codegen.prune,
    };
    write_plan(plan, dir, mode, "rustctl api go", o)
}

/// The generator options for a service in `dir`.
pub(super) fn options(
    codegen: &GenArgs,
    dir: &Path,
    port: u16,
    check: bool,
) -> io::Result<Options> {
    let (runtime, standalone) = if check {
        (RuntimeDep::Path(String::new()), false) // scaffold files are not compared in --check
    } else {
        runtime_dep(&codegen.runtime, dir)?
    };
    Ok(Options {
        style: codegen.style,
        runtime,
        standalone,
        port,
    })
}

/// Applies a plan (or reports why there is none) and prints what happened; the exit code.
pub(super) fn write_plan(
    plan: Result<FilePlan, GenError>,
    dir: &Path,
    mode: Mode,
    regenerate: &str,
    o: &mut Output<'_>,
) -> io::Result<i32> {
    let check = mode.check;
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    for name in &plan.overrides {
        writeln!(o.err, "using template override {name}")?;
    }
    let report = apply_with(&plan, dir, mode)?;
    print_report(&report, dir, check, o)?;
    if check && report.changed() {
        let prune = if report.obsolete.is_empty() {
            ""
        } else {
            " --prune"
        };
        writeln!(
            o.err,
            "generated code is out of date with the contract: run `{regenerate}{prune}`"
        )?;
        return Ok(1);
    }
    Ok(0)
}

pub(super) fn print_report(
    report: &Report,
    dir: &Path,
    check: bool,
    o: &mut Output<'_>,
) -> io::Result<()> {
    let show = |p: &PathBuf| display_path(&dir.join(p));
    let (created, updated) = if check {
        ("would create", "would update")
    } else {
        ("created ", "updated ")
    };
    for p in &report.created {
        writeln!(o.out, "{created} {}", show(p))?;
    }
    for p in &report.updated {
        writeln!(o.out, "{updated} {}", show(p))?;
    }
    for p in &report.orphaned {
        writeln!(
            o.out,
            "orphaned {} (no route in the contract uses it; delete it when you no longer need it)",
            show(p)
        )?;
    }
    for p in &report.obsolete {
        writeln!(
            o.out,
            "obsolete {} (generated for something no longer in the contract; `--prune` deletes it)",
            show(p)
        )?;
    }
    for p in &report.removed {
        writeln!(o.out, "removed  {}", show(p))?;
    }
    for (p, signature) in &report.stale {
        writeln!(
            o.out,
            "stale    {} (the contract now expects `{signature}`; update the function to match)",
            show(p)
        )?;
    }
    writeln!(
        o.out,
        "{} created, {} updated, {} unchanged, {} of your files left as they are",
        report.created.len(),
        report.updated.len(),
        report.unchanged.len(),
        report.kept.len()
    )?;
    Ok(())
}

/// `rustctl template init`.
pub fn template_init(args: &TemplateInitArgs, o: &mut Output<'_>) -> io::Result<i32> {
    for (path, written) in write_all(&args.home, args.force)? {
        let what = if written { "wrote   " } else { "kept    " };
        writeln!(o.out, "{what} {}", display_path(&path))?;
    }
    writeln!(
        o.out,
        "Edit them, then pass `--home {}` to `rustctl api go`; templates you delete fall back to the built-in ones.",
        display_path(&args.home)
    )?;
    Ok(0)
}
