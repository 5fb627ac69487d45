//! Struct tags: Go's `key:"value"` pairs, and go-zero's options inside the binding keys.
//!
//! Parsing is lenient and never fails: whatever is malformed is recorded as a [`TagProblem`] with
//! the byte range it covers, and the validator turns problems into diagnostics. Keys rustctl does
//! not know (`validate:"..."`, `gorm:"..."`) are kept verbatim.

use serde::Serialize;

use super::ast::Span;

/// Keys whose value carries go-zero binding options.
pub const BINDING_KEYS: [&str; 4] = ["json", "path", "form", "header"];

/// A struct tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// The text between the back quotes.
    pub raw: String,
    /// Where the tag is, back quotes included.
    pub span: Span,
    /// The `key:"value"` pairs in order.
    pub entries: Vec<TagEntry>,
    /// What could not be read.
    pub problems: Vec<TagProblem>,
}

/// One `key:"value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagEntry {
    /// The key, e.g. `json`.
    pub key: String,
    /// The value, unquoted.
    pub value: String,
    /// For binding keys: the name before the first comma (`-` means "skip").
    pub name: String,
    /// For binding keys: the options after the name.
    pub options: Vec<TagOption>,
    /// Where the value is (inside the quotes).
    pub value_span: Span,
}

/// A go-zero binding option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TagOption {
    /// `optional`
    Optional,
    /// `omitempty`
    OmitEmpty,
    /// `default=value`
    Default(String),
    /// `options=a|b|c` or `options=[a,b,c]`
    Options(Vec<String>),
    /// `range=[lo:hi]`
    Range(NumberRange),
    /// Anything else, kept as written.
    Other(String),
}

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bound {
    /// The limit.
    pub value: f64,
    /// Whether the limit itself is allowed (`[` / `]`).
    pub inclusive: bool,
}

impl Eq for Bound {}

/// `range=[lo:hi]`, `(lo:hi]`, `[lo:]`, `[:hi)` ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberRange {
    /// The lower end; `None` is unbounded.
    pub lower: Option<Bound>,
    /// The upper end; `None` is unbounded.
    pub upper: Option<Bound>,
    /// The text as written, e.g. `[0:100)`.
    pub text: String,
}

/// Something in a tag that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagProblem {
    /// Whether the tag itself is malformed (Go's syntax) rather than a go-zero option.
    pub malformed: bool,
    /// What is wrong.
    pub message: String,
    /// Where, in the file.
    pub span: Span,
}

impl Tag {
    /// Parse the tag `raw` (back quotes included) found at `span`.
    pub fn parse(raw_with_quotes: &str, span: Span) -> Tag {
        let inner = raw_with_quotes
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .unwrap_or(raw_with_quotes);
        let base = span.start + 1;
        let mut tag = Tag {
            raw: inner.to_string(),
            span,
            entries: Vec::new(),
            problems: Vec::new(),
        };
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            if i >= bytes.len() {
                break;
            }
            let key_start = i;
            while i < bytes.len() && bytes[i] > b' ' && bytes[i] != b':' && bytes[i] != b'"' {
                i += 1;
            }
            let key = &inner[key_start..i];
            if key.is_empty() || i + 1 >= bytes.len() || bytes[i] != b':' || bytes[i + 1] != b'"' {
                tag.problems.push(TagProblem {
                    malformed: true,
                    message: format!(
                        "malformed struct tag: expected key:\"value\" pairs, found `{}`",
                        &inner[key_start..]
                    ),
                    span: Span::new(base + key_start, base + inner.len()),
                });
                break;
            }
            i += 2;
            let value_start = i;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i >= bytes.len() {
                tag.problems.push(TagProblem {
                    malformed: true,
                    message: format!("struct tag value for `{key}` is missing its closing quote"),
                    span: Span::new(base + key_start, base + inner.len()),
                });
                break;
            }
            let value = inner[value_start..i].to_string();
            let value_span = Span::new(base + value_start, base + i);
            i += 1;
            tag.entries
                .push(TagEntry::new(key, value, value_span, &mut tag.problems));
        }
        tag
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&TagEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The first binding entry (`json`, `path`, `form` or `header`).
    pub fn binding(&self) -> Option<&TagEntry> {
        self.entries
            .iter()
            .find(|e| BINDING_KEYS.contains(&e.key.as_str()))
    }
}

impl TagEntry {
    fn new(key: &str, value: String, value_span: Span, problems: &mut Vec<TagProblem>) -> TagEntry {
        let mut entry = TagEntry {
            key: key.to_string(),
            name: String::new(),
            options: Vec::new(),
            value_span,
            value: String::new(),
        };
        if BINDING_KEYS.contains(&key) {
            let mut parts = split_options(&value).into_iter();
            if let Some((_, name)) = parts.next() {
                entry.name = name.to_string();
            }
            for (offset, part) in parts {
                let span = Span::new(
                    value_span.start + offset,
                    value_span.start + offset + part.len(),
                );
                match parse_option(part) {
                    Ok(option) => entry.options.push(option),
                    Err(message) => problems.push(TagProblem {
                        malformed: false,
                        message,
                        span,
                    }),
                }
            }
        }
        entry.value = value;
        entry
    }

    /// Whether `option` (e.g. `optional`) is present.
    pub fn has(&self, option: &TagOption) -> bool {
        self.options.contains(option)
    }

    /// Whether the field may be absent: `optional`, `omitempty` or a `default`.
    pub fn is_optional(&self) -> bool {
        self.options.iter().any(|o| {
            matches!(
                o,
                TagOption::Optional | TagOption::OmitEmpty | TagOption::Default(_)
            )
        })
    }
}

