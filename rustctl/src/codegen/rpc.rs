//! The gRPC service generator: a compiled `.proto` and its model in, a [`FilePlan`] out.
//!
//! The service crate has a library (`pb`: prost messages and tonic code, and in `client` one
//! trait and typed client per service for other services to depend on) and a binary (server
//! glue, logic, config).

use std::path::PathBuf;

use serde::Serialize;

use super::layout::{await_call, signature};
use super::templates::Templates;
use super::{FilePlan, GenError, Ownership, PlannedFile};
use super::{ModuleTree, Options, Style};
use crate::model::{RpcContract, RpcMethod, RpcService};

#[derive(Serialize)]
struct CrateCtx<'a> {
    rpc: &'a RpcContract,
    runtime_dep: String,
    standalone: bool,
    config_file: String,
    port: u16,
    descriptor: String,
}

#[derive(Serialize)]
struct MethodView<'a> {
    #[serde(flatten)]
    method: &'a RpcMethod,
    /// The input and output with the library's name in front, for the binary.
    input: String,
    output: String,
    logic_path: String,
    signature: String,
    #[serde(skip)]
    check: String,
    unused: String,
    streaming_out: bool,
    /// Whether the logic takes the request (not for `google.protobuf.Empty`).
    takes_req: bool,
    /// The logic stub answers `Default::default()` (a message) rather than `()`.
    stub_value: bool,
    /// The unit-test stub's call of the logic; `None` for a client-streaming RPC (a test
    /// cannot make the `Streaming` it takes).
    test_call: Option<String>,
}

#[derive(Serialize)]
struct ServiceCtx<'a> {
    rpc: &'a RpcContract,
    service: &'a RpcService,
    methods: Vec<MethodView<'a>>,
    lowercase_streams: bool,
    /// Whether any RPC streams either way (the client then names `BoxStream`).
    streams: bool,
}

#[derive(Serialize)]
struct LogicCtx<'a> {
    rpc: &'a RpcContract,
    service: &'a RpcService,
    method: &'a MethodView<'a>,
    uses_pb: bool,
}

/// The file plan for `rpc`, whose prost/tonic code is `pb_files` (see
/// [`crate::proto::generate_code`]) and whose encoded descriptors are `descriptor`.
pub fn plan(
    rpc: &RpcContract,
    pb_files: &[(String, String)],
    descriptor: &[u8],
    templates: &Templates,
    options: &Options,
) -> Result<FilePlan, GenError> {
    use Ownership::{Generated, Scaffold};
    let mut plan = FilePlan {
        overrides: templates.overrides.clone(),
        owned_dirs: vec![PathBuf::from("src/logic")],
        generated_dirs: vec![PathBuf::from("src/pb")],
        ..FilePlan::default()
    };
    let config_file = format!("etc/{}.yaml", rpc.name);
    let ctx = CrateCtx {
        rpc,
        runtime_dep: options.runtime.toml(),
        standalone: options.standalone,
        config_file: config_file.clone(),
        port: options.port,
        descriptor: byte_string(descriptor),
    };
    plan.render_each(
        templates,
        &ctx,
        &[
            ("Cargo.toml", "rpc/Cargo.toml", Scaffold),
            (&config_file, "rpc/etc.yaml", Scaffold),
            ("src/main.rs", "rpc/main.rs", Scaffold),
            ("src/config.rs", "rpc/config.rs", Scaffold),
            ("src/svc.rs", "rpc/svc.rs", Scaffold),
            ("src/lib.rs", "rpc/lib.rs", Generated),
        ],
    )?;
    for (name, text) in pb_files {
        plan.add(format!("src/pb/{name}"), text.clone(), Generated);
    }

    let mut logic_tree = ModuleTree::new();
    for service in &rpc.services {
        let methods: Vec<MethodView<'_>> = service
            .methods
            .iter()
            .map(|m| method_view(rpc, service, m, options.style))
            .collect();
        let files: Vec<String> = service
            .methods
            .iter()
            .map(|m| options.style.file(&m.module))
            .collect();
        logic_tree
            .entry(Vec::new())
            .or_default()
            .insert(service.module.clone());
        logic_tree.insert(
            vec![service.module.clone()],
            files.iter().cloned().collect(),
        );
        for (method, file) in methods.iter().zip(&files) {
            let ctx = LogicCtx {
                rpc,
                service,
                method,
                uses_pb: method.method.input.is_local() || method.method.output.is_local(),
            };
            plan.files.push(PlannedFile {
                path: PathBuf::from(format!("src/logic/{}/{file}.rs", service.module)),
                contents: templates.render("rpc/logic.rs", &ctx)?,
                ownership: Scaffold,
                signature: Some(method.check.clone()),
            });
        }
        let ctx = ServiceCtx {
            rpc,
            service,
            streams: service
                .methods
                .iter()
                .any(|m| m.client_streaming || m.server_streaming),
            lowercase_streams: service
                .methods
                .iter()
                .any(|m| m.server_streaming && m.name.starts_with(char::is_lowercase)),
            methods,
        };
        plan.add(
            format!("src/server/{}.rs", service.module),
            templates.render("rpc/server.rs", &ctx)?,
            Generated,
        );
        plan.add(
            format!("src/client/{}.rs", service.module),
            templates.render("rpc/client.rs", &ctx)?,
            Generated,
        );
    }
    plan.add(
        "src/server/mod.rs",
        templates.render("rpc/server_mod.rs", &ctx)?,
        Generated,
    );
    plan.add_module_tree(
        templates,
        "src/logic",
        &logic_tree,
        "Logic: one file per RPC, written once and then yours.",
        Some(super::OWN_MODULES),
    )?;
    Ok(plan)
}

