//! Bearer tokens: every admin route but the OpenAPI document runs behind [`require_token`].
//! A token is either an `[admin] tokens` entry (compared with each configured one in constant
//! time; it acts as an owner) or an API token `pht_…` read from storage
//! ([`pharos_engine::people::Directory`]). The caller's grant must then allow the route's
//! permission ([`super::permissions`]): a missing, malformed or unknown token is a 401 before
//! the body is read, a known one without the permission a 403 that says what it lacks. The
//! handler gets the [`Caller`], recorded as the author of every change.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use pharos_domain::access::Permission;
use pharos_domain::Actor;
use pharos_engine::people::Principal;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AdminToken;

/// Who is calling: the name recorded as the author of their changes, what they may do, and
/// the request it came with.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The name recorded as the author.
    pub(crate) name: String,
    /// What the credential may do, and where it came from.
    pub(crate) principal: Principal,
    /// The request's id (`X-Request-Id`, sent back on the answer) and the client's address,
    /// for the audit trail.
    pub(crate) request_id: String,
    /// The client's address as counted by [`crate::limit::client_ip`].
    pub(crate) address: String,
}

impl Caller {
    /// The actor recorded for the caller's changes.
    pub(crate) fn actor(&self) -> Actor {
        Actor::Person(self.name.clone())
    }

    /// `control`, sending commands on this caller's behalf, so each change they make leaves
    /// an audit entry stored with it.
    pub(crate) fn on_behalf(
        &self,
        control: &pharos_engine::EngineControl,
    ) -> pharos_engine::EngineControl {
        control.on_behalf(self.audit_context())
    }

    /// An audit entry of `action` by this caller, now; its subject and contents are the
    /// writer's to fill in.
    pub(crate) fn audit_record(&self, action: &str) -> pharos_engine::people::AuditRecord {
        let who = self.audit_context();
        pharos_engine::people::AuditRecord {
            at: pharos_engine::clock::now(),
            actor_kind: who.actor_kind,
            actor_id: who.actor_id,
            actor_name: who.actor_name,
            action: action.to_owned(),
            subject: None,
            before: None,
            after: None,
            request_id: who.request_id,
            address: who.address,
        }
    }

    /// Who the audit trail says did what this caller does.
    pub(crate) fn audit_context(&self) -> pharos_engine::audit::AuditContext {
        let (actor_kind, actor_id) = match &self.principal.source {
            pharos_engine::people::Source::ConfigToken => {
                (pharos_engine::people::ActorKind::ConfigToken, None)
            }
            pharos_engine::people::Source::ApiToken { id, .. } => {
                (pharos_engine::people::ActorKind::Token, Some(id.clone()))
            }
            pharos_engine::people::Source::Session { user_id } => (
                pharos_engine::people::ActorKind::User,
                Some(user_id.clone()),
            ),
        };
        pharos_engine::audit::AuditContext {
            actor_kind,
            actor_id,
            actor_name: self.name.clone(),
            request_id: Some(self.request_id.clone()),
            address: Some(self.address.clone()),
        }
    }
}

/// The header a request's id travels in, both ways.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The request's id: the client's `X-Request-Id` when it is a sane token (1–64 characters of
/// letters, digits, `-`, `_`, `.`), so a proxy's id follows the request into the audit trail;
/// else a fresh one.
pub(crate) fn request_id(headers: &header::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .map_or_else(|| pharos_engine::random_string(16), str::to_owned)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))
    }
}

/// The accepted tokens.
pub(crate) type Tokens = Arc<[AdminToken]>;

/// What the token check needs: the configured tokens, and the engine API tokens are looked
/// up through (absent where there is none to ask: a follower's own cluster route).
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) tokens: Tokens,
    pub(crate) control: Option<pharos_engine::EngineControl>,
    /// Wrong tokens allowed per address (the same allowance as probes', counted apart).
    pub(crate) guesses: Arc<crate::limit::Limiter>,
}

