//! `[subscriptions]`: where the public's webhook subscribers may be sent, turned into
//! `pharos_notify::guard::WebhookRules`.
//!
//! ```toml
//! [subscriptions]                          # every key optional
//! allow_private_webhooks = false           # true: any address, even loopback (tests, an
//!                                          # internal page nobody outside can reach)
//! allowed_webhook_networks = ["10.20.0.0/16", "fd00::/8"]   # non-public networks allowed all
//!                                          # the same; a bare address is one host
//! resolver = "10.0.0.2:53"                 # the DNS server webhook names are resolved with
//!                                          # (UDP, then TCP); default: the system's resolver
//! ```
//!
//! By default a subscriber's webhook reaches public addresses only (see
//! `pharos_domain::address`). Each network must be written as its first address and prefix
//! (`10.20.0.0/16`, not `10.20.1.1/16`), since a network with host bits set most likely says
//! something else than was meant. Listing networks while `allow_private_webhooks = true` is a
//! warning: they change nothing. Operator `[[notifiers]]` are trusted and not affected.

use std::net::{IpAddr, SocketAddr};

use pharos_domain::address::{AddressPolicy, IpNet};
use pharos_notify::guard::WebhookRules;

use super::walk::{Cx, Section};

const KEYS: &[&str] = &[
    "allow_private_webhooks",
    "allowed_webhook_networks",
    "resolver",
];

/// Reads `[subscriptions]`, reporting every problem; what is wrong keeps its default.
pub(super) fn subscriptions(cx: &mut Cx<'_>, s: Section<'_>) -> WebhookRules {
    s.check_keys(cx, KEYS);
    let mut out = WebhookRules::default();
    let allow_private = s
        .field("allow_private_webhooks")
        .and_then(|f| cx.boolean(&f))
        .unwrap_or(false);
    let mut networks = Vec::new();
    if let Some(f) = s.field("allowed_webhook_networks") {
        if let Some(items) = cx.string_array(&f) {
            for item in items {
                match network(&item.text) {
                    Ok(net) if networks.contains(&net) => cx.error(
                        item.at,
                        format!("`allowed_webhook_networks` lists {net} twice"),
                    ),
                    Ok(net) => networks.push(net),
                    Err(message) => {
                        cx.error(item.at, format!("`allowed_webhook_networks`: {message}"))
                    }
                }
            }
            if allow_private && !networks.is_empty() {
                cx.warn(
                    f.at,
                    "`allowed_webhook_networks` has no effect while `allow_private_webhooks` is true: every address is allowed",
                );
            }
        }
    }
    if let Some(f) = s.field("resolver") {
        if let Some(v) = cx.string(&f) {
            match resolver(&v.text) {
                Ok(addr) => out.resolver = Some(addr),
                Err(message) => cx.error(v.at, message),
            }
        }
    }
    out.addresses = AddressPolicy {
        allow_private,
        allowed_networks: networks,
    };
    out
}

/// `10.20.0.0/16`, `fd00::/8`, or a bare address (one host).
fn network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!("{text:?} is not a network; write it like \"10.20.0.0/16\" or \"fd00::/8\"")
    })?;
    if net.addr() != net.network() {
        return Err(format!(
            "{text:?} has host bits set; the network is \"{}\"",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `10.0.0.2:53`, `[fd00::53]:53`, or an address alone (port 53).
fn resolver(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "`resolver` must be a DNS server's IP address, with an optional port, like \"10.0.0.2:53\" or \"[fd00::53]:53\"; found {text:?}"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn networks_and_resolvers_are_read() {
        assert_eq!(network("10.20.0.0/16").unwrap().to_string(), "10.20.0.0/16");
        assert_eq!(network("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(network("10.0.0.5").unwrap().to_string(), "10.0.0.5/32");
        assert_eq!(network("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            network("10.20.1.1/16").unwrap_err(),
            "\"10.20.1.1/16\" has host bits set; the network is \"10.20.0.0/16\""
        );
        assert!(network("10.0.0.0/33").is_err());
        assert!(network("intranet").is_err());
        assert_eq!(
            resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            resolver("10.0.0.2").unwrap(),
            "10.0.0.2:53".parse().unwrap()
        );
        assert_eq!(resolver("[::1]:53").unwrap(), "[::1]:53".parse().unwrap());
        assert!(resolver("dns.example.com:53").is_err());
    }
}
