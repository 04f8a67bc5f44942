//! The responders' console (SPEC §9), under `/console` or `[console] path`: signing in (a
//! password, then a TOTP code when set up, or single sign-on), and the signed-in pages, one
//! module per group (see [`ROUTES`]). Server-rendered askama pages (`templates/console/`)
//! whose forms work without JavaScript; the one script follows an open incident live.
//!
//! How each request is guarded:
//! - **Forms are CSRF-protected.** Before a session, the sign-in form carries a signed
//!   double-submit token: a random value in the cookie `pharos_csrf` and, in a hidden field,
//!   its HMAC under a key derived from the database's signing key ([`csrf`]). Once signed in,
//!   the token is bound to the session ([`pharos_engine::people::csrf_token`]). A `POST`
//!   must also come from this origin (`Origin`, else `Referer`, equal to the public URL's
//!   origin or to this host); a `POST` with neither is refused. Refusals are 403 and change
//!   nothing.
//! - **Guessing is slow.** Sign-in failures are counted per client address
//!   ([`ADDRESS_LIMIT`]) and per e-mail as typed ([`ACCOUNT_LIMIT`]); once either is spent,
//!   sign-ins are answered 429 with `Retry-After` before any password is looked at, the
//!   right one included. A successful sign-in gives back what it took.
//! - **One answer for every refused sign-in**: 401 with "That e-mail and password do not
//!   match.", whether the e-mail is unknown, the password wrong, the user disabled or without a
//!   password; each leaves `signin.failed` in the audit trail.
//! - **Single sign-on** (`[sso]`, OpenID Connect): `GET /console/sso/start` and
//!   `GET /console/sso/callback`, open like sign-in; the checks are in [`sso`]'s documentation.
//!   Under `[sso] only` a password signs in owners alone (the break-glass owner); anyone
//!   else gets the one answer below.
//! - **The session cookie** (`pharos_session`) is `HttpOnly`, `SameSite=Lax`, `Path=/console`;
//!   when the public URL is https it is also `Secure` and named `__Host-pharos_session`, which
//!   the `__Host-` prefix requires to be `Path=/`. It holds 32 random bytes; the database keeps
//!   their SHA-256 ([`pharos_engine::people::signin`] for the expiries).
//! - **Every answer** is `Cache-Control: no-store` and `Referrer-Policy: same-origin`, and gets
//!   the headers of every HTML page from [`crate::security`] (the Content-Security-Policy, which
//!   allows these pages' one inline style by hash and nothing inline else; `X-Frame-Options:
//!   DENY` and `frame-ancestors 'none'`). `same-origin` rather than the public pages'
//!   `no-referrer`: under `no-referrer` a browser sends `Origin: null` with a form's `POST`,
//!   and the origin check could not tell this page's forms from anyone's.
//!
//! The routes need the engine, so on a cluster they are served by the leader; a follower
//! forwards them ([`crate::forward`]: every path its public routes do not serve, with the
//! `Cookie`, `Origin`, `Referer` and `Accept-Encoding` headers; event streams as they come).

mod account;
mod audit;
mod csrf;
mod guard;
mod incidents;
mod live;
mod maintenances;
mod monitor;
mod ops;
mod overview;
mod pages;
mod people;
mod postmortem;
mod second_step;
mod signin;
mod sso;
mod tokens;

pub(crate) use guard::{Fields, Signed};
pub use sso::{SsoSettings, SSO_CALLBACK_PATH, SSO_START_PATH};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, REFERRER_POLICY, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use pharos_domain::access::Permission;
use pharos_engine::EngineControl;

use crate::limit::{Limiter, RateLimit};

/// Where the console lives unless `[console] path` says otherwise.
pub const DEFAULT_BASE: &str = "/console";
/// The landing page, under the console's base.
pub const HOME_PATH: &str = "";
/// The sign-in form, under the console's base.
pub const SIGN_IN_PATH: &str = "/sign-in";
/// Where the sign-out form posts, under the console's base.
pub const SIGN_OUT_PATH: &str = "/sign-out";

/// Sign-in failures one client address may have: 10 at once, then one a minute.
pub const ADDRESS_LIMIT: RateLimit = RateLimit {
    burst: 10,
    refill_every: Duration::from_secs(60),
};
/// Sign-in failures one e-mail may have, whoever types it: 5 in 15 minutes (a bucket of 5
/// that earns one back every 3 minutes).
pub const ACCOUNT_LIMIT: RateLimit = RateLimit {
    burst: 5,
    refill_every: Duration::from_secs(180),
};
/// The largest form the console reads.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// The one message of every refused sign-in.
pub const MISMATCH: &str = "That e-mail and password do not match.";

