//! A validated `.api` contract lowered into the neutral [`Service`] model: Go types become Rust
//! types, names become Rust names, anonymous structs get deterministic names.

use std::collections::{BTreeSet, HashMap, HashSet};

use heck::{ToSnakeCase, ToUpperCamelCase};

use super::ast::*;
use super::loader::Loaded;
use super::tag::{NumberRange, TagOption};
use super::validate::{normalize_prefix, parse_duration};
use crate::model::{
    FieldDef, Flatten, Group, Middleware, Route, Service, Source, TypeDef, TypeRef,
};

/// Lowers a contract that validated without errors.
pub fn lower(loaded: &Loaded, contract_name: &str) -> Service {
    let decls: Vec<&TypeDecl> = loaded
        .iter()
        .flat_map(|(_, f)| f.items.iter())
        .filter_map(|i| match i {
            Item::Type(t) => Some(t.decls.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    let structs: HashMap<&str, &StructBody> = decls
        .iter()
        .filter_map(|d| match &d.kind {
            TypeDeclKind::Struct(b) => Some((d.name.name.as_str(), b)),
            TypeDeclKind::Alias { .. } => None,
        })
        .collect();
    let services: Vec<&ServiceStmt> = loaded
        .iter()
        .flat_map(|(_, f)| f.items.iter())
        .filter_map(|i| match i {
            Item::Service(s) => Some(s),
            _ => None,
        })
        .collect();
    let requests: HashSet<String> = services
        .iter()
        .flat_map(|s| s.items.iter())
        .filter_map(|i| i.route.request.as_ref()?.ty.as_ref())
        .filter_map(|t| named_struct(t, &structs))
        .collect();

    let mut lowerer = Lowerer {
        structs: &structs,
        types: Vec::new(),
    };
    for decl in &decls {
        if let TypeDeclKind::Struct(body) = &decl.kind {
            lowerer.struct_def(&type_name(&decl.name.name), body);
        }
    }
    let mut types = lowerer.types;
    mark_requests(&mut types, &requests, &structs);

    let mut groups = Vec::new();
    let mut all_middlewares = BTreeSet::new();
    for service in &services {
        let group = group(service);
        all_middlewares.extend(group.middlewares.iter().cloned());
        groups.push(group);
    }
    let name = services
        .first()
        .map(|s| s.name.name.clone())
        .unwrap_or_default();
    Service {
        crate_name: name.clone(),
        name,
        contract: contract_name.to_string(),
        uses_jwt: groups
            .iter()
            .any(|g| g.jwt.is_some() || g.jwt_transition.is_some()),
        uses_jwt_transition: groups.iter().any(|g| g.jwt_transition.is_some()),
        uses_signature: groups.iter().any(|g| g.signature),
        types,
        groups,
        middlewares: all_middlewares.into_iter().collect(),
    }
}

/// A request type, and every type embedded in it, binds from the request.
fn mark_requests(
    types: &mut [TypeDef],
    requests: &HashSet<String>,
    structs: &HashMap<&str, &StructBody>,
) {
    let mut todo: Vec<String> = requests.iter().cloned().collect();
    let mut seen = HashSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(body) = structs.get(name.as_str()) {
            for f in &body.fields {
                if let FieldKind::Embedded { name, .. } = &f.kind {
                    todo.push(name.name.clone());
                }
            }
        }
    }
    let seen: HashSet<String> = seen.iter().map(|n| type_name(n)).collect();
    for t in types.iter_mut() {
        t.is_request = seen.contains(&t.name);
    }
}

fn named_struct(ty: &TypeExpr, structs: &HashMap<&str, &StructBody>) -> Option<String> {
    match &ty.kind {
        TypeKind::Named(n) if structs.contains_key(n.as_str()) => Some(n.clone()),
        TypeKind::Pointer(inner) => named_struct(inner, structs),
        _ => None,
    }
}

struct Lowerer<'a> {
    structs: &'a HashMap<&'a str, &'a StructBody>,
    types: Vec<TypeDef>,
}

impl Lowerer<'_> {
    fn struct_def(&mut self, name: &str, body: &StructBody) {
        let index = self.types.len();
        self.types.push(TypeDef {
            name: name.to_string(),
            fields: Vec::new(),
            is_request: false,
        });
        let mut used = HashSet::new();
        let mut fields = Vec::new();
        for field in &body.fields {
            fields.push(self.field(name, field, &mut used));
        }
        // Two fields with one key: Go's encoding/json drops both (the validator warns), and
        // serde would reject the second; do as Go does.
        let mut keys: HashMap<String, usize> = HashMap::new();
        for f in fields.iter().filter(|f| f.flatten.is_none() && !f.skip) {
            *keys.entry(f.key.clone()).or_default() += 1;
        }
        for f in fields.iter_mut() {
            if f.flatten.is_none() && keys.get(&f.key).is_some_and(|&n| n > 1) {
                f.skip = true;
            }
        }
        self.types[index].fields = fields;
    }

    fn field(&mut self, parent: &str, field: &Field, used: &mut HashSet<String>) -> FieldDef {
        let binding = field.tag.as_ref().and_then(|t| t.binding());
        let go_name = &field.name().name;
        let (ty, flatten) = match &field.kind {
            FieldKind::Named { name, ty } => {
                let anon_name = format!("{parent}{}", name.name.to_upper_camel_case());
                (self.rust_type(parent, &anon_name, ty), None)
            }
            FieldKind::Embedded { pointer, name } => {
                let t = TypeRef::Declared(type_name(&name.name));
                let flatten = Flatten {
                    ty: t.clone(),
                    optional: *pointer,
                };
                let ty = if *pointer {
                    TypeRef::Option(Box::new(t))
                } else {
                    t
                };
                (ty, Some(flatten))
            }
        };
        let source = match binding.map(|b| b.key.as_str()) {
            Some("path") => Source::Path,
            Some("form") => Source::Form,
            Some("header") => Source::Header,
            _ => Source::Json,
        };
        let key = match binding {
            Some(b) if !b.name.is_empty() => b.name.clone(),
            _ => go_name.clone(),
        };
        let rust_name = unique(rust_field_name(go_name), used);
        let option = |f: fn(&TagOption) -> Option<String>| {
            binding.and_then(|b| b.options.iter().find_map(f))
        };
        let omit_empty = binding.is_some_and(|b| b.has(&TagOption::OmitEmpty));
        FieldDef {
            rename: (flatten.is_none() && key != rust_name.trim_start_matches("r#"))
                .then(|| key.clone()),
            skip: key == "-",
            optional: binding.is_some_and(|b| b.is_optional()) || ty.optional_inner().is_some(),
            empty_check: omit_empty.then(|| empty_check(&ty)).flatten(),
            omit_empty,
            default: option(|o| match o {
                TagOption::Default(v) => Some(v.trim().to_string()),
                _ => None,
            }),
            options: option(|o| match o {
                TagOption::Options(v) => Some(v.join("|")),
                _ => None,
            }),
            range: option(|o| match o {
                TagOption::Range(r) => Some(range_check(r)),
                _ => None,
            }),
            name: rust_name,
            ty,
            source,
            key,
            flatten,
        }
    }

    /// The Rust type for a Go type; an anonymous struct becomes a new type named `anon_name`.
    fn rust_type(&mut self, parent: &str, anon_name: &str, ty: &TypeExpr) -> TypeRef {
        match &ty.kind {
            TypeKind::Named(n) => named(n),
            TypeKind::Interface => TypeRef::Builtin("serde_json::Value"),
            TypeKind::Pointer(inner) => {
                let t = self.rust_type(parent, anon_name, inner);
                let recursive =
                    matches!(&inner.kind, TypeKind::Named(n) if self.reaches(n, parent));
                if recursive {
                    TypeRef::Option(Box::new(TypeRef::Boxed(Box::new(t))))
                } else {
                    TypeRef::Option(Box::new(t))
                }
            }
            // `[]*T` is a list of values in Rust: a null element is rare enough not to model.
            TypeKind::Slice(inner) => match &inner.kind {
                TypeKind::Pointer(elem) => {
                    TypeRef::Vec(Box::new(self.rust_type(parent, anon_name, elem)))
                }
                _ => TypeRef::Vec(Box::new(self.rust_type(parent, anon_name, inner))),
            },
            TypeKind::Array(n, inner) => {
                let t = Box::new(self.rust_type(parent, anon_name, inner));
                // serde implements arrays only up to 32 elements.
                if *n <= 32 {
                    TypeRef::Array(t, *n)
                } else {
                    TypeRef::Vec(t)
                }
            }
            TypeKind::Map(k, v) => TypeRef::Map(
                Box::new(self.rust_type(parent, anon_name, k)),
                Box::new(self.rust_type(parent, anon_name, v)),
            ),
            TypeKind::Struct(body) => {
                self.struct_def(anon_name, body);
                TypeRef::Declared(anon_name.to_string())
            }
        }
    }

    /// Whether struct `from` contains struct `to` by value (so a pointer back needs a `Box`).
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut seen = HashSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(name) = todo.pop() {
            if name == to {
                return true;
            }
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(body) = self.structs.get(name.as_str()) else {
                continue;
            };
            for f in &body.fields {
                let ty = match &f.kind {
                    FieldKind::Named { ty, .. } => ty,
                    FieldKind::Embedded { name, .. } => {
                        todo.push(name.name.clone());
                        continue;
                    }
                };
                let mut t = ty;
                loop {
                    match &t.kind {
                        TypeKind::Pointer(i) | TypeKind::Array(_, i) => t = i,
                        TypeKind::Named(n) => {
                            todo.push(n.clone());
                            break;
                        }
                        _ => break,
                    }
                }
            }
        }
        false
    }
}

