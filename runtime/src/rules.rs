//! go-zero's `options=` and `range=` rules, shared by config validation and request binding.

use std::fmt;

/// A numeric interval written go-zero style: `[0:100]`, `(0:10]`, `[1:]`, `[:5)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    lo: Option<(f64, bool)>,
    hi: Option<(f64, bool)>,
}

impl Range {
    /// The interval with no limits; narrow it with [`Range::ge`], [`Range::gt`], [`Range::le`]
    /// and [`Range::lt`]. Built in `const` code, so generated request types check
    /// `range=[1:100]` as `Range::unbounded().ge(1.0).le(100.0)` without parsing any text.
    pub const fn unbounded() -> Range {
        Range { lo: None, hi: None }
    }
    /// The lower limit `v`, allowed (`[v:`).
    pub const fn ge(mut self, v: f64) -> Range {
        self.lo = Some((v, true));
        self
    }
    /// The lower limit `v`, excluded (`(v:`).
    pub const fn gt(mut self, v: f64) -> Range {
        self.lo = Some((v, false));
        self
    }
    /// The upper limit `v`, allowed (`:v]`).
    pub const fn le(mut self, v: f64) -> Range {
        self.hi = Some((v, true));
        self
    }
    /// The upper limit `v`, excluded (`:v)`).
    pub const fn lt(mut self, v: f64) -> Range {
        self.hi = Some((v, false));
        self
    }

    /// Parses an interval; `[`/`]` include the bound, `(`/`)` exclude it, an empty side is open.
    pub fn parse(text: &str) -> Result<Range, String> {
        let t = text.trim();
        let bad = || format!("invalid range `{text}` (want e.g. `[0:100]`, `(0:10]`, `[1:]`)");
        if t.len() < 3 {
            return Err(bad());
        }
        let lo_inc = match t.as_bytes()[0] {
            b'[' => true,
            b'(' => false,
            _ => return Err(bad()),
        };
        let hi_inc = match t.as_bytes()[t.len() - 1] {
            b']' => true,
            b')' => false,
            _ => return Err(bad()),
        };
        let (lo, hi) = t[1..t.len() - 1].split_once(':').ok_or_else(bad)?;
        let side = |s: &str, inc: bool| -> Result<Option<(f64, bool)>, String> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse::<f64>().map(|v| Some((v, inc))).map_err(|_| bad())
            }
        };
        let range = Range {
            lo: side(lo, lo_inc)?,
            hi: side(hi, hi_inc)?,
        };
        match (range.lo, range.hi) {
            (Some((l, _)), Some((h, _))) if l > h => Err(bad()),
            _ => Ok(range),
        }
    }

    /// Whether `v` lies in the interval.
    pub fn contains(&self, v: f64) -> bool {
        let lo_ok = match self.lo {
            None => true,
            Some((l, true)) => v >= l,
            Some((l, false)) => v > l,
        };
        let hi_ok = match self.hi {
            None => true,
            Some((h, true)) => v <= h,
            Some((h, false)) => v < h,
        };
        lo_ok && hi_ok
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lo {
            Some((l, inc)) => write!(f, "{}{l}", if inc { '[' } else { '(' })?,
            None => f.write_str("[")?,
        }
        f.write_str(":")?;
        match self.hi {
            Some((h, inc)) => write!(f, "{h}{}", if inc { ']' } else { ')' }),
            None => f.write_str("]"),
        }
    }
}

/// Splits an options list written `a|b|c` or `[a,b,c]`.
pub fn split_options(text: &str) -> Vec<&str> {
    options(text).collect()
}

/// The options of a list written `a|b|c` or `[a,b,c]`, one at a time: checking a request's
/// value against them allocates nothing.
pub fn options(text: &str) -> impl Iterator<Item = &str> + Clone {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    let sep = if inner.contains('|') { '|' } else { ',' };
    inner.split(sep).map(str::trim).filter(|s| !s.is_empty())
}

/// Whether `value` is one of the options `text` lists (as [`options`] reads them). A request's
/// value is checked on every call: the list as generated, `a|b|c`, is compared byte-wise
/// without trimming or splitting by `str` patterns.
pub fn is_option(text: &str, value: &str) -> bool {
    let plain = text
        .bytes()
        .all(|b| b != b'[' && b != b',' && !b.is_ascii_whitespace());
    if plain {
        let value = value.as_bytes();
        !value.is_empty() && text.as_bytes().split(|&b| b == b'|').any(|o| o == value)
    } else {
        options(text).any(|o| o == value)
    }
}

/// Checks a numeric config value against a range; for use in `Validate` impls.
pub fn check_range(key: &str, value: f64, range: &str) -> Option<(String, String)> {
    match Range::parse(range) {
        Ok(r) if r.contains(value) => None,
        Ok(r) => Some((key.to_owned(), format!("value {value} is out of range {r}"))),
        Err(e) => Some((key.to_owned(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_option_agrees_with_options() {
        let lists = [
            "you|me", "a", "[a,b]", "[a|b]", " a | b ", "a,b", "|a||b|", "", "[]", "x y|z",
        ];
        let values = [
            "you", "me", "a", "b", "", " a", "a ", "x y", "z", "x", "|", "[a",
        ];
        for list in lists {
            for v in values {
                assert_eq!(
                    is_option(list, v),
                    super::options(list).any(|o| o == v),
                    "{list:?} {v:?}"
                );
            }
        }
    }

    #[test]
    fn intervals() {
        let r = Range::parse("[0:100]").unwrap();
        assert!(r.contains(0.0) && r.contains(100.0) && !r.contains(100.5) && !r.contains(-1.0));
        let r = Range::parse("(0:10]").unwrap();
        assert!(!r.contains(0.0) && r.contains(10.0));
        let r = Range::parse("[1:]").unwrap();
        assert!(r.contains(1e9) && !r.contains(0.5));
        let r = Range::parse("[:5)").unwrap();
        assert!(r.contains(-1e9) && !r.contains(5.0));
        assert!(Range::parse("0:5").is_err());
        assert!(Range::parse("[5:1]").is_err());
        assert!(Range::parse("[a:1]").is_err());
    }

    #[test]
    fn built_in_const_code_as_parsed() {
        const BETWEEN: Range = Range::unbounded().ge(0.0).le(100.0);
        const HALF_OPEN: Range = Range::unbounded().gt(0.0).le(10.0);
        const FROM: Range = Range::unbounded().ge(1.0);
        const BELOW: Range = Range::unbounded().lt(5.0);
        assert_eq!(BETWEEN, Range::parse("[0:100]").unwrap());
        assert_eq!(HALF_OPEN, Range::parse("(0:10]").unwrap());
        assert_eq!(FROM, Range::parse("[1:]").unwrap());
        assert_eq!(BELOW, Range::parse("[:5)").unwrap());
        assert_eq!(HALF_OPEN.to_string(), "(0:10]");
        assert!(!HALF_OPEN.contains(0.0) && HALF_OPEN.contains(10.0));
    }

    #[test]
    fn options() {
        assert_eq!(split_options("a|b|c"), ["a", "b", "c"]);
        assert_eq!(split_options("[a, b]"), ["a", "b"]);
        assert_eq!(split_options("one"), ["one"]);
    }
}
