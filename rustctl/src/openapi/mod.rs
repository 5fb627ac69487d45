//! `rustctl api openapi`: an OpenAPI 3.1 document of a contract, built as typed serde
//! structures from the service model (and the few facts only the syntax tree keeps), never
//! from text templates.
//!
//! The document tells what the runtime really does: the error body is `rustctl_runtime`'s
//! `{"code", "msg"}`, and every route lists the statuses its stack can answer with
//! (binding 400, MaxBytes 413, JWT 401, signature 403, rate limit 429, shedding/breaker/
//! timeout 503, a panic or internal error 500), plus `default` for the codes logic chooses.

pub mod facts;
pub mod schema;

use std::collections::{BTreeSet, HashMap, HashSet};

use heck::ToLowerCamelCase;
use indexmap::IndexMap;
use serde::Serialize;

use crate::api::loader::Loaded;
use crate::api::validate::join_path;
use crate::diagnostic::Diagnostic;
use crate::model::{FieldDef, Group, Route, Service, Source, TypeDef, TypeRef};
use facts::{Facts, RouteFacts};
use schema::{Rules, Schema, scalar_of, type_schema};

/// The component schema of the runtime's error body; a contract type cannot take this name
/// (type names have no `.`).
pub const ERROR_SCHEMA: &str = "rustctl.Error";

/// A whole OpenAPI 3.1 document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Always `3.1.0`.
    pub openapi: &'static str,
    /// From the contract's `info` block.
    pub info: Info,
    /// Where the service listens.
    pub servers: Vec<Server>,
    /// One tag per route group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// Path → method → operation.
    pub paths: IndexMap<String, IndexMap<String, Operation>>,
    /// Schemas, shared responses, security schemes.
    pub components: Components,
}

/// `info`
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// `title`, or the service name.
    pub title: String,
    /// `version`, or `1.0`.
    pub version: String,
    /// `desc`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `author` and `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

/// `info.contact`
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    /// `author`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `email`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One `servers` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// The base URL.
    pub url: String,
}

/// One `tags` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    /// The group, e.g. `admin/users`.
    pub name: String,
    /// What the group is.
    pub description: String,
}

/// One operation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The group's tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `@doc`, or the method and path.
    pub summary: String,
    /// `@doc(desc: ...)` next to a summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// From the handler's name.
    pub operation_id: String,
    /// Path, query and header fields of the request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// The JSON fields of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// Status → response.
    pub responses: IndexMap<String, ResponseOrRef>,
    /// Bearer JWT for `jwt` groups; empty (none) otherwise.
    pub security: Vec<IndexMap<String, Vec<String>>>,
}

/// One parameter.
#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    /// The key in the path, query string or headers.
    pub name: String,
    /// `path`, `query` or `header`.
    #[serde(rename = "in")]
    pub location: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// Its values.
    pub schema: Schema,
}

/// `requestBody`
#[derive(Debug, Clone, Serialize)]
pub struct RequestBody {
    /// Whether any field must be given.
    pub required: bool,
    /// `application/json` only.
    pub content: IndexMap<&'static str, MediaType>,
}

/// A media type's schema.
#[derive(Debug, Clone, Serialize)]
pub struct MediaType {
    /// The schema.
    pub schema: Schema,
}

/// A response, or a reference to a shared one.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ResponseOrRef {
    /// `{"$ref": "#/components/responses/..."}`
    Ref {
        /// The reference.
        #[serde(rename = "$ref")]
        reference: String,
    },
    /// A response written out.
    Response(Response),
}

/// One response.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// What it means.
    pub description: String,
    /// Headers it carries.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<&'static str, Header>,
    /// Its body.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub content: IndexMap<&'static str, MediaType>,
}

/// A response header.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    /// What it means.
    pub description: &'static str,
    /// Its values.
    pub schema: Schema,
}

/// `components`
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    /// The contract's types, as serde writes them, and the error body.
    pub schemas: IndexMap<String, Schema>,
    /// The error responses the runtime sends.
    pub responses: IndexMap<&'static str, Response>,
    /// One bearer scheme per JWT config section the contract names.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub security_schemes: IndexMap<String, SecurityScheme>,
}

/// A bearer-token security scheme.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityScheme {
    /// `http`
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// `bearer`
    pub scheme: &'static str,
    /// `JWT`
    pub bearer_format: &'static str,
    /// Which config section checks it.
    pub description: String,
}

