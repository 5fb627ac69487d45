//! `rustctl rpc protoc` and `rustctl rpc new`.

use std::io;
use std::path::Path;

use super::generate::{check_new_name, options, write_plan};
use super::{GenArgs, Output, ProtocArgs, RpcNewArgs};
use crate::codegen::rpc::{new_proto, plan};
use crate::codegen::templates::Templates;
use crate::diagnostic::display_path;
use crate::proto;
use crate::writer::{Confined, Mode};

/// `rustctl rpc protoc FILE.proto --out DIR`.
pub fn protoc(args: &ProtocArgs, o: &mut Output<'_>) -> io::Result<i32> {
    generate(
        &args.proto,
        &args.out,
        &args.includes,
        &args.codegen,
        args.port,
        args.check,
        o,
    )
}

/// `rustctl rpc new NAME`: a `.proto` like goctl's, then `rpc protoc` on it.
pub fn new(args: &RpcNewArgs, o: &mut Output<'_>) -> io::Result<i32> {
    if !check_new_name(&args.name, o)? {
        return Ok(2);
    }
    let dir = args.dir.join(&args.name);
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        writeln!(
            o.err,
            "error: {} already exists and is not empty; use `rustctl rpc protoc` to update a service",
            display_path(&dir)
        )?;
        return Ok(1);
    }
    let contract = match Templates::load(args.codegen.home.as_deref())
        .and_then(|t| new_proto(&t, &args.name))
    {
        Ok(c) => c,
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    let name = format!("{}.proto", args.name);
    Confined::new(&dir).create(Path::new(&name), contract.as_bytes())?;
    let file = dir.join(name);
    writeln!(o.out, "created  {}", display_path(&file))?;
    let code = generate(&file, &dir, &[], &args.codegen, args.port, false, o)?;
    if code == 0 {
        writeln!(
            o.out,
            "\nDone. Run it:\n  cd {} && cargo run",
            display_path(&dir)
        )?;
    }
    Ok(code)
}

fn generate(
    file: &Path,
    dir: &Path,
    includes: &[std::path::PathBuf],
    codegen: &GenArgs,
    port: u16,
    check: bool,
    o: &mut Output<'_>,
) -> io::Result<i32> {
    let compiled = match proto::compile(file, includes) {
        Ok(c) => c,
        Err(e) => {
            write!(o.err, "{}", e.render(o.color))?;
            writeln!(
                o.err,
                "{}: not generated: fix the errors first",
                display_path(file)
            )?;
            return Ok(1);
        }
    };
    let rpc = proto::lower::lower(&compiled);
    let clashes = proto::names::check(&compiled, &rpc, codegen.style);
    if !rpc
        .crate_name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        || !rpc
            .crate_name
            .starts_with(|c: char| c.is_ascii_alphabetic())
    {
        writeln!(
            o.err,
            "{}: the file name must make a crate name (ASCII letters, digits, `_` and `-`, \
             starting with a letter); `{}` does not",
            display_path(file),
            rpc.crate_name.escape_debug()
        )?;
        return Ok(1);
    }
    if !clashes.is_empty() {
        for clash in &clashes {
            writeln!(o.err, "error: {clash}")?;
        }
        writeln!(
            o.err,
            "{}: not generated: fix the errors first",
            display_path(file)
        )?;
        return Ok(1);
    }
    if rpc.services.is_empty() {
        writeln!(
            o.err,
            "{}: declares no service: nothing to generate",
            display_path(file)
        )?;
        return Ok(1);
    }
    let pb = match proto::generate_code(&compiled) {
        Ok(files) => files,
        Err(e) => {
            write!(o.err, "{}", e.render(o.color))?;
            return Ok(1);
        }
    };
    let descriptor = prost::Message::encode_to_vec(&compiled.descriptors);
    let options = options(codegen, dir, port, check)?;
    let plan = Templates::load(codegen.home.as_deref())
        .and_then(|t| plan(&rpc, &pb, &descriptor, &t, &options));
    let mode = Mode {
        check,
        prune: codegen.prune,
    };
    write_plan(plan, dir, mode, "rustctl rpc protoc", o)
}
