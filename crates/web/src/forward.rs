//! Several nodes: where a request that needs the engine goes.
//!
//! Every node serves the public reads itself, from its snapshot (the page, `/api/v2/*`, the
//! feeds, assets, its own `/healthz` and `/metrics`, and `/api/v1/cluster`). Everything else
//! (the admin API, alert and change ingestion, heartbeat pings, subscriptions) needs the
//! engine, which runs on the leader only. [`ClusterRouting`] is the fallback of a node's
//! router for those requests:
//!
//! - while this node leads, the engine's own router ([`ClusterRouting::lead`]) answers;
//! - while another node leads, the request is forwarded to the leader's address
//!   ([`ClusterRouting::follow`]) with reqwest: method, path, query and body, and the headers
//!   that matter (authorization, content type, accept, accepted encodings, cookies, origin,
//!   user agent, `X-Forwarded-For` with the client's address added); the leader's answer comes
//!   back with its status, headers (every `Set-Cookie`, `Location`, `Content-Encoding`,
//!   `Vary`, `Retry-After`…) and body, byte for byte: the forwarder never decompresses nor
//!   compresses (a console page the leader gzipped for a client that takes gzip reaches it
//!   gzipped). The answer's headers must come within [`FORWARD_TIMEOUT`]; most answers are
//!   read whole within that same time, but a stream of server-sent events (`text/event-stream`,
//!   the console's live incident page) is passed on as it comes, for as long as the leader
//!   keeps it open, so long as it is never silent for [`STREAM_IDLE_TIMEOUT`]. The client's
//!   address also travels signed ([`CLIENT`],
//!   [`CLIENT_SIGNATURE`]) with the key every node shares, so the leader's per-client limits
//!   (subscriptions) count the client, not the node that forwarded it;
//! - with no leader known (an election in progress), or when the leader cannot be reached,
//!   the answer is a 503 with a JSON error and `Retry-After: 1`.
//!
//! A forwarded request carries [`FORWARDED_BY`]; a node that is not the leader answers such a
//! request with a 503 instead of forwarding it again, so two nodes that each believe the other
//! leads (for the moment an election takes) cannot bounce a request between them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use pharos_engine::subscribers::Tokens;
use tower::ServiceExt as _;

/// How long a forwarded request may take to get the leader's answer, its body included, except
/// for a stream of events (whose headers alone must come within it).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a forwarded answer may go without a byte before the forwarder gives up on it. A
/// stream of events has no overall bound (the console's last up to 5 minutes and send a
/// keep-alive every 15 seconds), so this is what ends one whose leader went silent.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The header a forwarded request carries, naming the node that forwarded it.
pub const FORWARDED_BY: &str = "x-pharos-forwarded-by";
/// The client address a forwarded request came from, as the forwarding node saw it…
pub const CLIENT: &str = "x-pharos-client";
/// …and the forwarding node's signature of it, with the key every node shares (the
/// database's): the leader's per-client limits count the client, not the node.
pub const CLIENT_SIGNATURE: &str = "x-pharos-client-signature";
/// The largest request body forwarded (the edge refuses larger ones before this).
const MAX_FORWARD_BODY: usize = 16 * 1024 * 1024;

/// The request headers a forwarded request keeps.
const KEPT_REQUEST_HEADERS: &[HeaderName] = &[
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    // The console gzips its pages for a client that takes gzip; the answer passes through
    // still compressed (the client never decodes: see `ClusterRouting::new`).
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::USER_AGENT,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::COOKIE,
    header::ORIGIN,
    header::REFERER,
];

/// Answer headers never copied back: they describe the leader's connection, not the answer.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
];

/// Who answers the requests that need the engine on this node: the engine's router while this
/// node leads, the leader (by forwarding) while another node does. Cheap to clone; every clone
/// sees the same state.
#[derive(Clone)]
pub struct ClusterRouting {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    signer: Tokens,
    local: ArcSwapOption<Router>,
    leader: ArcSwapOption<String>,
    client: reqwest::Client,
}

impl ClusterRouting {
    /// Routing for node `node`, with no leader known yet; `signer` (made from the database's
    /// key) vouches for the client addresses of forwarded requests.
    pub fn new(node: impl Into<String>, signer: Tokens) -> Result<ClusterRouting, reqwest::Error> {
        // No overall timeout on the client: a stream of events lasts longer than any request
        // should, so `forward` bounds the wait for the answer (and a buffered body) itself.
        // Never decoding: the client's `Accept-Encoding` is passed on, so the leader's
        // compressed body is the client's to decode, and must reach it as the leader sent it
        // (these are no-ops unless a crate of the build turns reqwest's decoders on).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FORWARD_TIMEOUT)
            .read_timeout(STREAM_IDLE_TIMEOUT)
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .no_proxy()
            .build()?;
        Ok(ClusterRouting {
            inner: Arc::new(Inner {
                node: node.into(),
                signer,
                local: ArcSwapOption::empty(),
                leader: ArcSwapOption::empty(),
                client,
            }),
        })
    }

    /// This node leads: `engine` (the admin API, ingestion, pings and subscriptions over the
    /// running engine) answers from now on.
    pub fn lead(&self, engine: Router) {
        self.inner.leader.store(None);
        self.inner.local.store(Some(Arc::new(engine)));
    }

