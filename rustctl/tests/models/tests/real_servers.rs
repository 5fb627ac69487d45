//! Every generated query, run against the real servers: MariaDB/MySQL, PostgreSQL and SQLite,
//! with the cache on a real Redis (hit, miss, "not found" placeholder, invalidation on insert,
//! update and delete, and Redis stopped mid-test), plus a model generated without `-c`.

mod support;

use rustctl_runtime::sql::{SqlError, sqlx};
use support::Redis;

fn date(y: i32, m: u8, d: u8) -> rustctl_runtime::sql::types::Date {
    rustctl_runtime::sql::types::Date::from_calendar_date(y, m.try_into().unwrap(), d).unwrap()
}

fn epoch() -> rustctl_runtime::sql::types::PrimitiveDateTime {
    rustctl_runtime::sql::types::PrimitiveDateTime::new(date(2000, 1, 1), time_midnight())
}

fn time_midnight() -> rustctl_runtime::sql::types::Time {
    rustctl_runtime::sql::types::Time::MIDNIGHT
}

/// The cached model's whole life on one database; `$m` is the generated module, `$sneak`
/// a statement changing a row's nickname behind the model's back.
macro_rules! cached_model_test {
    ($conn:expr, $m:ident, $user:expr, $sneak:expr) => {{
        use rustctl_model_tests::$m::{Trial, TrialModel, UserModel};
        let conn = $conn;
        let mut redis = Redis::start();
        let users = UserModel::new(conn.clone(), Some(redis.cache()));
        let make = $user;

        // Miss, then the "not found" placeholder, with its short expiry.
        assert!(matches!(
            users.find_one(424242).await,
            Err(SqlError::NotFound)
        ));
        assert_eq!(redis.get("cache:user:id:424242").as_deref(), Some("*"));
        let ttl = redis.pttl("cache:user:id:424242");
        assert!((50_000..=63_000).contains(&ttl), "placeholder ttl {ttl} ms");
        // Asked again: the placeholder answers (counted as result="placeholder" below).
        assert!(matches!(
            users.find_one(424242).await,
            Err(SqlError::NotFound)
        ));
        assert!(matches!(
            users.find_one_by_mobile("13800000001").await,
            Err(SqlError::NotFound)
        ));
        assert_eq!(
            redis.get("cache:user:mobile:13800000001").as_deref(),
            Some("*")
        );

        // Insert deletes the placeholders of the new row's keys.
        let alice = make("13800000001", "alice", Some("A-1"));
        let id = users.insert(&alice).await.unwrap();
        assert_eq!(redis.get("cache:user:mobile:13800000001"), None);
        let found = users.find_one_by_mobile("13800000001").await.unwrap();
        assert_eq!(found.id, id);
        let want = rustctl_model_tests::$m::User {
            id,
            create_time: found.create_time,
            update_time: found.update_time,
            ..alice.clone()
        };
        assert_eq!(found, want);
        // The index key holds the primary key; the row is cached under it, for about 7 days.
        assert_eq!(
            redis.get("cache:user:mobile:13800000001"),
            Some(id.to_string())
        );
        let cached: serde_json::Value =
            serde_json::from_str(&redis.get(&format!("cache:user:id:{id}")).unwrap()).unwrap();
        assert_eq!(cached["nickname"], "alice");
        let ttl = redis.pttl(&format!("cache:user:id:{id}"));
        let week = 7 * 24 * 3600 * 1000;
        assert!(
            ttl > week * 94 / 100 && ttl <= week * 106 / 100,
            "row ttl {ttl} ms"
        );

        assert_eq!(
            users
                .find_one_by_tenant_and_code(7, "A-1")
                .await
                .unwrap()
                .id,
            id
        );

        // A hit is served from Redis: a change behind the model's back is not seen...
        users
            .conn()
            .execute("test.sneak", sqlx::query($sneak).bind(id))
            .await
            .unwrap();
        assert_eq!(users.find_one(id).await.unwrap().nickname, "alice");
        assert_eq!(
            users
                .find_one_by_tenant_and_code(7, "A-1")
                .await
                .unwrap()
                .nickname,
            "alice"
        );
        // ...until the model writes the row: update deletes every key, old and new.
        let mut changed = users.find_one(id).await.unwrap();
        changed.nickname = "alice2".into();
        changed.mobile = "13800000002".into();
        users.update(&changed).await.unwrap();
        assert_eq!(redis.get(&format!("cache:user:id:{id}")), None);
        assert_eq!(redis.get("cache:user:mobile:13800000001"), None);
        assert!(matches!(
            users.find_one_by_mobile("13800000001").await,
            Err(SqlError::NotFound)
        ));
        assert_eq!(users.find_one(id).await.unwrap().nickname, "alice2");
        assert_eq!(
            users.find_one_by_mobile("13800000002").await.unwrap().id,
            id
        );

        // A second row, and a unique index violated: a database error, not "not found".
        let bob = make("13800000003", "bob", None);
        let bob_id = users.insert(&bob).await.unwrap();
        assert_ne!(bob_id, id);
        assert!(matches!(
            users.find_one_by_tenant_and_code(7, "B-1").await,
            Err(SqlError::NotFound)
        ));
        let dup = users.insert(&make("13800000003", "bob again", None)).await;
        assert!(matches!(dup, Err(SqlError::Database(_))), "{dup:?}");

        // Delete removes the row and its keys.
        users.delete(bob_id).await.unwrap();
        assert!(matches!(
            users.find_one(bob_id).await,
            Err(SqlError::NotFound)
        ));
        assert!(matches!(
            users.find_one_by_mobile("13800000003").await,
            Err(SqlError::NotFound)
        ));

        // Transactions commit on Ok and roll back on Err.
        let carol = make("13800000004", "carol", Some("C-1"));
        let carol_id = users
            .trans(|m| async move {
                let id = m.insert(&carol).await?;
                let mut row = m.find_one(id).await?;
                row.nickname = "carol2".into();
                m.update(&row).await?;
                Ok(id)
            })
            .await
            .unwrap();
        assert_eq!(users.find_one(carol_id).await.unwrap().nickname, "carol2");
        let dave = make("13800000005", "dave", None);
        let failed: Result<(), SqlError> = users
            .trans(|m| async move {
                m.insert(&dave).await?;
                Err(SqlError::NotFound)
            })
            .await;
        assert!(failed.is_err());
        assert!(matches!(
            users.find_one_by_mobile("13800000005").await,
            Err(SqlError::NotFound)
        ));

        // A primary key that is a string and not generated.
        let trials = TrialModel::new(conn.clone(), Some(redis.cache()));
        let t = Trial {
            id: "NCT045148".into(),
            name: "phase III".into(),
            status: "recruiting".into(),
            enrolled_count: 152,
        };
        trials.insert(&t).await.unwrap();
        assert_eq!(trials.find_one("NCT045148").await.unwrap(), t);
        let done = Trial {
            status: "completed".into(),
            ..t.clone()
        };
        trials.update(&done).await.unwrap();
        assert_eq!(trials.find_one("NCT045148").await.unwrap(), done);
        trials.delete("NCT045148").await.unwrap();
        assert!(matches!(
            trials.find_one("NCT045148").await,
            Err(SqlError::NotFound)
        ));

        // Redis stops: reads and writes go on against the database.
        redis.stop();
        assert_eq!(users.find_one(id).await.unwrap().nickname, "alice2");
        assert_eq!(
            users.find_one_by_mobile("13800000002").await.unwrap().id,
            id
        );
        let mut row = users.find_one(id).await.unwrap();
        row.nickname = "alice3".into();
        users.update(&row).await.unwrap();
        assert_eq!(users.find_one(id).await.unwrap().nickname, "alice3");
        assert!(matches!(
            users.find_one(424242).await,
            Err(SqlError::NotFound)
        ));

        // Every query was timed and counted under its name.
        let metrics = rustctl_runtime::metrics::Metrics::new().render();
        for needle in [
            "sql_client_requests_duration_ms_count{command=\"user.find_one\"}",
            "sql_client_requests_duration_ms_count{command=\"user.insert\"}",
            "sql_client_requests_error_total{command=\"user.insert\",error=\"database\"}",
            "sql_cache_requests_total{table=\"user\",result=\"hit\"}",
            "sql_cache_requests_total{table=\"user\",result=\"placeholder\"}",
            "sql_cache_requests_total{table=\"user\",result=\"error\"}",
        ] {
            assert!(metrics.contains(needle), "no {needle} in\n{metrics}");
        }
        conn
    }};
}

