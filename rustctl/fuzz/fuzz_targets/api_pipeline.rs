//! `.api` text through the whole pipeline: parse, validate, name checks, lower, generation
//! plan, in both file-name styles. Nothing may panic, and a plan never holds one path twice.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rustctl::api::{loader, lower::lower, names, validate::validate};
use rustctl::codegen::templates::Templates;
use rustctl::codegen::{Options, RuntimeDep, Style};

fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| Templates::load(None).expect("embedded templates load"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = loader::load_with(Path::new("fuzz.api"), &mut |p| {
        if p == Path::new("fuzz.api") {
            Ok(text.to_string())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    });
    let mut diagnostics = validate(&loaded);
    for style in [Style::Snake, Style::Lower] {
        if diagnostics.iter().any(|d| d.is_error()) {
            return;
        }
        diagnostics.extend(names::check(&loaded, style));
        if diagnostics.iter().any(|d| d.is_error()) {
            return;
        }
        let service = lower(&loaded, "fuzz.api");
        let options = Options {
            style,
            runtime: RuntimeDep::Path("../runtime".into()),
            standalone: true,
            port: 8888,
        };
        let plan = rustctl::codegen::api::plan(&service, templates(), &options)
            .expect("a contract that validated generates");
        let mut paths: Vec<_> = plan.files.iter().map(|f| &f.path).collect();
        paths.sort();
        let before = paths.len();
        paths.dedup();
        assert_eq!(before, paths.len(), "two planned files share a path");
    }
});
