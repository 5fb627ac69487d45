//! The command-line surface: argument definitions in one place, each command's work in its own
//! module. Commands write through [`Output`], never straight to the process streams, so tests
//! run them in-process.

mod api;
mod document;
mod generate;
mod model;
mod rpc;
mod ship;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rustctl: contract-first microservices for Rust (go-zero's goctl, in Rust).
#[derive(Debug, Parser)]
#[command(name = "rustctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Color when stderr is a terminal.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with go-zero `.api` contracts.
    #[command(subcommand)]
    Api(ApiCommand),
    /// Work with `.proto` contracts: gRPC services, no `protoc` needed.
    #[command(subcommand)]
    Rpc(RpcCommand),
    /// Manage the templates generated code comes from.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Write a multi-stage Dockerfile for a service.
    Docker(ship::DockerArgs),
    /// Write Kubernetes manifests for a service.
    #[command(subcommand)]
    Kube(ship::KubeCommand),
    /// Write a CI pipeline: checks, tests, audit, images, deploys.
    #[command(subcommand)]
    Ci(ship::CiCommand),
    /// Generate sqlx models (optionally cached in Redis) from a database's tables.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

/// `rustctl rpc ...`
#[derive(Debug, Subcommand)]
pub enum RpcCommand {
    /// Generate or update a gRPC service from a `.proto` file; your logic files are never touched.
    Protoc(ProtocArgs),
    /// Create a new gRPC service that builds and runs at once.
    New(RpcNewArgs),
}

/// `rustctl rpc protoc`
#[derive(Debug, Args)]
pub struct ProtocArgs {
    /// The `.proto` file.
    pub proto: std::path::PathBuf,
    /// The service directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: std::path::PathBuf,
    /// An import path for `.proto` imports (repeatable); the file's own directory comes first.
    #[arg(short = 'I', long = "proto_path", value_name = "DIR")]
    pub includes: Vec<std::path::PathBuf>,
    /// Write nothing; exit 1 if any generated file would change.
    #[arg(long)]
    pub check: bool,
    /// The port in `ListenOn`, if the config file does not exist yet.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Generator options.
    #[command(flatten)]
    pub codegen: GenArgs,
}

/// `rustctl rpc new`
#[derive(Debug, Args)]
pub struct RpcNewArgs {
    /// The service name; the directory and `NAME.proto` are named after it.
    pub name: String,
    /// The directory to create the service in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// The port in `ListenOn`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Generator options.
    #[command(flatten)]
    pub codegen: GenArgs,
}

/// `rustctl template ...`
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Write the built-in templates to a directory for editing; use it with `--home`.
    Init(TemplateInitArgs),
}

/// `rustctl template init`
#[derive(Debug, Args)]
pub struct TemplateInitArgs {
    /// Where to write the templates.
    #[arg(long, value_name = "DIR", default_value = ".rustctl/templates")]
    pub home: std::path::PathBuf,
    /// Overwrite templates that already exist there.
    #[arg(long)]
    pub force: bool,
}

/// Where a generated service finds `rustctl-runtime`.
#[derive(Debug, Args, Clone, Default)]
pub struct RuntimeArgs {
    /// Depend on the runtime at this path.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["runtime_version", "runtime_git"])]
    pub runtime_path: Option<std::path::PathBuf>,
    /// Depend on this crates.io version of `rustctl-runtime`.
    #[arg(long, value_name = "VERSION", conflicts_with = "runtime_git")]
    pub runtime_version: Option<String>,
    /// Depend on `rustctl-runtime` from this git repository.
    #[arg(long, value_name = "URL")]
    pub runtime_git: Option<String>,
    /// The branch, tag or commit for `--runtime-git`.
    #[arg(long, value_name = "REV", requires = "runtime_git")]
    pub runtime_rev: Option<String>,
}

/// Options shared by the generators.
#[derive(Debug, Args, Clone)]
pub struct GenArgs {
    /// How file names are spelled.
    #[arg(long, value_enum, default_value_t = crate::codegen::Style::Snake)]
    pub style: crate::codegen::Style,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<std::path::PathBuf>,
    /// Delete generated files the contract no longer produces (never one of yours).
    #[arg(long)]
    pub prune: bool,
    /// Where the service finds the runtime.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// `rustctl api ...`
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Check a contract and its imports; errors name file:line:column.
    Validate(ValidateArgs),
    /// Rewrite contracts in the canonical layout, keeping every comment.
    Format(FormatArgs),
    /// Create a new HTTP service that builds and runs at once.
    New(NewArgs),
    /// Generate or update a service from a contract; your logic files are never touched.
    Go(GoArgs),
    /// Write the contract as an OpenAPI 3.1 document (JSON, or YAML with `--yaml`).
    Openapi(OpenapiArgs),
    /// Generate a typed TypeScript client (fetch, no dependencies) for the contract.
    Ts(ClientArgs),
    /// Generate markdown docs of the contract's routes and types.
    Doc(ClientArgs),
}

/// `rustctl api openapi`
#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// The contract.
    #[arg(long = "api", value_name = "FILE")]
    pub api: std::path::PathBuf,
    /// Where imports may come from.
    #[command(flatten)]
    pub imports: ImportArgs,
    /// Write the document to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// YAML instead of JSON.
    #[arg(long)]
    pub yaml: bool,
    /// A `servers` URL (repeatable) [default: http://127.0.0.1:8888].
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// With `-o`: write nothing; exit 1 if the file is not the document the contract gives.
    #[arg(long, requires = "output")]
    pub check: bool,
}

