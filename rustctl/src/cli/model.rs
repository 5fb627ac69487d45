//! `rustctl model mysql|pg|sqlite ddl`: models from CREATE TABLE statements, as goctl's
//! `model mysql ddl`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::Output;
use super::generate::write_plan;
use crate::codegen::Style;
use crate::codegen::templates::Templates;
use crate::diagnostic::display_path;
use crate::sqlmodel::codegen::{ModelOptions, plan};
use crate::sqlmodel::ddl::{DEFAULT_IGNORED, ReadOptions, parse};
use crate::sqlmodel::{Dialect, MODEL_HEADER, Table};
use crate::writer::{Confined, Mode};

/// `rustctl model ...`: the database.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// MySQL or MariaDB models.
    #[command(subcommand)]
    Mysql(SourceCommand),
    /// PostgreSQL models.
    #[command(subcommand)]
    Pg(SourceCommand),
    /// SQLite models (an embedded database: nothing to run).
    #[command(subcommand)]
    Sqlite(SourceCommand),
}

/// Where the tables come from.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// From CREATE TABLE statements in `.sql` files.
    Ddl(DdlArgs),
    /// From a live database's catalog (MySQL and PostgreSQL).
    Datasource(DatasourceArgs),
}

/// `rustctl model <db> ddl`
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The DDL file, or a glob of them (`'sql/*.sql'`).
    #[arg(long, value_name = "FILE|GLOB")]
    pub src: String,
    /// What to generate and where.
    #[command(flatten)]
    pub gen_args: ModelArgs,
}

/// `rustctl model mysql|pg datasource`
#[derive(Debug, Args)]
pub struct DatasourceArgs {
    /// The database (`mysql://root@127.0.0.1:3306/app`, `postgres://user@host:5432/app`).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The tables: globs, comma-separated (`'user*,order'`; `'*'` for all).
    #[arg(long, short = 't', value_name = "PATTERNS")]
    pub table: String,
    /// PostgreSQL's schema.
    #[arg(long, default_value = "public")]
    pub schema: String,
    /// What to generate and where.
    #[command(flatten)]
    pub gen_args: ModelArgs,
}

/// Options shared by every source.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The model directory (a service's `src/model`).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Cache rows in Redis (go-zero's cached model).
    #[arg(short = 'c', long)]
    pub cache: bool,
    /// How file names are spelled.
    #[arg(long, value_enum, default_value_t = Style::Snake)]
    pub style: Style,
    /// Columns left to the database's default on insert and update (comma-separated).
    #[arg(long, short = 'i', value_name = "COLUMNS", default_value = DEFAULT_IGNORED)]
    pub ignore_columns: String,
    /// Keep unsigned integer columns unsigned (`INT UNSIGNED` → `u32`); without it they are
    /// `i64`, as goctl's default, converted exactly when read and written.
    #[arg(long)]
    pub strict: bool,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Write nothing; exit 1 if any generated file would change.
    #[arg(long)]
    pub check: bool,
}

impl ModelArgs {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            ignored: self
                .ignore_columns
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect(),
            strict: self.strict,
        }
    }
}

/// Runs `rustctl model ...`.
pub fn run(cmd: &ModelCommand, o: &mut Output<'_>) -> io::Result<i32> {
    let (dialect, source) = match cmd {
        ModelCommand::Mysql(s) => (Dialect::Mysql, s),
        ModelCommand::Pg(s) => (Dialect::Postgres, s),
        ModelCommand::Sqlite(s) => (Dialect::Sqlite, s),
    };
    match source {
        SourceCommand::Ddl(args) => ddl(dialect, args, o),
        SourceCommand::Datasource(args) => datasource(dialect, args, o),
    }
}

fn datasource(dialect: Dialect, args: &DatasourceArgs, o: &mut Output<'_>) -> io::Result<i32> {
    if dialect == Dialect::Sqlite {
        writeln!(
            o.err,
            "error: SQLite has no server to read from: use `rustctl model sqlite ddl --src FILE`"
        )?;
        return Ok(2);
    }
    let read = crate::sqlmodel::datasource::read(
        dialect,
        &args.url,
        &args.schema,
        &args.table,
        &args.gen_args.read_options(),
    );
    match read {
        Ok(tables) => generate(dialect, &tables, &args.gen_args, "datasource", o),
        Err(problems) => {
            for p in &problems {
                writeln!(o.err, "error: {p}")?;
            }
            writeln!(o.err, "not generated: fix the errors first")?;
            Ok(1)
        }
    }
}

/// The files `src` names: itself, or what its glob matches, sorted.
fn sources(src: &str) -> Result<Vec<PathBuf>, String> {
    if !src.contains(['*', '?', '[']) {
        return Ok(vec![PathBuf::from(src)]);
    }
    let paths = glob::glob(src).map_err(|e| format!("--src `{src}`: {e}"))?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("--src `{src}` matches no file"));
    }
    Ok(files)
}

