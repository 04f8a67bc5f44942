//! The console's Tokens page (`GET /console/tokens`): the signed-in person's API tokens
//! (everyone's with the `administer` permission), a form to make one (`POST /console/tokens`)
//! and a button to revoke each (`POST /console/tokens/{id}/revoke`).
//!
//! Making a token goes through the admin API's [`mint_token`], so the rules are the same: a
//! person mints for themselves, or, administering, for a service account; the scope is never
//! wider than their role ([`pharos_domain::access::Scope::within`]) nor than the owner's. The
//! form offers only the scopes and owners allowed, and the server checks again.
//!
//! The token is shown once, in the answer to the form's `POST` (201, `Cache-Control:
//! no-store` like every console answer): never in a URL, never stored in clear. Reloading that
//! answer would resend the form, so the page says to copy the token now and go back to the
//! list through a link.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Extension;
use chrono::{NaiveDate, TimeDelta, Utc};
use http::StatusCode;
use pharos_domain::access::{Permission, Scope};
use pharos_engine::people::UserKind;

use super::pages::{render, Nav};
use super::people::{denied, local_time, query_field, refusal, start_of_day, viewer_tz, Choice};
use super::{html, see_other, unavailable, Ctx, Fields, Signed};
use crate::admin::tokens::{mint_token, own_user, revoke_token, MintToken};
use crate::admin::users::caller_role;
use crate::brand::BrandView;

/// One token on the page.
struct TokenRow {
    id: String,
    name: String,
    scope: &'static str,
    owner: String,
    created: String,
    created_by: String,
    expires: String,
    last_used: String,
    revoked: String,
    /// `active`, `expired` or `revoked`.
    state: &'static str,
}

/// What the form holds (kept when it is refused).
#[derive(Default)]
struct MintForm {
    name: String,
    expires: String,
}

/// The Tokens page.
#[derive(askama::Template)]
#[template(path = "console/tokens.html")]
struct TokensPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    rows: Vec<TokenRow>,
    /// Whether the list is everyone's.
    everyone: bool,
    scopes: Vec<Choice>,
    owners: Vec<Choice>,
    form: MintForm,
    time_zone: String,
    error: Option<String>,
    done: Option<&'static str>,
}

/// The answer to a mint: the token, once.
#[derive(askama::Template)]
#[template(path = "console/token_minted.html")]
struct MintedPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    token: &'a str,
    name: &'a str,
    scope: &'a str,
    owner: &'a str,
    expires: String,
}

/// What each scope lets a token do, for the form.
fn scope_label(scope: Scope) -> String {
    match scope {
        Scope::Role(role) => format!(
            "{} — everything the {} role may",
            role.as_str(),
            role.label()
        ),
        Scope::Ingest => "ingest — send alerts and changes only".to_owned(),
        Scope::Read => "read — read everything, change nothing".to_owned(),
    }
}

/// The page, with `error` above the form, answered with `status`.
async fn show(
    ctx: &Ctx,
    signed: &Signed,
    status: StatusCode,
    error: Option<String>,
    done: Option<&'static str>,
    form: MintForm,
    chosen: (&str, &str),
) -> Response {
    let directory = ctx.control.directory();
    let tokens = match directory.tokens(own_user(&signed.caller)).await {
        Ok(t) => t,
        Err(e) => return unavailable(ctx, &e),
    };
    let users = match directory.users().await {
        Ok(u) => u,
        Err(e) => return unavailable(ctx, &e),
    };
    let name_of = |id: &str| {
        users
            .iter()
            .find(|u| u.id == id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    };
    let tz = viewer_tz(signed);
    let now = pharos_engine::clock::now();
    let rows = tokens
        .iter()
        .map(|t| TokenRow {
            id: t.id.clone(),
            name: t.name.clone(),
            scope: t.scope.as_str(),
            owner: name_of(&t.owner_id),
            created: local_time(tz, t.created_at),
            created_by: t.created_by.clone(),
            expires: t.expires_at.map_or_else(String::new, |e| local_time(tz, e)),
            last_used: t
                .last_used_at
                .map_or_else(String::new, |e| local_time(tz, e)),
            revoked: t.revoked_at.map_or_else(String::new, |e| local_time(tz, e)),
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
        })
        .collect();
    let mine = caller_role(&signed.caller);
    let (chosen_scope, chosen_owner) = chosen;
    let scopes = Scope::ALL
        .into_iter()
        .filter(|s| mine.is_some_and(|m| s.within(m)))
        .map(|s| Choice {
            value: s.as_str().to_owned(),
            label: scope_label(s),
            selected: s.as_str() == chosen_scope,
        })
        .collect();
    let me = &signed.session.user;
    let mut owners = vec![Choice {
        value: me.id.clone(),
        label: format!("Me ({})", me.name),
        selected: chosen_owner.is_empty() || chosen_owner == me.id,
    }];
    if signed.may(Permission::Administer) {
        owners.extend(
            users
                .iter()
                .filter(|u| {
                    u.kind == UserKind::Service
                        && u.is_enabled()
                        && mine.is_some_and(|m| m.may_manage(u.role))
                })
                .map(|u| Choice {
                    value: u.id.clone(),
                    label: format!("{} (service account, {})", u.name, u.role.as_str()),
                    selected: chosen_owner == u.id,
                }),
        );
    }
    let nav = Nav::new(signed, "/tokens");
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    html(
        status,
        render(
            &TokensPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                csrf: &signed.csrf,
                rows,
                everyone: own_user(&signed.caller).is_none(),
                scopes,
                owners,
                form,
                time_zone: tz.name().to_owned(),
                error,
                done,
            },
            "Tokens",
        ),
    )
}

