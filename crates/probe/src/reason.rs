//! Failure reasons as users read them on the status page and in alerts: short, lower case,
//! naming the cause ("connection refused", "TLS error: invalid peer certificate: …") rather
//! than the layers it passed through. Every kind words its failures here, so the same cause
//! reads the same whichever kind met it.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// Raised by our redirect policy when a chain is longer than the monitor allows, so the
/// reason can say which limit was hit.
#[derive(Debug)]
pub(crate) struct TooManyRedirects(pub(crate) usize);

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "too many redirects ({})", self.0)
    }
}

impl StdError for TooManyRedirects {}

/// "response body larger than 1 MiB".
pub(crate) fn body_too_large(limit: usize) -> String {
    format!("response body larger than {}", human_bytes(limit))
}

/// A byte count in the largest binary unit that divides it exactly ("1 MiB", "64 KiB",
/// "1000 bytes"), so the limit reads as it was configured.
pub(crate) fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    const GIB: usize = 1024 * MIB;
    for (unit, size) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

/// "DNS lookup failed for example.com: …".
pub(crate) fn dns_failed(host: &str, cause: &dyn fmt::Display) -> String {
    format!("DNS lookup failed for {host}: {cause}")
}

/// The reason for a socket-level error, when its kind says enough on its own.
pub(crate) fn io_reason(err: &io::Error) -> Option<&'static str> {
    use io::ErrorKind as K;
    Some(match err.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "connection closed by the target (broken pipe)",
        K::TimedOut => "connection timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::NetworkDown => "network down",
        K::AddrNotAvailable => "address not available",
        K::UnexpectedEof => "connection closed unexpectedly",
        _ => return None,
    })
}

/// The reason for a socket-level error, falling back to the operating system's wording.
pub(crate) fn io_error(err: &io::Error) -> String {
    io_reason(err).map_or_else(|| err.to_string(), str::to_owned)
}

/// Describes a failed HTTP request from its error source chain, most specific cause first.
/// `host` names the target for DNS failures when the error carries no URL.
pub(crate) fn http_error(err: &reqwest::Error, host: Option<&str>) -> String {
    let mut innermost: Option<&(dyn StdError + 'static)> = None;
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(redirects) = e.downcast_ref::<TooManyRedirects>() {
            return redirects.to_string();
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if !err.is_dns() {
                if let Some(reason) = io_reason(io) {
                    return reason.to_owned();
                }
            }
        }
        // reqwest's own layers print the URL, which may hold credentials: skip them.
        if e.downcast_ref::<reqwest::Error>().is_none() {
            innermost = Some(e);
        }
        source = next_cause(e);
    }
    let cause = innermost.map_or_else(|| "request failed".to_owned(), ToString::to_string);
    if err.is_dns() {
        let host = err
            .url()
            .and_then(|u| u.host_str())
            .or(host)
            .unwrap_or("host");
        dns_failed(host, &cause)
    } else if err.is_builder() {
        format!("invalid request: {cause}")
    } else if err.is_timeout() {
        "connection timed out".to_owned()
    } else if err.is_connect() {
        format!("connection failed: {cause}")
    } else {
        cause
    }
}

/// "TLS error: …" in rustls's words, except that the certificate problems people meet most
/// read plainly ("invalid peer certificate: expired", "… unknown issuer", "… not valid for
/// name …") and without the verification timestamps, so the reason is the same every check.
pub(crate) fn tls_error(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = err else {
        return format!("TLS error: {err}");
    };
    let what = match cert {
        C::Expired | C::ExpiredContext { .. } => "expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".to_owned(),
        C::UnknownIssuer => "unknown issuer".to_owned(),
        C::BadSignature => "bad signature".to_owned(),
        C::Revoked => "revoked".to_owned(),
        C::BadEncoding => "malformed certificate".to_owned(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "not valid for server authentication".to_owned()
        }
        C::NotValidForName => "not valid for the name asked for".to_owned(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
            let valid_for = if names.is_empty() {
                "it names no host".to_owned()
            } else {
                format!("it is valid for {}", names.join(", "))
            };
            format!("not valid for name {:?}; {valid_for}", expected.to_str())
        }
        C::Other(other) => other.to_string(),
        other => other.to_string(),
    };
    format!("TLS error: invalid peer certificate: {what}")
}

/// A subject name as rustls quotes it (`DnsName("example.com")`, `IpAddress(10.0.0.1)`),
/// without the wrapping.
fn presented_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(name)
}

/// The error `e` wraps. `io::Error::source` skips the error it wraps (it returns *that*
/// error's source), and tokio-rustls wraps the TLS error in an `io::Error` that reqwest wraps
/// in another, so step into `io::Error`s by hand.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => Some(inner),
        None => e.source(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_configured() {
        assert_eq!(human_bytes(1024 * 1024), "1 MiB");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3 GiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(
            body_too_large(1024 * 1024),
            "response body larger than 1 MiB"
        );
    }

    #[test]
    fn socket_errors_are_named() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_error(&refused), "connection refused");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(io_error(&reset), "connection reset");
        let other = io::Error::other("something odd");
        assert_eq!(io_error(&other), "something odd");
    }

    #[test]
    fn tls_errors_wrapped_in_io_errors_are_found() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = io::Error::new(io::ErrorKind::InvalidData, tls);
        let outer = io::Error::other(inner);
        let mut e: Option<&(dyn StdError + 'static)> = Some(&outer);
        let mut found = false;
        while let Some(cause) = e {
            found |= cause.is::<rustls::Error>();
            e = next_cause(cause);
        }
        assert!(found);
    }

    #[test]
    fn certificate_problems_read_plainly() {
        use rustls::pki_types::{ServerName, UnixTime};
        use rustls::CertificateError as C;
        use std::time::Duration;
        let bad = |c: C| tls_error(&rustls::Error::InvalidCertificate(c));
        let expired = C::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(2_000_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_900_000_000)),
        };
        assert_eq!(bad(expired), "TLS error: invalid peer certificate: expired");
        assert_eq!(
            bad(C::UnknownIssuer),
            "TLS error: invalid peer certificate: unknown issuer"
        );
        let wrong_name = C::NotValidForNameContext {
            expected: ServerName::try_from("db.internal").unwrap(),
            presented: vec![
                "DnsName(\"localhost\")".to_owned(),
                "IpAddress(127.0.0.1)".to_owned(),
            ],
        };
        assert_eq!(
            bad(wrong_name),
            "TLS error: invalid peer certificate: not valid for name \"db.internal\"; it is valid for localhost, 127.0.0.1"
        );
        assert_eq!(
            tls_error(&rustls::Error::NoCertificatesPresented),
            "TLS error: peer sent no certificates"
        );
    }

    #[test]
    fn redirect_limit_is_named() {
        assert_eq!(TooManyRedirects(10).to_string(), "too many redirects (10)");
    }
}