fn ddl(dialect: Dialect, args: &DdlArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let files = match sources(&args.src) {
        Ok(f) => f,
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    let options = args.gen_args.read_options();
    let mut tables: Vec<Table> = Vec::new();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        let name = display_path(file);
        let text = match crate::contract_file::read_contract(file, None) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{name}: cannot read: {e}"));
                continue;
            }
        };
        match parse(&name, &text, dialect, &options) {
            Ok(found) => {
                for t in found {
                    if let Some(first) = seen.insert(t.name.to_ascii_lowercase(), t.origin.clone())
                    {
                        problems.push(format!(
                            "{}: table `{}` is declared twice (first at {first})",
                            t.origin,
                            t.name.escape_debug()
                        ));
                    }
                    tables.push(t);
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() && tables.is_empty() {
        problems.push(format!(
            "--src `{}`: no CREATE TABLE statement found",
            args.src
        ));
    }
    if !problems.is_empty() {
        for p in &problems {
            writeln!(o.err, "error: {p}")?;
        }
        writeln!(o.err, "not generated: fix the errors first")?;
        return Ok(1);
    }
    generate(dialect, &tables, &args.gen_args, "ddl", o)
}

/// Plans and writes the models of `tables`.
fn generate(
    dialect: Dialect,
    tables: &[Table],
    args: &ModelArgs,
    source: &str,
    o: &mut Output<'_>,
) -> io::Result<i32> {
    let existing = existing_models(&args.dir)?;
    let options = ModelOptions {
        dialect,
        cache: args.cache,
        style: args.style,
    };
    let plan =
        Templates::load(args.home.as_deref()).and_then(|t| plan(tables, &existing, &t, &options));
    let mode = Mode {
        check: args.check,
        prune: false,
    };
    let regenerate = format!("rustctl model {} {source}", dialect.command());
    let code = write_plan(plan, &args.dir, mode, &regenerate, o)?;
    if code == 0 && wire_service(&args.dir, dialect, args.check, o)? && args.check {
        writeln!(
            o.err,
            "the service is not wired to its models: run `{regenerate}`"
        )?;
        return Ok(1);
    }
    Ok(code)
}

/// Modules of models generated earlier into `dir` (`user_model` for `user_model_gen.rs`
/// carrying `rustctl model`'s header), so `mod.rs` keeps them.
fn existing_models(dir: &Path) -> io::Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let confined = Confined::new(dir);
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(module) = name.strip_suffix("_gen.rs") else {
            continue;
        };
        let generated = confined
            .read(Path::new(&name))?
            .is_some_and(|b| b.starts_with(MODEL_HEADER.as_bytes()));
        if generated
            && module
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            found.push(module.to_string());
        }
    }
    found.sort();
    Ok(found)
}

/// Wires the models into the service around `dir`: the runtime's database feature in its
/// `Cargo.toml` and, for a directory right under `src/`, the `mod` line in `src/main.rs` (or
/// `lib.rs`). Returns whether a file needed (or, with `check`, would need) a change.
fn wire_service(dir: &Path, dialect: Dialect, check: bool, o: &mut Output<'_>) -> io::Result<bool> {
    use crate::sqlmodel::wire::{add_feature, add_mod};
    let Ok(abs) = dir.canonicalize() else {
        return Ok(false);
    };
    let Some(root) = abs
        .ancestors()
        .skip(1)
        .find(|a| a.join("Cargo.toml").is_file())
    else {
        return Ok(false);
    };
    let service = Confined::new(root);
    let verb = if check { "would update" } else { "updated " };
    let mut changed = false;
    let manifest = service.read(Path::new("Cargo.toml"))?.unwrap_or_default();
    let feature = dialect.feature();
    if let Some(new) = add_feature(&String::from_utf8_lossy(&manifest), feature) {
        if !check {
            service.replace(Path::new("Cargo.toml"), new.as_bytes())?;
        }
        writeln!(
            o.out,
            "{verb} {} (rustctl-runtime feature \"{feature}\")",
            display_path(&root.join("Cargo.toml"))
        )?;
        changed = true;
    }
    let Ok(rel) = abs.strip_prefix(root.join("src")) else {
        return Ok(changed);
    };
    let module = match rel.to_str() {
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => m,
        _ => return Ok(changed),
    };
    for file in ["src/main.rs", "src/lib.rs"] {
        let Some(text) = service.read(Path::new(file))? else {
            continue;
        };
        if let Some(new) = add_mod(&String::from_utf8_lossy(&text), module) {
            if !check {
                service.replace(Path::new(file), new.as_bytes())?;
            }
            writeln!(
                o.out,
                "{verb} {} (mod {module};)",
                display_path(&root.join(file))
            )?;
            changed = true;
        }
        break;
    }
    Ok(changed)
}
