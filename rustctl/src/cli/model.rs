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
    /// Accepted for goctl's command lines: the mapping is always strict (unsigned MySQL
    /// integers are unsigned Rust integers, nullable columns `Option`), as sqlx decodes exactly.
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
    if code == 0 && !args.check {
        hint_manifest(&args.dir, dialect, o)?;
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

/// Tells what the service around `dir` still needs: the runtime's database feature and the
/// `mod` line. rustctl does not edit your `Cargo.toml` or `main.rs`.
fn hint_manifest(dir: &Path, dialect: Dialect, o: &mut Output<'_>) -> io::Result<()> {
    let Ok(abs) = dir.canonicalize() else {
        return Ok(());
    };
    let Some(root) = abs.ancestors().find(|a| a.join("Cargo.toml").is_file()) else {
        return Ok(());
    };
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let feature = dialect.feature();
    let has_feature = manifest
        .lines()
        .filter(|l| l.trim_start().starts_with("rustctl-runtime"))
        .any(|l| l.contains(&format!("\"{feature}\"")));
    if manifest.contains("rustctl-runtime") && !has_feature {
        writeln!(
            o.out,
            "next: in {}, add `features = [\"{feature}\"]` to the rustctl-runtime dependency",
            display_path(&root.join("Cargo.toml"))
        )?;
    }
    if let Ok(rel) = abs.strip_prefix(root.join("src"))
        && rel.components().count() == 1
    {
        let module = rel.display();
        let declared = ["main.rs", "lib.rs"].iter().any(|f| {
            std::fs::read_to_string(root.join("src").join(f)).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.trim() == format!("mod {module};") || l.trim() == format!("pub mod {module};")
                })
            })
        });
        if !declared {
            writeln!(o.out, "next: declare `mod {module};` in src/main.rs")?;
        }
    }
    Ok(())
}
