//! Prometheus metrics with go-zero's names, so existing dashboards work:
//! `http_server_requests_duration_ms` (histogram; path, method, code; buckets 5..1000 ms),
//! `http_server_requests_code_total` (path, method, code), plus
//! `http_server_requests_in_flight` and `http_server_requests_rejected_total` (path, reason).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// go-zero's duration buckets, in milliseconds.
pub const BUCKETS: [f64; 9] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 750.0, 1000.0];

/// Labels of the per-request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template, e.g. `/trials/{id}`.
    pub path: Arc<str>,
    /// HTTP method.
    pub method: &'static str,
    /// Status code.
    pub code: u16,
}

/// Why a request was refused before reaching its handler.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Rejection {
    /// Load shedding.
    Shed,
    /// Circuit breaker open.
    Breaker,
    /// Rate limit.
    Limit,
    /// `MaxConns`.
    MaxConns,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::Shed => "shed",
            Rejection::Breaker => "breaker",
            Rejection::Limit => "limit",
            Rejection::MaxConns => "maxconns",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    path: Arc<str>,
    reason: &'static str,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The metric families of one server and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    codes: Family<RequestLabels, Counter>,
    in_flight: Gauge,
    rejected: Family<RejectLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the families.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let duration = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            histogram as fn() -> Histogram,
        );
        let codes = Family::<RequestLabels, Counter>::default();
        let in_flight = Gauge::default();
        let rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "http_server_requests_duration_ms",
            "http server requests duration(ms)",
            duration.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            "http_server_requests_code",
            "http server requests code count",
            codes.clone(),
        );
        registry.register(
            "http_server_requests_in_flight",
            "http server requests being served",
            in_flight.clone(),
        );
        registry.register(
            "http_server_requests_rejected",
            "http server requests refused by shedding, breaker, rate limit or MaxConns",
            rejected.clone(),
        );
        Metrics {
            registry,
            duration,
            codes,
            in_flight,
            rejected,
        }
    }

    /// The two series of `labels`, to keep and record into without a lookup per request.
    pub fn series(&self, labels: &RequestLabels) -> (Histogram, Counter) {
        (
            self.duration.get_or_create(labels).clone(),
            self.codes.get_or_create(labels).clone(),
        )
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Counts a refused request.
    pub fn reject(&self, path: &Arc<str>, why: Rejection) {
        self.rejected
            .get_or_create(&RejectLabels {
                path: path.clone(),
                reason: why.as_str(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition (what prometheus-client writes).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        crate::rpc::encode_metrics(&mut out);
        #[cfg(feature = "sql")]
        crate::sql::encode_metrics(&mut out);
        let _ = encode_eof(&mut out);
        out
    }

    /// The classic Prometheus text exposition (format 0.0.4), which `promtool check metrics`
    /// and older scrapers parse.
    pub fn render(&self) -> String {
        to_classic(&self.render_openmetrics())
    }
}

/// prometheus-client only writes OpenMetrics, where a counter family is named without
/// `_total` and the text ends with `# EOF`. The classic format names the family after its
/// samples (`..._total`), has no `# UNIT`/`# EOF` lines, and is otherwise the same.
fn to_classic(om: &str) -> String {
    let counters: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
