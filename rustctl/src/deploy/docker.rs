//! `rustctl docker`: a multi-stage Dockerfile and its ignore file for one service.

use std::path::PathBuf;

use serde::Serialize;

use super::service::{Service, slash};
use super::{DeployError, names};
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, Ownership};

/// The runtime image: glibc and libgcc (what a Rust binary links), CA certificates, tzdata and
/// a `nonroot` user (65532), nothing else.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/cc-debian12:nonroot";
/// The `rust` image tag the build stages use: the newest 1.x, which builds any crate whose
/// `rust-version` is older.
pub const DEFAULT_RUST_VERSION: &str = "1";
/// The cargo-chef release the Dockerfile installs (pinned: `--locked` builds are reproducible).
pub const CHEF_VERSION: &str = "0.1.78";

/// `rustctl docker`'s choices (goctl's flags where they apply).
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// The service port to `EXPOSE` instead of the config's.
    pub port: Option<u16>,
    /// The executable's name in the image (default: the binary's).
    pub exe: Option<String>,
    /// The runtime image.
    pub base: String,
    /// The `rust` image tag of the build stages.
    pub rust_version: String,
    /// `TZ` in the image.
    pub tz: String,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            port: None,
            exe: None,
            base: DEFAULT_BASE.into(),
            rust_version: DEFAULT_RUST_VERSION.into(),
            tz: "UTC".into(),
        }
    }
}

#[derive(Serialize)]
struct DockerCtx<'a> {
    package: &'a str,
    bin: &'a str,
    exe: &'a str,
    workspace: bool,
    dockerfile: String,
    rust_version: &'a str,
    chef_version: &'a str,
    base: &'a str,
    default_base: bool,
    tz: &'a str,
    config_in_context: String,
    config_name: String,
    probe: String,
    ports: Vec<u16>,
}

/// The Dockerfile's name and its ignore file's, relative to the service directory. A service
/// inside a workspace builds from the workspace root, where BuildKit reads the ignore file
/// named after the Dockerfile (`Dockerfile.dockerignore`); a standalone service builds from
/// its own directory, where `.dockerignore` is the rule.
pub fn file_names(service: &Service) -> (PathBuf, PathBuf) {
    let ignore = if service.dir_in_context.as_os_str().is_empty() {
        ".dockerignore"
    } else {
        "Dockerfile.dockerignore"
    };
    (PathBuf::from("Dockerfile"), PathBuf::from(ignore))
}

/// The plan: `Dockerfile` and its ignore file in the service directory.
pub fn plan(
    service: &Service,
    options: &DockerOptions,
    templates: &Templates,
) -> Result<FilePlan, DeployError> {
    names::image("base", &options.base, false)?;
    names::word("version", &options.rust_version)?;
    names::time_zone("tz", &options.tz)?;
    let exe = options.exe.as_deref().unwrap_or(&service.bin);
    names::word("exe", exe)?;
    if options.port == Some(0) {
        return Err(DeployError::Flag {
            flag: "port",
            message: "0 is not a port a container can expose".into(),
        });
    }
    let facts = &service.config;
    let (kind, port) = service.server()?;
    // What `rustctl kube deploy` probes, named in the reason HEALTHCHECK is left out.
    let probe = match (facts.dev_port, kind) {
        (Some(_), _) => format!("the dev server's {}", facts.health_path),
        (None, super::config::Kind::Rpc) => "the gRPC health service".to_string(),
        (None, super::config::Kind::Rest) => "the service port".to_string(),
    };
    let mut ports = vec![options.port.unwrap_or(port)];
    ports.extend(facts.dev_port);
    ports.extend(facts.metrics.as_ref().map(|(p, _)| *p));
    let mut seen = std::collections::BTreeSet::new();
    ports.retain(|p| seen.insert(*p));
    let (dockerfile, ignore) = file_names(service);
    let ctx = DockerCtx {
        package: &service.package,
        bin: &service.bin,
        exe,
        workspace: !service.dir_in_context.as_os_str().is_empty(),
        dockerfile: service.in_context(&dockerfile),
        rust_version: &options.rust_version,
        chef_version: CHEF_VERSION,
        base: &options.base,
        default_base: options.base == DEFAULT_BASE,
        tz: &options.tz,
        config_in_context: service.in_context(&service.config_file),
        config_name: service.config_name(),
        probe,
        ports,
    };
    let mut plan = FilePlan {
        partial: true,
        ..FilePlan::default()
    };
    plan.add(
        slash(&dockerfile),
        templates.render("docker/Dockerfile", &ctx)?,
        Ownership::Generated,
    );
    plan.add(
        slash(&ignore),
        templates.render("docker/dockerignore", &ctx)?,
        Ownership::Generated,
    );
    plan.overrides = super::overrides(templates, "docker/");
    Ok(plan)
}
