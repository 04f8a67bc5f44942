//! The gate in front of every signed-in console page and form ([`require_session`]): a live
//! session, the console's permission table ([`super::ROUTES`]) and, for a `POST`, the origin
//! check and the session's CSRF token. What it lets through carries [`Signed`] (who, and the
//! token the page's forms carry) and, for a `POST`, the form's [`Fields`].
//!
//! A `GET` without a session is sent to the sign-in form; a `POST` without one is refused
//! (its form is too old). A form without its token, or from another origin, and an action
//! the person's role does not allow, are refused with 403 and a page saying why, change
//! nothing, and leave `csrf.refused` or `access.denied` in the audit trail.

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use pharos_domain::access::Permission;
use pharos_engine::people::{csrf_token, verify_csrf, LiveSession, Principal};

use super::{addresses, forbidden, html, pages, see_other, signin, Ctx, SIGN_IN_PATH};
use crate::admin::auth::Caller;

/// The largest form a signed-in page sends (a postmortem is the longest).
pub(super) const MAX_SIGNED_FORM_BYTES: usize = 512 * 1024;

/// Who is signed in, as the console's handlers see them.
#[derive(Clone)]
pub(crate) struct Signed {
    /// The live session and its user.
    pub(crate) session: LiveSession,
    /// The person as the admin API's handlers and the audit trail see a caller.
    pub(crate) caller: Caller,
    /// The CSRF token this session's forms carry.
    pub(crate) csrf: String,
}

impl Signed {
    /// Whether the person's role allows `permission` (to show only the actions they may take).
    pub(crate) fn may(&self, permission: Permission) -> bool {
        self.caller.principal.may(permission)
    }
}

/// The fields of a `POST`'s form, checked for its CSRF token.
#[derive(Clone)]
pub(crate) struct Fields(pub(crate) Vec<(String, String)>);

impl Fields {
    /// Field `name`, or an empty string.
    pub(crate) fn get(&self, name: &str) -> &str {
        super::field(&self.0, name)
    }

    /// Every value of field `name` (checkboxes, repeated selects).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Middleware on the signed-in routes (see the module's documentation).
pub(super) async fn require_session(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let rel = route.strip_prefix(&*ctx.base).unwrap_or(&route);
    let Some(permission) = super::required(req.method(), rel) else {
        // A route without a row is closed: the table's test keeps this from happening.
        tracing::error!(method = %req.method(), route, "a console route has no permission rule; refused");
        return forbidden(&ctx);
    };
    let session = match signin::current(&ctx, req.headers()).await {
        Ok(Some(s)) => s,
        Ok(None) if req.method() == Method::GET => return see_other(&ctx.at(SIGN_IN_PATH)),
        Ok(None) => return forbidden(&ctx),
        Err(r) => return r,
    };
    let (address, _) = addresses(&ctx, &req);
    let caller = Caller {
        name: session.user.name.clone(),
        principal: Principal::session(&session.user),
        request_id: crate::admin::auth::request_id(req.headers()),
        address,
    };
    let csrf = csrf_token(&ctx.key, &session.id_hash);
    let signed = Signed {
        session,
        caller,
        csrf,
    };
    let mut req = req;
    if req.method() == Method::POST {
        req = match checked_form(&ctx, &signed, &route, req).await {
            Ok(req) => req,
            Err(r) => return r,
        };
    }
    if !signed.may(permission) {
        let who = &signed.caller.principal;
        let text = format!(
            "{} ({}) may not do this: it needs \"{}\", which the role {} and above have. \
             Nothing was changed.",
            who.name,
            who.grant.as_str(),
            permission.label(),
            permission.least_role().as_str()
        );
        note(&ctx, &signed, "access.denied", &route).await;
        return html(
            StatusCode::FORBIDDEN,
            pages::message(&ctx, "Not allowed", &text),
        );
    }
    req.extensions_mut().insert(signed);
    next.run(req).await
}

/// The `POST` with its form read into [`Fields`], or the refusal: from another origin, not a
/// form, too large, or without this session's CSRF token.
async fn checked_form(
    ctx: &Ctx,
    signed: &Signed,
    route: &str,
    req: Request,
) -> Result<Request, Response> {
    if !super::same_origin(ctx, req.headers()) {
        tracing::info!(route, "a console form from another origin was refused");
        note(ctx, signed, "csrf.refused", route).await;
        return Err(forbidden(ctx));
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(forbidden(ctx));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_SIGNED_FORM_BYTES).await else {
        return Err(html(
            StatusCode::PAYLOAD_TOO_LARGE,
            pages::message(
                ctx,
                "Too long",
                "The form is longer than Pharos accepts (512 KB). Nothing was changed.",
            ),
        ));
    };
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !verify_csrf(
        &ctx.key,
        &signed.session.id_hash,
        super::field(&fields, "csrf"),
    ) {
        tracing::info!(route, "a console form without its CSRF token was refused");
        note(ctx, signed, "csrf.refused", route).await;
        return Err(forbidden(ctx));
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Fields(fields));
    Ok(req)
}

/// Records a refusal of what `signed` tried at `route` (best effort: it is logged if it
/// cannot be stored, and the refusal stands either way).
async fn note(ctx: &Ctx, signed: &Signed, action: &str, route: &str) {
    let mut entry = signed.caller.audit_record(action);
    entry.subject = Some(route.to_owned());
    if let Err(error) = ctx.control.directory().record(&entry).await {
        tracing::warn!(%error, action, "a console refusal could not be recorded in the audit trail");
    }
}
