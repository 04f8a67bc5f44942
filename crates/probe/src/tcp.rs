//! The `tcp` check: can a connection to `host:port` be opened, how long did it take, and to
//! which address. The connection is closed straight away; nothing is sent. The caller bounds
//! the whole check with the monitor's timeout.

use std::io;
use std::net::SocketAddr;

use pharos_domain::{Observation, TcpSpec};
use tokio::net::{lookup_host, TcpStream};
use tokio::time::Instant;

use crate::reason;

/// Opens a connection to `host:port` and closes it at once.
pub(crate) async fn check(spec: &TcpSpec, started: Instant) -> Observation {
    match connect(&spec.host, spec.port).await {
        Ok((stream, addr)) => {
            let response_time = started.elapsed();
            drop(stream);
            Observation {
                connected: true,
                response_time,
                ip: Some(addr.ip()),
                ..Observation::default()
            }
        }
        Err(reason) => Observation::failed(reason, started.elapsed()),
    }
}

/// Resolves the host and tries each address in turn, as a client would, until one accepts;
/// the reason names the last failure. The `tls` check opens its connection here too.
pub(crate) async fn connect(host: &str, port: u16) -> Result<(TcpStream, SocketAddr), String> {
    let addrs: Vec<_> = match lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(err) => return Err(reason::dns_failed(host, &err)),
    };
    let mut last_error: Option<io::Error> = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(err) => {
                tracing::trace!(%addr, error = %err, "TCP connect failed; trying the next address");
                last_error = Some(err);
            }
        }
    }
    Err(match last_error {
        Some(err) => reason::io_error(&err),
        None => reason::dns_failed(host, &"no addresses found"),
    })
}