/// A declared type's Rust name: Go's unexported `addReq` becomes `AddReq`, `user_info` becomes
/// `UserInfo`; names already in upper camel case (`HTTPResp` too) stay as written.
pub fn type_name(go: &str) -> String {
    if go.contains('_') {
        return go.to_upper_camel_case();
    }
    let mut chars = go.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The Rust type of a Go builtin.
pub fn builtin(go: &str) -> Option<&'static str> {
    Some(match go {
        "string" => "String",
        "bool" => "bool",
        "int" | "int64" => "i64",
        "int8" => "i8",
        "int16" => "i16",
        "int32" | "rune" => "i32",
        "uint" | "uint64" | "uintptr" => "u64",
        "uint8" | "byte" => "u8",
        "uint16" => "u16",
        "uint32" => "u32",
        "float32" => "f32",
        "float64" => "f64",
        "any" => "serde_json::Value",
        _ => return None,
    })
}

/// `range=[1:100)` as the runtime's `Range` built from its limits in `const` code
/// (`rustctl_runtime::rules::Range::unbounded().ge(1.0).lt(100.0)`): requests are checked
/// without parsing the range text, and the text was validated here. The limits are finite
/// (the tag parser refuses others) and `{:?}` writes them as Rust float literals (`1.0`,
/// `-2.5`, `1e21`).
fn range_check(r: &NumberRange) -> String {
    let mut out = String::from("rustctl_runtime::rules::Range::unbounded()");
    if let Some(b) = r.lower {
        let op = if b.inclusive { "ge" } else { "gt" };
        out.push_str(&format!(".{op}({:?})", b.value));
    }
    if let Some(b) = r.upper {
        let op = if b.inclusive { "le" } else { "lt" };
        out.push_str(&format!(".{op}({:?})", b.value));
    }
    out
}

