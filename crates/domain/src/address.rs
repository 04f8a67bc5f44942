//! Which IP addresses are on the public internet, and which a subscriber's webhook may reach.
//!
//! A stranger who subscribes a webhook chooses where Pharos sends requests. Without a rule,
//! that is request forgery: `http://127.0.0.1:…`, the cloud metadata service at
//! `169.254.169.254`, or a database on the private network would get Pharos's POSTs. So a
//! subscriber's webhook may reach public addresses only: [`classify`] names why an address is
//! not public (one pure, table-tested function), and [`AddressPolicy`] adds the operator's
//! exceptions (`[subscriptions] allow_private_webhooks` and `allowed_webhook_networks`).
//!
//! The ranges are IANA's special-purpose registries (RFC 6890 and later), taken
//! conservatively: anything not globally reachable is refused, and IPv6 forms that carry an
//! IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) are judged by the IPv4
//! address inside, since that is where the packets end up.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;

/// Why an address is not a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `127.0.0.0/8`, `::1`: this machine.
    Loopback,
    /// `0.0.0.0/8`, `::`: "this host" (connecting to it reaches this machine).
    Unspecified,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `100.64.0.0/10`, shared address space behind carrier-grade NAT.
    SharedCgnat,
    /// `169.254.0.0/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `192.0.0.0/24` and `2001::/23` (outside Teredo): IETF protocol assignments.
    ProtocolAssignment,
    /// `fc00::/7`: unique local IPv6, the private networks of IPv6.
    UniqueLocal,
    /// `fec0::/10`: deprecated site-local IPv6.
    SiteLocal,
    /// `240.0.0.0/4`, `192.88.99.0/24`, and IPv6 outside the global unicast `2000::/3`
    /// (`100::/64` discard-only, `64:ff9b:1::/48` local NAT64, …) or in `5f00::/16`.
    Reserved,
}

