//! The console's first part, through the real app with a real browser-like client (reqwest
//! with a cookie store, redirects not followed so every 303 is seen): signing in with a
//! password, the landing page, signing out, and what guards them (CSRF, the origin check, one
//! answer for every refused sign-in, the per-account limit, the session's expiry, the
//! cookie's attributes and the pages' headers). On every backend.

use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use pharos_server::people::{add_user, NewUser};
use pharos_store::{ActorKind, AuditRecord, Store, UserKind, UserPatch};
use pharos_testkit::{backends, eventually, spawn_app_on, Backend, TestApp};

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{browser, get, read, sign_in, submit, submit_from, Page};
use crate::support::http::post;

const ADMIN: &str = "admin-token-0123456789";
const EMAIL: &str = "ada@acme.test";
const PASSWORD: &str = "correct horse battery staple";
const MISMATCH: &str = "That e-mail and password do not match.";
const WAIT: Duration = Duration::from_secs(10);

/// An app with one component, the owner Ada (who signs in with [`PASSWORD`]) and an open
/// incident whose name needs escaping.
async fn app(backend: Backend) -> TestApp {
    app_at(backend, None).await
}

/// [`app`], published at `public_url` when given.
async fn app_at(backend: Backend, public_url: Option<&str>) -> TestApp {
    let mut config = Config::acme()
        .admin("ops", ADMIN)
        .component("api", "Public API");
    if let Some(url) = public_url {
        config = config.section(&format!("[server]\npublic_url = \"{url}\""));
    }
    let app = spawn_app_on(backend, &config.build()).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    add_user(
        &store,
        NewUser {
            kind: UserKind::Person,
            email: Some("Ada@Acme.test".into()),
            name: Some("Ada Lovelace".into()),
            role: "owner".into(),
            time_zone: None,
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .unwrap();
    let incident = serde_json::json!({"name": "Payments <degraded>", "body": "Looking into it."});
    let created = post(&app, "/api/v1/incidents", Some(ADMIN), &incident).await;
    assert_eq!(created.status, 201, "{created:?}");
    app
}

/// An entry for what the test sets up behind the app's back.
fn setup(action: &str) -> AuditRecord {
    AuditRecord {
        at: chrono::Utc::now(),
        actor_kind: ActorKind::Automation,
        actor_id: None,
        actor_name: "test".into(),
        action: action.into(),
        subject: None,
        before: None,
        after: None,
        request_id: None,
        address: None,
    }
}

async fn sessions(app: &TestApp) -> i64 {
    app.db.query_i64("SELECT COUNT(*) FROM sessions").await
}

/// Whether `page` is a 303 to the sign-in form.
fn to_sign_in(page: &Page) -> bool {
    page.status == 303 && page.header("location") == "/console/sign-in"
}

/// The headers every console page carries.
fn assert_private(page: &Page) {
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "same-origin");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    if page.header("content-type").starts_with("text/html") {
        assert_eq!(page.header("x-frame-options"), "DENY");
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!page.text.contains("<script"), "no script on console pages");
        assert!(!page.text.contains(" style="), "no inline style attributes");
        // Every inline <style> is one the policy names by hash.
        let mut rest = page.text.as_str();
        let mut styles = 0;
        while let Some(start) = rest.find("<style>") {
            let body = &rest[start + "<style>".len()..];
            let end = body.find("</style>").unwrap();
            let digest = sha2::Sha256::digest(&body.as_bytes()[..end]);
            let hash = base64::engine::general_purpose::STANDARD.encode(digest);
            assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
            styles += 1;
            rest = &body[end..];
        }
        assert!(styles >= 1, "the page is styled");
    }
}