    /// Another node leads, reachable at `leader` (a base URL such as `http://10.0.0.5:8080`),
    /// or none is known (`None`): requests are forwarded there, or refused with a 503.
    pub fn follow(&self, leader: Option<String>) {
        self.inner.local.store(None);
        let leader = leader.map(|l| Arc::new(l.trim_end_matches('/').to_owned()));
        self.inner.leader.store(leader);
    }

    /// Whether this node's engine answers.
    pub fn is_leading(&self) -> bool {
        self.inner.local.load().is_some()
    }

    /// The fallback that answers every request the public routes do not: add it to a router
    /// with `Router::fallback(forward::answer).with_state(routing)`, or use [`Self::router`].
    pub fn router(&self) -> Router {
        Router::new().fallback(answer).with_state(self.clone())
    }
}

/// The fallback handler: the engine's router, the leader, or a 503.
pub async fn answer(State(routing): State<ClusterRouting>, req: Request) -> Response {
    if let Some(local) = routing.inner.local.load_full() {
        let router: Router = (*local).clone();
        return match router.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    if req.headers().contains_key(FORWARDED_BY) {
        return unavailable("this node is not the leader either; the leader is changing");
    }
    let Some(leader) = routing.inner.leader.load_full() else {
        return unavailable("no leader is elected yet");
    };
    forward(&routing.inner, &leader, req).await
}

/// Sends `req` to `leader` and hands its answer back.
async fn forward(inner: &Inner, leader: &str, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let body = match axum::body::to_bytes(body, MAX_FORWARD_BODY).await {
        Ok(b) => b,
        Err(error) => {
            tracing::debug!(%error, "reading a request body to forward failed");
            return (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
                .into_response();
        }
    };
    let mut request = inner
        .client
        .request(parts.method.clone(), format!("{leader}{path}"));
    for name in KEPT_REQUEST_HEADERS {
        for value in parts.headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    let forwarded_for = match (parts.headers.get("x-forwarded-for"), peer) {
        (Some(prior), Some(ip)) => prior
            .to_str()
            .ok()
            .map(|p| format!("{p}, {ip}"))
            .or_else(|| Some(ip.to_string())),
        (Some(prior), None) => prior.to_str().ok().map(str::to_owned),
        (None, Some(ip)) => Some(ip.to_string()),
        (None, None) => None,
    };
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    if let Some(ip) = peer {
        let ip = ip.to_string();
        request = request
            .header(CLIENT_SIGNATURE, inner.signer.sign_client(&ip))
            .header(CLIENT, ip);
    }
    request = request.header(FORWARDED_BY, inner.node.as_str()).body(body);
    let deadline = tokio::time::Instant::now() + FORWARD_TIMEOUT;
    let answer = match tokio::time::timeout_at(deadline, request.send()).await {
        Ok(Ok(a)) => a,
        Ok(Err(error)) => return unreached(leader, parts.uri.path(), &error),
        Err(_) => {
            let error = format!("no answer within {FORWARD_TIMEOUT:?}");
            return unreached(leader, parts.uri.path(), &error);
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = if is_event_stream(&headers) {
        // Passed on chunk by chunk as the leader sends them; a read error (the leader gone,
        // or silent past `STREAM_IDLE_TIMEOUT`) ends the client's stream, and the client
        // leaving drops this stream and so the leader's.
        Body::from_stream(answer.bytes_stream())
    } else {
        match tokio::time::timeout_at(deadline, answer.bytes()).await {
            Ok(Ok(b)) => Body::from(b),
            Ok(Err(error)) => {
                tracing::warn!(%error, leader, "reading the leader's answer failed");
                return unavailable("the leader's answer was cut off");
            }
            Err(_) => {
                tracing::warn!(
                    leader,
                    "the leader's answer did not end within the forwarding timeout"
                );
                return unavailable("the leader's answer was cut off");
            }
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// Whether an answer with `headers` is a stream of server-sent events, passed on as it comes
/// rather than read whole.
fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// The leader could not be reached (or did not answer in time): logged, and a 503.
fn unreached(leader: &str, path: &str, error: &dyn std::fmt::Display) -> Response {
    // During an election every request fails the same way: one line per
    // `FAILURE_LOG_EVERY`, with how many were not logged, instead of one per request.
    match failures_to_log() {
        Some(unlogged) => {
            tracing::warn!(%error, leader, path, unlogged, "forwarding a request to the leader failed")
        }
        None => {
            tracing::debug!(%error, leader, path, "forwarding a request to the leader failed")
        }
    }
    unavailable("the leader could not be reached")
}

/// 503 with a JSON error (the shape every Pharos error has) and `Retry-After: 1`.
fn unavailable(why: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "status": 503,
            "message": format!("{why}; retry in a moment"),
        }
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// How often a failure to reach the leader is logged as a warning.
const FAILURE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether this failure to forward is the one to warn about: `Some(failures since the last
/// warning that were not warned about)` at most once per [`FAILURE_LOG_EVERY`], else `None`.
fn failures_to_log() -> Option<u64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    static LAST: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    static UNLOGGED: AtomicU64 = AtomicU64::new(0);
    // A poisoned lock holds a plain instant: still usable.
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < FAILURE_LOG_EVERY) {
        UNLOGGED.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    *last = Some(now);
    Some(UNLOGGED.swap(0, Ordering::Relaxed))
}
