//! `type = "dns"`: a query for `query_name` of `query_type` sent to the resolver `server`,
//! judged by its answer code and records. It has no `url`.

use pharos_domain::monitor::DNS_QUERY_TYPES;
use pharos_domain::{DnsSpec, MonitorKind};

use super::{Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::parse_socket_addr;
use crate::config::walk::{did_you_mean, Cx, Section};

/// The resolver's port when `server` names none.
const DEFAULT_PORT: u16 = 53;

/// The dns monitor type.
pub(super) const TYPE: Type = Type {
    name: "dns",
    a_name: "a dns",
    keys: &["server", "query_name", "query_type"],
    refuses: &["url"],
    refusal: "set `server` (the resolver, like \"1.1.1.1:53\"), `query_name` and `query_type`",
    default_condition: Some("[DNS_RCODE] == NOERROR"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the `dns` keys: the resolver `server`, the `query_name` and the `query_type`
/// (default A).
fn read(cx: &mut Cx<'_>, s: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let name = e.name;
    let server = match s.field("server") {
        None => {
            cx.error(
                s.at,
                format!("{name} is missing required key `server` (the resolver asked, like \"1.1.1.1:53\")"),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            parse_socket_addr(&v.text, DEFAULT_PORT)
                .map_err(|e| cx.error(v.at, format!("`server`: {e}")))
                .ok()
        }),
    };
    let query_name = match s.field("query_name") {
        None => {
            cx.error(s.at, format!("{name} is missing required key `query_name` (the name looked up)"));
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let name = v.text.trim_end_matches('.');
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
                });
            if ok {
                Some(v.text)
            } else {
                cx.error(v.at, format!("`query_name`: {:?} is not a DNS name (labels of letters, digits, `-` or `_`, each 1-63 characters)", v.text));
                None
            }
        }),
    };
    let query_type = match s.field("query_type") {
        None => Some("A".to_owned()),
        Some(f) => cx.string(&f).and_then(|v| {
            let upper = v.text.to_ascii_uppercase();
            if DNS_QUERY_TYPES.contains(&upper.as_str()) {
                Some(upper)
            } else {
                cx.error(
                    v.at,
                    format!(
                        "`query_type` must be one of {}, found {:?}{}",
                        DNS_QUERY_TYPES.join(", "),
                        v.text,
                        did_you_mean(&upper, DNS_QUERY_TYPES)
                    ),
                );
                None
            }
        }),
    };
    Some(
        MonitorKind::Dns(DnsSpec {
            server: server?,
            query_name: query_name?,
            query_type: query_type?,
        })
        .into(),
    )
}
