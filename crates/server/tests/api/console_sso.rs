//! Single sign-on to the console (`[sso]`, OpenID Connect) against a real OpenID provider
//! started by the test (`tests/browser/oidc-server.mjs`, the npm `oidc-provider`): a
//! browser-like client (reqwest with a cookie store, no redirects followed) goes from
//! `/console/sso/start` through the provider's own login and consent forms and back to the
//! callback. Pharos is published at `http://pharos.test`, so the provider sends the browser
//! there; the test delivers that request to the app, as DNS would.
//!
//! Covered: a first sign-in adds the person with the role their `groups` map to, a second
//! reuses them, the role follows the claim, a person with the same verified e-mail is linked;
//! a wrong state, an answer naming another issuer (RFC 9207's `iss`), a replayed callback
//! (with and without the flow cookie), a token with another nonce (the authorization request's nonce tampered with) and a person with no mapped group
//! are refused, each with `signin.failed` and its reason, nothing added, no session; "SSO
//! only" refuses a responder's password and lets the break-glass owner in; a provider down
//! when Pharos starts is used once it is up. An ID token for another audience or from another
//! issuer cannot be had from this provider (it signs for its one client, under its own
//! issuer): those are unit-tested against locally signed tokens in `web/src/console/sso.rs`.
//! On every backend, when Node.js and the harness's packages are there (else `SKIPPED`).

use std::time::Duration;

use pharos_store::{Store, UserPatch};
use pharos_testkit::{backends, eventually, spawn_app, spawn_app_on, Backend, TestApp};
use reqwest::Url;
use serde_json::{json, Value};

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{add_person, browser, get, read, sign_in, Page};
use crate::support::free_port;
use crate::support::node::{node_or_skip, NodeHarness, OidcProvider};
use crate::support::sso;

const ADMIN: &str = "admin-token-0123456789";
const PUBLIC: &str = "http://pharos.test";
const PASSWORD: &str = "correct horse battery staple";
const MISMATCH: &str = "That e-mail and password do not match.";
const WAIT: Duration = Duration::from_secs(20);

/// The provider's client, redirecting to Pharos at [`PUBLIC`], and its people
/// ([`sso::provider_config`]).
fn provider_config() -> Value {
    sso::provider_config(&format!("{PUBLIC}/console/sso/callback"))
}

/// Pharos with `[sso]` for `issuer` (the secret in a file beside the test), `only` as given.
fn config(issuer: &str, secret_file: &std::path::Path, only: bool) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .section(&format!("[server]\npublic_url = \"{PUBLIC}\""))
        .section(&sso::section(issuer, secret_file, only))
        .component("api", "Public API")
        .build()
}

/// The provider, and a file holding the client secret.
struct Setup {
    provider: OidcProvider,
    secret: tempfile::NamedTempFile,
}

fn setup(harness: &NodeHarness) -> Setup {
    let provider = OidcProvider::start(harness, &provider_config());
    Setup {
        provider,
        secret: sso::secret_file(),
    }
}

async fn app(backend: Backend, s: &Setup, only: bool) -> TestApp {
    spawn_app_on(backend, &config(&s.provider.issuer, s.secret.path(), only)).await
}

