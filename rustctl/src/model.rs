//! The neutral service model. Front ends (`.api`, later `.proto`) lower into it; generators read
//! only it. Names are converted and types resolved here, once, so templates only print.

use std::fmt;

use serde::{Serialize, Serializer};

/// An HTTP service described by a contract.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// The service name as written, e.g. `trial-api`.
    pub name: String,
    /// The crate and binary name, e.g. `trial-api`.
    pub crate_name: String,
    /// The contract file name, e.g. `trial.api`.
    pub contract: String,
    /// Every type, in declaration order, anonymous structs named and placed after their parent.
    pub types: Vec<TypeDef>,
    /// Route groups, one per `@server` block, in contract order.
    pub groups: Vec<Group>,
    /// Names of the user middlewares the contract refers to, sorted and unique.
    pub middlewares: Vec<Middleware>,
    /// Whether any group requires a JWT.
    pub uses_jwt: bool,
    /// Whether any group accepts the previous JWT secret too (`jwtTransition`).
    pub uses_jwt_transition: bool,
    /// Whether any group checks request signatures (`signature: true`).
    pub uses_signature: bool,
}

/// A named user middleware.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Middleware {
    /// As written in the contract, e.g. `AdminOnly`.
    pub name: String,
    /// The module and file name, e.g. `admin_only`.
    pub module: String,
}

/// A struct type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeDef {
    /// The Rust type name, e.g. `GetTrialRequest`.
    pub name: String,
    /// The fields in order.
    pub fields: Vec<FieldDef>,
    /// Whether a route takes it as its request, so it needs binding code.
    pub is_request: bool,
}

/// A Rust type a contract names, as a tree: generators decide how to write each declared type
/// (imported, `types::T`, `crate::types::T`) without taking strings apart. It serializes as
/// the type written plainly (`Option<Vec<Answer>>`), which is what templates print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    /// A builtin or library type, written as is: `String`, `i64`, `serde_json::Value`.
    Builtin(&'static str),
    /// A type the contract declares: `TrialInfo`.
    Declared(String),
    /// `Option<T>`
    Option(Box<TypeRef>),
    /// `Box<T>`
    Boxed(Box<TypeRef>),
    /// `Vec<T>`
    Vec(Box<TypeRef>),
    /// `[T; N]`
    Array(Box<TypeRef>, u64),
    /// `std::collections::HashMap<K, V>`
    Map(Box<TypeRef>, Box<TypeRef>),
}

impl TypeRef {
    /// The type written with each declared type's name passed through `declared`.
    pub fn render(&self, declared: &dyn Fn(&str) -> String) -> String {
        match self {
            TypeRef::Builtin(b) => (*b).to_string(),
            TypeRef::Declared(d) => declared(d),
            TypeRef::Option(t) => format!("Option<{}>", t.render(declared)),
            TypeRef::Boxed(t) => format!("Box<{}>", t.render(declared)),
            TypeRef::Vec(t) => format!("Vec<{}>", t.render(declared)),
            TypeRef::Array(t, n) => format!("[{}; {n}]", t.render(declared)),
            TypeRef::Map(k, v) => format!(
                "std::collections::HashMap<{}, {}>",
                k.render(declared),
                v.render(declared)
            ),
        }
    }

    /// Every declared type it names, outermost first.
    pub fn declared(&self) -> Vec<&str> {
        match self {
            TypeRef::Builtin(_) => Vec::new(),
            TypeRef::Declared(d) => vec![d.as_str()],
            TypeRef::Option(t) | TypeRef::Boxed(t) | TypeRef::Vec(t) | TypeRef::Array(t, _) => {
                t.declared()
            }
            TypeRef::Map(k, v) => {
                let mut all = k.declared();
                all.extend(v.declared());
                all
            }
        }
    }

    /// `T` of `Option<T>`, or `None` when the type is not an option.
    pub fn optional_inner(&self) -> Option<&TypeRef> {
        match self {
            TypeRef::Option(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&str::to_string))
    }
}

