//! Columns a model holds in another Rust type than the one the database stores, converted at
//! decode and at bind. Without `--strict` (goctl's default) an unsigned MySQL integer is an
//! `i64` in the row type, but sqlx decodes an `INT UNSIGNED` only into `u32` and a `BIGINT
//! UNSIGNED` only into `u64`: the generated code reads the stored type and converts. A value
//! that does not fit the other side (a `BIGINT UNSIGNED` above `i64::MAX`, a negative or too
//! large value written to an unsigned column) is an error, never wrapped or clamped.

use std::fmt::Display;

use super::SqlError;

/// A value that does not fit the type on the other side.
#[derive(Debug, thiserror::Error)]
#[error("{value} does not fit {target}{hint}")]
struct OutOfRange {
    value: String,
    target: &'static str,
    hint: &'static str,
}

fn out_of_range<V: Display, T>(value: V, hint: &'static str) -> OutOfRange {
    OutOfRange {
        value: value.to_string(),
        target: std::any::type_name::<T>(),
        hint,
    }
}

const DECODE_HINT: &str = " (the model maps unsigned columns to signed types: regenerate it with \
                           `rustctl model ... --strict` to keep them unsigned)";
const ENCODE_HINT: &str = " (the column's type)";

fn decode_error(row: &impl sqlx::Row, index: usize, e: OutOfRange) -> sqlx::Error {
    use sqlx::Column as _;
    let name = sqlx::Row::columns(row)
        .get(index)
        .map_or_else(|| index.to_string(), |c| c.name().to_owned());
    sqlx::Error::ColumnDecode {
        index: format!("{name:?}"),
        source: Box::new(e),
    }
}

/// Column `index` of `row`, stored as `S`, as a `T`.
pub fn from_stored<S, T, R>(row: &R, index: usize) -> Result<T, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    S: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database> + Display + Copy,
    T: TryFrom<S>,
{
    let stored: S = row.try_get(index)?;
    T::try_from(stored)
        .map_err(|_| decode_error(row, index, out_of_range::<S, T>(stored, DECODE_HINT)))
}

/// Nullable column `index` of `row`, stored as `S`, as a `T`.
pub fn from_stored_opt<S, T, R>(row: &R, index: usize) -> Result<Option<T>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    S: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database> + Display + Copy,
    T: TryFrom<S>,
{
    let stored: Option<S> = row.try_get(index)?;
    stored
        .map(|s| {
            T::try_from(s)
                .map_err(|_| decode_error(row, index, out_of_range::<S, T>(s, DECODE_HINT)))
        })
        .transpose()
}

/// `value` as the column's type `S`, to bind; an error when it does not fit (nothing is
/// written).
pub fn to_stored<S, T>(value: T) -> Result<S, SqlError>
where
    S: TryFrom<T>,
    T: Display + Copy,
{
    S::try_from(value).map_err(|_| {
        SqlError::Database(sqlx::Error::Encode(Box::new(out_of_range::<T, S>(
            value,
            ENCODE_HINT,
        ))))
    })
}

/// A nullable `value` as the column's type `S`, to bind.
pub fn to_stored_opt<S, T>(value: Option<T>) -> Result<Option<S>, SqlError>
where
    S: TryFrom<T>,
    T: Display + Copy,
{
    value.map(to_stored).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_fit_are_errors() {
        assert_eq!(to_stored::<u32, i64>(7).unwrap(), 7);
        assert_eq!(to_stored_opt::<u8, i64>(None).unwrap(), None);
        let e = to_stored::<u32, i64>(-1).unwrap_err().to_string();
        assert!(e.contains("-1 does not fit u32"), "{e}");
        let e = to_stored_opt::<u8, i64>(Some(256)).unwrap_err().to_string();
        assert!(e.contains("256 does not fit u8"), "{e}");
    }
}
