//! The shapes a flag's value must have before it reaches a Dockerfile, a manifest or a
//! pipeline. Each check names the flag and the rule; nothing is escaped into validity.

use super::DeployError;

/// A Kubernetes object name (an RFC 1123 label): lower-case letters, digits and `-`, at most
/// 63 characters, starting and ending with a letter or digit.
pub fn dns_label(flag: &'static str, value: &str) -> Result<(), DeployError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}` is not a Kubernetes name: lower-case letters, digits and `-`, at most 63, \
             starting and ending with a letter or digit",
            value.escape_debug()
        ),
    })
}

/// A container image reference (`registry/path/name:tag` or `...@sha256:...`), or a
/// pipeline variable such as `$CI_REGISTRY_IMAGE` (`$`, `{`, `}` allowed, never a space).
pub fn image(flag: &'static str, value: &str, variables: bool) -> Result<(), DeployError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && !value.starts_with(['-', '.', ':', '/', '@'])
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
                || (variables && matches!(b, b'$' | b'{' | b'}'))
        });
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}` is not an image reference (letters, digits, `.`, `_`, `-`, `/`, `:` and `@`)",
            value.escape_debug()
        ),
    })
}

/// A time zone name from the tz database (`UTC`, `Asia/Shanghai`, `America/Port-au-Prince`).
pub fn time_zone(flag: &'static str, value: &str) -> Result<(), DeployError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && !value.contains("..");
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}` is not a time zone name (like UTC or Asia/Shanghai)",
            value.escape_debug()
        ),
    })
}

/// A plain word: a Cargo package or binary name, a version tag (`1.89`, `1-slim`).
pub fn word(flag: &'static str, value: &str) -> Result<(), DeployError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(()).ok_or_else(|| DeployError::Flag {
        flag,
        message: format!(
            "`{}` must be letters, digits, `.`, `_` and `-`",
            value.escape_debug()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(dns_label("name", "trial-rpc").is_ok());
        for bad in ["", "Trial", "-a", "a-", "a_b", "a\nb", &"a".repeat(64)] {
            assert!(dns_label("name", bad).is_err(), "{bad:?}");
        }
        assert!(image("image", "ghcr.io/acme/trial-rpc:1.0", false).is_ok());
        assert!(image("image", "r.io/a@sha256:0123", false).is_ok());
        assert!(image("image", "$CI_REGISTRY_IMAGE", false).is_err());
        assert!(
            image("image", "${{ env.REGISTRY }}/a", true).is_err(),
            "spaces"
        );
        assert!(image("image", "$CI_REGISTRY_IMAGE/a", true).is_ok());
        for bad in ["a b", "a\nRUN x", "-x", "a\"b"] {
            assert!(image("image", bad, true).is_err(), "{bad:?}");
        }
        assert!(time_zone("tz", "America/Port-au-Prince").is_ok());
        assert!(time_zone("tz", "../etc").is_err());
        assert!(word("version", "1.89-slim").is_ok());
        assert!(word("version", "1 2").is_err());
    }
}