/// `rustctl api ts` and `rustctl api doc`
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The contract.
    #[arg(long = "api", value_name = "FILE")]
    pub api: std::path::PathBuf,
    /// Where imports may come from.
    #[command(flatten)]
    pub imports: ImportArgs,
    /// The directory to write into.
    #[arg(long, value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Write nothing; exit 1 if any generated file would change.
    #[arg(long)]
    pub check: bool,
    /// A directory of template overrides (see `rustctl template init`).
    #[arg(long, value_name = "DIR")]
    pub home: Option<std::path::PathBuf>,
}

/// `rustctl api new`
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service name; the directory and `NAME.api` are named after it.
    pub name: String,
    /// The directory to create the service in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// The port in the generated config.
    #[arg(long, default_value_t = 8888)]
    pub port: u16,
    /// Generator options.
    #[command(flatten)]
    pub codegen: GenArgs,
}

/// Where a contract's imports may be read from.
#[derive(Debug, Args, Clone, Default)]
pub struct ImportArgs {
    /// Imports must lie inside this directory [default: the contract's directory].
    #[arg(long, value_name = "DIR")]
    pub root: Option<std::path::PathBuf>,
    /// Read imports from anywhere (still only `.api` regular files of at most 4 MiB).
    #[arg(long)]
    pub imports_anywhere: bool,
}

impl ImportArgs {
    /// The loader's policy.
    pub fn policy(&self) -> crate::api::ImportPolicy {
        crate::api::ImportPolicy {
            root: self.root.clone(),
            anywhere: self.imports_anywhere,
        }
    }
}

/// `rustctl api go`
#[derive(Debug, Args)]
pub struct GoArgs {
    /// The contract.
    #[arg(long = "api", value_name = "FILE")]
    pub api: std::path::PathBuf,
    /// Where imports may come from.
    #[command(flatten)]
    pub imports: ImportArgs,
    /// The service directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// Write nothing; exit 1 if any generated file would change.
    #[arg(long)]
    pub check: bool,
    /// The port in the config, if the config file does not exist yet.
    #[arg(long, default_value_t = 8888)]
    pub port: u16,
    /// Generator options.
    #[command(flatten)]
    pub codegen: GenArgs,
}

/// `rustctl api validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The `.api` file to check.
    #[arg(long = "api", value_name = "FILE")]
    pub api: std::path::PathBuf,
    /// Where imports may come from.
    #[command(flatten)]
    pub imports: ImportArgs,
    /// The file-name style the contract's names must not clash in (as `api go --style`).
    #[arg(long, value_enum, default_value_t = crate::codegen::Style::Snake)]
    pub style: crate::codegen::Style,
}

/// `rustctl api format`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(true).args(["api", "dir"])))]
pub struct FormatArgs {
    /// A `.api` file to format (repeatable).
    #[arg(long = "api", value_name = "FILE")]
    pub api: Vec<std::path::PathBuf>,
    /// Format every `.api` file under this directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// Write nothing; exit 1 if any file is not formatted.
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Print the formatted text instead of rewriting the file.
    #[arg(long)]
    pub stdout: bool,
}

/// Where a command's output goes.
pub struct Output<'a> {
    /// Results.
    pub out: &'a mut dyn Write,
    /// Diagnostics and progress.
    pub err: &'a mut dyn Write,
    /// Whether diagnostics are colored.
    pub color: bool,
}

/// Parses `args` and runs the command; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let text = if code == 0 {
                e.render().to_string()
            } else {
                e.render().ansi().to_string()
            };
            let _ = if code == 0 {
                write!(out, "{text}")
            } else {
                write!(err, "{text}")
            };
            return code;
        }
    };
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut output = Output { out, err, color };
    let result = match cli.command {
        Command::Api(ApiCommand::Validate(args)) => api::validate(&args, &mut output),
        Command::Api(ApiCommand::Format(args)) => api::format(&args, &mut output),
        Command::Api(ApiCommand::New(args)) => generate::api_new(&args, &mut output),
        Command::Api(ApiCommand::Go(args)) => generate::api_go(&args, &mut output),
        Command::Api(ApiCommand::Openapi(args)) => document::openapi(&args, &mut output),
        Command::Api(ApiCommand::Ts(args)) => document::ts(&args, &mut output),
        Command::Api(ApiCommand::Doc(args)) => document::doc(&args, &mut output),
        Command::Template(TemplateCommand::Init(args)) => {
            generate::template_init(&args, &mut output)
        }
        Command::Rpc(RpcCommand::Protoc(args)) => rpc::protoc(&args, &mut output),
        Command::Rpc(RpcCommand::New(args)) => rpc::new(&args, &mut output),
        Command::Docker(args) => ship::docker(&args, &mut output),
        Command::Kube(ship::KubeCommand::Deploy(args)) => ship::kube_deploy(&args, &mut output),
        Command::Kube(ship::KubeCommand::Job(args)) => ship::kube_job(&args, &mut output),
        Command::Ci(ship::CiCommand::Gitlab(args)) => {
            ship::ci(crate::deploy::ci::Provider::Gitlab, &args, &mut output)
        }
        Command::Ci(ship::CiCommand::Github(args)) => {
            ship::ci(crate::deploy::ci::Provider::Github, &args, &mut output)
        }
        Command::Model(cmd) => model::run(&cmd, &mut output),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(output.err, "error: {e}");
            1
        }
    }
}
