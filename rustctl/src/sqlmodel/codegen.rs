//! Tables → a [`FilePlan`]: per table `<table>_model.rs` (scaffold, yours) and
//! `<table>_model_gen.rs` (generated), and a generated `mod.rs` declaring them. SQL text is
//! written here for the dialect (quoting, placeholders, `RETURNING` or `LAST_INSERT_ID`) and
//! reaches the templates as data, inside string literals.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Column, Dialect, Table};
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, GenError, Ownership, Style};

/// Options of one `rustctl model` run.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// The database.
    pub dialect: Dialect,
    /// Generate the Redis cache (`-c`).
    pub cache: bool,
    /// File naming.
    pub style: Style,
}

#[derive(Serialize)]
struct KeyColumn {
    name: String,
    field: String,
    arg: String,
    base: String,
    stored: Option<String>,
    by_ref: bool,
    nullable: bool,
    auto: bool,
    command: String,
    key_fn: String,
    key_const: String,
    key_prefix: String,
    key_format: String,
}

#[derive(Serialize)]
struct Unique {
    method: String,
    load_fn: String,
    const_name: String,
    sql: String,
    command: String,
    params: Vec<KeyColumn>,
    nullable: bool,
    key_fn: String,
    key_const: String,
    key_prefix: String,
    key_format: String,
}

/// A field bound to a statement: by reference unless its type is `Copy`; converted to the
/// column's type first when the row holds another (`stored`).
#[derive(Serialize)]
struct Bound {
    field: String,
    by_ref: bool,
    stored: Option<String>,
    nullable: bool,
}

fn bound(c: &Column) -> Bound {
    Bound {
        field: c.field.clone(),
        by_ref: c.rust.arg.starts_with('&'),
        stored: c.rust.stored.clone(),
        nullable: c.nullable,
    }
}

#[derive(Serialize)]
struct ColumnCtx {
    name: String,
    field: String,
    sql_type: String,
    ty: String,
    base: String,
    stored: Option<String>,
    nullable: bool,
    comment: Option<String>,
}

#[derive(Serialize)]
struct TableCtx {
    table: String,
    dialect: &'static str,
    db: &'static str,
    cache: bool,
    row: String,
    model: String,
    module: String,
    gen_module: String,
    columns: Vec<ColumnCtx>,
    /// Whether `decode` reads a column with `Row::try_get` (not only through conversions).
    decode_uses_row: bool,
    pk: KeyColumn,
    uniques: Vec<Unique>,
    find_one_sql: String,
    insert_sql: String,
    insert_fields: Vec<Bound>,
    insert_command: String,
    returning: bool,
    left_to_db: Vec<String>,
    update_sql: Option<String>,
    update_fields: Vec<Bound>,
    update_command: String,
    delete_sql: String,
    delete_command: String,
}

#[derive(Serialize)]
struct ModEntry {
    module: String,
    gen_module: String,
}

/// The module names of a table's two files.
pub fn modules(table: &str, style: Style) -> (String, String) {
    let snake = super::ddl::field_name(table)
        .trim_end_matches('_')
        .to_string();
    let module = style.file(&format!("{snake}_model"));
    let gen_module = format!("{module}_gen");
    (module, gen_module)
}

fn key_column(t: &Table, c: &Column, command: &str) -> KeyColumn {
    let by_ref = c.rust.arg.starts_with('&');
    let key_const = format!("KEY_{}", c.field.trim_end_matches('_').to_ascii_uppercase());
    let fmt = if c.rust.display { "" } else { ":?" };
    KeyColumn {
        name: c.name.clone(),
        field: c.field.clone(),
        arg: c.rust.arg.clone(),
        base: c.rust.base.clone(),
        stored: c.rust.stored.clone(),
        by_ref,
        nullable: c.nullable,
        auto: c.auto,
        command: format!("{}.{command}", t.name),
        key_fn: format!("key_{}", c.field.trim_end_matches('_')),
        key_format: format!("\"{{{key_const}}}{{{}{fmt}}}\"", c.field),
        key_const,
        key_prefix: format!("cache:{}:{}:", t.name, c.name),
    }
}

