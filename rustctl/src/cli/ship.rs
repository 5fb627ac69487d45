//! `rustctl docker`, `rustctl kube deploy|job` and `rustctl ci gitlab|github`: their arguments
//! (goctl's flag names where goctl has the flag) and their work.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::Output;
use super::generate::write_plan;
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, GenError};
use crate::deploy::DeployError;
use crate::deploy::ci::{self, CiOptions, Provider, ServiceSpec};
use crate::deploy::docker::{self, DockerOptions};
use crate::deploy::kube::{self, DeployOptions, JobOptions, PullPolicy, Workload};
use crate::deploy::service::Service;
use crate::writer::Mode;

/// `rustctl docker`
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct DockerArgs {
    /// The service directory (goctl's `--go`).
    #[arg(long, alias = "go", value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The config file in the service directory, when `etc/` holds several.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The service port to expose [default: the config's].
    #[arg(long)]
    pub port: Option<u16>,
    /// The executable's name in the image [default: the binary's].
    #[arg(long)]
    pub exe: Option<String>,
    /// The runtime image.
    #[arg(long, default_value = docker::DEFAULT_BASE)]
    pub base: String,
    /// The `rust` image tag the build stages use.
    #[arg(long, default_value = docker::DEFAULT_RUST_VERSION)]
    pub version: String,
    /// The time zone in the image (`TZ`).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Write nothing; exit 1 if the Dockerfile would change.
    #[arg(long)]
    pub check: bool,
}

/// `rustctl kube ...`
#[derive(Debug, Subcommand)]
pub enum KubeCommand {
    /// A ConfigMap, Deployment, Service, NetworkPolicy and HorizontalPodAutoscaler for a service.
    Deploy(KubeDeployArgs),
    /// A ConfigMap and CronJob for a program run on a schedule.
    Job(KubeJobArgs),
}

/// Flags `kube deploy` and `kube job` share (goctl's names).
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// The objects' name.
    #[arg(long)]
    pub name: String,
    /// Their namespace.
    #[arg(long)]
    pub namespace: String,
    /// The container image.
    #[arg(long)]
    pub image: String,
    /// The service directory (its config becomes the ConfigMap).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The config file in the service directory, when `etc/` holds several.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// CPU request, in millicores.
    #[arg(long = "requestCpu", default_value_t = 500)]
    pub request_cpu: u32,
    /// Memory request, in MiB.
    #[arg(long = "requestMem", default_value_t = 512)]
    pub request_mem: u32,
    /// CPU limit, in millicores.
    #[arg(long = "limitCpu", default_value_t = 1000)]
    pub limit_cpu: u32,
    /// Memory limit, in MiB.
    #[arg(long = "limitMem", default_value_t = 1024)]
    pub limit_mem: u32,
    /// An image pull secret.
    #[arg(long)]
    pub secret: Option<String>,
    /// The pods' service account.
    #[arg(long = "serviceAccount")]
    pub service_account: Option<String>,
    /// The image pull policy.
    #[arg(long = "imagePullPolicy", value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub image_pull_policy: PullPolicy,
    /// An environment variable of the container (repeatable); a `${NAME}` the config reads
    /// without a default and no `--env` sets comes from the Secret `<name>-env`.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_pair)]
    pub env: Vec<(String, String)>,
    /// A directory below /app the service writes to (repeatable): an empty volume of the pod's
    /// own, since the root file system is read-only.
    #[arg(long, value_name = "DIR")]
    pub writable: Vec<String>,
    /// The file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Write nothing; exit 1 if the file would change.
    #[arg(long)]
    pub check: bool,
}

/// `rustctl kube deploy`
#[derive(Debug, Args)]
pub struct KubeDeployArgs {
    /// What both kube commands take.
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// The service port [default: the config's].
    #[arg(long)]
    pub port: Option<u16>,
    /// Expose the Service on this node port (30000-32767).
    #[arg(long = "nodePort")]
    pub node_port: Option<u16>,
    /// Replicas before the autoscaler acts.
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// Old ReplicaSets kept for rollback.
    #[arg(long, default_value_t = 5)]
    pub revisions: u32,
    /// The autoscaler's floor.
    #[arg(long = "minReplicas", default_value_t = 3)]
    pub min_replicas: u32,
    /// The autoscaler's ceiling.
    #[arg(long = "maxReplicas", default_value_t = 10)]
    pub max_replicas: u32,
    /// Scale out above this CPU use, percent of the request.
    #[arg(long = "cpuPercent", default_value_t = 80)]
    pub cpu_percent: u32,
    /// Scale out above this memory use, percent of the request.
    #[arg(long = "memPercent", default_value_t = 80)]
    pub mem_percent: u32,
}

/// `rustctl kube job`
#[derive(Debug, Args)]
pub struct KubeJobArgs {
    /// What both kube commands take.
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// When to run, in cron syntax (`0 3 * * *`, `@hourly`).
    #[arg(long)]
    pub schedule: String,
    /// Finished jobs kept (successful and failed each).
    #[arg(long = "successfulJobsHistoryLimit", default_value_t = 3)]
    pub successful_jobs_history_limit: u32,
}

