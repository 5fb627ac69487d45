//! The `.api` corpus: every valid file validates, and its syntax tree and formatted text are
//! snapshots; every invalid file is rejected, and its rendered diagnostics are snapshots.

use std::path::{Path, PathBuf};

use rustctl::api::{self, ast::ApiFile, format::format, parser::parse};

/// Paths relative to the crate, so snapshots hold no machine-specific prefix.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_path_buf()
}

/// The tree as JSON with every span removed, to compare two parses of differently laid out text.
fn shape(file: &ApiFile) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| {
                    k != "span" && k != "value_span" && k != "raw" && k != "comments"
                });
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => {
                // Spans inside tuple variants serialize as "start..end" strings.
                items.retain(|i| {
                    !i.as_str().is_some_and(|s| {
                        s.contains("..") && s.split("..").all(|n| n.parse::<usize>().is_ok())
                    })
                });
                items.iter_mut().for_each(strip);
            }
            _ => {}
        }
    }
    let mut v = serde_json::to_value(file).unwrap();
    strip(&mut v);
    v
}

/// Formats `text`, checks the result is stable and parses to the same tree with the same
/// comments, and returns it.
fn format_round_trip(text: &str) -> String {
    let (ast, errors) = parse(text, 0);
    assert!(errors.is_empty(), "{errors:?}");
    let once = format(&ast, text);
    let (again, errors) = parse(&once, 0);
    assert!(
        errors.is_empty(),
        "formatted text does not parse: {errors:?}\n{once}"
    );
    assert_eq!(format(&again, &once), once, "format is not idempotent");
    assert_eq!(shape(&again), shape(&ast), "formatting changed the tree");
    let texts = |f: &ApiFile| {
        f.comments
            .iter()
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        texts(&again),
        texts(&ast),
        "formatting lost or reordered a comment"
    );
    once
}

#[test]
fn valid_files_validate_and_format_stably() {
    insta::glob!("api/valid/*.api", |path| {
        let checked = api::check(&relative(path));
        assert!(!checked.has_errors(), "{}", checked.render(false));
        assert!(checked.diagnostics.is_empty(), "{}", checked.render(false));
        let text = std::fs::read_to_string(path).unwrap();
        let formatted = format_round_trip(&text);
        insta::assert_yaml_snapshot!("ast", &checked.loaded.files[checked.loaded.root]);
        insta::assert_snapshot!("formatted", formatted);
    });
}

#[test]
fn imported_files_format_stably() {
    insta::glob!("api/valid/shared/*.api", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!("formatted", format_round_trip(&text));
    });
}

#[test]
fn the_articles_trial_contract_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/trial/trial.api");
    let checked = api::check(&path);
    assert!(checked.diagnostics.is_empty(), "{}", checked.render(false));
    let text = std::fs::read_to_string(&path).unwrap();
    let formatted = format_round_trip(&text);
    assert!(formatted.contains("get /trial/:id (GetTrialRequest) returns (TrialInfo)"));
}

#[test]
fn invalid_files_are_rejected_with_located_messages() {
    insta::glob!("api/invalid/*.api", |path| {
        let rel = relative(path);
        let checked = api::check(&rel);
        assert!(checked.has_errors(), "{} was accepted", rel.display());
        let rendered = checked.render(false);
        // Every error names file:line:column.
        for d in checked.diagnostics.iter().filter(|d| d.primary.is_some()) {
            let label = d.primary.as_ref().unwrap();
            let location = checked.loaded.sources.location(label);
            assert!(
                rendered.contains(&location),
                "{location} missing from:\n{rendered}"
            );
        }
        insta::assert_snapshot!("diagnostics", rendered);
    });
}

#[test]
fn import_cycles_are_reported() {
    let checked = api::check(&relative(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/invalid/cycle/a.api"),
    ));
    let rendered = checked.render(false);
    assert!(rendered.contains("import cycle"), "{rendered}");
    assert!(
        rendered
            .contains("a.api -> tests/api/invalid/cycle/b.api -> tests/api/invalid/cycle/a.api"),
        "{rendered}"
    );
}

