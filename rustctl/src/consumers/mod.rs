//! Generators for the contract's consumers outside Rust: a TypeScript client and markdown
//! docs. Both render tera templates from one typed view of the wire format (keys, where each
//! request field goes, which fields must be sent), built here from the service model with
//! the same rules as the OpenAPI document.

pub mod markdown;
pub mod ts;

use serde::Serialize;

use crate::api::validate::join_path;
use crate::codegen::FilePlan;
use crate::diagnostic::Diagnostic;
use crate::model::{FieldDef, Service, Source, TypeDef, TypeRef};
use crate::openapi::facts::Facts;
use crate::openapi::{operation_ids, path_params, shallowest};

/// A file plan, and warnings about what it leaves out.
#[derive(Debug)]
pub struct Planned {
    /// The files.
    pub plan: FilePlan,
    /// Routes left out (CONNECT), with their place.
    pub warnings: Vec<Diagnostic>,
}

/// A field as it travels: its key, where it goes, whether it must be sent.
#[derive(Debug, Clone, Serialize)]
pub struct WireField {
    /// The key (JSON key, query key, header name or path parameter).
    pub key: String,
    /// `json`, `path`, `form` or `header`.
    pub source: Source,
    /// Must be sent (request) / is always written (response).
    pub required: bool,
    /// The type.
    #[serde(skip)]
    pub ty: TypeRef,
    /// `default=` as written.
    pub default: Option<String>,
    /// `options=` as written.
    pub options: Option<String>,
    /// `range=` as written, e.g. `[0:10]`.
    pub range: Option<String>,
}

/// A contract type with embedded structs' fields in place.
#[derive(Debug, Clone)]
pub struct WireType {
    /// The type's name.
    pub name: String,
    /// Its fields, `json:"-"` left out.
    pub fields: Vec<WireField>,
}

/// One route as a caller sees it.
#[derive(Debug, Clone)]
pub struct WireRoute {
    /// Operation id (as in the OpenAPI document).
    pub id: String,
    /// Lower-case method.
    pub method: String,
    /// Full path in the contract's form, prefix included: `/epro/v1/trial/:id`.
    pub path: String,
    /// `:name` segments no request field binds.
    pub unbound_params: Vec<String>,
    /// `@doc`
    pub doc: Option<String>,
    /// The request type.
    pub request: Option<String>,
    /// The request's fields by where they go.
    pub fields: Vec<WireField>,
    /// The response type.
    pub response: Option<TypeRef>,
    /// A `jwt` group: needs a bearer token.
    pub jwt: bool,
    /// An `sse` group: the response is a stream of events.
    pub sse: bool,
    /// A `signature: true` group: requests must carry a verified signature.
    pub signature: bool,
    /// The group, e.g. `admin/users`.
    pub group: String,
}

/// The wire view of a service.
#[derive(Debug, Clone)]
pub struct Wire {
    /// The types, in contract order.
    pub types: Vec<WireType>,
    /// The routes that a client can call (CONNECT left out), in contract order.
    pub routes: Vec<WireRoute>,
}

impl Wire {
    /// The wire view of `service`.
    pub fn of(service: &Service, facts: &Facts) -> Wire {
        let find = |name: &str| service.types.iter().find(|t| t.name == name);
        let ctx = Ctx { find: &find, facts };
        let types = service
            .types
            .iter()
            .map(|t| WireType {
                name: t.name.clone(),
                fields: fields(t, &ctx, false),
            })
            .collect();
        let ids = operation_ids(service);
        let mut routes = Vec::new();
        for (g, group) in service.groups.iter().enumerate() {
            for (r, route) in group.routes.iter().enumerate() {
                if route.method == "connect" {
                    continue;
                }
                let request = match &route.request {
                    Some(TypeRef::Declared(name)) => Some(name.clone()),
                    _ => None,
                };
                let fields = request
                    .as_deref()
                    .and_then(&find)
                    .map(|t| fields(t, &ctx, false))
                    .unwrap_or_default();
                let path = join_path(&group.prefix, &route.path);
                let unbound_params = path_params(&path)
                    .into_iter()
                    .filter(|p| {
                        !fields
                            .iter()
                            .any(|f| f.source == Source::Path && f.key == *p)
                    })
                    .map(str::to_string)
                    .collect();
                routes.push(WireRoute {
                    id: ids[&(g, r)].clone(),
                    method: route.method.clone(),
                    path,
                    unbound_params,
                    doc: route.doc.clone(),
                    request,
                    fields,
                    response: route.response.clone(),
                    jwt: group.jwt.is_some() || group.jwt_transition.is_some(),
                    sse: group.sse,
                    signature: group.signature,
                    group: group.modules.join("/"),
                });
            }
        }
        Wire { types, routes }
    }
}

struct Ctx<'a, 'f> {
    find: &'f dyn Fn(&str) -> Option<&'a TypeDef>,
    facts: &'f Facts,
}

/// A type's fields with embedded ones in place; a pointer embedding makes its fields optional.
fn fields<'a>(def: &'a TypeDef, ctx: &Ctx<'a, '_>, optional: bool) -> Vec<WireField> {
    let mut found = Vec::new();
    collect(
        def,
        ctx,
        optional,
        0,
        &mut vec![def.name.clone()],
        &mut found,
    );
    shallowest(found)
}

fn collect<'a>(
    def: &'a TypeDef,
    ctx: &Ctx<'a, '_>,
    optional: bool,
    depth: usize,
    path: &mut Vec<String>,
    found: &mut Vec<(usize, String, WireField)>,
) {
    for (index, field) in def.fields.iter().enumerate() {
        if field.skip {
            continue;
        }
        if let Some(flatten) = &field.flatten {
            if let TypeRef::Declared(inner) = &flatten.ty
                && let Some(inner) = (ctx.find)(inner).filter(|i| !path.contains(&i.name))
            {
                path.push(inner.name.clone());
                let optional = optional || flatten.optional;
                collect(inner, ctx, optional, depth + 1, path, found);
                path.pop();
            }
            continue;
        }
        let range = ctx
            .facts
            .structs
            .get(&def.name)
            .and_then(|s| s.ranges.get(index))
            .and_then(|r| r.as_ref())
            .map(|r| r.text.clone());
        found.push((depth, field.key.clone(), wire_field(field, optional, range)));
    }
}

fn wire_field(field: &FieldDef, optional: bool, range: Option<String>) -> WireField {
    WireField {
        range,
        key: field.key.clone(),
        source: field.source,
        required: !optional && !field.optional,
        ty: field.ty.clone(),
        default: field.default.clone(),
        options: field.options.clone(),
    }
}

/// Warnings for the routes a client cannot call, with their place in the contract.
pub fn left_out(service: &Service, facts: &Facts) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (g, group) in service.groups.iter().enumerate() {
        for (r, route) in group.routes.iter().enumerate() {
            if route.method != "connect" {
                continue;
            }
            if let Some(p) = facts.routes.get(g).and_then(|rs| rs.get(r)) {
                out.push(Diagnostic::warning(
                    p.place.file,
                    p.place.span,
                    format!(
                        "`connect {}` is left out: fetch cannot send CONNECT",
                        route.path
                    ),
                ));
            }
        }
    }
    out
}