impl Serialize for TypeRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An embedded struct whose fields are flattened into the outer one.
#[derive(Debug, Clone, Serialize)]
pub struct Flatten {
    /// The embedded struct: `Base` for both `Base` and `*Base`.
    pub ty: TypeRef,
    /// `*Base`: the field is `Option<Base>`, always `Some` once bound.
    pub optional: bool,
}

/// Where a request field's value comes from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `json:"..."`, the JSON body.
    Json,
    /// `path:"..."`
    Path,
    /// `form:"..."`, the query string or form body.
    Form,
    /// `header:"..."`
    Header,
}

/// One field of a struct.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDef {
    /// The Rust field name, escaped when it is a keyword (`r#type`).
    pub name: String,
    /// The Rust type, e.g. `Option<Vec<String>>`.
    pub ty: TypeRef,
    /// The JSON key (serde's rename) when it differs from `name`.
    pub rename: Option<String>,
    /// Where a request binds it from.
    pub source: Source,
    /// The key in that source.
    pub key: String,
    /// `optional`, `omitempty` or a default: may be absent.
    pub optional: bool,
    /// `omitempty`: left out of JSON output when empty.
    pub omit_empty: bool,
    /// What `skip_serializing_if` uses for `omitempty`, when the type has an emptiness test.
    pub empty_check: Option<String>,
    /// `default=...` as written.
    pub default: Option<String>,
    /// `options=...` as written.
    pub options: Option<String>,
    /// `range=...` as the Rust expression of the runtime's `Range` with its limits, e.g.
    /// `rustctl_runtime::rules::Range::unbounded().ge(1.0).le(100.0)` for `[1:100]`.
    pub range: Option<String>,
    /// An embedded struct: its fields are flattened in.
    pub flatten: Option<Flatten>,
    /// `json:"-"`: never serialized or bound.
    pub skip: bool,
}

/// Routes sharing one `@server` block's options.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Module path segments, e.g. `["admin", "users"]`; empty for no group.
    pub modules: Vec<String>,
    /// `prefix`, normalised to `/a/b`, or empty.
    pub prefix: String,
    /// `jwt: Auth`: the config section named.
    pub jwt: Option<String>,
    /// `jwtTransition`
    pub jwt_transition: Option<String>,
    /// `middleware`, in order.
    pub middlewares: Vec<Middleware>,
    /// `timeout` in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `maxBytes`
    pub max_bytes: Option<u64>,
    /// `signature: true`
    pub signature: bool,
    /// `sse: true`: handlers stream server-sent events.
    pub sse: bool,
    /// The routes.
    pub routes: Vec<Route>,
}

/// One route.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The handler's Rust function and module name, e.g. `get_trial_info`.
    pub handler: String,
    /// Lower-case HTTP method.
    pub method: String,
    /// The path as in the contract (`/trial/:id`), without the prefix.
    pub path: String,
    /// The request type, if any.
    pub request: Option<TypeRef>,
    /// The response type, e.g. `TrialInfo` or `Vec<TrialInfo>`.
    pub response: Option<TypeRef>,
    /// `@doc` text.
    pub doc: Option<String>,
}

/// A gRPC service crate described by a `.proto` file.
#[derive(Debug, Clone, Serialize)]
pub struct RpcContract {
    /// The file stem, e.g. `trial`.
    pub name: String,
    /// The crate name, e.g. `trial-rpc`.
    pub crate_name: String,
    /// The crate's library name, e.g. `trial_rpc`.
    pub lib_name: String,
    /// The `.proto` file name, e.g. `trial.proto`.
    pub proto: String,
    /// The services the file declares, in order.
    pub services: Vec<RpcService>,
}

/// One `service` of a `.proto` file.
#[derive(Debug, Clone, Serialize)]
pub struct RpcService {
    /// As declared, e.g. `Trial`.
    pub name: String,
    /// Snake case, e.g. `trial`: the module of its server glue, logic and client.
    pub module: String,
    /// Upper camel case, as prost and tonic name its trait, server and client: `Trial`.
    pub rust_name: String,
    /// The struct implementing tonic's trait by calling logic: `TrialHandler` (not the
    /// trait's own name, which it implements).
    pub handler: String,
    /// The network client in `client::{module}`: `TrialClient`.
    pub client: String,
    /// The trait of the calls the service answers, which the client implements and a test's
    /// fake can: `TrialApi`.
    pub api: String,
    /// tonic's module stem for it: `{tonic_module}_server`, `{tonic_module}_client`.
    pub tonic_module: String,
    /// Fully qualified, e.g. `trial.Trial`.
    pub full_name: String,
    /// The Rust path of its package below `pb`, e.g. `trial` or `a::b`; empty for no package.
    pub package_path: String,
    /// The RPCs.
    pub methods: Vec<RpcMethod>,
}

