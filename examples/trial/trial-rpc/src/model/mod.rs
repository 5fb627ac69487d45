//! Where trials are kept: the `trial` table through the models `rustctl model` generated
//! (`sqlite/` and `pg/`, cached in Redis when `CacheRedis` is set). `DataSource` picks the
//! database: an embedded SQLite file by default (created and seeded on first start, nothing to
//! run), or PostgreSQL for a `postgres://` URL. A service that knows its database keeps just
//! one of the two.

pub mod pg;
pub mod sqlite;

use rustctl_runtime::sql::{Cache, CacheOptions, PoolConf, SqlConn, SqlError, sqlx};

use crate::config::AppConfig;

/// A trial, whichever database it came from.
pub type Trial = sqlite::Trial;

/// The article's trials, written on first start when the table has none of them.
fn seed() -> [Trial; 2] {
    let trial = |id: &str, name: &str, status: &str, enrolled_count| Trial {
        id: id.into(),
        name: name.into(),
        status: status.into(),
        enrolled_count,
    };
    [
        trial(
            "NCT045148",
            "一项评估XXX药物有效性的III期临床研究",
            "招募中",
            152,
        ),
        trial("NCT052219", "早期肺癌患者术后辅助治疗研究", "已完成", 300),
    ]
}

/// The trial table on the configured database.
#[derive(Debug)]
pub enum Trials {
    /// The embedded default.
    Sqlite(sqlite::TrialModel),
    /// `DataSource: postgres://...`.
    Postgres(pg::TrialModel),
}

impl Trials {
    /// Connects to `DataSource` (and `CacheRedis`), creates the table when missing and seeds
    /// it; errors name the key at fault.
    pub async fn open(conf: &AppConfig) -> Result<Trials, SqlError> {
        let cache = Cache::new(&conf.cache_redis, CacheOptions::default())?;
        let pool = PoolConf::default();
        let url = conf.data_source.as_str();
        let trials = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let conn = SqlConn::connect(url, &pool).await?;
            let schema = sqlx::query(include_str!("../../sql/trial.pg.sql"));
            conn.execute("trial.schema", schema).await?;
            Trials::Postgres(pg::TrialModel::new(conn, cache))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            // SQLite creates the file (`mode=rwc`), not its directory.
            let file = path.split('?').next().unwrap_or_default();
            if let Some(dir) = std::path::Path::new(file).parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SqlError::Config(format!("DataSource: cannot create {}: {e}", dir.display()))
                })?;
            }
            let conn = SqlConn::connect(url, &pool).await?;
            let schema = sqlx::query(include_str!("../../sql/trial.sqlite.sql"));
            conn.execute("trial.schema", schema).await?;
            Trials::Sqlite(sqlite::TrialModel::new(conn, cache))
        } else {
            return Err(SqlError::Config(format!(
                "DataSource `{url}`: use sqlite://FILE?mode=rwc or postgres://USER@HOST/DB"
            )));
        };
        for trial in seed() {
            match trials.find_one(&trial.id).await {
                Err(SqlError::NotFound) => trials.insert(&trial).await?,
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        Ok(trials)
    }

    /// The trial `id`; [`SqlError::NotFound`] when there is none.
    pub async fn find_one(&self, id: &str) -> Result<Trial, SqlError> {
        match self {
            Trials::Sqlite(m) => m.find_one(id).await,
            Trials::Postgres(m) => m.find_one(id).await.map(|t| Trial {
                id: t.id,
                name: t.name,
                status: t.status,
                enrolled_count: t.enrolled_count,
            }),
        }
    }

    async fn insert(&self, t: &Trial) -> Result<(), SqlError> {
        match self {
            Trials::Sqlite(m) => m.insert(t).await,
            Trials::Postgres(m) => {
                m.insert(&pg::Trial {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    status: t.status.clone(),
                    enrolled_count: t.enrolled_count,
                })
                .await
            }
        }
    }

    /// Closes the pool (when the server has stopped).
    pub async fn close(&self) {
        match self {
            Trials::Sqlite(m) => m.conn().close().await,
            Trials::Postgres(m) => m.conn().close().await,
        }
    }
}