#[tokio::test]
async fn a_person_signs_in_sees_the_console_and_signs_out() {
    for backend in backends() {
        let app = app(backend).await;
        let client = browser();

        // Not signed in: the console sends to the form.
        let home = get(&app, &client, "/console").await;
        assert!(to_sign_in(&home), "{backend:?}: {}", home.status);
        assert_private(&home);

        let form = get(&app, &client, "/console/sign-in").await;
        assert_eq!(form.status, 200);
        assert_private(&form);
        let csrf_cookie = form.set_cookie("pharos_csrf").expect("a CSRF cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
            assert!(csrf_cookie.contains(attribute), "{csrf_cookie}");
        }

        // Signing in (the e-mail in another case than stored).
        let signed = sign_in(&app, &client, "ADA@acme.test", PASSWORD).await;
        assert_eq!(signed.status, 303, "{backend:?}: {}", signed.text);
        assert_eq!(signed.header("location"), "/console");
        assert_private(&signed);
        let cookie = signed
            .set_cookie("pharos_session")
            .expect("a session cookie");
        let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
            assert!(attributes.contains(&attribute), "{cookie}");
        }
        assert!(!attributes.contains(&"Secure"), "plain http: {cookie}");
        let value = attributes[0]
            .strip_prefix("pharos_session=")
            .unwrap()
            .to_owned();
        assert_eq!(value.len(), 43, "{cookie}");

        // The landing page: who, their role, the components and the open incident.
        let home = get(&app, &client, "/console").await;
        assert_eq!(home.status, 200, "{backend:?}");
        assert_private(&home);
        assert!(home.text.contains("Ada Lovelace · owner"), "{}", home.text);
        assert!(home.text.contains("Public API"), "{}", home.text);
        assert!(home.text.contains("Operational"), "{}", home.text);
        assert!(
            home.text.contains("Payments &#60;degraded&#62;") && !home.text.contains("<degraded>"),
            "the incident, escaped: {}",
            home.text
        );
        let signin = audit(&app, "signin").await;
        assert_eq!(signin.len(), 1, "{backend:?}");
        assert_eq!(signin[0].record.actor_name, "Ada Lovelace");
        assert_eq!(signin[0].record.actor_kind.as_str(), "user");
        assert_eq!(sessions(&app).await, 1);

        // Signing out needs the session's CSRF token…
        let refused = submit(&app, &client, "/console/sign-out", &[("csrf", "nope")]).await;
        assert_eq!(refused.status, 403, "{backend:?}");
        assert_eq!(get(&app, &client, "/console").await.status, 200, "still in");
        // …and then ends the session.
        let out = submit(
            &app,
            &client,
            "/console/sign-out",
            &[("csrf", &home.csrf())],
        )
        .await;
        assert!(to_sign_in(&out), "{backend:?}: {} {}", out.status, out.text);
        let cleared = out
            .set_cookie("pharos_session")
            .expect("the cookie cleared");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert!(to_sign_in(&get(&app, &client, "/console").await));
        assert_eq!(audit(&app, "signout").await.len(), 1);
        assert_eq!(sessions(&app).await, 0);

        // The old cookie, sent again by hand, signs nobody in.
        let replay = read(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(format!("{}/console", app.base_url))
                .header("cookie", format!("pharos_session={value}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(to_sign_in(&replay), "{backend:?}: {}", replay.status);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_an_unknown_email_a_disabled_user_and_no_password_get_the_same_answer() {
    for backend in backends() {
        let app = app(backend).await;
        let client = browser();
        // A disabled person with the right password, and one without a password, too.
        let store = Store::connect(&app.db.url).await.unwrap();
        for (email, password) in [("eve@acme.test", Some(PASSWORD)), ("sso@acme.test", None)] {
            let person = NewUser {
                kind: UserKind::Person,
                email: Some(email.into()),
                name: None,
                role: "responder".into(),
                time_zone: None,
                password: password.map(str::to_owned),
            };
            let user = add_user(&store, person).await.unwrap();
            if password.is_some() {
                let patch = UserPatch {
                    disabled: Some(true),
                    ..UserPatch::default()
                };
                store
                    .update_user(&user.id, &patch, chrono::Utc::now(), &setup("user.disable"))
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        let disabled = sign_in(&app, &client, "eve@acme.test", PASSWORD).await;
        let no_password = sign_in(&app, &client, "sso@acme.test", PASSWORD).await;
        let wrong = sign_in(&app, &client, EMAIL, "not the password at all").await;
        let unknown = sign_in(&app, &client, "bob@acme.test", PASSWORD).await;
        for page in [&wrong, &unknown, &disabled, &no_password] {
            assert_eq!(page.status, 401, "{backend:?}");
            assert!(page.text.contains(MISMATCH), "{}", page.text);
            assert!(page.set_cookie("pharos_session").is_none());
            assert_private(page);
        }
        // The same page but for the e-mail typed back into the form.
        assert_eq!(
            wrong.text.replace(EMAIL, "E"),
            unknown.text.replace("bob@acme.test", "E"),
            "{backend:?}"
        );
        let failed = audit(&app, "signin.failed").await;
        let names: Vec<&str> = failed
            .iter()
            .map(|e| e.record.actor_name.as_str())
            .collect();
        assert_eq!(
            names,
            ["bob@acme.test", EMAIL, "sso@acme.test", "eve@acme.test"],
            "{backend:?}"
        );
        let reasons: Vec<&str> = failed
            .iter()
            .map(|e| e.record.after.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(
            reasons,
            [
                r#"{"reason":"mismatch"}"#,
                r#"{"reason":"mismatch"}"#,
                r#"{"reason":"no_password"}"#,
                r#"{"reason":"disabled"}"#
            ],
            "for owners and admins only, the trail says why"
        );
        assert!(failed.iter().all(|e| e.record.request_id.is_some()));
        assert!(failed
            .iter()
            .all(|e| e.record.actor_kind.as_str() == "anonymous"));
        assert_eq!(sessions(&app).await, 0);
        assert!(to_sign_in(&get(&app, &client, "/console").await));
        app.stop().await;
    }
}

#[tokio::test]
async fn a_sign_in_without_the_right_csrf_token_or_origin_is_refused() {
    for backend in backends() {
        let app = app(backend).await;
        let client = browser();
        let form = get(&app, &client, "/console/sign-in").await;
        let csrf = form.csrf();
        let good = [("email", EMAIL), ("password", PASSWORD)];
        let with = |token: &'static str| {
            let mut f = vec![("csrf", token)];
            f.extend(good);
            f
        };
        let path = "/console/sign-in";
        // No token, a wrong one, and one of another nonce.
        for fields in [
            good.to_vec(),
            with("nope"),
            with("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ] {
            let page = submit(&app, &client, path, &fields).await;
            assert_eq!(page.status, 403, "{backend:?}: {fields:?}");
            assert_private(&page);
        }
        let right: Vec<(&str, &str)> = vec![("csrf", &csrf), good[0], good[1]];
        // The right token without its cookie (another browser).
        let page = submit(&app, &browser(), path, &right).await;
        assert_eq!(page.status, 403, "{backend:?}: without the cookie");
        // The right token and cookie, from another origin or from none.
        for origin in [Some("http://evil.test"), Some("null"), None] {
            let page = submit_from(&app, &client, path, &right, origin).await;
            assert_eq!(page.status, 403, "{backend:?}: origin {origin:?}");
        }
        assert_eq!(sessions(&app).await, 0, "{backend:?}: nobody signed in");
        assert!(to_sign_in(&get(&app, &client, "/console").await));
        assert!(audit(&app, "signin").await.is_empty());

        // The same form, sent properly, works.
        let page = submit(&app, &client, path, &right).await;
        assert_eq!(page.status, 303, "{backend:?}: {}", page.text);
        assert_eq!(get(&app, &client, "/console").await.status, 200);
        app.stop().await;
    }
}

#[tokio::test]
async fn after_the_account_limit_even_the_right_password_waits() {
    for backend in backends() {
        let app = app(backend).await;
        let client = browser();
        // Five failures for the account (in any case of its e-mail).
        for (i, email) in [
            "ada@acme.test",
            "ADA@acme.test",
            "ada@ACME.test",
            "Ada@Acme.Test",
            " ada@acme.test",
        ]
        .into_iter()
        .enumerate()
        {
            let page = sign_in(&app, &client, email, "not the password at all").await;
            assert_eq!(page.status, 401, "{backend:?}: failure {i}");
        }
        let page = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(
            page.status, 429,
            "{backend:?}: the limit, not the password, decides"
        );
        let retry: u64 = page.header("retry-after").parse().unwrap();
        assert!((1..=180).contains(&retry), "{retry}");
        assert!(
            page.text.contains("Too many failed sign-ins"),
            "{}",
            page.text
        );
        assert!(page.set_cookie("pharos_session").is_none());
        assert_private(&page);
        assert_eq!(sessions(&app).await, 0);
        assert_eq!(audit(&app, "signin.failed").await.len(), 5, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_idle_absent_or_junk_session_goes_to_the_sign_in_form() {
    for backend in backends() {
        let app = app(backend).await;
        let client = browser();
        assert!(to_sign_in(&get(&app, &client, "/console").await));
        let junk = read(
            browser()
                .get(format!("{}/console", app.base_url))
                .header("cookie", "pharos_session=junk")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(to_sign_in(&junk), "{backend:?}");

        let signed = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(signed.status, 303, "{backend:?}");
        assert_eq!(get(&app, &client, "/console").await.status, 200);
        // Last used 2 minutes ago: a request records the use (at most once a minute)…
        let ago = chrono::Utc::now().timestamp_millis() - 2 * 60 * 1000;
        app.db
            .execute(&format!("UPDATE sessions SET last_seen_at = {ago}"))
            .await;
        assert_eq!(get(&app, &client, "/console").await.status, 200);
        let seen = app.db.query_i64("SELECT last_seen_at FROM sessions").await;
        assert!(seen > ago + 60 * 1000, "{backend:?}: the use is recorded");
        // …and one within the minute is not written again.
        assert_eq!(get(&app, &client, "/console").await.status, 200);
        assert_eq!(
            app.db.query_i64("SELECT last_seen_at FROM sessions").await,
            seen
        );
        // Last used 31 minutes ago: past the idle limit.
        let ago = chrono::Utc::now().timestamp_millis() - 31 * 60 * 1000;
        app.db
            .execute(&format!("UPDATE sessions SET last_seen_at = {ago}"))
            .await;
        eventually(WAIT, "the idle session to be refused", || async {
            to_sign_in(&get(&app, &client, "/console").await).then_some(())
        })
        .await;
        // It ended there, once, in the trail; the cookie now names nothing.
        assert!(to_sign_in(&get(&app, &client, "/console").await));
        assert_eq!(sessions(&app).await, 0, "{backend:?}");
        let expired = audit(&app, "session.expired").await;
        assert_eq!(expired.len(), 1, "{backend:?}: {expired:?}");
        assert_eq!(expired[0].record.actor_name, "Ada Lovelace");
        assert!(expired[0].record.after.as_deref().unwrap().contains("idle"));
        // Past its absolute end, though used a moment ago.
        let signed = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(signed.status, 303, "{backend:?}");
        assert_eq!(get(&app, &client, "/console").await.status, 200);
        let now = chrono::Utc::now().timestamp_millis();
        app.db
            .execute(&format!("UPDATE sessions SET expires_at = {now}"))
            .await;
        eventually(WAIT, "the expired session to be refused", || async {
            to_sign_in(&get(&app, &client, "/console").await).then_some(())
        })
        .await;
        let ended = audit(&app, "session.expired").await;
        assert_eq!(ended.len(), 2, "{backend:?}: {ended:?}");
        assert!(ended[0]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("lifetime"));
        assert_eq!(sessions(&app).await, 0, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn behind_https_the_cookies_are_secure_host_cookies() {
    for backend in backends() {
        let public = "https://status.acme.test";
        let app = app_at(backend, Some(public)).await;
        // Cookies by hand: a cookie store keeps `Secure` cookies away from this plain-http
        // test server, as a browser would.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = get(&app, &client, "/console/sign-in").await;
        assert!(form
            .header("strict-transport-security")
            .contains("max-age="));
        let csrf_cookie = form
            .set_cookie("__Host-pharos_csrf")
            .expect("a CSRF cookie");
        let value = |set_cookie: &str, name: &str| {
            set_cookie
                .split(';')
                .next()
                .unwrap()
                .strip_prefix(&format!("{name}="))
                .unwrap()
                .to_owned()
        };
        let nonce = value(&csrf_cookie, "__Host-pharos_csrf");
        let fields = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("csrf", form.csrf().as_str()),
                ("email", EMAIL),
                ("password", PASSWORD),
            ])
            .finish();
        let send = |origin: String| {
            client
                .post(format!("{}/console/sign-in", app.base_url))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("__Host-pharos_csrf={nonce}"))
                .header("origin", origin)
                .body(fields.clone())
                .send()
        };
        // The page says it is https: this plain-http origin is not its own.
        let other = read(send(app.base_url.clone()).await.unwrap()).await;
        assert_eq!(other.status, 403, "{backend:?}");
        let signed = read(send(public.to_owned()).await.unwrap()).await;
        assert_eq!(signed.status, 303, "{backend:?}: {}", signed.text);
        let cookie = signed
            .set_cookie("__Host-pharos_session")
            .expect("a __Host- session cookie");
        let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
            assert!(attributes.contains(&attribute), "{cookie}");
        }
        assert!(signed.set_cookie("pharos_session").is_none());
        let session = value(&cookie, "__Host-pharos_session");
        let home = read(
            client
                .get(format!("{}/console", app.base_url))
                .header("cookie", format!("__Host-pharos_session={session}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(home.status, 200, "{backend:?}");
        assert!(home.text.contains("Ada Lovelace · owner"));
        // The plain name means nothing here.
        let plain = read(
            client
                .get(format!("{}/console", app.base_url))
                .header("cookie", format!("pharos_session={session}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(to_sign_in(&plain), "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_console_lives_where_its_path_says() {
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("api", "Public API")
        .section("[console]\npath = \"/ops/console\"");
    let app = spawn_app_on(Backend::Sqlite, &config.build()).await;
    crate::support::console::add_person(&app, EMAIL, "Ada Lovelace", "owner", PASSWORD).await;
    let client = browser();
    assert_eq!(get(&app, &client, "/console/sign-in").await.status, 404);
    let form = get(&app, &client, "/ops/console/sign-in").await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(
        form.text.contains(r#"action="/ops/console/sign-in""#),
        "{}",
        form.text
    );
    let csrf_cookie = form.set_cookie("pharos_csrf").unwrap();
    assert!(csrf_cookie.contains("Path=/ops/console"), "{csrf_cookie}");
    let signed = submit(
        &app,
        &client,
        "/ops/console/sign-in",
        &[
            ("csrf", &form.csrf()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.header("location"), "/ops/console");
    let home = get(&app, &client, "/ops/console").await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains(r#"href="/ops/console/incidents""#));
    assert!(!home.text.contains(r#""/console/"#), "{}", home.text);
    // A page of the moved console, signed out, sends to its own sign-in form.
    let stranger = browser();
    let page = get(&app, &stranger, "/ops/console/incidents").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), "/ops/console/sign-in");
    app.stop().await;
}
