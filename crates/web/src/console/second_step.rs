//! The sign-in's second step (`GET`/`POST /console/sign-in/code`): a person with two-step
//! sign-in on who gave the right password holds no session yet, only the cookie
//! `pharos_pending` (`__Host-pharos_pending` over https) naming a pending sign-in that lasts
//! five minutes ([`pharos_engine::people::PENDING_SIGNIN_LIFETIME`]) and is good once. This
//! page asks for the app's six-digit code or a recovery code.
//!
//! Guarded as the password form is: same origin, the pre-session CSRF token of the
//! `pharos_csrf` cookie ([`super::csrf`]), and wrong codes counted per client address and per
//! account (the same buckets as wrong passwords, keyed by the person's e-mail), answered 429
//! once spent. Every wrong code leaves `signin.failed` (reason `totp`); success leaves
//! `signin` with `second_factor`, and the pending cookie is cleared.

use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{RETRY_AFTER, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use pharos_engine::people::{PendingSignIn, SecondRefused, SecondStep, PENDING_SIGNIN_LIFETIME};

use super::{
    addresses, cookie, csrf, csrf_cookie, field, forbidden, form, html, same_origin, see_other,
    session_cookie, set_cookie, unavailable, Ctx, HOME_PATH, SIGN_IN_PATH,
};
use crate::brand::BrandView;
use crate::limit::retry_after;

/// Where the second step's form lives (under the console's base).
pub const SIGN_IN_CODE_PATH: &str = "/sign-in/code";
/// What a wrong code is told (the same whatever was wrong about it).
pub const WRONG_CODE: &str = "That code is not right, or it was used already. Type the code \
     your app shows now, or one of your recovery codes.";

/// The pending sign-in cookie's name.
fn pending_cookie(ctx: &Ctx) -> &'static str {
    if ctx.secure {
        "__Host-pharos_pending"
    } else {
        "pharos_pending"
    }
}

/// The code form.
#[derive(Template)]
#[template(path = "console/sign_in_code.html")]
struct CodePage<'a> {
    base: &'a str,
    nav: Option<&'a super::pages::Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    error: Option<&'a str>,
}

/// The person's key in the per-account limiter: their e-mail as the password form counts it
/// (one budget of guesses per account, passwords and codes alike), else their id.
pub(super) fn account_key(user: &pharos_engine::people::UserRecord) -> String {
    user.email
        .as_deref()
        .unwrap_or(&user.id)
        .to_lowercase()
        .chars()
        .take(pharos_engine::people::signin::AUDIT_EMAIL_MAX_CHARS)
        .collect()
}

/// After a right password: the pending cookie, and on to the code form.
pub(super) fn begin(ctx: &Ctx, pending: &PendingSignIn) -> Response {
    tracing::info!(user = %pending.user.id, "password accepted; waiting for the second factor");
    let mut r = see_other(&ctx.at(SIGN_IN_CODE_PATH));
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            ctx,
            pending_cookie(ctx),
            &pending.cookie,
            Some(PENDING_SIGNIN_LIFETIME.num_seconds()),
        ),
    );
    r
}

/// The code form with a CSRF pair (the browser's `pharos_csrf` cookie when sound, else new).
fn code_page(ctx: &Ctx, headers: &HeaderMap, status: StatusCode, error: Option<&str>) -> Response {
    let nonce = cookie(headers, csrf_cookie(ctx))
        .filter(|n| csrf::is_nonce(n))
        .map_or_else(csrf::nonce, str::to_owned);
    let token = csrf::token(&ctx.key, &nonce);
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    let body = super::pages::render(
        &CodePage {
            base: &ctx.base,
            nav: None,
            page_name: &view.page.name,
            brand: &brand,
            csrf: &token,
            error,
        },
        error.unwrap_or("Enter your code"),
    );
    let mut r = html(status, body);
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(ctx, csrf_cookie(ctx), &nonce, None));
    r
}

/// Back to the password form, the pending cookie cleared.
fn restart(ctx: &Ctx) -> Response {
    let mut r = see_other(&ctx.at(SIGN_IN_PATH));
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(ctx, pending_cookie(ctx), "", Some(0)),
    );
    r
}

