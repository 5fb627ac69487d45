//! `rustctl api doc`: one markdown page per service (as `goctl api doc`): each route with its
//! request fields (where each goes, whether it must be sent, what the runtime checks), its
//! response, the errors it can answer with and example bodies; then every type.
//!
//! Contract text reaches the page only through [`md`] (one line, markdown and HTML
//! punctuation escaped) or inside a code fence longer than any backtick run it holds.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use super::{Planned, Wire, WireField, WireRoute, left_out};
use crate::api::loader::Loaded;
use crate::codegen::templates::Templates;
use crate::codegen::{FilePlan, GENERATED_HEADER, GenError, Ownership};
use crate::model::{Service, Source, TypeRef};
use crate::openapi::facts::Facts;
use crate::openapi::schema::{Scalar, split_options};

#[derive(Serialize)]
struct Context {
    header: &'static str,
    title: String,
    description: Option<String>,
    service: String,
    contract: String,
    routes: Vec<RouteView>,
    types: Vec<TypeView>,
}

#[derive(Serialize)]
struct RouteView {
    number: usize,
    method: String,
    path: String,
    doc: Option<String>,
    handler: String,
    group: Option<String>,
    jwt: bool,
    sse: bool,
    request: Option<String>,
    fields: Vec<FieldView>,
    response: Option<String>,
    /// Example request body, fenced (`| safe`: JSON in a fence it cannot close).
    request_example: Option<String>,
    response_example: Option<String>,
    errors: String,
}

#[derive(Serialize)]
struct TypeView {
    name: String,
    fields: Vec<FieldView>,
}

#[derive(Serialize)]
struct FieldView {
    key: String,
    place: &'static str,
    ty: String,
    required: bool,
    rules: String,
}

/// The page of `service`, `<service>.md`.
pub fn plan(
    service: &Service,
    loaded: &Loaded,
    templates: &Templates,
) -> Result<Planned, GenError> {
    let facts = Facts::read(loaded);
    let wire = Wire::of(service, &facts);
    let context = Context {
        header: GENERATED_HEADER.trim_start_matches("// "),
        title: md(facts.info("title").unwrap_or(&service.name)),
        description: facts.info("desc").map(md),
        service: md(&service.name),
        contract: md(&service.contract),
        routes: wire
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| route_view(i + 1, r, &wire))
            .collect(),
        types: wire
            .types
            .iter()
            .map(|t| TypeView {
                name: md(&t.name),
                fields: t.fields.iter().map(field_view).collect(),
            })
            .collect(),
    };
    let mut plan = FilePlan::default();
    plan.add(
        format!("{}.md", service.name),
        templates.render("doc/service.md", &context)?,
        Ownership::Generated,
    );
    plan.overrides = templates
        .overrides
        .iter()
        .filter(|name| name.starts_with("doc/"))
        .cloned()
        .collect();
    Ok(Planned {
        plan,
        warnings: left_out(service, &facts),
    })
}

fn route_view(number: usize, route: &WireRoute, wire: &Wire) -> RouteView {
    let body: Vec<&WireField> = route
        .fields
        .iter()
        .filter(|f| f.source == Source::Json)
        .collect();
    let request_example = (!body.is_empty()).then(|| {
        let object = body
            .iter()
            .map(|f| (f.key.clone(), field_example(f, wire, 0)))
            .collect();
        fenced(&Example::Object(object))
    });
    let response_example = route
        .response
        .as_ref()
        .map(|t| fenced(&example(t, wire, 0)));
    let mut errors = Vec::new();
    if route.request.is_some() {
        errors.push("400 (a field that does not bind; `msg` names it)");
        errors.push("413 (body over `MaxBytes`)");
    }
    if route.jwt {
        errors.push("401 (no or an invalid bearer token)");
    }
    if route.signature {
        errors.push("403 (the request signature does not verify)");
    }
    if route.path.contains("/:") {
        errors.push("404");
    }
    errors.push("429 (rate limited, with `Retry-After`)");
    errors.push("500");
    errors.push("503 (overloaded or timed out)");
    errors.push("any other status logic answers with");
    RouteView {
        number,
        method: route.method.to_uppercase(),
        path: md(&route.path),
        doc: route.doc.as_deref().map(md),
        handler: md(&route.id),
        group: (!route.group.is_empty()).then(|| md(&route.group)),
        jwt: route.jwt,
        sse: route.sse,
        request: route.request.as_deref().map(md),
        fields: route.fields.iter().map(field_view).collect(),
        response: route.response.as_ref().map(|t| md(&type_text(t))),
        request_example,
        response_example,
        errors: errors.join(", "),
    }
}

