//! rustctl: a contract-first microservice toolkit for Rust.
//!
//! The binary is a thin shell over this library: [`cli`] holds the command-line surface and
//! everything it calls is reachable (and tested) in-process.

pub mod api;
pub mod cli;
pub mod codegen;
pub mod consumers;
pub mod contract_file;
pub mod deploy;
pub mod diagnostic;
pub mod model;
pub mod openapi;
pub mod proto;
pub mod sqlmodel;
pub mod writer;