/// `GET /console/sign-in/code`: the form, while a sign-in waits; else the password form.
pub(super) async fn code_form(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let Some(value) = cookie(&headers, pending_cookie(&ctx)) else {
        return see_other(&ctx.at(SIGN_IN_PATH));
    };
    match ctx
        .control
        .directory()
        .pending_signin(value, pharos_engine::clock::now())
        .await
    {
        Ok(Some(_)) => code_page(&ctx, &headers, StatusCode::OK, None),
        Ok(None) => restart(&ctx),
        Err(e) => unavailable(&ctx, &e),
    }
}

/// `POST /console/sign-in/code`: checks the code and, when right, signs in.
pub(super) async fn code_submit(State(ctx): State<Ctx>, req: Request) -> Response {
    let headers = req.headers().clone();
    if !same_origin(&ctx, &headers) {
        tracing::info!("a console sign-in code from another origin was refused");
        return forbidden(&ctx);
    }
    let (address, counted) = addresses(&ctx, &req);
    let Some(fields) = form(req).await else {
        return forbidden(&ctx);
    };
    let nonce = cookie(&headers, csrf_cookie(&ctx)).unwrap_or_default();
    if !csrf::verify(&ctx.key, nonce, field(&fields, "csrf")) {
        tracing::info!("a console sign-in code without a valid CSRF token was refused");
        return forbidden(&ctx);
    }
    let Some(pending) = cookie(&headers, pending_cookie(&ctx)).map(str::to_owned) else {
        return see_other(&ctx.at(SIGN_IN_PATH));
    };
    let directory = ctx.control.directory();
    let user = match directory
        .pending_signin(&pending, pharos_engine::clock::now())
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => return restart(&ctx),
        Err(e) => return unavailable(&ctx, &e),
    };
    let account = account_key(&user);
    let now = Instant::now();
    if let Err(wait) = ctx.by_address.take(counted, now) {
        return too_many(&ctx, &headers, wait);
    }
    if let Err(wait) = ctx.by_account.take(account.clone(), now) {
        ctx.by_address.refund(counted, now);
        return too_many(&ctx, &headers, wait);
    }
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let request_id = crate::admin::auth::request_id(&headers);
    let attempt = SecondStep {
        cookie: &pending,
        code: field(&fields, "code"),
        address: &address,
        user_agent: &user_agent,
        request_id: Some(&request_id),
        now: pharos_engine::clock::now(),
    };
    let outcome = directory.second_step(attempt).await;
    let give_back = || {
        let now = Instant::now();
        ctx.by_address.refund(counted, now);
        ctx.by_account.refund(account.clone(), now);
    };
    match outcome {
        Ok(Ok(signed_in)) => {
            give_back();
            tracing::info!(user = %signed_in.user.id, "signed in to the console with a second factor");
            let mut r = see_other(&ctx.at(HOME_PATH));
            let h = r.headers_mut();
            h.append(
                SET_COOKIE,
                set_cookie(&ctx, session_cookie(&ctx), &signed_in.cookie, None),
            );
            h.append(
                SET_COOKIE,
                set_cookie(&ctx, pending_cookie(&ctx), "", Some(0)),
            );
            h.append(SET_COOKIE, set_cookie(&ctx, csrf_cookie(&ctx), "", Some(0)));
            r
        }
        Ok(Err(SecondRefused::Wrong)) => {
            tracing::info!(user = %user.id, "a console sign-in code was refused");
            code_page(&ctx, &headers, StatusCode::UNAUTHORIZED, Some(WRONG_CODE))
        }
        Ok(Err(SecondRefused::Expired)) => {
            give_back();
            restart(&ctx)
        }
        Ok(Err(SecondRefused::Unavailable)) => {
            // Not the person's fault (logged as an error by the directory): nothing spent.
            give_back();
            code_page(
                &ctx,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(
                    "Pharos cannot check app codes just now: its sealing key is missing or was \
                     changed. Use one of your recovery codes, or ask an administrator.",
                ),
            )
        }
        Err(e) => unavailable(&ctx, &e),
    }
}

/// 429 with `Retry-After`: the form again, saying how long to wait.
fn too_many(ctx: &Ctx, headers: &HeaderMap, wait: Duration) -> Response {
    let secs = retry_after(wait);
    let message = format!("Too many wrong codes. Try again in {secs} seconds.");
    let mut r = code_page(ctx, headers, StatusCode::TOO_MANY_REQUESTS, Some(&message));
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}
