//! The one error type generated models return.

/// What a model's query can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// No row matched (go-zero's `ErrNotFound`): logic answers 404 / `NotFound`.
    #[error("no rows in result set")]
    NotFound,
    /// The database (or the pool) refused or failed.
    #[error("sql: {0}")]
    Database(#[from] sqlx::Error),
    /// A `DataSource` that cannot be used, naming the key.
    #[error("{0}")]
    Config(String),
    /// A transaction's closure kept a model bound to the transaction after it returned.
    #[error("sql: the transaction is still in use after its closure returned")]
    TransactionInUse,
    /// A cached row could not be decoded, or another caller's load of the same key failed.
    #[error("cache: {0}")]
    Cache(String),
}

impl SqlError {
    /// Whether this is [`SqlError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, SqlError::NotFound)
    }
}

impl From<SqlError> for crate::Error {
    /// Not found becomes 404; anything else a 500 whose detail stays in the log.
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::NotFound => crate::Error::NotFound(e.to_string()),
            // The body says only "internal server error"; the detail goes to the log.
            other => crate::Error::Internal(other.to_string()),
        }
    }
}

impl From<SqlError> for tonic::Status {
    /// Not found becomes `NotFound`; anything else `Internal` whose detail stays in the log.
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::NotFound => tonic::Status::not_found(e.to_string()),
            other => {
                tracing::error!(error = %other, "sql");
                tonic::Status::internal("internal error")
            }
        }
    }
}
