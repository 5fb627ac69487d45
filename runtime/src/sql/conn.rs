//! [`SqlConn`]: a `DataSource`'s pool (or a transaction on it), through which every query is
//! timed (`sql_client_requests_duration_ms`), counted when it fails, traced in a span, and
//! logged when slower than `SlowThreshold` (go-zero's `[SQL] slowcall` line).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::{Database, Execute, Executor, IntoArguments, Pool, Transaction};
use tokio::sync::Mutex;
use tracing::Instrument;

use super::SqlError;
use super::metrics;

/// Pool settings beside the `DataSource`, go-zero's defaults: 64 connections, each kept at
/// most a minute, and queries slower than 500 ms logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PoolConf {
    /// At most this many open connections.
    pub max_open_conns: u32,
    /// A connection is closed after this many milliseconds.
    pub max_lifetime: u64,
    /// Queries slower than this many milliseconds are logged (go-zero's `SlowThreshold`).
    pub slow_threshold: u64,
}

impl Default for PoolConf {
    fn default() -> Self {
        PoolConf {
            max_open_conns: 64,
            max_lifetime: 60_000,
            slow_threshold: 500,
        }
    }
}

type SharedTx<DB> = Arc<Mutex<Option<Transaction<'static, DB>>>>;

enum Exec<DB: Database> {
    Pool(Pool<DB>),
    Tx(SharedTx<DB>),
}

impl<DB: Database> Clone for Exec<DB> {
    fn clone(&self) -> Self {
        match self {
            Exec::Pool(p) => Exec::Pool(p.clone()),
            Exec::Tx(t) => Exec::Tx(t.clone()),
        }
    }
}

/// A database connection pool, or a transaction on one (inside [`SqlConn::transact`]).
/// Cloning is cheap; clones share the pool.
pub struct SqlConn<DB: Database> {
    exec: Exec<DB>,
    slow: Duration,
}

impl<DB: Database> Clone for SqlConn<DB> {
    fn clone(&self) -> Self {
        SqlConn {
            exec: self.exec.clone(),
            slow: self.slow,
        }
    }
}

impl<DB: Database> std::fmt::Debug for SqlConn<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConn")
            .field("driver", &DB::NAME)
            .field("in_transaction", &matches!(self.exec, Exec::Tx(_)))
            .finish()
    }
}

/// The kind of failure, as the `error` label of `sql_client_requests_error_total`.
fn error_label(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
        sqlx::Error::Protocol(_) => "protocol",
        _ => "other",
    }
}

