//! [`start`]: an HTTP/1.1 server on 127.0.0.1 that answers `200` to every request,
//! with keep-alive, and counts each request's `Idempotency-Key` in a [`Tally`]. Bodies are
//! read to the end (so the connection can be reused) and counted, never kept.

use std::convert::Infallible;
use std::time::Instant;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::sink::Sink;
use crate::tally::Tally;

/// The header whose distinct values are counted.
pub const KEY_HEADER: &str = "idempotency-key";

/// Starts a webhook receiver on a free port of 127.0.0.1. Its tally counts each request's
/// `Idempotency-Key`.
pub async fn start() -> std::io::Result<Sink> {
    Sink::start(|sock, tally| async move {
        let service = service_fn(move |req: Request<Incoming>| {
            let tally = tally.clone();
            async move { Ok::<_, Infallible>(answer(req, &tally).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(sock), service)
            .await;
    })
    .await
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
