//! Checks that every contract name becomes a distinct, valid Rust name and file.
//!
//! Lowering turns contract names into Rust identifiers and file names (`GetUser` and
//! `get_user` both become `get_user.rs`; groups `Admin` and `admin` both become the module
//! `admin`). Two names that land on one file or one Rust item would silently merge routes, so
//! each such pair is an error naming both places. The check depends on `--style` because
//! `lower` file names merge more names than `snake` ones.

use std::collections::HashMap;

use super::ast::*;
use super::loader::Loaded;
use super::lower::{group_modules, handler_module, module_name, type_name};
use crate::codegen::Style;
use crate::diagnostic::{Diagnostic, FileId};

/// Rust names that generated code uses unqualified: a contract type may not take them.
/// (`Self` cannot be declared at all; the others would shadow what generated code means.)
const RESERVED_TYPES: &[&str] = &[
    "Self",
    "String",
    "Option",
    "Vec",
    "Box",
    "Result",
    "Default",
    "Some",
    "None",
    "Ok",
    "Err",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "ToString",
    "ToOwned",
    "Iterator",
    "IntoIterator",
    "From",
    "Into",
    "AsRef",
    "AsMut",
    "TryFrom",
    "TryInto",
    "PartialEq",
    "Eq",
    "PartialOrd",
    "Ord",
];

/// One place a name comes from.
#[derive(Clone, Copy)]
struct Place<'a> {
    file: FileId,
    span: Span,
    /// The name as written.
    name: &'a str,
    /// What it names, for messages: `handler`, `group`, `type`, ...
    what: &'static str,
}

/// Every problem with the names of a contract that validated, for file names in `style`.
pub fn check(loaded: &Loaded, style: Style) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_ascii(loaded, &mut out);
    check_types(loaded, &mut out);
    check_route_files(loaded, style, &mut out);
    check_middlewares(loaded, &mut out);
    out
}

