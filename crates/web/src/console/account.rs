//! The signed-in person's own account (`GET /console/account`): name, e-mail, time zone
//! (editable: `POST /console/account`, an IANA name), and two-step sign-in: set it up
//! (`POST …/totp/start` keeps a new secret sealed on the session and the page shows it as
//! base32, as an `otpauth://` URI and as a QR code drawn as SVG here; `POST …/totp/confirm`
//! with a code from the app turns it on and shows ten recovery codes once), turn it off
//! (`POST …/totp/disable`) and make new recovery codes (`POST …/recovery`), both with a
//! current code or the password.
//!
//! Every signed-in person may use it for themselves (`read`): it acts on the session's own
//! user only, never on an id from the form. Each change is audited with it by the engine
//! (`account.update`, `totp.enable`, `totp.disable`, `recovery.regenerate`). Without a sealing
//! key ([`pharos_engine::people::NO_KEY_MESSAGE`]) setup is refused with the operator's
//! instructions.

use std::str::FromStr;
use std::time::Instant;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Extension;
use base64::Engine as _;
use http::StatusCode;
use pharos_engine::people::{
    ProofRefused, SetupRefused, SignInError, TotpSetup, UserPatch, NO_KEY_MESSAGE,
};

use super::pages::{render, Nav};
use super::{html, see_other, unavailable, Ctx, Fields, Signed};
use crate::brand::BrandView;

/// Where the page lives.
const ACCOUNT_PATH: &str = "/account";

/// The account page.
#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    name: &'a str,
    email: &'a str,
    time_zone: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// Two-step sign-in is on.
    totp_on: bool,
    /// Unused recovery codes, when it is on.
    codes_left: usize,
    /// The secret being set up, with its QR code as a `data:` URI.
    setup: Option<(TotpSetup, Option<String>)>,
    /// Whether setup can be started (a sealing key is configured).
    can_seal: bool,
    no_key: &'a str,
    /// Recovery codes just made, shown this once.
    codes: &'a [String],
}

/// What one rendering of the page adds to what is stored.
#[derive(Default)]
struct Extra<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    codes: &'a [String],
    time_zone: Option<&'a str>,
}

/// The setup URI as a QR code: an SVG in a `data:` URI for an `<img>` (no markup of ours is
/// inlined unescaped, and the page's CSP allows `data:` images). `None` if it cannot be
/// encoded (it always can: the URI is short).
fn qr_data_uri(uri: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The page for `signed` with `status`.
async fn account_page(
    ctx: &Ctx,
    signed: &Signed,
    status: StatusCode,
    extra: Extra<'_>,
) -> Response {
    let user = &signed.session.user;
    let directory = ctx.control.directory();
    let view = ctx.control.view();
    let totp_on = user.totp_secret.is_some();
    let (codes_left, setup) = if totp_on {
        match directory.recovery_codes_left(&user.id).await {
            Ok(n) => (n, None),
            Err(e) => return unavailable(ctx, &e),
        }
    } else {
        match directory
            .pending_totp(&signed.session.id_hash, user, &view.page.name)
            .await
        {
            Ok(setup) => (
                0,
                setup.map(|s| {
                    let qr = qr_data_uri(&s.uri);
                    (s, qr)
                }),
            ),
            Err(e) => return unavailable(ctx, &e),
        }
    };
    let nav = Nav::new(signed, "/account");
    let brand = BrandView::new(&view.page);
    let page = AccountPage {
        base: &ctx.base,
        nav: Some(&nav),
        page_name: &view.page.name,
        brand: &brand,
        csrf: &signed.csrf,
        name: &user.name,
        email: user.email.as_deref().unwrap_or(""),
        time_zone: extra.time_zone.unwrap_or(&user.time_zone),
        notice: extra.notice,
        error: extra.error,
        totp_on: totp_on || !extra.codes.is_empty(),
        codes_left: if extra.codes.is_empty() {
            codes_left
        } else {
            extra.codes.len()
        },
        setup: if extra.codes.is_empty() { setup } else { None },
        can_seal: directory.can_seal(),
        no_key: NO_KEY_MESSAGE,
        codes: extra.codes,
    };
    html(status, render(&page, "Your account"))
}

/// `GET /console/account`.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = match query.as_deref() {
        Some("done=time_zone") => Some("Your time zone is saved."),
        Some("done=totp_disabled") => {
            Some("Two-step sign-in is off, and your recovery codes are gone.")
        }
        _ => None,
    };
    account_page(
        &ctx,
        &signed,
        StatusCode::OK,
        Extra {
            notice,
            ..Extra::default()
        },
    )
    .await
}

/// `POST /console/account`: a new time zone, an IANA name.
pub(super) async fn update(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let typed = fields.get("time_zone").trim();
    let Ok(zone) = chrono_tz::Tz::from_str(typed) else {
        let error = format!(
            "\"{typed}\" is not a time zone Pharos knows: use an IANA name like \
             \"Europe/Berlin\", \"America/New_York\" or \"UTC\". Nothing was changed."
        );
        return account_page(
            &ctx,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Extra {
                error: Some(&error),
                time_zone: Some(typed),
                ..Extra::default()
            },
        )
        .await;
    };
    let user = &signed.session.user;
    let name = zone.name();
    if name == user.time_zone {
        return see_other(&ctx.at("/account?done=time_zone"));
    }
    let mut audit = signed.caller.audit_record("account.update");
    audit.subject = Some(user.id.clone());
    audit.before = Some(serde_json::json!({ "time_zone": user.time_zone }).to_string());
    audit.after = Some(serde_json::json!({ "time_zone": name }).to_string());
    let patch = UserPatch {
        time_zone: Some(name.to_owned()),
        ..UserPatch::default()
    };
    match ctx
        .control
        .directory()
        .update_user(&user.id, &patch, &audit)
        .await
    {
        Ok(Ok(_)) => see_other(&ctx.at("/account?done=time_zone")),
        Ok(Err(conflict)) => {
            let error = format!("{conflict}. Nothing was changed.");
            account_page(
                &ctx,
                &signed,
                StatusCode::CONFLICT,
                Extra {
                    error: Some(&error),
                    ..Extra::default()
                },
            )
            .await
        }
        Err(e) => unavailable(&ctx, &e),
    }
}

