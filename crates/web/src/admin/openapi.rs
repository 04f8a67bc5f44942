//! The OpenAPI 3.1 document of the admin API: its frame (title, the `bearer` security scheme,
//! the error schema), [`secure`], which marks every protected operation as needing the bearer
//! token and lists the error answers it can give, and the route serving the document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, ResponseBuilder};
use utoipa::OpenApi as _;

use super::error::ErrorBody;
use super::Ctx;

/// The name of the security scheme in the document.
const BEARER: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Pharos admin API",
        description = "Declare and update incidents, schedule maintenance, override component \
statuses, read monitors, see what nothing watches, follow notification deliveries and manage subscribers. Every operation except this document needs \
`Authorization: Bearer <token>` with a token from `[admin] tokens`; the token's name is recorded \
as the author of every change. Errors are `{\"error\": {\"status\", \"message\", \"field\"?}}`. \
A 2xx answer to a change means it is stored.",
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "incidents", description = "Incidents, their public updates, private notes and timeline"),
        (name = "maintenances", description = "Scheduled maintenance windows"),
        (name = "components", description = "Components, their statuses and overrides"),
        (name = "monitors", description = "Monitors' health and recent results"),
        (name = "coverage", description = "What nothing watches: components no monitor drives, monitors removed from the configuration"),
        (name = "deliveries", description = "The notification outbox: sent, waiting for a retry, given up"),
        (name = "subscribers", description = "The public's e-mail and webhook subscriptions"),
        (name = "alerts", description = "Alerts from Alertmanager, Grafana and PagerDuty, in their own formats"),
        (name = "reports", description = "Uptime and incident metrics per component over 30, 90 and 365 days"),
        (name = "changes", description = "Deploys and other changes, append-only, with their release-regression verdicts"),
        (name = "cluster", description = "The nodes sharing one PostgreSQL database, and which one leads"),
        (name = "tokens", description = "API tokens: minted once, scoped, revocable"),
        (name = "users", description = "People and service accounts, their roles"),
        (name = "audit", description = "Who changed what, when and from where: append-only"),
        (name = "meta", description = "This document"),
    )
)]
struct Frame;

/// The document before any route is added: info, tags, the error schema and the bearer
/// security scheme.
pub(crate) fn frame() -> OpenApi {
    let mut doc = Frame::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A token from `[admin] tokens` in the configuration (an owner), or an API token `pht_…`",
                ))
                .build(),
        ),
    );
    doc
}

/// Marks every operation of `doc` as needing the bearer token, and adds the error answers
/// each can give: 401 always, 404 when the path has an id, 400/413/415/422 when it takes a
/// body. (Operations that wait for storage or the engine declare their own 503.)
pub(crate) fn secure(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_id = path.contains('{');
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            error(
                op,
                401,
                "Missing, malformed or unknown bearer token; nothing changed",
            );
            error(
                op,
                403,
                "The token's role or scope does not allow this (the message says what it needs); nothing changed",
            );
            if has_id {
                error(
                    op,
                    404,
                    "No such incident, maintenance, component or monitor",
                );
            }
            if op.request_body.is_some() {
                error(op, 400, "Malformed JSON, a wrong type, a missing field or an unknown key; `field` names it");
                error(op, 413, "The body is larger than 256 KiB");
                error(op, 415, "The body is not sent as application/json");
                error(
                    op,
                    422,
                    "The request breaks a rule; `field` names the field at fault; nothing changed",
                );
            }
        }
    }
}

fn error(op: &mut Operation, status: u16, description: &str) {
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| response.into());
}

/// This document, OpenAPI 3.1. No token needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn document(State(ctx): State<Ctx>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        // Serialized once at start-up; each request clones a reference.
        ctx.openapi.clone(),
    )
}
