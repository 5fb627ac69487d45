//! The typed syntax tree of one `.api` file. Every node keeps the byte span it came from, so
//! diagnostics can point at it and the formatter can put comments back in place.

use serde::{Serialize, Serializer};

use super::tag::Tag;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Spans print as `start..end` in snapshots: short, and easy to check by eye.
impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}..{}", self.start, self.end))
    }
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// This span moved `by` bytes to the right.
    pub fn shifted(self, by: usize) -> Self {
        Span::new(self.start + by, self.end + by)
    }
}

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// How a value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quote {
    /// `"double quoted"`
    Double,
    /// `` `raw` ``
    Raw,
    /// bare text, no quotes
    Bare,
}

/// A string-ish value: a quoted string, a raw string, or bare text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    /// The value with quotes removed and escapes resolved.
    pub text: String,
    /// How it was written.
    pub quote: Quote,
    /// The exact source text, quotes included.
    pub raw: String,
    /// Where it is.
    pub span: Span,
}

/// A comment, kept so that the formatter can print it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The comment's text, including `//` or `/* */`.
    pub text: String,
    /// Where it is.
    pub span: Span,
}

/// One parsed `.api` file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ApiFile {
    /// Top-level statements in source order.
    pub items: Vec<Item>,
    /// Every comment in the file, in source order.
    pub comments: Vec<Comment>,
}

/// A top-level statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Item {
    /// `syntax = "v1"`
    Syntax(SyntaxStmt),
    /// `info(...)`
    Info(InfoStmt),
    /// `import ...`
    Import(ImportStmt),
    /// `type ...`
    Type(TypeStmt),
    /// `@server(...) service ... {}`
    Service(ServiceStmt),
}

impl Item {
    /// Where the statement is.
    pub fn span(&self) -> Span {
        match self {
            Item::Syntax(s) => s.span,
            Item::Info(s) => s.span,
            Item::Import(s) => s.span,
            Item::Type(s) => s.span,
            Item::Service(s) => s.span,
        }
    }
}

/// `syntax = "v1"`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxStmt {
    /// The version string.
    pub version: Value,
    /// Where it is.
    pub span: Span,
}

/// `key: value`, as in `info(...)` and `@doc(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The key.
    pub key: Ident,
    /// The value.
    pub value: Value,
    /// Where the pair is.
    pub span: Span,
}

/// `info(...)`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InfoStmt {
    /// The entries, in order.
    pub entries: Vec<KeyValue>,
    /// Where it is.
    pub span: Span,
}

/// `import "x.api"` or `import ( ... )`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportStmt {
    /// Whether the parenthesised form was used.
    pub grouped: bool,
    /// The imported paths.
    pub paths: Vec<Value>,
    /// Where it is.
    pub span: Span,
}

/// `type X {...}` or `type ( ... )`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeStmt {
    /// Whether the parenthesised form was used.
    pub grouped: bool,
    /// The declarations.
    pub decls: Vec<TypeDecl>,
    /// Where it is.
    pub span: Span,
}

/// One declared type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeDecl {
    /// Its name.
    pub name: Ident,
    /// A struct or an alias.
    pub kind: TypeDeclKind,
    /// Where it is.
    pub span: Span,
}

/// What a declaration declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TypeDeclKind {
    /// A struct type.
    Struct(StructBody),
    /// `type A = B` or `type A B`: parsed, and rejected by the validator as go-zero does.
    Alias {
        /// Whether `=` was written.
        equals: bool,
        /// The aliased type.
        target: TypeExpr,
    },
}

/// The fields of a struct, and whether the `struct` keyword was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StructBody {
    /// `struct {` rather than `{`.
    pub struct_keyword: bool,
    /// The fields in order.
    pub fields: Vec<Field>,
    /// From `{` to `}`.
    pub span: Span,
}

/// One struct field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Named or embedded.
    pub kind: FieldKind,
    /// The struct tag, if any.
    pub tag: Option<Tag>,
    /// Where it is (the whole line's content).
    pub span: Span,
}

impl Field {
    /// The field's name, or the embedded type's name.
    pub fn name(&self) -> &Ident {
        match &self.kind {
            FieldKind::Named { name, .. } => name,
            FieldKind::Embedded { name, .. } => name,
        }
    }
}

