//! Property tests: random and mutated input never panics the parser, the validator or the
//! formatter, and whatever parses formats to text that parses to the same result.
//!
//! CI runs a few thousand cases from a fixed seed; explore more with e.g.
//! `PROPTEST_SEED=random PROPTEST_CASES=100000 cargo test --release -p rustctl --test fuzz_parser`.

use std::path::Path;

use proptest::prelude::*;
use rustctl::api::{format::format, loader, parser::parse, validate::validate};

/// Every valid corpus file: mutations start from real structure.
fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/valid");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "api"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Tokens of the language, so random input reaches deep into the grammar.
const TOKENS: &[&str] = &[
    "syntax",
    "=",
    "\"v1\"",
    "info",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "type",
    "struct",
    "service",
    "@server",
    "@handler",
    "@doc",
    "import",
    "returns",
    "get",
    "post",
    "/a/:id",
    "/",
    ":",
    ",",
    "*",
    "map",
    "interface{}",
    "string",
    "int64",
    "Foo",
    "a-api",
    "`json:\"x,optional\"`",
    "`json:\"x,range=[1:2]\"`",
    "// c\n",
    "/* c */",
    "\n",
    " ",
    "\t",
    ";",
    "\"s\"",
    "`raw`",
    "2",
    "-",
    ".",
    "é",
    "\u{FEFF}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.join(" "))
}

/// A corpus file with a random edit: a cut, a duplicated slice, or an inserted token.
fn mutated() -> impl Strategy<Value = String> {
    let seeds = seeds();
    (
        prop::sample::select(seeds),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(TOKENS),
    )
        .prop_map(|(seed, a, b, op, token)| {
            let bytes = seed.as_bytes();
            let (mut i, mut j) = (a.index(bytes.len() + 1), b.index(bytes.len() + 1));
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            let mut out = bytes[..i].to_vec();
            match op {
                0 => {}
                1 => {
                    out.extend_from_slice(&bytes[i..j]);
                    out.extend_from_slice(&bytes[i..j]);
                }
                _ => {
                    out.extend_from_slice(token.as_bytes());
                    out.extend_from_slice(&bytes[i..j]);
                }
            }
            out.extend_from_slice(&bytes[j..]);
            String::from_utf8_lossy(&out).into_owned()
        })
}

/// Runs everything a user can run on `text`; panics only if the pipeline does.
fn exercise(text: &str) {
    let (ast, errors) = parse(text, 0);
    let loaded = loader::load_with(Path::new("fuzz.api"), &mut |p| {
        if p == Path::new("fuzz.api") {
            Ok(text.to_string())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    });
    let diagnostics = validate(&loaded);
    let _ = loaded.sources.render_all(&diagnostics, false);
    if errors.is_empty() {
        let once = format(&ast, text);
        let (again, errors) = parse(&once, 0);
        assert!(
            errors.is_empty(),
            "formatted output does not parse:\n{once}\n{errors:?}"
        );
        assert_eq!(format(&again, &once), once, "format not idempotent");
    }
}

/// 1,500 cases per property unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// A fixed seed unless `PROPTEST_SEED` gives one (or `random`): CI runs the same inputs every
/// time, and exploring new inputs is a deliberate local run.
fn seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match std::env::var("PROPTEST_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => n.parse().map_or(RngSeed::Random, RngSeed::Fixed),
        None => RngSeed::Fixed(0x05ee_da91),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), rng_seed: seed(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn mutated_corpus_never_panics(text in mutated()) {
        exercise(&text);
    }
}