#[tokio::test]
async fn postgres_cached_model() {
    let (conn, name) = support::pg(include_str!("../sql/pg.sql")).await;
    let conn = cached_model_test!(
        conn,
        pg,
        |mobile: &str, nick: &str, code: Option<&str>| rustctl_model_tests::pg::User {
            id: 0,
            create_time: epoch(),
            update_time: epoch(),
            mobile: mobile.into(),
            nickname: nick.into(),
            sex: true,
            balance: rustctl_runtime::sql::types::Decimal::new(12345, 2),
            score: Some(4.5),
            info: Some(serde_json::json!({"tags": ["a", "b"]})),
            birthday: Some(date(1990, 5, 17)),
            tenant: 7,
            code: code.map(Into::into),
        },
        "update \"user\" set nickname = 'sneaky' where id = $1"
    );
    support::drop_pg(conn, &name).await;
}

#[tokio::test]
async fn mysql_cached_model() {
    let (conn, name) = support::mysql(include_str!("../sql/mysql.sql")).await;
    let conn = cached_model_test!(
        conn,
        mysql,
        |mobile: &str, nick: &str, code: Option<&str>| rustctl_model_tests::mysql::User {
            id: 0,
            create_time: epoch(),
            update_time: epoch(),
            mobile: mobile.into(),
            nickname: nick.into(),
            sex: true,
            balance: rustctl_runtime::sql::types::Decimal::new(12345, 2),
            score: Some(4.5),
            info: Some(serde_json::json!({"tags": ["a", "b"]})),
            birthday: Some(date(1990, 5, 17)),
            tenant: 7,
            code: code.map(Into::into),
        },
        "update `user` set nickname = 'sneaky' where id = ?"
    );
    support::drop_mysql(conn, &name).await;
}