/// `GET /console/sso/start`: the provider's authorization URL, and the flow cookie's value.
async fn start(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let started = get(app, client, "/console/sso/start").await;
    assert_eq!(started.status, 303, "{}", started.text);
    let flow = started.set_cookie("pharos_sso").expect("the flow cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age=600"] {
        assert!(flow.contains(attribute), "{flow}");
    }
    let value = flow["pharos_sso=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (started.header("location").to_owned(), value)
}

/// Follows the provider from `url` as a browser: its redirects, its login form (filled with
/// `user` and `password`) and its consent form, until it sends the browser to Pharos. Answers
/// that URL (on [`PUBLIC`]).
async fn through_provider(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> String {
    let mut request = client.get(url);
    let mut at = Url::parse(url).unwrap();
    for _ in 0..20 {
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        if (300..400).contains(&status) {
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let next = at.join(&location).unwrap();
            if next.as_str().starts_with(PUBLIC) {
                return next.to_string();
            }
            request = client.get(next.clone());
            at = next;
            continue;
        }
        let body = answer.text().await.unwrap();
        assert_eq!(
            status, 200,
            "the provider answered {status} at {at}: {body}"
        );
        let marker = "<form method=\"post\" action=\"";
        let start = body
            .find(marker)
            .unwrap_or_else(|| panic!("no form at {at}: {body}"))
            + marker.len();
        let action = &body[start..start + body[start..].find('"').unwrap()];
        let target = at.join(action).unwrap();
        let fields: Vec<(&str, &str)> = if action.ends_with("/login") {
            vec![("username", user), ("password", password)]
        } else if action.ends_with("/confirm") {
            Vec::new()
        } else {
            panic!("an unexpected form {action} at {at}: {body}");
        };
        request = client
            .post(target.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            );
        at = target;
    }
    panic!("the provider did not send the browser back to Pharos");
}

/// `url` with query parameter `name` set to `value` (the others kept, in order).
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    url.to_string()
}

/// The path and query of a URL on [`PUBLIC`].
fn on_app(url: &str) -> String {
    url.strip_prefix(PUBLIC).unwrap().to_owned()
}

/// A whole single sign-on as `user`: the callback's answer.
async fn sso(app: &TestApp, client: &reqwest::Client, user: &str, password: &str) -> Page {
    let (auth, _) = start(app, client).await;
    let back = through_provider(client, &auth, user, password).await;
    get(app, client, &on_app(&back)).await
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.db.url).await.unwrap()
}

