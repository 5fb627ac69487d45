//! Every generated query, run against the real servers: MariaDB/MySQL, PostgreSQL and SQLite,
//! with the cache on a real Redis (hit, miss, "not found" placeholder, invalidation on insert,
//! update and delete, and Redis stopped mid-test) and on a real Redis cluster, plus a model
//! generated without `-c`, unsigned columns with and without `--strict`, and PostgreSQL's
//! UUIDs and arrays.

mod support;

use rustctl_runtime::sql::{SqlError, sqlx};
use support::{Redis, RedisCluster};

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
/// a statement changing a row's nickname behind the model's back, `$redis` the Redis (a
/// private `redis-server` unless given).
macro_rules! cached_model_test {
    ($conn:expr, $m:ident, $user:expr, $sneak:expr) => {
        cached_model_test!($conn, $m, $user, $sneak, Redis::start())
    };
    ($conn:expr, $m:ident, $user:expr, $sneak:expr, $redis:expr) => {{
        use rustctl_model_tests::$m::{Trial, TrialModel, UserModel};
        let conn = $conn;
        let mut redis = $redis;
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
async fn mysql_strict_cached_model() {
    let (conn, name) = support::mysql(include_str!("../sql/mysql.sql")).await;
    let conn = cached_model_test!(
        conn,
        mysql_strict,
        |mobile: &str, nick: &str, code: Option<&str>| rustctl_model_tests::mysql_strict::User {
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
            tenant: 7u32,
            code: code.map(Into::into),
        },
        "update `user` set nickname = 'sneaky' where id = ?"
    );
    support::drop_mysql(conn, &name).await;
}

#[tokio::test]
async fn mysql_unsigned_columns_with_and_without_strict() {
    let (conn, name) = support::mysql(include_str!("../sql/mysql.sql")).await;
    let count = || async {
        let row = conn
            .fetch_one("test.count", sqlx::query("select count(*) from account"))
            .await
            .unwrap();
        sqlx::Row::try_get::<i64, _>(&row, 0).unwrap()
    };
    {
        // Without --strict (the default): every unsigned column is an i64.
        use rustctl_model_tests::mysql::{Account, AccountModel};
        let accounts = AccountModel::new(conn.clone(), None);
        let top = Account {
            id: 0,
            level: 255,
            seat: 65535,
            points: Some(4_294_967_295),
            quota: i64::MAX,
        };
        let id = accounts.insert(&top).await.unwrap();
        let want = Account { id, ..top.clone() };
        assert_eq!(accounts.find_one(id).await.unwrap(), want);
        assert_eq!(accounts.find_one_by_seat(65535).await.unwrap(), want);

        // A value the column cannot hold is an error and nothing is written (a MariaDB in a
        // non-strict sql_mode would have clamped it).
        for (bad, what) in [
            (
                Account {
                    level: 256,
                    seat: 1,
                    ..top.clone()
                },
                "256 does not fit u8",
            ),
            (
                Account {
                    level: -1,
                    seat: 2,
                    ..top.clone()
                },
                "-1 does not fit u8",
            ),
            (
                Account {
                    points: Some(-1),
                    seat: 3,
                    ..top.clone()
                },
                "-1 does not fit u32",
            ),
            (
                Account {
                    quota: -1,
                    seat: 4,
                    ..top.clone()
                },
                "-1 does not fit u64",
            ),
            (
                Account {
                    seat: 65536,
                    ..top.clone()
                },
                "65536 does not fit u16",
            ),
        ] {
            let e = accounts.insert(&bad).await.unwrap_err();
            assert!(matches!(e, SqlError::Database(_)), "{e:?}");
            assert!(e.to_string().contains(what), "{e}");
        }
        assert_eq!(count().await, 1);

        // Lookups of values the column cannot hold find nothing.
        assert!(matches!(
            accounts.find_one(-1).await,
            Err(SqlError::NotFound)
        ));
        assert!(matches!(
            accounts.find_one_by_seat(-1).await,
            Err(SqlError::NotFound)
        ));
        assert!(matches!(
            accounts.find_one_by_seat(70_000).await,
            Err(SqlError::NotFound)
        ));

        // Update: out of range is an error and the row stays; in range (and NULL) is written.
        let e = accounts
            .update(&Account {
                points: Some(-5),
                ..want.clone()
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("-5 does not fit u32"), "{e}");
        assert_eq!(accounts.find_one(id).await.unwrap(), want);
        let changed = Account {
            points: None,
            level: 0,
            ..want.clone()
        };
        accounts.update(&changed).await.unwrap();
        assert_eq!(accounts.find_one(id).await.unwrap(), changed);
        assert!(accounts.delete(-1).await.is_err());

        // A BIGINT UNSIGNED above i64::MAX cannot be an i64: reading it is an error naming
        // the column and --strict, never a wrapped negative number.
        conn.execute(
            "test.big",
            sqlx::query(
                "insert into account (level, seat, quota) values (1, 9, 18446744073709551615)",
            ),
        )
        .await
        .unwrap();
        let e = accounts.find_one_by_seat(9).await.unwrap_err().to_string();
        assert!(
            e.contains("\"quota\"") && e.contains("18446744073709551615 does not fit i64"),
            "{e}"
        );
        assert!(e.contains("--strict"), "{e}");
        accounts.delete(id).await.unwrap();
    }
    {
        // With --strict: the exact unsigned types.
        use rustctl_model_tests::mysql_strict::{Account, AccountModel};
        let accounts = AccountModel::new(conn.clone(), None);
        assert_eq!(accounts.find_one_by_seat(9).await.unwrap().quota, u64::MAX);
        let row = Account {
            id: 0,
            level: 255,
            seat: 10,
            points: Some(u32::MAX),
            quota: u64::MAX - 1,
        };
        let id: u64 = accounts.insert(&row).await.unwrap();
        assert_eq!(accounts.find_one(id).await.unwrap(), Account { id, ..row });
        accounts.delete(id).await.unwrap();
        assert!(matches!(
            accounts.find_one(id).await,
            Err(SqlError::NotFound)
        ));
    }
    support::drop_mysql(conn, &name).await;
}

#[tokio::test]
async fn postgres_uuid_and_array_columns() {
    use rustctl_model_tests::pg::{Device, DeviceModel};
    use rustctl_runtime::sql::types::{Decimal, OffsetDateTime, Time, Uuid};
    let (conn, name) = support::pg(include_str!("../sql/pg.sql")).await;
    let redis = Redis::start();
    let devices = DeviceModel::new(conn.clone(), Some(redis.cache()));
    let id = Uuid::from_u128(0x6f1c_2b9e_0a4d_4c8e_9f3a_1b2c_3d4e_5f60);
    let serial = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    let device = Device {
        id,
        serial,
        owner: Some(Uuid::from_u128(7)),
        flags: vec![true, false],
        small: Some(vec![-32768, 32767]),
        ports: vec![80, 443],
        counters: Some(vec![i64::MIN, i64::MAX]),
        ratios: Some(vec![0.5, -1.25]),
        weights: Some(vec![1e300]),
        prices: Some(vec![Decimal::new(1999, 2), Decimal::new(-5, 1)]),
        // Elements that need quoting in an array literal travel as binds, untouched.
        tags: vec!["a".into(), "b c".into(), String::new(), "q\"{,}\\".into()],
        names: Some(vec!["x".into()]),
        codes: Some(vec!["ab".into(), "c ".into()]),
        blobs: Some(vec![vec![0, 255], vec![]]),
        peers: Some(vec![serial, id]),
        days: Some(vec![date(1990, 5, 17), date(2038, 1, 19)]),
        times: Some(vec![Time::from_hms(23, 59, 58).unwrap()]),
        seen: Some(vec![epoch()]),
        seen_tz: Some(vec![
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ]),
        docs: Some(vec![
            serde_json::json!({"k": [1, 2]}),
            serde_json::json!(null),
        ]),
    };
    devices.insert(&device).await.unwrap();
    // A miss reads the database, a hit the row cached as JSON: both give the row back.
    assert_eq!(devices.find_one(id).await.unwrap(), device);
    assert!(redis.get(&format!("cache:device:id:{id}")).is_some());
    assert_eq!(devices.find_one(id).await.unwrap(), device);
    assert_eq!(devices.find_one_by_serial(serial).await.unwrap(), device);
    // A unique array is looked up by a slice, bound as an array (element order counts).
    assert_eq!(
        devices.find_one_by_tags(&device.tags).await.unwrap(),
        device
    );
    assert!(matches!(
        devices.find_one_by_tags(&["b c".into(), "a".into()]).await,
        Err(SqlError::NotFound)
    ));
    assert_eq!(
        redis.get(&format!("cache:device:serial:{serial}")),
        Some(format!("\"{id}\""))
    );

    // The database holds real arrays and UUIDs, not text.
    let row = conn
        .fetch_one(
            "test.check",
            sqlx::query(
                "select array_length(tags, 1), tags[4], ports[2], pg_typeof(id)::text, \
                 pg_typeof(ports)::text from device where serial = $1",
            )
            .bind(serial),
        )
        .await
        .unwrap();
    use sqlx::Row as _;
    assert_eq!(row.get::<i32, _>(0), 4);
    assert_eq!(row.get::<String, _>(1), "q\"{,}\\");
    assert_eq!(row.get::<i32, _>(2), 443);
    assert_eq!(row.get::<String, _>(3), "uuid");
    assert_eq!(row.get::<String, _>(4), "integer[]");

    // Update: empty arrays, NULL arrays, a new serial (the old key goes).
    let serial2 = Uuid::from_u128(2);
    let changed = Device {
        serial: serial2,
        owner: None,
        ports: vec![],
        small: None,
        tags: vec!["z".into()],
        ..device.clone()
    };
    devices.update(&changed).await.unwrap();
    assert_eq!(redis.get(&format!("cache:device:serial:{serial}")), None);
    assert_eq!(devices.find_one(id).await.unwrap(), changed);
    assert_eq!(devices.find_one_by_serial(serial2).await.unwrap(), changed);
    assert_eq!(
        devices.find_one_by_tags(&["z".into()]).await.unwrap(),
        changed
    );
    assert!(matches!(
        devices.find_one_by_tags(&device.tags).await,
        Err(SqlError::NotFound)
    ));
    assert!(matches!(
        devices.find_one_by_serial(serial).await,
        Err(SqlError::NotFound)
    ));

    // A NULL element has no place in a Vec<i32>: reading it is an error, not a dropped element.
    conn.execute(
        "test.null_element",
        sqlx::query("update device set ports = '{1,NULL}' where id = $1").bind(id),
    )
    .await
    .unwrap();
    let uncached = DeviceModel::new(conn.clone(), None);
    let e = uncached.find_one(id).await.unwrap_err();
    assert!(matches!(e, SqlError::Database(_)), "{e:?}");

    devices.delete(id).await.unwrap();
    assert_eq!(redis.get(&format!("cache:device:id:{id}")).as_deref(), None);
    assert!(matches!(
        devices.find_one(id).await,
        Err(SqlError::NotFound)
    ));
    support::drop_pg(conn, &name).await;
}

#[tokio::test]
async fn sqlite_cached_model_on_a_redis_cluster() {
    let (conn, _dir) = support::sqlite(include_str!("../sql/sqlite.sql")).await;
    let cluster = RedisCluster::start(3);
    // The keys of the first row (id 1) live on different nodes, so every write's deletes
    // cross slots and nodes.
    let owners: std::collections::BTreeSet<u16> = [
        "cache:user:id:1",
        "cache:user:mobile:13800000001",
        "cache:user:mobile:13800000002",
        "cache:user:tenant:code:7:A-1",
    ]
    .iter()
    .map(|k| cluster.owner(k))
    .collect();
    assert!(owners.len() > 1, "every key on one node: {owners:?}");
    // One DEL of keys in different slots is refused by a cluster (CROSSSLOT): the cache's
    // deletes below must not be sent that way.
    let refused = cluster
        .cmd_for(
            "cache:user:id:1",
            &["DEL", "cache:user:id:1", "cache:user:mobile:13800000001"],
        )
        .unwrap();
    assert!(refused.starts_with("-CROSSSLOT"), "{refused}");
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
        "update \"user\" set nickname = 'sneaky' where id = ?",
        cluster
    );
    conn.close().await;
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
