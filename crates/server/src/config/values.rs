//! Validation of the small value languages inside strings: URLs, `tcp://host:port`, byte
//! sizes, HTTP methods and header names. Pure functions; the message says what is wrong
//! and the caller adds where.
//!
//! URLs are taken apart by hand here rather than with `url::Url` (which the probes use,
//! through `reqwest`) because the WHATWG parsing it implements repairs what it is given,
//! and these checks exist to refuse it with a message that quotes the piece at fault as
//! written. `Url::parse` reads `http:///x` as the host `x`, `example.com:80` as the scheme
//! `example.com` and `http:x` as `http://x/`; it drops tabs and line breaks, accepts port 0
//! and `!` in a host name, and when it refuses a host or port it does not say which text.
//! The test `url_crate_repairs_what_these_checks_refuse` keeps these examples honest.

/// Why an `http(s)://` URL is refused, before it is worded for a plain or a secret URL.
enum HttpUrlError {
    /// No `://`.
    NotAbsolute,
    /// A scheme other than http or https, as written.
    Scheme(String),
    /// A space or control character.
    Contains(char),
    /// What is wrong with the host or port.
    HostPort(String),
}

/// Checks an absolute `http://` or `https://` URL with a host.
fn http_url(url: &str) -> Result<(), HttpUrlError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(HttpUrlError::NotAbsolute);
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(HttpUrlError::Scheme(scheme.to_owned()));
    }
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(HttpUrlError::Contains(c));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // Userinfo (`user:pass@`) is allowed; the host is what follows the last `@`.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    split_host_port(host_port).map_err(HttpUrlError::HostPort)?;
    Ok(())
}

/// Checks an absolute `http://` or `https://` URL with a host.
pub(super) fn check_http_url(url: &str) -> Result<(), String> {
    // Messages show the URL without the password of its user information.
    let shown = pharos_domain::fingerprint::redact_userinfo(url);
    http_url(url).map_err(|e| match e {
        HttpUrlError::NotAbsolute => {
            format!("{shown:?} is not an absolute URL; expected http://… or https://…")
        }
        HttpUrlError::Scheme(scheme) => {
            format!("{shown:?} has scheme {scheme:?}; expected http:// or https://")
        }
        HttpUrlError::Contains(c) => {
            format!("{shown:?} contains {c:?}; encode it (e.g. %20 for a space)")
        }
        HttpUrlError::HostPort(e) => format!("{shown:?}: {e}"),
    })
}

/// Checks an image address for the public page: an absolute `http(s)://` URL, or a path on
/// the page's own origin starting with a single `/`.
pub(super) fn check_image_url(url: &str) -> Result<(), String> {
    if url.starts_with("//") {
        return Err(format!(
            "{url:?} is protocol-relative; write https://… or a path starting with a single /"
        ));
    }
    if url.starts_with('/') {
        if let Some(c) = url
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '\\')
        {
            return Err(format!(
                "{url:?} contains {c:?}; encode it (e.g. %20 for a space)"
            ));
        }
        return Ok(());
    }
    check_http_url(url)
        .map_err(|_| format!("{url:?} is neither an http(s):// URL nor a path starting with /"))
}

/// Checks a support link: an absolute `http(s)://` URL or `mailto:address`.
pub(super) fn check_support_url(url: &str) -> Result<(), String> {
    match url.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => {
            let to = &url[7..];
            if to.contains('@') && !to.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Ok(())
            } else {
                Err(format!("{url:?} is not mailto:someone@example.com"))
            }
        }
        _ => check_http_url(url).map_err(|_| {
            format!("{url:?} is neither an http(s):// URL nor mailto:someone@example.com")
        }),
    }
}

/// A CSS hex colour, `#rgb` or `#rrggbb`, as `#rrggbb` in lower case.
pub(super) fn parse_hex_color(s: &str) -> Option<String> {
    let hex = s.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let full: String = match hex.len() {
        3 => hex.chars().flat_map(|c| [c, c]).collect(),
        6 => hex.to_owned(),
        _ => return None,
    };
    Some(format!("#{}", full.to_ascii_lowercase()))
}

/// [`check_http_url`] for a URL that may hold a secret (a chat webhook's URL is its
/// credential): the message says what is wrong without repeating any part of the URL.
pub(super) fn check_secret_http_url(url: &str) -> Result<(), &'static str> {
    http_url(url).map_err(|e| match e {
        HttpUrlError::NotAbsolute => "not an absolute URL; expected http://… or https://…",
        HttpUrlError::Scheme(_) => "the scheme must be http:// or https://",
        HttpUrlError::Contains(_) => {
            "it contains a space or control character; encode it (e.g. %20 for a space)"
        }
        HttpUrlError::HostPort(_) => "the host or port after the scheme is not valid",
    })
}

