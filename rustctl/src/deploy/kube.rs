//! `rustctl kube deploy` (ConfigMap, Deployment, Service, HorizontalPodAutoscaler) and
//! `rustctl kube job` (ConfigMap, CronJob) for one service.

use std::path::Path;

use serde::Serialize;

use super::config::Kind;
use super::service::Service;
use super::{DeployError, names};
use crate::codegen::templates::{Templates, one_line};
use crate::codegen::{FilePlan, Ownership};

/// How long the pod keeps serving after Kubernetes starts removing it from the Service's
/// endpoints, before SIGTERM: the time endpoint changes take to reach every proxy.
pub const PRE_STOP_SECONDS: u64 = 5;
/// Added to the pause and the runtime's shutdown time for the grace period: logs and spans
/// are flushed after the last request.
const GRACE_MARGIN_SECONDS: u64 = 3;

/// goctl's `--imagePullPolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum PullPolicy {
    /// Pull on every start.
    #[value(name = "Always")]
    Always,
    /// Pull when the node lacks the image.
    #[value(name = "IfNotPresent")]
    IfNotPresent,
    /// Never pull.
    #[value(name = "Never")]
    Never,
}

/// What goctl's flags set, shared by `deploy` and `job`.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The objects' name.
    pub name: String,
    /// Their namespace.
    pub namespace: String,
    /// The container image.
    pub image: String,
    /// CPU request, millicores.
    pub request_cpu: u32,
    /// Memory request, MiB.
    pub request_mem: u32,
    /// CPU limit, millicores.
    pub limit_cpu: u32,
    /// Memory limit, MiB.
    pub limit_mem: u32,
    /// An image pull secret.
    pub secret: Option<String>,
    /// The pod's service account.
    pub service_account: Option<String>,
    /// The image pull policy.
    pub image_pull_policy: PullPolicy,
    /// Environment variables set in the container (`NAME`, value).
    pub env: Vec<(String, String)>,
    /// Directories below `/app` the service writes to (the root file system is read-only):
    /// each gets an empty, pod-local volume.
    pub writable: Vec<String>,
}

/// `rustctl kube deploy`'s own options.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The service port (default: the config's).
    pub port: Option<u16>,
    /// Expose the Service on this node port.
    pub node_port: Option<u16>,
    /// Replicas before the autoscaler acts.
    pub replicas: u32,
    /// ReplicaSets kept for rollback.
    pub revisions: u32,
    /// Autoscaler floor.
    pub min_replicas: u32,
    /// Autoscaler ceiling.
    pub max_replicas: u32,
    /// Target CPU utilization, percent of the request.
    pub cpu_percent: u32,
    /// Target memory utilization, percent of the request.
    pub mem_percent: u32,
}

/// `rustctl kube job`'s own options.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The cron schedule.
    pub schedule: String,
    /// Finished jobs kept.
    pub successful_jobs_history_limit: u32,
}

#[derive(Serialize)]
struct Probe {
    kind: &'static str,
    port: u16,
    path: String,
}

#[derive(Serialize)]
struct Metrics {
    port: u16,
    path: String,
}

#[derive(Serialize)]
struct WorkloadCtx<'a> {
    name: &'a str,
    namespace: &'a str,
    image: &'a str,
    image_pull_policy: PullPolicy,
    request_cpu: u32,
    request_mem: u32,
    limit_cpu: u32,
    limit_mem: u32,
    secret: Option<&'a str>,
    service_account: Option<&'a str>,
    config_name: String,
    config_header: &'static str,
    config_lines: Vec<String>,
    env: Vec<EnvVar<'a>>,
    secret_env: Vec<&'a str>,
    writable: Vec<String>,
    skips: Vec<String>,
}

#[derive(Serialize)]
struct EnvVar<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct DeployCtx<'a> {
    #[serde(flatten)]
    workload: WorkloadCtx<'a>,
    port: u16,
    port_name: &'static str,
    dev_port: Option<u16>,
    node_port: Option<u16>,
    metrics: Option<Metrics>,
    probe: Probe,
    replicas: u32,
    revisions: u32,
    min_replicas: u32,
    max_replicas: u32,
    cpu_percent: u32,
    mem_percent: u32,
    shutdown_ms: u64,
    grace_seconds: u64,
    pre_stop_seconds: u64,
}

#[derive(Serialize)]
struct JobCtx<'a> {
    #[serde(flatten)]
    workload: WorkloadCtx<'a>,
    schedule: &'a str,
    successful_jobs_history_limit: u32,
}

