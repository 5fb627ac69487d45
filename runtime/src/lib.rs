//! The runtime every rustctl-generated service stands on.
//!
//! See `docs/runtime.md` for config keys, the middleware order and the surface generated code
//! calls.

pub mod config;
pub mod rules;
