//! Tables read from a live database, as goctl's `model mysql|pg datasource`: MySQL/MariaDB
//! through `information_schema`, PostgreSQL through `pg_catalog`. Only the catalog is read.

use sqlx::{Connection, Row};

use super::ddl::{Problem, ReadOptions, assemble, field_name};
use super::types::rust_type;
use super::{Column, Dialect, Table};

/// A column as the catalog describes it.
struct RawColumn {
    name: String,
    sql_type: String,
    nullable: bool,
    auto: bool,
    comment: String,
}

/// The tables of the database at `url` whose names match one of `patterns` (globs such as
/// `user*`, comma-separated; `*` for all); `schema` is PostgreSQL's (default `public`).
pub fn read(
    dialect: Dialect,
    url: &str,
    schema: &str,
    patterns: &str,
    options: &ReadOptions,
) -> Result<Vec<Table>, Vec<Problem>> {
    let patterns: Vec<glob::Pattern> = patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| glob::Pattern::new(p).map_err(|e| vec![format!("--table `{p}`: {e}")]))
        .collect::<Result<_, _>>()?;
    // The catalog queries are a handful; one thread runs them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| vec![format!("cannot start the async runtime: {e}")])?;
    let raw = runtime.block_on(async {
        match dialect {
            Dialect::Mysql => mysql(url).await,
            Dialect::Postgres => postgres(url, schema).await,
            Dialect::Sqlite => {
                Err("SQLite has no datasource reader; use `model sqlite ddl`".into())
            }
        }
    });
    let raw = raw.map_err(|e| vec![e])?;
    let mut tables = Vec::new();
    let mut problems = Vec::new();
    for (name, columns, primary, uniques) in raw {
        if !patterns.iter().any(|p| p.matches(&name)) {
            continue;
        }
        let origin = format!("table `{}`", name.escape_debug());
        let mut cols = Vec::new();
        for c in columns {
            match rust_type(dialect, &c.sql_type, c.nullable, options.strict) {
                Ok(rust) => cols.push(Column {
                    field: field_name(&c.name),
                    ignored: options.ignored.contains(&c.name.to_ascii_lowercase()),
                    name: c.name,
                    sql_type: c.sql_type,
                    rust,
                    nullable: c.nullable,
                    auto: c.auto,
                    comment: (!c.comment.is_empty()).then_some(c.comment),
                }),
                Err(e) => {
                    problems.push(format!("{origin}, column `{}`: {e}", c.name.escape_debug()))
                }
            }
        }
        match assemble(name, origin, cols, primary, uniques, dialect) {
            Ok(t) => tables.push(t),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if tables.is_empty() && problems.is_empty() {
        problems.push(format!(
            "--table `{}` matches no table",
            patterns
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}

type RawTable = (String, Vec<RawColumn>, Vec<String>, Vec<Vec<String>>);

fn refused(dialect: &str, e: sqlx::Error) -> String {
    format!(
        "--url: cannot read the {dialect} catalog: {e}; is the database running, and does the URL \
         name it (and a user allowed to read it)?"
    )
}

async fn mysql(url: &str) -> Result<Vec<RawTable>, String> {
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .map_err(|e| refused("MySQL", e))?;
    let names = sqlx::query(
        "select cast(table_name as char) from information_schema.tables \
         where table_schema = database() and table_type = 'BASE TABLE' order by 1",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| refused("MySQL", e))?;
    let mut out = Vec::new();
    for row in names {
        let table: String = row.try_get(0).map_err(|e| refused("MySQL", e))?;
        let columns = sqlx::query(
            "select cast(column_name as char), cast(column_type as char), \
             cast(is_nullable as char), cast(extra as char), cast(column_comment as char) \
             from information_schema.columns where table_schema = database() and table_name = ? \
             order by ordinal_position",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| refused("MySQL", e))?;
        let mut cols = Vec::new();
        for c in columns {
            let get = |i| c.try_get::<String, _>(i).map_err(|e| refused("MySQL", e));
            let extra = get(3)?.to_ascii_lowercase();
            cols.push(RawColumn {
                name: get(0)?,
                sql_type: get(1)?,
                nullable: get(2)? == "YES",
                auto: extra.contains("auto_increment") || extra.contains("generated"),
                comment: get(4)?,
            });
        }
        let stats = sqlx::query(
            "select cast(index_name as char), cast(non_unique as signed), cast(column_name as char) \
             from information_schema.statistics where table_schema = database() and table_name = ? \
             order by index_name, seq_in_index",
        )
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| refused("MySQL", e))?;
        let mut primary = Vec::new();
        let mut uniques: Vec<(String, Vec<String>)> = Vec::new();
        for s in stats {
            let index: String = s.try_get(0).map_err(|e| refused("MySQL", e))?;
            let non_unique: i64 = s.try_get(1).map_err(|e| refused("MySQL", e))?;
            let column: String = s.try_get(2).map_err(|e| refused("MySQL", e))?;
            if index == "PRIMARY" {
                primary.push(column);
            } else if non_unique == 0 {
                match uniques.last_mut() {
                    Some((name, cols)) if *name == index => cols.push(column),
                    _ => uniques.push((index, vec![column])),
                }
            }
        }
        out.push((
            table,
            cols,
            primary,
            uniques.into_iter().map(|(_, c)| c).collect(),
        ));
    }
    conn.close().await.ok();
    Ok(out)
}

async fn postgres(url: &str, schema: &str) -> Result<Vec<RawTable>, String> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| refused("PostgreSQL", e))?;
    let err = |e| refused("PostgreSQL", e);
    let names = sqlx::query(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = $1 and c.relkind in ('r', 'p') order by 1",
    )
    .bind(schema)
    .fetch_all(&mut conn)
    .await
    .map_err(err)?;
    let mut out = Vec::new();
    for row in names {
        let table: String = row.try_get(0).map_err(err)?;
        let columns = sqlx::query(
            "select a.attname::text, format_type(a.atttypid, a.atttypmod), not a.attnotnull, \
             coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, \
             a.attgenerated::text, coalesce(col_description(c.oid, a.attnum), ''), \
             a.attndims::int4 \
             from pg_attribute a join pg_class c on c.oid = a.attrelid \
             join pg_namespace n on n.oid = c.relnamespace \
             left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum \
             where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped \
             order by a.attnum",
        )
        .bind(schema)
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .map_err(err)?;
        let mut cols = Vec::new();
        for c in columns {
            let text = |i| c.try_get::<String, _>(i).map_err(err);
            let default = text(3)?;
            // format_type spells `INT[][]` as `integer[]`; the declared dimensions tell them
            // apart, so a multi-dimensional array is refused as in DDL.
            let dims: i32 = c.try_get(7).map_err(err)?;
            let mut sql_type = text(1)?;
            for _ in 1..dims {
                sql_type.push_str("[]");
            }
            cols.push(RawColumn {
                name: text(0)?,
                sql_type,
                nullable: c.try_get(2).map_err(err)?,
                auto: default.starts_with("nextval(")
                    || !text(4)?.is_empty()
                    || !text(5)?.is_empty(),
                comment: text(6)?,
            });
        }
        let indexes = sqlx::query(
            "select ix.indisprimary, array(select a.attname::text \
               from unnest(ix.indkey) with ordinality k(attnum, ord) \
               join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.attnum \
               order by k.ord) \
             from pg_index ix join pg_class c on c.oid = ix.indrelid \
             join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = $1 and c.relname = $2 and (ix.indisunique or ix.indisprimary) \
               and ix.indpred is null \
             order by ix.indisprimary desc, ix.indexrelid",
        )
        .bind(schema)
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .map_err(err)?;
        let mut primary = Vec::new();
        let mut uniques = Vec::new();
        for ix in indexes {
            let is_primary: bool = ix.try_get(0).map_err(err)?;
            let columns: Vec<String> = ix.try_get(1).map_err(err)?;
            if is_primary {
                primary = columns;
            } else {
                uniques.push(columns);
            }
        }
        out.push((table, cols, primary, uniques));
    }
    conn.close().await.ok();
    Ok(out)
}