impl AuthState {
    /// The check over `tokens`, looking API tokens up through `control` when given.
    pub(crate) fn new(tokens: Tokens, control: Option<pharos_engine::EngineControl>) -> Self {
        AuthState {
            tokens,
            control,
            guesses: Arc::new(crate::limit::Limiter::new(super::probes::WRONG_TOKENS)),
        }
    }
}

/// The principal behind `presented`: a configured token, else an API token from storage.
pub(crate) async fn principal(auth: &AuthState, presented: &str) -> Result<Principal, ApiError> {
    if let Some(name) = identify(&auth.tokens, presented) {
        return Ok(Principal::config_token(&name));
    }
    let refused = || ApiError::unauthorized("invalid bearer token");
    let Some(directory) = auth.control.as_ref().map(|c| c.directory()) else {
        return Err(refused());
    };
    if !presented.starts_with(pharos_engine::people::token::TOKEN_PREFIX) {
        return Err(refused());
    }
    match directory
        .api_token(presented, pharos_engine::clock::now())
        .await
    {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(why)) => {
            tracing::info!(reason = %why, "an API token was refused");
            Err(refused())
        }
        Err(error) => {
            tracing::warn!(%error, "reading an API token failed");
            Err(ApiError::unavailable(
                "the token could not be checked; try again",
            ))
        }
    }
}

/// A 403 for `principal` lacking `permission`, saying what it would take.
pub(crate) fn forbidden(principal: &Principal, permission: Permission) -> ApiError {
    ApiError::forbidden(format!(
        "{} ({}) may not do this: it needs \"{}\", which the role {} and above have",
        principal.name,
        principal.grant.as_str(),
        permission.label(),
        permission.least_role().as_str()
    ))
}

/// Middleware: lets the request through with its [`Caller`] when it carries a known bearer
/// token whose grant allows the route's permission; else 401 (with `WWW-Authenticate:
/// Bearer`) or 403.
pub(crate) async fn require_token(
    State(auth): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing Authorization header; send Authorization: Bearer <token>",
            )
        })?
        .to_str()
        .ok()
        .and_then(bearer)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "malformed Authorization header; send Authorization: Bearer <token>",
            )
        })?
        .to_owned();
    // Guessing tokens is slow: past its allowance of wrong ones, an address is turned away
    // before its token is looked at (or logged, or looked up in storage).
    let ip = crate::limit::counted(crate::limit::client_addr(
        auth.control.as_ref(),
        req.headers(),
        req.extensions(),
    ));
    let now = std::time::Instant::now();
    auth.guesses.check(ip, now).map_err(ApiError::too_many)?;
    let principal = principal(&auth, &presented).await.inspect_err(|e| {
        if e.is_unauthorized() {
            let _ = auth.guesses.take(ip, now);
        }
        tracing::info!(path = %req.uri().path(), "admin API request with an unknown token refused");
    })?;
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let Some(permission) = super::permissions::required(req.method(), &route) else {
        if super::permissions::is_listed(&route) {
            // A method the route does not have: its answer is the router's 405.
            return Ok(next.run(req).await);
        }
        // A route without a row is closed: the table's test keeps this from happening.
        tracing::error!(method = %req.method(), route, "an admin route has no permission rule; refused");
        return Err(ApiError::forbidden(
            "this route has no permission rule".to_owned(),
        ));
    };
    let request_id = request_id(req.headers());
    let address = crate::limit::client_addr(auth.control.as_ref(), req.headers(), req.extensions())
        .to_string();
    let caller = Caller {
        name: principal.name.clone(),
        principal,
        request_id: request_id.clone(),
        address,
    };
    if !caller.principal.may(permission) {
        // A known credential used beyond its grant is worth an entry in the trail (a
        // stranger's unknown token is not: it is limited and logged above instead).
        if let Some(control) = &auth.control {
            let mut entry = caller.audit_record("access.denied");
            entry.subject = Some(format!("{} {route}", req.method()));
            if let Err(error) = control.directory().record(&entry).await {
                tracing::warn!(%error, "a refused admin request could not be recorded in the audit trail");
            }
        }
        return Err(forbidden(&caller.principal, permission));
    }
    req.extensions_mut().insert(caller);
    let mut response = next.run(req).await;
    if let Ok(v) = header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(response)
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive).
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The name of the token equal to `presented`. Every configured token is compared, each in
/// constant time, so the answer's timing tells nothing about how much of a token matched (only,
/// as with any comparison of secrets of different lengths, whether the length did).
pub(crate) fn identify(tokens: &[AdminToken], presented: &str) -> Option<String> {
    let mut found = None;
    for t in tokens {
        let equal: bool = t
            .secret
            .expose()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into();
        if equal && found.is_none() {
            found = Some(t.name.clone());
        }
    }
    found
}

