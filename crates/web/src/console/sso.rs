//! Single sign-on to the console with OpenID Connect (`[sso]`): the authorization code flow
//! with PKCE (S256), a `state` and a `nonce`, through the `openidconnect` crate.
//!
//! - `GET /console/sso/start` makes the PKCE verifier, the state and the nonce, keeps them in
//!   a short-lived cookie (`pharos_sso`, [`FLOW_LIFETIME`], `HttpOnly`, `SameSite=Lax`,
//!   sealed with XChaCha20-Poly1305 under a key derived from the database's, so it can be
//!   neither read nor forged), and sends the browser to the provider.
//! - `GET /console/sso/callback` (the redirect URI, `<[server] public_url>/console/sso/callback`)
//!   takes the cookie away whatever happens (one use), checks the returned `state` against it
//!   (and the answer's `iss`, when the provider sends one, against the issuer: RFC 9207),
//!   exchanges the code with the verifier (client secret over HTTP Basic), and verifies the ID
//!   token: signature by a key of the provider's JWKS, `iss`, `aud` (and `azp`), expiry, and
//!   the nonce. The role claim ([`SsoSettings::role_claim`], a string or a list of strings) is
//!   mapped to a role ([`SsoSettings::role_for`]); the person is then found, linked or added
//!   and signed in by [`pharos_engine::people::Directory::sign_in_external`], with the same
//!   session cookie and expiries as a password sign-in.
//! - **Every refusal** (a wrong or missing state, the provider's error, a code it does not
//!   accept, an ID token for another issuer or audience, with another nonce, expired or badly
//!   signed, no role) shows the sign-in page with a sentence naming the problem (401, or 403
//!   when the person has no role), changes nothing, and leaves `signin.failed` with
//!   `{"method": "sso", "reason": …}` in the audit trail. Refusals count against the client
//!   address's sign-in failures, as the password form's do (then 429 with `Retry-After`).
//! - **The provider may be down when Pharos starts**: discovery is tried in the background
//!   with growing pauses, and again on the first sign-in that needs it; until it succeeds, the
//!   start page says the provider cannot be reached (503). The provider's metadata and keys
//!   are read again after [`REDISCOVER_AFTER`], so a rotated signing key is picked up.
//! - Requests to the provider go through the workspace's `reqwest` without redirects (a
//!   redirect could point anywhere), with a timeout and a cap on the answer's size.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdToken, IdTokenVerifier, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use pharos_domain::access::Role;
use pharos_domain::Secret;
use pharos_engine::people::{ct_eq, open, seal, ExternalFailure, ExternalSignIn};
use serde::{Deserialize, Serialize};

use super::{
    addresses, cookie, csrf_cookie, html, pages, session_cookie, set_cookie, Ctx, HOME_PATH,
};

/// Who a refusal before any identity was verified is recorded as.
const UNKNOWN: &str = "unknown";

/// Where the sign-in page's link starts a single sign-on (under the console's base).
pub const SSO_START_PATH: &str = "/sso/start";
/// The redirect URI's path under the console's base (itself under the public URL).
pub const SSO_CALLBACK_PATH: &str = "/sso/callback";
/// How long a started sign-in may take at the provider before the callback refuses it.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// The provider's metadata and keys are read again on the first sign-in after this long.
pub const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);
/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider (a discovery document, a JWKS, a token).
const MAX_PROVIDER_BYTES: usize = 1024 * 1024;
/// The longest pause between two discovery attempts in the background.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// `[sso]` as the configuration checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// The provider's issuer identifier (`https://…`, or `http://` on this machine only).
    pub issuer: String,
    /// The client id Pharos is registered under at the provider.
    pub client_id: String,
    /// The client secret (never logged: `Debug` prints `[redacted]`).
    pub client_secret: Secret,
    /// The redirect URI: `<[server] public_url>/console/sso/callback`.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (default `email` and `profile`).
    pub scopes: Vec<String>,
    /// The ID token claim whose values are mapped to roles (default `groups`).
    pub role_claim: String,
    /// Claim value → role, in file order.
    pub roles: Vec<(String, Role)>,
    /// The role of someone with no mapped value; `None` refuses them.
    pub default_role: Option<Role>,
    /// "SSO only": a password signs in owners alone (the break-glass owner).
    pub only: bool,
    /// The sign-in page's link text, after "Sign in with".
    pub button_label: String,
}

