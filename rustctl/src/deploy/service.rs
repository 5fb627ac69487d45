//! A service directory as shipping sees it: its crate (package and binary), its config file,
//! and the Cargo workspace it builds in.

use std::path::{Path, PathBuf};

use super::config::{self, ConfigFacts};
use super::{DeployError, names};
use crate::diagnostic::display_path;

/// One service, read from its directory.
#[derive(Debug, Clone)]
pub struct Service {
    /// The Cargo package.
    pub package: String,
    /// The binary that runs the service.
    pub bin: String,
    /// The config file, relative to the service directory (`etc/<name>.yaml`).
    pub config_file: PathBuf,
    /// The config file as given (the service directory joined), for messages.
    pub config_path: PathBuf,
    /// The config's bytes, for a ConfigMap.
    pub config_text: String,
    /// What the config says.
    pub config: ConfigFacts,
    /// The directory `docker build` runs in: the workspace root, or the service itself.
    pub context: PathBuf,
    /// The service directory relative to [`Service::context`] (empty when they are the same).
    pub dir_in_context: PathBuf,
}

impl Service {
    /// Reads the service in `dir`; `config_file` picks the config when `etc/` holds several.
    pub fn read(dir: &Path, config_file: Option<&Path>) -> Result<Service, DeployError> {
        let manifest_path = dir.join("Cargo.toml");
        if !manifest_path.is_file() {
            return Err(DeployError::NotAService {
                dir: dir.to_path_buf(),
                why: "it has no Cargo.toml".into(),
            });
        }
        let manifest = read_manifest(&manifest_path)?;
        let package = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| DeployError::NotAService {
                dir: dir.to_path_buf(),
                why: "its Cargo.toml has no [package] name".into(),
            })?
            .to_string();
        let bin = bin_name(&manifest, &package);
        let config_file = match config_file {
            Some(c) => c.to_path_buf(),
            None => match config::candidates(dir).as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(DeployError::NotAService {
                        dir: dir.to_path_buf(),
                        why: "it has no config file in etc/".into(),
                    });
                }
                several => {
                    return Err(DeployError::NotAService {
                        dir: dir.to_path_buf(),
                        why: format!(
                            "etc/ holds several config files ({}): pick one with --config",
                            several
                                .iter()
                                .map(|p| display_path(p))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            },
        };
        if config_file.is_absolute()
            || config_file
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(DeployError::NotAService {
                dir: dir.to_path_buf(),
                why: format!(
                    "the config `{}` must be a path inside the service directory",
                    display_path(&config_file)
                ),
            });
        }
        for part in config_file.components() {
            names::word("config", &part.as_os_str().to_string_lossy())?;
        }
        names::word("package", &package).and(names::word("bin", &bin))?;
        let config_path = dir.join(&config_file);
        let real_dir = dir.canonicalize().map_err(|e| DeployError::Read {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let config_text = crate::contract_file::read_contract(&config_path, Some(&real_dir))
            .map_err(|e| DeployError::Read {
                path: config_path.clone(),
                message: e.to_string(),
            })?;
        let config = config::parse(&config_text, &config_path)?;
        let (context, dir_in_context) = match workspace_of(&real_dir, &manifest)? {
            Some(root) => {
                let rel = real_dir
                    .strip_prefix(&root)
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                (root, rel)
            }
            None => (real_dir, PathBuf::new()),
        };
        Ok(Service {
            package,
            bin,
            config_file,
            config_path,
            config_text,
            config,
            context,
            dir_in_context,
        })
    }

    /// A path of the service (`etc/x.yaml`) as the build context sees it, `/`-separated.
    pub fn in_context(&self, rel: &Path) -> String {
        slash(&self.dir_in_context.join(rel))
    }

    /// REST or gRPC, and the service's port; an error for a config that serves nothing.
    pub fn server(&self) -> Result<(super::config::Kind, u16), DeployError> {
        self.config.server.ok_or_else(|| DeployError::Config {
            path: self.config_path.clone(),
            message: "sets neither `Port` (REST) nor `ListenOn` (gRPC): not a server \
                      (a program that serves nothing runs as a `rustctl kube job`)"
                .into(),
        })
    }

    /// The config file's name (`x.yaml`).
    pub fn config_name(&self) -> String {
        self.config_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// `path` with `/` between its parts, whatever the platform.
pub fn slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_manifest(path: &Path) -> Result<toml::Table, DeployError> {
    let text = crate::contract_file::read_contract(path, None).map_err(|e| DeployError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| DeployError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// The binary: the package's own when it has one, else its only `[[bin]]`.
fn bin_name(manifest: &toml::Table, package: &str) -> String {
    let bins: Vec<&str> = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|b| b.get("name").and_then(|n| n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    match bins.as_slice() {
        [one] => one.to_string(),
        _ => package.to_string(),
    }
}

/// The root of the Cargo workspace `dir` belongs to (the nearest ancestor whose manifest has
/// `[workspace]`), or `None` when the service is a workspace of its own.
fn workspace_of(dir: &Path, manifest: &toml::Table) -> Result<Option<PathBuf>, DeployError> {
    if manifest.contains_key("workspace") {
        return Ok(None);
    }
    let mut at = dir.parent();
    while let Some(d) = at {
        let candidate = d.join("Cargo.toml");
        if candidate.is_file() && read_manifest(&candidate)?.contains_key("workspace") {
            return Ok(Some(d.to_path_buf()));
        }
        at = d.parent();
    }
    Ok(None)
}