/// How the document is made.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `servers` URLs; the generated config's default address when empty.
    pub servers: Vec<String>,
}

/// The document, and the warnings about what it leaves out.
#[derive(Debug)]
pub struct Built {
    /// The document.
    pub document: Document,
    /// Routes OpenAPI cannot describe (CONNECT), each with its place.
    pub warnings: Vec<Diagnostic>,
}

/// Shared error responses: (status, component name, description).
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "The request does not bind: `msg` names the field and what is wrong with it.",
    ),
    ("401", "Unauthorized", "No bearer token, or an invalid one."),
    (
        "403",
        "Forbidden",
        "The request signature does not verify, or logic refuses the caller.",
    ),
    ("404", "NotFound", "No such resource."),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than `MaxBytes`.",
    ),
    (
        "429",
        "TooManyRequests",
        "Rate limited: retry after `Retry-After` seconds.",
    ),
    (
        "500",
        "InternalError",
        "Logic failed or panicked; the detail is logged, not sent.",
    ),
    (
        "503",
        "ServiceUnavailable",
        "Overloaded (shedding, `MaxConns`, an open breaker) or the route's timeout passed.",
    ),
    (
        "default",
        "Error",
        "Any other status logic answers with, in the same body.",
    ),
];

/// Builds the document of a validated contract. Everything a contract that validates can say
/// has an OpenAPI form (type names are ASCII identifiers, so they name components; map keys
/// are scalars), except a CONNECT route, which is left out with a warning naming its line.
pub fn build(service: &Service, loaded: &Loaded, options: &Options) -> Built {
    let facts = Facts::read(loaded);
    let mut builder = Builder {
        service,
        facts: &facts,
        types: service.types.iter().map(|t| (t.name.as_str(), t)).collect(),
        used: BTreeSet::new(),
        responses: HashSet::new(),
        warnings: Vec::new(),
    };
    let document = builder.document(options);
    Built {
        document,
        warnings: builder.warnings,
    }
}

impl Document {
    /// Pretty JSON, with a final newline.
    pub fn to_json(&self) -> String {
        // Serializing plain structs, maps with string keys and finite numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// YAML.
    pub fn to_yaml(&self) -> Result<String, String> {
        serde_saphyr::to_string(self).map_err(|e| e.to_string())
    }
}

struct Builder<'a> {
    service: &'a Service,
    facts: &'a Facts,
    types: HashMap<&'a str, &'a TypeDef>,
    /// Contract types the document refers to.
    used: BTreeSet<String>,
    /// Shared error responses the operations refer to.
    responses: HashSet<&'static str>,
    warnings: Vec<Diagnostic>,
}

/// A field as a request binds it, embedded structs flattened.
struct Bound<'a> {
    field: &'a FieldDef,
    /// The struct that declares it (for its `range=`).
    owner: &'a str,
    index: usize,
}

