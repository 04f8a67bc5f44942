//! The one rule for a link a person gives Pharos to show (a change's `url`, a postmortem
//! action's `url`): Pharos never fetches it, so it is only checked to be a plain web address
//! that a browser opens as such.

/// Whether `s` is an `http://` or `https://` link with a host, and no whitespace or control
/// characters anywhere (so it cannot break the line or the markup it is shown in).
pub fn is_http_link(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::is_http_link;

    #[test]
    fn only_web_addresses_with_a_host_pass() {
        for ok in [
            "https://ci.example.com/runs/812",
            "http://10.0.0.5:8080/x?y=1#z",
            "https://a",
        ] {
            assert!(is_http_link(ok), "{ok}");
        }
        for bad in [
            "",
            "https://",
            "https:///path",
            "https://a b",
            "https://a\tb",
            "https://a\u{7}",
            "ftp://example.com",
            "javascript:alert(1)",
            "HTTPS://EXAMPLE.COM",
            "example.com",
        ] {
            assert!(!is_http_link(bad), "{bad:?}");
        }
    }
}