fn empty_check(ty: &TypeRef) -> Option<String> {
    let check = match ty {
        TypeRef::Option(_) => "Option::is_none",
        TypeRef::Vec(_) => "Vec::is_empty",
        TypeRef::Builtin("String") => "String::is_empty",
        TypeRef::Map(..) => "std::collections::HashMap::is_empty",
        _ => return None,
    };
    Some(check.to_string())
}

/// Rust keywords that must be escaped as field or module names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "do", "dyn", "else", "enum",
    "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro",
    "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "static", "struct",
    "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where",
    "while", "yield", "abstract", "become",
];

/// Whether `name` cannot be a plain Rust identifier: a keyword, raw-able or not.
pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name) || matches!(name, "self" | "Self" | "super" | "crate" | "_")
}

/// A Go name as a Rust field or function name: snake case, keywords escaped.
pub fn rust_field_name(go: &str) -> String {
    let snake = go.to_snake_case();
    let snake = if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        format!("f_{snake}")
    } else {
        snake
    };
    match snake.as_str() {
        // These cannot be raw identifiers.
        "self" | "super" | "crate" | "_" => format!("{snake}_"),
        s if KEYWORDS.contains(&s) => format!("r#{snake}"),
        _ => snake,
    }
}

/// A module or file name: like a field name, but raw identifiers make poor file names.
pub fn module_name(go: &str) -> String {
    let name = rust_field_name(&go.replace('-', "_"));
    match name.strip_prefix("r#") {
        Some(kw) => format!("{kw}_"),
        None => name,
    }
}

