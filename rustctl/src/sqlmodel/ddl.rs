//! CREATE TABLE (and CREATE UNIQUE INDEX) statements → [`Table`]s, parsed by sqlparser with the
//! dialect's grammar. Other statements (DROP, INSERT, SET, ...) are skipped, as goctl does.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use sqlparser::ast::{
    ColumnOption, CreateIndex, CreateTable, Expr, IndexColumn, ObjectName, Statement,
    TableConstraint,
};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Span, Token};

use super::types::rust_type;
use super::{Column, Dialect, Table};

/// goctl's default `--ignore-columns`.
pub const DEFAULT_IGNORED: &str =
    "create_at,created_at,create_time,update_at,updated_at,update_time";

/// How tables are read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Columns left to the database on insert and update.
    pub ignored: BTreeSet<String>,
    /// `--strict`: unsigned integers keep unsigned Rust types (else `i64`, as goctl).
    pub strict: bool,
}

/// One problem, already naming `file:line:column` and what to do.
pub type Problem = String;

fn sql_dialect(d: Dialect) -> Box<dyn SqlDialect> {
    match d {
        Dialect::Mysql => Box::new(MySqlDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
    }
}

fn at(file: &str, span: Span) -> String {
    if span.start.line == 0 {
        file.to_string()
    } else {
        format!("{file}:{}:{}", span.start.line, span.start.column)
    }
}

/// The unquoted last part of `name` (`public.user` → `user`).
fn last_ident(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_else(|| name.to_string())
}

/// The column an index entry names (`a`, or `a(10)` as MySQL prefixes are parsed).
fn index_column(c: &IndexColumn) -> Option<String> {
    match &c.column.expr {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone()),
        _ => None,
    }
}

/// Parses `sql` (the text of `file`) for `dialect`; every table, or every problem found.
pub fn parse(
    file: &str,
    sql: &str,
    dialect: Dialect,
    options: &ReadOptions,
) -> Result<Vec<Table>, Vec<Problem>> {
    let statements = Parser::parse_sql(&*sql_dialect(dialect), sql).map_err(|e| {
        // sqlparser's message ends "at Line: L, Column: C"; name the place first, as every
        // rustctl error does.
        let msg = e.to_string();
        let place = msg.rsplit_once(" at Line: ").and_then(|(m, lc)| {
            let (l, c) = lc.split_once(", Column: ")?;
            Some((m.to_string(), l.trim().to_string(), c.trim().to_string()))
        });
        vec![match place {
            Some((m, l, c)) => format!(
                "{file}:{l}:{c}: not valid {} DDL: {}",
                dialect.command(),
                m.trim_start_matches("sql parser error: ")
            ),
            None => format!("{file}: not valid {} DDL: {msg}", dialect.command()),
        }]
    })?;
    let mut creates = Vec::new();
    let mut indexes: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for stmt in &statements {
        match stmt {
            Statement::CreateTable(t) => creates.push(t),
            Statement::CreateIndex(CreateIndex {
                unique: true,
                table_name,
                columns,
                ..
            }) => indexes
                .entry(last_ident(table_name))
                .or_default()
                .push(columns.iter().filter_map(index_column).collect()),
            _ => {}
        }
    }
    let mut tables = Vec::new();
    let mut problems = Vec::new();
    for create in creates {
        let extra = indexes
            .remove(&last_ident(&create.name))
            .unwrap_or_default();
        match table(file, create, extra, dialect, options) {
            Ok(t) => tables.push(t),
            Err(mut p) => problems.append(&mut p),
        }
    }
    for (name, _) in indexes {
        problems.push(format!(
            "{file}: CREATE UNIQUE INDEX on `{}`, which no CREATE TABLE here declares",
            name.escape_debug()
        ));
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}

fn is_auto_word(t: &Token) -> bool {
    matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case("AUTO_INCREMENT")
        || w.value.eq_ignore_ascii_case("AUTOINCREMENT"))
}

