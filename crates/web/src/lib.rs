//! Pharos HTTP: the public status page, the Statuspage-compatible API, health and metrics.
//!
//! Public reads never touch the database. The engine publishes a [`StatusView`] on a watch
//! channel; [`spawn_snapshot_builder`] renders it once into a [`Snapshot`] (every body, its
//! ETag and Last-Modified) and swaps it in atomically; handlers copy bytes out of the current
//! snapshot. A thundering herd during an outage costs no queries, and the page keeps serving
//! while the database is down.
//!
//! - [`v2`]: Statuspage's public API v2 (its wire types are `pharos-wire`'s, re-exported) and
//!   how a view maps onto them.
//! - [`snapshot`]: the pre-rendered responses and the task that rebuilds them.
//! - [`markdown`]: update bodies rendered to safe HTML.
//! - `page`: the HTML status page (askama template `templates/index.html`).
//! - `banner`: the one rule for the banner's colour, icon and words.
//! - `brand`: logo, favicon, accent colour and links on every page, and `/theme.css`.
//! - `history`: `/incidents/{id}` and `/history` (templates `incident.html`, `history.html`).
//! - `feed`: `/history.atom` and `/history.rss` in Statuspage's feed shape.
//! - `routes`: the request handlers, including conditional GET.
//! - `cors`: the CORS headers of everything any origin may read, written in one place.
//! - [`forward`]: on a node of a cluster, the requests that need the engine answered by the
//!   leader: the engine's router on the leader, forwarded there from a follower.
//! - [`subscribe`]: public subscriptions (the v2 subscribe endpoint, the page's form, the
//!   confirmation and unsubscribe links), rate limited per client; a separate router, since
//!   it needs the engine.
//! - [`console`]: the responders' console (signing in with a password, the landing page,
//!   signing out); a separate router too, for the same reason.
//!
//! [`StatusView`]: pharos_engine::StatusView

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::{Path, Request};
use axum::routing::{any, get};
use axum::Router;

pub mod admin;
mod banner;
mod brand;
pub mod console;
mod cors;
mod feed;
pub mod forward;
mod history;
mod limit;
pub mod markdown;
pub mod mirror;
mod page;
pub mod ping;
mod routes;
pub mod security;
pub mod serve;
pub mod snapshot;
pub mod subscribe;
pub mod v2;
pub mod v2_incidents;

pub use markdown::render_markdown;
pub use routes::{METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
pub use security::{harden, Hardening};
pub use snapshot::{spawn_snapshot_builder, Entry, Resource, Snapshot};

/// Renders metrics as text.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything the router needs: the live snapshot and the metrics renderers.
#[derive(Clone)]
pub struct WebState {
    /// The current snapshot, replaced wholesale on every change.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Renders `/metrics` in the Prometheus text format 0.0.4.
    pub metrics: MetricsRenderer,
    /// Renders `/metrics` in the OpenMetrics text format 1.0.0, for clients whose `Accept`
    /// prefers it; without one, they get the Prometheus text format too.
    pub openmetrics: Option<MetricsRenderer>,
}

impl WebState {
    /// A state serving `snapshot` until the builder replaces it, with `metrics` rendering the
    /// Prometheus text format.
    pub fn new(snapshot: Snapshot, metrics: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            metrics: Arc::new(metrics),
            openmetrics: None,
        }
    }

    /// This state, offering OpenMetrics rendered by `render` to clients that ask for it.
    pub fn with_openmetrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.openmetrics = Some(Arc::new(render));
        self
    }
}

/// The public router: `/`, the eight `/api/v2/*.json` endpoints, `/history`,
/// `/history.atom` and `/history.rss` (the API and the feeds with CORS and OPTIONS preflight),
/// `/incidents/{id}` (an HTML 404 page for an unknown id), 404 with an empty body for any other
/// `/api/v2/…` path, `/theme.css`, `/healthz` and `/metrics` (OpenMetrics when `Accept` prefers
/// it and the state offers it, else the Prometheus text format). `GET` also answers `HEAD`; `If-None-Match` and
/// `If-Modified-Since` get 304.
pub fn router(state: WebState) -> Router {
    snapshot_routes(&state)
        .route("/api/v2", any(routes::api_not_found))
        .route("/api/v2/", any(routes::api_not_found))
        .route("/api/v2/{*rest}", any(routes::api_not_found))
        .fallback(routes::not_found)
        .with_state(state)
}

/// [`router`] without its fallback and its 404 for unknown `/api/v2/…` paths: exactly the
/// routes a node serves itself from its snapshot, for a node of a cluster, whose fallback
/// forwards the rest to the leader ([`forward::ClusterRouting`]) — including
/// `POST /api/v2/subscribers.json`, which a catch-all here would shadow — and the leader
/// answers an unknown `/api/v2/…` path as a single node does.
pub fn public_routes(state: WebState) -> Router {
    snapshot_routes(&state).with_state(state)
}

/// What [`router`] answers for paths it has no route for: 404 with an empty body under
/// `/api/v2` (as Statuspage), else the page's 404 (HTML for browsers, else JSON). Merged under
/// the engine's routes on the leader of a cluster, so an unknown path answers there as it does
/// on a single node.
pub fn not_found_router(state: WebState) -> Router {
    Router::new()
        .route("/api/v2", any(routes::api_not_found))
        .route("/api/v2/", any(routes::api_not_found))
        .route("/api/v2/{*rest}", any(routes::api_not_found))
        .fallback(routes::not_found)
        .with_state(state)
}

/// The routes of [`router`], their state still to be given.
fn snapshot_routes(state: &WebState) -> Router<WebState> {
    let mut router = Router::new();
    for resource in Resource::ALL {
        // A plain service rather than an axum handler: these are the hot routes.
        let route = routes::SnapshotRoute::new(state.snapshot.clone(), resource);
        router = router.route_service(resource.path(), route);
    }
    let snapshot = state.snapshot.clone();
    router = router.route(
        "/incidents/{id}",
        get(move |Path(id): Path<String>, req: Request| {
            std::future::ready(routes::serve_incident(&snapshot, &id, &req))
        }),
    );
    router
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
}
