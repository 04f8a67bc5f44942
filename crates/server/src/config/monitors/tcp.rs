//! `type = "tcp"`: a connection to `tcp://host:port`, up when it opens.

use pharos_domain::{MonitorKind, TcpSpec};

use super::{Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::parse_tcp_url;
use crate::config::walk::{Cx, Section};

/// The tcp monitor type.
pub(super) const TYPE: Type = Type {
    name: "tcp",
    a_name: "a tcp",
    keys: &[],
    refuses: &[],
    refusal: "",
    default_condition: Some("[CONNECTED] == true"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the `url`, `tcp://host:port`.
fn read(cx: &mut Cx<'_>, _: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let (host, port) = e.target(cx, parse_tcp_url)?;
    Some(MonitorKind::Tcp(TcpSpec { host, port }).into())
}