/// A refused setup step: the page again with why (422; the setup being confirmed, if any,
/// still shown).
async fn refused(ctx: &Ctx, signed: &Signed, why: &str) -> Response {
    account_page(
        ctx,
        signed,
        StatusCode::UNPROCESSABLE_ENTITY,
        Extra {
            error: Some(why),
            ..Extra::default()
        },
    )
    .await
}

/// `POST /console/account/totp/start`: a new secret to set up, kept sealed on the session.
pub(super) async fn totp_start(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
) -> Response {
    let view = ctx.control.view();
    match ctx
        .control
        .directory()
        .start_totp(
            &signed.session.id_hash,
            &signed.session.user,
            &view.page.name,
        )
        .await
    {
        Ok(Ok(_)) => see_other(&ctx.at(ACCOUNT_PATH)),
        Ok(Err(why)) => {
            if why == SetupRefused::NoKey {
                tracing::warn!(
                    user = %signed.session.user.id,
                    "two-step sign-in setup refused: no sealing key ([console] secret_key_file \
                     or PHAROS_SECRET_KEY)"
                );
            }
            refused(&ctx, &signed, &why.to_string()).await
        }
        Err(e) => unavailable(&ctx, &e),
    }
}

/// `POST /console/account/totp/confirm`: a code from the app; when right, two-step sign-in
/// is on and the recovery codes are shown, once.
pub(super) async fn totp_confirm(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let audit = signed.caller.audit_record("totp.enable");
    match ctx
        .control
        .directory()
        .confirm_totp(
            &signed.session.id_hash,
            &signed.session.user,
            fields.get("code"),
            audit,
        )
        .await
    {
        Ok(Ok(codes)) => {
            tracing::info!(user = %signed.session.user.id, "two-step sign-in turned on");
            account_page(
                &ctx,
                &signed,
                StatusCode::OK,
                Extra {
                    notice: Some("Two-step sign-in is on."),
                    codes: &codes.shown_once,
                    ..Extra::default()
                },
            )
            .await
        }
        Ok(Err(why)) => refused(&ctx, &signed, &format!("{why}. Nothing was changed.")).await,
        Err(e) => unavailable(&ctx, &e),
    }
}

/// Takes one try from the person's sign-in budget before a proof (a code or the password) is
/// checked, so a session left open cannot be used to guess the password without limit; the
/// 429 page when it is spent.
fn take_try(ctx: &Ctx, signed: &Signed) -> Result<String, Box<Response>> {
    let key = super::second_step::account_key(&signed.session.user);
    match ctx.by_account.take(key.clone(), Instant::now()) {
        Ok(()) => Ok(key),
        Err(wait) => {
            let secs = crate::limit::retry_after(wait);
            let text = format!(
                "Too many wrong codes or passwords. Try again in {secs} seconds. Nothing was \
                 changed."
            );
            let mut r = html(
                StatusCode::TOO_MANY_REQUESTS,
                super::pages::message(ctx, "Too many tries", &text),
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            Err(Box::new(r))
        }
    }
}

/// Gives the try back unless the proof was wrong (only wrong guesses are spent).
fn settle_try<T>(ctx: &Ctx, key: String, outcome: &Result<Result<T, ProofRefused>, SignInError>) {
    if !matches!(outcome, Ok(Err(ProofRefused::Wrong))) {
        ctx.by_account.refund(key, Instant::now());
    }
}

/// `POST /console/account/totp/disable`: with a current code or the password.
pub(super) async fn totp_disable(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let audit = signed.caller.audit_record("totp.disable");
    let key = match take_try(&ctx, &signed) {
        Ok(key) => key,
        Err(r) => return *r,
    };
    let outcome = ctx
        .control
        .directory()
        .disable_totp(&signed.session.user, fields.get("proof"), audit)
        .await;
    settle_try(&ctx, key, &outcome);
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(user = %signed.session.user.id, "two-step sign-in turned off");
            see_other(&ctx.at("/account?done=totp_disabled"))
        }
        Ok(Err(why)) => refused(&ctx, &signed, &format!("{why}. Nothing was changed.")).await,
        Err(e) => unavailable(&ctx, &e),
    }
}

/// `POST /console/account/recovery`: ten new recovery codes (the old ones stop working),
/// with a current code or the password.
pub(super) async fn recovery_regenerate(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Extension(fields): Extension<Fields>,
) -> Response {
    let audit = signed.caller.audit_record("recovery.regenerate");
    let key = match take_try(&ctx, &signed) {
        Ok(key) => key,
        Err(r) => return *r,
    };
    let outcome = ctx
        .control
        .directory()
        .regenerate_recovery_codes(&signed.session.user, fields.get("proof"), audit)
        .await;
    settle_try(&ctx, key, &outcome);
    match outcome {
        Ok(Ok(codes)) => {
            account_page(
                &ctx,
                &signed,
                StatusCode::OK,
                Extra {
                    notice: Some("New recovery codes are made; the old ones no longer work."),
                    codes: &codes.shown_once,
                    ..Extra::default()
                },
            )
            .await
        }
        Ok(Err(why)) => refused(&ctx, &signed, &format!("{why}. Nothing was changed.")).await,
        Err(e) => unavailable(&ctx, &e),
    }
}
