//! `rustctl model`: database tables → sqlx models, as goctl's `model mysql|pg`.
//!
//! One direction of flow: a CREATE TABLE statement (parsed by sqlparser for its dialect, see
//! [`ddl`]) becomes a [`Table`]; [`codegen`] turns tables into a file plan for the writer.
//! Names and Rust types are settled while building the table ([`types`]), never in templates.

pub mod codegen;
pub mod ddl;
pub mod types;

/// The database a model is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// MySQL and MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// The command word (`rustctl model <word> ...`).
    pub fn command(self) -> &'static str {
        match self {
            Dialect::Mysql => "mysql",
            Dialect::Postgres => "pg",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The runtime's cargo feature, and sqlx's.
    pub fn feature(self) -> &'static str {
        match self {
            Dialect::Mysql => "mysql",
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The sqlx database type.
    pub fn sqlx_db(self) -> &'static str {
        match self {
            Dialect::Mysql => "MySql",
            Dialect::Postgres => "Postgres",
            Dialect::Sqlite => "Sqlite",
        }
    }

    /// `name` as a quoted identifier (a quote inside is doubled, as every dialect reads it).
    pub fn quote(self, name: &str) -> String {
        let q = if self == Dialect::Mysql { '`' } else { '"' };
        let mut out = String::with_capacity(name.len() + 2);
        out.push(q);
        for c in name.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// The `n`th (1-based) bind placeholder.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql | Dialect::Sqlite => "?".into(),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The SQL name.
    pub name: String,
    /// The Rust field name (snake case, never a keyword).
    pub field: String,
    /// The SQL type as written (`varchar(255)`).
    pub sql_type: String,
    /// The Rust type of the field, `Option<..>` included when nullable.
    pub rust: types::RustType,
    /// `NULL` allowed.
    pub nullable: bool,
    /// Filled by the database (`AUTO_INCREMENT`, `SERIAL`, identity, SQLite's `INTEGER PRIMARY
    /// KEY`, a generated column): never inserted or updated.
    pub auto: bool,
    /// In `--ignore-columns`: left to the database's default on insert and update.
    pub ignored: bool,
    /// The column's comment.
    pub comment: Option<String>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The SQL name (without schema).
    pub name: String,
    /// The columns, in table order.
    pub columns: Vec<Column>,
    /// The primary key column.
    pub primary: usize,
    /// Unique indexes other than the primary key, each as column positions.
    pub uniques: Vec<Vec<usize>>,
    /// Where it was declared (`file:line:column` or `schema.table`), for messages.
    pub origin: String,
}