/// Parses `tcp://host:port` into host (IPv6 without brackets) and port.
pub(super) fn parse_tcp_url(url: &str) -> Result<(String, u16), String> {
    match host_url(url, "tcp", Port::Required)? {
        (host, Some(port)) => Ok((host, port)),
        (_, None) => Err(format!(
            "{:?} has no port; expected tcp://host:port",
            pharos_domain::fingerprint::redact_userinfo(url)
        )),
    }
}

/// Parses `scheme://host[:port]` (the `tls://` and `icmp://` monitor URLs) into host (IPv6
/// without brackets) and port. With `default_port` None, a port is refused (ICMP has none).
pub(super) fn parse_host_url(
    url: &str,
    scheme: &str,
    default_port: Option<u16>,
) -> Result<(String, Option<u16>), String> {
    let port = match default_port {
        Some(_) => Port::Optional,
        None => Port::Refused,
    };
    host_url(url, scheme, port)
}

/// Whether a `scheme://host[:port]` URL must, may or must not name a port.
#[derive(Clone, Copy)]
enum Port {
    /// `tcp://host:port` (the caller refuses a URL without one).
    Required,
    /// `tls://host[:port]`.
    Optional,
    /// `icmp://host`.
    Refused,
}

/// Parses `scheme://host[:port]` into host (IPv6 without brackets) and port; `port` says
/// how messages write the expected form and whether a port is refused.
fn host_url(url: &str, scheme: &str, port: Port) -> Result<(String, Option<u16>), String> {
    // A URL written with `user:password@` is refused without repeating the password.
    let shown = pharos_domain::fingerprint::redact_userinfo(url);
    let form = match port {
        Port::Required => format!("{scheme}://host:port"),
        Port::Optional => format!("{scheme}://host[:port]"),
        Port::Refused => format!("{scheme}://host"),
    };
    let Some(rest) = url.strip_prefix(&format!("{scheme}://")) else {
        return Err(format!("{shown:?} is not a {scheme} URL; expected {form}"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) || rest.chars().any(char::is_whitespace) {
        return Err(format!("{shown:?} must be just {form}"));
    }
    let (host, found) = split_host_port(rest).map_err(|e| format!("{shown:?}: {e}"))?;
    if let (Port::Refused, Some(_)) = (port, found) {
        return Err(format!("{shown:?}: {scheme} has no ports; expected {form}"));
    }
    Ok((host.to_owned(), found))
}

/// Parses a resolver address, `ip[:port]` (`[v6]:port` for IPv6), with `default_port` when
/// none is written. A host name is refused: the resolver must not need a resolver.
pub(super) fn parse_socket_addr(
    s: &str,
    default_port: u16,
) -> Result<std::net::SocketAddr, String> {
    let (host, port) = split_host_port(s.trim())?;
    let ip: std::net::IpAddr = host.parse().map_err(|_| {
        format!("{host:?} is not an IP address (write the resolver's address, like \"1.1.1.1:53\")")
    })?;
    Ok(std::net::SocketAddr::new(ip, port.unwrap_or(default_port)))
}

/// Splits `host[:port]` (`[v6]:port` for IPv6) and checks both parts.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("unclosed `[` in IPv6 address".into());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("unexpected text after `]`")?),
        };
        (host, port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if !s.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '%'))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("{p:?} is not a port number (1-65535)")),
        },
    };
    Ok((host, port))
}

/// Parses a byte size: `"1MiB"`, `"512 KiB"`, `"64kB"`, `"1000"`. Units are B, kB/KB, MB,
/// GB (powers of 1000) and KiB, MiB, GiB (powers of 1024), in any case.
pub(super) fn parse_byte_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("{s:?} is not a size; expected bytes as an integer or a string like \"512KiB\" or \"1MiB\"")
    };
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = t[..digits].parse().map_err(|_| bad())?;
    let factor: u64 = match t[digits..].trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