/// What the console's routes share.
#[derive(Clone)]
struct Ctx {
    control: EngineControl,
    /// Signs the CSRF tokens (derived from the database's key).
    key: Arc<[u8; 32]>,
    /// Whether cookies are `Secure` (the public URL is https).
    secure: bool,
    /// The public URL's origin, `scheme://host[:port]`, lowercased.
    origin: String,
    by_address: Arc<Limiter<IpAddr>>,
    by_account: Arc<Limiter<String>>,
    /// `[sso]`, when configured.
    sso: Option<Arc<sso::Sso>>,
    /// Whether published postmortems may name responders (`[page] show_responders`).
    show_responders: bool,
    /// Where the console lives: [`DEFAULT_BASE`] or `[console] path`.
    base: Arc<str>,
}

/// How the console is set up beyond the engine: single sign-on, whether published
/// postmortems may name responders, and how many sign-in failures are allowed.
#[derive(Clone)]
pub struct ConsoleOptions {
    /// `[sso]`, when configured.
    pub sso: Option<SsoSettings>,
    /// `[page] show_responders`: published postmortems may name responders (as the admin
    /// API's [`crate::admin::AdminState::show_responders`]).
    pub show_responders: bool,
    /// Sign-in failures one client address may have.
    pub by_address: RateLimit,
    /// Sign-in failures one e-mail may have.
    pub by_account: RateLimit,
    /// Where the console lives (`[console] path`, [`DEFAULT_BASE`] by default): an absolute
    /// path without a trailing slash, checked where the configuration is read.
    pub path: String,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            sso: None,
            show_responders: false,
            by_address: ADDRESS_LIMIT,
            by_account: ACCOUNT_LIMIT,
            path: DEFAULT_BASE.to_owned(),
        }
    }
}

/// The console's routes. Merge with the public router (leader side).
pub fn router(control: EngineControl, options: ConsoleOptions) -> Router {
    let ConsoleOptions {
        sso,
        show_responders,
        by_address,
        by_account,
        path,
    } = options;
    let page_url = control.view().page.url.clone();
    let ctx = Ctx {
        key: Arc::new(control.link_tokens().derive_key(b"console csrf")),
        secure: page_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        origin: origin_of(&page_url).unwrap_or_default(),
        sso: sso.map(|s| sso::Sso::start(s, control.link_tokens().derive_key(b"console sso"))),
        control,
        by_address: Arc::new(Limiter::new(by_address)),
        by_account: Arc::new(Limiter::new(by_account)),
        show_responders,
        base: Arc::from(path.trim_end_matches('/')),
    };
    let at = |rel: &str| ctx.at(rel);
    let signed = Router::new()
        .route(&at(""), get(overview::page))
        .route(&at("/monitors/{id}"), get(monitor::page))
        .route(
            &at("/incidents"),
            get(incidents::list).post(incidents::create),
        )
        .route(&at("/incidents/new"), get(incidents::new))
        .route(&at("/incidents/{id}"), get(incidents::show))
        .route(&at("/incidents/{id}/updates"), post(incidents::post_update))
        .route(&at("/incidents/{id}/notes"), post(incidents::add_note))
        .route(&at("/incidents/{id}/edit"), post(incidents::edit))
        .route(
            &at("/incidents/{id}/acknowledge"),
            post(incidents::acknowledge),
        )
        .route(&at("/incidents/{id}/events"), get(live::events))
        .route(&at("/users"), get(people::page).post(people::add))
        .route(&at("/users/{id}"), post(people::change))
        .route(&at("/users/{id}/sign-out"), post(people::sign_out))
        .route(&at("/tokens"), get(tokens::page).post(tokens::create))
        .route(&at("/tokens/{id}/revoke"), post(tokens::revoke))
        .route(&at("/audit"), get(audit::page))
        .route(
            &at("/maintenances"),
            get(maintenances::list).post(maintenances::create),
        )
        .route(&at("/maintenances/new"), get(maintenances::new_form))
        .route(&at("/maintenances/{id}"), get(maintenances::detail))
        .route(&at("/maintenances/{id}/edit"), post(maintenances::edit))
        .route(
            &at("/maintenances/{id}/updates"),
            post(maintenances::post_update),
        )
        .route(
            &at("/incidents/{id}/postmortem"),
            get(postmortem::page).post(postmortem::save),
        )
        .route(
            &at("/incidents/{id}/postmortem/publish"),
            post(postmortem::publish),
        )
        .route(&at("/changes"), get(ops::changes))
        .route(&at("/subscribers"), get(ops::subscribers))
        .route(
            &at("/subscribers/{id}/remove"),
            post(ops::remove_subscriber),
        )
        .route(&at("/deliveries"), get(ops::deliveries))
        .route(&at("/deliveries/{id}/retry"), post(ops::retry_delivery))
        .route(&at("/reports"), get(ops::reports))
        .route(&at("/account"), get(account::page).post(account::update))
        .route(&at("/account/totp/start"), post(account::totp_start))
        .route(&at("/account/totp/confirm"), post(account::totp_confirm))
        .route(&at("/account/totp/disable"), post(account::totp_disable))
        .route(&at("/account/recovery"), post(account::recovery_regenerate))
        .route_layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            guard::require_session,
        ))
        .layer(DefaultBodyLimit::max(guard::MAX_SIGNED_FORM_BYTES));
    let open = Router::new()
        .route(
            &at(SIGN_IN_PATH),
            get(signin::sign_in_form).post(signin::sign_in),
        )
        .route(&at(SIGN_OUT_PATH), post(signin::sign_out))
        .route(&at(SSO_START_PATH), get(sso::start))
        .route(&at(SSO_CALLBACK_PATH), get(sso::callback))
        .route(
            &at(second_step::SIGN_IN_CODE_PATH),
            get(second_step::code_form).post(second_step::code_submit),
        )
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES));
    Router::new()
        .merge(signed)
        .merge(open)
        .layer(axum::middleware::from_fn(compress))
        .layer(axum::middleware::map_response(private))
        .with_state(ctx)
}

