//! The neutral service model. Front ends (`.api`, later `.proto`) lower into it; generators read
//! only it. Names are converted and types resolved here, once, so templates only print.

use serde::Serialize;

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
    /// Whether every field comes from the JSON body (binding can read the body at once).
    pub json_only: bool,
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
    pub ty: String,
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
    pub flatten: bool,
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
    pub request: Option<String>,
    /// The response type as Rust, e.g. `TrialInfo` or `Vec<TrialInfo>`.
    pub response: Option<String>,
    /// `@doc` text.
    pub doc: Option<String>,
}

impl Group {
    /// `admin::users`, or empty.
    pub fn module_path(&self) -> String {
        self.modules.join("::")
    }
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
    /// The request type's Rust path from the crate root, e.g. `pb::trial::GetTrialRequest`.
    pub input: String,
    /// The response type's Rust path.
    pub output: String,
    /// `rpc X(stream Req)`
    pub client_streaming: bool,
    /// `returns (stream Resp)`
    pub server_streaming: bool,
}
