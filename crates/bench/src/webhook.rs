//! [`WebhookSink`]: an HTTP/1.1 server on 127.0.0.1 that answers `200` to every request,
//! with keep-alive, and counts each request's `Idempotency-Key` in a [`Tally`]. Bodies are
//! read to the end (so the connection can be reused) and counted, never kept.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::tally::Tally;

/// The header whose distinct values are counted.
pub const KEY_HEADER: &str = "idempotency-key";

/// A running webhook receiver; stops accepting when dropped.
#[derive(Debug)]
pub struct WebhookSink {
    addr: SocketAddr,
    tally: Arc<Tally>,
    task: JoinHandle<()>,
}

impl WebhookSink {
    /// Starts the receiver on 127.0.0.1 on a free port.
    pub async fn start() -> std::io::Result<WebhookSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Tally::new());
        let counting = tally.clone();
        let task = tokio::spawn(async move {
            loop {
                let sock = match listener.accept().await {
                    Ok((sock, _)) => sock,
                    // Out of file descriptors and the like: wait a moment and go on.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = sock.set_nodelay(true);
                let tally = counting.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let tally = tally.clone();
                        async move { Ok::<_, Infallible>(answer(req, &tally).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(sock), service)
                        .await;
                });
            }
        });
        Ok(WebhookSink { addr, tally, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has received.
    pub fn tally(&self) -> &Arc<Tally> {
        &self.tally
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(req: Request<Incoming>, tally: &Tally) -> Response<Empty<Bytes>> {
    let key = req
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = req.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            // The sender went away mid-body: not a delivery.
            Err(_) => return Response::new(Empty::new()),
        }
    }
    tally.record(key.as_deref(), bytes, Instant::now());
    Response::new(Empty::new())
}
