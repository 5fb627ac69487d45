//! The HTTP service generator: the model of an `.api` contract in, a [`FilePlan`] out.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use super::layout::{await_call, signature, use_line};
use super::templates::Templates;
use super::{FilePlan, GenError, Ownership, PlannedFile};
use super::{ModuleTree, OWN_MODULES, Options};
use crate::api::validate::join_path;
use crate::model::{Group, Route, Service, TypeRef};

#[derive(Serialize)]
struct ServiceCtx<'a> {
    service: &'a Service,
    runtime_dep: String,
    standalone: bool,
    config_file: String,
    port: u16,
    /// The config sections `jwt` groups read their keys from, for the config file.
    jwt_sections: Vec<JwtSection>,
}

/// A config section route groups verify tokens with (`jwt: AdminAuth` → `AdminAuth:`).
#[derive(Serialize)]
struct JwtSection {
    /// As the contract names it: an identifier, so a plain YAML key.
    name: String,
    /// `${ADMINAUTH_ACCESS_SECRET}`: the secret comes from the environment, so the scaffold
    /// ships none that would work.
    access_secret: String,
    /// `"${ADMINAUTH_PREV_SECRET:-}"`, when a `jwtTransition` group reads the section.
    prev_secret: Option<String>,
}

/// The section each `jwt`/`jwtTransition` group reads (`jwtTransition`'s wins, as at run time),
/// once each, in contract order; names the runtime matches alike (`AdminAuth`, `admin_auth`)
/// are one section.
fn jwt_sections(service: &Service) -> Vec<JwtSection> {
    let fold = |name: &str| name.replace(['_', '-'], "").to_lowercase();
    let mut sections: Vec<JwtSection> = Vec::new();
    for group in &service.groups {
        let Some(name) = group.jwt_transition.as_ref().or(group.jwt.as_ref()) else {
            continue;
        };
        let env: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let prev = group
            .jwt_transition
            .is_some()
            .then(|| format!("\"${{{env}_PREV_SECRET:-}}\""));
        match sections.iter_mut().find(|s| fold(&s.name) == fold(name)) {
            Some(known) => known.prev_secret = known.prev_secret.take().or(prev),
            None => sections.push(JwtSection {
                name: name.clone(),
                access_secret: format!("${{{env}_ACCESS_SECRET}}"),
                prev_secret: prev,
            }),
        }
    }
    sections
}

#[derive(Serialize, Clone)]
struct RouteView {
    #[serde(flatten)]
    route: Route,
    request_bind: bool,
    handler_path: String,
}

#[derive(Serialize)]
struct GroupView<'a> {
    group: &'a Group,
    routes: Vec<RouteView>,
}

#[derive(Serialize)]
struct RoutesCtx<'a> {
    service: &'a Service,
    groups: Vec<GroupView<'a>>,
    uses_timeout: bool,
}

#[derive(Serialize)]
struct HandlerCtx<'a> {
    route: &'a RouteView,
    sse: bool,
    full_path: String,
    runtime_imports: String,
    /// `use axum::Json as JsonBody;`: the request is a JSON body without binding rules.
    import_json_body: bool,
    uses_types: bool,
    logic_path: String,
    signature: String,
    call_args: String,
}

#[derive(Serialize)]
struct LogicCtx<'a> {
    route: &'a RouteView,
    full_path: String,
    /// The `use` lines of the runtime's items, in rustfmt's order.
    runtime_uses: Vec<String>,
    types_import: Option<String>,
    signature: String,
    #[serde(skip)]
    check: String,
    unused: String,
    /// The stub answers `Default::default()` (a response value) rather than `()`.
    returns_value: bool,
    /// The unit-test stub's call of the logic; `None` for an SSE route.
    test_call: Option<String>,
}

#[derive(Serialize)]
struct MiddlewareCtx<'a> {
    middleware: &'a crate::model::Middleware,
}

