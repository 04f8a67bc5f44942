//! `[smtp]`: the one outgoing mail server that `email` notifiers (and e-mails to subscribers)
//! send through, turned into `pharos_notify::email::SmtpSettings`.
//!
//! The password is a credential: no message here repeats it, and `SmtpSettings`'s `Debug`
//! masks it.

use std::time::Duration;

use pharos_notify::email::{check_mailbox, SmtpSecurity, SmtpSettings};

use super::walk::{did_you_mean, Cx, Field, Section};

const KEYS: &[&str] = &[
    "host", "port", "security", "username", "password", "from", "timeout",
];
const SECURITIES: &[&str] = &["starttls", "tls", "none"];

/// `[smtp] timeout` when it is not set.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the file says about `[smtp]`, for the notifiers that need it.
pub(super) enum SmtpState {
    /// No `[smtp]` table.
    Absent,
    /// A table with errors (already reported).
    Invalid,
    /// A valid table.
    Valid(SmtpSettings),
}

impl SmtpState {
    /// The settings, when the table is valid.
    pub(super) fn settings(&self) -> Option<&SmtpSettings> {
        match self {
            Self::Valid(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads `[smtp]`; `None` (every problem reported) unless it is fully valid.
pub(super) fn smtp(cx: &mut Cx<'_>, s: Section<'_>) -> Option<SmtpSettings> {
    s.check_keys(cx, KEYS);
    let errors_before = cx.error_count();

    let host = match s.field("host") {
        None => {
            s.missing(cx, "host");
            None
        }
        Some(f) => host(cx, &f),
    };
    let security_field = s.field("security");
    let security = match &security_field {
        None => Some(SmtpSecurity::StartTls),
        Some(f) => security(cx, f),
    };
    let port_field = s.field("port");
    let port = port_field.as_ref().and_then(|f| {
        let n = cx.integer_at_least::<u16>(f, 1)?;
        Some((n, f.at))
    });
    if let (Some((port, at)), Some(security)) = (port, security) {
        port_warning(cx, port, at, security);
    }
    let username = s.field("username").and_then(|f| {
        let v = cx.string(&f)?;
        if v.text.trim().is_empty() {
            cx.error(v.at, "`username` must not be empty");
            return None;
        }
        Some((v.text, v.at))
    });
    let password = s.field("password").and_then(|f| {
        let v = cx.secret_string(&f)?;
        Some((v.text, f.key_at))
    });
    match (&username, &password) {
        (Some((_, at)), None) if s.field("password").is_none() => {
            cx.error(*at, "`username` needs a `password`");
        }
        (None, Some((_, at))) if s.field("username").is_none() => {
            cx.error(*at, "`password` needs a `username`");
        }
        _ => {}
    }
    if let (Some(SmtpSecurity::None), Some(_), Some(f)) = (security, &password, &security_field) {
        cx.warn(
            f.at,
            "with security = \"none\" the password travels unencrypted; use \"starttls\" or \"tls\" unless the server is on this machine",
        );
    }
    let from = match s.field("from") {
        None => {
            s.missing(cx, "from");
            None
        }
        Some(f) => cx.string(&f).and_then(|v| match check_mailbox(&v.text) {
            Ok(()) => Some(v.text),
            Err(e) => {
                cx.error(v.at, format!("invalid `from` {:?}: {e}", v.text));
                None
            }
        }),
    };
    let timeout = s.field("timeout").and_then(|f| cx.delivery_timeout(&f));

    if cx.error_count() > errors_before {
        return None;
    }
    let security = security?;
    Some(SmtpSettings {
        host: host?,
        port: port.map_or_else(|| security.default_port(), |(p, _)| p),
        security,
        username: username.map(|(u, _)| u),
        password: password.map(|(p, _)| p),
        from: from?,
        timeout: timeout.unwrap_or(DEFAULT_SMTP_TIMEOUT),
    })
}

/// A host name or IP address, nothing else: no scheme, no port, no path.
fn host(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<String> {
    let v = cx.string(f)?;
    let text = v.text.trim();
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return Some(unbracketed.to_owned());
    }
    let problem = if text.is_empty() {
        Some("`host` must not be empty".to_owned())
    } else if text.contains("://") {
        Some(format!(
            "`host` is a host name, not a URL: write just the name, like \"smtp.example.com\", found {text:?}"
        ))
    } else if let Some((name, port)) = text.rsplit_once(':') {
        Some(if port.parse::<u16>().is_ok() {
            format!("`host` must not carry the port: write host = {name:?} and port = {port}")
        } else {
            format!("`host` must be a host name or IP address, found {text:?}")
        })
    } else if !text
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        Some(format!(
            "`host` must be a host name or IP address like \"smtp.example.com\", found {text:?}"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => {
            cx.error(v.at, p);
            None
        }
        None => Some(text.to_owned()),
    }
}

fn security(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<SmtpSecurity> {
    let v = cx.string(f)?;
    if let Some(s) = SmtpSecurity::parse(&v.text) {
        return Some(s);
    }
    let hint = match v.text.to_ascii_lowercase().as_str() {
        "ssl" | "smtps" | "implicit" => {
            "; use \"tls\" for TLS from the first byte (port 465)".to_owned()
        }
        "starttls" | "tls" | "none" => "; write it in lowercase".to_owned(),
        _ => did_you_mean(&v.text, SECURITIES),
    };
    cx.error(
        v.at,
        format!(
            "unknown `security` {:?} (expected one of: {}){hint}",
            v.text,
            SECURITIES.join(", ")
        ),
    );
    None
}

/// Warns when the port is the other security's usual one: the connection would hang until the
/// timeout, each side waiting for the other to speak first.
fn port_warning(cx: &mut Cx<'_>, port: u16, at: usize, security: SmtpSecurity) {
    let other = match (port, security) {
        (465, SmtpSecurity::StartTls | SmtpSecurity::None) => SmtpSecurity::Tls,
        (587, SmtpSecurity::Tls) => SmtpSecurity::StartTls,
        _ => return,
    };
    cx.warn(
        at,
        format!(
            "port {port} usually wants security = {:?}, not {:?}; with the wrong one every delivery waits for its timeout",
            other.as_str(),
            security.as_str()
        ),
    );
}