#[tokio::test]
async fn sqlite_cached_model() {
    let (conn, _dir) = support::sqlite(include_str!("../sql/sqlite.sql")).await;
    let conn = cached_model_test!(
        conn,
        sqlite,
        |mobile: &str, nick: &str, code: Option<&str>| rustctl_model_tests::sqlite::User {
            id: 0,
            create_time: epoch(),
            update_time: epoch(),
            mobile: mobile.into(),
            nickname: nick.into(),
            sex: true,
            balance: 123.45,
            score: Some(4.5),
            info: Some(serde_json::json!({"tags": ["a", "b"]})),
            birthday: Some(date(1990, 5, 17)),
            tenant: 7,
            code: code.map(Into::into),
        },
        "update \"user\" set nickname = 'sneaky' where id = ?"
    );
    conn.close().await;
}

#[tokio::test]
async fn sqlite_model_without_cache() {
    use rustctl_model_tests::sqlite_plain::{User, UserModel};
    let (conn, _dir) = support::sqlite(include_str!("../sql/sqlite.sql")).await;
    let users = UserModel::new(conn.clone());
    let row = User {
        id: 0,
        create_time: epoch(),
        update_time: epoch(),
        mobile: "1".into(),
        nickname: "n".into(),
        sex: false,
        balance: 0.5,
        score: None,
        info: None,
        birthday: None,
        tenant: 1,
        code: None,
    };
    let id = users.insert(&row).await.unwrap();
    let mut found = users.find_one(id).await.unwrap();
    assert_eq!(found.nickname, "n");
    // Left to the database: filled by its default, not by the row given.
    assert_ne!(found.create_time, epoch());
    found.nickname = "m".into();
    users.update(&found).await.unwrap();
    assert_eq!(users.find_one_by_mobile("1").await.unwrap().nickname, "m");
    assert!(matches!(
        users.find_one_by_tenant_and_code(1, "x").await,
        Err(SqlError::NotFound)
    ));
    users.delete(id).await.unwrap();
    assert!(matches!(users.find_one(id).await, Err(SqlError::NotFound)));
    conn.close().await;
}
