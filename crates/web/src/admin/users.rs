//! `/api/v1/users` (SPEC §9): the people and service accounts of the console and the API.
//! Anyone may list them (names, roles, time zones; never a hash or a secret). Adding,
//! changing roles, disabling and signing someone out everywhere need `administer`, and
//! whatever touches an owner (making one, changing or disabling one) needs an owner. The last
//! enabled owner is kept. Every change is audited in its own transaction.
//!
//! Passwords and second factors are not set here: a person sets their own in the console,
//! and `pharos user add` (or the console's People page, [`add_user`]) sets the first.
//!
//! The rules live in [`add_user`], [`change_user`] and [`sign_out_user`], which the console's
//! People page calls too, so both doors refuse the same things with the same words.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use pharos_domain::access::{Role, Scope};
use pharos_engine::people::{
    check_password, hash_password, new_user_id, normalise_email, PeopleConflict, UserKind,
    UserPatch, UserRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ErrorBody, UNAVAILABLE};
use super::model::IdPath;
use super::tokens::unavailable;
use super::Ctx;

/// A user or service account as listed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(crate) struct UserOut {
    /// `usr_…` for a person, `svc_…` for a service account.
    #[schema(example = "usr_k3j9x0a1b2c3")]
    id: String,
    /// `person` or `service`.
    #[schema(example = "person")]
    kind: &'static str,
    /// A person's e-mail.
    #[schema(example = "alice@example.com")]
    email: Option<String>,
    /// Display name.
    #[schema(example = "Alice")]
    name: String,
    /// `owner`, `admin`, `responder`, `communicator` or `viewer`.
    #[schema(example = "responder")]
    role: &'static str,
    /// The time zone the console shows times in.
    #[schema(example = "Europe/Paris")]
    time_zone: String,
    /// Whether they sign in with a password.
    password: bool,
    /// Whether they have a second factor.
    second_factor: bool,
    /// Whether they are linked to a single sign-on identity.
    single_sign_on: bool,
    /// When added.
    created_at: DateTime<Utc>,
    /// When disabled; a disabled user cannot sign in and their tokens stop working.
    disabled_at: Option<DateTime<Utc>>,
}

impl From<&UserRecord> for UserOut {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.clone(),
            kind: u.kind.as_str(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str(),
            time_zone: u.time_zone.clone(),
            password: u.password_hash.is_some(),
            second_factor: u.totp_secret.is_some(),
            single_sign_on: u.sso_subject.is_some(),
            created_at: u.created_at,
            disabled_at: u.disabled_at,
        }
    }
}

/// Who to add: a person (who signs in through single sign-on until they set a password in
/// the console) or a service account (which owns API tokens).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserIn {
    /// `person` (default) or `service`.
    pub(crate) kind: Option<String>,
    /// A person's e-mail; none for a service account.
    pub(crate) email: Option<String>,
    /// Display name (a service account needs one).
    pub(crate) name: Option<String>,
    /// The role.
    #[schema(example = "responder")]
    pub(crate) role: String,
    /// IANA time zone (default UTC).
    pub(crate) time_zone: Option<String>,
}

/// What to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    /// A new display name.
    pub(crate) name: Option<String>,
    /// A new role.
    pub(crate) role: Option<String>,
    /// A new IANA time zone.
    pub(crate) time_zone: Option<String>,
    /// `true` disables (they cannot sign in, their sessions end, their tokens stop working);
    /// `false` enables again.
    pub(crate) disabled: Option<bool>,
}

/// The caller's role, for deciding about roles: a configured token is an owner; an API token
/// with a role scope has that role; `ingest` and `read` tokens have none; a person signed in to
/// the console has their role.
pub(crate) fn caller_role(caller: &Caller) -> Option<Role> {
    match caller.principal.grant {
        Scope::Role(r) => Some(r),
        Scope::Ingest | Scope::Read => None,
    }
}

/// `s` as a role, or a 422 on `field` listing the roles.
pub(crate) fn parse_role(field: &str, s: &str) -> Result<Role, ApiError> {
    s.parse::<Role>()
        .map_err(|e| ApiError::unprocessable(field, e.to_string()))
}

/// A 422 unless `tz` is an IANA time zone name.
pub(crate) fn check_time_zone(tz: &str) -> Result<(), ApiError> {
    tz.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        ApiError::unprocessable(
            "time_zone",
            format!("unknown time zone {tz:?}; use an IANA name such as Europe/Paris or UTC"),
        )
    })
}

