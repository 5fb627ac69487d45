//! Header lookups on every request's path.
//!
//! A request carries few headers (wrk sends one, curl three, a browser about a dozen), and
//! the stack looks up half a dozen by name on every request (`traceparent`, `User-Agent`,
//! `Origin`, `Content-Length`, `Content-Encoding`, `Content-Type`). `HeaderMap::get` hashes
//! the name and probes its index for each; comparing the few names there are is cheaper, and
//! most of those headers are absent from most requests.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Maps with up to this many entries are scanned instead of probed.
const SCAN_UP_TO: usize = 8;

/// The first value of `name` in `headers`, as `HeaderMap::get` finds it.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    // Most of these are absent from most requests: the scan answers those alone (over the
    // names only: `HeaderMap::iter` also walks each name's extra values).
    if headers.keys_len() <= SCAN_UP_TO && !headers.keys().any(|n| n == name) {
        return None;
    }
    headers.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, HOST, USER_AGENT};

    #[test]
    fn finds_what_header_map_finds() {
        let mut small = HeaderMap::new();
        small.insert(HOST, HeaderValue::from_static("h"));
        small.append(USER_AGENT, HeaderValue::from_static("a"));
        small.append(USER_AGENT, HeaderValue::from_static("b"));
        let custom = HeaderName::from_static("traceparent");
        small.insert(custom.clone(), HeaderValue::from_static("t"));
        let mut large = small.clone();
        for i in 0..SCAN_UP_TO {
            large.insert(
                HeaderName::try_from(format!("x-filler-{i}")).unwrap(),
                HeaderValue::from_static("f"),
            );
        }
        for map in [&small, &large] {
            for name in [&HOST, &USER_AGENT, &custom, &CONTENT_TYPE] {
                assert_eq!(get(map, name), map.get(name), "{name}");
            }
        }
        assert_eq!(
            get(&small, &USER_AGENT).unwrap(),
            "a",
            "the first of repeated values"
        );
    }
}