impl Kind {
    /// The kind in words, with its article: "a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Loopback => "a loopback address",
            Kind::Unspecified => "an unspecified (this host) address",
            Kind::Private => "a private network address",
            Kind::SharedCgnat => "a shared (carrier-grade NAT) address",
            Kind::LinkLocal => "a link-local address",
            Kind::Multicast => "a multicast address",
            Kind::Broadcast => "the broadcast address",
            Kind::Documentation => "a documentation address",
            Kind::Benchmarking => "a benchmarking address",
            Kind::ProtocolAssignment => "an IETF protocol assignment address",
            Kind::UniqueLocal => "a unique local (private IPv6) address",
            Kind::SiteLocal => "a site-local address",
            Kind::Reserved => "a reserved address",
        }
    }
}

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`.
    Mapped,
    /// `::a.b.c.d` (deprecated).
    Compatible,
    /// `64:ff9b::a.b.c.d`, translated by a NAT64 gateway.
    Nat64,
    /// `2002:AABB:CCDD::/48`.
    SixToFour,
    /// `2001:0::/32`: the server's and (inverted) the client's IPv4 address.
    Teredo,
}

impl Embedding {
    fn name(self) -> &'static str {
        match self {
            Embedding::Mapped => "an IPv4-mapped",
            Embedding::Compatible => "an IPv4-compatible",
            Embedding::Nat64 => "a NAT64",
            Embedding::SixToFour => "a 6to4",
            Embedding::Teredo => "a Teredo",
        }
    }
}

/// Why an address is not public: its kind, and the IPv4 address that made it so when it
/// hides inside an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonPublic {
    /// What kind of address it is (or carries).
    pub kind: Kind,
    /// The IPv4 address inside, and how it is carried.
    pub inside: Option<(Embedding, Ipv4Addr)>,
}

impl NonPublic {
    fn plain(kind: Kind) -> NonPublic {
        NonPublic { kind, inside: None }
    }
}

impl fmt::Display for NonPublic {
    /// "a loopback address", or "a loopback address (127.0.0.1 inside an IPv4-mapped IPv6
    /// address)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some((how, v4)) = self.inside {
            write!(f, " ({v4} inside {} IPv6 address)", how.name())?;
        }
        Ok(())
    }
}

/// `None` when `ip` is a public address; otherwise why it is not.
pub fn classify(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(NonPublic::plain),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Option<Kind> {
    // Most specific first: 255.255.255.255 sits inside 240.0.0.0/4.
    const TABLE: &[([u8; 4], u32, Kind)] = &[
        ([255, 255, 255, 255], 32, Kind::Broadcast),
        ([0, 0, 0, 0], 8, Kind::Unspecified),
        ([10, 0, 0, 0], 8, Kind::Private),
        ([100, 64, 0, 0], 10, Kind::SharedCgnat),
        ([127, 0, 0, 0], 8, Kind::Loopback),
        ([169, 254, 0, 0], 16, Kind::LinkLocal),
        ([172, 16, 0, 0], 12, Kind::Private),
        ([192, 0, 0, 0], 24, Kind::ProtocolAssignment),
        ([192, 0, 2, 0], 24, Kind::Documentation),
        ([192, 88, 99, 0], 24, Kind::Reserved),
        ([192, 168, 0, 0], 16, Kind::Private),
        ([198, 18, 0, 0], 15, Kind::Benchmarking),
        ([198, 51, 100, 0], 24, Kind::Documentation),
        ([203, 0, 113, 0], 24, Kind::Documentation),
        ([224, 0, 0, 0], 4, Kind::Multicast),
        ([240, 0, 0, 0], 4, Kind::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, kind)| *kind)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The IPv4 address in bits `from..from + 32` of `ip`.
fn v4_at(ip: Ipv6Addr, from: u32) -> Ipv4Addr {
    let bits = (u128::from(ip) >> (96 - from)) as u32;
    Ipv4Addr::from(bits)
}

fn classify_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    let embedded = |how: Embedding, v4: Ipv4Addr| {
        classify_v4(v4).map(|kind| NonPublic {
            kind,
            inside: Some((how, v4)),
        })
    };
    if ip.is_unspecified() {
        return Some(NonPublic::plain(Kind::Unspecified));
    }
    if ip.is_loopback() {
        return Some(NonPublic::plain(Kind::Loopback));
    }
    // IPv4 inside IPv6: judged by the IPv4 address, since that is where it goes.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return embedded(Embedding::Mapped, v4_at(ip, 96));
    }
    if in_v6(ip, [0; 8], 96) {
        return embedded(Embedding::Compatible, v4_at(ip, 96));
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return embedded(Embedding::Nat64, v4_at(ip, 96));
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return embedded(Embedding::SixToFour, v4_at(ip, 16));
    }
    if in_v6(ip, [0x2001, 0, 0, 0, 0, 0, 0, 0], 32) {
        // The server's address, then the client's (stored inverted): both must be public.
        let server = v4_at(ip, 32);
        let client = Ipv4Addr::from(!u32::from(v4_at(ip, 96)));
        return embedded(Embedding::Teredo, server).or_else(|| embedded(Embedding::Teredo, client));
    }
    const TABLE: &[([u16; 8], u32, Kind)] = &[
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Kind::Multicast),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, Kind::LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Kind::SiteLocal),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Kind::UniqueLocal),
        ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32, Kind::Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Kind::Documentation),
        ([0x2001, 0x0002, 0, 0, 0, 0, 0, 0], 48, Kind::Benchmarking),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Kind::ProtocolAssignment),
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, Kind::Reserved),
    ];
    if let Some((_, _, kind)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(NonPublic::plain(*kind));
    }
    // Only 2000::/3 is allocated for global unicast; the rest (100::/64 discard-only,
    // 64:ff9b:1::/48 local-use NAT64, …) is not reachable on the internet.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some(NonPublic::plain(Kind::Reserved));
    }
    None
}

/// Which addresses subscribers' webhooks may reach: public ones always; others only when
/// `allow_private` is set or they fall in one of `allowed_networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `[subscriptions] allow_private_webhooks`: every address is allowed (internal pages,
    /// tests).
    pub allow_private: bool,
    /// `[subscriptions] allowed_webhook_networks`: non-public networks allowed all the same.
    pub allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    /// Whether a webhook may connect to `ip`; if not, why. An IPv4-mapped IPv6 address is
    /// matched against the allowed networks in both of its forms.
    pub fn check(&self, ip: IpAddr) -> Result<(), NonPublic> {
        if self.allow_private {
            return Ok(());
        }
        let Some(why) = classify(ip) else {
            return Ok(());
        };
        let canonical = ip.to_canonical();
        if self
            .allowed_networks
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        Err(why)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn why(ip: &str) -> Option<String> {
        classify(ip.parse().unwrap()).map(|n| n.to_string())
    }

    #[test]
    fn every_special_range_is_named_and_public_addresses_pass() {
        let table: &[(&str, Option<&str>)] = &[
            // IPv4
            ("0.0.0.0", Some("an unspecified (this host) address")),
            ("0.1.2.3", Some("an unspecified (this host) address")),
            ("10.0.0.5", Some("a private network address")),
            ("10.255.255.255", Some("a private network address")),
            ("100.63.255.255", None),
            ("100.64.0.1", Some("a shared (carrier-grade NAT) address")),
            (
                "100.127.255.255",
                Some("a shared (carrier-grade NAT) address"),
            ),
            ("100.128.0.0", None),
            ("127.0.0.1", Some("a loopback address")),
            ("127.255.255.254", Some("a loopback address")),
            ("169.254.169.254", Some("a link-local address")),
            ("172.15.255.255", None),
            ("172.16.0.1", Some("a private network address")),
            ("172.31.255.255", Some("a private network address")),
            ("172.32.0.0", None),
            ("192.0.0.8", Some("an IETF protocol assignment address")),
            ("192.0.2.10", Some("a documentation address")),
            ("192.88.99.1", Some("a reserved address")),
            ("192.167.255.255", None),
            ("192.168.1.1", Some("a private network address")),
            ("192.169.0.0", None),
            ("198.18.0.1", Some("a benchmarking address")),
            ("198.19.255.255", Some("a benchmarking address")),
            ("198.20.0.0", None),
            ("198.51.100.7", Some("a documentation address")),
            ("203.0.113.9", Some("a documentation address")),
            ("224.0.0.1", Some("a multicast address")),
            ("239.255.255.250", Some("a multicast address")),
            ("240.0.0.1", Some("a reserved address")),
            ("255.255.255.254", Some("a reserved address")),
            ("255.255.255.255", Some("the broadcast address")),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.215.14", None),
            ("223.255.255.255", None),
            // IPv6
            ("::", Some("an unspecified (this host) address")),
            ("::1", Some("a loopback address")),
            ("fe80::1", Some("a link-local address")),
            ("febf:ffff::1", Some("a link-local address")),
            ("fec0::1", Some("a site-local address")),
            ("fc00::1", Some("a unique local (private IPv6) address")),
            (
                "fd12:3456::1",
                Some("a unique local (private IPv6) address"),
            ),
            ("ff02::1", Some("a multicast address")),
            ("2001:db8::1", Some("a documentation address")),
            ("3fff:0fff::1", Some("a documentation address")),
            ("2001:2::1", Some("a benchmarking address")),
            ("2001:10::1", Some("an IETF protocol assignment address")),
            ("100::1", Some("a reserved address")),
            ("64:ff9b:1::1", Some("a reserved address")),
            ("5f00::1", Some("a reserved address")),
            ("4000::1", Some("a reserved address")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
            // IPv4 inside IPv6, judged by the IPv4 address.
            (
                "::ffff:127.0.0.1",
                Some("a loopback address (127.0.0.1 inside an IPv4-mapped IPv6 address)"),
            ),
            (
                "::ffff:7f00:1",
                Some("a loopback address (127.0.0.1 inside an IPv4-mapped IPv6 address)"),
            ),
            (
                "::ffff:169.254.169.254",
                Some("a link-local address (169.254.169.254 inside an IPv4-mapped IPv6 address)"),
            ),
            ("::ffff:8.8.8.8", None),
            (
                "::10.0.0.1",
                Some("a private network address (10.0.0.1 inside an IPv4-compatible IPv6 address)"),
            ),
            (
                "64:ff9b::7f00:1",
                Some("a loopback address (127.0.0.1 inside a NAT64 IPv6 address)"),
            ),
            ("64:ff9b::808:808", None),
            (
                "2002:c0a8:0101::1",
                Some("a private network address (192.168.1.1 inside a 6to4 IPv6 address)"),
            ),
            ("2002:0808:0808::1", None),
            // Teredo: server 65.54.227.120 (public), client 127.0.0.1 stored inverted.
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                Some("a loopback address (127.0.0.1 inside a Teredo IPv6 address)"),
            ),
            (
                "2001:0:0a00:0001:8000:63bf:f7f7:f7f7",
                Some("a private network address (10.0.0.1 inside a Teredo IPv6 address)"),
            ),
            ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),
        ];
        for (ip, want) in table {
            assert_eq!(why(ip).as_deref(), *want, "{ip}");
        }
    }

    #[test]
    fn the_policy_allows_public_addresses_and_the_operators_exceptions() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let strict = AddressPolicy::default();
        assert!(strict.check(ip("8.8.8.8")).is_ok());
        assert_eq!(
            strict.check(ip("10.20.1.1")).unwrap_err().kind,
            Kind::Private
        );

        let listed = AddressPolicy {
            allow_private: false,
            allowed_networks: vec![
                "10.20.0.0/16".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
                "127.0.0.0/8".parse().unwrap(),
            ],
        };
        assert!(listed.check(ip("10.20.1.1")).is_ok());
        assert!(listed.check(ip("fd00::5")).is_ok());
        assert!(listed.check(ip("8.8.8.8")).is_ok());
        // The mapped form of an allowed IPv4 address is allowed too.
        assert!(listed.check(ip("::ffff:127.0.0.1")).is_ok());
        assert_eq!(
            listed.check(ip("10.21.0.1")).unwrap_err().kind,
            Kind::Private
        );
        assert_eq!(listed.check(ip("::1")).unwrap_err().kind, Kind::Loopback);
        assert_eq!(
            listed.check(ip("169.254.169.254")).unwrap_err().kind,
            Kind::LinkLocal
        );

        let open = AddressPolicy {
            allow_private: true,
            allowed_networks: Vec::new(),
        };
        for s in ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1"] {
            assert!(open.check(ip(s)).is_ok(), "{s}");
        }
    }
}
