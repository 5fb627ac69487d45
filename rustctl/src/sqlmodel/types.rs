//! Column types → Rust types, per dialect, as sqlx decodes them.
//!
//! sqlx decodes a column only into its exact Rust type (an `INT UNSIGNED` into `u32`, never
//! `i64`). With `--strict` the row type uses those exact types: unsigned integers stay
//! unsigned. Without it (goctl's default, where every unsigned integer is an `int64`) an
//! unsigned integer is an `i64` in the row type and the generated code converts from and to the
//! stored type ([`RustType::stored`]), failing on a value that does not fit. Nullable columns
//! are `Option` either way (as goctl's `sql.NullX` are either way).

use serde::Serialize;

use super::Dialect;

/// A column's Rust type, with the forms generated code needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RustType {
    /// The field's type (`i64`, `Option<String>`, `sql::types::Decimal`).
    pub ty: String,
    /// The non-`Option` type.
    pub base: String,
    /// How a lookup takes a value of it (`&str` for `String`, `&[T]` for `Vec<T>`).
    pub arg: String,
    /// Whether a value formats with `Display` (else `Debug`) in a cache key.
    pub display: bool,
    /// The type sqlx decodes the column into when it is not `base` (`u32` for an `INT
    /// UNSIGNED` held as `i64` without `--strict`).
    pub stored: Option<String>,
}

impl RustType {
    fn new(base: &str, nullable: bool) -> RustType {
        let arg = match base {
            "String" => "&str".to_string(),
            "sql::types::JsonValue" => "&sql::types::JsonValue".to_string(),
            vec if vec.starts_with("Vec<") => {
                format!("&[{}]", &vec["Vec<".len()..vec.len() - 1])
            }
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
            display: !base.starts_with("Vec<"),
            stored: None,
        }
    }

    /// The same type for a column that cannot be `NULL` (a primary key).
    pub fn required(&self) -> RustType {
        RustType {
            ty: self.base.clone(),
            ..self.clone()
        }
    }
}

/// Element types of PostgreSQL arrays sqlx decodes into `Vec<T>`.
const ARRAY_ELEMENTS: &[&str] = &[
    "bool",
    "i16",
    "i32",
    "i64",
    "f32",
    "f64",
    "String",
    "Vec<u8>",
    "sql::types::Decimal",
    "sql::types::Uuid",
    "sql::types::Date",
    "sql::types::Time",
    "sql::types::PrimitiveDateTime",
    "sql::types::OffsetDateTime",
    "sql::types::JsonValue",
];

/// The Rust type for a column of SQL type `sql_type` (sqlparser's rendering, e.g.
/// `BIGINT(20) UNSIGNED`, `CHARACTER VARYING(10)`, `INT[]`; or the catalog's, e.g. `integer[]`,
/// `_int4`); `strict` keeps unsigned integers unsigned. `Err` says why there is none.
pub fn rust_type(
    dialect: Dialect,
    sql_type: &str,
    nullable: bool,
    strict: bool,
) -> Result<RustType, String> {
    let trimmed = sql_type.trim();
    let pg = dialect == Dialect::Postgres;
    if let Some(element) = array_element(trimmed, pg) {
        if dialect != Dialect::Postgres {
            return Err(format!(
                "`{sql_type}`: arrays are PostgreSQL's; use a JSON column"
            ));
        }
        if array_element(element, false).is_some() {
            return Err(format!(
                "`{sql_type}`: multi-dimensional arrays are not supported (their rows decode \
                 into no `Vec`); use a one-dimensional array or a JSONB column"
            ));
        }
        let inner = rust_type(dialect, element, false, true).map_err(|_| {
            format!(
                "`{sql_type}`: arrays of `{element}` are not supported; use an array of a \
                 supported type (`INT[]`, `TEXT[]`, `UUID[]`, ...) or a JSONB column"
            )
        })?;
        if !ARRAY_ELEMENTS.contains(&inner.base.as_str()) {
            return Err(format!(
                "`{sql_type}`: arrays of `{element}` are not supported; use an array of a \
                 supported type (`INT[]`, `TEXT[]`, `UUID[]`, ...) or a JSONB column"
            ));
        }
        return Ok(RustType::new(&format!("Vec<{}>", inner.base), nullable));
    }
    let upper = trimmed.to_ascii_uppercase();
    let unsigned = upper.contains("UNSIGNED");
    let (name, args) = match upper.split_once('(') {
        Some((n, rest)) => (n.trim(), rest.split(')').next().unwrap_or("")),
        None => (upper.trim_end_matches(" UNSIGNED").trim(), ""),
    };
    let name = name.trim_end_matches(" UNSIGNED").trim();
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
                | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "NVARCHAR" | "NCHAR" | "CITEXT"
                | "BPCHAR" => "String",
                "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB"
                | "BYTEA" => "Vec<u8>",
                "UUID" if dialect == Dialect::Postgres => "sql::types::Uuid",
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
    if !strict && base.starts_with('u') {
        // goctl's non-strict mapping: unsigned integers are signed (`i64` holds every value of
        // the narrower ones; a `BIGINT UNSIGNED` above `i64::MAX` fails to decode).
        return Ok(RustType {
            stored: Some(base.to_string()),
            ..RustType::new("i64", nullable)
        });
    }
    Ok(RustType::new(base, nullable))
}

