//! Compiled `.proto` descriptors lowered into the [`RpcContract`] model, with every type named
//! the way prost and tonic name it.

use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost_types::DescriptorProto;

use super::Compiled;
use crate::model::{Message, RpcContract, RpcMethod, RpcService};

/// Lowers the services of the compiled root file.
pub fn lower(compiled: &Compiled) -> RpcContract {
    let mut types = HashMap::new();
    for file in &compiled.descriptors.file {
        let package = file.package.clone().unwrap_or_default();
        if package == "google.protobuf" {
            continue; // prost maps the well-known types onto `()` and `prost_types`
        }
        for message in &file.message_type {
            index(&package, &[], message, &mut types);
        }
        for e in &file.enum_type {
            let name = e.name.clone().unwrap_or_default();
            types.insert(
                qualified(&package, &[], &name),
                rust_path(&package, &[], &name),
            );
        }
    }
    let stem = compiled
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "service".into());
    let base = stem
        .trim_end_matches("-rpc")
        .trim_end_matches("_rpc")
        .replace('_', "-");
    let crate_name = format!("{base}-rpc");
    let root = compiled
        .descriptors
        .file
        .iter()
        .find(|f| f.name.as_deref() == Some(compiled.root.as_str()));
    let services = root
        .map(|file| {
            let package = file.package.clone().unwrap_or_default();
            file.service
                .iter()
                .map(|s| {
                    let name = s.name.clone().unwrap_or_default();
                    let rust_name = prost_type_name(&name);
                    RpcService {
                        handler: format!("{rust_name}Handler"),
                        client: format!("{rust_name}Client"),
                        api: format!("{rust_name}Api"),
                        module: module_name(&name),
                        tonic_module: tonic_snake_case(&rust_name),
                        rust_name,
                        full_name: if package.is_empty() {
                            name.clone()
                        } else {
                            format!("{package}.{name}")
                        },
                        package_path: package_path(&package),
                        methods: s
                            .method
                            .iter()
                            .map(|m| {
                                let name = m.name.clone().unwrap_or_default();
                                let resolve = |t: &Option<String>| {
                                    let t = t.clone().unwrap_or_default();
                                    match types.get(&t) {
                                        Some(path) => Message::Local(path.clone()),
                                        None => well_known(&t),
                                    }
                                };
                                RpcMethod {
                                    rust_name: prost_fn_name(&name),
                                    module: module_name(&name),
                                    // tonic names the stream type after the method as declared.
                                    stream_type: format!("{name}Stream"),
                                    input: resolve(&m.input_type),
                                    output: resolve(&m.output_type),
                                    client_streaming: m.client_streaming(),
                                    server_streaming: m.server_streaming(),
                                    name,
                                }
                            })
                            .collect(),
                        name,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    RpcContract {
        lib_name: crate_name.replace('-', "_"),
        crate_name,
        name: base,
        proto: compiled
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        services,
    }
}

fn index(
    package: &str,
    outer: &[String],
    message: &DescriptorProto,
    out: &mut HashMap<String, String>,
) {
    let name = message.name.clone().unwrap_or_default();
    out.insert(
        qualified(package, outer, &name),
        rust_path(package, outer, &name),
    );
    let mut nested = outer.to_vec();
    nested.push(name);
    for inner in &message.nested_type {
        index(package, &nested, inner, out);
    }
    for e in &message.enum_type {
        let n = e.name.clone().unwrap_or_default();
        out.insert(
            qualified(package, &nested, &n),
            rust_path(package, &nested, &n),
        );
    }
}

/// `.pkg.Outer.Inner`, as descriptors name types.
fn qualified(package: &str, outer: &[String], name: &str) -> String {
    let mut parts = Vec::new();
    if !package.is_empty() {
        parts.push(package.to_string());
    }
    parts.extend(outer.iter().cloned());
    parts.push(name.to_string());
    format!(".{}", parts.join("."))
}

/// `pkg::outer::Inner`: the path below `pb`, as prost lays types out.
fn rust_path(package: &str, outer: &[String], name: &str) -> String {
    let mut parts = Vec::new();
    if !package.is_empty() {
        parts.push(package_path(package));
    }
    parts.extend(outer.iter().map(|o| prost_fn_name(o)));
    parts.push(prost_type_name(name));
    parts.join("::")
}

/// `a.b_c` → `a::b_c`
fn package_path(package: &str) -> String {
    package
        .split('.')
        .filter(|s| !s.is_empty())
        .map(prost_fn_name)
        .collect::<Vec<_>>()
        .join("::")
}

// prost-build and tonic-build name things with rules of their own (prost-build's `ident.rs`,
// tonic-build's `naive_snake_case`), which they do not export. The generated glue must name
// exactly what they generate, so the rules are repeated here; `tests/compile_hostile.rs`
// builds a service full of keywords to catch any drift.

/// prost's identifier escaping: keywords become raw identifiers, the few that cannot be raw
/// get a `_`.
fn prost_sanitize(ident: String) -> String {
    match ident.as_str() {
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        s if crate::api::lower::is_keyword(s) => format!("r#{ident}"),
        _ => ident,
    }
}

/// A message, enum or service type name as prost writes it (`Self` → `Self_`).
fn prost_type_name(name: &str) -> String {
    prost_sanitize(name.to_upper_camel_case())
}

/// A module, field or method name as prost writes it (`type` → `r#type`).
fn prost_fn_name(name: &str) -> String {
    prost_sanitize(name.to_snake_case())
}

/// tonic-build's module name for a service (`{name}_server`, `{name}_client`): each upper-case
/// letter starts a new word, so `HTTPGateway` gives `h_t_t_p_gateway`.
fn tonic_snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c.to_ascii_lowercase());
        if chars.peek().is_some_and(|n| n.is_uppercase()) {
            out.push('_');
        }
    }
    out
}

/// rustctl's own file and module name for a service or method: snake case, with a `_` after a
/// keyword (a raw identifier makes a poor file name).
fn module_name(name: &str) -> String {
    crate::api::lower::module_name(name)
}

/// Types prost maps onto Rust or `prost_types` instead of generating them.
fn well_known(name: &str) -> Message {
    match name.strip_prefix(".google.protobuf.") {
        Some("Empty") => Message::Unit,
        Some(other) => Message::WellKnown(other.to_string()),
        None => Message::Local(name.trim_start_matches('.').replace('.', "::")),
    }
}