impl SsoSettings {
    /// The role for a person whose role claim holds `values`: the highest role any value maps
    /// to, else [`SsoSettings::default_role`].
    pub fn role_for(&self, values: &[String]) -> Option<Role> {
        let rank = |r: &Role| Role::ALL.iter().position(|x| x == r).unwrap_or(usize::MAX);
        self.roles
            .iter()
            .filter(|(value, _)| values.iter().any(|v| v == value))
            .map(|(_, role)| *role)
            .min_by_key(rank)
            .or(self.default_role)
    }
}

/// The claims Pharos reads besides the standard ones: all of them, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct OtherClaims(HashMap<String, serde_json::Value>);

impl AdditionalClaims for OtherClaims {}

/// An ID token whose other claims are kept (the role claim is one).
type SsoIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The client as discovery makes it: authorization URL set, token and userinfo URLs if the
/// provider has them.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider, once discovered.
struct Discovered {
    client: Client,
    at: Instant,
}

/// Single sign-on as the console's routes use it.
pub(super) struct Sso {
    settings: SsoSettings,
    http: Http,
    /// Seals the flow cookie.
    key: [u8; 32],
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

impl Sso {
    /// Single sign-on with `settings`, sealing its cookie with `key`. Discovery starts in the
    /// background (when a runtime is running) and is retried until it succeeds.
    pub(super) fn start(settings: SsoSettings, key: [u8; 32]) -> Arc<Sso> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_else(|error| {
                tracing::error!(%error, "building the single sign-on HTTP client failed; using the default one");
                reqwest::Client::new()
            });
        let sso = Arc::new(Sso {
            settings,
            http: Http(http),
            key,
            discovered: tokio::sync::Mutex::new(None),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&sso);
            runtime.spawn(async move {
                let mut pause = Duration::from_secs(1);
                loop {
                    let Some(sso) = weak.upgrade() else { return };
                    if sso.client().await.is_ok() {
                        return;
                    }
                    drop(sso);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            });
        }
        sso
    }

    /// `[sso] only`.
    pub(super) fn only(&self) -> bool {
        self.settings.only
    }

    /// `[sso] button_label`.
    pub(super) fn label(&self) -> &str {
        &self.settings.button_label
    }

    /// The discovered client, discovering (again) when there is none yet or it is older than
    /// [`REDISCOVER_AFTER`] (a failed rediscovery keeps the old one).
    async fn client(&self) -> Result<Arc<Discovered>, String> {
        let mut slot = self.discovered.lock().await;
        if let Some(d) = slot.as_ref() {
            if d.at.elapsed() < REDISCOVER_AFTER {
                return Ok(d.clone());
            }
        }
        match self.discover().await {
            Ok(client) => {
                let d = Arc::new(Discovered {
                    client,
                    at: Instant::now(),
                });
                *slot = Some(d.clone());
                tracing::info!(issuer = %self.settings.issuer, "single sign-on provider discovered");
                Ok(d)
            }
            Err(error) => {
                tracing::warn!(issuer = %self.settings.issuer, %error, "the single sign-on provider could not be discovered; will retry");
                slot.clone().ok_or(error)
            }
        }
    }

