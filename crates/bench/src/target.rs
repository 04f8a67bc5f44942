//! [`ProbeTarget`]: what the check-cost benchmark's checks probe, on 127.0.0.1.
//!
//! - An HTTP/1.1 server with keep-alive that answers `200` with the 3-byte body `OK\n` to
//!   every request, and counts the requests for `/m/{i}` per monitor `i`.
//! - A TCP listener that accepts every connection, counts it and closes it at once.
//!
//! Both run in the benchmark's own process: their CPU is not the CPU being measured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::sink::Sink;

/// The body of every HTTP answer.
pub const BODY: &[u8] = b"OK\n";

/// A running HTTP and TCP target; both stop accepting when it is dropped.
#[derive(Debug)]
pub struct ProbeTarget {
    http: Sink,
    tcp: Sink,
    counts: Arc<Counts>,
}

/// The live counters.
#[derive(Debug)]
struct Counts {
    /// Requests for `/m/{i}`, by `i`.
    per_monitor: Vec<AtomicU64>,
    /// Requests for any other path (or for `/m/{i}` with `i` out of range).
    http_other: AtomicU64,
    /// TCP connections accepted.
    tcp_accepts: AtomicU64,
}

/// The target's counters at one moment (or, from [`TargetSnapshot::since`], between two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSnapshot {
    /// Requests for `/m/{i}`, by `i`.
    pub per_monitor: Vec<u64>,
    /// Requests for any other path.
    pub http_other: u64,
    /// TCP connections accepted.
    pub tcp_accepts: u64,
}

impl TargetSnapshot {
    /// Every HTTP request for a monitor's path.
    pub fn http_total(&self) -> u64 {
        self.per_monitor.iter().sum()
    }

    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &TargetSnapshot) -> TargetSnapshot {
        TargetSnapshot {
            per_monitor: self
                .per_monitor
                .iter()
                .zip(earlier.per_monitor.iter().chain(std::iter::repeat(&0)))
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
            http_other: self.http_other.saturating_sub(earlier.http_other),
            tcp_accepts: self.tcp_accepts.saturating_sub(earlier.tcp_accepts),
        }
    }

    /// The fewest and the most requests any one monitor's path got (`(0, 0)` for none).
    pub fn per_monitor_range(&self) -> (u64, u64) {
        let min = self.per_monitor.iter().copied().min().unwrap_or(0);
        let max = self.per_monitor.iter().copied().max().unwrap_or(0);
        (min, max)
    }
}

impl ProbeTarget {
    /// Starts both listeners on free ports of 127.0.0.1, counting paths `/m/0` to
    /// `/m/{monitors - 1}` one by one.
    pub async fn start(monitors: usize) -> std::io::Result<ProbeTarget> {
        let counts = Arc::new(Counts {
            per_monitor: (0..monitors).map(|_| AtomicU64::new(0)).collect(),
            http_other: AtomicU64::new(0),
            tcp_accepts: AtomicU64::new(0),
        });
        let for_http = counts.clone();
        let http = Sink::start(move |sock, _tally| {
            let counts = for_http.clone();
            async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    counts.count(req.uri().path());
                    async move { Ok::<_, Infallible>(answer()) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(sock), service)
                    .await;
            }
        })
        .await?;
        let for_tcp = counts.clone();
        let tcp = Sink::start(move |sock, _tally| {
            for_tcp.tcp_accepts.fetch_add(1, Ordering::Relaxed);
            drop(sock);
            std::future::ready(())
        })
        .await?;
        Ok(ProbeTarget { http, tcp, counts })
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Where the accept-and-close TCP listener listens.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp.addr()
    }

    /// The counters now.
    pub fn snapshot(&self) -> TargetSnapshot {
        TargetSnapshot {
            per_monitor: self
                .counts
                .per_monitor
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            http_other: self.counts.http_other.load(Ordering::Relaxed),
            tcp_accepts: self.counts.tcp_accepts.load(Ordering::Relaxed),
        }
    }
}

impl Counts {
    fn count(&self, path: &str) {
        let slot = path
            .strip_prefix("/m/")
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| self.per_monitor.get(i));
        match slot {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.http_other.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn answer() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_subtract() {
        let a = TargetSnapshot {
            per_monitor: vec![1, 2, 3],
            http_other: 1,
            tcp_accepts: 5,
        };
        let b = TargetSnapshot {
            per_monitor: vec![4, 2, 9],
            http_other: 1,
            tcp_accepts: 7,
        };
        let d = b.since(&a);
        assert_eq!(d.per_monitor, vec![3, 0, 6]);
        assert_eq!((d.http_total(), d.http_other, d.tcp_accepts), (9, 0, 2));
        assert_eq!(d.per_monitor_range(), (0, 6));
    }
}
