//! The console's People page (`GET /console/users`): everyone who may sign in or hold tokens,
//! with their role and state, and, for those with the `administer` permission, the forms that
//! add a person or a service account (`POST /console/users`), change a role or disable and
//! enable someone (`POST /console/users/{id}`) and sign someone out everywhere
//! (`POST /console/users/{id}/sign-out`).
//!
//! Every change goes through the admin API's own functions ([`crate::admin::users`]), so the
//! two doors keep the same rules: giving a role needs [`Role::may_assign`], touching someone
//! needs [`Role::may_manage`], and the last enabled owner is kept. A change that works is
//! answered 303 back to the page with a fixed note of what was done; a refusal shows the page
//! again with the reason (422 for a field, 403 for a rule about roles, which is also recorded
//! as `access.denied`, 409 for the last owner) and changes nothing.
//!
//! The directory has no invitation flow, so a person is added with a first password (the
//! engine's rules: at least 12 characters), given to them privately.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use http::StatusCode;
use pharos_domain::access::{Permission, Role};
use pharos_engine::people::{AuditFilter, UserKind, UserRecord};

use super::pages::{render, Nav};
use super::{html, see_other, unavailable, Ctx, Fields, Signed};
use crate::admin::error::ApiError;
use crate::admin::users::{
    add_user, caller_role, change_user, sign_out_user, NewUserIn, UserChange,
};
use crate::brand::BrandView;

/// The page's path.
const PAGE: &str = "/users";

/// The viewer's time zone (UTC when theirs is not a known name).
pub(super) fn viewer_tz(signed: &Signed) -> Tz {
    signed.session.user.time_zone.parse().unwrap_or(Tz::UTC)
}

/// `at` as the viewer reads it: `2026-12-07 21:05 CET`.
pub(super) fn local_time(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The first instant of `date` in `tz` (the earliest, when the clocks go back that night;
/// midnight UTC of that date if the zone skips it).
pub(super) fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Field `name` of a query string (`a=1&b=2`), if present.
pub(super) fn query_field(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A refusal from the shared rules, as the console shows it: the status to answer with and a
/// sentence for the page. A 503 (or a fault) is `Err` with what to log: the caller answers
/// with the "try again" page.
pub(super) fn refusal(error: ApiError) -> Result<(StatusCode, String), String> {
    let (status, field, message) = error.parts();
    let text = match status {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => return Err(message),
        StatusCode::CONFLICT => format!(
            "The last owner cannot be removed or demoted: make another person owner first. \
             Nothing was changed ({message})."
        ),
        _ => match field.as_deref().map(field_label) {
            Some(label) => format!("Nothing was changed. {label}: {message}."),
            None => format!("Nothing was changed: {message}."),
        },
    };
    Ok((status, text))
}

/// The form's name for a field the shared rules name.
fn field_label(field: &str) -> &str {
    match field {
        "email" => "E-mail",
        "name" => "Name",
        "role" => "Role",
        "kind" => "Kind",
        "time_zone" => "Time zone",
        "password" => "First password",
        "scope" => "Scope",
        "owner" => "Owner",
        "expires_at" => "Expiry",
        other => other,
    }
}

/// Records `signed`'s refused attempt at `subject` as `access.denied` (best effort, as the
/// gate's own refusals are).
pub(super) async fn denied(ctx: &Ctx, signed: &Signed, subject: &str) {
    let mut entry = signed.caller.audit_record("access.denied");
    entry.subject = Some(subject.to_owned());
    if let Err(error) = ctx.control.directory().record(&entry).await {
        tracing::warn!(%error, "a console refusal could not be recorded in the audit trail");
    }
}

/// A choice in a `<select>`.
pub(super) struct Choice {
    /// Its value.
    pub(super) value: String,
    /// Its text.
    pub(super) label: String,
    /// Whether it is chosen.
    pub(super) selected: bool,
}

/// One person or service account on the page.
struct PersonRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    kind: &'static str,
    enabled: bool,
    last_sign_in: String,
    /// Whether the viewer may change them (and so sees the forms).
    manage: bool,
    /// The roles the viewer may move them to (their own role selected).
    roles: Vec<Choice>,
    /// Whether this is the viewer.
    is_self: bool,
}

/// What the add form holds (kept when it is refused; never the password).
#[derive(Default)]
struct AddForm {
    kind: String,
    email: String,
    name: String,
    role: String,
    time_zone: String,
}

/// The People page.
#[derive(askama::Template)]
#[template(path = "console/people.html")]
struct PeoplePage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    rows: Vec<PersonRow>,
    administer: bool,
    /// The roles the viewer may give, for the add form.
    roles: Vec<Choice>,
    form: AddForm,
    error: Option<String>,
    done: Option<&'static str>,
    min_password: usize,
}

/// The note for `?done=` after a change (fixed texts: nothing from the URL is shown).
fn done_note(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "added" => "Added. A person signs in with the e-mail and the first password you set.",
        "changed" => "Role changed.",
        "disabled" => {
            "Disabled: they cannot sign in, their sessions ended and their tokens stopped working."
        }
        "enabled" => "Enabled again.",
        "signed-out" => "Signed out everywhere: every session of theirs has ended.",
        _ => return None,
    })
}

