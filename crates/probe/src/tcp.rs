//! The `tcp` check: can a connection to `host:port` be opened, how long did it take, and to
//! which address. The connection is closed straight away; nothing is sent. The caller bounds
//! the whole check with the monitor's timeout.

use std::io;

use pharos_domain::{Observation, TcpSpec};
use tokio::net::{lookup_host, TcpStream};
use tokio::time::Instant;

use crate::reason;

/// Resolves the host and tries each address in turn, as a client would, until one accepts.
pub(crate) async fn check(spec: &TcpSpec, started: Instant) -> Observation {
    let addrs: Vec<_> = match lookup_host((spec.host.as_str(), spec.port)).await {
        Ok(addrs) => addrs.collect(),
        Err(err) => {
            return Observation::failed(reason::dns_failed(&spec.host, &err), started.elapsed())
        }
    };
    let mut last_error: Option<io::Error> = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let response_time = started.elapsed();
                drop(stream);
                return Observation {
                    connected: true,
                    response_time,
                    ip: Some(addr.ip()),
                    ..Observation::default()
                };
            }
            Err(err) => {
                tracing::trace!(%addr, error = %err, "TCP connect failed; trying the next address.");
                last_error = Some(err);
            }
        }
    }
    let reason = match last_error {
        Some(err) => reason::io_error(&err),
        None => reason::dns_failed(&spec.host, &"no addresses found"),
    };
    Observation::failed(reason, started.elapsed())
}
