//! The admin API under `/api/v1`: responders declare and update incidents, schedule
//! maintenance, override component statuses, read monitors' recent results, and see what
//! nothing watches (coverage). JSON in, JSON out, every route but `GET /api/v1/openapi.json`
//! behind `Authorization: Bearer <token>`.
//!
//! Routes and the OpenAPI document are registered together (`utoipa-axum`'s
//! [`OpenApiRouter`]), so a route cannot exist without being documented or the other way round;
//! the bearer requirement is written into the document by the same code that puts the token
//! check in front of the routes ([`openapi::secure`]).
//!
//! Commands go to the engine through [`EngineControl`]: a 2xx answer means the change is
//! committed to storage. Reads come from the engine's live view, which a command updates
//! before it answers, so a client reads its own writes.
//!
//! - `auth`: the bearer-token check and the caller's name.
//! - `error`: the one JSON error shape, and the body extractor behind 400/413/415.
//! - `model`: shapes shared by several resources (actors, updates, timeline entries).
//! - `incidents`, `maintenances`, `components`, `monitors`, `coverage`, `deliveries`,
//!   `subscribers`: the resources.
//! - `openapi`: the document's frame and the route that serves it.
//! - `changes`: `/api/v1/changes` (append-only records of deploys and other changes, with
//!   their release-regression verdicts) and PagerDuty's `POST /v2/change/enqueue`.
//! - `postmortems`: `GET`/`PUT /api/v1/incidents/{id}/postmortem` and `POST …/publish`: the
//!   postmortem drafted from the record, its human part, publishing; and similar incidents.
//! - `reports`: `GET /api/v1/reports`, uptime and incident metrics over 30/90/365 days;
//!   `reports_page`: the same as the responders' HTML page `/reports` (HTTP Basic or bearer).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use pharos_engine::EngineControl;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod audit;
pub(crate) mod auth;
mod changes;
pub mod cluster;
mod components;
mod coverage;
mod deliveries;
pub(crate) mod error;
mod incidents;
mod ingest;
mod locations;
mod maintenances;
mod model;
mod monitors;
mod openapi;
mod pagerduty;
mod permissions;
pub(crate) mod postmortems;
mod probes;
pub(crate) mod reports;
pub(crate) mod reports_page;
mod self_check;
mod subscribers;
pub(crate) mod tokens;
pub(crate) mod users;

/// Every admin path starts with this.
pub const PREFIX: &str = "/api/v1";
/// Largest request body accepted; a larger one is answered 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the admin router needs: the engine's command handle and the accepted tokens.
#[derive(Clone)]
pub struct AdminState {
    /// Commands and reads of the running engine.
    pub control: EngineControl,
    /// Accepted bearer tokens; none means every request is refused with 401.
    pub tokens: Vec<AdminToken>,
    /// Whether published postmortems may name responders (`[page] show_responders`).
    pub show_responders: bool,
}

/// One accepted bearer token (an `[admin] tokens` entry) and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Who holds the token, recorded as the author of every admin change made with it:
    /// the entry's `name`, or `token-N` (1-based position in the list) for a plain string.
    /// Non-empty, at most 64 characters, unique among the tokens.
    pub name: String,
    /// The token itself; non-empty, and different from every other entry's.
    pub secret: pharos_domain::Secret,
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The engine.
    pub(crate) control: EngineControl,
    /// The OpenAPI document, serialized once.
    pub(crate) openapi: bytes::Bytes,
    /// The accepted tokens, for routes that check them themselves (PagerDuty's
    /// `routing_key`).
    pub(crate) auth: auth::AuthState,
    /// Whether published postmortems may name responders.
    pub(crate) show_responders: bool,
    /// Wrong probe tokens allowed per address ([`probes::WRONG_TOKENS`]).
    pub(crate) probe_guesses: std::sync::Arc<crate::limit::Limiter>,
}