/// The plan for `kube deploy`: one file at `output` (relative to the directory it is written
/// in).
pub fn deploy_plan(
    service: &Service,
    workload: &Workload,
    options: &DeployOptions,
    output: &Path,
    templates: &Templates,
) -> Result<FilePlan, DeployError> {
    let (kind, config_port) = service.server()?;
    let facts = &service.config;
    let port = options.port.unwrap_or(config_port);
    let flag = |flag, message: String| Err(DeployError::Flag { flag, message });
    if port == 0 {
        return flag("port", "0 is not a port a Service can route to".into());
    }
    if let Some(np) = options.node_port
        && !(30000..=32767).contains(&np)
    {
        return flag(
            "nodePort",
            format!("{np} is outside Kubernetes' node port range 30000-32767"),
        );
    }
    if options.min_replicas == 0 {
        return flag("minReplicas", "must be at least 1".into());
    }
    if options.min_replicas > options.max_replicas {
        return flag(
            "minReplicas",
            format!(
                "{} is above --maxReplicas {}",
                options.min_replicas, options.max_replicas
            ),
        );
    }
    for (name, v) in [
        ("cpuPercent", options.cpu_percent),
        ("memPercent", options.mem_percent),
    ] {
        if v == 0 {
            return flag(name, "must be at least 1".into());
        }
    }
    let probe = match (facts.dev_port, kind) {
        (Some(dev), _) => Probe {
            kind: "http",
            port: dev,
            path: url_path("DevServer.HealthPath", &facts.health_path, service)?,
        },
        (None, Kind::Rpc) => Probe {
            kind: "grpc",
            port,
            path: String::new(),
        },
        (None, Kind::Rest) => Probe {
            kind: "tcp",
            port,
            path: String::new(),
        },
    };
    let metrics = match &facts.metrics {
        Some((p, path)) => Some(Metrics {
            port: *p,
            path: url_path("the metrics path", path, service)?,
        }),
        None => None,
    };
    let workload_ctx = workload_ctx(service, workload)?;
    let shutdown_secs = facts.shutdown_ms.div_ceil(1000);
    let ctx = DeployCtx {
        workload: workload_ctx,
        port,
        port_name: match kind {
            Kind::Rest => "http",
            Kind::Rpc => "grpc",
        },
        dev_port: facts.dev_port.filter(|d| *d != port),
        node_port: options.node_port,
        metrics,
        probe,
        replicas: options.replicas,
        revisions: options.revisions,
        min_replicas: options.min_replicas,
        max_replicas: options.max_replicas,
        cpu_percent: options.cpu_percent,
        mem_percent: options.mem_percent,
        shutdown_ms: facts.shutdown_ms,
        grace_seconds: PRE_STOP_SECONDS + shutdown_secs + GRACE_MARGIN_SECONDS,
        pre_stop_seconds: PRE_STOP_SECONDS,
    };
    one_file(
        output,
        templates.render("kube/deploy.yaml", &ctx)?,
        templates,
    )
}

/// The plan for `kube job`.
pub fn job_plan(
    service: &Service,
    workload: &Workload,
    options: &JobOptions,
    output: &Path,
    templates: &Templates,
) -> Result<FilePlan, DeployError> {
    schedule(&options.schedule)?;
    let ctx = JobCtx {
        workload: workload_ctx(service, workload)?,
        schedule: &options.schedule,
        successful_jobs_history_limit: options.successful_jobs_history_limit,
    };
    one_file(output, templates.render("kube/job.yaml", &ctx)?, templates)
}

fn one_file(output: &Path, text: String, templates: &Templates) -> Result<FilePlan, DeployError> {
    let mut plan = FilePlan {
        partial: true,
        overrides: super::overrides(templates, "kube/"),
        ..FilePlan::default()
    };
    plan.add(output, text, Ownership::Generated);
    Ok(plan)
}

