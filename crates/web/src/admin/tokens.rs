//! `/api/v1/tokens` (SPEC §9): API tokens `pht_…`, each owned by a user or a service account
//! and limited to a scope (a role, `ingest` or `read`) no wider than its owner's role. A token
//! is shown once, when it is minted, and stored as a hash; listing shows its name, scope,
//! expiry and last use, never the secret. Every mint and revocation is in the audit trail.
//!
//! Who may mint ([`mint_token`], shared with the console's Tokens page): a configured token
//! (an owner) for anyone; a person signed in to the console for themselves, or, with the
//! `administer` permission, for a service account whose role they may manage; the scope never
//! wider than the creator's role ([`Scope::within`]) nor than the owner's. An API token never
//! mints tokens, so revoking one leaves no heirs. Listing and revoking: one's own tokens, or
//! everyone's with the `administer` permission.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::access::{Permission, Scope};
use pharos_engine::people::{ApiTokenRecord, MintRefused, Minted, Source, StoreError, UserKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::Ctx;

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiToken)]
pub(crate) struct TokenOut {
    /// The token's public id (the part after `pht_`).
    #[schema(example = "k3j9x0a1b2c3")]
    id: String,
    /// What it is for.
    #[schema(example = "alertmanager")]
    name: String,
    /// The user or service account that owns it.
    #[schema(example = "svc_ci")]
    owner: String,
    /// A role (`owner` … `viewer`), `ingest` or `read`.
    #[schema(example = "ingest")]
    scope: &'static str,
    /// Who minted it.
    created_by: String,
    /// When it was minted.
    created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated at most once a minute).
    last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiTokenRecord> for TokenOut {
    fn from(t: &ApiTokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            owner: t.owner_id.clone(),
            scope: t.scope.as_str(),
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token just minted, with the whole token: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MintedOut {
    /// `pht_<id>_<secret>`: store it now; Pharos keeps only a hash and cannot show it again.
    token: String,
    /// The token as it will be listed.
    #[serde(flatten)]
    listed: TokenOut,
}

/// What to mint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MintToken {
    /// What it is for (1–100 characters).
    #[schema(example = "alertmanager")]
    pub(crate) name: String,
    /// The user or service account that will own it.
    #[schema(example = "svc_ci")]
    pub(crate) owner: String,
    /// A role (`owner`, `admin`, `responder`, `communicator`, `viewer`), `ingest` or `read`;
    /// no wider than the owner's role.
    #[schema(example = "ingest")]
    pub(crate) scope: String,
    /// When it stops working; never when absent.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// A storage failure, logged, as a 503.
pub(crate) fn unavailable(error: StoreError) -> ApiError {
    tracing::warn!(%error, "reading or writing API tokens failed");
    ApiError::unavailable("storage did not answer; try again")
}

/// Mints a token. The answer holds the whole token, once.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    operation_id = "mint_token",
    tag = "tokens",
    request_body = MintToken,
    responses(
        (status = 201, description = "Minted and stored; `token` is shown only now", body = MintedOut),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn mint(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(req): ApiJson<MintToken>,
) -> Result<Response, ApiError> {
    let minted = mint_token(&ctx.control, &caller, req).await?;
    let body = MintedOut {
        token: minted.shown_once,
        listed: TokenOut::from(&minted.record),
    };
    Ok((
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                format!("/api/v1/tokens/{}", body.listed.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(body),
    )
        .into_response())
}

/// Mints the token `req` describes on behalf of `caller`, audited as `token.create` (see the
/// module's documentation for who may). Shared by the admin API and the console.
pub(crate) async fn mint_token(
    control: &pharos_engine::EngineControl,
    caller: &Caller,
    req: MintToken,
) -> Result<Minted, ApiError> {
    let scope = Scope::parse(&req.scope).ok_or_else(|| {
        ApiError::unprocessable(
            "scope",
            format!(
                "unknown scope {:?}; expected owner, admin, responder, communicator, viewer, ingest or read",
                req.scope
            ),
        )
    })?;
    let directory = control.directory();
    match &caller.principal.source {
        Source::ConfigToken => {}
        Source::ApiToken { .. } => {
            return Err(ApiError::forbidden(
                "an API token cannot mint tokens: use a token from [admin] tokens, or the console",
            ))
        }
        Source::Session { user_id } => {
            let Some(creator) = super::users::caller_role(caller) else {
                return Err(ApiError::forbidden("a session always has a role"));
            };
            if !scope.within(creator) {
                return Err(ApiError::unprocessable(
                    "scope",
                    format!(
                        "the scope {scope} is wider than your role ({creator}): a token is never wider than its creator"
                    ),
                ));
            }
            if req.owner != *user_id {
                // Someone else's: only a service account's, by someone who administers it.
                let owner = directory.user(&req.owner).await.map_err(unavailable)?;
                let allowed = owner.as_ref().is_some_and(|o| {
                    o.kind == UserKind::Service
                        && caller.principal.may(Permission::Administer)
                        && creator.may_manage(o.role)
                });
                if !allowed {
                    return Err(ApiError::forbidden(format!(
                        "{} may mint tokens for themselves and, with the administer permission, for service accounts; not for {:?}",
                        caller.name, req.owner
                    )));
                }
            }
        }
    }
    let minted = directory
        .mint(
            &req.owner,
            &req.name,
            scope,
            req.expires_at,
            &caller.name,
            caller.audit_record("token.create"),
        )
        .await
        .map_err(unavailable)?
        .map_err(|refused| {
            let field = match refused {
                MintRefused::BadName => "name",
                MintRefused::UnknownOwner(_) => "owner",
                MintRefused::WiderThanOwner { .. } => "scope",
                MintRefused::ExpiryPast => "expires_at",
            };
            ApiError::unprocessable(field, refused.to_string())
        })?;
    tracing::info!(token = %minted.record.id, owner = %minted.record.owner_id, scope = minted.record.scope.as_str(), by = %caller.name, "API token minted");
    Ok(minted)
}

/// The caller's own tokens, or everyone's for a caller with the `administer` permission;
/// newest first, revoked and expired ones included.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    responses(
        (status = 200, description = "Tokens, newest first", body = [TokenOut]),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(
    State(ctx): State<Ctx>,
    caller: Caller,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let owner = own_user(&caller);
    let tokens = ctx
        .control
        .directory()
        .tokens(owner)
        .await
        .map_err(unavailable)?;
    Ok(Json(tokens.iter().map(TokenOut::from).collect()))
}

/// Whose tokens the caller sees and may revoke: `None` for all (with `administer`).
pub(crate) fn own_user(caller: &Caller) -> Option<&str> {
    if caller.principal.may(Permission::Administer) {
        return None;
    }
    match &caller.principal.source {
        Source::ApiToken { owner_id, .. } => Some(owner_id),
        Source::Session { user_id } => Some(user_id),
        // A configured token is an owner, so it has `administer`; no user of its own.
        Source::ConfigToken => Some(""),
    }
}

/// Revokes a token at once; revoking one already revoked changes nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id (the part after `pht_`)")),
    responses(
        (status = 204, description = "Revoked (or it already was)"),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn revoke(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    revoke_token(&ctx.control, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes token `id` on behalf of `caller`, audited as `token.revoke`: one's own, or anyone's
/// with the `administer` permission; someone else's is answered as missing (404), so ids
/// cannot be probed. Shared by the admin API and the console.
pub(crate) async fn revoke_token(
    control: &pharos_engine::EngineControl,
    caller: &Caller,
    id: &str,
) -> Result<(), ApiError> {
    let directory = control.directory();
    let not_found = || ApiError::not_found("token", id);
    let token = directory
        .token(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    // Someone else's token is answered as missing, so ids cannot be probed.
    if own_user(caller).is_some_and(|me| me != token.owner_id) {
        return Err(not_found());
    }
    directory
        .revoke(id, caller.audit_record("token.revoke"))
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    tracing::info!(token = %id, by = %caller.name, "API token revoked");
    Ok(())
}