/// One `rpc`.
#[derive(Debug, Clone, Serialize)]
pub struct RpcMethod {
    /// As declared, e.g. `getTrialInfo`.
    pub name: String,
    /// The Rust function name tonic gives it, e.g. `get_trial_info` (`r#type` for `Type`).
    pub rust_name: String,
    /// rustctl's file and module name for its logic, e.g. `get_trial_info` (`type_`).
    pub module: String,
    /// tonic's associated stream type for server streaming: the method as declared plus
    /// `Stream`, e.g. `getTrialInfoStream`.
    pub stream_type: String,
    /// The request message.
    pub input: Message,
    /// The response message.
    pub output: Message,
    /// `rpc X(stream Req)`
    pub client_streaming: bool,
    /// `returns (stream Resp)`
    pub server_streaming: bool,
}

/// The Rust type of an RPC's request or response, as prost maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `google.protobuf.Empty`, which prost maps onto `()`.
    Unit,
    /// Another well-known type, from `prost_types`: `Timestamp`.
    WellKnown(String),
    /// A message of the contract, by its path below the library's `pb` module:
    /// `trial::GetTrialRequest`.
    Local(String),
}

impl Message {
    /// The type written from inside the library (or with its `pb` module imported):
    /// `pb::trial::GetTrialRequest`, `()`, `::prost_types::Timestamp`.
    pub fn in_lib(&self) -> String {
        match self {
            Message::Unit => "()".into(),
            Message::WellKnown(name) => format!("::prost_types::{name}"),
            Message::Local(path) => format!("pb::{path}"),
        }
    }

    /// The type written from the service's binary, through the library crate `lib`:
    /// `trial_rpc::pb::trial::GetTrialRequest`.
    pub fn in_bin(&self, lib: &str) -> String {
        match self {
            Message::Local(path) => format!("{lib}::pb::{path}"),
            other => other.in_lib(),
        }
    }

    /// Whether it is one of the contract's own messages (reached through `pb`).
    pub fn is_local(&self) -> bool {
        matches!(self, Message::Local(_))
    }

    /// Whether it is `google.protobuf.Empty` (`()`): nothing to pass.
    pub fn is_unit(&self) -> bool {
        matches!(self, Message::Unit)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.in_lib())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_refs_render_declared_names_as_asked() {
        let ty = TypeRef::Option(Box::new(TypeRef::Vec(Box::new(TypeRef::Map(
            Box::new(TypeRef::Builtin("String")),
            Box::new(TypeRef::Declared("Answer".into())),
        )))));
        assert_eq!(
            ty.to_string(),
            "Option<Vec<std::collections::HashMap<String, Answer>>>"
        );
        assert_eq!(
            ty.render(&|n| format!("types::{n}")),
            "Option<Vec<std::collections::HashMap<String, types::Answer>>>"
        );
        assert_eq!(ty.declared(), ["Answer"]);
        assert!(ty.optional_inner().is_some());
        assert_eq!(serde_json::to_value(&ty).unwrap(), ty.to_string());
    }

    #[test]
    fn messages_are_written_from_the_library_or_the_binary() {
        let local = Message::Local("trial::GetTrialRequest".into());
        assert_eq!(local.in_lib(), "pb::trial::GetTrialRequest");
        assert_eq!(
            local.in_bin("trial_rpc"),
            "trial_rpc::pb::trial::GetTrialRequest"
        );
        assert_eq!(Message::Unit.in_bin("trial_rpc"), "()");
        let ts = Message::WellKnown("Timestamp".into());
        assert_eq!(ts.in_bin("x"), "::prost_types::Timestamp");
        assert!(local.is_local() && !ts.is_local() && Message::Unit.is_unit());
    }
}