    async fn discover(&self) -> Result<Client, String> {
        let s = &self.settings;
        let issuer = IssuerUrl::new(s.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| describe(&e))?;
        let redirect = RedirectUrl::new(s.redirect_url.clone()).map_err(|e| e.to_string())?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(s.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }
}

/// An error and its sources, on one line (the crate's own messages are terse).
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------------------------
// The HTTP client the crate sends through

/// The workspace's `reqwest`, as `openidconnect`'s asynchronous HTTP client.
#[derive(Clone)]
struct Http(reqwest::Client);

/// A request to the provider that failed.
#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut answer = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(describe(&e)))?;
            let mut out = http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                out = out.header(name, value);
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = answer.chunk().await.map_err(|e| HttpError(describe(&e)))? {
                if bytes.len() + chunk.len() > MAX_PROVIDER_BYTES {
                    return Err(HttpError(format!(
                        "the provider's answer is larger than {MAX_PROVIDER_BYTES} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            out.body(bytes).map_err(|e| HttpError(e.to_string()))
        })
    }
}

// ---------------------------------------------------------------------------------------
// The flow cookie

/// What the flow cookie holds, sealed.
#[derive(Serialize, Deserialize)]
struct Flow {
    /// The state sent to the provider.
    s: String,
    /// The nonce sent to the provider.
    n: String,
    /// The PKCE verifier.
    v: String,
    /// When the flow started, unix seconds.
    t: i64,
}

/// The flow cookie's name.
fn flow_cookie(ctx: &Ctx) -> &'static str {
    if ctx.secure {
        "__Host-pharos_sso"
    } else {
        "pharos_sso"
    }
}

/// The flow the request's cookie holds, if it opens and is recent.
fn read_flow(ctx: &Ctx, sso: &Sso, headers: &HeaderMap) -> Option<Flow> {
    let sealed = cookie(headers, flow_cookie(ctx))?;
    let flow: Flow = serde_json::from_slice(&open(&sso.key, sealed).ok()?).ok()?;
    let age = pharos_engine::clock::now().timestamp() - flow.t;
    (0..=FLOW_LIFETIME.as_secs() as i64)
        .contains(&age)
        .then_some(flow)
}

// ---------------------------------------------------------------------------------------
// Routes

/// `GET /console/sso/start`: to the provider, with the flow in a sealed cookie.
pub(super) async fn start(State(ctx): State<Ctx>) -> Response {
    let Some(sso) = ctx.sso.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let discovered = match sso.client().await {
        Ok(d) => d,
        Err(_) => return provider_down(&ctx),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = discovered
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(sso.settings.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    let flow = Flow {
        s: state.secret().clone(),
        n: nonce.secret().clone(),
        v: verifier.secret().clone(),
        t: pharos_engine::clock::now().timestamp(),
    };
    let sealed = match serde_json::to_vec(&flow) {
        Ok(bytes) => seal(&sso.key, &bytes),
        Err(e) => return super::unavailable(&ctx, &e),
    };
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return super::unavailable(
            &ctx,
            &"the provider's authorization URL is not a valid header",
        );
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(LOCATION, location);
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            &ctx,
            flow_cookie(&ctx),
            &sealed,
            Some(FLOW_LIFETIME.as_secs() as i64),
        ),
    );
    r
}

/// Why a callback was refused: the audit trail's reason and the sentence shown.
struct Refusal {
    reason: &'static str,
    message: String,
    status: StatusCode,
}

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
            status: StatusCode::UNAUTHORIZED,
        }
    }
}

/// The query of the provider's redirect.
#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The issuer of the answer (RFC 9207), which providers that know it send.
    iss: Option<String>,
}