fn field_view(field: &WireField) -> FieldView {
    let mut rules = Vec::new();
    if let Some(d) = &field.default {
        rules.push(format!("default `{}`", md_code(d)));
    }
    if let Some(o) = &field.options {
        let options: Vec<String> = split_options(o)
            .iter()
            .map(|o| format!("`{}`", md_code(o)))
            .collect();
        rules.push(format!("one of {}", options.join(", ")));
    }
    if let Some(r) = &field.range {
        rules.push(format!("range `{}`", md_code(r)));
    }
    FieldView {
        key: md(&field.key),
        place: match field.source {
            Source::Json => "body",
            Source::Path => "path",
            Source::Form => "query",
            Source::Header => "header",
        },
        ty: md(&type_text(&field.ty)),
        required: field.required,
        rules: rules.join("; "),
    }
}

/// A type as a reader sees it: `string`, `[]Answer`, `map[string]int64`, `Answer | null`.
fn type_text(ty: &TypeRef) -> String {
    match ty {
        TypeRef::Builtin("String") => "string".into(),
        TypeRef::Builtin("serde_json::Value") => "any".into(),
        TypeRef::Builtin(b) => (*b).into(),
        TypeRef::Declared(name) => name.clone(),
        TypeRef::Option(t) => format!("{} or null", type_text(t)),
        TypeRef::Boxed(t) => type_text(t),
        TypeRef::Vec(t) => format!("[]{}", type_text(t)),
        TypeRef::Array(t, n) => format!("[{n}]{}", type_text(t)),
        TypeRef::Map(k, v) => format!("map[{}]{}", type_text(k), type_text(v)),
    }
}

/// An example value; objects keep their fields in contract order.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Example {
    Scalar(Value),
    List(Vec<Example>),
    Object(IndexMap<String, Example>),
}

fn field_example(field: &WireField, wire: &Wire, depth: usize) -> Example {
    let scalar = crate::openapi::schema::scalar_of(&field.ty);
    let chosen = field.default.clone().or_else(|| {
        field
            .options
            .as_deref()
            .and_then(|o| split_options(o).first().map(|s| s.to_string()))
    });
    match (chosen, scalar, &field.ty) {
        (Some(text), Some(s), TypeRef::Builtin(_) | TypeRef::Option(_)) => {
            Example::Scalar(s.value(&text))
        }
        _ => example(&field.ty, wire, depth),
    }
}

/// An example value of a type; recursion stops at a few levels.
fn example(ty: &TypeRef, wire: &Wire, depth: usize) -> Example {
    match ty {
        TypeRef::Builtin(b) => Example::Scalar(match Scalar::of(b) {
            Some(Scalar::Text) => Value::from("string"),
            Some(Scalar::Bool) => Value::from(true),
            Some(Scalar::Float(_)) => Value::from(1.5),
            Some(Scalar::Int(_) | Scalar::Uint(_)) => Value::from(1),
            _ => Value::Null,
        }),
        TypeRef::Declared(name) if depth < 4 => {
            let fields = wire
                .types
                .iter()
                .find(|t| &t.name == name)
                .map(|t| t.fields.as_slice())
                .unwrap_or_default();
            Example::Object(
                fields
                    .iter()
                    .map(|f| (f.key.clone(), field_example(f, wire, depth + 1)))
                    .collect(),
            )
        }
        TypeRef::Declared(_) => Example::Scalar(Value::Null),
        TypeRef::Option(t) | TypeRef::Boxed(t) => example(t, wire, depth),
        TypeRef::Vec(t) => Example::List(vec![example(t, wire, depth + 1)]),
        TypeRef::Array(t, n) => Example::List(vec![
            example(t, wire, depth + 1);
            usize::try_from(*n).unwrap_or(0)
        ]),
        TypeRef::Map(_, v) => Example::Object(IndexMap::from([(
            "key".to_string(),
            example(v, wire, depth + 1),
        )])),
    }
}

/// Pretty JSON in a fence longer than any run of backticks inside it.
fn fenced(value: &Example) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    // JSON keeps these inside strings as they are; escaped, they cannot reorder what is read.
    let text = super::ts::escape_invisible(&text);
    format!("{fence}json\n{text}\n{fence}")
}

/// Contract text as plain markdown on one line: markdown and HTML punctuation escaped.
pub fn md(text: &str) -> String {
    let mut out = String::new();
    for c in crate::codegen::templates::one_line(text).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' | '{' | '}' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for inside a single-backtick code span in a table: no backtick, no `|`, one line.
fn md_code(text: &str) -> String {
    crate::codegen::templates::one_line(text)
        .replace('`', "'")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_text_stays_text() {
        assert_eq!(md("a|b <script>\n# x"), "a\\|b &lt;script&gt; \\# x");
        let v = Example::Scalar(Value::from("```"));
        assert!(fenced(&v).starts_with("````json"));
    }
}
