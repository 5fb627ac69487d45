//! Parsing speed: a generated contract with 1,000 types and 1,000 routes.
//!
//! `cargo bench -p rustctl --bench parse` prints the median time to parse, to parse and
//! validate, and to format. The target is parsing under 50 ms in release.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use rustctl::api::{format::format, loader, parser::parse, validate::validate};

/// A contract with `n` types and `n` routes, using tags, options and comments like real files.
fn contract(n: usize) -> String {
    let mut s = String::from("syntax = \"v1\"\n\ninfo (\n\ttitle: \"bench\"\n)\n\n");
    for i in 0..n {
        s.push_str(&format!(
            "// Req{i} is request number {i}.\ntype Req{i} {{\n\tId     int64    `path:\"id\"`\n\tName   string   `form:\"name,optional\"`\n\tPage   int      `form:\"page,default=1,range=[1:100]\"`\n\tKind   string   `json:\"kind,options=a|b|c\"`\n\tTags   []string `json:\"tags\"`\n\tExtra  map[string]string `json:\"extra,optional\"`\n}}\n\n"
        ));
    }
    s.push_str(
        "@server (\n\tgroup: bench\n\tprefix: /api/v1\n\ttimeout: 3s\n)\nservice bench-api {\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "\t@doc \"route {i}\"\n\t@handler handler{i}\n\tget /items{i}/:id (Req{i}) returns (Req{})\n\n",
            (i + 1) % n
        ));
    }
    s.push_str("}\n");
    s
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let text = contract(1000);
    let (ast, errors) = parse(&text, 0);
    assert!(errors.is_empty(), "bench contract must parse");
    let load = || loader::load_with(Path::new("bench.api"), &mut |_| Ok(text.clone()));
    assert!(validate(&load()).is_empty(), "bench contract must validate");

    let runs = 21;
    let parse_t = median(|| drop(black_box(parse(black_box(&text), 0))), runs);
    let check_t = median(|| drop(black_box(validate(&load()))), runs);
    let format_t = median(|| drop(black_box(format(&ast, &text))), runs);
    println!(
        "contract: 1000 types, 1000 routes, {} KiB",
        text.len() / 1024
    );
    println!(
        "parse:             {:>8.2} ms (median of {runs})",
        ms(parse_t)
    );
    println!("load + validate:   {:>8.2} ms", ms(check_t));
    println!("format:            {:>8.2} ms", ms(format_t));
    println!(
        "parse target < 50 ms: {}",
        if parse_t < Duration::from_millis(50) {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