/// `GET /console/sso/callback`: the provider's answer (see the module's documentation).
pub(super) async fn callback(State(ctx): State<Ctx>, req: Request) -> Response {
    let Some(sso) = ctx.sso.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers = req.headers().clone();
    let (address, counted) = addresses(&ctx, &req);
    // Counted as the password form's failures are, per client address: each refusal costs an
    // audit entry, so nobody may write them at will. Given back on success.
    if let Err(wait) = ctx.by_address.take(counted, Instant::now()) {
        let secs = crate::limit::retry_after(wait);
        let message = format!("Too many failed sign-ins. Try again in {secs} seconds.");
        let mut r = super::signin::sign_in_page(
            &ctx,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&message),
            "",
        );
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        return clear_flow(&ctx, r);
    }
    let request_id = crate::admin::auth::request_id(&headers);
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let query: CallbackQuery = req
        .uri()
        .query()
        .map(|q| serde_json::from_value(query_json(q)).unwrap_or_default())
        .unwrap_or_default();
    let verified = match verify(&ctx, &sso, &headers, &query).await {
        Ok(v) => v,
        Err(Err(unavailable)) => return clear_flow(&ctx, *unavailable),
        Err(Ok(refusal)) => {
            return refuse(&ctx, &headers, &address, &request_id, UNKNOWN, refusal).await;
        }
    };
    let who = verified
        .email
        .as_deref()
        .unwrap_or(&verified.subject)
        .to_owned();
    let Some(role) = sso.settings.role_for(&verified.role_values) else {
        let mut refusal = Refusal::new(
            "no_role",
            format!(
                "You signed in at {}, but none of your `{}` values gives a role in Pharos. Ask \
                 an administrator to give you access.",
                sso.settings.button_label, sso.settings.role_claim
            ),
        );
        refusal.status = StatusCode::FORBIDDEN;
        return refuse(&ctx, &headers, &address, &request_id, &who, refusal).await;
    };
    let attempt = ExternalSignIn {
        issuer: &sso.settings.issuer,
        subject: &verified.subject,
        email: verified.email.as_deref(),
        email_verified: verified.email_verified,
        name: verified.name.as_deref(),
        role,
        address: &address,
        user_agent: &user_agent,
        request_id: Some(&request_id),
        now: pharos_engine::clock::now(),
    };
    match ctx.control.directory().sign_in_external(attempt).await {
        Ok(Ok(signed_in)) => {
            ctx.by_address.refund(counted, Instant::now());
            tracing::info!(user = %signed_in.user.id, "signed in to the console by single sign-on");
            let mut r = super::see_other(&ctx.at(HOME_PATH));
            let h = r.headers_mut();
            h.append(
                SET_COOKIE,
                set_cookie(&ctx, session_cookie(&ctx), &signed_in.cookie, None),
            );
            h.append(SET_COOKIE, set_cookie(&ctx, csrf_cookie(&ctx), "", Some(0)));
            clear_flow(&ctx, r)
        }
        Ok(Err(refused)) => {
            tracing::info!(
                reason = refused.as_str(),
                "a console single sign-on was refused"
            );
            // Already recorded by the directory.
            let page = super::signin::sign_in_page(
                &ctx,
                &headers,
                StatusCode::FORBIDDEN,
                Some(&format!("Single sign-on was refused: {refused}.")),
                "",
            );
            clear_flow(&ctx, page)
        }
        Err(error) => clear_flow(&ctx, super::unavailable(&ctx, &error)),
    }
}

/// What a verified ID token says about the person.
struct Verified {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    role_values: Vec<String>,
}

/// The callback's checks up to a verified ID token. `Err(Ok(_))` is a refusal; `Err(Err(_))`
/// the answer when Pharos or the provider could not complete it.
async fn verify(
    ctx: &Ctx,
    sso: &Sso,
    headers: &HeaderMap,
    query: &CallbackQuery,
) -> Result<Verified, Result<Refusal, Box<Response>>> {
    let Some(flow) = read_flow(ctx, sso, headers) else {
        return Err(Ok(Refusal::new(
            "state",
            "This single sign-on was not started from this browser, was already used, or took \
             too long. Start again.",
        )));
    };
    if !query.state.as_deref().is_some_and(|s| ct_eq(s, &flow.s)) {
        return Err(Ok(Refusal::new(
            "state",
            "The identity provider's answer does not belong to the sign-in started here (its \
             state does not match). Start again.",
        )));
    }
    // RFC 9207: an answer naming another issuer came through another provider (a mix-up).
    if query
        .iss
        .as_deref()
        .is_some_and(|iss| iss != sso.settings.issuer)
    {
        return Err(Ok(Refusal::new(
            "issuer",
            "The answer comes from another identity provider than the one configured (its \
             issuer does not match). Start again.",
        )));
    }
    if let Some(error) = &query.error {
        let detail = query
            .error_description
            .as_deref()
            .map(|d| format!(" ({})", d.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        let error: String = error.chars().take(64).collect();
        return Err(Ok(Refusal::new(
            "provider_error",
            format!("The identity provider did not sign you in: {error}{detail}."),
        )));
    }
    let Some(code) = query.code.clone().filter(|c| !c.is_empty()) else {
        return Err(Ok(Refusal::new(
            "code",
            "The identity provider's answer carries no authorization code. Start again.",
        )));
    };
    let discovered = sso
        .client()
        .await
        .map_err(|_| Err(Box::new(provider_down(ctx))))?;
    let client = &discovered.client;
    let request = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Err(Box::new(super::unavailable(ctx, &e))))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.v));
    let tokens = match request.request_async(&sso.http).await {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %describe(&e), "the identity provider refused a code exchange");
            return Err(Ok(Refusal::new(
                "exchange",
                "The identity provider did not accept this sign-in's code (it may have been \
                 used already, or have expired). Start again.",
            )));
        }
    };
    let Some(raw) = openidconnect::TokenResponse::id_token(&tokens).map(ToString::to_string) else {
        return Err(Ok(Refusal::new(
            "id_token",
            "The identity provider sent no ID token. Check that the `openid` scope is allowed \
             for this client.",
        )));
    };
    let verifier = client.id_token_verifier();
    let verified = verify_id_token(
        &raw,
        &verifier,
        &Nonce::new(flow.n),
        &sso.settings.role_claim,
    );
    verified.map_err(Ok)
}