/// The reasons of the `signin.failed` entries, oldest first.
async fn failures(app: &TestApp) -> Vec<String> {
    let mut out: Vec<String> = audit(app, "signin.failed")
        .await
        .iter()
        .map(|e| {
            let after: Value = serde_json::from_str(e.record.after.as_deref().unwrap()).unwrap();
            after["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    out.reverse();
    out
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.db
        .query_i64(&format!("SELECT COUNT(*) FROM {table}"))
        .await
}

#[tokio::test]
async fn a_first_sign_in_adds_the_person_with_their_mapped_role_and_the_next_reuses_them() {
    let Some(harness) = node_or_skip("console_sso", "a_first_sign_in_adds_the_person") else {
        return;
    };
    let s = setup(&harness);
    for backend in backends() {
        let app = app(backend, &s, false).await;
        let form = get(&app, &browser(), "/console/sign-in").await;
        assert_eq!(form.status, 200);
        assert!(
            form.text.contains(
                r#"<a class="button" href="/console/sso/start">Sign in with Test ID</a>"#
            ),
            "{}",
            form.text
        );
        assert!(
            !form.text.contains("<details>"),
            "the password form is open without `only`"
        );

        let client = browser();
        let back = sso(&app, &client, "alice", "alice-password").await;
        assert_eq!(back.status, 303, "{backend:?}: {}", back.text);
        assert_eq!(back.header("location"), "/console");
        let session = back.set_cookie("pharos_session").expect("a session cookie");
        assert!(
            session.contains("HttpOnly") && session.contains("SameSite=Lax"),
            "{session}"
        );
        assert!(
            back.set_cookie("pharos_sso").unwrap().contains("Max-Age=0"),
            "the flow cookie serves once"
        );
        let home = get(&app, &client, "/console").await;
        assert_eq!(home.status, 200, "{}", home.text);
        assert!(home.text.contains("Alice Admin"), "{}", home.text);

        let alice = store(&app)
            .await
            .user_by_email("alice@example.test")
            .await
            .unwrap()
            .expect("alice was added");
        // pharos-admins and oncall: the higher role wins.
        assert_eq!(alice.role.as_str(), "admin");
        assert_eq!(alice.name, "Alice Admin");
        assert_eq!(
            alice.sso_subject.as_deref(),
            Some(format!("{}|alice", s.provider.issuer).as_str())
        );
        assert!(alice.password_hash.is_none());
        let added = audit(&app, "user.add").await;
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].record.actor_name, "single sign-on");
        assert_eq!(added[0].record.subject.as_deref(), Some(alice.id.as_str()));
        let signins = audit(&app, "signin").await;
        assert_eq!(signins.len(), 1);
        assert_eq!(
            signins[0].record.actor_id.as_deref(),
            Some(alice.id.as_str())
        );
        let after: Value =
            serde_json::from_str(signins[0].record.after.as_deref().unwrap()).unwrap();
        assert_eq!(after["method"], "sso");
        assert_eq!(after["issuer"], s.provider.issuer.as_str());

        // Someone demotes her in Pharos; her next sign-in, from another browser, is the same
        // person again, and her role follows the provider's claim back.
        let demoted = store(&app)
            .await
            .update_user(
                &alice.id,
                &UserPatch {
                    role: Some(pharos_domain::access::Role::Viewer),
                    ..UserPatch::default()
                },
                chrono::Utc::now(),
                &pharos_store::AuditRecord {
                    at: chrono::Utc::now(),
                    actor_kind: pharos_store::ActorKind::Automation,
                    actor_id: None,
                    actor_name: "test".into(),
                    action: "user.change".into(),
                    subject: Some(alice.id.clone()),
                    before: None,
                    after: None,
                    request_id: None,
                    address: None,
                },
            )
            .await
            .unwrap();
        assert!(demoted.is_ok());
        let users = count(&app, "users").await;
        let other = browser();
        let again = sso(&app, &other, "alice", "alice-password").await;
        assert_eq!(again.status, 303, "{}", again.text);
        assert_eq!(
            count(&app, "users").await,
            users,
            "the same person signs in"
        );
        let alice_now = store(&app).await.user(&alice.id).await.unwrap().unwrap();
        assert_eq!(alice_now.role.as_str(), "admin");
        let followed = audit(&app, "user.change").await;
        assert_eq!(followed[0].record.actor_name, "single sign-on");
        assert!(followed[0]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("\"admin\""));
        assert_eq!(audit(&app, "signin").await.len(), 2);
        assert_eq!(count(&app, "sessions").await, 2);
        assert!(failures(&app).await.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_person_with_the_same_verified_e_mail_is_linked_not_added_again() {
    let Some(harness) = node_or_skip("console_sso", "a_person_with_the_same_verified_e_mail")
    else {
        return;
    };
    let s = setup(&harness);
    for backend in backends() {
        let app = app(backend, &s, false).await;
        add_person(&app, "owner@acme.test", "Olive Owner", "owner", PASSWORD).await;
        add_person(
            &app,
            "Bob@Example.test",
            "Bob Builder",
            "responder",
            PASSWORD,
        )
        .await;
        let bob = store(&app)
            .await
            .user_by_email("bob@example.test")
            .await
            .unwrap()
            .unwrap();
        let client = browser();
        let back = sso(&app, &client, "bob", "bob-password").await;
        assert_eq!(back.status, 303, "{backend:?}: {}", back.text);
        assert_eq!(count(&app, "users").await, 2, "linked, not added");
        let linked = store(&app).await.user(&bob.id).await.unwrap().unwrap();
        assert_eq!(
            linked.sso_subject.as_deref(),
            Some(format!("{}|bob", s.provider.issuer).as_str())
        );
        assert_eq!(linked.role.as_str(), "viewer", "the claim decides the role");
        assert_eq!(linked.name, "Bob Builder", "the name given in Pharos stays");
        assert!(linked.password_hash.is_some(), "the password stays");

        // The only owner signs in through the provider, whose groups make her an admin: she
        // is linked, and stays owner (the last owner is never demoted).
        let olive = store(&app)
            .await
            .user_by_email("owner@acme.test")
            .await
            .unwrap()
            .unwrap();
        let back = sso(&app, &browser(), "olive", "olive-password").await;
        assert_eq!(back.status, 303, "{}", back.text);
        let olive_now = store(&app).await.user(&olive.id).await.unwrap().unwrap();
        assert!(olive_now.sso_subject.is_some());
        assert_eq!(olive_now.role.as_str(), "owner");

        // An address the provider does not call verified links nobody.
        add_person(
            &app,
            "rita@acme.test",
            "Rita Responder",
            "responder",
            PASSWORD,
        )
        .await;
        let rita = store(&app)
            .await
            .user_by_email("rita@acme.test")
            .await
            .unwrap()
            .unwrap();
        let refused = sso(&app, &browser(), "mallory", "mallory-password").await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert!(
            refused
                .text
                .contains("does not say the address is verified"),
            "{}",
            refused.text
        );
        let rita_now = store(&app).await.user(&rita.id).await.unwrap().unwrap();
        assert_eq!(rita_now.sso_subject, None);
        assert_eq!(count(&app, "users").await, 3);
        assert_eq!(failures(&app).await, ["email_unverified"]);
        let failed = &audit(&app, "signin.failed").await[0];
        assert_eq!(failed.record.subject.as_deref(), Some(rita.id.as_str()));
        assert_eq!(count(&app, "sessions").await, 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_state_replayed_callback_other_nonce_and_no_role_are_refused_and_audited() {
    let Some(harness) = node_or_skip("console_sso", "wrong_state_replayed_callback") else {
        return;
    };
    let s = setup(&harness);
    for backend in backends() {
        let app = app(backend, &s, false).await;

        // A wrong state: the provider's answer does not belong to this browser's sign-in.
        let client = browser();
        let (auth, _) = start(&app, &client).await;
        let back = through_provider(&client, &auth, "alice", "alice-password").await;
        let tampered = with_param(&back, "state", "forged-state");
        let refused = get(&app, &client, &on_app(&tampered)).await;
        assert_eq!(refused.status, 401, "{backend:?}: {}", refused.text);
        assert!(
            refused.text.contains("its state does not match"),
            "{}",
            refused.text
        );
        assert!(
            refused.text.contains("Sign in with Test ID"),
            "the way in again"
        );
        assert!(refused.set_cookie("pharos_session").is_none());
        assert_eq!(
            get(&app, &client, "/console").await.status,
            303,
            "not signed in"
        );

        // An answer naming another issuer (RFC 9207's `iss`, which this provider sends): a
        // mix-up with another provider.
        let client = browser();
        let (auth, _) = start(&app, &client).await;
        let back = through_provider(&client, &auth, "alice", "alice-password").await;
        assert!(back.contains("iss="), "the provider names itself: {back}");
        let mixed = with_param(&back, "iss", "https://evil.example.com");
        let refused = get(&app, &client, &on_app(&mixed)).await;
        assert_eq!(refused.status, 401, "{}", refused.text);
        assert!(
            refused.text.contains("its issuer does not match"),
            "{}",
            refused.text
        );

        // A callback replayed: the flow cookie is gone after its one use…
        let client = browser();
        let (auth, flow_cookie) = start(&app, &client).await;
        let back = through_provider(&client, &auth, "alice", "alice-password").await;
        let first = get(&app, &client, &on_app(&back)).await;
        assert_eq!(first.status, 303, "{}", first.text);
        let replayed = get(&app, &browser(), &on_app(&back)).await;
        assert_eq!(replayed.status, 401, "{}", replayed.text);
        assert!(
            replayed.text.contains("was already used"),
            "{}",
            replayed.text
        );
        // …and with the cookie copied, the provider does not take the code twice.
        let copied = read(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(format!("{}{}", app.base_url, on_app(&back)))
                .header("cookie", format!("pharos_sso={flow_cookie}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(copied.status, 401, "{}", copied.text);
        assert!(
            copied.text.contains("did not accept this sign-in"),
            "{}",
            copied.text
        );
        assert!(copied.set_cookie("pharos_session").is_none());

        // Another nonce: the authorization request is changed on its way to the provider, so
        // the ID token carries a nonce this browser's flow never made.
        let client = browser();
        let (auth, _) = start(&app, &client).await;
        let other = with_param(&auth, "nonce", "a-nonce-from-elsewhere");
        let back = through_provider(&client, &other, "alice", "alice-password").await;
        let refused = get(&app, &client, &on_app(&back)).await;
        assert_eq!(refused.status, 401, "{}", refused.text);
        assert!(
            refused
                .text
                .contains("it belongs to another sign-in (nonce)"),
            "{}",
            refused.text
        );

        // Signed in at the provider, but in no group Pharos maps and no default role.
        let client = browser();
        let refused = sso(&app, &client, "carol", "carol-password").await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert!(
            refused
                .text
                .contains("none of your `groups` values gives a role"),
            "{}",
            refused.text
        );

        assert_eq!(
            failures(&app).await,
            ["state", "issuer", "state", "exchange", "nonce", "no_role"],
            "{backend:?}"
        );
        let no_role = &audit(&app, "signin.failed").await[0];
        assert_eq!(no_role.record.actor_name, "carol@example.test");
        // Only alice's one sign-in got through; nobody else was added.
        assert_eq!(audit(&app, "signin").await.len(), 1);
        assert_eq!(count(&app, "users").await, 1);
        assert_eq!(count(&app, "sessions").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn sso_only_refuses_a_non_owners_password_and_lets_the_break_glass_owner_in() {
    let Some(harness) = node_or_skip("console_sso", "sso_only_refuses") else {
        return;
    };
    let s = setup(&harness);
    for backend in backends() {
        let app = app(backend, &s, true).await;
        add_person(&app, "owner@acme.test", "Olive Owner", "owner", PASSWORD).await;
        add_person(
            &app,
            "rita@acme.test",
            "Rita Responder",
            "responder",
            PASSWORD,
        )
        .await;
        let form = get(&app, &browser(), "/console/sign-in").await;
        assert!(form.text.contains("Sign in with Test ID"), "{}", form.text);
        assert!(
            form.text
                .contains("<details>\n<summary>Owners: sign in with a password</summary>"),
            "{}",
            form.text
        );

        let rita = browser();
        let refused = sign_in(&app, &rita, "rita@acme.test", PASSWORD).await;
        assert_eq!(refused.status, 401, "{backend:?}: {}", refused.text);
        assert!(
            refused.text.contains(MISMATCH),
            "the one answer: {}",
            refused.text
        );
        assert_eq!(get(&app, &rita, "/console").await.status, 303);
        assert_eq!(failures(&app).await, ["sso_only"]);

        let owner = browser();
        let signed = sign_in(&app, &owner, "owner@acme.test", PASSWORD).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        assert_eq!(get(&app, &owner, "/console").await.status, 200);

        // SSO itself still works for everyone.
        let alice = browser();
        assert_eq!(
            sso(&app, &alice, "alice", "alice-password").await.status,
            303
        );
        assert_eq!(count(&app, "sessions").await, 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn without_sso_there_is_no_link_and_no_route() {
    let app = spawn_app(&Config::acme().component("api", "Public API").build()).await;
    let form = get(&app, &browser(), "/console/sign-in").await;
    assert_eq!(form.status, 200);
    assert!(!form.text.contains("Sign in with"), "{}", form.text);
    assert!(!form.text.contains("<details>"), "{}", form.text);
    assert_eq!(
        get(&app, &browser(), "/console/sso/start").await.status,
        404
    );
    assert_eq!(
        get(&app, &browser(), "/console/sso/callback?code=x&state=y")
            .await
            .status,
        404
    );
    assert!(audit(&app, "signin.failed").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_provider_down_when_pharos_starts_is_used_once_it_is_up() {
    let Some(harness) = node_or_skip("console_sso", "a_provider_down_when_pharos_starts") else {
        return;
    };
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let secret = sso::secret_file();
    let app = spawn_app(&config(&issuer, secret.path(), false)).await;
    let down = get(&app, &browser(), "/console/sso/start").await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert!(
        down.text.contains("cannot reach the identity provider"),
        "{}",
        down.text
    );
    // The sign-in page still works, password form and all.
    assert_eq!(get(&app, &browser(), "/console/sign-in").await.status, 200);

    let mut up = provider_config();
    up["port"] = json!(port);
    let _provider = OidcProvider::start(&harness, &up);
    eventually(
        WAIT,
        "single sign-on to start once the provider is up",
        || async {
            (get(&app, &browser(), "/console/sso/start").await.status == 303).then_some(())
        },
    )
    .await;
    let client = browser();
    assert_eq!(sso(&app, &client, "bob", "bob-password").await.status, 303);
    app.stop().await;
}