impl<'a> Builder<'a> {
    fn document(&mut self, options: &Options) -> Document {
        let facts = self.facts;
        let info = Info {
            title: facts
                .info("title")
                .filter(|t| !t.trim().is_empty())
                .unwrap_or(&self.service.name)
                .to_string(),
            version: facts.info("version").unwrap_or("1.0").to_string(),
            description: facts
                .info("desc")
                .or(facts.info("description"))
                .map(str::to_string),
            contact: match (facts.info("author"), facts.info("email")) {
                (None, None) => None,
                (name, email) => Some(Contact {
                    name: name.map(str::to_string),
                    email: email.filter(|e| e.contains('@')).map(str::to_string),
                }),
            },
        };
        let servers = if options.servers.is_empty() {
            vec!["http://127.0.0.1:8888".to_string()]
        } else {
            options.servers.clone()
        }
        .into_iter()
        .map(|url| Server { url })
        .collect();

        let ids = operation_ids(self.service);
        let mut paths: IndexMap<String, IndexMap<String, Operation>> = IndexMap::new();
        let mut tags: Vec<Tag> = Vec::new();
        let mut schemes = IndexMap::new();
        let no_facts = Vec::new();
        for (g, group) in self.service.groups.iter().enumerate() {
            let tag = group.modules.join("/");
            if !tag.is_empty() && !tags.iter().any(|t| t.name == tag) {
                tags.push(Tag {
                    description: format!("The `{tag}` group of routes."),
                    name: tag.clone(),
                });
            }
            for name in group.jwt.iter().chain(&group.jwt_transition) {
                schemes.insert(
                    name.clone(),
                    SecurityScheme {
                        ty: "http",
                        scheme: "bearer",
                        bearer_format: "JWT",
                        description: format!(
                            "A JWT signed with the `{name}` config section's secret."
                        ),
                    },
                );
            }
            let route_facts = facts.routes.get(g).unwrap_or(&no_facts);
            for (r, route) in group.routes.iter().enumerate() {
                let place = route_facts.get(r);
                if route.method == "connect" {
                    if let Some(p) = place {
                        self.warnings.push(
                            Diagnostic::warning(
                                p.place.file,
                                p.place.span,
                                format!(
                                    "`connect {}` is left out: OpenAPI 3.1 has no CONNECT operation",
                                    route.path
                                ),
                            )
                            .with_help("fetch and most HTTP clients cannot send CONNECT either"),
                        );
                    }
                    continue;
                }
                let id = ids[&(g, r)].clone();
                let op = self.operation(group, route, &tag, id, place);
                let path = openapi_path(&join_path(&group.prefix, &route.path));
                paths
                    .entry(path)
                    .or_default()
                    .insert(route.method.clone(), op);
            }
        }

        let mut schemas = IndexMap::new();
        let mut done = HashSet::new();
        while let Some(name) = self.used.iter().find(|n| !done.contains(*n)).cloned() {
            done.insert(name.clone());
            let schema = self.component(&name);
            schemas.insert(name, schema);
        }
        schemas.sort_keys();
        schemas.insert(ERROR_SCHEMA.to_string(), error_schema());
        Document {
            openapi: "3.1.0",
            info,
            servers,
            tags,
            paths,
            components: Components {
                schemas,
                responses: ERRORS
                    .iter()
                    .filter(|(_, name, _)| self.responses.contains(name))
                    .map(|(status, name, description)| (*name, error_response(status, description)))
                    .collect(),
                security_schemes: schemes,
            },
        }
    }

    fn operation(
        &mut self,
        group: &Group,
        route: &Route,
        tag: &str,
        id: String,
        place: Option<&RouteFacts>,
    ) -> Operation {
        let full_path = join_path(&group.prefix, &route.path);
        let mut parameters = Vec::new();
        let mut body = Vec::new();
        let in_path = path_params(&full_path);
        if let Some(TypeRef::Declared(request)) = &route.request {
            for bound in self.bound_fields(request) {
                match bound.field.source {
                    Source::Json => body.push(bound),
                    // A path field the route's path lacks can never bind (the validator
                    // warns); OpenAPI has no such parameter.
                    Source::Path if !in_path.contains(&bound.field.key.as_str()) => {}
                    _ => parameters.push(self.parameter(&bound)),
                }
            }
        }
        // Every `:name` of the path is a parameter, bound by a field or not.
        for name in in_path {
            if !parameters
                .iter()
                .any(|p| p.location == "path" && p.name == name)
            {
                parameters.push(Parameter {
                    name: name.to_string(),
                    location: "path",
                    required: true,
                    schema: Schema {
                        min_length: Some(1),
                        ..Schema::of("string")
                    },
                });
            }
        }
        let request_body = (!body.is_empty()).then(|| self.request_body(&body));

        let mut responses = IndexMap::new();
        // Logic answers 200 with its value, or another 2xx status through a `Reply`.
        responses.insert(
            "2XX".to_string(),
            ResponseOrRef::Response(self.success(group, route)),
        );
        let has_request = route.request.is_some();
        for (status, name, _) in ERRORS {
            let listed = match *status {
                "400" | "413" => has_request,
                "401" => group.jwt.is_some() || group.jwt_transition.is_some(),
                "403" => group.signature,
                "404" => full_path.contains("/:"),
                _ => true,
            };
            if listed {
                self.responses.insert(name);
                responses.insert(
                    status.to_string(),
                    ResponseOrRef::Ref {
                        reference: format!("#/components/responses/{name}"),
                    },
                );
            }
        }
        let security = group
            .jwt
            .iter()
            .chain(&group.jwt_transition)
            .map(|name| IndexMap::from([(name.clone(), Vec::new())]))
            .collect();
        Operation {
            tags: if tag.is_empty() {
                Vec::new()
            } else {
                vec![tag.to_string()]
            },
            summary: route
                .doc
                .clone()
                .unwrap_or_else(|| format!("{} {full_path}", route.method.to_uppercase())),
            description: place.and_then(|p| p.description.clone()),
            operation_id: id,
            parameters,
            request_body,
            responses,
            security,
        }
    }