/// Verifies an ID token (signature, issuer, audience, expiry, nonce) and reads what Pharos
/// needs from it.
fn verify_id_token(
    raw: &str,
    verifier: &IdTokenVerifier<'_, openidconnect::core::CoreJsonWebKey>,
    nonce: &Nonce,
    role_claim: &str,
) -> Result<Verified, Refusal> {
    let token: SsoIdToken = raw.parse().map_err(|_| {
        Refusal::new(
            "id_token",
            "The identity provider's ID token could not be read.",
        )
    })?;
    let claims = token.claims(verifier, nonce).map_err(|e| {
        tracing::info!(error = %describe(&e), "an ID token was refused");
        let (reason, what) = match &e {
            ClaimsVerificationError::InvalidIssuer(_) => {
                ("issuer", "it was issued by another provider (issuer)")
            }
            ClaimsVerificationError::InvalidAudience(_) => (
                "audience",
                "it was issued for another application (audience)",
            ),
            ClaimsVerificationError::InvalidNonce(_) => {
                ("nonce", "it belongs to another sign-in (nonce)")
            }
            ClaimsVerificationError::Expired(_) => ("expired", "it has expired"),
            ClaimsVerificationError::SignatureVerification(_) => (
                "signature",
                "its signature does not verify with the provider's keys",
            ),
            _ => ("id_token", "it does not pass the checks"),
        };
        Refusal::new(
            reason,
            format!("The identity provider's ID token was refused: {what}. Start again."),
        )
    })?;
    let role_values = match claims.additional_claims().0.get(role_claim) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()));
    Ok(Verified {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name,
        role_values,
    })
}

/// A query string as a JSON object of its first values (for serde).
fn query_json(query: &str) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        map.entry(k.into_owned())
            .or_insert(serde_json::Value::String(v.into_owned()));
    }
    serde_json::Value::Object(map)
}

/// Records the refusal and shows the sign-in page saying why.
async fn refuse(
    ctx: &Ctx,
    headers: &HeaderMap,
    address: &str,
    request_id: &str,
    who: &str,
    refusal: Refusal,
) -> Response {
    tracing::info!(
        reason = refusal.reason,
        "a console single sign-on was refused"
    );
    let recorded = ctx
        .control
        .directory()
        .record_external_failure(ExternalFailure {
            who,
            user_id: None,
            reason: refusal.reason,
            address,
            request_id: Some(request_id),
            now: pharos_engine::clock::now(),
        })
        .await;
    if let Err(e) = recorded {
        return clear_flow(ctx, super::unavailable(ctx, &e));
    }
    let page =
        super::signin::sign_in_page(ctx, headers, refusal.status, Some(&refusal.message), "");
    clear_flow(ctx, page)
}