/// Names a contract type may not take in a logic file's imports: they would shadow what the
/// file itself uses. Such types are written with their full path instead.
const RESERVED: &[&str] = &[
    "Error",
    "Result",
    "Option",
    "Vec",
    "String",
    "Box",
    "Default",
    "ServiceContext",
    "Claims",
];

/// The file plan for the service described by `service`.
pub fn plan(
    service: &Service,
    templates: &Templates,
    options: &Options,
) -> Result<FilePlan, GenError> {
    let mut plan = FilePlan {
        overrides: templates.overrides.clone(),
        owned_dirs: vec![PathBuf::from("src/logic"), PathBuf::from("src/middleware")],
        ..FilePlan::default()
    };
    let requests: BTreeSet<&str> = service
        .types
        .iter()
        .filter(|t| t.is_request)
        .map(|t| t.name.as_str())
        .collect();
    let config_file = format!("etc/{}.yaml", service.name);
    let ctx = ServiceCtx {
        service,
        runtime_dep: options.runtime.toml(),
        standalone: options.standalone,
        config_file: config_file.clone(),
        port: options.port,
        jwt_sections: jwt_sections(service),
    };
    use Ownership::{Generated, Scaffold};
    plan.render_each(
        templates,
        &ctx,
        &[
            ("Cargo.toml", "api/Cargo.toml", Scaffold),
            (&config_file, "api/etc.yaml", Scaffold),
            ("src/main.rs", "api/main.rs", Scaffold),
            ("src/config.rs", "api/config.rs", Scaffold),
            ("src/svc.rs", "api/svc.rs", Scaffold),
            ("src/types.rs", "api/types.rs", Generated),
        ],
    )?;

    // Module trees: directory (module path) -> child modules.
    let mut handler_tree = ModuleTree::new();
    let mut logic_tree = ModuleTree::new();
    handler_tree.insert(Vec::new(), BTreeSet::new());
    logic_tree.insert(Vec::new(), BTreeSet::new());

    let mut groups = Vec::new();
    let mut jobs: Vec<RouteJob> = Vec::new();
    for group in &service.groups {
        for tree in [&mut handler_tree, &mut logic_tree] {
            for depth in 0..group.modules.len() {
                tree.entry(group.modules[..depth].to_vec())
                    .or_default()
                    .insert(group.modules[depth].clone());
                tree.entry(group.modules[..=depth].to_vec()).or_default();
            }
        }
        let mut views = Vec::new();
        for route in &group.routes {
            let file = options.style.file(&route.handler);
            let mut module_path: Vec<String> = group.modules.clone();
            module_path.push(file.clone());
            let view = RouteView {
                request_bind: route.request.as_ref().is_some_and(
                    |r| matches!(r, TypeRef::Declared(d) if requests.contains(d.as_str())),
                ),
                handler_path: format!("{}::{}", module_path.join("::"), route.handler),
                route: route.clone(),
            };
            handler_tree
                .entry(group.modules.clone())
                .or_default()
                .insert(file.clone());
            logic_tree
                .entry(group.modules.clone())
                .or_default()
                .insert(file.clone());

            let dir = group.modules.join("/");
            let rel = |root: &str| {
                let mut p = PathBuf::from(root);
                if !dir.is_empty() {
                    p.push(&dir);
                }
                p.push(format!("{file}.rs"));
                p
            };
            jobs.push(RouteJob {
                full_path: join_path(&group.prefix, &route.path),
                sse: group.sse,
                module_path,
                handler_file: rel("src/handler"),
                logic_file: rel("src/logic"),
                view: view.clone(),
            });
            views.push(view);
        }
        groups.push(GroupView {
            group,
            routes: views,
        });
    }
    for (handler, logic) in render_routes(templates, &jobs)? {
        plan.files.push(handler);
        plan.files.push(logic);
    }
    let routes_ctx = RoutesCtx {
        service,
        uses_timeout: service.groups.iter().any(|g| g.timeout_ms.is_some()),
        groups,
    };
    plan.add(
        "src/routes.rs",
        templates.render("api/routes.rs", &routes_ctx)?,
        Generated,
    );

    plan.add_module_tree(
        templates,
        "src/handler",
        &handler_tree,
        "Handlers: one per route, grouped as the contract's `@server(group: ...)`.",
        None,
    )?;
    plan.add_module_tree(
        templates,
        "src/logic",
        &logic_tree,
        "Logic: one file per route, written once and then yours.",
        Some(OWN_MODULES),
    )?;

    plan.add(
        "src/middleware/mod.rs",
        templates.render("api/middleware_mod.rs", &ctx)?,
        Generated,
    );
    for m in &service.middlewares {
        let ctx = MiddlewareCtx { middleware: m };
        // Middleware modules are declared by name in generated code: always snake case.
        let file = &m.module;
        plan.add(
            format!("src/middleware/{file}.rs"),
            templates.render("api/middleware.rs", &ctx)?,
            Scaffold,
        );
    }

    Ok(plan)
}