/// When `user` last signed in with a password, if the audit trail still says (the newest
/// `signin` entry by them; a person who never signed in has none).
async fn last_sign_in(ctx: &Ctx, user: &UserRecord) -> Option<DateTime<Utc>> {
    if user.kind != UserKind::Person {
        return None;
    }
    let filter = AuditFilter {
        actor: Some(user.id.clone()),
        action_prefix: Some("signin".to_owned()),
        limit: Some(10),
        ..AuditFilter::default()
    };
    match ctx.control.directory().audit(&filter).await {
        Ok(entries) => entries
            .into_iter()
            .find(|e| e.record.action == "signin")
            .map(|e| e.record.at),
        Err(error) => {
            // The page is still useful without it.
            tracing::debug!(%error, "reading a last sign-in failed");
            None
        }
    }
}

/// The page with `error` above it (and the add form as sent), answered with `status`.
async fn show(
    ctx: &Ctx,
    signed: &Signed,
    status: StatusCode,
    error: Option<String>,
    done: Option<&'static str>,
    form: AddForm,
) -> Response {
    let users = match ctx.control.directory().users().await {
        Ok(u) => u,
        Err(e) => return unavailable(ctx, &e),
    };
    let mine = caller_role(&signed.caller);
    let administer = signed.may(Permission::Administer);
    let tz = viewer_tz(signed);
    let role_choices = |current: &str, may: &dyn Fn(Role) -> bool| -> Vec<Choice> {
        Role::ALL
            .into_iter()
            .filter(|r| may(*r) || r.as_str() == current)
            .map(|r| Choice {
                value: r.as_str().to_owned(),
                label: r.label().to_owned(),
                selected: r.as_str() == current,
            })
            .collect()
    };
    let mut rows = Vec::with_capacity(users.len());
    for u in &users {
        let manage = administer && mine.is_some_and(|m| m.may_manage(u.role));
        rows.push(PersonRow {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone().unwrap_or_default(),
            role: u.role.as_str(),
            kind: match u.kind {
                UserKind::Person => "Person",
                UserKind::Service => "Service account",
            },
            enabled: u.is_enabled(),
            last_sign_in: last_sign_in(ctx, u)
                .await
                .map_or_else(String::new, |t| local_time(tz, t)),
            manage,
            roles: if manage {
                role_choices(u.role.as_str(), &|r| {
                    mine.is_some_and(|m| m.may_change_role(u.role, r))
                })
            } else {
                Vec::new()
            },
            is_self: u.id == signed.session.user.id,
        });
    }
    let default_role = if form.role.is_empty() {
        "viewer"
    } else {
        &form.role
    };
    // The add form offers only the roles the viewer may give.
    let roles = Role::ALL
        .into_iter()
        .filter(|r| mine.is_some_and(|m| m.may_assign(*r)))
        .map(|r| Choice {
            value: r.as_str().to_owned(),
            label: r.label().to_owned(),
            selected: r.as_str() == default_role,
        })
        .collect();
    let nav = Nav::new(signed, "/users");
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    html(
        status,
        render(
            &PeoplePage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                rows,
                administer,
                roles,
                form,
                error,
                done,
                min_password: pharos_engine::people::password::MIN_PASSWORD_CHARS,
            },
            "People",
        ),
    )
}