/// `rustctl ci ...`
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Write `.gitlab-ci.yml`.
    Gitlab(CiArgs),
    /// Write `.github/workflows/ci.yml`.
    Github(CiArgs),
}

/// `rustctl ci gitlab|github`
#[derive(Debug, Args)]
pub struct CiArgs {
    /// The project (repository) directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// A service to ship, relative to the project (repeatable); `DIR=CONTRACT` names its
    /// contract when it is not the one `.api`/`.proto` file in or above DIR.
    #[arg(long = "service", value_name = "DIR[=CONTRACT]", required = true)]
    pub services: Vec<ServiceSpec>,
    /// The namespace the services' manifests deploy to.
    #[arg(long)]
    pub namespace: String,
    /// Where images are pushed [default: the CI system's registry].
    #[arg(long, value_name = "PREFIX")]
    pub registry: Option<String>,
    /// How the pipeline runs rustctl [default: installs this release and runs `rustctl`].
    #[arg(long, value_name = "COMMAND")]
    pub rustctl: Option<String>,
    /// The file to write, relative to the project [default: `.gitlab-ci.yml`,
    /// `.github/workflows/ci.yml`].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Write nothing; exit 1 if the pipeline would change.
    #[arg(long)]
    pub check: bool,
}

fn write(
    plan: Result<Result<FilePlan, DeployError>, GenError>,
    dir: &Path,
    check: bool,
    again: &str,
    o: &mut Output<'_>,
) -> io::Result<i32> {
    let plan = match plan {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
        Err(e) => {
            writeln!(o.err, "error: {e}")?;
            return Ok(1);
        }
    };
    let mode = Mode {
        check,
        prune: false,
    };
    write_plan(Ok(plan), dir, mode, again, o)
}

fn with_templates(
    home: Option<&Path>,
    build: impl FnOnce(&Templates) -> Result<FilePlan, DeployError>,
) -> Result<Result<FilePlan, DeployError>, GenError> {
    let templates = Templates::load(home)?;
    Ok(build(&templates))
}

/// `rustctl docker`.
pub fn docker(args: &DockerArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let options = DockerOptions {
        port: args.port,
        exe: args.exe.clone(),
        base: args.base.clone(),
        rust_version: args.version.clone(),
        tz: args.tz.clone(),
    };
    let plan = with_templates(args.home.as_deref(), |t| {
        let service = Service::read(&args.dir, args.config.as_deref())?;
        docker::plan(&service, &options, t)
    });
    write(plan, &args.dir, args.check, "rustctl docker", o)
}

fn workload(w: &WorkloadArgs) -> Workload {
    Workload {
        name: w.name.clone(),
        namespace: w.namespace.clone(),
        image: w.image.clone(),
        request_cpu: w.request_cpu,
        request_mem: w.request_mem,
        limit_cpu: w.limit_cpu,
        limit_mem: w.limit_mem,
        secret: w.secret.clone(),
        service_account: w.service_account.clone(),
        image_pull_policy: w.image_pull_policy,
        env: w.env.clone(),
        writable: w.writable.clone(),
    }
}

fn env_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// `-o FILE` as the directory written in and the file's name there.
fn output(path: &Path) -> (PathBuf, PathBuf) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    (dir.to_path_buf(), name)
}

/// `rustctl kube deploy`.
pub fn kube_deploy(args: &KubeDeployArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let w = &args.workload;
    let options = DeployOptions {
        port: args.port,
        node_port: args.node_port,
        replicas: args.replicas,
        revisions: args.revisions,
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        cpu_percent: args.cpu_percent,
        mem_percent: args.mem_percent,
    };
    let (dir, file) = output(&w.output);
    let plan = with_templates(w.home.as_deref(), |t| {
        let service = Service::read(&w.dir, w.config.as_deref())?;
        kube::deploy_plan(&service, &workload(w), &options, &file, t)
    });
    write(plan, &dir, w.check, "rustctl kube deploy", o)
}

/// `rustctl kube job`.
pub fn kube_job(args: &KubeJobArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let w = &args.workload;
    let options = JobOptions {
        schedule: args.schedule.clone(),
        successful_jobs_history_limit: args.successful_jobs_history_limit,
    };
    let (dir, file) = output(&w.output);
    let plan = with_templates(w.home.as_deref(), |t| {
        let service = Service::read(&w.dir, w.config.as_deref())?;
        kube::job_plan(&service, &workload(w), &options, &file, t)
    });
    write(plan, &dir, w.check, "rustctl kube job", o)
}

/// `rustctl ci gitlab|github`.
pub fn ci(provider: Provider, args: &CiArgs, o: &mut Output<'_>) -> io::Result<i32> {
    let options = CiOptions {
        services: args.services.clone(),
        namespace: args.namespace.clone(),
        registry: args.registry.clone(),
        rustctl: args.rustctl.clone(),
        output: args.output.clone(),
    };
    let plan = with_templates(args.home.as_deref(), |t| {
        ci::plan(provider, &args.dir, &options, t)
    });
    let again = match provider {
        Provider::Gitlab => "rustctl ci gitlab",
        Provider::Github => "rustctl ci github",
    };
    write(plan, &args.dir, args.check, again, o)
}