fn table(
    file: &str,
    create: &CreateTable,
    extra_uniques: Vec<Vec<String>>,
    dialect: Dialect,
    options: &ReadOptions,
) -> Result<Table, Vec<Problem>> {
    use sqlparser::ast::Spanned;
    let name = last_ident(&create.name);
    let origin = at(file, create.name.span());
    let mut problems = Vec::new();
    let mut primary: Vec<String> = Vec::new();
    let mut uniques: Vec<Vec<String>> = Vec::new();
    let mut columns = Vec::new();
    let mut fields = BTreeMap::new();
    for def in &create.columns {
        let col = def.name.value.clone();
        let mut nullable = true;
        let mut auto = false;
        let mut comment = None;
        for opt in &def.options {
            match &opt.option {
                ColumnOption::NotNull => nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    primary.push(col.clone());
                }
                ColumnOption::Unique(_) => uniques.push(vec![col.clone()]),
                ColumnOption::Comment(c) => comment = Some(c.clone()),
                ColumnOption::DialectSpecific(tokens) if tokens.iter().any(is_auto_word) => {
                    auto = true;
                }
                ColumnOption::Generated { .. } => auto = true,
                _ => {}
            }
        }
        let sql_type = def.data_type.to_string();
        if sql_type.to_ascii_uppercase().contains("SERIAL") {
            auto = true;
        }
        let field = field_name(&col);
        if let Some(other) = fields.insert(field.clone(), col.clone()) {
            problems.push(format!(
                "{}: table `{}`: columns `{}` and `{}` both become the field `{field}`; rename one",
                at(file, def.name.span),
                name.escape_debug(),
                other.escape_debug(),
                col.escape_debug()
            ));
        }
        let rust = match rust_type(dialect, &sql_type, nullable, options.strict) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!(
                    "{}: table `{}`, column `{}`: {e}",
                    at(file, def.name.span),
                    name.escape_debug(),
                    col.escape_debug()
                ));
                continue;
            }
        };
        columns.push(Column {
            ignored: options.ignored.contains(&col.to_ascii_lowercase()),
            name: col,
            field,
            sql_type,
            rust,
            nullable,
            auto,
            comment,
        });
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                primary.extend(pk.columns.iter().filter_map(index_column));
            }
            TableConstraint::Unique(u) => {
                uniques.push(u.columns.iter().filter_map(index_column).collect());
            }
            _ => {}
        }
    }
    uniques.extend(extra_uniques);
    if !problems.is_empty() {
        return Err(problems);
    }
    assemble(name, origin, columns, primary, uniques, dialect)
}

/// The table of `columns`, keyed by the columns named in `primary`, with the unique indexes
/// `uniques` (column names); the checks every source of tables shares.
pub(super) fn assemble(
    name: String,
    origin: String,
    mut columns: Vec<Column>,
    primary: Vec<String>,
    uniques: Vec<Vec<String>>,
    dialect: Dialect,
) -> Result<Table, Vec<Problem>> {
    let names: Vec<String> = columns.iter().map(|c: &Column| c.name.clone()).collect();
    let position = |c: &str| names.iter().position(|n| n.eq_ignore_ascii_case(c));
    let primary = match primary.as_slice() {
        [one] => match position(one) {
            Some(p) => p,
            None => {
                return Err(vec![format!(
                    "{origin}: table `{}`: the primary key names `{}`, which is not a column",
                    name.escape_debug(),
                    one.escape_debug()
                )]);
            }
        },
        [] => {
            return Err(vec![format!(
                "{origin}: table `{}` has no primary key; models find, update and delete rows by \
                 it: add one (`id BIGINT PRIMARY KEY`) or leave the table out",
                name.escape_debug()
            )]);
        }
        many => {
            return Err(vec![format!(
                "{origin}: table `{}` has a primary key of {} columns ({}); models need a \
                 single-column key (goctl's rule too): add a surrogate key and make these a \
                 UNIQUE index",
                name.escape_debug(),
                many.len(),
                many.join(", ").escape_debug()
            )]);
        }
    };
    // SQLite: an INTEGER PRIMARY KEY is the rowid, assigned on insert.
    if dialect == Dialect::Sqlite && columns[primary].sql_type.eq_ignore_ascii_case("INTEGER") {
        columns[primary].auto = true;
    }
    columns[primary].nullable = false;
    columns[primary].rust = columns[primary].rust.required();
    let mut unique_positions: Vec<Vec<usize>> = Vec::new();
    for u in uniques {
        let mut pos = Vec::new();
        for c in &u {
            match position(c) {
                Some(p) => pos.push(p),
                None => {
                    return Err(vec![format!(
                        "{origin}: table `{}`: a UNIQUE index names `{}`, which is not a column",
                        name.escape_debug(),
                        c.escape_debug()
                    )]);
                }
            }
        }
        if pos.is_empty() || pos == [primary] || unique_positions.contains(&pos) {
            continue;
        }
        unique_positions.push(pos);
    }
    if type_name(&name).is_none() {
        return Err(vec![format!(
            "{origin}: table `{}` makes no Rust type name; rename it",
            name.escape_debug()
        )]);
    }
    Ok(Table {
        name,
        columns,
        primary,
        uniques: unique_positions,
        origin,
    })
}

/// A column name as a Rust field: snake case, only `[a-z0-9_]`, never a keyword.
pub fn field_name(column: &str) -> String {
    let snake: String = column
        .to_snake_case()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let snake = if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        format!("f_{snake}")
    } else {
        snake
    };
    if crate::api::lower::is_keyword(&snake) {
        format!("{snake}_")
    } else {
        snake
    }
}

/// A table name as a Rust type name (`user_info` → `UserInfo`); `None` when nothing is left.
pub fn type_name(table: &str) -> Option<String> {
    let camel: String = table
        .to_upper_camel_case()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if camel.is_empty() {
        return None;
    }
    let camel = if camel.starts_with(|c: char| c.is_ascii_digit()) {
        format!("T{camel}")
    } else {
        camel
    };
    Some(if crate::api::lower::is_keyword(&camel) {
        format!("{camel}Row")
    } else {
        camel
    })
}
