//! The formatter's round trip: whatever parses formats to text that parses, and formatting
//! that text again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustctl::api::{format::format, parser::parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (ast, errors) = parse(text, 0);
    if !errors.is_empty() {
        return;
    }
    let once = format(&ast, text);
    let (again, errors) = parse(&once, 0);
    assert!(errors.is_empty(), "formatted text does not parse:\n{once}");
    assert_eq!(format(&again, &once), once, "format is not idempotent");
});