fn method_view<'a>(
    rpc: &RpcContract,
    service: &RpcService,
    m: &'a RpcMethod,
    style: Style,
) -> MethodView<'a> {
    let streaming_out = m.server_streaming;
    let mut params = vec!["svc: &ServiceContext".to_string(), "ctx: &Ctx".to_string()];
    let mut unused = vec!["svc", "ctx"];
    let (input, output) = (m.input.in_lib(), m.output.in_lib());
    if m.client_streaming {
        params.push(format!("stream: Streaming<{input}>"));
        unused.push("stream");
    } else if !m.input.is_unit() {
        params.push(format!("req: {input}"));
        unused.push("req");
    }
    let ret = if streaming_out {
        params.push(format!("tx: mpsc::Sender<Result<{output}, Status>>"));
        unused.push("tx");
        "Result<(), Status>".to_string()
    } else {
        format!("Result<{output}, Status>")
    };
    MethodView {
        method: m,
        input: m.input.in_bin(&rpc.lib_name),
        output: m.output.in_bin(&rpc.lib_name),
        logic_path: format!(
            "{}::{}::{}",
            service.module,
            style.file(&m.module),
            m.rust_name
        ),
        signature: signature(&m.rust_name, &params, &ret),
        // The parameters are the contract's; the return type stays as the stub wrote it.
        check: format!("pub async fn {}({})", m.rust_name, params.join(", ")),
        unused: if unused.len() == 1 {
            unused[0].to_string()
        } else {
            format!("({})", unused.join(", "))
        },
        streaming_out,
        takes_req: m.client_streaming || !m.input.is_unit(),
        stub_value: !streaming_out && !m.output.is_unit(),
        test_call: (!m.client_streaming).then(|| {
            let mut args = vec!["&svc", "&ctx"];
            if !m.input.is_unit() {
                args.push("Default::default()");
            }
            let mut call = String::new();
            if streaming_out {
                // The stub sends nothing; the receiver is kept so that a send would succeed.
                call.push_str("        let (tx, _rx) = mpsc::channel(16);\n");
                args.push("tx");
            }
            call.push_str(&await_call(8, "let answer = ", &m.rust_name, &args));
            call
        }),
    }
}

/// `bytes` as a Rust byte-string literal body (what goes between `b"` and `"`).
fn byte_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The `.proto` file `rustctl rpc new NAME` starts from, as goctl's.
pub fn new_proto(templates: &Templates, name: &str) -> Result<String, GenError> {
    #[derive(Serialize)]
    struct Ctx {
        package: String,
        service: String,
    }
    templates.render(
        "rpc/new.proto",
        &Ctx {
            package: heck::ToSnakeCase::to_snake_case(name),
            service: heck::ToUpperCamelCase::to_upper_camel_case(name),
        },
    )
}