#[test]
fn warnings_do_not_fail_validation() {
    insta::glob!("api/warn/*.api", |path| {
        let checked = api::check(&relative(path));
        assert!(!checked.has_errors(), "{}", checked.render(false));
        assert!(!checked.diagnostics.is_empty(), "expected warnings");
        insta::assert_snapshot!("diagnostics", checked.render(false));
    });
}

#[test]
fn syntax_errors_recover_and_report_each_statement() {
    let text = "type A {\n\tX int `json:\"x\"\n}\n\ntype B {\n\tY\n\tZ int int\n}\n\ntype C {}\n\nservice s {\n\t@handler h\n\tget /a (C)\n}\n";
    let (file, errors) = parse(text, 0);
    assert_eq!(errors.len(), 2, "{errors:?}");
    // The statements after the broken ones are kept.
    assert_eq!(file.items.len(), 2);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        format!("type A {{ X {}int }}", "*".repeat(100_000)),
        format!("type A {{ X {}int }}", "[]".repeat(50_000)),
        format!("type A {}{}", "{ X ".repeat(10_000), "}".repeat(10_000)),
        format!(
            "service s {{ @handler h\n get /a ({}A{}) }}",
            "(".repeat(5000),
            ")".repeat(5000)
        ),
    ] {
        let (_, errors) = parse(&text, 0);
        assert!(!errors.is_empty());
    }
}

/// Found by the fuzzer: a byte-order mark (whitespace to the grammar) between a service name and
/// its `{` once made the formatter slice inside the character.
#[test]
fn format_survives_a_byte_order_mark_between_tokens() {
    let text = "service c-api\u{feff} { // after\n\t@handler h\n\tpost /c\n}\n";
    let formatted = format_round_trip(text);
    assert_eq!(
        formatted,
        "service c-api { // after\n\t@handler h\n\tpost /c\n}\n"
    );
}

/// Found by the `api_format` fuzz target: comments between `type` and its name were all put on
/// the line of `{`, so the `//` comment swallowed the block comment's start and its lines
/// became code. Comments after a line comment now start lines of their own, inside the block.
#[test]
fn comments_after_a_line_comment_are_not_swallowed() {
    for text in [
        "type// one\n\n/* two\nservice x {\n*/ q {}\n",
        "type // one\n/* two */ /* three */ q {\n\tA int `json:\"a\"`\n}\n",
        "service// one\n/* two\n) */ x-api {\n\t@handler a\n\tget /a\n}\n",
        // Comments inside a node printed on one line (an alias to `{}`) follow it.
        "type Re= { // after\n\t// inside\n}\n\n/// next\n@server ( // p\n\tgroup: g\n)\nservice c-api {\n\t@handler h\n\tpost /c\n}\n",
        "type Re= { // a\n// b\n// c\n}\ntype X {}\n",
        // A comment after a field on the line of `{` stays with the field.
        "type e{me i/*\n\n*/e v}\n",
        // A bare value of whitespace the grammar does not skip stays a value.
        "info (\tte: \x0c\x0c\n)\n",
        // Empty blocks holding comments keep them inside.
        "info (\n\t\n// b // the trial \t\n// bek\"\n)\n\nservice a-api {\n\t@handler a\n\tget /a\n}\n",
        "@server (\n// a\n/* b */\n)\nservice a-api {\n\t@handler a\n\tget /a\n}\n",
        // A comment ending in an opener's character does not open a block.
        "type R={//(\n}//",
        "info (\n\ta: b{\n\n\t// c\n)\n",
        // A lone carriage return ends a line, as in the grammar: the comment after it splits
        // the field columns on the first run too.
        "type q{el r\r//\na//\na s}",
        "type q {\r\tA int\r\r\tB int\r}\r",
        // Only a line break right at the start of the next line makes a blank line.
        "type q{r9\te/*\n*/A f}",
    ] {
        let once = format_round_trip(text);
        assert!(
            once.lines().all(|l| !l.contains("// one /*")),
            "a comment followed a line comment:\n{once}"
        );
    }
}