fn workload_ctx<'a>(service: &'a Service, w: &'a Workload) -> Result<WorkloadCtx<'a>, DeployError> {
    names::dns_label("name", &w.name)?;
    names::dns_label("namespace", &w.namespace)?;
    names::image("image", &w.image, false)?;
    if let Some(s) = &w.secret {
        names::dns_label("secret", s)?;
    }
    if let Some(s) = &w.service_account {
        names::dns_label("serviceAccount", s)?;
    }
    let flag = |flag, message: String| Err(DeployError::Flag { flag, message });
    if w.request_cpu == 0 || w.request_mem == 0 {
        return flag("requestCpu", "requests must be above 0".into());
    }
    if w.limit_cpu < w.request_cpu {
        return flag(
            "limitCpu",
            format!("{}m is below --requestCpu {}m", w.limit_cpu, w.request_cpu),
        );
    }
    if w.limit_mem < w.request_mem {
        return flag(
            "limitMem",
            format!(
                "{}Mi is below --requestMem {}Mi",
                w.limit_mem, w.request_mem
            ),
        );
    }
    let mut writable = Vec::new();
    for dir in &w.writable {
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        if parts.is_empty()
            || parts
                .iter()
                .any(|p| *p == "." || *p == ".." || names::word("writable", p).is_err())
        {
            return flag(
                "writable",
                format!(
                    "`{}` must be a directory below /app (letters, digits, `.`, `_`, `-`)",
                    dir.escape_debug()
                ),
            );
        }
        if parts[0] == "etc" {
            return flag(
                "writable",
                format!("`{dir}` would hide the config mounted at /app/etc"),
            );
        }
        writable.push(format!("/app/{}", parts.join("/")));
    }
    let (config_header, config_lines) = config_block(service)?;
    let mut skips = Vec::new();
    if !w.image.contains("@sha256:") {
        skips.push(
            "CKV_K8S_43=the image is tagged with the commit it was built from; pass \
             --image NAME@sha256:DIGEST to pin a digest"
                .to_string(),
        );
    }
    if w.image_pull_policy != PullPolicy::Always {
        skips.push(format!(
            "CKV_K8S_15=a commit tag names one image, so {:?} pulls nothing stale",
            w.image_pull_policy
        ));
    }
    let mut env = Vec::new();
    for (name, value) in &w.env {
        env_name(name, service).map_err(|_| DeployError::Flag {
            flag: "env",
            message: format!(
                "`{}` is not an environment variable name",
                name.escape_debug()
            ),
        })?;
        if value.chars().any(|c| c.is_control()) {
            return Err(DeployError::Flag {
                flag: "env",
                message: format!("the value of {name} holds a control character"),
            });
        }
        env.push(EnvVar { name, value });
    }
    // What the config reads with `${VAR}` and no `--env` sets comes from the Secret.
    let secret_env: Vec<&str> = service
        .config
        .required_env
        .iter()
        .map(String::as_str)
        .filter(|v| !w.env.iter().any(|(n, _)| n == v))
        .collect();
    if !secret_env.is_empty() {
        skips.push(
            "CKV_K8S_35=the config reads these values with ${VAR}, from the environment \
             only"
                .to_string(),
        );
    }
    for var in &service.config.required_env {
        env_name(var, service)?;
    }
    Ok(WorkloadCtx {
        name: &w.name,
        namespace: &w.namespace,
        image: &w.image,
        image_pull_policy: w.image_pull_policy,
        request_cpu: w.request_cpu,
        request_mem: w.request_mem,
        limit_cpu: w.limit_cpu,
        limit_mem: w.limit_mem,
        secret: w.secret.as_deref(),
        service_account: w.service_account.as_deref(),
        config_name: service.config_name(),
        config_header,
        config_lines,
        env,
        secret_env,
        writable,
        skips,
    })
}

/// The config as the lines of a YAML literal block, and the block's header. Every character
/// is carried as it is, so one the escaping would change (a tab, another control character,
/// a bidi override) is refused, with its line and column.
fn config_block(service: &Service) -> Result<(&'static str, Vec<String>), DeployError> {
    let mut lines = Vec::new();
    for (n, line) in service.config_text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if one_line(line) != line {
            let col = line
                .chars()
                .take_while(|c| one_line(&c.to_string()) == c.to_string());
            return Err(DeployError::Config {
                path: service.config_path.clone(),
                message: format!(
                    "{}:{}: a tab or control character cannot be carried into a ConfigMap \
                     as it is; write it another way",
                    n + 1,
                    col.count() + 1
                ),
            });
        }
        lines.push(line.trim_end().to_string());
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    // A first line that starts with a space would be read as the block's indentation.
    let indented = lines
        .iter()
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with(' '));
    Ok((if indented { "|2" } else { "|" }, lines))
}

fn url_path(key: &str, path: &str, service: &Service) -> Result<String, DeployError> {
    let ok = path.starts_with('/')
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'#' | b'?'));
    ok.then(|| path.to_string())
        .ok_or_else(|| DeployError::Config {
            path: service.config_path.clone(),
            message: format!("{key} `{}` is not a URL path", path.escape_debug()),
        })
}

fn env_name(var: &str, service: &Service) -> Result<(), DeployError> {
    let ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && var.len() <= 128;
    ok.then_some(()).ok_or_else(|| DeployError::Config {
        path: service.config_path.clone(),
        message: format!(
            "`${{{}}}` is not an environment variable name a Secret can supply",
            var.escape_debug()
        ),
    })
}

/// A cron schedule: five fields or an `@` shorthand, in cron's characters.
fn schedule(s: &str) -> Result<(), DeployError> {
    let fields = s.split_whitespace().count();
    let ok = s.len() <= 100
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'*' | b'/' | b',' | b'-' | b'?' | b'@')
        })
        && (fields == 5 || (fields == 1 && s.starts_with('@')));
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag: "schedule",
        message: format!(
            "`{}` is not a cron schedule (five fields such as `0 3 * * *`, or `@daily`)",
            s.escape_debug()
        ),
    })
}
