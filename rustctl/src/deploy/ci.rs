//! `rustctl ci gitlab` and `rustctl ci github`: a pipeline that checks, tests, audits, builds
//! and pushes each service's image, deploys it to a test environment and, on a person's
//! approval, to production.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::config::Kind;
use super::service::{Service, slash};
use super::{DeployError, docker, names};
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, Ownership};

/// Which CI system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `.gitlab-ci.yml`.
    Gitlab,
    /// `.github/workflows/ci.yml`.
    Github,
}

impl Provider {
    /// The pipeline's path below the project directory.
    pub fn file(self) -> &'static str {
        match self {
            Provider::Gitlab => ".gitlab-ci.yml",
            Provider::Github => ".github/workflows/ci.yml",
        }
    }
}

/// One service the pipeline ships: its directory below the project, and its contract.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The service directory, relative to the project.
    pub dir: PathBuf,
    /// The contract (`.api` or `.proto`), relative to the project; found when `None`.
    pub contract: Option<PathBuf>,
}

impl std::str::FromStr for ServiceSpec {
    type Err = String;
    /// `DIR` or `DIR=CONTRACT`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (dir, contract) = match s.split_once('=') {
            Some((d, c)) => (d, Some(PathBuf::from(c))),
            None => (s, None),
        };
        Ok(ServiceSpec {
            dir: PathBuf::from(dir),
            contract,
        })
    }
}

/// The pipeline's choices.
#[derive(Debug, Clone)]
pub struct CiOptions {
    /// The services.
    pub services: Vec<ServiceSpec>,
    /// The namespace `rustctl kube deploy` put the services in.
    pub namespace: String,
    /// Where images are pushed (default: the CI system's own registry).
    pub registry: Option<String>,
    /// How the pipeline runs rustctl (default: installs the release that wrote it).
    pub rustctl: Option<String>,
    /// Where the pipeline goes, relative to the project (default: where the CI system reads
    /// it, [`Provider::file`]).
    pub output: Option<PathBuf>,
}

#[derive(Serialize)]
struct ServiceCtx {
    name: String,
    dir: String,
    dockerfile: String,
    manifest: String,
    check: String,
}

#[derive(Serialize)]
struct CiCtx<'a> {
    services: Vec<ServiceCtx>,
    namespace: &'a str,
    registry: Option<&'a str>,
    rustctl: &'a str,
    install_rustctl: Option<String>,
}

/// The manifest `rustctl kube deploy -o` writes for a service the pipeline deploys.
pub const MANIFEST: &str = "kube.yaml";

/// The plan: one pipeline file below `project`.
pub fn plan(
    provider: Provider,
    project: &Path,
    options: &CiOptions,
    templates: &Templates,
) -> Result<FilePlan, DeployError> {
    names::dns_label("namespace", &options.namespace)?;
    if let Some(r) = &options.registry {
        names::image("registry", r, true)?;
    }
    if let Some(r) = &options.rustctl {
        command("rustctl", r)?;
    }
    if options.services.is_empty() {
        return Err(DeployError::Flag {
            flag: "service",
            message: "name at least one service directory".into(),
        });
    }
    let rustctl = options.rustctl.as_deref().unwrap_or("rustctl");
    let mut services = Vec::new();
    for spec in &options.services {
        relative("service", &spec.dir)?;
        let service = Service::read(&project.join(&spec.dir), None)?;
        let (kind, _) = service.server()?;
        let contract = match &spec.contract {
            Some(c) => {
                relative("service", c)?;
                c.clone()
            }
            None => find_contract(project, &spec.dir, kind)?,
        };
        let dir = slash(&spec.dir);
        let check = match kind {
            Kind::Rest => format!(
                "{rustctl} api go --api {} --dir {dir} --check",
                slash(&contract)
            ),
            Kind::Rpc => format!(
                "{rustctl} rpc protoc {} --out {dir} --check",
                slash(&contract)
            ),
        };
        let (dockerfile, _) = docker::file_names(&service);
        services.push(ServiceCtx {
            name: service.package.clone(),
            dockerfile: slash(&spec.dir.join(dockerfile)),
            manifest: slash(&spec.dir.join(MANIFEST)),
            dir,
            check,
        });
    }
    let ctx = CiCtx {
        services,
        namespace: &options.namespace,
        registry: options.registry.as_deref(),
        rustctl,
        install_rustctl: options.rustctl.is_none().then(|| {
            format!(
                "cargo install --locked rustctl --version {}",
                env!("CARGO_PKG_VERSION")
            )
        }),
    };
    let template = match provider {
        Provider::Gitlab => "ci/gitlab-ci.yml",
        Provider::Github => "ci/github.yml",
    };
    let mut plan = FilePlan {
        partial: true,
        overrides: super::overrides(templates, "ci/"),
        ..FilePlan::default()
    };
    let output = match &options.output {
        Some(o) => {
            relative("output", o)?;
            o.clone()
        }
        None => PathBuf::from(provider.file()),
    };
    plan.add(
        output,
        templates.render(template, &ctx)?,
        Ownership::Generated,
    );
    Ok(plan)
}

/// The service's contract: the one `.api` (REST) or `.proto` (gRPC) file in its directory, or
/// else in the directory above (where `rustctl` keeps a contract two services share).
fn find_contract(project: &Path, dir: &Path, kind: Kind) -> Result<PathBuf, DeployError> {
    let ext = match kind {
        Kind::Rest => "api",
        Kind::Rpc => "proto",
    };
    for at in [Some(dir), dir.parent()].into_iter().flatten() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(project.join(at))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| at.join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        found.sort();
        match found.len() {
            0 => continue,
            1 => return Ok(found.remove(0)),
            _ => {
                return Err(DeployError::Flag {
                    flag: "service",
                    message: format!(
                        "{}: several .{ext} files could be its contract; name it as DIR=CONTRACT",
                        slash(dir)
                    ),
                });
            }
        }
    }
    Err(DeployError::Flag {
        flag: "service",
        message: format!(
            "{}: no .{ext} contract in it or above it; name it as DIR=CONTRACT",
            slash(dir)
        ),
    })
}

/// A path below the project: plain parts of letters, digits, `.`, `_` and `-` (it is written
/// into shell commands).
fn relative(flag: &'static str, path: &Path) -> Result<(), DeployError> {
    let ok = path.components().count() > 0
        && path.components().all(|c| match c {
            Component::Normal(part) => names::word(flag, &part.to_string_lossy()).is_ok(),
            _ => false,
        });
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}` must be a path inside the project (letters, digits, `.`, `_`, `-`)",
            path.display().to_string().escape_debug()
        ),
    })
}

/// A command line of plain words (the way CI runs rustctl).
fn command(flag: &'static str, s: &str) -> Result<(), DeployError> {
    let ok = !s.trim().is_empty()
        && s.len() <= 200
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'-' | b'/' | b'=' | b':')
        });
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}`: use letters, digits, spaces, `.`, `_`, `-`, `/`, `=` and `:`",
            s.escape_debug()
        ),
    })
}