/// A refusal of the directory as an answer: a taken e-mail is the e-mail field's fault, an
/// unknown user a 404, the last owner (and the rest) a 409.
pub(crate) fn conflict(c: PeopleConflict) -> ApiError {
    match c {
        PeopleConflict::DuplicateEmail(_) => ApiError::unprocessable("email", c.to_string()),
        PeopleConflict::UnknownUser(id) => ApiError::not_found("user", &id),
        other => ApiError::conflict(other.to_string()),
    }
}

/// Everyone, oldest first, disabled people included.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "list_users",
    tag = "users",
    responses(
        (status = 200, description = "Users and service accounts, oldest first", body = [UserOut]),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn list(State(ctx): State<Ctx>) -> Result<Json<Vec<UserOut>>, ApiError> {
    let users = ctx.control.directory().users().await.map_err(unavailable)?;
    Ok(Json(users.iter().map(UserOut::from).collect()))
}

/// Adds a person or a service account. Making an owner needs an owner.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "add_user",
    tag = "users",
    request_body = NewUserIn,
    responses(
        (status = 201, description = "Added and stored", body = UserOut),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn add(
    State(ctx): State<Ctx>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUserIn>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let user = add_user(&ctx.control, &caller, req, None).await?;
    tracing::info!(user = %user.id, role = user.role.as_str(), by = %caller.name, "user added through the admin API");
    Ok((StatusCode::CREATED, Json(UserOut::from(&user))))
}

/// Adds the person or service account `req` describes on behalf of `caller`, with `password`
/// as a person's first password (checked with the engine's rules, hashed off the runtime);
/// audited as `user.add`. The rules of `POST /api/v1/users`: giving a role needs
/// [`Role::may_assign`] (only an owner makes owners), a person needs an e-mail, a service
/// account a name and neither an e-mail nor a password. Shared by the admin API and the
/// console.
pub(crate) async fn add_user(
    control: &pharos_engine::EngineControl,
    caller: &Caller,
    req: NewUserIn,
    password: Option<String>,
) -> Result<UserRecord, ApiError> {
    let role = parse_role("role", &req.role)?;
    if !caller_role(caller).is_some_and(|r| r.may_assign(role)) {
        return Err(ApiError::forbidden(format!(
            "{} may not give the role {}: only an owner makes owners",
            caller.name,
            role.as_str()
        )));
    }
    let kind = match req.kind.as_deref().unwrap_or("person") {
        "person" => UserKind::Person,
        "service" => UserKind::Service,
        other => {
            return Err(ApiError::unprocessable(
                "kind",
                format!("unknown kind {other:?}; expected person or service"),
            ))
        }
    };
    let email = match (kind, req.email) {
        (UserKind::Person, Some(e)) => Some(normalise_email(&e).ok_or_else(|| {
            ApiError::unprocessable("email", format!("{:?} is not an e-mail address", e.trim()))
        })?),
        (UserKind::Person, None) => {
            return Err(ApiError::unprocessable("email", "a person needs an e-mail"))
        }
        (UserKind::Service, Some(_)) => {
            return Err(ApiError::unprocessable(
                "email",
                "a service account has no e-mail",
            ))
        }
        (UserKind::Service, None) => None,
    };
    let name = match (req.name.map(|n| n.trim().to_owned()), &email) {
        (Some(n), _) if !n.is_empty() => n,
        (_, Some(e)) => e.split('@').next().unwrap_or_default().to_owned(),
        (_, None) => {
            return Err(ApiError::unprocessable(
                "name",
                "a service account needs a name",
            ))
        }
    };
    let time_zone = req.time_zone.unwrap_or_else(|| "UTC".to_owned());
    check_time_zone(&time_zone)?;
    let password_hash = match (kind, password) {
        (_, None) => None,
        (UserKind::Service, Some(_)) => {
            return Err(ApiError::unprocessable(
                "password",
                "a service account has no password: it acts through its tokens",
            ))
        }
        (UserKind::Person, Some(p)) => {
            check_password(&p).map_err(|e| ApiError::unprocessable("password", e.to_string()))?;
            // Argon2 takes tens of milliseconds of CPU: off the runtime's threads.
            let hashed = tokio::task::spawn_blocking(move || hash_password(&p))
                .await
                .map_err(|e| ApiError::internal(&e.to_string()))?;
            Some(hashed.map_err(|e| ApiError::internal(&e.to_string()))?)
        }
    };
    let now = pharos_engine::clock::now();
    let mut user = UserRecord::new(new_user_id(kind), kind, name, role, now);
    user.email = email;
    user.time_zone = time_zone;
    user.password_hash = password_hash;
    let mut audit = caller.audit_record("user.add");
    audit.subject = Some(user.id.clone());
    audit.after = serde_json::to_string(&UserOut::from(&user)).ok();
    control
        .directory()
        .add_user(&user, &audit)
        .await
        .map_err(unavailable)?
        .map_err(conflict)?;
    Ok(user)
}

/// Changes a user's name, role or time zone, or disables or enables them. Touching an owner,
/// or making one, needs an owner; the last enabled owner cannot be demoted or disabled.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "change_user",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body = UserChange,
    responses(
        (status = 200, description = "Changed and stored", body = UserOut),
        (status = 409, description = "It would leave no enabled owner", body = ErrorBody),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn change(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<UserChange>,
) -> Result<Json<UserOut>, ApiError> {
    let changed = change_user(&ctx.control, &caller, &id, req).await?;
    tracing::info!(user = %id, by = %caller.name, "user changed through the admin API");
    Ok(Json(UserOut::from(&changed)))
}

/// Changes user `id` as `req` says on behalf of `caller`, audited as `user.change`,
/// `user.disable` or `user.enable`: the rules of `PATCH /api/v1/users/{id}` (the caller must
/// [`Role::may_manage`] the user and [`Role::may_change_role`] to a new role; the last enabled
/// owner is kept, a 409). Shared by the admin API and the console.
pub(crate) async fn change_user(
    control: &pharos_engine::EngineControl,
    caller: &Caller,
    id: &str,
    req: UserChange,
) -> Result<UserRecord, ApiError> {
    let directory = control.directory();
    let user = directory
        .user(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    let role = req
        .role
        .as_deref()
        .map(|r| parse_role("role", r))
        .transpose()?;
    let mine = caller_role(caller);
    let allowed = mine.is_some_and(|m| {
        m.may_manage(user.role) && role.is_none_or(|to| m.may_change_role(user.role, to))
    });
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "{} may not change {} ({}): only an owner changes an owner or makes one",
            caller.name,
            user.name,
            user.role.as_str()
        )));
    }
    if let Some(tz) = &req.time_zone {
        check_time_zone(tz)?;
    }
    let name = req.name.map(|n| n.trim().to_owned());
    if name.as_deref() == Some("") {
        return Err(ApiError::unprocessable("name", "a name cannot be empty"));
    }
    let patch = UserPatch {
        name,
        role,
        time_zone: req.time_zone,
        disabled: req.disabled,
        ..UserPatch::default()
    };
    let mut audit = caller.audit_record(match req.disabled {
        Some(true) => "user.disable",
        Some(false) => "user.enable",
        None => "user.change",
    });
    audit.subject = Some(id.to_owned());
    audit.before = serde_json::to_string(&UserOut::from(&user)).ok();
    // The stored entry's `after` is what was asked; the answer shows the result.
    audit.after = serde_json::to_string(&serde_json::json!({
        "name": patch.name, "role": patch.role.map(Role::as_str),
        "time_zone": patch.time_zone, "disabled": patch.disabled,
    }))
    .ok();
    match directory
        .update_user(id, &patch, &audit)
        .await
        .map_err(unavailable)?
    {
        Ok(user) => Ok(user),
        Err(refused) => {
            // A refused change (the last owner kept, …) changes nothing but is worth a line
            // in the trail: who tried what, and why it was refused.
            let mut entry = audit;
            entry.action = "user.refused".to_owned();
            entry.after = serde_json::to_string(&serde_json::json!({
                "asked": entry.after.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
                "reason": refused.to_string(),
            }))
            .ok();
            if let Err(error) = directory.record(&entry).await {
                tracing::warn!(%error, "a refused change of a person could not be recorded in the audit trail");
            }
            Err(conflict(refused))
        }
    }
}

/// Ends every session of a user at once (their API tokens are revoked one by one).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/sign-out",
    operation_id = "sign_out_user",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 503, description = UNAVAILABLE, body = ErrorBody)
    )
)]
pub(crate) async fn sign_out(
    State(ctx): State<Ctx>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    sign_out_user(&ctx.control, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of user `id` on behalf of `caller` (who must [`Role::may_manage`]
/// them), audited as `user.sign_out`. Shared by the admin API and the console.
pub(crate) async fn sign_out_user(
    control: &pharos_engine::EngineControl,
    caller: &Caller,
    id: &str,
) -> Result<(), ApiError> {
    let directory = control.directory();
    let user = directory
        .user(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    if !caller_role(caller).is_some_and(|m| m.may_manage(user.role)) {
        return Err(ApiError::forbidden(format!(
            "{} may not sign out {} ({}): only an owner acts on an owner's account",
            caller.name,
            user.name,
            user.role.as_str()
        )));
    }
    let mut audit = caller.audit_record("user.sign_out");
    audit.subject = Some(id.to_owned());
    directory
        .sign_out_everywhere(id, &audit)
        .await
        .map_err(unavailable)?
        .map_err(conflict)
}
