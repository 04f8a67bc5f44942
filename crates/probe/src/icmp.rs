//! The `icmp` check: one echo request ("ping") to the host, judged by the matching reply
//! within the monitor's timeout. IPv4 and IPv6.
//!
//! Sending ICMP needs a socket the operating system may withhold. Linux's unprivileged ping
//! socket (a datagram ICMP socket, allowed by `net.ipv4.ping_group_range`) is tried first,
//! then a raw socket (root or `CAP_NET_RAW`); with neither the check fails with a reason that
//! names both fixes. A fallback or a refusal is logged once, not on every check.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::{IcmpSpec, Observation};
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};
use tokio::net::lookup_host;
use tokio::time::Instant;

use crate::reason;

/// The reason when the system allows neither kind of ICMP socket.
pub(crate) const NOT_PERMITTED: &str = "ICMP not permitted: allow unprivileged ping with sysctl \
     net.ipv4.ping_group_range=\"0 2147483647\" or give pharos CAP_NET_RAW";

/// What each echo request carries: enough to be recognisable in a packet capture.
const PAYLOAD: &[u8] = b"pharos icmp check, one echo only";

/// Resolves the host, sends one echo request and waits, until `started + timeout`, for the
/// reply that matches it.
pub(crate) async fn check(spec: &IcmpSpec, timeout: Duration, started: Instant) -> Observation {
    // The caller's deadline: racing the same instant lets this check word its own timeout.
    let deadline = started + timeout;
    let ip = match resolve(&spec.host).await {
        Ok(ip) => ip,
        Err(reason) => return Observation::failed(reason, started.elapsed()),
    };
    let failed = |reason: String| Observation {
        ip: Some(ip),
        ..Observation::failed(reason, started.elapsed())
    };
    let client = match open(ip) {
        Ok(client) => client,
        Err(err) => return failed(socket_error(&err)),
    };
    let mut pinger = client.pinger(ip, next_identifier()).await;
    // surge-ping's own clock would start only once the request is sent; ours is the one
    // that counts, so its clock is merely not allowed to cut in first.
    pinger.timeout(timeout);
    let reply = tokio::time::timeout_at(deadline, pinger.ping(PingSequence(0), PAYLOAD)).await;
    match reply {
        Ok(Ok((packet, round_trip))) => match reply_problem(&packet) {
            None => Observation {
                connected: true,
                response_time: round_trip,
                ip: Some(ip),
                ..Observation::default()
            },
            Some(problem) => failed(problem),
        },
        Err(_) | Ok(Err(SurgeError::Timeout { .. })) => failed(no_echo_reply(timeout)),
        Ok(Err(SurgeError::IOError(err))) => failed(reason::io_error(&err)),
        Ok(Err(other)) => failed(format!("ICMP error: {other}")),
    }
}

/// "no echo reply within 1s".
fn no_echo_reply(timeout: Duration) -> String {
    format!("no echo reply within {}", format_duration(timeout))
}

/// The address pinged: the host itself when it is one, else the first the resolver gives.
async fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    match lookup_host((host, 0)).await {
        Ok(mut addrs) => addrs
            .next()
            .map(|addr| addr.ip())
            .ok_or_else(|| reason::dns_failed(host, &"no addresses found")),
        Err(err) => Err(reason::dns_failed(host, &err)),
    }
}

/// Opens an ICMP socket for `ip`'s family: the unprivileged kind, else a raw one. A socket
/// per check costs a system call, and keeps each check on its own runtime's reactor.
fn open(ip: IpAddr) -> io::Result<Client> {
    let kind = if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 };
    let config = Config::builder()
        .kind(kind)
        .sock_type_hint(socket2::Type::DGRAM)
        .build();
    match Client::new(&config) {
        Ok(client) => {
            if client.get_socket().get_type() == socket2::Type::RAW {
                warn_once(&FALLBACK_LOGGED, || {
                    tracing::warn!(
                        "unprivileged ICMP sockets are not allowed (sysctl net.ipv4.ping_group_range); \
                         icmp checks use a raw socket instead, which needs root or CAP_NET_RAW"
                    );
                });
            }
            Ok(client)
        }
        Err(err) => {
            if err.kind() == io::ErrorKind::PermissionDenied {
                warn_once(&DENIED_LOGGED, || {
                    tracing::warn!("icmp checks cannot run: {NOT_PERMITTED}");
                });
            }
            Err(err)
        }
    }
}

