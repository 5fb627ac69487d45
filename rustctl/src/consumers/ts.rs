//! `rustctl api ts`: a typed TypeScript client with no runtime dependencies. `types.ts` holds
//! the contract's types as interfaces; `client.ts` one method per route, placing each field in
//! the path, query string, headers or JSON body, with a bearer-token hook, an `AbortSignal`
//! per call and the runtime's error body as a typed `ApiError`.
//!
//! Contract text reaches the TypeScript only as string literals written here ([`ts_str`]),
//! property names that are plain identifiers or such literals ([`property`]), and comments
//! that cannot close themselves ([`comment`]). Type names are the contract's identifiers, which
//! are TypeScript identifiers too; they live in `types.ts` alone and `client.ts` reaches them
//! as `T.Name`, so no contract name can shadow the client's own.

use serde::Serialize;

use super::{Planned, Wire, WireField, WireRoute, left_out};
use crate::api::loader::Loaded;
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, GENERATED_HEADER, GenError, Ownership};
use crate::model::{Service, Source, TypeRef};
use crate::openapi::facts::Facts;

#[derive(Serialize)]
struct Context {
    header: &'static str,
    contract: String,
    service: String,
    types: Vec<TypeView>,
    routes: Vec<RouteView>,
}

#[derive(Serialize)]
struct TypeView {
    name: String,
    fields: Vec<FieldView>,
}

#[derive(Serialize)]
struct FieldView {
    /// The property name, written safely (`| safe` in the template).
    property: String,
    /// `?` when it may be left out.
    optional: bool,
    /// The TypeScript type (`| safe`: built from names and punctuation only).
    ty: String,
    /// What the runtime checks, for the doc comment.
    rules: Option<String>,
}

#[derive(Serialize)]
struct RouteView {
    /// The method's name: a validated identifier.
    name: String,
    doc: String,
    /// `(req: T.X, call?: CallOptions)` and the like (`| safe`).
    params: String,
    /// The resolved type (`| safe`).
    returns: String,
    sse: bool,
    /// The request literal handed to `send` (`| safe`: literals from [`ts_str`] and
    /// property reads `req[...]`).
    request: String,
}

/// The two files of the client.
pub fn plan(
    service: &Service,
    loaded: &Loaded,
    templates: &Templates,
) -> Result<Planned, GenError> {
    let facts = Facts::read(loaded);
    let wire = Wire::of(service, &facts);
    let context = Context {
        header: GENERATED_HEADER,
        contract: service.contract.clone(),
        service: service.name.clone(),
        types: wire
            .types
            .iter()
            .map(|t| TypeView {
                name: t.name.clone(),
                fields: t.fields.iter().map(|f| field_view(f, "")).collect(),
            })
            .collect(),
        routes: wire.routes.iter().map(route_view).collect(),
    };
    let mut plan = FilePlan::default();
    plan.add(
        "types.ts",
        templates.render("ts/types.ts", &context)?,
        Ownership::Generated,
    );
    plan.add(
        "client.ts",
        templates.render("ts/client.ts", &context)?,
        Ownership::Generated,
    );
    plan.overrides = templates
        .overrides
        .iter()
        .filter(|name| name.starts_with("ts/"))
        .cloned()
        .collect();
    Ok(Planned {
        plan,
        warnings: left_out(service, &facts),
    })
}

fn field_view(field: &WireField, prefix: &str) -> FieldView {
    let mut rules = Vec::new();
    if let Some(d) = &field.default {
        rules.push(format!("default {d}"));
    }
    if let Some(o) = &field.options {
        rules.push(format!("one of {o}"));
    }
    if let Some(r) = &field.range {
        rules.push(format!("range {r}"));
    }
    FieldView {
        property: property(&field.key),
        optional: !field.required,
        ty: ts_type(&field.ty, prefix),
        rules: (!rules.is_empty()).then(|| comment(&rules.join("; "))),
    }
}

