//! Layout decisions rustfmt would make, taken in Rust where templates cannot: the generator never
//! runs rustfmt (see the module docs of [`crate::codegen`]), so scaffold files are written the
//! way rustfmt would lay them out.

/// A top-level `pub async fn` signature laid out as rustfmt lays it out: on one line when the
/// line (with ` {`) fits in 100 columns, otherwise one parameter per line.
pub fn signature(name: &str, params: &[String], ret: &str) -> String {
    let one_line = format!("pub async fn {name}({}) -> {ret}", params.join(", "));
    if one_line.chars().count() + 2 <= 100 {
        return one_line;
    }
    let mut out = format!("pub async fn {name}(\n");
    for p in params {
        out.push_str(&format!("    {p},\n"));
    }
    out.push_str(&format!(") -> {ret}"));
    out
}

/// `use path::{A, B};` laid out as rustfmt lays it out: on one line when it fits in 100
/// columns, otherwise the names packed into indented lines of at most 100 columns.
pub fn use_line(path: &str, names: &[String]) -> Option<String> {
    match names {
        [] => return None,
        [one] => return Some(format!("use {path}::{one};")),
        _ => {}
    }
    let one_line = format!("use {path}::{{{}}};", names.join(", "));
    if one_line.chars().count() <= 100 {
        return Some(one_line);
    }
    let mut out = format!("use {path}::{{\n");
    let mut line = String::from("   ");
    for name in names {
        if line.chars().count() + 1 + name.chars().count() + 1 > 100 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(name);
        line.push(',');
    }
    out.push_str(&line);
    out.push_str("\n};");
    Some(out)
}

/// `{lhs}{name}({args}).await;` at `indent` spaces, laid out as rustfmt lays it out: on one line
/// when it fits in 100 columns, otherwise one argument per line and `.await` on a line of its
/// own.
pub fn await_call(indent: usize, lhs: &str, name: &str, args: &[&str]) -> String {
    let pad = " ".repeat(indent);
    let one_line = format!("{pad}{lhs}{name}({}).await;", args.join(", "));
    if one_line.chars().count() <= 100 {
        return one_line;
    }
    let mut out = format!("{pad}{lhs}{name}(\n");
    for a in args {
        out.push_str(&format!("{pad}    {a},\n"));
    }
    out.push_str(&format!("{pad})\n{pad}.await;"));
    out
}
