//! The HTTP server loop, built so that slow or silent clients cannot hold Pharos: each
//! connection must send a request's headers within [`Limits::header_timeout`] of connecting
//! or of its previous answer (hyper's header-read timer, which also ends idle keep-alive
//! connections), headers are capped at [`MAX_HEADER_BYTES`], and at most
//! [`Limits::max_connections`] are open at once; past that, new connections wait in the
//! kernel's backlog until one closes. Bodies are bounded by [`crate::security::harden`].
//!
//! Each request carries axum's `ConnectInfo<SocketAddr>` (the TCP peer), which the
//! subscription endpoints count requests by. HTTP/1.1 only: Pharos sits behind a TLS-terminating
//! proxy or is reached directly by browsers over HTTP/1.1, and HTTP/2 without TLS would need
//! a preface read with no timer of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Largest request head (request line and headers) read; a larger one is refused.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a connection may take to send a request's headers, counted from when it
    /// connects or from the end of its previous answer: a silent or trickling client is
    /// disconnected after it, and so is an idle keep-alive connection.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// `[server] header_timeout` when the file does not set it.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `[server] max_connections` when the file does not set it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for open requests to finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed, so acquiring only fails if it were.
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // breathe, so a full process table does not become a busy loop.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
