//! What the OpenAPI document needs from the syntax tree that the service model does not keep:
//! the `info` block, `@doc` descriptions, each route's place in the source (for diagnostics),
//! and the numeric limits of `range=` tags (the model keeps them as Rust code).
//!
//! The walk mirrors the lowering's order (files, then statements, then fields), so the n-th
//! group, route and field here is the n-th in the [`crate::model::Service`].

use std::collections::HashMap;

use heck::ToUpperCamelCase;

use crate::api::ast::{
    AtDoc, FieldKind, InfoStmt, Item, ServiceItem, Span, StructBody, TypeDeclKind, TypeKind,
};
use crate::api::loader::Loaded;
use crate::api::lower::type_name;
use crate::api::tag::{NumberRange, TagOption};
use crate::diagnostic::FileId;

/// Where something was written.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// The file.
    pub file: FileId,
    /// The span in it.
    pub span: Span,
}

/// One declared or anonymous struct.
#[derive(Debug, Clone)]
pub struct StructFacts {
    /// `range=` of each field, in field order.
    pub ranges: Vec<Option<NumberRange>>,
}

/// One route.
#[derive(Debug, Clone)]
pub struct RouteFacts {
    /// The route line.
    pub place: Place,
    /// `@doc(desc: ...)` when it differs from the summary.
    pub description: Option<String>,
}

/// Everything read off the syntax tree.
#[derive(Debug, Default)]
pub struct Facts {
    /// `info(...)` entries of the root file, key to text.
    pub info: Vec<(String, String)>,
    /// Structs by their Rust name.
    pub structs: HashMap<String, StructFacts>,
    /// Routes, group by group, in model order.
    pub routes: Vec<Vec<RouteFacts>>,
}

impl Facts {
    /// Reads the facts of a loaded, validated contract.
    pub fn read(loaded: &Loaded) -> Facts {
        let mut facts = Facts::default();
        if let Some(info) = loaded.files[loaded.root]
            .items
            .iter()
            .find_map(|i| match i {
                Item::Info(info) => Some(info),
                _ => None,
            })
        {
            facts.info = info_entries(info);
        }
        for (file, ast) in loaded.iter() {
            for item in &ast.items {
                match item {
                    Item::Type(stmt) => {
                        for decl in &stmt.decls {
                            if let TypeDeclKind::Struct(body) = &decl.kind {
                                facts.add_struct(&type_name(&decl.name.name), body);
                            }
                        }
                    }
                    Item::Service(service) => facts.routes.push(
                        service
                            .items
                            .iter()
                            .map(|item| route_facts(file, item))
                            .collect(),
                    ),
                    _ => {}
                }
            }
        }
        facts
    }

    /// As the lowering names anonymous structs: the parent's name and the field's.
    fn add_struct(&mut self, name: &str, body: &StructBody) {
        let mut ranges = Vec::new();
        for field in &body.fields {
            let range = field.tag.as_ref().and_then(|t| t.binding()).and_then(|b| {
                b.options.iter().find_map(|o| match o {
                    TagOption::Range(r) => Some(r.clone()),
                    _ => None,
                })
            });
            ranges.push(range);
            if let FieldKind::Named {
                name: field_name,
                ty,
            } = &field.kind
            {
                let mut t = ty;
                loop {
                    match &t.kind {
                        TypeKind::Pointer(inner)
                        | TypeKind::Slice(inner)
                        | TypeKind::Array(_, inner) => t = inner,
                        TypeKind::Map(_, value) => t = value,
                        _ => break,
                    }
                }
                if let TypeKind::Struct(inner) = &t.kind {
                    let anon = format!("{name}{}", field_name.name.to_upper_camel_case());
                    self.add_struct(&anon, inner);
                }
            }
        }
        self.structs
            .insert(name.to_string(), StructFacts { ranges });
    }

    /// The `info` entry `key`, if written.
    pub fn info(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn info_entries(info: &InfoStmt) -> Vec<(String, String)> {
    info.entries
        .iter()
        .map(|e| (e.key.name.clone(), e.value.text.clone()))
        .collect()
}

fn route_facts(file: FileId, item: &ServiceItem) -> RouteFacts {
    let description = match &item.doc {
        Some(AtDoc::Entries(entries, _)) => {
            let get = |key: &str| entries.iter().find(|e| e.key.name == key);
            // The model's summary is `summary`, or `desc` when there is no summary.
            get("summary")
                .and(get("desc"))
                .map(|e| e.value.text.trim().to_string())
        }
        _ => None,
    }
    .filter(|d| !d.is_empty());
    RouteFacts {
        place: Place {
            file,
            span: item.route.span,
        },
        description,
    }
}