/// `GET /console/users`.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let done = done_note(query_field(query.as_deref(), "done").as_deref());
    show(
        &ctx,
        &signed,
        StatusCode::OK,
        None,
        done,
        AddForm::default(),
    )
    .await
}

/// Answers a refusal of the shared rules: the page with the reason (a 403 is also recorded).
async fn refused(
    ctx: &Ctx,
    signed: &Signed,
    error: ApiError,
    subject: &str,
    form: AddForm,
) -> Response {
    match refusal(error) {
        Ok((status, text)) => {
            if status == StatusCode::FORBIDDEN {
                denied(ctx, signed, subject).await;
            }
            show(ctx, signed, status, Some(text), None, form).await
        }
        Err(e) => unavailable(ctx, &e),
    }
}

/// A form field, `None` when empty.
fn given(fields: &Fields, name: &str) -> Option<String> {
    let v = fields.get(name).trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// `POST /console/users`: adds a person (with a first password) or a service account.
pub(super) async fn add(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let form = AddForm {
        kind: fields.get("kind").trim().to_owned(),
        email: fields.get("email").trim().to_owned(),
        name: fields.get("name").trim().to_owned(),
        role: fields.get("role").trim().to_owned(),
        time_zone: fields.get("time_zone").trim().to_owned(),
    };
    let service = form.kind == "service";
    // Not trimmed: spaces are part of a password.
    let password = fields.get("password");
    let password = match (service, password.is_empty()) {
        (false, true) => {
            return show(
                &ctx,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Nothing was changed: a person needs a first password.".to_owned()),
                None,
                form,
            )
            .await
        }
        (true, true) => None,
        (_, false) => Some(password.to_owned()),
    };
    let req = NewUserIn {
        kind: given(&fields, "kind"),
        // A service account's form may still carry the e-mail field, empty.
        email: if service {
            None
        } else {
            given(&fields, "email")
        },
        name: given(&fields, "name"),
        role: form.role.clone(),
        time_zone: given(&fields, "time_zone"),
    };
    match add_user(&ctx.control, &signed.caller, req, password).await {
        Ok(user) => {
            tracing::info!(user = %user.id, by = %signed.caller.name, "user added in the console");
            see_other(&ctx.at("/users?done=added"))
        }
        Err(e) => refused(&ctx, &signed, e, &ctx.at(PAGE), form).await,
    }
}

/// `POST /console/users/{id}`: a new role (`role`), or `disabled` = `true` / `false`.
pub(super) async fn change(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let disabled = match fields.get("disabled") {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            return show(
                &ctx,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Nothing was changed: disabled is true or false.".to_owned()),
                None,
                AddForm::default(),
            )
            .await
        }
    };
    let role = given(&fields, "role");
    if role.is_none() && disabled.is_none() {
        return show(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Nothing was changed: choose a role, or disable or enable.".to_owned()),
            None,
            AddForm::default(),
        )
        .await;
    }
    let req = UserChange {
        name: None,
        role,
        time_zone: None,
        disabled,
    };
    match change_user(&ctx.control, &signed.caller, &id, req).await {
        Ok(_) => see_other(&ctx.at(match disabled {
            Some(true) => "/users?done=disabled",
            Some(false) => "/users?done=enabled",
            None => "/users?done=changed",
        })),
        Err(e) => refused(&ctx, &signed, e, &id, AddForm::default()).await,
    }
}

/// `POST /console/users/{id}/sign-out`: ends every session of theirs.
pub(super) async fn sign_out(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match sign_out_user(&ctx.control, &signed.caller, &id).await {
        Ok(()) => see_other(&ctx.at("/users?done=signed-out")),
        Err(e) => refused(&ctx, &signed, e, &id, AddForm::default()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight() {
        let date = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        assert_eq!(
            start_of_day(Tz::Europe__Paris, date).to_rfc3339(),
            "2026-06-30T22:00:00+00:00"
        );
        assert_eq!(
            start_of_day(Tz::UTC, date).to_rfc3339(),
            "2026-07-01T00:00:00+00:00"
        );
    }

    #[test]
    fn only_known_notes_are_shown() {
        assert!(done_note(Some("added")).is_some());
        assert!(done_note(Some("<script>")).is_none());
        assert!(done_note(None).is_none());
    }
}