/// `GET /console/tokens`.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let done = match query_field(query.as_deref(), "done").as_deref() {
        Some("revoked") => Some("Revoked: the token stopped working at once."),
        _ => None,
    };
    show(
        &ctx,
        &signed,
        StatusCode::OK,
        None,
        done,
        MintForm::default(),
        ("read", ""),
    )
    .await
}

/// `POST /console/tokens`: mints a token and shows it once.
pub(super) async fn create(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let form = MintForm {
        name: fields.get("name").trim().to_owned(),
        expires: fields.get("expires").trim().to_owned(),
    };
    let scope = fields.get("scope").trim().to_owned();
    let owner = match fields.get("owner").trim() {
        "" => signed.session.user.id.clone(),
        o => o.to_owned(),
    };
    let tz = viewer_tz(&signed);
    // The token works through the whole day chosen, in the viewer's time zone.
    let expires_at = if form.expires.is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(&form.expires, "%Y-%m-%d") {
            Ok(day) => Some(start_of_day(tz, day + TimeDelta::days(1))),
            Err(_) => {
                let text = format!(
                    "Nothing was changed: the expiry {:?} is not a date (YYYY-MM-DD).",
                    form.expires
                );
                return show(
                    &ctx,
                    &signed,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(text),
                    None,
                    form,
                    (&scope, &owner),
                )
                .await;
            }
        }
    };
    if expires_at.is_some_and(|e| e <= Utc::now()) {
        return show(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(
                "Nothing was changed: the expiry has passed; choose today or a later day."
                    .to_owned(),
            ),
            None,
            form,
            (&scope, &owner),
        )
        .await;
    }
    let req = MintToken {
        name: form.name.clone(),
        owner: owner.clone(),
        scope: scope.clone(),
        expires_at,
    };
    let minted = match mint_token(&ctx.control, &signed.caller, req).await {
        Ok(m) => m,
        Err(e) => {
            return match refusal(e) {
                Ok((status, text)) => {
                    if status == StatusCode::FORBIDDEN {
                        denied(&ctx, &signed, "/tokens").await;
                    }
                    show(
                        &ctx,
                        &signed,
                        status,
                        Some(text),
                        None,
                        form,
                        (&scope, &owner),
                    )
                    .await
                }
                Err(e) => unavailable(&ctx, &e),
            }
        }
    };
    let owner_name = if minted.record.owner_id == signed.session.user.id {
        signed.session.user.name.clone()
    } else {
        match ctx.control.directory().user(&minted.record.owner_id).await {
            Ok(Some(u)) => u.name,
            _ => minted.record.owner_id.clone(),
        }
    };
    let nav = Nav::new(&signed, "/tokens");
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    html(
        StatusCode::CREATED,
        render(
            &MintedPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                token: &minted.shown_once,
                name: &minted.record.name,
                scope: minted.record.scope.as_str(),
                owner: &owner_name,
                expires: minted
                    .record
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |e| local_time(tz, e)),
            },
            // Never the token in a fallback: the log line says the template failed.
            "Token created, but the page could not be shown: revoke it and make another.",
        ),
    )
}

/// `POST /console/tokens/{id}/revoke`.
pub(super) async fn revoke(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match revoke_token(&ctx.control, &signed.caller, &id).await {
        Ok(()) => see_other(&ctx.at("/tokens?done=revoked")),
        Err(e) => match refusal(e) {
            Ok((status, text)) => {
                show(
                    &ctx,
                    &signed,
                    status,
                    Some(text),
                    None,
                    MintForm::default(),
                    ("read", ""),
                )
                .await
            }
            Err(e) => unavailable(&ctx, &e),
        },
    }
}