/// The challenge the responders' HTML pages answer a missing or wrong credential with.
pub(crate) const RESPONDER_CHALLENGE: &str = "Basic realm=\"Pharos responders\"";

/// The password of an `Authorization: Basic <base64(user:password)>` value (the scheme is
/// case-insensitive, the user name ignored); `None` when the value is not Basic, not valid
/// base64 or UTF-8, has no `:`, or the password is empty.
pub(crate) fn basic_password(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    // RFC 7617: the user name cannot hold a colon; the password may.
    let (_user, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// Middleware for the responders' HTML pages, which people open in a browser (and browsers
/// cannot send a bearer header): lets the request through with its [`Caller`] when it carries
/// a configured token, as HTTP Basic credentials (any user name, the token as the password)
/// or as `Authorization: Bearer <token>`; else answers 401 with
/// `WWW-Authenticate: Basic realm="Pharos responders"`, so the browser asks for them.
pub(crate) async fn require_responder(
    State(tokens): State<Tokens>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| basic_password(v).or_else(|| bearer(v).map(str::to_owned)));
    let caller = presented.as_deref().and_then(|p| identify(&tokens, p));
    let Some(name) = caller else {
        if presented.is_some() {
            tracing::info!(path = %req.uri().path(), "responder page request with an unknown token refused");
        }
        let mut r = Response::new(axum::body::Body::from(
            "This page is for responders: sign in with any user name and an admin token as the password.\n",
        ));
        *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        let h = r.headers_mut();
        h.insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(RESPONDER_CHALLENGE),
        );
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        return r;
    };
    let principal = Principal::config_token(&name);
    let request_id = request_id(req.headers());
    let address = crate::limit::client_addr(None, req.headers(), req.extensions()).to_string();
    req.extensions_mut().insert(Caller {
        name,
        principal,
        request_id,
        address,
    });
    next.run(req).await
}

#[cfg(test)]
mod responder_tests {
    use super::*;

    #[test]
    fn reads_the_password_of_basic_credentials() {
        // base64("anyone:tok:en") and friends.
        let table: &[(&str, Option<&str>)] = &[
            ("Basic YW55b25lOnRvazplbg==", Some("tok:en")),
            ("basic  YW55b25lOnRvazplbg== ", Some("tok:en")),
            // ":secret": no user name at all.
            ("Basic OnNlY3JldA==", Some("secret")),
            // "anyone:": empty password.
            ("Basic YW55b25lOg==", None),
            // "nocolon".
            ("Basic bm9jb2xvbg==", None),
            ("Basic !!!", None),
            ("Bearer YW55b25lOnRvazplbg==", None),
            ("Basic", None),
        ];
        for (value, want) in table {
            assert_eq!(basic_password(value).as_deref(), *want, "{value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bearer_scheme() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn identifies_the_token() {
        let tokens = [
            AdminToken {
                name: "alice".into(),
                secret: pharos_domain::Secret::new("alice-token-0123456789"),
            },
            AdminToken {
                name: "ci".into(),
                secret: pharos_domain::Secret::new("ci-token-0123456789"),
            },
        ];
        assert_eq!(
            identify(&tokens, "ci-token-0123456789").as_deref(),
            Some("ci")
        );
        assert_eq!(identify(&tokens, "ci-token-012345678"), None);
        assert_eq!(identify(&tokens, ""), None);
        assert_eq!(identify(&[], "anything"), None);
    }
}
