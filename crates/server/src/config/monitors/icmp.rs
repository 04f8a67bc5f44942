//! `type = "icmp"`: an echo request (ping) to `icmp://host`, up when it is answered.

use pharos_domain::{IcmpSpec, MonitorKind};

use super::{Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::parse_host_url;
use crate::config::walk::{Cx, Section};

/// The icmp monitor type.
pub(super) const TYPE: Type = Type {
    name: "icmp",
    a_name: "an icmp",
    keys: &[],
    refuses: &[],
    refusal: "",
    default_condition: Some("[CONNECTED] == true"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the `url`, `icmp://host` (ICMP has no ports).
fn read(cx: &mut Cx<'_>, _: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let (host, _) = e.target(cx, |url| parse_host_url(url, "icmp", None))?;
    Some(MonitorKind::Icmp(IcmpSpec { host }).into())
}
