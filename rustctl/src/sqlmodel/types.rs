//! Column types → Rust types, per dialect, as sqlx decodes them. sqlx decodes a column only
//! into its exact Rust type (an `INT UNSIGNED` into `u32`, never `i64`), so the mapping is
//! always what goctl calls `--strict`: unsigned integers stay unsigned, nullable columns are
//! `Option`.

use serde::Serialize;

use super::Dialect;

/// A column's Rust type, with the forms generated code needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RustType {
    /// The field's type (`i64`, `Option<String>`, `sql::types::Decimal`).
    pub ty: String,
    /// The non-`Option` type.
    pub base: String,
    /// How a lookup takes a value of it (`&str` for `String`).
    pub arg: String,
    /// Whether a value formats with `Display` (else `Debug`) in a cache key.
    pub display: bool,
}

impl RustType {
    fn new(base: &str, nullable: bool) -> RustType {
        let arg = match base {
            "String" => "&str".to_string(),
            "Vec<u8>" => "&[u8]".to_string(),
            "sql::types::JsonValue" => "&sql::types::JsonValue".to_string(),
            other => other.to_string(),
        };
        RustType {
            ty: if nullable {
                format!("Option<{base}>")
            } else {
                base.to_string()
            },
            base: base.to_string(),
            arg,
            display: base != "Vec<u8>",
        }
    }
}

/// The Rust type for a column of SQL type `sql_type` (sqlparser's rendering, e.g.
/// `BIGINT(20) UNSIGNED`, `CHARACTER VARYING(10)`); `Err` says why there is none.
pub fn rust_type(dialect: Dialect, sql_type: &str, nullable: bool) -> Result<RustType, String> {
    let upper = sql_type.to_ascii_uppercase();
    let unsigned = upper.contains("UNSIGNED");
    let (name, args) = match upper.split_once('(') {
        Some((n, rest)) => (n.trim(), rest.split(')').next().unwrap_or("")),
        None => (upper.trim_end_matches(" UNSIGNED").trim(), ""),
    };
    let name = name.trim_end_matches(" UNSIGNED").trim();
    if name.ends_with("[]") || name.starts_with("ARRAY") {
        return Err(format!(
            "`{sql_type}`: arrays are not supported; use a JSON column"
        ));
    }
    let base = match dialect {
        Dialect::Sqlite => sqlite(name)?,
        Dialect::Mysql | Dialect::Postgres => {
            let int = |signed: &'static str, unsigned_t: &'static str| {
                if unsigned { unsigned_t } else { signed }
            };
            match name {
                "BOOL" | "BOOLEAN" => "bool",
                "TINYINT" if dialect == Dialect::Mysql && args.trim() == "1" && !unsigned => "bool",
                "TINYINT" | "INT1" => int("i8", "u8"),
                "SMALLINT" | "INT2" | "SMALLSERIAL" | "SERIAL2" => int("i16", "u16"),
                "MEDIUMINT" | "INT" | "INTEGER" | "INT4" | "SERIAL" | "SERIAL4" => {
                    int("i32", "u32")
                }
                "BIGINT" | "INT8" | "BIGSERIAL" | "SERIAL8" => int("i64", "u64"),
                "FLOAT" | "FLOAT4" | "REAL" if dialect == Dialect::Postgres || name != "REAL" => {
                    "f32"
                }
                "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" | "REAL" => "f64",
                "DECIMAL" | "NUMERIC" | "DEC" => "sql::types::Decimal",
                "CHAR" | "CHARACTER" | "VARCHAR" | "CHARACTER VARYING" | "TEXT" | "TINYTEXT"
                | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "NVARCHAR" | "NCHAR" | "CITEXT" => {
                    "String"
                }
                "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB"
                | "BYTEA" => "Vec<u8>",
                "DATE" => "sql::types::Date",
                "TIME" | "TIME WITHOUT TIME ZONE" => "sql::types::Time",
                "DATETIME" | "TIMESTAMP WITHOUT TIME ZONE" => "sql::types::PrimitiveDateTime",
                // MySQL's TIMESTAMP is stored in UTC; sqlx reads it with its offset.
                "TIMESTAMP" if dialect == Dialect::Mysql => "sql::types::OffsetDateTime",
                "TIMESTAMP" => "sql::types::PrimitiveDateTime",
                "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => "sql::types::OffsetDateTime",
                "JSON" | "JSONB" => "sql::types::JsonValue",
                _ => {
                    return Err(format!(
                        "`{sql_type}` has no Rust type here; change the column's type, or leave \
                         the table out"
                    ));
                }
            }
        }
    };
    Ok(RustType::new(base, nullable))
}

