//! Semantic checks on a loaded contract. Each check is one function that appends its findings;
//! every finding is collected, so one run reports every problem it can see.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::ast::*;
use super::loader::Loaded;
use super::tag::{Tag, TagOption};
use crate::diagnostic::{Diagnostic, FileId};

/// Go builtin types the language accepts.
pub const BUILTIN_TYPES: [&str; 18] = [
    "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "float32", "float64", "byte", "rune", "any", "uintptr",
];

/// Integer builtins (for `default=` and `range=` checks).
const INTEGER_TYPES: [&str; 13] = [
    "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
    "byte", "rune", "uintptr",
];

/// Keys `@server(...)` gives meaning to. Other keys are kept as strings.
pub const KNOWN_SERVER_KEYS: [&str; 9] = [
    "jwt",
    "group",
    "prefix",
    "middleware",
    "timeout",
    "maxBytes",
    "signature",
    "jwtTransition",
    "sse",
];

/// Runs every check and returns the findings, errors and warnings, in a stable order.
/// Syntax errors are the loader's; with any of them present the tree is partial, so only the
/// loader's diagnostics are returned.
pub fn validate(loaded: &Loaded) -> Vec<Diagnostic> {
    if loaded.has_errors() {
        return loaded.diagnostics.clone();
    }
    let mut v = Validator {
        loaded,
        out: loaded.diagnostics.clone(),
        types: BTreeMap::new(),
    };
    v.collect_types();
    v.check_syntax_versions();
    v.check_info();
    v.check_types();
    v.check_root_has_service();
    v.check_service_names();
    v.check_server_annotations();
    v.check_routes();
    v.out
}

struct Validator<'a> {
    loaded: &'a Loaded,
    out: Vec<Diagnostic>,
    /// Declared struct types by name: the first declaration wins.
    types: BTreeMap<&'a str, (FileId, &'a TypeDecl)>,
}

/// A route with the block it sits in.
struct RouteRef<'a> {
    file: FileId,
    service: &'a ServiceStmt,
    item: &'a ServiceItem,
}

impl<'a> Validator<'a> {
    fn error(&mut self, file: FileId, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.out.push(Diagnostic::error(file, span, message));
        self.out.last_mut().expect("just pushed")
    }

    fn type_decls(&self) -> impl Iterator<Item = (FileId, &'a TypeDecl)> {
        self.loaded.iter().flat_map(|(file, ast)| {
            ast.items.iter().flat_map(move |item| match item {
                Item::Type(stmt) => stmt.decls.iter().map(move |d| (file, d)).collect(),
                _ => Vec::new(),
            })
        })
    }

    fn services(&self) -> impl Iterator<Item = (FileId, &'a ServiceStmt)> {
        self.loaded.iter().flat_map(|(file, ast)| {
            ast.items.iter().filter_map(move |item| match item {
                Item::Service(s) => Some((file, s)),
                _ => None,
            })
        })
    }