/// Set once the fall-back to raw sockets has been logged.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);
/// Set once the refusal of both kinds of socket has been logged.
static DENIED_LOGGED: AtomicBool = AtomicBool::new(false);

/// Runs `log` the first time `flag` is seen unset.
fn warn_once(flag: &AtomicBool, log: impl FnOnce()) {
    if !flag.swap(true, Ordering::Relaxed) {
        log();
    }
}

/// The reason for a socket that could not be opened.
pub(crate) fn socket_error(err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::PermissionDenied {
        NOT_PERMITTED.to_owned()
    } else {
        format!("cannot open an ICMP socket: {}", reason::io_error(err))
    }
}

/// A distinct identifier per echo request of this process. Raw sockets see every ICMP packet
/// the host receives, so the identifier (with the address and sequence) is what tells this
/// check's reply from another's.
fn next_identifier() -> PingIdentifier {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Starting from the process id keeps two Pharos processes on one host apart too; only
    // the low 16 bits fit, which is all the field holds.
    let base = (std::process::id() & 0xffff) as u16;
    PingIdentifier(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Why an answer to the request is not an echo reply, or `None` when it is. Routers answer
/// an undeliverable request with an ICMP error quoting it, which surge-ping hands back as
/// the reply.
fn reply_problem(packet: &IcmpPacket) -> Option<String> {
    match packet {
        IcmpPacket::V4(p) => {
            let (kind, code) = (p.get_icmp_type().0, p.get_icmp_code().0);
            match (kind, code) {
                (0, _) => None,
                (3, 0 | 6 | 11) => Some("network unreachable".to_owned()),
                (3, 1 | 7 | 12) => Some("host unreachable".to_owned()),
                (3, 9 | 10 | 13) => Some(PROHIBITED.to_owned()),
                (3, _) => Some(format!("destination unreachable (code {code})")),
                (11, _) => Some("TTL exceeded in transit".to_owned()),
                _ => Some(format!("unexpected ICMP answer (type {kind}, code {code})")),
            }
        }
        IcmpPacket::V6(p) => {
            let (kind, code) = (p.get_icmpv6_type().0, p.get_icmpv6_code().0);
            match (kind, code) {
                (129, _) => None,
                (1, 0) => Some("network unreachable".to_owned()),
                (1, 1 | 5 | 6) => Some(PROHIBITED.to_owned()),
                (1, 3) => Some("host unreachable".to_owned()),
                (1, _) => Some(format!("destination unreachable (code {code})")),
                (3, _) => Some("hop limit exceeded in transit".to_owned()),
                _ => Some(format!(
                    "unexpected ICMPv6 answer (type {kind}, code {code})"
                )),
            }
        }
    }
}

/// A router's "administratively prohibited": a filter on the way dropped the request.
const PROHIBITED: &str = "blocked on the way (administratively prohibited)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_socket_names_both_fixes() {
        // EACCES (ping_group_range) and EPERM (no CAP_NET_RAW) both read as PermissionDenied.
        for errno in [1, 13] {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(socket_error(&err), NOT_PERMITTED);
        }
        assert_eq!(
            NOT_PERMITTED,
            "ICMP not permitted: allow unprivileged ping with sysctl net.ipv4.ping_group_range=\"0 2147483647\" or give pharos CAP_NET_RAW"
        );
        let other = io::Error::from_raw_os_error(97); // EAFNOSUPPORT: no IPv6 here
        assert!(
            socket_error(&other).starts_with("cannot open an ICMP socket: "),
            "{}",
            socket_error(&other)
        );
    }

    #[test]
    fn the_timeout_reads_as_configured() {
        assert_eq!(
            no_echo_reply(Duration::from_secs(1)),
            "no echo reply within 1s"
        );
        assert_eq!(
            no_echo_reply(Duration::from_millis(500)),
            "no echo reply within 500ms"
        );
    }

    #[test]
    fn identifiers_differ_between_checks() {
        assert_ne!(next_identifier(), next_identifier());
    }
}