/// The modules of `group: a/b`, e.g. `["a", "b"]`.
pub fn group_modules(group: &str) -> Vec<String> {
    group
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(module_name)
        .collect()
}

/// A handler's Rust function and module name: `GetUserHandler` → `get_user`, as goctl drops
/// the `Handler` suffix.
pub fn handler_module(name: &str) -> String {
    let name = match name.strip_suffix("Handler") {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => name,
    };
    module_name(name)
}

/// A doc string as one line of a comment: whitespace runs, line breaks included, become one
/// space (a contract's text never starts a line of generated code).
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unique(name: String, used: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate
}

fn group(service: &ServiceStmt) -> Group {
    let get = |key: &str| service.server.as_ref().and_then(|s| s.get(key));
    let text = |key: &str| get(key).map(|e| e.text());
    let modules = text("group").map(|g| group_modules(&g)).unwrap_or_default();
    let middlewares = get("middleware")
        .map(|e| {
            e.values
                .iter()
                .map(|v| Middleware {
                    name: v.text.clone(),
                    module: module_name(&v.text),
                })
                .collect()
        })
        .unwrap_or_default();
    let routes = service
        .items
        .iter()
        .map(|item| {
            let name = item.handler.name().map(|(n, _)| n).unwrap_or("handler");
            Route {
                handler: handler_module(name),
                method: item.route.method.name.clone(),
                path: item.route.path.name.clone(),
                request: item
                    .route
                    .request
                    .as_ref()
                    .and_then(|b| b.ty.as_ref())
                    .map(body_type),
                response: item
                    .route
                    .response
                    .as_ref()
                    .and_then(|b| b.ty.as_ref())
                    .map(body_type),
                doc: match &item.doc {
                    Some(AtDoc::Text(v, _)) => Some(one_line(&v.text)),
                    Some(AtDoc::Entries(entries, _)) => entries
                        .iter()
                        .find(|e| e.key.name == "summary" || e.key.name == "desc")
                        .map(|e| one_line(&e.value.text)),
                    None => None,
                }
                .filter(|d| !d.is_empty()),
            }
        })
        .collect();
    Group {
        modules,
        prefix: text("prefix")
            .map(|p| normalize_prefix(&p))
            .unwrap_or_default(),
        jwt: text("jwt"),
        jwt_transition: text("jwtTransition"),
        middlewares,
        timeout_ms: text("timeout").and_then(|t| parse_duration(&t).ok()),
        max_bytes: text("maxBytes").and_then(|m| m.parse().ok()),
        signature: text("signature").is_some_and(|s| s == "true"),
        sse: text("sse").is_some_and(|s| s == "true"),
        routes,
    }
}

/// A request or response body as a Rust type: `T`, `*T` → `T`, `[]T` → `Vec<T>`.
fn body_type(ty: &TypeExpr) -> TypeRef {
    match &ty.kind {
        TypeKind::Named(n) => named(n),
        TypeKind::Pointer(inner) => body_type(inner),
        TypeKind::Slice(inner) => TypeRef::Vec(Box::new(body_type(inner))),
        _ => TypeRef::Builtin("serde_json::Value"),
    }
}

/// A named Go type: a builtin, or one the contract declares.
fn named(go: &str) -> TypeRef {
    builtin(go).map_or_else(|| TypeRef::Declared(type_name(go)), TypeRef::Builtin)
}
