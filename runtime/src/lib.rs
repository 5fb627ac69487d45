//! The runtime every rustctl-generated service stands on.
//!
//! See `docs/runtime.md` for config keys, the middleware order and the surface generated code
//! calls.

pub mod bind;
pub mod config;
pub mod error;
pub mod rules;

pub use error::Error;
