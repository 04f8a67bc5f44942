//! Signing in with an e-mail and a password, and signing out. The guards are in the
//! console's module documentation ([`super`]).

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::Response;
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, StatusCode};
use pharos_engine::people::{verify_csrf, LiveSession, SignIn, SignInStep};

use super::{
    addresses, cookie, csrf, csrf_cookie, field, forbidden, form, html, pages, same_origin,
    see_other, session_cookie, set_cookie, unavailable, Ctx, HOME_PATH, MISMATCH, SIGN_IN_PATH,
};
use crate::limit::retry_after;

/// The sign-in form with a CSRF pair: the browser's existing `pharos_csrf` cookie when it has
/// a sound one (so two open tabs both work), else a new one.
pub(super) fn sign_in_page(
    ctx: &Ctx,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
) -> Response {
    let nonce = cookie(headers, csrf_cookie(ctx))
        .filter(|n| csrf::is_nonce(n))
        .map_or_else(csrf::nonce, str::to_owned);
    let token = csrf::token(&ctx.key, &nonce);
    let sso = ctx.sso.as_ref().map(|s| (s.label(), s.only()));
    let mut r = html(status, pages::sign_in(ctx, &token, error, email, sso));
    r.headers_mut().append(
        http::header::SET_COOKIE,
        set_cookie(ctx, csrf_cookie(ctx), &nonce, None),
    );
    r
}

pub(super) async fn sign_in_form(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    sign_in_page(&ctx, &headers, StatusCode::OK, None, "")
}

pub(super) async fn sign_in(State(ctx): State<Ctx>, req: Request) -> Response {
    let headers = req.headers().clone();
    if !same_origin(&ctx, &headers) {
        tracing::info!("a console sign-in from another origin was refused");
        return forbidden(&ctx);
    }
    let (address, counted) = addresses(&ctx, &req);
    let Some(fields) = form(req).await else {
        return forbidden(&ctx);
    };
    let nonce = cookie(&headers, csrf_cookie(&ctx)).unwrap_or_default();
    if !csrf::verify(&ctx.key, nonce, field(&fields, "csrf")) {
        tracing::info!("a console sign-in without a valid CSRF token was refused");
        return forbidden(&ctx);
    }
    let email = field(&fields, "email");
    // Counted by the e-mail as it is looked up, cut to an address's longest (RFC 5321), so a
    // stranger's made-up keys stay small.
    let account: String = email
        .trim()
        .to_lowercase()
        .chars()
        .take(pharos_engine::people::signin::AUDIT_EMAIL_MAX_CHARS)
        .collect();
    let now = Instant::now();
    // Taken before the password is verified, so attempts at once cannot all pass a check;
    // given back on success, so only failures are spent.
    if let Err(wait) = ctx.by_address.take(counted, now) {
        return too_many(&ctx, &headers, wait, email);
    }
    if let Err(wait) = ctx.by_account.take(account.clone(), now) {
        ctx.by_address.refund(counted, now);
        return too_many(&ctx, &headers, wait, email);
    }
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let request_id = crate::admin::auth::request_id(&headers);
    let attempt = SignIn {
        email,
        password: field(&fields, "password"),
        address: &address,
        user_agent: &user_agent,
        request_id: Some(&request_id),
        now: pharos_engine::clock::now(),
        owners_only: ctx.sso.as_ref().is_some_and(|sso| sso.only()),
    };
    match ctx.control.directory().sign_in(attempt).await {
        Ok(Ok(SignInStep::SecondFactor(pending))) => {
            // The password was right: what it spent comes back; wrong codes are counted.
            let now = Instant::now();
            ctx.by_address.refund(counted, now);
            ctx.by_account.refund(account, now);
            super::second_step::begin(&ctx, &pending)
        }
        Ok(Ok(SignInStep::Session(signed_in))) => {
            let now = Instant::now();
            ctx.by_address.refund(counted, now);
            ctx.by_account.refund(account, now);
            tracing::info!(user = %signed_in.user.id, "signed in to the console");
            let mut r = see_other(&ctx.at(HOME_PATH));
            let h = r.headers_mut();
            h.append(
                http::header::SET_COOKIE,
                set_cookie(&ctx, session_cookie(&ctx), &signed_in.cookie, None),
            );
            // The pre-session token has served.
            h.append(
                http::header::SET_COOKIE,
                set_cookie(&ctx, csrf_cookie(&ctx), "", Some(0)),
            );
            r
        }
        Ok(Err(refused)) => {
            tracing::info!(reason = %refused, "a console sign-in was refused");
            sign_in_page(
                &ctx,
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(MISMATCH),
                email,
            )
        }
        Err(error) => unavailable(&ctx, &error),
    }
}

/// 429 with `Retry-After`: the form again, saying how long to wait.
fn too_many(ctx: &Ctx, headers: &HeaderMap, wait: Duration, email: &str) -> Response {
    let secs = retry_after(wait);
    let message = format!("Too many failed sign-ins. Try again in {secs} seconds.");
    let mut r = sign_in_page(
        ctx,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        Some(&message),
        email,
    );
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The session the request's cookie names, `Ok(None)` when none is live.
pub(super) async fn current(
    ctx: &Ctx,
    headers: &HeaderMap,
) -> Result<Option<LiveSession>, Response> {
    let Some(value) = cookie(headers, session_cookie(ctx)) else {
        return Ok(None);
    };
    ctx.control
        .directory()
        .session(value, pharos_engine::clock::now())
        .await
        .map_err(|e| unavailable(ctx, &e))
}

pub(super) async fn sign_out(State(ctx): State<Ctx>, req: Request) -> Response {
    let headers = req.headers().clone();
    if !same_origin(&ctx, &headers) {
        return forbidden(&ctx);
    }
    let (address, _) = addresses(&ctx, &req);
    let session = match current(&ctx, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other(&ctx.at(SIGN_IN_PATH)),
        Err(r) => return r,
    };
    let Some(fields) = form(req).await else {
        return forbidden(&ctx);
    };
    if !verify_csrf(&ctx.key, &session.id_hash, field(&fields, "csrf")) {
        return forbidden(&ctx);
    }
    let now = pharos_engine::clock::now();
    let request_id = crate::admin::auth::request_id(&headers);
    if let Err(e) = ctx
        .control
        .directory()
        .sign_out(&session, &address, Some(&request_id), now)
        .await
    {
        return unavailable(&ctx, &e);
    }
    tracing::info!(user = %session.user.id, "signed out of the console");
    let mut r = see_other(&ctx.at(SIGN_IN_PATH));
    r.headers_mut().append(
        http::header::SET_COOKIE,
        set_cookie(&ctx, session_cookie(&ctx), "", Some(0)),
    );
    r
}