    fn success(&mut self, group: &Group, route: &Route) -> Response {
        let mut content = IndexMap::new();
        let description;
        match &route.response {
            Some(ty) if group.sse => {
                self.use_types(ty);
                description = format!(
                    "A stream of server-sent events; each event's data is one `{ty}` as JSON, \
                     and an error ends the stream with an `error` event carrying the error body."
                );
                content.insert(
                    "text/event-stream",
                    MediaType {
                        schema: Schema::of("string"),
                    },
                );
            }
            Some(ty) => {
                self.use_types(ty);
                description =
                    "Success: 200, or the 2xx status logic answers with through a `Reply`."
                        .to_string();
                content.insert(
                    "application/json",
                    MediaType {
                        schema: type_schema(ty),
                    },
                );
            }
            None => {
                description = "Success (200 unless logic answers another 2xx status through a \
                               `Reply`), with no body."
                    .to_string()
            }
        }
        Response {
            description,
            headers: IndexMap::new(),
            content,
        }
    }

    /// A request type's fields as binding reads them: embedded structs' fields in place.
    fn bound_fields(&self, name: &str) -> Vec<Bound<'a>> {
        let mut found = Vec::new();
        self.collect_bound(name, 0, &mut vec![name.to_string()], &mut found);
        shallowest(found)
    }

    fn collect_bound(
        &self,
        name: &str,
        depth: usize,
        path: &mut Vec<String>,
        found: &mut Vec<(usize, String, Bound<'a>)>,
    ) {
        let Some(def) = self.types.get(name).copied() else {
            return;
        };
        for (index, field) in def.fields.iter().enumerate() {
            if field.skip {
                continue;
            }
            match &field.flatten {
                Some(flatten) => {
                    if let TypeRef::Declared(inner) = &flatten.ty
                        && !path.contains(inner)
                    {
                        path.push(inner.clone());
                        self.collect_bound(inner, depth + 1, path, found);
                        path.pop();
                    }
                }
                None => {
                    // Parameters and body properties are keyed by source and key together.
                    let key = format!("{:?}:{}", field.source, field.key);
                    let bound = Bound {
                        field,
                        owner: &def.name,
                        index,
                    };
                    found.push((depth, key, bound));
                }
            }
        }
    }

    fn rules(&self, bound: &Bound<'a>) -> Rules<'a> {
        Rules {
            default: bound.field.default.as_deref(),
            options: bound.field.options.as_deref(),
            range: self
                .facts
                .structs
                .get(bound.owner)
                .and_then(|s| s.ranges.get(bound.index))
                .and_then(Option::as_ref),
        }
    }

    fn parameter(&mut self, bound: &Bound<'a>) -> Parameter {
        let field = bound.field;
        // A path, query or header value is never null: an option is just absent.
        let ty = field.ty.optional_inner().unwrap_or(&field.ty);
        let mut schema = type_schema(ty);
        self.use_types(ty);
        let location = match field.source {
            Source::Path => {
                if schema.ty == Some(schema::Types::One("string")) {
                    // An empty segment matches no route.
                    schema.min_length = Some(1);
                }
                "path"
            }
            Source::Header => "header",
            _ => "query",
        };
        self.rules(bound).apply(&mut schema, scalar_of(ty), true);
        Parameter {
            name: field.key.clone(),
            location,
            required: location == "path" || !field.optional,
            schema,
        }
    }

    fn request_body(&mut self, fields: &[Bound<'a>]) -> RequestBody {
        let mut properties = IndexMap::new();
        let mut required = Vec::new();
        for bound in fields {
            let field = bound.field;
            self.use_types(&field.ty);
            let mut schema = type_schema(&field.ty);
            self.rules(bound)
                .apply(&mut schema, scalar_of(&field.ty), false);
            if field.optional {
                // Binding reads `null` as absent.
                schema = schema.nullable();
            } else {
                required.push(field.key.clone());
            }
            properties.insert(field.key.clone(), schema);
        }
        RequestBody {
            required: !required.is_empty(),
            content: IndexMap::from([(
                "application/json",
                MediaType {
                    schema: Schema {
                        properties: Some(properties),
                        required,
                        ..Schema::of("object")
                    },
                },
            )]),
        }
    }

    /// Marks the contract types `ty` names as used: they become component schemas.
    fn use_types(&mut self, ty: &TypeRef) {
        for name in ty.declared() {
            self.used.insert(name.to_string());
        }
    }

    /// A contract type as serde writes it: every field under its key, embedded structs'
    /// fields in place (all optional when the embedding is a pointer).
    fn component(&mut self, name: &str) -> Schema {
        let mut found = Vec::new();
        self.collect_properties(name, true, 0, &mut vec![name.to_string()], &mut found);
        let mut properties = IndexMap::new();
        let mut required = Vec::new();
        for (key, schema, must) in shallowest(found) {
            if must {
                required.push(key.clone());
            }
            properties.insert(key, schema);
        }
        Schema {
            properties: Some(properties),
            required,
            ..Schema::of("object")
        }
    }

    fn collect_properties(
        &mut self,
        name: &str,
        can_require: bool,
        depth: usize,
        path: &mut Vec<String>,
        found: &mut Vec<(usize, String, (String, Schema, bool))>,
    ) {
        let Some(def) = self.types.get(name).copied() else {
            return;
        };
        for field in &def.fields {
            if field.skip {
                continue;
            }
            if let Some(flatten) = &field.flatten {
                if let TypeRef::Declared(inner) = &flatten.ty
                    && !path.contains(inner)
                {
                    path.push(inner.clone());
                    let can_require = can_require && !flatten.optional;
                    self.collect_properties(inner, can_require, depth + 1, path, found);
                    path.pop();
                }
                continue;
            }
            self.use_types(&field.ty);
            let required = can_require && !field.optional;
            let entry = (field.key.clone(), type_schema(&field.ty), required);
            found.push((depth, field.key.clone(), entry));
        }
    }
}

/// Go's rule for embedded structs, which generated types follow on the wire: of the fields
/// that share a key, the one embedded least deep wins (the first of those, in field order).
pub fn shallowest<T>(found: Vec<(usize, String, T)>) -> Vec<T> {
    let mut best: HashMap<&str, usize> = HashMap::new();
    for (depth, key, _) in &found {
        let d = best.entry(key.as_str()).or_insert(*depth);
        *d = (*d).min(*depth);
    }
    let best: HashMap<String, usize> = best.into_iter().map(|(k, d)| (k.to_string(), d)).collect();
    let mut taken = HashSet::new();
    found
        .into_iter()
        .filter(|(depth, key, _)| best[key] == *depth && taken.insert(key.clone()))
        .map(|(_, _, value)| value)
        .collect()
}

/// `/trial/:id` as OpenAPI writes it: `/trial/{id}`.
pub fn openapi_path(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `:name` segments of a path.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix(':'))
        .collect()
}

/// Each route's operation id: the handler in lower camel case, with the group in front when
/// two groups have handlers of one name. Keyed by (group index, route index).
pub fn operation_ids(service: &Service) -> HashMap<(usize, usize), String> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for group in &service.groups {
        for route in &group.routes {
            *count
                .entry(route.handler.to_lower_camel_case())
                .or_default() += 1;
        }
    }
    let mut ids = HashMap::new();
    for (g, group) in service.groups.iter().enumerate() {
        for (r, route) in group.routes.iter().enumerate() {
            let plain = route.handler.to_lower_camel_case();
            let id = if count[&plain] > 1 && !group.modules.is_empty() {
                format!("{}_{}", group.modules.join("_"), route.handler).to_lower_camel_case()
            } else {
                plain
            };
            ids.insert((g, r), id);
        }
    }
    ids
}

fn error_schema() -> Schema {
    let mut properties = IndexMap::new();
    properties.insert(
        "code".to_string(),
        Schema {
            description: Some("The HTTP status, or an application code logic chose.".into()),
            ..Schema::of("integer")
        },
    );
    properties.insert(
        "msg".to_string(),
        Schema {
            description: Some("What went wrong.".into()),
            ..Schema::of("string")
        },
    );
    Schema {
        description: Some("The runtime's error body.".into()),
        properties: Some(properties),
        required: vec!["code".into(), "msg".into()],
        ..Schema::of("object")
    }
}

fn error_response(status: &str, description: &str) -> Response {
    let mut headers = IndexMap::new();
    if status == "429" {
        headers.insert(
            "Retry-After",
            Header {
                description: "Seconds until a request may succeed.",
                schema: Schema::of("integer"),
            },
        );
    }
    Response {
        description: description.to_string(),
        headers,
        content: IndexMap::from([(
            "application/json",
            MediaType {
                schema: Schema::reference(ERROR_SCHEMA),
            },
        )]),
    }
}
