//! Wires a model directory into the service around it: the runtime's database feature in
//! `Cargo.toml` and the `mod` line in `src/main.rs`. Both files are yours; the edits only add
//! (a feature to the `rustctl-runtime` dependency, one `mod` line where rustfmt would put it),
//! and are made once: a file that already has them is left byte for byte.

use toml_edit::{Array, DocumentMut, Item, Value};

/// `manifest` with `feature` among the features of its `rustctl-runtime` dependency; `None`
/// when it needs no change (or has no such dependency, or does not parse).
pub fn add_feature(manifest: &str, feature: &str) -> Option<String> {
    let mut doc: DocumentMut = manifest.parse().ok()?;
    let dep = doc.get_mut("dependencies")?.get_mut("rustctl-runtime")?;
    let features = match dep {
        Item::Value(Value::String(version)) => {
            let mut table = toml_edit::InlineTable::new();
            table.insert("version", Value::from(version.value().as_str()));
            table.insert("features", Value::Array(Array::new()));
            *dep = Item::Value(Value::InlineTable(table));
            dep.get_mut("features")?
        }
        Item::Value(Value::InlineTable(t)) => {
            if !t.contains_key("features") {
                t.insert("features", Value::Array(Array::new()));
            }
            // `{ path = "..", features = [..] }`, however the last value was spaced.
            t.fmt();
            dep.get_mut("features")?
        }
        Item::Table(t) => {
            if !t.contains_key("features") {
                t.insert("features", Item::Value(Value::Array(Array::new())));
            }
            dep.get_mut("features")?
        }
        _ => return None,
    };
    let array = features.as_array_mut()?;
    if array.iter().any(|f| f.as_str() == Some(feature)) {
        return None;
    }
    array.push(feature);
    Some(doc.to_string())
}

/// `main` with `mod <module>;` declared, in the sorted place among its `mod` lines (before an
/// attribute that belongs to the next one); `None` when it is declared already or `main` has
/// no `mod` lines to join.
pub fn add_mod(main: &str, module: &str) -> Option<String> {
    let lines: Vec<&str> = main.lines().collect();
    let declared = |l: &str| {
        let l = l.trim();
        l == format!("mod {module};") || l == format!("pub mod {module};")
    };
    if lines.iter().any(|l| declared(l)) {
        return None;
    }
    let name_of = |l: &str| {
        l.strip_prefix("pub ")
            .unwrap_or(l)
            .strip_prefix("mod ")
            .and_then(|r| r.strip_suffix(';'))
            .map(str::to_owned)
    };
    let mods: Vec<usize> = (0..lines.len())
        .filter(|&i| name_of(lines[i]).is_some())
        .collect();
    let last = *mods.last()?;
    let mut at = last + 1;
    for &i in &mods {
        if name_of(lines[i]).is_some_and(|n| n.as_str() > module) {
            at = i;
            // Attribute and comment lines just above belong to that declaration.
            while at > 0 && {
                let above = lines[at - 1].trim_start();
                above.starts_with("#[") || above.starts_with("//")
            } {
                at -= 1;
            }
            break;
        }
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.insert(at, format!("mod {module};"));
    let mut text = out.join("\n");
    if main.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feature_joins_any_form_of_the_dependency() {
        let path =
            "[dependencies]\nrustctl-runtime = { path = \"../runtime\" } # ours\nserde = \"1\"\n";
        assert_eq!(
            add_feature(path, "postgres").unwrap(),
            "[dependencies]\nrustctl-runtime = { path = \"../runtime\", features = [\"postgres\"] } # ours\nserde = \"1\"\n"
        );
        let version = "[dependencies]\nrustctl-runtime = \"0.1.0\"\n";
        assert_eq!(
            add_feature(version, "sqlite").unwrap(),
            "[dependencies]\nrustctl-runtime = { version = \"0.1.0\", features = [\"sqlite\"] }\n"
        );
        let has = "[dependencies]\nrustctl-runtime = { path = \"r\", features = [\"sqlite\"] }\n";
        assert_eq!(add_feature(has, "sqlite"), None);
        assert!(
            add_feature(has, "mysql")
                .unwrap()
                .contains("[\"sqlite\", \"mysql\"]")
        );
        let table = "[dependencies.rustctl-runtime]\npath = \"r\"\n";
        assert!(
            add_feature(table, "mysql")
                .unwrap()
                .contains("features = [\"mysql\"]")
        );
        assert_eq!(
            add_feature("[dependencies]\nserde = \"1\"\n", "mysql"),
            None
        );
    }

    #[test]
    fn the_mod_line_goes_where_rustfmt_would_put_it() {
        let main =
            "mod config;\nmod logic;\n#[rustfmt::skip]\nmod server;\nmod svc;\n\nfn main() {}\n";
        assert_eq!(
            add_mod(main, "model").unwrap(),
            "mod config;\nmod logic;\nmod model;\n#[rustfmt::skip]\nmod server;\nmod svc;\n\nfn main() {}\n"
        );
        assert_eq!(
            add_mod("mod a;\nmod b;\n", "z").unwrap(),
            "mod a;\nmod b;\nmod z;\n"
        );
        assert_eq!(add_mod("mod model;\n", "model"), None);
        assert_eq!(add_mod("fn main() {}\n", "model"), None);
    }
}
