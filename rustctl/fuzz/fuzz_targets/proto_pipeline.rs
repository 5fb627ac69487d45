//! `.proto` text through the pipeline: protox compile (with rustctl's nesting bound), lower,
//! name checks and the generation plan. Nothing may panic or overflow the stack.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Options, RuntimeDep, Style};
use rustctl::proto;

fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| Templates::load(None).expect("embedded templates load"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(compiled) = proto::compile_str("fuzz.proto", text) else {
        return;
    };
    let rpc = proto::lower::lower(&compiled);
    if !proto::names::check(&compiled, &rpc, Style::Snake).is_empty() {
        return;
    }
    // prost/tonic code generation is theirs to fuzz (and writes temporary files): the plan
    // gets an empty `pb` and the descriptors.
    let descriptor = prost::Message::encode_to_vec(&compiled.descriptors);
    let options = Options {
        style: Style::Snake,
        runtime: RuntimeDep::Path("../runtime".into()),
        standalone: true,
        port: 8080,
    };
    let plan = rustctl::codegen::rpc::plan(&rpc, &[], &descriptor, templates(), &options)
        .expect("a compiled file generates");
    let mut paths: Vec<_> = plan.files.iter().map(|f| &f.path).collect();
    paths.sort();
    let before = paths.len();
    paths.dedup();
    assert_eq!(before, paths.len(), "two planned files share a path");
});