/// The element type of a one-level array type: `INT[]`, `INT[3]`, `integer ARRAY`,
/// `ARRAY<INT>`, or (`internal_names`) PostgreSQL's internal name of an array type (`_int4`).
fn array_element(sql_type: &str, internal_names: bool) -> Option<&str> {
    let t = sql_type.trim();
    if let Some(rest) = t.strip_suffix(']') {
        let open = rest.rfind('[')?;
        let size = &rest[open + 1..];
        if size.bytes().all(|b| b.is_ascii_digit()) {
            return Some(rest[..open].trim());
        }
        return None;
    }
    let upper = t.to_ascii_uppercase();
    if upper.starts_with("ARRAY<") && t.ends_with('>') {
        return Some(t["ARRAY<".len()..t.len() - 1].trim());
    }
    if upper.ends_with(" ARRAY") {
        return Some(t[..t.len() - " ARRAY".len()].trim());
    }
    if let Some(name) = t.strip_prefix('_')
        && internal_names
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Some(name);
    }
    None
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
        rust_type(d, t, false, true).unwrap().base
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
        let t = rust_type(Postgres, "TEXT", true, false).unwrap();
        assert_eq!((t.ty.as_str(), t.arg.as_str()), ("Option<String>", "&str"));
    }

    #[test]
    fn without_strict_unsigned_integers_are_i64_stored_exactly() {
        use Dialect::*;
        for (sql, stored) in [
            ("TINYINT UNSIGNED", "u8"),
            ("SMALLINT(5) UNSIGNED", "u16"),
            ("INT(10) UNSIGNED", "u32"),
            ("MEDIUMINT UNSIGNED", "u32"),
            ("BIGINT(20) UNSIGNED", "u64"),
        ] {
            let t = rust_type(Mysql, sql, false, false).unwrap();
            assert_eq!(t.ty, "i64", "{sql}");
            assert_eq!(t.stored.as_deref(), Some(stored), "{sql}");
            let t = rust_type(Mysql, sql, true, false).unwrap();
            assert_eq!(t.ty, "Option<i64>", "{sql}");
            let strict = rust_type(Mysql, sql, false, true).unwrap();
            assert_eq!((strict.ty.as_str(), strict.stored), (stored, None), "{sql}");
        }
        // Signed types, and everything else, are the same either way.
        for sql in ["INT", "TINYINT(1)", "BIGINT", "VARCHAR(3)"] {
            assert_eq!(
                rust_type(Mysql, sql, false, false),
                rust_type(Mysql, sql, false, true),
                "{sql}"
            );
        }
    }

    #[test]
    fn postgres_uuid_and_one_dimensional_arrays() {
        use Dialect::*;
        assert_eq!(base(Postgres, "UUID"), "sql::types::Uuid");
        assert_eq!(base(Postgres, "uuid"), "sql::types::Uuid");
        for (sql, want) in [
            ("INT[]", "Vec<i32>"),
            ("INTEGER[3]", "Vec<i32>"),
            ("integer[]", "Vec<i32>"),
            ("_int4", "Vec<i32>"),
            ("_int8", "Vec<i64>"),
            ("BIGINT ARRAY", "Vec<i64>"),
            ("TEXT[]", "Vec<String>"),
            ("character varying(20)[]", "Vec<String>"),
            ("_varchar", "Vec<String>"),
            ("_bpchar", "Vec<String>"),
            ("UUID[]", "Vec<sql::types::Uuid>"),
            ("NUMERIC(10,2)[]", "Vec<sql::types::Decimal>"),
            (
                "timestamp with time zone[]",
                "Vec<sql::types::OffsetDateTime>",
            ),
            ("BYTEA[]", "Vec<Vec<u8>>"),
            ("JSONB[]", "Vec<sql::types::JsonValue>"),
            ("BOOLEAN[]", "Vec<bool>"),
        ] {
            assert_eq!(base(Postgres, sql), want, "{sql}");
        }
        let t = rust_type(Postgres, "TEXT[]", true, false).unwrap();
        assert_eq!(
            (t.ty.as_str(), t.arg.as_str(), t.display),
            ("Option<Vec<String>>", "&[String]", false)
        );
        assert_eq!(
            rust_type(Postgres, "BYTEA", false, false).unwrap().arg,
            "&[u8]"
        );
    }

    #[test]
    fn unknown_types_say_what_to_do() {
        use Dialect::*;
        let e = rust_type(Postgres, "INTERVAL", false, false).unwrap_err();
        assert!(e.contains("`INTERVAL` has no Rust type"), "{e}");
        let e = rust_type(Postgres, "INT[][]", false, false).unwrap_err();
        assert!(e.contains("multi-dimensional arrays"), "{e}");
        let e = rust_type(Postgres, "INTERVAL[]", false, false).unwrap_err();
        assert!(e.contains("arrays of `INTERVAL` are not supported"), "{e}");
        let e = rust_type(Postgres, "_interval", false, false).unwrap_err();
        assert!(e.contains("arrays of `interval`"), "{e}");
        let e = rust_type(Mysql, "INT[]", false, false).unwrap_err();
        assert!(e.contains("arrays are PostgreSQL's"), "{e}");
        assert!(rust_type(Mysql, "UUID", false, false).is_err());
        assert!(rust_type(Sqlite, "NUMERIC", false, false).is_err());
    }
}
