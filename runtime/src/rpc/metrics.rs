//! RPC metrics with go-zero's names: `rpc_server_requests_duration_ms` (histogram; `method`;
//! buckets 5..1000 ms), `rpc_server_requests_code_total` (`method`, `code`), and the client's
//! `rpc_client_requests_duration_ms` / `rpc_client_requests_code_total`.
//!
//! They live in one process-wide registry (a gateway's REST server and its RPC clients share a
//! process) that the REST [`crate::metrics::Metrics`] renders after its own families, so the
//! dev server's `/metrics` shows HTTP and RPC series together. The registry is created on first
//! use: a REST-only service shows no `rpc_*` families.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::BUCKETS;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    method: Arc<str>,
    code: &'static str,
}

type Durations = Family<MethodLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// One side's (server or client) two families.
struct Side {
    duration: Durations,
    codes: Family<CodeLabels, Counter>,
}

impl Side {
    fn register(registry: &mut Registry, side: &str) -> Side {
        let duration = Durations::new_with_constructor(histogram as fn() -> Histogram);
        let codes = Family::<CodeLabels, Counter>::default();
        registry.register(
            format!("rpc_{side}_requests_duration_ms"),
            format!("rpc {side} requests duration(ms)"),
            duration.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            format!("rpc_{side}_requests_code"),
            format!("rpc {side} requests code count"),
            codes.clone(),
        );
        Side { duration, codes }
    }

    fn observe(&self, method: &Arc<str>, code: tonic::Code, millis: f64) {
        self.duration
            .get_or_create(&MethodLabels {
                method: method.clone(),
            })
            .observe(millis);
        self.codes
            .get_or_create(&CodeLabels {
                method: method.clone(),
                code: code_name(code),
            })
            .inc();
    }
}

/// One server method's series, kept so a call records without a lookup: the duration
/// histogram, and the code counter of OK (other codes are looked up; they are rare).
#[derive(Clone)]
pub(crate) struct ServerSeries {
    duration: Histogram,
    ok: Counter,
}

impl ServerSeries {
    /// Records one call to `method` that ended with `code` after `millis`.
    pub(crate) fn observe(&self, method: &Arc<str>, code: tonic::Code, millis: f64) {
        self.duration.observe(millis);
        if code == tonic::Code::Ok {
            self.ok.inc();
        } else {
            get()
                .server
                .codes
                .get_or_create(&CodeLabels {
                    method: method.clone(),
                    code: code_name(code),
                })
                .inc();
        }
    }
}

pub(crate) struct RpcMetrics {
    registry: Registry,
    server: Side,
    client: Side,
}

static METRICS: OnceLock<RpcMetrics> = OnceLock::new();

/// The process-wide RPC metrics (created on first use).
pub(crate) fn get() -> &'static RpcMetrics {
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let server = Side::register(&mut registry, "server");
        let client = Side::register(&mut registry, "client");
        RpcMetrics {
            registry,
            server,
            client,
        }
    })
}

impl RpcMetrics {
    /// Records one call served.
    pub(crate) fn server(&self, method: &Arc<str>, code: tonic::Code, millis: f64) {
        self.server.observe(method, code, millis);
    }

    /// The series a server records `method`'s calls in.
    pub(crate) fn server_series(&self, method: &Arc<str>) -> ServerSeries {
        ServerSeries {
            duration: self
                .server
                .duration
                .get_or_create(&MethodLabels {
                    method: method.clone(),
                })
                .clone(),
            ok: self
                .server
                .codes
                .get_or_create(&CodeLabels {
                    method: method.clone(),
                    code: code_name(tonic::Code::Ok),
                })
                .clone(),
        }
    }
    /// Records one call made.
    pub(crate) fn client(&self, method: &Arc<str>, code: tonic::Code, millis: f64) {
        self.client.observe(method, code, millis);
    }
}

/// Appends the RPC families (OpenMetrics text, without `# EOF`) if any RPC server or client
/// exists in this process.
pub(crate) fn encode(out: &mut String) {
    if let Some(m) = METRICS.get() {
        // Writing into a String cannot fail.
        let _ = encode_registry(out, &m.registry);
    }
}

/// go-zero labels codes with their numeric value (`strconv.Itoa(int(code))`).
fn code_name(code: tonic::Code) -> &'static str {
    const NAMES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    NAMES.get(code as usize).copied().unwrap_or("2")
}