/// Smallest page worth compressing.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Gzips an HTML page for a client that takes gzip. Console pages are made per person and per
/// request, so they are compressed per request, at a fast level: the overview of a thousand
/// monitors is ~10× smaller for a few milliseconds.
async fn compress(req: Request, next: axum::middleware::Next) -> Response {
    use std::io::Write as _;
    let wants_gzip = crate::routes::Accepts::of(req.headers()).gzip > 0.0;
    let response = next.run(req).await;
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !wants_gzip || !is_html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Console pages are rendered strings, whole in memory already.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts.headers.append(
        http::header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    if bytes.len() < COMPRESS_FROM_BYTES {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6),
        flate2::Compression::new(6),
    );
    match encoder.write_all(&bytes).and_then(|()| encoder.finish()) {
        Ok(gz) => {
            parts.headers.insert(
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(gz))
        }
        // Writing into a Vec cannot fail; serve the page as it is if it ever does.
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// Every signed-in console route: method, path as registered, and the permission it needs
/// (SPEC §9). Pages are [`Permission::Read`]; each form's `POST` needs what the same change
/// needs through the admin API. Sign-in and sign-out are open (they check what they need).
/// Paths are under the console's base (`""` is the overview).
pub const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "", Permission::Read),
    ("GET", "/monitors/{id}", Permission::Read),
    ("GET", "/incidents", Permission::Read),
    ("POST", "/incidents", Permission::Communicate),
    ("GET", "/incidents/new", Permission::Communicate),
    ("GET", "/incidents/{id}", Permission::Read),
    ("POST", "/incidents/{id}/updates", Permission::Communicate),
    ("POST", "/incidents/{id}/notes", Permission::Communicate),
    ("POST", "/incidents/{id}/edit", Permission::Communicate),
    ("POST", "/incidents/{id}/acknowledge", Permission::Respond),
    ("GET", "/incidents/{id}/events", Permission::Read),
    // People, tokens and the audit log: as `/api/v1/users`, `/api/v1/tokens` and
    // `/api/v1/audit` (the token handlers narrow to one's own tokens without `administer`).
    ("GET", "/users", Permission::Read),
    ("POST", "/users", Permission::Administer),
    ("POST", "/users/{id}", Permission::Administer),
    ("POST", "/users/{id}/sign-out", Permission::Administer),
    ("GET", "/tokens", Permission::Read),
    ("POST", "/tokens", Permission::Read),
    ("POST", "/tokens/{id}/revoke", Permission::Read),
    ("GET", "/audit", Permission::Administer),
    // Maintenances, postmortems and the operations pages.
    ("GET", "/maintenances", Permission::Read),
    ("POST", "/maintenances", Permission::Communicate),
    // A form only: it shows nothing a viewer could not read, but it is for those who may
    // schedule.
    ("GET", "/maintenances/new", Permission::Communicate),
    ("GET", "/maintenances/{id}", Permission::Read),
    ("POST", "/maintenances/{id}/edit", Permission::Communicate),
    (
        "POST",
        "/maintenances/{id}/updates",
        Permission::Communicate,
    ),
    ("GET", "/incidents/{id}/postmortem", Permission::Read),
    (
        "POST",
        "/incidents/{id}/postmortem",
        Permission::Communicate,
    ),
    (
        "POST",
        "/incidents/{id}/postmortem/publish",
        Permission::Communicate,
    ),
    ("GET", "/changes", Permission::Read),
    ("GET", "/subscribers", Permission::Read),
    ("POST", "/subscribers/{id}/remove", Permission::Operate),
    ("GET", "/deliveries", Permission::Read),
    ("POST", "/deliveries/{id}/retry", Permission::Operate),
    ("GET", "/reports", Permission::Read),
    // One's own account: every signed-in person, on themselves only.
    ("GET", "/account", Permission::Read),
    ("POST", "/account", Permission::Read),
    ("POST", "/account/totp/start", Permission::Read),
    ("POST", "/account/totp/confirm", Permission::Read),
    ("POST", "/account/totp/disable", Permission::Read),
    ("POST", "/account/recovery", Permission::Read),
];