/// Split `name,opt1,options=[a,b],opt2` at the commas that are not inside brackets, keeping each
/// part's byte offset.
fn split_options(value: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push((start, &value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, &value[start..]));
    parts
}

fn parse_option(option: &str) -> Result<TagOption, String> {
    let (name, arg) = match option.split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (option, None),
    };
    match (name, arg) {
        ("optional", None) => Ok(TagOption::Optional),
        ("omitempty", None) => Ok(TagOption::OmitEmpty),
        ("default", Some(v)) => Ok(TagOption::Default(v.to_string())),
        ("default", None) => Err("`default` needs a value: `default=VALUE`".into()),
        ("options", Some(v)) => parse_options_list(v).map(TagOption::Options),
        ("options", None) => Err("`options` needs values: `options=a|b` or `options=[a,b]`".into()),
        ("range", Some(v)) => parse_range(v).map(TagOption::Range),
        ("range", None) => Err("`range` needs an interval: `range=[0:100]`".into()),
        _ => Ok(TagOption::Other(option.to_string())),
    }
}

/// `a|b|c` or `[a,b,c]`, as go-zero's mapping reads them.
fn parse_options_list(text: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = if let Some(rest) = text.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("bad `options={text}`: `[` is not closed with `]`"))?;
        inner.split(',').map(|s| s.trim().to_string()).collect()
    } else {
        text.split('|').map(|s| s.to_string()).collect()
    };
    if items.iter().any(|s| s.is_empty()) {
        return Err(format!("bad `options={text}`: empty choice"));
    }
    Ok(items)
}

/// `[lo:hi]` with `[`/`(` and `]`/`)`, either limit may be left out.
pub fn parse_range(text: &str) -> Result<NumberRange, String> {
    let bad = |why: &str| format!("bad `range={text}`: {why}");
    let mut chars = text.chars();
    let lower_inclusive = match chars.next() {
        Some('[') => true,
        Some('(') => false,
        _ => return Err(bad("it must start with `[` or `(`")),
    };
    let upper_inclusive = match text.chars().last() {
        Some(']') if text.len() > 1 => true,
        Some(')') if text.len() > 1 => false,
        _ => return Err(bad("it must end with `]` or `)`")),
    };
    let inner = &text[1..text.len() - 1];
    let (lo, hi) = inner
        .split_once(':')
        .ok_or_else(|| bad("the limits must be separated by `:`"))?;
    let number = |s: &str, inclusive: bool| -> Result<Option<Bound>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|value| Some(Bound { value, inclusive }))
            .ok_or_else(|| bad(&format!("`{s}` is not a number")))
    };
    let lower = number(lo, lower_inclusive)?;
    let upper = number(hi, upper_inclusive)?;
    if lower.is_none() && upper.is_none() {
        return Err(bad("at least one limit is needed"));
    }
    if let (Some(l), Some(u)) = (lower, upper) {
        if l.value > u.value {
            return Err(bad("the lower limit is greater than the upper limit"));
        }
        if l.value == u.value && !(l.inclusive && u.inclusive) {
            return Err(bad("the interval is empty"));
        }
    }
    Ok(NumberRange {
        lower,
        upper,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        Tag::parse(s, Span::new(0, s.len()))
    }

    #[test]
    fn reads_go_zero_options() {
        let t =
            tag(r#"`json:"age,optional,default=18,range=[0:120),options=[1,2]" validate:"gte=0"`"#);
        let e = t.get("json").unwrap();
        assert_eq!(e.name, "age");
        assert!(e.has(&TagOption::Optional));
        assert!(e.has(&TagOption::Default("18".into())));
        assert!(e.has(&TagOption::Options(vec!["1".into(), "2".into()])));
        let range = e
            .options
            .iter()
            .find_map(|o| match o {
                TagOption::Range(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            range.lower,
            Some(Bound {
                value: 0.0,
                inclusive: true
            })
        );
        assert_eq!(
            range.upper,
            Some(Bound {
                value: 120.0,
                inclusive: false
            })
        );
        assert_eq!(t.get("validate").unwrap().value, "gte=0");
        assert!(t.problems.is_empty());
    }

    #[test]
    fn pipe_options_and_open_ranges() {
        let t = tag(r#"`form:"gender,options=male|female,range=(:10]"`"#);
        let e = t.get("form").unwrap();
        assert!(e.has(&TagOption::Options(vec!["male".into(), "female".into()])));
        assert!(t.problems.is_empty());
    }

    #[test]
    fn reports_bad_options_with_spans() {
        let src = r#"`json:"a,range=[5:1],options=,default"`"#;
        let t = tag(src);
        let messages: Vec<_> = t.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(t.problems.len(), 3, "{messages:?}");
        assert_eq!(
            &src[t.problems[0].span.start..t.problems[0].span.end],
            "range=[5:1]"
        );
        assert!(messages[0].contains("greater"));
    }

    #[test]
    fn malformed_tag_is_a_problem_not_a_panic() {
        for s in [
            "`json`",
            "`json:\"x`",
            "`:\"x\"`",
            "` `",
            "``",
            "`a:\"\\\"`",
        ] {
            let _ = tag(s);
        }
        assert_eq!(tag("`json`").problems.len(), 1);
        assert_eq!(tag("`json:\"x`").problems.len(), 1);
    }

    #[test]
    fn range_forms() {
        for ok in [
            "[0:1]",
            "(0:1)",
            "[0:]",
            "(:5]",
            "[1.5:2.5)",
            "[-3:3]",
            "[2:2]",
        ] {
            assert!(parse_range(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0:1", "[0-1]", "[:]", "[a:1]", "[2:1]", "(2:2]", "[", "]", "",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
