//! The go-zero `.api` language: grammar, syntax tree, import loading, validation, formatting.

pub mod ast;
pub mod format;
pub mod loader;
pub mod parser;
pub mod tag;
pub mod validate;

pub use parser::parse;