fn table_ctx(t: &Table, options: &ModelOptions) -> Result<TableCtx, GenError> {
    let d = options.dialect;
    let q = |n: &str| d.quote(n);
    let row = super::ddl::type_name(&t.name).unwrap_or_else(|| "Row".into());
    let (module, gen_module) = modules(&t.name, options.style);
    let pk_col = &t.columns[t.primary];
    let columns_sql = t
        .columns
        .iter()
        .map(|c| q(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let table_sql = q(&t.name);
    let where_eq = |cols: &[&Column], from: usize| {
        cols.iter()
            .enumerate()
            .map(|(i, c)| format!("{} = {}", q(&c.name), d.placeholder(from + i)))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let find_one_sql = format!(
        "select {columns_sql} from {table_sql} where {} limit 1",
        where_eq(&[pk_col], 1)
    );
    let mut methods = BTreeSet::new();
    let mut uniques = Vec::new();
    for u in &t.uniques {
        let cols: Vec<&Column> = u.iter().map(|&i| &t.columns[i]).collect();
        let suffix = cols
            .iter()
            .map(|c| c.field.trim_end_matches('_'))
            .collect::<Vec<_>>()
            .join("_and_");
        let method = format!("find_one_by_{suffix}");
        if !methods.insert(method.clone()) {
            return Err(GenError::Template {
                name: "model".into(),
                message: format!(
                    "{}: table `{}`: two unique indexes make the method `{method}`",
                    t.origin, t.name
                ),
            });
        }
        let key_const = format!("KEY_{}", suffix.to_ascii_uppercase());
        let key_format = format!(
            "\"{{{key_const}}}{}\"",
            cols.iter()
                .map(|c| format!("{{{}{}}}", c.field, if c.rust.display { "" } else { ":?" }))
                .collect::<Vec<_>>()
                .join(":")
        );
        uniques.push(Unique {
            load_fn: format!("load_by_{suffix}"),
            const_name: format!("FIND_ONE_BY_{}", suffix.to_ascii_uppercase()),
            sql: format!(
                "select {columns_sql} from {table_sql} where {} limit 1",
                where_eq(&cols, 1)
            ),
            command: format!("{}.{method}", t.name),
            params: cols.iter().map(|c| key_column(t, c, &method)).collect(),
            nullable: cols.iter().any(|c| c.nullable),
            key_fn: format!("key_{suffix}"),
            key_const,
            key_prefix: format!(
                "cache:{}:{}:",
                t.name,
                cols.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            key_format,
            method,
        });
    }
    let writable: Vec<&Column> = t.columns.iter().filter(|c| !c.auto && !c.ignored).collect();
    let left_to_db: Vec<String> = t
        .columns
        .iter()
        .filter(|c| c.ignored && !c.auto)
        .map(|c| c.name.clone())
        .collect();
    let returning = pk_col.auto && d != Dialect::Mysql;
    let insert_sql = format!(
        "insert into {table_sql} ({}) values ({}){}",
        writable
            .iter()
            .map(|c| q(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=writable.len())
            .map(|i| d.placeholder(i))
            .collect::<Vec<_>>()
            .join(", "),
        if returning {
            format!(" returning {}", q(&pk_col.name))
        } else {
            String::new()
        }
    );
    let insert_sql = if writable.is_empty() {
        format!(
            "insert into {table_sql} default values{}",
            if returning {
                format!(" returning {}", q(&pk_col.name))
            } else {
                String::new()
            }
        )
    } else {
        insert_sql
    };
    let settable: Vec<&Column> = writable
        .iter()
        .copied()
        .filter(|c| c.name != pk_col.name)
        .collect();
    let update_sql = (!settable.is_empty()).then(|| {
        format!(
            "update {table_sql} set {} where {}",
            settable
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} = {}", q(&c.name), d.placeholder(i + 1)))
                .collect::<Vec<_>>()
                .join(", "),
            where_eq(&[pk_col], settable.len() + 1)
        )
    });
    let mut update_fields: Vec<Bound> = settable.iter().map(|c| bound(c)).collect();
    update_fields.push(bound(pk_col));
    Ok(TableCtx {
        table: t.name.clone(),
        dialect: d.command(),
        db: d.sqlx_db(),
        cache: options.cache,
        model: format!("{row}Model"),
        row,
        module,
        gen_module,
        columns: t
            .columns
            .iter()
            .map(|c| ColumnCtx {
                name: c.name.clone(),
                field: c.field.clone(),
                sql_type: c.sql_type.clone(),
                ty: c.rust.ty.clone(),
                base: c.rust.base.clone(),
                stored: c.rust.stored.clone(),
                nullable: c.nullable,
                comment: c.comment.clone(),
            })
            .collect(),
        decode_uses_row: t.columns.iter().any(|c| c.rust.stored.is_none()),
        pk: key_column(t, pk_col, "find_one"),
        uniques,
        find_one_sql,
        insert_sql,
        insert_fields: writable.iter().map(|c| bound(c)).collect(),
        insert_command: format!("{}.insert", t.name),
        returning,
        left_to_db,
        update_sql,
        update_fields,
        update_command: format!("{}.update", t.name),
        delete_sql: format!("delete from {table_sql} where {}", where_eq(&[pk_col], 1)),
        delete_command: format!("{}.delete", t.name),
    })
}

/// The plan for `tables` in the model directory; `existing` names the modules of models
/// already there (`user_model`, from earlier runs), so `mod.rs` keeps declaring them.
pub fn plan(
    tables: &[Table],
    existing: &[String],
    templates: &Templates,
    options: &ModelOptions,
) -> Result<FilePlan, GenError> {
    let mut plan = FilePlan::default();
    let mut entries = std::collections::BTreeMap::new();
    for t in tables {
        let ctx = table_ctx(t, options)?;
        plan.add(
            format!("{}.rs", ctx.module),
            templates.render("model/model.rs", &ctx)?,
            Ownership::Scaffold,
        );
        plan.add(
            format!("{}.rs", ctx.gen_module),
            templates.render("model/model_gen.rs", &ctx)?,
            Ownership::Generated,
        );
        entries.insert(
            ctx.module.clone(),
            ModEntry {
                module: ctx.module,
                gen_module: ctx.gen_module,
            },
        );
    }
    for module in existing {
        entries.entry(module.clone()).or_insert_with(|| ModEntry {
            module: module.clone(),
            gen_module: format!("{module}_gen"),
        });
    }
    #[derive(Serialize)]
    struct ModCtx<'a> {
        tables: Vec<&'a ModEntry>,
    }
    let text = templates.render(
        "model/mod.rs",
        &ModCtx {
            tables: entries.values().collect(),
        },
    )?;
    plan.add("mod.rs", text, Ownership::Generated);
    plan.overrides = templates.overrides.clone();
    Ok(plan)
}
