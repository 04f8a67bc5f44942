//! `type = "tls"`: a TLS handshake with `tls://host[:port]`, judged by the certificate it
//! presents (validity, days left).

use pharos_domain::{MonitorKind, TlsSpec};

use super::{http, Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::parse_host_url;
use crate::config::walk::{Cx, Section};

/// The port when the `url` names none.
const DEFAULT_PORT: u16 = 443;

/// The tls monitor type.
pub(super) const TYPE: Type = Type {
    name: "tls",
    a_name: "a tls",
    // The http keys of the same names, with the same meaning.
    keys: &["insecure", "ca_certificate"],
    refuses: &[],
    refusal: "",
    default_condition: Some("[CONNECTED] == true"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the `url`, `tls://host[:port]`, then (when it is valid) `insecure` and
/// `ca_certificate`.
fn read(cx: &mut Cx<'_>, s: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let (host, port) = e.target(cx, |url| parse_host_url(url, "tls", Some(DEFAULT_PORT)))?;
    let insecure = s
        .field("insecure")
        .and_then(|f| cx.boolean(&f))
        .unwrap_or(false);
    let ca_certificate_pem = http::ca_certificate(cx, s);
    Some(
        MonitorKind::Tls(TlsSpec {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            insecure,
            ca_certificate_pem,
        })
        .into(),
    )
}
