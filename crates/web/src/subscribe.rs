//! Public subscriptions: the Statuspage-compatible `POST /api/v2/subscribers.json`, the
//! page's subscribe form (`POST /subscribe`, plain HTML, no JavaScript needed), and the links
//! subscribers get by e-mail or in `meta.unsubscribe`: `/subscribe/confirm?token=…` and
//! `/unsubscribe?token=…`.
//!
//! Everything assumes a hostile or careless caller:
//! - **Subscribing answers alike for every address.** A new address, one waiting for its
//!   confirmation and one already confirmed get the same status and the same body (the API)
//!   or the same page (the form), built from the request alone: no id, no creation time, no
//!   state, so nobody learns who is subscribed. Webhooks likewise.
//! - **Links change nothing on `GET` or `HEAD`.** Mail scanners and link previews open every
//!   link in a message; opening one only shows a page whose one button POSTs. `POST` to the
//!   link does the change, which is also RFC 8058's one-click unsubscribe (`POST` to the
//!   `List-Unsubscribe` URL with `List-Unsubscribe=One-Click`).
//! - **Webhooks reach public addresses only** (the engine checks them, see
//!   [`EngineControl::subscribe`]).
//!
//! Everything goes through the engine ([`EngineControl`]): it checks every field, keeps its
//! list of subscribers and the database in step, and answers once the change is stored.
//! Each client address may make [`RateLimit::default`] requests (10 a minute, in bursts of
//! 10) to these endpoints; more get `429 Too Many Requests` with `Retry-After`. The address is
//! the TCP peer's (axum's `ConnectInfo<SocketAddr>`): serve the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`. IPv6 clients are counted per /64.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use pharos_engine::subscribers::Purpose;
use pharos_engine::{Accepted, EngineControl, NewSubscriber, SubscriberError, SubscriberKind};
use serde::{Deserialize, Serialize};

use crate::admin::error::{ApiError, ApiJson};
use crate::admin::MAX_BODY_BYTES;
pub use crate::limit::RateLimit;
use crate::limit::{retry_after, Limiter};

/// The Statuspage-compatible subscribe endpoint.
pub const API_PATH: &str = "/api/v2/subscribers.json";
/// Where the page's form posts.
pub const FORM_PATH: &str = "/subscribe";
/// Where confirmation links point.
pub const CONFIRM_PATH: &str = "/subscribe/confirm";
/// Where unsubscribe links point.
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe";

/// What the subscription routes share.
#[derive(Clone)]
struct Ctx {
    control: EngineControl,
    limiter: Arc<Limiter>,
}

/// The subscription routes with the default [`RateLimit`]. Merge with the public router.
pub fn router(control: EngineControl) -> Router {
    router_with_limit(control, RateLimit::default())
}