impl Ctx {
    /// The path of console page `rel` (a path under the console's base, `""` for the
    /// overview).
    pub(crate) fn at(&self, rel: &str) -> String {
        format!("{}{rel}", self.base)
    }
}

/// The time zone `signed` reads times in (their own; UTC if theirs is unknown).
pub(crate) fn time_zone(signed: &Signed) -> chrono_tz::Tz {
    signed
        .session
        .user
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::UTC)
}

/// `t` as a person in `tz` reads it: `2026-12-07 19:53 CET`.
pub(crate) fn local_time(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// How long before `now` `then` was, roughly: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub(crate) fn ago(
    now: chrono::DateTime<chrono::Utc>,
    then: chrono::DateTime<chrono::Utc>,
) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The permission `method` on console route `path` (under the base) needs, or `None` for a
/// route not listed.
fn required(method: &Method, path: &str) -> Option<Permission> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, permission)| *permission)
}

/// Adds what every console answer carries.
async fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

// ---------------------------------------------------------------------------------------
// Cookies

/// The session cookie's name.
fn session_cookie(ctx: &Ctx) -> &'static str {
    if ctx.secure {
        "__Host-pharos_session"
    } else {
        "pharos_session"
    }
}

/// The pre-session CSRF cookie's name.
fn csrf_cookie(ctx: &Ctx) -> &'static str {
    if ctx.secure {
        "__Host-pharos_csrf"
    } else {
        "pharos_csrf"
    }
}

/// A `Set-Cookie` value for `name=value` with the console's attributes; `max_age` 0 clears it.
fn set_cookie(ctx: &Ctx, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    // `__Host-` cookies must be `Path=/` (RFC 6265bis §4.1.3.2).
    let path = if ctx.secure { "/" } else { &*ctx.base };
    let mut s = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if ctx.secure {
        s.push_str("; Secure");
    }
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    // Names are fixed and values base64url: always a valid header value.
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("pharos_invalid=; Max-Age=0"))
}

/// The value of cookie `name` in the request, if sent once or more (the first).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

// ---------------------------------------------------------------------------------------
// Origin

/// `scheme://host[:port]` of an absolute URL, lowercased, or `None`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a `POST` comes from this origin: its `Origin` (else its `Referer`'s origin) is the
/// public URL's, or this host's as the request names it. Neither header, or `Origin: null`,
/// is refused.
fn same_origin(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let claimed = match header(http::header::ORIGIN) {
        Some(o) => origin_of(o),
        None => header(http::header::REFERER).and_then(origin_of),
    };
    let Some(claimed) = claimed else {
        return false;
    };
    if !ctx.origin.is_empty() && claimed == ctx.origin {
        return true;
    }
    let scheme = if ctx.secure { "https" } else { "http" };
    header(http::header::HOST)
        .is_some_and(|host| claimed == format!("{scheme}://{host}").to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// Answers

/// `303 See Other` to `to` (a path this module built).
fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// An HTML answer with `status`.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::snapshot::HTML),
    );
    r
}

/// Pharos could not complete the request: logged, and a page asking to try again.
fn unavailable(ctx: &Ctx, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(%error, "a console request could not be completed");
    let mut r = html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message(
            ctx,
            "Please try again",
            "Pharos could not complete this just now. Try again in a moment.",
        ),
    );
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// A refused form: 403, nothing changed.
fn forbidden(ctx: &Ctx) -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            ctx,
            "This form has expired",
            "The form was not sent from this page, or it is too old. Nothing was changed: \
             open the page again and resend it.",
        ),
    )
}

/// The client's address as stored, and as counted.
fn addresses(ctx: &Ctx, req: &Request) -> (String, IpAddr) {
    let addr = crate::limit::client_addr(Some(&ctx.control), req.headers(), req.extensions());
    (addr.to_string(), crate::limit::counted(addr))
}

/// The `application/x-www-form-urlencoded` fields of a request body, or `None`.
async fn form(req: Request) -> Option<Vec<(String, String)>> {
    if !crate::subscribe::is_form(&req) {
        return None;
    }
    let bytes = Bytes::from_request(req, &()).await.ok()?;
    Some(
        form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// Field `name` of a form, or an empty string.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("https://Status.Example.com/x?y#z").as_deref(),
            Some("https://status.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of(""), None);
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("xpharos_session=a; pharos_session=b; other=c"),
        );
        assert_eq!(cookie(&h, "pharos_session"), Some("b"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