/// `r` with the flow cookie removed: a flow serves once, whatever its outcome.
fn clear_flow(ctx: &Ctx, mut r: Response) -> Response {
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(ctx, flow_cookie(ctx), "", Some(0)));
    r
}

/// 503: the provider cannot be reached.
fn provider_down(ctx: &Ctx) -> Response {
    let mut r = html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message(
            ctx,
            "Single sign-on is unavailable",
            "Pharos cannot reach the identity provider just now. Try again in a moment.",
        ),
    );
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings() -> SsoSettings {
        SsoSettings {
            issuer: "https://id.example.com".into(),
            client_id: "pharos".into(),
            client_secret: Secret::new("s3cret"),
            redirect_url: "https://status.example.com/console/sso/callback".into(),
            scopes: vec!["email".into(), "profile".into()],
            role_claim: "groups".into(),
            roles: vec![
                ("oncall".into(), Role::Responder),
                ("pharos-admins".into(), Role::Admin),
            ],
            default_role: None,
            only: false,
            button_label: "Example ID".into(),
        }
    }

    #[test]
    fn the_highest_mapped_role_wins_and_none_refuses_without_a_default() {
        let s = settings();
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            s.role_for(&v(&["oncall", "pharos-admins"])),
            Some(Role::Admin)
        );
        assert_eq!(s.role_for(&v(&["oncall", "other"])), Some(Role::Responder));
        assert_eq!(s.role_for(&v(&["other"])), None);
        assert_eq!(s.role_for(&[]), None);
        let with_default = SsoSettings {
            default_role: Some(Role::Viewer),
            ..s
        };
        assert_eq!(with_default.role_for(&v(&["other"])), Some(Role::Viewer));
    }

    /// A key made for these tests only (1024 bits, to sign quickly unoptimized): it signs
    /// nothing anywhere else.
    const TEST_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIICXAIBAAKBgQD3Oks6gdFZaGZbjtlGqRuGwFWjLgLIRFnnz15WistmQqFa9QAS\ny78MEnzSsKEXkwh0VGlDM8qO8Fn8ssk4JH9CVXJORXSidUqJKsBq2YosXWLyVOwe\nvDbmxYtUiCp7u1+ZLZ3g8mLyeHOR83I+LPhCzkxi8K0Fc7V6vkSPiBY3TwIDAQAB\nAoGBALv/jC1Vgojmps+A9SCSf+gcYgLQfjUkJOnt+uL8cGe2y1SLch7Y6NKZTGo6\n/oUavhcYCWOdAq9nfkZ2/iS/PDUKfRmjrLDQUhR8mH/+E6oGniZiWdPJJ0FqiuTT\n8p5jFSM8CfJ8qhSKxgkTR1ls3Dskpa+LdDnOGugHl3hTVhaBAkEA/WCeSPcVgrqN\ndNWRD8dQGSlv0Tqn1eZTLYQvGmoaJptTmCmgXR2Kd+xO4VnxAGyGUcOc5n/DT/eK\nY3krifkOkQJBAPnJYWi43k9cMxz6Yazk0yG5g9Ou4pLA4BpmSKxnQVAeyq8M0wLO\nbj58by3fcXWqX1cyBYE6xabKIhEIK5Nbl98CQDPwLEIUtAoaJ4j9hkDPwHGH9u3S\nsji8f+xini0x9q5XRKl6Tu8HcSzn+btj7m0B0f7MtErjgavQuENvwScFMKECQBls\nA3vzBL0y9wjF+tbr2wkdpmsO64RgGO7W5iKVx7Ht0FcMiRVKCTJW28Hhcdy14Eox\njxnd72vQOrNdD4JJ2iUCQEsK97qN7mwtJgmgy7IRk8ET75XLDk33V3rRbUR/wJEJ\nopmEYknXN77QgDmVtm4MXazXIo4wek7aCnRD5plRWtM=\n-----END RSA PRIVATE KEY-----";
    const ISSUER: &str = "https://id.example.com";

    /// An ID token signed with [`TEST_KEY`] by `issuer` for `audience`, with `nonce`,
    /// expiring at `exp`, whose `groups` are `pharos-admins`.
    fn token(
        issuer: &str,
        audience: &str,
        nonce: &str,
        exp: chrono::DateTime<chrono::Utc>,
    ) -> String {
        use openidconnect::core::CoreRsaPrivateSigningKey;
        use openidconnect::{
            Audience, IdTokenClaims, JsonWebKeyId, StandardClaims, SubjectIdentifier,
        };
        let key =
            CoreRsaPrivateSigningKey::from_pem(TEST_KEY, Some(JsonWebKeyId::new("k1".into())))
                .unwrap();
        let mut other = HashMap::new();
        other.insert("groups".to_owned(), serde_json::json!(["pharos-admins"]));
        let claims = IdTokenClaims::new(
            IssuerUrl::new(issuer.into()).unwrap(),
            vec![Audience::new(audience.into())],
            exp,
            chrono::Utc::now(),
            StandardClaims::new(SubjectIdentifier::new("sub-1".into())),
            OtherClaims(other),
        )
        .set_nonce(Some(Nonce::new(nonce.into())));
        SsoIdToken::new(
            claims,
            &key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }

    /// What the callback checks `raw` with: the verifier a client for `pharos` at [`ISSUER`]
    /// makes, trusting [`TEST_KEY`]'s public half.
    fn check(raw: &str, nonce: &str) -> Result<Verified, Refusal> {
        use openidconnect::core::CoreRsaPrivateSigningKey;
        use openidconnect::{JsonWebKeyId, JsonWebKeySet, PrivateSigningKey};
        let key =
            CoreRsaPrivateSigningKey::from_pem(TEST_KEY, Some(JsonWebKeyId::new("k1".into())))
                .unwrap();
        let verifier = IdTokenVerifier::new_confidential_client(
            ClientId::new("pharos".into()),
            ClientSecret::new("s3cret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            JsonWebKeySet::new(vec![key.as_verification_key()]),
        );
        verify_id_token(raw, &verifier, &Nonce::new(nonce.into()), "groups")
    }

    fn reason(r: Result<Verified, Refusal>) -> &'static str {
        match r {
            Ok(_) => "accepted",
            Err(refusal) => refusal.reason,
        }
    }

    #[test]
    fn an_id_token_is_checked_for_issuer_audience_nonce_expiry_and_signature() {
        let later = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
        let good = check(&token(ISSUER, "pharos", "n1", later), "n1")
            .ok()
            .unwrap();
        assert_eq!(good.subject, "sub-1");
        assert_eq!(good.role_values, ["pharos-admins"]);

        // Issued for another application by the same provider.
        assert_eq!(
            reason(check(&token(ISSUER, "another-app", "n1", later), "n1")),
            "audience"
        );
        // Issued by another provider.
        assert_eq!(
            reason(check(
                &token("https://evil.example.com", "pharos", "n1", later),
                "n1"
            )),
            "issuer"
        );
        // Another sign-in's token.
        assert_eq!(
            reason(check(&token(ISSUER, "pharos", "n2", later), "n1")),
            "nonce"
        );
        // Expired.
        let past = chrono::Utc::now() - chrono::TimeDelta::minutes(5);
        assert_eq!(
            reason(check(&token(ISSUER, "pharos", "n1", past), "n1")),
            "expired"
        );
        // Altered after signing: the payload says another subject.
        let raw = token(ISSUER, "pharos", "n1", later);
        let mut parts: Vec<String> = raw.split('.').map(str::to_owned).collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
        payload["sub"] = serde_json::json!("someone-else");
        parts[1] = engine.encode(payload.to_string());
        assert_eq!(reason(check(&parts.join("."), "n1")), "signature");
        // Not a token at all.
        assert_eq!(reason(check("not.a.token", "n1")), "id_token");
    }

    #[test]
    fn the_secret_is_never_printed() {
        assert!(!format!("{:?}", settings()).contains("s3cret"));
    }
}