/// The subscription routes, allowing each client `limit`.
pub fn router_with_limit(control: EngineControl, limit: RateLimit) -> Router {
    let ctx = Ctx {
        control,
        limiter: Arc::new(Limiter::new(limit)),
    };
    Router::new()
        .route(API_PATH, post(api_subscribe).options(api_preflight))
        .route(FORM_PATH, post(form_subscribe))
        // `get` answers HEAD too, with the same (harmless) handler.
        .route(CONFIRM_PATH, get(confirm_page).post(confirm))
        .route(UNSUBSCRIBE_PATH, get(unsubscribe_page).post(unsubscribe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

/// The client's address as counted ([`crate::limit::client_ip`]).
fn client(ctx: &Ctx, req: &Request) -> IpAddr {
    crate::limit::client_ip(&ctx.control, req.headers(), req.extensions())
}

// ---------------------------------------------------------------------------------------
// POST /api/v2/subscribers.json

/// `{"subscriber": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiRequest {
    subscriber: ApiSubscriber,
}

/// What Statuspage's public endpoint takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSubscriber {
    email: Option<String>,
    endpoint: Option<String>,
    component_ids: Option<Vec<String>>,
    /// Statuspage's single-component form.
    component_id: Option<String>,
    phone_number: Option<String>,
    phone_country: Option<String>,
    /// Accepted for compatibility; e-mail subscribers are always asked to confirm.
    #[allow(dead_code)]
    skip_confirmation_notification: Option<bool>,
}

/// The answer, in Statuspage's shape without `id` and `created_at`: only what was asked
/// for, so it reads the same for a new, a pending and a confirmed address.
#[derive(Debug, Serialize)]
struct ApiResponse {
    subscriber: ApiSubscriberOut,
}

#[derive(Debug, Serialize)]
struct ApiSubscriberOut {
    mode: &'static str,
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    component_ids: Vec<String>,
    skip_confirmation_notification: bool,
    quarantined_at: Option<String>,
    purge_at: Option<String>,
}

impl ApiSubscriberOut {
    fn new(a: &Accepted) -> Self {
        ApiSubscriberOut {
            mode: a.kind.as_str(),
            email: a.email.clone(),
            endpoint: (a.kind == SubscriberKind::Webhook).then(|| a.address.clone()),
            component_ids: a.components.iter().map(ToString::to_string).collect(),
            skip_confirmation_notification: false,
            quarantined_at: None,
            purge_at: None,
        }
    }
}

/// Adds `Access-Control-Allow-Origin: *` (a browser on another site may subscribe).
fn any_origin(mut r: Response) -> Response {
    crate::cors::allow_any_origin(r.headers_mut());
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn api_preflight() -> Response {
    crate::cors::preflight(
        HeaderValue::from_static("POST, OPTIONS"),
        Some(HeaderValue::from_static("Content-Type")),
    )
}

async fn api_subscribe(State(ctx): State<Ctx>, req: Request) -> Response {
    if let Err(wait) = ctx.limiter.take(client(&ctx, &req), Instant::now()) {
        let secs = retry_after(wait);
        let body = serde_json::json!({"error": {
            "status": 429,
            "message": format!("too many requests; try again in {secs} s"),
        }});
        let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        return any_origin(r);
    }
    let body = match ApiJson::<ApiRequest>::from_request(req, &()).await {
        Ok(ApiJson(b)) => b.subscriber,
        Err(e) => return any_origin(e.into_response()),
    };
    if body.phone_number.is_some() || body.phone_country.is_some() {
        return any_origin(
            ApiError::unprocessable(
                "subscriber.phone_number",
                "this page does not offer SMS subscriptions",
            )
            .into_response(),
        );
    }
    let mut components = body.component_ids.unwrap_or_default();
    components.extend(body.component_id);
    let req = NewSubscriber {
        email: body.email,
        endpoint: body.endpoint,
        components,
    };
    let r = match ctx.control.subscribe(req).await {
        // 202 for every address: the request is taken, and whether a confirmation e-mail
        // goes out (or anything changed at all) is not for the caller to learn.
        Ok(done) => {
            let out = ApiResponse {
                subscriber: ApiSubscriberOut::new(&done.accepted),
            };
            (StatusCode::ACCEPTED, axum::Json(out)).into_response()
        }
        Err(e) => api_error(e).into_response(),
    };
    any_origin(r)
}

fn api_error(e: SubscriberError) -> ApiError {
    match e {
        SubscriberError::Invalid { field, message } => {
            ApiError::unprocessable(format!("subscriber.{field}"), message)
        }
        SubscriberError::InvalidLink => ApiError::bad_request("this link is not valid", None),
        SubscriberError::NotFound(id) => ApiError::not_found("subscriber", &id),
        SubscriberError::Unavailable(s) => pharos_engine::CommandError::Unavailable(s).into(),
    }
}

// ---------------------------------------------------------------------------------------
// HTML: the form and the links

#[derive(Template)]
#[template(path = "subscribe.html")]
struct ResultPage<'a> {
    page_name: &'a str,
    time_zone: &'static str,
    brand: &'a crate::brand::BrandView,
    heading: &'a str,
    paragraphs: Vec<String>,
    action: Option<LinkAction<'a>>,
    show_form_link: bool,
}

/// The one button of a link's page: a form that POSTs back to the page's own URL (the link,
/// token included, wherever `public_url` puts it), with the token in a field as well.
struct LinkAction<'a> {
    token: &'a str,
    button: &'static str,
}

/// A small HTML page with `heading` and `paragraphs`.
fn html(
    ctx: &Ctx,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    show_form_link: bool,
) -> Response {
    html_page(ctx, status, heading, paragraphs, None, show_form_link)
}

