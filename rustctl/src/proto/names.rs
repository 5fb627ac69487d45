//! Checks that the services and RPCs of a `.proto` file become distinct Rust names and files,
//! as `api::names` does for `.api` contracts: `service Foo` and `service foo` would share
//! `src/server/foo.rs`, RPCs `GetUser` and `get_user` one logic file and one tonic method.

use std::collections::HashMap;

use super::Compiled;
use crate::codegen::Style;
use crate::diagnostic::display_path;
use crate::model::RpcContract;

/// One message per clash, each naming both places as `file:line:column`.
pub fn check(compiled: &Compiled, rpc: &RpcContract, style: Style) -> Vec<String> {
    let file = display_path(&compiled.file);
    let at = |path: &[i32]| match compiled.locations.get(path) {
        Some((line, column)) => format!("{file}:{line}:{column}"),
        None => file.clone(),
    };
    let mut out = Vec::new();
    // One message per place, however many of its names clash.
    let mut reported = std::collections::HashSet::new();
    let mut clash = |seen: &mut HashMap<String, (String, String)>,
                     key: String,
                     what: &str,
                     name: &str,
                     place: String| {
        match seen.get(&key) {
            Some((first, first_place)) => {
                if reported.insert(place.clone()) {
                    out.push(format!(
                        "{place}: {what} `{name}` and `{first}` ({first_place}) both become \
                         `{key}`; rename one of them"
                    ));
                }
            }
            None => {
                seen.insert(key, (name.to_string(), place));
            }
        }
    };
    let mut services = HashMap::new();
    for (i, service) in rpc.services.iter().enumerate() {
        let path = [6, i as i32, 1];
        clash(
            &mut services,
            service.module.clone(),
            "service",
            &service.name,
            at(&path),
        );
        clash(
            &mut services,
            format!("{}_server", service.tonic_module),
            "service",
            &service.name,
            at(&path),
        );
        let mut methods = HashMap::new();
        for (j, method) in service.methods.iter().enumerate() {
            let path = [6, i as i32, 2, j as i32, 1];
            clash(
                &mut methods,
                format!("{}.rs", style.file(&method.module)),
                "rpc",
                &method.name,
                at(&path),
            );
            clash(
                &mut methods,
                format!("fn {}", method.rust_name),
                "rpc",
                &method.name,
                at(&path),
            );
        }
    }
    out
}