    fn routes(&self) -> Vec<RouteRef<'a>> {
        self.services()
            .flat_map(|(file, service)| {
                service.items.iter().map(move |item| RouteRef {
                    file,
                    service,
                    item,
                })
            })
            .collect()
    }

    /// Declared types; duplicates and aliases are errors.
    fn collect_types(&mut self) {
        let decls: Vec<_> = self.type_decls().collect();
        for (file, decl) in decls {
            if let TypeDeclKind::Alias { .. } = decl.kind {
                self.error(
                    file,
                    decl.span,
                    format!("type alias `{}` is not supported", decl.name.name),
                )
                .help = Some(
                    "go-zero rejects aliases: declare a struct, or use the aliased type directly"
                        .into(),
                );
                continue;
            }
            if BUILTIN_TYPES.contains(&decl.name.name.as_str()) {
                self.error(
                    file,
                    decl.name.span,
                    format!(
                        "`{}` is a builtin type and cannot be declared",
                        decl.name.name
                    ),
                );
                continue;
            }
            if let Some(&(first_file, first)) = self.types.get(decl.name.name.as_str()) {
                let d = Diagnostic::error(
                    file,
                    decl.name.span,
                    format!("duplicate type `{}`", decl.name.name),
                )
                .with_note(first_file, first.name.span, "first declared here");
                self.out.push(d);
                continue;
            }
            self.types.insert(&decl.name.name, (file, decl));
        }
    }

    /// `syntax` must be "v1", written at most once per file, before anything else.
    fn check_syntax_versions(&mut self) {
        for (file, ast) in self.loaded.iter() {
            let mut seen = false;
            for (index, item) in ast.items.iter().enumerate() {
                let Item::Syntax(s) = item else { continue };
                if seen {
                    self.error(file, s.span, "duplicate `syntax` statement");
                    continue;
                }
                seen = true;
                if s.version.text != "v1" {
                    self.error(
                        file,
                        s.version.span,
                        format!("unsupported syntax version `{}`", s.version.text),
                    )
                    .help = Some("the only version is \"v1\"".into());
                }
                if index != 0 {
                    self.error(file, s.span, "`syntax` must be the first statement");
                }
            }
        }
    }

    /// At most one `info` block per file, without repeated keys.
    fn check_info(&mut self) {
        for (file, ast) in self.loaded.iter() {
            let mut first: Option<Span> = None;
            for item in &ast.items {
                let Item::Info(info) = item else { continue };
                if let Some(first) = first {
                    let d = Diagnostic::error(file, info.span, "duplicate `info` block").with_note(
                        file,
                        first,
                        "first one here",
                    );
                    self.out.push(d);
                }
                first.get_or_insert(info.span);
                check_unique_keys(&mut self.out, file, info.entries.iter().map(|e| &e.key));
            }
        }
    }

    /// Fields: known types, unique names, well-formed tags.
    fn check_types(&mut self) {
        let decls: Vec<_> = self.type_decls().collect();
        for (file, decl) in decls {
            if let TypeDeclKind::Struct(body) = &decl.kind {
                self.check_struct(file, body);
            }
        }
    }

    fn check_struct(&mut self, file: FileId, body: &StructBody) {
        let mut names: HashMap<&str, Span> = HashMap::new();
        let mut json_keys: HashMap<(String, String), Span> = HashMap::new();
        for field in &body.fields {
            let name = field.name();
            if let Some(&first) = names.get(name.name.as_str()) {
                let d =
                    Diagnostic::error(file, name.span, format!("duplicate field `{}`", name.name))
                        .with_note(file, first, "first declared here");
                self.out.push(d);
            } else {
                names.insert(&name.name, name.span);
            }
            match &field.kind {
                FieldKind::Named { ty, .. } => self.check_type_expr(file, ty),
                FieldKind::Embedded { name, .. } => {
                    if !self.types.contains_key(name.name.as_str()) {
                        let msg = if BUILTIN_TYPES.contains(&name.name.as_str()) {
                            format!("cannot embed builtin type `{}`", name.name)
                        } else {
                            format!("undefined type `{}`", name.name)
                        };
                        self.error(file, name.span, msg);
                    }
                }
            }
            if let Some(tag) = &field.tag {
                self.check_tag(file, field, tag);
                for entry in &tag.entries {
                    if super::tag::BINDING_KEYS.contains(&entry.key.as_str())
                        && !entry.name.is_empty()
                        && entry.name != "-"
                    {
                        let key = (entry.key.clone(), entry.name.clone());
                        if let Some(&first) = json_keys.get(&key) {
                            // Go's encoding/json silently drops both fields: a warning.
                            let d = Diagnostic::warning(
                                file,
                                entry.value_span,
                                format!(
                                    "duplicate {} key `{}`: neither field will be bound",
                                    entry.key, entry.name
                                ),
                            )
                            .with_note(file, first, "first used here");
                            self.out.push(d);
                        } else {
                            json_keys.insert(key, entry.value_span);
                        }
                    }
                }
            }
        }
    }

    fn check_type_expr(&mut self, file: FileId, ty: &TypeExpr) {
        match &ty.kind {
            TypeKind::Named(name) => {
                if name.contains('.') {
                    self.error(
                        file,
                        ty.span,
                        format!("package-qualified type `{name}` is not supported"),
                    )
                    .help = Some("declare the type in the .api file".into());
                } else if !BUILTIN_TYPES.contains(&name.as_str())
                    && !self.types.contains_key(name.as_str())
                {
                    self.error(file, ty.span, format!("undefined type `{name}`"));
                }
            }
            TypeKind::Pointer(inner) | TypeKind::Slice(inner) | TypeKind::Array(_, inner) => {
                self.check_type_expr(file, inner)
            }
            TypeKind::Map(key, value) => {
                let scalar = matches!(&key.kind, TypeKind::Named(n) if BUILTIN_TYPES.contains(&n.as_str()) && n != "any");
                if !scalar {
                    self.error(
                        file,
                        key.span,
                        "a map key must be a builtin scalar type (string, int64, ...)",
                    );
                }
                self.check_type_expr(file, value);
            }
            TypeKind::Interface => {}
            TypeKind::Struct(body) => self.check_struct(file, body),
        }
    }

    /// Option syntax problems, and `default`/`range`/`options` that cannot fit the field.
    fn check_tag(&mut self, file: FileId, field: &Field, tag: &Tag) {
        for problem in &tag.problems {
            // Go compiles a malformed tag and encoding/json ignores it, so goctl accepts it: a
            // warning, not an error. Bad go-zero options below are errors: they would fail
            // every request at run time.
            let d = if problem.malformed {
                Diagnostic::warning(file, problem.span, problem.message.clone())
            } else {
                Diagnostic::error(file, problem.span, problem.message.clone())
            };
            self.out.push(d);
        }
        let scalar = match &field.kind {
            FieldKind::Named { ty, .. } => scalar_name(ty),
            FieldKind::Embedded { .. } => None,
        };
        for entry in &tag.entries {
            for option in &entry.options {
                match option {
                    TagOption::Default(value) => {
                        if let Some(ty) = scalar
                            && !value_fits(ty, value)
                        {
                            self.error(
                                file,
                                entry.value_span,
                                format!("`default={value}` is not a valid {ty}"),
                            );
                        }
                    }
                    TagOption::Range(range) => {
                        if let Some(ty) = scalar
                            && !is_numeric(ty)
                        {
                            self.error(
                                file,
                                entry.value_span,
                                format!("`range={}` needs a numeric field, not {ty}", range.text),
                            );
                        }
                    }
                    TagOption::Options(choices) => {
                        if let Some(ty) = scalar
                            && let Some(bad) = choices.iter().find(|c| !value_fits(ty, c))
                        {
                            self.error(
                                file,
                                entry.value_span,
                                format!("option `{bad}` is not a valid {ty}"),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The contract (the root file with its imports) must declare a service somewhere: a file
    /// that only collects imports is a complete contract when its imports hold the service.
    fn check_root_has_service(&mut self) {
        if self.services().next().is_none() {
            let root = self.loaded.root;
            let end = self.loaded.sources.file(root).text.len();
            self.out.push(
                Diagnostic::error(root, Span::new(end, end), "no service declared")
                    .with_help("add `service name-api { ... }` with at least one route"),
            );
        }
    }

    /// Every `service` block, in every file, names the same service.
    fn check_service_names(&mut self) {
        let services: Vec<_> = self.services().collect();
        let Some(&(first_file, first)) = services.first() else {
            return;
        };
        for &(file, s) in &services[1..] {
            if s.name.name != first.name.name {
                let d = Diagnostic::error(file, s.name.span, format!("more than one service name: `{}` and `{}`", first.name.name, s.name.name))
                    .with_note(first_file, first.name.span, "the service is named here")
                    .with_help("one .api contract describes one service; split the blocks into several contracts or give them one name");
                self.out.push(d);
            }
        }
    }

    /// Values of the keys go-zero gives meaning to.
    fn check_server_annotations(&mut self) {
        let services: Vec<_> = self.services().collect();
        for (file, s) in services {
            let Some(server) = &s.server else { continue };
            check_unique_keys(&mut self.out, file, server.entries.iter().map(|e| &e.key));
            for entry in &server.entries {
                let span = entry.values.first().map_or(entry.span, |v| v.span);
                let text = entry.text();
                let single = entry.values.len() == 1;
                let problem = match entry.key.name.as_str() {
                    "timeout" => parse_duration(&text).err(),
                    "maxBytes" => (!single || text.parse::<u64>().is_err())
                        .then(|| format!("`maxBytes: {text}` is not a byte count")),
                    "prefix" => (!single || check_path(&normalize_prefix(&text)).is_some())
                        .then(|| format!("`prefix: {text}` is not a path")),
                    "group" => (!single
                        || !text
                            .trim_matches('/')
                            .split('/')
                            .all(|seg| is_ident(&seg.replace('-', "_"))))
                    .then(|| format!("`group: {text}` must be a name or names joined by `/`")),
                    "jwt" | "jwtTransition" => (!single || !is_ident(&text)).then(|| {
                        format!("`{}: {text}` must name a config section", entry.key.name)
                    }),
                    "middleware" => entry
                        .values
                        .iter()
                        .find(|v| !is_ident(&v.text))
                        .map(|v| format!("`{}` is not a middleware name", v.text)),
                    "signature" | "sse" => (!single || !matches!(text.as_str(), "true" | "false"))
                        .then(|| format!("`{}: {text}` must be true or false", entry.key.name)),
                    _ => None,
                };
                if let Some(message) = problem {
                    self.error(file, span, message);
                }
            }
        }
    }

    fn check_routes(&mut self) {
        let routes = self.routes();
        let mut handlers: HashMap<(String, String), (FileId, Span)> = HashMap::new();
        let mut paths: HashMap<(String, String), (FileId, Span)> = HashMap::new();
        for r in &routes {
            let route = &r.item.route;
            let group = r
                .service
                .server
                .as_ref()
                .and_then(|s| s.get("group"))
                .map(|e| e.text())
                .unwrap_or_default();
            match r.item.handler.name() {
                None => {
                    self.error(
                        r.file,
                        r.item.handler.span(),
                        "the route has no handler name",
                    )
                    .help = Some("write `@handler name` before the route".into());
                }
                Some((name, span)) => {
                    if !is_ident(name) {
                        self.error(
                            r.file,
                            span,
                            format!("`{name}` is not a valid handler name"),
                        );
                    }
                    let key = (group.clone(), name.to_lowercase());
                    if let Some(&(first_file, first)) = handlers.get(&key) {
                        let d =
                            Diagnostic::error(r.file, span, format!("duplicate handler `{name}`"))
                                .with_note(first_file, first, "first used here");
                        self.out.push(d);
                    } else {
                        handlers.insert(key, (r.file, span));
                    }
                }
            }
            if let Some(problem) = check_path(&route.path.name) {
                self.error(r.file, route.path.span, problem);
            }
            let prefix = r
                .service
                .server
                .as_ref()
                .and_then(|s| s.get("prefix"))
                .map(|e| e.text())
                .unwrap_or_default();
            let full = join_path(&prefix, &route.path.name);
            let key = (route.method.name.clone(), route_shape(&full));
            if let Some(&(first_file, first)) = paths.get(&key) {
                let d = Diagnostic::error(
                    r.file,
                    route.span,
                    format!("duplicate route {} {full}", route.method.name),
                )
                .with_note(first_file, first, "first declared here");
                self.out.push(d);
            } else {
                paths.insert(key, (r.file, route.span));
            }
            let sse = r
                .service
                .server
                .as_ref()
                .and_then(|s| s.get("sse"))
                .is_some_and(|e| e.text() == "true");
            if sse
                && route
                    .response
                    .as_ref()
                    .and_then(|b| b.ty.as_ref())
                    .is_none()
            {
                self.error(
                    r.file,
                    route.span,
                    "a route of an `sse: true` group needs a response type",
                )
                .help =
                    Some("the response type is the type of each event: `returns (Event)`".into());
            }
            self.check_body(r.file, route.request.as_ref(), "request");
            self.check_body(r.file, route.response.as_ref(), "response");
            self.check_path_params(r.file, route);
        }
    }

    /// A body is `T`, `*T`, `[]T` or `[]*T` with `T` declared or builtin, as goctl accepts;
    /// a request may not be a slice (goctl: "request body must be struct").
    fn check_body(&mut self, file: FileId, body: Option<&Body>, what: &str) {
        let Some(ty) = body.and_then(|b| b.ty.as_ref()) else {
            return;
        };
        fn strip_pointer(t: &TypeExpr) -> &TypeExpr {
            match &t.kind {
                TypeKind::Pointer(inner) => inner,
                _ => t,
            }
        }
        let (is_slice, elem) = match &ty.kind {
            TypeKind::Slice(inner) => (true, strip_pointer(inner)),
            _ => (false, strip_pointer(ty)),
        };
        let TypeKind::Named(name) = &elem.kind else {
            self.error(
                file,
                ty.span,
                format!("the {what} must be `Type`, `*Type` or `[]Type`"),
            );
            return;
        };
        if is_slice && what == "request" {
            self.error(file, ty.span, "the request must be a struct, not a slice")
                .help = Some(
                "wrap the list in a request type: `Req { Items []T `json:\"items\"` }`".into(),
            );
        } else if name.contains('.') {
            self.error(
                file,
                elem.span,
                format!("package-qualified type `{name}` is not supported"),
            );
        } else if !self.types.contains_key(name.as_str()) && !BUILTIN_TYPES.contains(&name.as_str())
        {
            self.error(file, elem.span, format!("undefined type `{name}`"));
        }
    }

    /// A warning for each `:param` in the path that the request does not bind with `path:"param"`.
    fn check_path_params(&mut self, file: FileId, route: &Route) {
        let params: Vec<&str> = route
            .path
            .name
            .split('/')
            .filter_map(|seg| seg.strip_prefix(':'))
            .collect();
        if params.is_empty() {
            return;
        }
        let request = route
            .request
            .as_ref()
            .and_then(|b| b.ty.as_ref())
            .and_then(|t| match &t.kind {
                TypeKind::Named(n) => Some(n.as_str()),
                _ => None,
            });
        let mut bound = HashSet::new();
        if let Some(name) = request {
            self.collect_path_tags(name, &mut bound, 0);
        }
        for p in params {
            if !bound.contains(p) {
                let what = match request {
                    Some(name) => format!("`{name}` has no field tagged `path:\"{p}\"`"),
                    None => "the route has no request type".to_string(),
                };
                self.out.push(Diagnostic::warning(
                    file,
                    route.path.span,
                    format!("path parameter `:{p}` is not bound: {what}"),
                ));
            }
        }
    }

    fn collect_path_tags(&self, type_name: &str, out: &mut HashSet<&'a str>, depth: usize) {
        let Some(&(_, decl)) = self.types.get(type_name) else {
            return;
        };
        let TypeDeclKind::Struct(body) = &decl.kind else {
            return;
        };
        if depth > 32 {
            return; // embedding cycle; reported elsewhere as a type error at generation time
        }
        for field in &body.fields {
            if let Some(entry) = field.tag.as_ref().and_then(|t| t.get("path")) {
                out.insert(entry.name.as_str());
            }
            if let FieldKind::Embedded { name, .. } = &field.kind {
                self.collect_path_tags(&name.name, out, depth + 1);
            }
        }
    }
}

fn check_unique_keys<'k>(
    out: &mut Vec<Diagnostic>,
    file: FileId,
    keys: impl Iterator<Item = &'k Ident>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for key in keys {
        if let Some(&first) = seen.get(key.name.as_str()) {
            out.push(
                Diagnostic::error(file, key.span, format!("duplicate key `{}`", key.name))
                    .with_note(file, first, "first set here"),
            );
        } else {
            seen.insert(&key.name, key.span);
        }
    }
}

/// The builtin scalar a field holds (through pointers), if it is one.
fn scalar_name(ty: &TypeExpr) -> Option<&str> {
    match &ty.kind {
        TypeKind::Named(n) if BUILTIN_TYPES.contains(&n.as_str()) && n != "any" => Some(n),
        TypeKind::Pointer(inner) => scalar_name(inner),
        _ => None,
    }
}

fn is_numeric(ty: &str) -> bool {
    INTEGER_TYPES.contains(&ty) || ty.starts_with("float")
}

/// Whether `value` can be a value of builtin `ty`.
fn value_fits(ty: &str, value: &str) -> bool {
    let value = value.trim();
    match ty {
        "bool" => matches!(value, "true" | "false"),
        t if t.starts_with("uint") || t == "byte" => value.parse::<u64>().is_ok(),
        t if INTEGER_TYPES.contains(&t) => value.parse::<i64>().is_ok(),
        t if t.starts_with("float") => value.parse::<f64>().is_ok(),
        _ => true,
    }
}

/// A Go identifier.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// What is wrong with a route path, if anything.
fn check_path(path: &str) -> Option<String> {
    if path == "/" {
        return None;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Some(format!("path `{path}` must start with `/`"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some(format!("path `{path}` has an empty segment"));
        }
        if let Some(param) = seg.strip_prefix(':') {
            if !is_ident(param) {
                return Some(format!("`:{param}` is not a valid path parameter name"));
            }
            continue;
        }
        if seg.starts_with('{') {
            return Some(format!(
                "`{seg}`: go-zero writes a path parameter as `:name`, not `{{name}}`"
            ));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+')))
        {
            return Some(format!(
                "path `{path}` contains `{c}`, which a route cannot hold"
            ));
        }
    }
    None
}

/// A prefix as routes use it: one leading `/`, no trailing one (go-zero accepts `v1/user`).
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// `prefix` + `path` as go-zero joins them.
pub fn join_path(prefix: &str, path: &str) -> String {
    let prefix = normalize_prefix(prefix);
    if prefix.is_empty() {
        return path.to_string();
    }
    if path == "/" {
        return prefix;
    }
    format!("{prefix}{path}")
}

/// The path with parameter names erased: `/a/:id` and `/a/:name` are the same route.
fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with(':') { ":" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// A Go duration (`300ms`, `1.5s`, `1h30m`) in milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration (write e.g. `3s`, `500ms`, `1m30s`)");
    if text.is_empty() {
        return Err(bad());
    }
    if text == "0" {
        return Ok(0);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return Err(bad()),
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(3000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("3m"), Ok(180_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1.5s"), Ok(1500));
        for bad in ["", "3", "s", "3x", "3s5", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        for ok in ["/", "/a", "/a/:id", "/a-b/c.d/e_f", "/v1/:id/detail"] {
            assert_eq!(check_path(ok), None, "{ok}");
        }
        assert_eq!(check_path("/users/"), None);
        for bad in ["a", "//a", "/a//b", "/a/:", "/a/:1x", "/a/{id}", "/a?b"] {
            assert!(check_path(bad).is_some(), "{bad}");
        }
        assert_eq!(route_shape("/a/:id/b"), route_shape("/a/:name/b"));
        assert_eq!(join_path("/api/", "/x"), "/api/x");
        assert_eq!(join_path("", "/x"), "/x");
    }
}