/// One route's files to render.
struct RouteJob {
    view: RouteView,
    sse: bool,
    full_path: String,
    module_path: Vec<String>,
    handler_file: PathBuf,
    logic_file: PathBuf,
}

/// Renders each route's handler and logic stub; routes are independent, so they are rendered
/// on every core (in order, so output stays deterministic).
fn render_routes(
    templates: &Templates,
    jobs: &[RouteJob],
) -> Result<Vec<(PlannedFile, PlannedFile)>, GenError> {
    let render = |job: &RouteJob| -> Result<(PlannedFile, PlannedFile), GenError> {
        let (handler_ctx, logic_ctx) =
            route_contexts(&job.view, job.full_path.clone(), job.sse, &job.module_path);
        let handler = PlannedFile {
            path: job.handler_file.clone(),
            contents: templates.render("api/handler.rs", &handler_ctx)?,
            ownership: Ownership::Generated,
            signature: None,
        };
        let logic = PlannedFile {
            path: job.logic_file.clone(),
            contents: templates.render("api/logic.rs", &logic_ctx)?,
            ownership: Ownership::Scaffold,
            signature: Some(logic_ctx.check),
        };
        Ok((handler, logic))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = jobs.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(render).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for handle in handles {
            out.extend(handle.join().expect("rendering does not panic")?);
        }
        Ok(out)
    })
}

