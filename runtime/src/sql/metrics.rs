//! SQL and cache metrics with go-zero's names: `sql_client_requests_duration_ms` (histogram;
//! `command`, the model's query such as `user.find_one`), `sql_client_requests_error_total`
//! (`command`, `error`), and `sql_cache_requests_total` (`table`, `result`: hit, miss,
//! placeholder, error). One process-wide registry, rendered by the dev server's `/metrics`
//! after the HTTP and RPC families; created on first use.

use std::collections::HashSet;
use std::sync::{OnceLock, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::BUCKETS;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    command: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    table: &'static str,
    result: &'static str,
}

struct SqlMetrics {
    registry: Registry,
    duration: Family<CommandLabels, Histogram, fn() -> Histogram>,
    errors: Family<ErrorLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

static METRICS: OnceLock<SqlMetrics> = OnceLock::new();

fn metrics() -> &'static SqlMetrics {
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let duration = Family::<CommandLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            histogram as fn() -> Histogram,
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "sql_client_requests_duration_ms",
            "sql client requests duration(ms)",
            duration.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            "sql_client_requests_error",
            "sql client requests error count",
            errors.clone(),
        );
        registry.register(
            "sql_cache_requests",
            "sql cache lookups by result",
            cache.clone(),
        );
        SqlMetrics {
            registry,
            duration,
            errors,
            cache,
        }
    })
}

/// Records one query.
pub(super) fn observe(command: &'static str, millis: f64, error: Option<&'static str>) {
    let m = metrics();
    m.duration
        .get_or_create(&CommandLabels { command })
        .observe(millis);
    if let Some(error) = error {
        m.errors
            .get_or_create(&ErrorLabels { command, error })
            .inc();
    }
}

/// Distinct tables counted before the rest are counted as `other`.
const MAX_TABLES: usize = 1024;

/// The table of a cache key (`cache:<table>:...`) as a `&'static str`, so that counting a
/// lookup (every cache hit does) allocates nothing: each table's name is leaked once, and a
/// service has a bounded number of them (custom keys beyond [`MAX_TABLES`] are `other`).
fn table_of(key: &str) -> &'static str {
    static TABLES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let tables = TABLES.get_or_init(RwLock::default);
    let table = key.split(':').nth(1).unwrap_or("");
    let known = tables
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(table)
        .copied();
    if let Some(t) = known {
        return t;
    }
    let mut tables = tables.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(t) = tables.get(table).copied() {
        return t;
    }
    if tables.len() >= MAX_TABLES {
        return "other";
    }
    let t: &'static str = Box::leak(table.to_owned().into_boxed_str());
    tables.insert(t);
    t
}

/// Records one cache lookup of `key` (`cache:<table>:...`).
pub(super) fn cache_result(key: &str, result: &'static str) {
    metrics()
        .cache
        .get_or_create(&CacheLabels {
            table: table_of(key),
            result,
        })
        .inc();
}

/// Appends the families (if any query ran) to an OpenMetrics text.
pub(crate) fn encode(out: &mut String) {
    if let Some(m) = METRICS.get() {
        // Writing into a String cannot fail.
        let _ = encode_registry(out, &m.registry);
    }
}