/// An HTTP token (RFC 9110 §5.6.2): what methods and header names are made of.
pub(super) fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_support_urls_and_colours() {
        for ok in [
            "https://cdn.example.com/l.svg",
            "http://x.example/l.png",
            "/logo.svg",
            "/a/b.png?v=2",
        ] {
            assert_eq!(check_image_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "//cdn.example.com/l.svg",
            "data:image/png;base64,AAAA",
            "logo.svg",
            "/a b.png",
            "/a\\b",
        ] {
            assert!(check_image_url(bad).is_err(), "{bad}");
        }
        assert_eq!(check_support_url("mailto:help@example.com"), Ok(()));
        assert_eq!(check_support_url("https://example.com/help"), Ok(()));
        for bad in [
            "mailto:",
            "mailto:a b@c",
            "tel:+123",
            "/help",
            "javascript:alert(1)",
        ] {
            assert!(check_support_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_hex_color("#0B62C9").as_deref(), Some("#0b62c9"));
        assert_eq!(parse_hex_color("#08f").as_deref(), Some("#0088ff"));
        for bad in [
            "0b62c9",
            "#0b62c",
            "#0b62c9ff",
            "#ggg",
            "red",
            "#",
            "#0b62c9;x:y",
        ] {
            assert_eq!(parse_hex_color(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_urls() {
        for ok in [
            "http://127.0.0.1:8080/healthz",
            "https://api.example.com",
            "HTTPS://user:pa:ss@example.com/x?y#z",
            "http://[::1]:8080/",
            "http://localhost",
        ] {
            assert_eq!(check_http_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "example.com",
            "ftp://example.com",
            "http://",
            "http:///path",
            "http://exa mple.com",
            "http://example.com:0",
            "http://example.com:99999",
            "http://[nope]/",
            "http://ex!ample.com/",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_urls_are_checked_without_repeating_them() {
        assert_eq!(
            check_secret_http_url("https://hooks.slack.com/services/T/B/x"),
            Ok(())
        );
        for (bad, why) in [
            ("hooks.slack.com/services/T/B/x", "not an absolute URL"),
            ("ftp://hooks.slack.com/x", "the scheme must be"),
            ("https://hooks.slack.com/x y", "space or control character"),
            ("https://hooks.slack.com:0/x", "host or port"),
            ("https:///x", "host or port"),
        ] {
            let e = check_secret_http_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("slack"), "{bad}: {e}");
        }
    }

    #[test]
    fn tcp_urls() {
        assert_eq!(
            parse_tcp_url("tcp://db.internal:5432"),
            Ok(("db.internal".into(), 5432))
        );
        assert_eq!(parse_tcp_url("tcp://[::1]:22/"), Ok(("::1".into(), 22)));
        for bad in [
            "db:5432",
            "tcp://db",
            "tcp://:5432",
            "tcp://db:5432/x",
            "tcp://db:http",
        ] {
            assert!(parse_tcp_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refused_urls_are_shown_without_their_password() {
        let e = parse_tcp_url("tcp://admin:hunter22@db:5432").unwrap_err();
        assert_eq!(
            e,
            "\"tcp://admin:***@db:5432\" must be just tcp://host:port"
        );
        let e = parse_host_url("tls://admin:hunter22@db", "tls", Some(443)).unwrap_err();
        assert!(!e.contains("hunter22"), "{e}");
        let e = check_http_url("https://probe:hunter22@api.example.com:99999/").unwrap_err();
        assert!(
            e.starts_with("\"https://probe:***@api.example.com:99999/\""),
            "{e}"
        );
    }

    #[test]
    fn url_crate_repairs_what_these_checks_refuse() {
        // Why the checks above do not hand URLs to `url::Url` (see the module comment).
        for (url, repaired) in [
            ("http:///path", "http://path/"),
            ("http:example.com", "http://example.com/"),
            ("http://example.com:0/", "http://example.com:0/"),
            ("http://ex!ample.com/", "http://ex!ample.com/"),
            ("http://example.com/\tx", "http://example.com/x"),
        ] {
            let parsed = reqwest::Url::parse(url).map(String::from);
            assert_eq!(parsed.as_deref(), Ok(repaired), "{url}");
            assert!(check_http_url(url).is_err(), "{url}");
        }
        let scheme = reqwest::Url::parse("example.com:80").map(|u| u.scheme().to_owned());
        assert_eq!(scheme.as_deref(), Ok("example.com"));
        assert!(check_http_url("example.com:80")
            .unwrap_err()
            .contains("not an absolute URL"));
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_byte_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_byte_size("64kB"), Ok(64_000));
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert_eq!(parse_byte_size("2gib"), Ok(2 << 30));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "-1",
            "1 parsec",
            "99999999999999999999GiB",
        ] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_tokens() {
        assert!(is_http_token("PURGE"));
        assert!(is_http_token("X-Request-Id"));
        assert!(!is_http_token(""));
        assert!(!is_http_token("GET /"));
        assert!(!is_http_token("Bad:Name"));
    }
}
