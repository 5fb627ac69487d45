//! Development aid: `cargo run --example dump -- FILE [fmt]` prints the syntax tree or the
//! formatted file, with diagnostics on stderr.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: dump FILE [fmt]");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let (file, errs) = rustctl::api::parser::parse(&text, 0);
    if args.next().as_deref() == Some("fmt") {
        print!("{}", rustctl::api::format::format(&file, &text));
    } else {
        println!("{file:#?}");
    }
    let mut sm = rustctl::diagnostic::SourceMap::default();
    sm.add(path, text);
    eprint!("{}", sm.render_all(&errs, false));
}