/// A named field or an embedded type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FieldKind {
    /// `Name Type`
    Named {
        /// The field name.
        name: Ident,
        /// The field type.
        ty: TypeExpr,
    },
    /// `Base` or `*Base`
    Embedded {
        /// Whether it was `*Base`.
        pointer: bool,
        /// The embedded type.
        name: Ident,
    },
}

/// A type as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeExpr {
    /// What kind of type.
    pub kind: TypeKind,
    /// Where it is.
    pub span: Span,
}

/// The shapes a type can take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TypeKind {
    /// A builtin or declared type name (possibly `pkg.Name`).
    Named(String),
    /// `*T`
    Pointer(Box<TypeExpr>),
    /// `[]T`
    Slice(Box<TypeExpr>),
    /// `[N]T`
    Array(u64, Box<TypeExpr>),
    /// `map[K]V`
    Map(Box<TypeExpr>, Box<TypeExpr>),
    /// `interface{}`
    Interface,
    /// An anonymous struct.
    Struct(StructBody),
}

/// `@server(...) service name { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStmt {
    /// The `@server` annotation before the block.
    pub server: Option<AtServer>,
    /// The service name, e.g. `user-api`.
    pub name: Ident,
    /// The routes.
    pub items: Vec<ServiceItem>,
    /// Where it is.
    pub span: Span,
}

/// `@server( key: value ... )`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtServer {
    /// The entries in order.
    pub entries: Vec<ServerEntry>,
    /// Where it is.
    pub span: Span,
}

impl AtServer {
    /// The entry for `key`, compared exactly as go-zero does.
    pub fn get(&self, key: &str) -> Option<&ServerEntry> {
        self.entries.iter().find(|e| e.key.name == key)
    }
}

/// `key: value` or `key: a, b` in `@server(...)`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerEntry {
    /// The key.
    pub key: Ident,
    /// One value, or several for a comma list.
    pub values: Vec<Value>,
    /// Where it is.
    pub span: Span,
}

impl ServerEntry {
    /// The values joined back with `, `, unquoted.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.values.iter().map(|v| v.text.as_str()).collect();
        parts.join(", ")
    }
}

/// A route with its annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceItem {
    /// `@doc ...`
    pub doc: Option<AtDoc>,
    /// `@handler name`, or the legacy `@server(handler: name)`.
    pub handler: HandlerAnnotation,
    /// The route.
    pub route: Route,
    /// Where it is.
    pub span: Span,
}

/// `@doc "text"` or `@doc( key: "value" )`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AtDoc {
    /// `@doc "text"`
    Text(Value, Span),
    /// `@doc( key: "value" ... )`
    Entries(Vec<KeyValue>, Span),
}

/// How a route names its handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HandlerAnnotation {
    /// `@handler name`
    Handler(Ident, Span),
    /// The legacy form `@server( handler: name ... )`.
    Server(AtServer),
}

impl HandlerAnnotation {
    /// The handler's name and where it is written; `None` for a legacy `@server` without a
    /// `handler` key.
    pub fn name(&self) -> Option<(&str, Span)> {
        match self {
            HandlerAnnotation::Handler(id, _) => Some((&id.name, id.span)),
            HandlerAnnotation::Server(s) => s
                .get("handler")
                .and_then(|e| e.values.first())
                .map(|v| (v.text.as_str(), v.span)),
        }
    }

    /// Where the annotation is.
    pub fn span(&self) -> Span {
        match self {
            HandlerAnnotation::Handler(_, span) => *span,
            HandlerAnnotation::Server(s) => s.span,
        }
    }
}

/// `method /path (Req) returns (Resp)`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The HTTP method, lower case.
    pub method: Ident,
    /// The path as written.
    pub path: Ident,
    /// `(Req)`; `Some` with no type for `()`.
    pub request: Option<Body>,
    /// `returns (Resp)`
    pub response: Option<Body>,
    /// Where it is.
    pub span: Span,
}

/// A parenthesised request or response type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Body {
    /// The type, `None` for `()`.
    pub ty: Option<TypeExpr>,
    /// From `(` to `)`.
    pub span: Span,
}