/// A small HTML page with `heading`, `paragraphs` and, when given, one button.
fn html_page(
    ctx: &Ctx,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    action: Option<LinkAction<'_>>,
    show_form_link: bool,
) -> Response {
    let view = ctx.control.view();
    let brand = crate::brand::BrandView::new(&view.page);
    let page = ResultPage {
        page_name: &view.page.name,
        time_zone: view.page.time_zone.name(),
        brand: &brand,
        heading,
        paragraphs,
        action,
        show_form_link,
    };
    let body = page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "subscription page template failed; serving plain text");
        format!("{heading}\n")
    });
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::snapshot::HTML),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn too_many(ctx: &Ctx, wait: Duration) -> Response {
    let secs = retry_after(wait);
    let mut r = html(
        ctx,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        vec![format!(
            "Too many requests came from your address. Try again in {secs} seconds."
        )],
        true,
    );
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn html_error(ctx: &Ctx, e: SubscriberError) -> Response {
    match e {
        SubscriberError::Invalid { field, message } => {
            let field = match field.as_str() {
                "component_ids" => "components",
                other => other,
            };
            html(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Could not subscribe",
                vec![
                    format!("{}: {message}.", label(field)),
                    "Nothing was changed. Go back, correct it and try again.".to_owned(),
                ],
                true,
            )
        }
        SubscriberError::InvalidLink | SubscriberError::NotFound(_) => invalid_link(ctx),
        SubscriberError::Unavailable(internal) => {
            tracing::warn!(error = %internal, "a subscription request could not be completed");
            let mut r = html(
                ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                vec![
                    "The status page could not store this just now. Try again in a moment."
                        .to_owned(),
                ],
                true,
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// A form field as a person reads it.
fn label(field: &str) -> &str {
    match field {
        "email" => "E-mail address",
        "endpoint" => "Webhook URL",
        "components" => "Components",
        other => other,
    }
}

fn invalid_link(ctx: &Ctx) -> Response {
    html(
        ctx,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
        vec![
            "This link is not valid: it may be incomplete, or it has expired. Nothing was \
             changed."
                .to_owned(),
            "To get a new confirmation link, subscribe again.".to_owned(),
        ],
        true,
    )
}

/// `application/x-www-form-urlencoded`, with or without parameters (the console's forms
/// too).
pub(crate) fn is_form(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

async fn form_subscribe(State(ctx): State<Ctx>, req: Request) -> Response {
    if let Err(wait) = ctx.limiter.take(client(&ctx, &req), Instant::now()) {
        return too_many(&ctx, wait);
    }
    if !is_form(&req) {
        return html(
            &ctx,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Could not subscribe",
            vec!["Send the subscribe form as a web form.".to_owned()],
            true,
        );
    }
    let Ok(bytes) = Bytes::from_request(req, &()).await else {
        return html(
            &ctx,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Could not subscribe",
            vec!["The form could not be read.".to_owned()],
            true,
        );
    };
    let mut new = NewSubscriber::default();
    for (key, value) in form_urlencoded::parse(&bytes) {
        match key.as_ref() {
            "email" => new.email = Some(value.into_owned()),
            "endpoint" => new.endpoint = Some(value.into_owned()),
            "components" | "component_ids" => new.components.push(value.into_owned()),
            _ => {}
        }
    }
    match ctx.control.subscribe(new).await {
        Ok(done) => {
            // The same page for a new, a pending and a confirmed address: built from what
            // was asked, never from what is stored.
            let name = ctx.control.view().page.name.clone();
            let accepted = done.accepted;
            let (heading, paragraphs) = match accepted.kind {
                SubscriberKind::Email => (
                    "Check your inbox",
                    vec![
                        format!(
                            "If {} is not subscribed to {name} yet, a confirmation link is on \
                             its way to it. Follow the link to start getting updates; it works \
                             for 7 days.",
                            accepted.address
                        ),
                        "Nothing else is sent to an address until it is confirmed, and an \
                         address that is already subscribed stays as it is."
                            .to_owned(),
                    ],
                ),
                SubscriberKind::Webhook => (
                    "Webhook subscribed",
                    vec![format!(
                        "{name} will POST incident, maintenance and component updates to {} \
                         in Statuspage's webhook format. Each one carries an unsubscribe link \
                         in meta.unsubscribe.",
                        accepted.address
                    )],
                ),
            };
            html(&ctx, StatusCode::OK, heading, paragraphs, false)
        }
        Err(e) => html_error(&ctx, e),
    }
}

/// The `token` query parameter, or an empty string (which no check accepts).
fn token_of(req: &Request) -> String {
    req.uri().query().and_then(query_token).unwrap_or_default()
}

fn query_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// The token of a POST to a link: in the query (the link itself, as RFC 8058's one-click
/// POST sends it), or else the `token` field of the page's form.
async fn posted_token(req: Request) -> String {
    if let Some(token) = req.uri().query().and_then(query_token) {
        return token;
    }
    if !is_form(&req) {
        return String::new();
    }
    let Ok(body) = Bytes::from_request(req, &()).await else {
        return String::new();
    };
    form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A link's page on `GET` or `HEAD`: one button that POSTs, and no change at all. A link
/// that is not valid says so (and counts against the client's allowance, as every failure
/// does).
fn link_page(
    ctx: &Ctx,
    req: &Request,
    purpose: Purpose,
    heading: &str,
    paragraphs: Vec<String>,
    button: &'static str,
) -> Response {
    let token = token_of(req);
    match ctx.control.check_link(&token, purpose) {
        Ok(()) => html_page(
            ctx,
            StatusCode::OK,
            heading,
            paragraphs,
            Some(LinkAction {
                token: &token,
                button,
            }),
            false,
        ),
        Err(e) => match ctx.limiter.take(client(ctx, req), Instant::now()) {
            Err(wait) => too_many(ctx, wait),
            Ok(()) => html_error(ctx, e),
        },
    }
}

async fn confirm_page(State(ctx): State<Ctx>, req: Request) -> Response {
    let name = ctx.control.view().page.name.clone();
    link_page(
        &ctx,
        &req,
        Purpose::Confirm,
        "Confirm your subscription",
        vec![format!(
            "Press the button to start getting e-mail from {name} about its incidents and \
             maintenances. Until then, nothing is sent."
        )],
        "Confirm subscription",
    )
}

async fn unsubscribe_page(State(ctx): State<Ctx>, req: Request) -> Response {
    let name = ctx.control.view().page.name.clone();
    link_page(
        &ctx,
        &req,
        Purpose::Unsubscribe,
        "Unsubscribe",
        vec![format!(
            "Press the button to stop getting updates from {name}."
        )],
        "Unsubscribe",
    )
}

async fn confirm(State(ctx): State<Ctx>, req: Request) -> Response {
    // A valid signed link always works, however many share the client's address (mail
    // providers' one-click unsubscribes come from a few servers); only failures count
    // against the allowance, which stops guessing.
    let ip = client(&ctx, &req);
    let token = posted_token(req).await;
    match ctx.control.confirm_subscription(&token).await {
        Ok(s) => {
            let name = ctx.control.view().page.name.clone();
            html(
                &ctx,
                StatusCode::OK,
                "Subscription confirmed",
                vec![
                    format!(
                        "{} will now get an e-mail whenever {name} posts about an incident \
                         or a maintenance.",
                        s.address
                    ),
                    "Every e-mail carries a link to unsubscribe.".to_owned(),
                ],
                false,
            )
        }
        Err(e) => match ctx.limiter.take(ip, Instant::now()) {
            Err(wait) => too_many(&ctx, wait),
            Ok(()) => html_error(&ctx, e),
        },
    }
}

async fn unsubscribe(State(ctx): State<Ctx>, req: Request) -> Response {
    // As for confirming: only failures count against the client's allowance.
    let ip = client(&ctx, &req);
    let token = posted_token(req).await;
    match ctx.control.unsubscribe(&token).await {
        Ok(_) => {
            let name = ctx.control.view().page.name.clone();
            html(
                &ctx,
                StatusCode::OK,
                "You are unsubscribed",
                vec![format!("You will get no more updates from {name}.")],
                true,
            )
        }
        Err(e) => match ctx.limiter.take(ip, Instant::now()) {
            Err(wait) => too_many(&ctx, wait),
            Ok(()) => html_error(&ctx, e),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_read_from_the_query() {
        assert_eq!(
            query_token("a=1&token=abc.u.0.ff%20").as_deref(),
            Some("abc.u.0.ff ")
        );
        assert_eq!(query_token("a=1"), None);
    }
}
