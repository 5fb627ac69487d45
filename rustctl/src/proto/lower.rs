//! Compiled `.proto` descriptors lowered into the [`RpcContract`] model, with every type named
//! the way prost and tonic name it.

use std::collections::HashMap;

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost_types::DescriptorProto;

use super::Compiled;
use crate::model::{RpcContract, RpcMethod, RpcService};

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
                    RpcService {
                        module: name.to_snake_case(),
                        rust_name: name.to_upper_camel_case(),
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
                                    types.get(&t).cloned().unwrap_or_else(|| well_known(&t))
                                };
                                RpcMethod {
                                    rust_name: name.to_snake_case(),
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

/// `pb::pkg::outer::Inner`, as prost lays types out.
fn rust_path(package: &str, outer: &[String], name: &str) -> String {
    let mut parts = vec!["pb".to_string()];
    if !package.is_empty() {
        parts.push(package_path(package));
    }
    parts.extend(outer.iter().map(|o| o.to_snake_case()));
    parts.push(name.to_upper_camel_case());
    parts.join("::")
}

/// `a.b_c` → `a::b_c`
fn package_path(package: &str) -> String {
    package
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_snake_case())
        .collect::<Vec<_>>()
        .join("::")
}

/// Types prost maps onto Rust or `prost_types` instead of generating them.
fn well_known(name: &str) -> String {
    match name.strip_prefix(".google.protobuf.") {
        Some("Empty") => "()".into(),
        Some(other) => format!("::prost_types::{other}"),
        None => format!("pb::{}", name.trim_start_matches('.').replace('.', "::")),
    }
}