fn route_contexts<'a>(
    view: &'a RouteView,
    full_path: String,
    sse: bool,
    module_path: &[String],
) -> (HandlerCtx<'a>, LogicCtx<'a>) {
    let route = &view.route;
    let mut imports = BTreeSet::new();
    // In a logic file a declared type is imported, unless its name would shadow something the
    // file itself uses; then it is written in full.
    let mut short = |ty: &TypeRef| -> String {
        for name in ty.declared() {
            if !RESERVED.contains(&name) {
                imports.insert(name.to_string());
            }
        }
        ty.render(&|name| {
            if RESERVED.contains(&name) {
                format!("crate::types::{name}")
            } else {
                name.to_string()
            }
        })
    };
    // In a handler every declared type is written `types::T`, so no name can clash.
    let qualified = |ty: &TypeRef| ty.render(&|name| format!("types::{name}"));

    // The request context carries a `jwt` route's claims too (`ctx.claims()`).
    let mut logic_params = vec!["svc: &ServiceContext".to_string(), "ctx: &Ctx".to_string()];
    let mut handler_params = vec!["State(svc): State<Arc<ServiceContext>>".to_string()];
    let mut args = vec!["&svc", "&ctx"];
    let mut runtime_imports = vec!["Error"];
    match &route.request {
        // The context and the bound request come together: the headers move into the
        // context instead of being copied for it.
        Some(req) if view.request_bind => {
            handler_params.push(format!("Call(ctx, req): Call<{}>", qualified(req)));
            runtime_imports.push("Call");
        }
        Some(req) => {
            handler_params.push("ctx: Ctx".to_string());
            handler_params.push(format!("JsonBody(req): JsonBody<{}>", qualified(req)));
            runtime_imports.push("Ctx");
        }
        None => {
            handler_params.push("ctx: Ctx".to_string());
            runtime_imports.push("Ctx");
        }
    }
    if let Some(req) = &route.request {
        logic_params.push(format!("req: {}", short(req)));
        args.push("req");
    }
    let mut unused: Vec<&str> = args.iter().map(|a| a.trim_start_matches('&')).collect();
    let (logic_ok, handler_return) = match (&route.response, sse) {
        // Logic sends each event into `tx`; the handler answers with the stream at once.
        (Some(event), true) => {
            logic_params.push(format!("tx: EventSender<{}>", short(event)));
            ("()".to_string(), "EventStream".to_string())
        }
        (None, true) => {
            logic_params.push("tx: EventSender<()>".into());
            ("()".to_string(), "EventStream".to_string())
        }
        // Logic answers a value or a `Reply` of it; the handler converts either into a reply.
        (Some(resp), false) => (
            short(resp),
            format!("Result<Reply<{}>, Error>", qualified(resp)),
        ),
        (None, false) => ("()".to_string(), "Result<Reply, Error>".to_string()),
    };
    if !sse {
        runtime_imports.push("Reply");
    }
    if sse {
        unused.push("tx");
        runtime_imports.retain(|i| *i != "Error");
        runtime_imports.push("sse::EventStream");
    }
    runtime_imports.sort_unstable();
    // An SSE handler names only the request; the event type is the logic's business.
    let uses_types = route
        .request
        .iter()
        .chain(route.response.iter().filter(|_| !sse))
        .any(|t| !t.declared().is_empty());
    let handler = HandlerCtx {
        route: view,
        sse,
        full_path: full_path.clone(),
        runtime_imports: if runtime_imports.len() == 1 {
            runtime_imports[0].to_string()
        } else {
            format!("{{{}}}", runtime_imports.join(", "))
        },
        import_json_body: route.request.is_some() && !view.request_bind,
        uses_types,
        logic_path: format!("{}::{}", module_path.join("::"), route.handler),
        signature: signature(&route.handler, &handler_params, &handler_return),
        call_args: args.join(", "),
    };
    // rustfmt's order: a module path sorts before a `{...}` list.
    let mut runtime_uses = Vec::new();
    if sse {
        runtime_uses.push("use rustctl_runtime::sse::EventSender;".to_string());
    }
    runtime_uses.push("use rustctl_runtime::{Ctx, Error};".to_string());
    let logic = LogicCtx {
        route: view,
        full_path,
        runtime_uses,
        types_import: use_line("crate::types", &imports.into_iter().collect::<Vec<_>>()),
        signature: signature(
            &route.handler,
            &logic_params,
            &format!("Result<{logic_ok}, Error>"),
        ),
        // The parameters are the contract's; the return type may widen to a `Reply`.
        check: format!(
            "pub async fn {}({})",
            route.handler,
            logic_params.join(", ")
        ),
        unused: if unused.len() == 1 {
            unused[0].to_string()
        } else {
            format!("({})", unused.join(", "))
        },
        returns_value: route.response.is_some() && !sse,
        test_call: (!sse).then(|| {
            let mut a = vec!["&svc", "&ctx"];
            if route.request.is_some() {
                a.push("Default::default()");
            }
            await_call(8, "let answer = ", &route.handler, &a)
        }),
    };
    (handler, logic)
}

/// The `.api` file `rustctl api new NAME` starts from, as goctl's.
pub fn new_contract(templates: &Templates, name: &str) -> Result<String, GenError> {
    #[derive(Serialize)]
    struct Ctx {
        name: String,
        handler: String,
    }
    let handler = format!(
        "{}Handler",
        heck::ToUpperCamelCase::to_upper_camel_case(name)
    );
    templates.render(
        "api/new.api",
        &Ctx {
            name: name.to_string(),
            handler,
        },
    )
}
