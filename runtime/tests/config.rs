//! Config loading against real files.

use std::io::Write;

use rustctl_runtime::config::{self, ConfigError, LogEncoding, Mode, RestConf, Validate};
use serde::Deserialize;

fn file(ext: &str, text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct App {
    mysql: Mysql,
    user_rpc: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Mysql {
    data_source: String,
    pool: u32,
}

impl Validate for App {
    fn validate(&self) -> Vec<(String, String)> {
        rustctl_runtime::rules::check_range("Mysql.Pool", self.pool_f64(), "[0:64]")
            .into_iter()
            .collect()
    }
}

impl App {
    fn pool_f64(&self) -> f64 {
        f64::from(self.mysql.pool)
    }
}

#[test]
fn yaml_defaults_case_insensitive_env_and_service_keys() {
    // `set_var` needs `unsafe` (forbidden here), so use a variable cargo sets for every test.
    let f = file(
        ".yaml",
        "name: ${CARGO_PKG_NAME}\nHOST: 127.0.0.1\nport: ${RT_CONF_UNSET_PORT:-8888}\nlog:\n  encoding: plain\nmode: dev\n\
         Mysql:\n  DataSource: root@tcp(${RT_DB_HOST:-db}:3306)\n  pool: 8\nuser_rpc: x\nTypo: 1\nLog2: {A: 1}\n",
    );
    let sc = config::load_service::<App>(f.path()).unwrap();
    assert_eq!(sc.rest.name, "rustctl-runtime");
    assert_eq!(sc.rest.host, "127.0.0.1");
    assert_eq!(sc.rest.port, Some(8888));
    assert_eq!(sc.rest.timeout, 3000);
    assert_eq!(sc.rest.max_conns, 10000);
    assert_eq!(sc.rest.max_bytes, 1_048_576);
    assert_eq!(sc.rest.cpu_threshold, 900);
    assert_eq!(sc.rest.mode, Mode::Dev);
    assert_eq!(sc.rest.log.encoding, LogEncoding::Plain);
    assert_eq!(sc.rest.shutdown.wait_time, 5500);
    assert!(sc.rest.middlewares.breaker);
    assert_eq!(sc.app.mysql.data_source, "root@tcp(db:3306)");
    assert_eq!(sc.app.mysql.pool, 8);
    assert_eq!(sc.app.user_rpc, "x");
    assert_eq!(
        sc.rest.unknown_keys,
        vec!["Log2".to_string(), "Typo".to_string()]
    );
}

#[test]
fn nested_unknown_key_is_reported_with_path() {
    let f = file(".yaml", "Name: a\nPort: 1\nLog:\n  Levle: info\n");
    let sc = config::load_service::<App>(f.path()).unwrap();
    assert_eq!(sc.rest.unknown_keys, vec!["Log.Levle".to_string()]);
}

#[test]
fn json_and_toml_by_extension() {
    let f = file(
        ".json",
        r#"{"Name":"j","Port":"9000","Timeout":"2s","Shutdown":{"WaitTime":100}}"#,
    );
    let c: RestConf = config::load(f.path()).unwrap();
    assert_eq!(
        (c.name.as_str(), c.port, c.timeout),
        ("j", Some(9000), 2000)
    );
    assert_eq!(c.shutdown.wait_time, 100);
    let f = file(
        ".toml",
        "name = \"t\"\nport = 9001\nmax_conns = 5\n[limit]\nperiod = 1\nquota = 10\n",
    );
    let c: RestConf = config::load(f.path()).unwrap();
    assert_eq!((c.name.as_str(), c.port, c.max_conns), ("t", Some(9001), 5));
    assert_eq!((c.limit.period, c.limit.quota), (1, 10));
}

fn key_error(ext: &str, text: &str) -> (String, String) {
    let f = file(ext, text);
    match config::load::<RestConf>(f.path()) {
        Err(e @ ConfigError::Key { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains(&f.path().display().to_string()), "{shown}");
            let ConfigError::Key { key, message, .. } = e else {
                unreachable!()
            };
            (key, message)
        }
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn errors_name_the_key() {
    let (k, m) = key_error(".yaml", "Port: 1\n");
    assert_eq!(k, "Name");
    assert!(m.contains("required"), "{m}");
    let (k, m) = key_error(".yaml", "Name: a\nPort: 1\nMode: prod\n");
    assert_eq!(k, "Mode");
    assert!(m.contains("pro"), "{m}");
    let (k, _) = key_error(".yaml", "Name: a\nPort: 1\nLog:\n  Level: loud\n");
    assert_eq!(k, "Log.Level");
    let (k, m) = key_error(".yaml", "Name: a\nPort: 1\nCpuThreshold: 1200\n");
    assert_eq!(k, "CpuThreshold");
    assert!(m.contains("[0:1000]"), "{m}");
    let (k, _) = key_error(".yaml", "Name: a\nPort: notaport\n");
    assert_eq!(k, "Port");
    let (k, m) = key_error(".yaml", "Name: a\nPort: 1\nTimeout: 3 parsecs\n");
    assert_eq!(k, "Timeout");
    assert!(m.contains("invalid duration"), "{m}");
}

#[test]
fn user_validation_and_unset_env_fail() {
    let f = file(".yaml", "Name: a\nPort: 1\nMysql:\n  Pool: 65\n");
    let err = config::load_service::<App>(f.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("Mysql.Pool"), "{err}");
    let f = file(".yaml", "Name: a\nPort: ${RT_CONF_SURELY_UNSET}\n");
    let err = config::load::<RestConf>(f.path()).unwrap_err().to_string();
    assert!(
        err.contains("RT_CONF_SURELY_UNSET") && err.contains(":2"),
        "{err}"
    );
    let f = file(".ini", "Name=a");
    let err = config::load::<RestConf>(f.path()).unwrap_err().to_string();
    assert!(err.contains("unsupported config extension"), "{err}");
}