/// Names become Rust identifiers and file names: keep them ASCII, so no two spellings of one
/// Unicode name (NFC or not, confusable letters) can reach the output, and generated code
/// stays free of the compiler's Unicode lints.
fn check_ascii(loaded: &Loaded, out: &mut Vec<Diagnostic>) {
    let mut check = |file: FileId, ident: &Ident, what: &str| {
        if !ident.name.is_ascii() {
            out.push(
                Diagnostic::error(
                    file,
                    ident.span,
                    format!("{what} `{}` is not ASCII", ident.name),
                )
                .with_help(
                    "rustctl turns this name into a Rust identifier and a file name: \
                     use ASCII letters, digits and `_`",
                ),
            );
        }
    };
    for (file, ast) in loaded.iter() {
        for item in &ast.items {
            match item {
                Item::Type(t) => {
                    for decl in &t.decls {
                        check(file, &decl.name, "type name");
                        if let TypeDeclKind::Struct(body) = &decl.kind {
                            visit_fields(body, &mut |f| check(file, f.name(), "field name"));
                        }
                    }
                }
                Item::Service(s) => {
                    check(file, &s.name, "service name");
                    for route in &s.items {
                        if let Some((name, span)) = route.handler.name() {
                            let ident = Ident {
                                name: name.to_string(),
                                span,
                            };
                            check(file, &ident, "handler name");
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Calls `f` on every field of `body` and of the anonymous structs inside it.
fn visit_fields(body: &StructBody, f: &mut dyn FnMut(&Field)) {
    for field in &body.fields {
        f(field);
        if let FieldKind::Named { ty, .. } = &field.kind {
            visit_type(ty, f);
        }
    }
}

fn visit_type(ty: &TypeExpr, f: &mut dyn FnMut(&Field)) {
    match &ty.kind {
        TypeKind::Pointer(inner) | TypeKind::Slice(inner) | TypeKind::Array(_, inner) => {
            visit_type(inner, f)
        }
        TypeKind::Map(_, value) => visit_type(value, f),
        TypeKind::Struct(body) => visit_fields(body, f),
        TypeKind::Named(_) | TypeKind::Interface => {}
    }
}

/// Declared and anonymous struct types: one Rust name each, none reserved.
fn check_types(loaded: &Loaded, out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<String, Place<'_>> = HashMap::new();
    for (file, ast) in loaded.iter() {
        for item in &ast.items {
            let Item::Type(t) = item else { continue };
            for decl in &t.decls {
                let TypeDeclKind::Struct(body) = &decl.kind else {
                    continue;
                };
                let rust = type_name(&decl.name.name);
                let place = Place {
                    file,
                    span: decl.name.span,
                    name: &decl.name.name,
                    what: "type",
                };
                claim(&mut seen, rust.clone(), place, out);
                anonymous_types(&rust, body, file, &mut seen, out);
            }
        }
    }
    let mut owners: Vec<(&String, &Place<'_>)> = seen.iter().collect();
    owners.sort_by_key(|(_, p)| (p.file, p.span.start));
    for (rust, place) in owners {
        if RESERVED_TYPES.contains(&rust.as_str()) {
            out.push(
                Diagnostic::error(
                    place.file,
                    place.span,
                    format!("type `{}` becomes Rust's `{rust}`", place.name),
                )
                .with_help(if rust == "Self" {
                    "`Self` is a Rust keyword: rename the type".to_string()
                } else {
                    format!(
                        "generated code uses Rust's own `{rust}` (the builtins map onto such \
                         names); rename the type"
                    )
                }),
            );
        }
    }
}

/// The names lowering gives anonymous structs: the parent's name and the field's.
fn anonymous_types<'a>(
    parent: &str,
    body: &'a StructBody,
    file: FileId,
    seen: &mut HashMap<String, Place<'a>>,
    out: &mut Vec<Diagnostic>,
) {
    for field in &body.fields {
        let FieldKind::Named { name, ty } = &field.kind else {
            continue;
        };
        let mut ty = ty;
        loop {
            match &ty.kind {
                TypeKind::Pointer(inner) | TypeKind::Slice(inner) | TypeKind::Array(_, inner) => {
                    ty = inner
                }
                TypeKind::Map(_, value) => ty = value,
                _ => break,
            }
        }
        if let TypeKind::Struct(inner) = &ty.kind {
            let rust = format!(
                "{parent}{}",
                heck::ToUpperCamelCase::to_upper_camel_case(name.name.as_str())
            );
            let place = Place {
                file,
                span: name.span,
                name: &name.name,
                what: "anonymous struct of field",
            };
            claim(seen, rust.clone(), place, out);
            anonymous_types(&rust, inner, file, seen, out);
        }
    }
}

/// Handler and logic files: in each module directory, group directories and handler files
/// must all have distinct names.
fn check_route_files(loaded: &Loaded, style: Style, out: &mut Vec<Diagnostic>) {
    // (directory modules, entry name) → the place that claimed it.
    let mut entries: HashMap<(Vec<String>, String), Place<'_>> = HashMap::new();
    for (file, ast) in loaded.iter() {
        for item in &ast.items {
            let Item::Service(service) = item else {
                continue;
            };
            let group = service.server.as_ref().and_then(|s| s.get("group"));
            let modules = group.map(|g| group_modules(&g.text())).unwrap_or_default();
            if let Some(entry) = group
                && let Some(value) = entry.values.first()
            {
                for depth in 0..modules.len() {
                    let place = Place {
                        file,
                        span: value.span,
                        name: &value.text,
                        what: "group",
                    };
                    let key = (modules[..depth].to_vec(), style.file(&modules[depth]));
                    // One group written the same way in several blocks is one module.
                    match entries.get(&key) {
                        Some(first) if first.what == "group" && first.name == value.text => {}
                        _ => claim(&mut entries, key, place, out),
                    }
                }
            }
            for route in &service.items {
                let Some((name, span)) = route.handler.name() else {
                    continue;
                };
                let key = (modules.clone(), style.file(&handler_module(name)));
                let place = Place {
                    file,
                    span,
                    name,
                    what: "handler",
                };
                claim(&mut entries, key, place, out);
            }
        }
    }
}

/// Middlewares are modules of `src/middleware/` and names in the route table.
fn check_middlewares(loaded: &Loaded, out: &mut Vec<Diagnostic>) {
    let mut modules: HashMap<String, Place<'_>> = HashMap::new();
    for (file, ast) in loaded.iter() {
        for item in &ast.items {
            let Item::Service(service) = item else {
                continue;
            };
            let Some(entry) = service.server.as_ref().and_then(|s| s.get("middleware")) else {
                continue;
            };
            for value in &entry.values {
                let key = module_name(&value.text);
                match modules.get(&key) {
                    Some(first) if first.name == value.text => {}
                    _ => claim(
                        &mut modules,
                        key,
                        Place {
                            file,
                            span: value.span,
                            name: &value.text,
                            what: "middleware",
                        },
                        out,
                    ),
                }
            }
        }
    }
}

/// Records `place` as the owner of `key`, or reports the clash with the first owner.
fn claim<'a, K: std::hash::Hash + Eq + Clone + Described>(
    seen: &mut HashMap<K, Place<'a>>,
    key: K,
    place: Place<'a>,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(first) = seen.get(&key) {
        out.push(
            Diagnostic::error(
                place.file,
                place.span,
                format!(
                    "{} `{}` and {} `{}` both become {}",
                    place.what,
                    place.name,
                    first.what,
                    first.name,
                    key.describe()
                ),
            )
            .with_note(
                first.file,
                first.span,
                format!("{} `{}`", first.what, first.name),
            )
            .with_help("rename one of them"),
        );
    } else {
        seen.insert(key, place);
    }
}

/// How a generated name reads in a message.
trait Described {
    fn describe(&self) -> String;
}

impl Described for String {
    fn describe(&self) -> String {
        format!("`{self}`")
    }
}

impl Described for (Vec<String>, String) {
    fn describe(&self) -> String {
        let mut path = self.0.clone();
        path.push(self.1.clone());
        format!("`{}` (one file, one module)", path.join("/"))
    }
}