impl<DB: Database> SqlConn<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Opens a pool on `data_source` (a URL such as `postgres://user@host/db`,
    /// `mysql://root@127.0.0.1:3306/db` or `sqlite://data/app.db?mode=rwc`). Connects once, so
    /// a refused connection fails here, at start, naming `DataSource`.
    pub async fn connect(data_source: &str, conf: &PoolConf) -> Result<Self, SqlError> {
        let pool = PoolOptions::<DB>::new()
            .max_connections(conf.max_open_conns.max(1))
            .max_lifetime(Duration::from_millis(conf.max_lifetime.max(1)))
            .acquire_timeout(Duration::from_secs(5))
            .connect(data_source)
            .await
            .map_err(|e| {
                SqlError::Config(format!(
                    "DataSource ({}): cannot connect: {e}; is the database running, and does \
                     the URL name it?",
                    DB::NAME
                ))
            })?;
        Ok(Self::from_pool(pool, conf))
    }

    /// Wraps a pool built elsewhere.
    pub fn from_pool(pool: Pool<DB>, conf: &PoolConf) -> Self {
        SqlConn {
            exec: Exec::Pool(pool),
            slow: Duration::from_millis(conf.slow_threshold),
        }
    }

    /// The pool (none inside a transaction).
    pub fn pool(&self) -> Option<&Pool<DB>> {
        match &self.exec {
            Exec::Pool(p) => Some(p),
            Exec::Tx(_) => None,
        }
    }

    /// Closes the pool: waits for connections in use to come back, then closes them all.
    /// Call it when the server has stopped.
    pub async fn close(&self) {
        if let Exec::Pool(p) = &self.exec {
            p.close().await;
        }
    }

    /// Times, traces and counts one query run by `run` on this connection's executor.
    async fn observe<T, F>(&self, command: &'static str, sql: &str, run: F) -> Result<T, SqlError>
    where
        F: AsyncFnOnce(Executing<'_, DB>) -> Result<T, sqlx::Error>,
    {
        let span = tracing::info_span!(
            "sql",
            otel.name = command,
            db.system = DB::NAME,
            db.statement = sql
        );
        async {
            let start = Instant::now();
            let result = match &self.exec {
                Exec::Pool(pool) => run(Executing::Pool(pool)).await,
                Exec::Tx(tx) => {
                    let mut guard = tx.lock().await;
                    match guard.as_mut() {
                        Some(tx) => run(Executing::Conn(&mut **tx)).await,
                        None => Err(sqlx::Error::PoolClosed),
                    }
                }
            };
            let took = start.elapsed();
            let error = match &result {
                Err(sqlx::Error::RowNotFound) | Ok(_) => None,
                Err(e) => Some(error_label(e)),
            };
            metrics::observe(command, took.as_secs_f64() * 1000.0, error);
            if took > self.slow {
                tracing::warn!(
                    duration_ms = took.as_millis() as u64,
                    command,
                    "[SQL] slowcall - {sql}"
                );
            }
            if let Err(e) = &result
                && error.is_some()
            {
                tracing::error!(command, error = %e, "[SQL] {sql}");
            }
            result.map_err(SqlError::from)
        }
        .instrument(span)
        .await
    }

    /// Runs `query`; the first row, if any.
    pub async fn fetch_optional<'q, A>(
        &self,
        command: &'static str,
        query: Query<'q, DB, A>,
    ) -> Result<Option<DB::Row>, SqlError>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let sql = query.sql();
        self.observe(command, sql, async move |e| match e {
            Executing::Pool(p) => query.fetch_optional(p).await,
            Executing::Conn(c) => query.fetch_optional(c).await,
        })
        .await
    }

    /// Runs `query`; exactly one row ([`SqlError::NotFound`] when none).
    pub async fn fetch_one<'q, A>(
        &self,
        command: &'static str,
        query: Query<'q, DB, A>,
    ) -> Result<DB::Row, SqlError>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        self.fetch_optional(command, query)
            .await?
            .ok_or(SqlError::NotFound)
    }

    /// Runs `query`; every row.
    pub async fn fetch_all<'q, A>(
        &self,
        command: &'static str,
        query: Query<'q, DB, A>,
    ) -> Result<Vec<DB::Row>, SqlError>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let sql = query.sql();
        self.observe(command, sql, async move |e| match e {
            Executing::Pool(p) => query.fetch_all(p).await,
            Executing::Conn(c) => query.fetch_all(c).await,
        })
        .await
    }

    /// Runs a statement; what the database reports (rows affected, last insert id).
    pub async fn execute<'q, A>(
        &self,
        command: &'static str,
        query: Query<'q, DB, A>,
    ) -> Result<DB::QueryResult, SqlError>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let sql = query.sql();
        self.observe(command, sql, async move |e| match e {
            Executing::Pool(p) => query.execute(p).await,
            Executing::Conn(c) => query.execute(c).await,
        })
        .await
    }

    /// Runs `body` in a transaction (go-zero's `TransactCtx`): `body` gets a connection bound
    /// to it; the transaction commits when `body` returns `Ok`, and rolls back on `Err`.
    pub async fn transact<T, F, Fut>(&self, body: F) -> Result<T, SqlError>
    where
        F: FnOnce(SqlConn<DB>) -> Fut,
        Fut: Future<Output = Result<T, SqlError>>,
    {
        let Exec::Pool(pool) = &self.exec else {
            // Already in one: the inner body joins it, as go-zero's sessions do.
            return body(self.clone()).await;
        };
        let tx = pool.begin().await?;
        let shared: SharedTx<DB> = Arc::new(Mutex::new(Some(tx)));
        let inner = SqlConn {
            exec: Exec::Tx(shared.clone()),
            slow: self.slow,
        };
        let result = body(inner).await;
        let tx = Arc::try_unwrap(shared)
            .map_err(|_| SqlError::TransactionInUse)?
            .into_inner()
            .ok_or(SqlError::TransactionInUse)?;
        match result {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }
}

/// Where one query runs.
enum Executing<'a, DB: Database> {
    Pool(&'a Pool<DB>),
    Conn(&'a mut DB::Connection),
}