fn route_view(route: &WireRoute) -> RouteView {
    let prefix = "T.";
    let mut req_type = route.request.as_ref().map(|r| format!("{prefix}{r}"));
    if !route.unbound_params.is_empty() {
        let extra: Vec<String> = route
            .unbound_params
            .iter()
            .map(|p| format!("{}: string | number", property(p)))
            .collect();
        let extra = format!("{{ {} }}", extra.join("; "));
        req_type = Some(match req_type {
            Some(t) => format!("{t} & {extra}"),
            None => extra,
        });
    }
    let params = match &req_type {
        Some(t) => format!("req: {t}, call?: CallOptions"),
        None => "call?: CallOptions".to_string(),
    };
    let item = route
        .response
        .as_ref()
        .map_or_else(|| "void".to_string(), |t| ts_type(t, prefix));
    let returns = if route.sse {
        format!("AsyncGenerator<{item}, void, undefined>")
    } else {
        format!("Promise<{item}>")
    };
    let read = |key: &str| format!("req[{}]", ts_str(key));
    // The path as literal parts and parameter reads, joined by the client (each read encoded).
    let mut path_parts = Vec::new();
    let mut literal = String::new();
    for (i, seg) in route.path.split('/').enumerate() {
        if i > 0 {
            literal.push('/');
        }
        match seg.strip_prefix(':') {
            Some(name) => {
                if !literal.is_empty() {
                    path_parts.push(ts_str(&std::mem::take(&mut literal)));
                }
                path_parts.push(format!("{{ param: {} }}", read(name)));
            }
            None => literal.push_str(seg),
        }
    }
    if !literal.is_empty() {
        path_parts.push(ts_str(&literal));
    }
    let pairs = |source: Source| -> String {
        let items: Vec<String> = route
            .fields
            .iter()
            .filter(|f| f.source == source)
            .map(|f| format!("[{}, {}]", ts_str(&f.key), read(&f.key)))
            .collect();
        format!("[{}]", items.join(", "))
    };
    let body: Vec<String> = route
        .fields
        .iter()
        .filter(|f| f.source == Source::Json)
        .map(|f| format!("[{}, {}]", ts_str(&f.key), read(&f.key)))
        .collect();
    let request = format!(
        "{{ method: {}, path: [{}], query: {}, headers: {}, body: {}, auth: {}, json: {} }}",
        ts_str(&route.method.to_uppercase()),
        path_parts.join(", "),
        pairs(Source::Form),
        pairs(Source::Header),
        if body.is_empty() {
            "undefined".to_string()
        } else {
            format!("[{}]", body.join(", "))
        },
        route.jwt,
        route.response.is_some(),
    );
    let doc = route
        .doc
        .clone()
        .unwrap_or_else(|| format!("{} {}", route.method.to_uppercase(), route.path));
    RouteView {
        name: route.id.clone(),
        doc: comment(&doc),
        params,
        returns,
        sse: route.sse,
        request,
    }
}

/// The TypeScript type of a wire value; declared types get `prefix` (`T.` in `client.ts`).
fn ts_type(ty: &TypeRef, prefix: &str) -> String {
    match ty {
        TypeRef::Builtin("String") => "string".into(),
        TypeRef::Builtin("bool") => "boolean".into(),
        TypeRef::Builtin("serde_json::Value") => "unknown".into(),
        // Every other builtin is a number; integers past 2^53 lose precision in JavaScript.
        TypeRef::Builtin(_) => "number".into(),
        TypeRef::Declared(name) => format!("{prefix}{name}"),
        TypeRef::Option(t) => format!("{} | null", ts_type(t, prefix)),
        TypeRef::Boxed(t) => ts_type(t, prefix),
        TypeRef::Vec(t) | TypeRef::Array(t, _) => {
            let item = ts_type(t, prefix);
            if item.contains(' ') {
                format!("({item})[]")
            } else {
                format!("{item}[]")
            }
        }
        TypeRef::Map(_, v) => format!("{{ [key: string]: {} }}", ts_type(v, prefix)),
    }
}

/// `text` as a TypeScript string literal: JSON's escaping, plus the line and paragraph
/// separators and the bidi controls escaped, so the literal reads as it runs.
pub fn ts_str(text: &str) -> String {
    escape_invisible(&serde_json::Value::String(text.to_string()).to_string())
}

/// JSON text (in which these can only stand inside strings) with the line and paragraph
/// separators and the bidi controls written as `\uXXXX`.
pub fn escape_invisible(json: &str) -> String {
    json.chars()
        .map(|c| match c {
            '\u{2028}'
            | '\u{2029}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' => {
                format!("\\u{:04x}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}

/// A property name: bare when it is a plain identifier, a string literal otherwise.
pub fn property(key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain { key.to_string() } else { ts_str(key) }
}

/// Text for a `/** ... */` comment: on one line, and unable to end the comment.
pub fn comment(text: &str) -> String {
    crate::codegen::templates::one_line(text).replace("*/", "*\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_names_cannot_break_out() {
        assert_eq!(ts_str("a\"b\n`${x}`"), "\"a\\\"b\\n`${x}`\"");
        assert_eq!(ts_str("\u{2028}"), "\"\\u2028\"");
        assert_eq!(property("patientId"), "patientId");
        assert_eq!(property("x-user-role"), "\"x-user-role\"");
        assert_eq!(comment("end */ here\nnext"), "end *\\/ here next");
    }
}
