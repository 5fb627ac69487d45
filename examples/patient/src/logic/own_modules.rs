// Your own modules beside the generated ones: declare each here (`pub mod helpers;` for
// `helpers.rs` in this directory). The generated `mod.rs` includes this file, so they are
// modules of `crate::logic` like the route modules; rustctl wrote this file once, never
// changes it, and never reports the modules declared here as orphans.