/// SQLite's type affinity rules (its documentation's section 3.1), with sqlx's types.
fn sqlite(name: &str) -> Result<&'static str, String> {
    Ok(match name {
        "BOOL" | "BOOLEAN" => "bool",
        "DATE" => "sql::types::Date",
        "TIME" => "sql::types::Time",
        "DATETIME" | "TIMESTAMP" => "sql::types::PrimitiveDateTime",
        "JSON" => "sql::types::JsonValue",
        n if n.contains("INT") => "i64",
        n if n.contains("CHAR") || n.contains("CLOB") || n.contains("TEXT") => "String",
        n if n.contains("BLOB") || n.is_empty() => "Vec<u8>",
        n if n.contains("REAL") || n.contains("FLOA") || n.contains("DOUB") => "f64",
        n => {
            return Err(format!(
                "`{n}` (NUMERIC affinity) has no exact Rust type in SQLite; declare the column \
                 INTEGER, REAL or TEXT"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(d: Dialect, t: &str) -> String {
        rust_type(d, t, false).unwrap().base
    }

    #[test]
    fn types_follow_the_dialect() {
        use Dialect::*;
        assert_eq!(base(Mysql, "BIGINT(20)"), "i64");
        assert_eq!(base(Mysql, "BIGINT(20) UNSIGNED"), "u64");
        assert_eq!(base(Mysql, "INT UNSIGNED"), "u32");
        assert_eq!(base(Mysql, "TINYINT(1)"), "bool");
        assert_eq!(base(Mysql, "TINYINT(4)"), "i8");
        assert_eq!(base(Mysql, "VARCHAR(255)"), "String");
        assert_eq!(base(Mysql, "ENUM('a', 'b')"), "String");
        assert_eq!(base(Mysql, "TIMESTAMP"), "sql::types::OffsetDateTime");
        assert_eq!(base(Mysql, "DECIMAL(10,2)"), "sql::types::Decimal");
        assert_eq!(base(Mysql, "DOUBLE"), "f64");
        assert_eq!(base(Mysql, "FLOAT"), "f32");
        assert_eq!(base(Postgres, "REAL"), "f32");
        assert_eq!(base(Postgres, "DOUBLE PRECISION"), "f64");
        assert_eq!(base(Postgres, "TIMESTAMP"), "sql::types::PrimitiveDateTime");
        assert_eq!(base(Postgres, "TIMESTAMPTZ"), "sql::types::OffsetDateTime");
        assert_eq!(base(Postgres, "CHARACTER VARYING(10)"), "String");
        assert_eq!(base(Postgres, "BIGSERIAL"), "i64");
        assert_eq!(base(Postgres, "JSONB"), "sql::types::JsonValue");
        assert_eq!(base(Sqlite, "INTEGER"), "i64");
        assert_eq!(base(Sqlite, "VARCHAR(20)"), "String");
        assert_eq!(base(Sqlite, "REAL"), "f64");
        let t = rust_type(Postgres, "TEXT", true).unwrap();
        assert_eq!((t.ty.as_str(), t.arg.as_str()), ("Option<String>", "&str"));
    }

    #[test]
    fn unknown_types_say_what_to_do() {
        let e = rust_type(Dialect::Postgres, "UUID", false).unwrap_err();
        assert!(e.contains("`UUID` has no Rust type"), "{e}");
        let e = rust_type(Dialect::Postgres, "INT[]", false).unwrap_err();
        assert!(e.contains("arrays"), "{e}");
        assert!(rust_type(Dialect::Sqlite, "NUMERIC", false).is_err());
    }
}