/// The admin router: every `/api/v1` route, the OpenAPI document at
/// `/api/v1/openapi.json`, and JSON 404/405 answers for other paths and methods under
/// `/api/v1`. Merge it with the public router.
pub fn router(state: AdminState) -> Router {
    if state.tokens.is_empty() {
        tracing::info!("no [admin] tokens are configured: the admin API refuses every request");
    }
    let tokens: auth::Tokens = Arc::from(state.tokens);
    let auth = auth::AuthState::new(tokens.clone(), Some(state.control.clone()));
    let (routes, doc) = api(auth.clone());
    let openapi = match serde_json::to_string(&doc) {
        Ok(json) => bytes::Bytes::from(json),
        Err(error) => {
            tracing::error!(%error, "serializing the OpenAPI document failed");
            bytes::Bytes::from_static(b"{}")
        }
    };
    let ctx = Ctx {
        control: state.control,
        openapi,
        auth,
        show_responders: state.show_responders,
        probe_guesses: std::sync::Arc::new(crate::limit::Limiter::new(probes::WRONG_TOKENS)),
    };
    routes
        .route("/v2/enqueue", axum::routing::post(pagerduty::enqueue))
        .route(
            "/v2/change/enqueue",
            axum::routing::post(changes::pagerduty_enqueue),
        )
        // The responders' report page, for browsers: HTTP Basic with a token as password.
        .route(
            "/reports",
            axum::routing::get(reports_page::page).route_layer(middleware::from_fn_with_state(
                ctx.auth.tokens.clone(),
                auth::require_responder,
            )),
        )
        // Probes authenticate with their location's token, not an admin token.
        .route(
            &format!("{PREFIX}/probe/monitors"),
            axum::routing::get(probes::monitors),
        )
        .route(
            &format!("{PREFIX}/probe/results"),
            axum::routing::post(probes::results)
                .route_layer(DefaultBodyLimit::max(probes::MAX_RESULTS_BYTES)),
        )
        .route(PREFIX, any(no_such_endpoint))
        .route(&format!("{PREFIX}/"), any(no_such_endpoint))
        .route(&format!("{PREFIX}/{{*rest}}"), any(no_such_endpoint))
        .layer(middleware::from_fn(json_method_not_allowed))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

/// The routes and their document. Everything registered in `protected` gets the token check
/// and the bearer requirement in the document, from the same place.
fn api(auth: auth::AuthState) -> (Router<Ctx>, utoipa::openapi::OpenApi) {
    let mut protected = OpenApiRouter::new()
        .routes(routes!(incidents::list, incidents::create))
        .routes(routes!(incidents::get_one, incidents::patch))
        .routes(routes!(incidents::post_update))
        .routes(routes!(incidents::add_note))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(postmortems::get, postmortems::put))
        .routes(routes!(postmortems::publish))
        .routes(routes!(maintenances::list, maintenances::create))
        .routes(routes!(maintenances::get_one, maintenances::patch))
        .routes(routes!(maintenances::post_update))
        .routes(routes!(components::list))
        .routes(routes!(
            components::set_override,
            components::clear_override
        ))
        .routes(routes!(monitors::list))
        .routes(routes!(monitors::get_one))
        .routes(routes!(coverage::get))
        .routes(routes!(reports::get))
        .routes(routes!(self_check::get))
        .routes(routes!(locations::list))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::retry))
        .routes(routes!(subscribers::list))
        .routes(routes!(subscribers::remove))
        .routes(routes!(ingest::alertmanager))
        .routes(routes!(ingest::grafana))
        .routes(routes!(ingest::list))
        .routes(routes!(changes::list, changes::create))
        .routes(routes!(changes::get_one))
        .routes(routes!(tokens::list, tokens::mint))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::change))
        .routes(routes!(users::sign_out))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_token));
    // `/api/v1/cluster` is served by each node itself (`cluster::router`), but documented here.
    protected
        .get_openapi_mut()
        .merge(<cluster::ClusterDoc as utoipa::OpenApi>::openapi());
    openapi::secure(protected.get_openapi_mut());
    OpenApiRouter::with_openapi(openapi::frame())
        .merge(protected)
        .routes(routes!(openapi::document))
        .split_for_parts()
}

/// JSON 404 for a path under `/api/v1` that no route has.
async fn no_such_endpoint(method: Method, uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::no_such_endpoint(method.as_str(), uri.path())
}

/// Turns axum's empty 405 into the API's JSON error, keeping its `Allow` header.
async fn json_method_not_allowed(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut json = error::ApiError::method_not_allowed(method.as_str(), &path).into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    json
}
