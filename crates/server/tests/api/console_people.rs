//! The console's People, Tokens and Audit log pages, through the real app with a
//! browser-like client: what each page shows (escaped), each form's change and its audit
//! entry, the role rules shared with the admin API (only an owner touches an owner, the last
//! owner stays), a token made in the console working against the admin API with exactly its
//! scope until it is revoked, and the refusals (a role that may not, a form without its CSRF
//! token). On every backend.

use pharos_server::people::{add_user, NewUser};
use pharos_store::{ActorKind, AuditRecord, Store, UserKind, UserPatch};
use pharos_testkit::{backends, spawn_app_on, Backend, TestApp};

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{browser, get, sign_in, signed_in_as, submit, submit_from, Page};
use crate::support::http;

const ADMIN: &str = "admin-token-0123456789";
const PASSWORD: &str = "a long enough password";

async fn app(backend: Backend) -> TestApp {
    spawn_app_on(backend, &Config::acme().admin("ops", ADMIN).build()).await
}

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.db.url).await.unwrap()
}

async fn id_of(app: &TestApp, email: &str) -> String {
    store(app)
        .await
        .user_by_email(email)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {email}"))
        .id
}

async fn user_count(app: &TestApp) -> usize {
    store(app).await.users().await.unwrap().len()
}

/// Adds a service account named `name` with `role`; its id.
async fn add_service(app: &TestApp, name: &str, role: &str) -> String {
    let s = store(app).await;
    add_user(
        &s,
        NewUser {
            kind: UserKind::Service,
            email: None,
            name: Some(name.into()),
            role: role.into(),
            time_zone: None,
            password: None,
        },
    )
    .await
    .unwrap();
    s.users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.name == name)
        .unwrap()
        .id
}

/// What every console page keeps to: no script, no inline style attribute, private caching.
fn assert_plain(page: &Page) {
    assert!(!page.text.contains("<script"), "no script: {}", page.text);
    assert!(
        !page.text.contains(" style="),
        "no inline style: {}",
        page.text
    );
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.text.matches("<h1").count(), 1, "one h1: {}", page.text);
}

/// The token shown once on a mint's answer.
fn shown_token(page: &Page) -> String {
    let marker = r#"value="pht_"#;
    let start = page.text.find(marker).expect("a token on the page") + r#"value=""#.len();
    let end = start + page.text[start..].find('"').unwrap();
    page.text[start..end].to_owned()
}

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

#[tokio::test]
async fn an_owner_adds_their_team_changes_roles_disables_and_signs_people_out() {
    for backend in backends() {
        let app = app(backend).await;
        let (owner, csrf) = signed_in_as(&app, "owner").await;

        let page = get(&app, &owner, "/console/users").await;
        assert_eq!(page.status, 200, "{backend:?}: {}", page.text);
        assert!(page.text.contains("Owner Person"), "{}", page.text);
        assert!(
            page.text.contains(r#"aria-current="page">People"#),
            "{}",
            page.text
        );
        assert!(page.text.contains("Add a person or a service account"));
        assert_plain(&page);

        // A person, with a first password; the name needs escaping.
        let added = submit(
            &app,
            &owner,
            "/console/users",
            &[
                ("csrf", &csrf),
                ("kind", "person"),
                ("email", "Bo@Acme.test"),
                ("name", "Bo <b>"),
                ("role", "responder"),
                ("time_zone", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(added.status, 303, "{backend:?}: {}", added.text);
        assert_eq!(added.header("location"), "/console/users?done=added");
        let page = get(&app, &owner, "/console/users?done=added").await;
        assert!(page.text.contains("Added."), "{}", page.text);
        assert!(
            page.text.contains("Bo &#60;b&#62;") && !page.text.contains("Bo <b>"),
            "escaped: {}",
            page.text
        );
        assert!(page.text.contains("bo@acme.test"), "{}", page.text);
        let bo = id_of(&app, "bo@acme.test").await;
        let entry = &audit(&app, "user.add").await[0];
        assert_eq!(entry.record.subject.as_deref(), Some(bo.as_str()));
        assert_eq!(entry.record.actor_kind, ActorKind::User);
        assert_eq!(entry.record.actor_name, "Owner Person");
        assert!(
            !entry.record.after.as_deref().unwrap().contains("argon2"),
            "no hash in the trail"
        );
        // Bo signs in with that password.
        let bo_client = browser();
        let signed = sign_in(&app, &bo_client, "bo@acme.test", PASSWORD).await;
        assert_eq!(signed.status, 303, "{backend:?}: {}", signed.text);
        let page = get(&app, &owner, "/console/users").await;
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert!(page.text.contains(&today), "a last sign-in: {}", page.text);

        // A service account.
        let svc = submit(
            &app,
            &owner,
            "/console/users",
            &[
                ("csrf", &csrf),
                ("kind", "service"),
                ("email", ""),
                ("name", "ci-bot"),
                ("role", "responder"),
                ("password", ""),
            ],
        )
        .await;
        assert_eq!(svc.status, 303, "{backend:?}: {}", svc.text);
        let page = get(&app, &owner, "/console/users").await;
        assert!(page.text.contains("ci-bot") && page.text.contains("Service account"));

        // Refused forms change nothing and say why.
        let before = user_count(&app).await;
        for (fields, why) in [
            (
                vec![
                    ("kind", "person"),
                    ("email", "cy@acme.test"),
                    ("role", "viewer"),
                    ("password", "short"),
                ],
                "too short",
            ),
            (
                vec![
                    ("kind", "person"),
                    ("email", "cy@acme.test"),
                    ("role", "viewer"),
                    ("password", ""),
                ],
                "a person needs a first password",
            ),
            (
                vec![
                    ("kind", "person"),
                    ("email", "not an address"),
                    ("role", "viewer"),
                    ("password", PASSWORD),
                ],
                "is not an e-mail address",
            ),
            (
                vec![
                    ("kind", "person"),
                    ("email", "bo@acme.test"),
                    ("role", "viewer"),
                    ("password", PASSWORD),
                ],
                "another user has the e-mail address",
            ),
            (
                vec![
                    ("kind", "person"),
                    ("email", "cy@acme.test"),
                    ("role", "viewer"),
                    ("time_zone", "Mars/Base"),
                    ("password", PASSWORD),
                ],
                "unknown time zone",
            ),
        ] {
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let refused = submit(&app, &owner, "/console/users", &fields).await;
            assert_eq!(refused.status, 422, "{backend:?} {why}: {}", refused.text);
            assert!(refused.text.contains(why), "{why}: {}", refused.text);
            assert!(
                refused.text.contains("Nothing was changed"),
                "{}",
                refused.text
            );
        }
        assert_eq!(user_count(&app).await, before, "{backend:?}");

        // A new role.
        let changed = submit(
            &app,
            &owner,
            &format!("/console/users/{bo}"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
        assert_eq!(changed.status, 303, "{backend:?}: {}", changed.text);
        assert_eq!(changed.header("location"), "/console/users?done=changed");
        let s = store(&app).await;
        assert_eq!(s.user(&bo).await.unwrap().unwrap().role.as_str(), "admin");
        let entry = &audit(&app, "user.change").await[0];
        assert_eq!(entry.record.subject.as_deref(), Some(bo.as_str()));
        assert!(entry
            .record
            .before
            .as_deref()
            .unwrap()
            .contains("responder"));
        assert!(entry.record.after.as_deref().unwrap().contains("admin"));

        // Disabled: Bo's session ends; enabled again.
        let disabled = submit(
            &app,
            &owner,
            &format!("/console/users/{bo}"),
            &[("csrf", &csrf), ("disabled", "true")],
        )
        .await;
        assert_eq!(disabled.status, 303, "{backend:?}: {}", disabled.text);
        assert!(s.user(&bo).await.unwrap().unwrap().disabled_at.is_some());
        assert_eq!(audit(&app, "user.disable").await.len(), 1);
        let gone = get(&app, &bo_client, "/console").await;
        assert_eq!(gone.status, 303, "{backend:?}: Bo's session ended");
        let page = get(&app, &owner, "/console/users").await;
        assert!(page.text.contains("Enable Bo &#60;b&#62;"), "{}", page.text);
        let enabled = submit(
            &app,
            &owner,
            &format!("/console/users/{bo}"),
            &[("csrf", &csrf), ("disabled", "false")],
        )
        .await;
        assert_eq!(enabled.status, 303, "{backend:?}: {}", enabled.text);
        assert!(s.user(&bo).await.unwrap().unwrap().disabled_at.is_none());
        assert_eq!(audit(&app, "user.enable").await.len(), 1);

        // Signed out everywhere.
        let signed = sign_in(&app, &bo_client, "bo@acme.test", PASSWORD).await;
        assert_eq!(signed.status, 303);
        assert_eq!(get(&app, &bo_client, "/console").await.status, 200);
        let out = submit(
            &app,
            &owner,
            &format!("/console/users/{bo}/sign-out"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(out.status, 303, "{backend:?}: {}", out.text);
        assert_eq!(out.header("location"), "/console/users?done=signed-out");
        assert_eq!(get(&app, &bo_client, "/console").await.status, 303);
        let entry = &audit(&app, "user.sign_out").await[0];
        assert_eq!(entry.record.subject.as_deref(), Some(bo.as_str()));

        // The last owner stays an owner.
        let me = id_of(&app, "owner@acme.test").await;
        let demote = submit(
            &app,
            &owner,
            &format!("/console/users/{me}"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
        assert_eq!(demote.status, 409, "{backend:?}: {}", demote.text);
        assert!(
            demote
                .text
                .contains("The last owner cannot be removed or demoted"),
            "{}",
            demote.text
        );
        assert_eq!(s.user(&me).await.unwrap().unwrap().role.as_str(), "owner");
        let disable_me = submit(
            &app,
            &owner,
            &format!("/console/users/{me}"),
            &[("csrf", &csrf), ("disabled", "true")],
        )
        .await;
        assert_eq!(disable_me.status, 409, "{backend:?}: {}", disable_me.text);
        assert!(s.user(&me).await.unwrap().unwrap().disabled_at.is_none());

        // Unknown user.
        let missing = submit(
            &app,
            &owner,
            "/console/users/usr_nobody",
            &[("csrf", &csrf), ("role", "viewer")],
        )
        .await;
        assert_eq!(missing.status, 404, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn only_an_owner_touches_an_owner_and_a_viewer_changes_nobody() {
    for backend in backends() {
        let app = app(backend).await;
        let (_owner, _) = signed_in_as(&app, "owner").await;
        let owner_id = id_of(&app, "owner@acme.test").await;
        let (admin, csrf) = signed_in_as(&app, "admin").await;

        // The admin sees no forms for the owner, and cannot give the owner role.
        let page = get(&app, &admin, "/console/users").await;
        assert_eq!(page.status, 200);
        assert!(
            page.text.contains("Only an owner changes an owner."),
            "{}",
            page.text
        );
        assert!(
            !page.text.contains(r#"<option value="owner""#),
            "{}",
            page.text
        );
        assert!(!page.text.contains(&format!("{owner_id}/sign-out")));

        // And the server refuses it anyway, recording the attempt.
        for (path, fields) in [
            (
                format!("/console/users/{owner_id}"),
                vec![("role", "viewer")],
            ),
            (
                format!("/console/users/{owner_id}"),
                vec![("disabled", "true")],
            ),
            (format!("/console/users/{owner_id}/sign-out"), vec![]),
            (
                "/console/users".to_owned(),
                vec![
                    ("kind", "person"),
                    ("email", "x@acme.test"),
                    ("role", "owner"),
                    ("password", PASSWORD),
                ],
            ),
        ] {
            let denied_before = audit(&app, "access.denied").await.len();
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let refused = submit(&app, &admin, &path, &fields).await;
            assert_eq!(refused.status, 403, "{backend:?} {path}: {}", refused.text);
            assert!(refused.text.contains("only an owner"), "{}", refused.text);
            assert_eq!(audit(&app, "access.denied").await.len(), denied_before + 1);
        }
        let s = store(&app).await;
        let o = s.user(&owner_id).await.unwrap().unwrap();
        assert_eq!(o.role.as_str(), "owner");
        assert!(o.disabled_at.is_none());
        assert!(s.user_by_email("x@acme.test").await.unwrap().is_none());
        assert!(audit(&app, "user.sign_out").await.is_empty());

        // A viewer reads the page but gets no forms, and is refused by the gate.
        let (viewer, vcsrf) = signed_in_as(&app, "viewer").await;
        let page = get(&app, &viewer, "/console/users").await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("Admin Person"));
        assert!(!page.text.contains("Add a person or a service account"));
        assert!(!page.text.contains("Change role"));
        let before = user_count(&app).await;
        let denied_before = audit(&app, "access.denied").await.len();
        let refused = submit(
            &app,
            &viewer,
            "/console/users",
            &[
                ("csrf", &vcsrf),
                ("kind", "service"),
                ("name", "sneaky"),
                ("role", "viewer"),
            ],
        )
        .await;
        assert_eq!(refused.status, 403, "{backend:?}");
        assert_eq!(user_count(&app).await, before);
        let denied = audit(&app, "access.denied").await;
        assert_eq!(denied.len(), denied_before + 1);
        assert_eq!(denied[0].record.actor_name, "Viewer Person");
        let admin_id = id_of(&app, "admin@acme.test").await;
        let refused = submit(
            &app,
            &viewer,
            &format!("/console/users/{admin_id}/sign-out"),
            &[("csrf", &vcsrf)],
        )
        .await;
        assert_eq!(refused.status, 403);

        // Without its CSRF token, or from elsewhere, a form is refused before anything.
        let refused = submit(
            &app,
            &admin,
            "/console/users",
            &[("kind", "service"), ("name", "no-csrf"), ("role", "viewer")],
        )
        .await;
        assert_eq!(refused.status, 403, "{backend:?}");
        let refused = submit_from(
            &app,
            &admin,
            "/console/users",
            &[
                ("csrf", &csrf),
                ("kind", "service"),
                ("name", "elsewhere"),
                ("role", "viewer"),
            ],
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(refused.status, 403, "{backend:?}");
        assert_eq!(user_count(&app).await, before);
        assert!(audit(&app, "csrf.refused").await.len() >= 2);

        // The audit log is for administrators.
        let refused = get(&app, &viewer, "/console/audit").await;
        assert_eq!(refused.status, 403, "{backend:?}");
        let page = get(&app, &viewer, "/console/users").await;
        assert!(
            !page.text.contains("/console/audit\""),
            "no link: {}",
            page.text
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_token_made_in_the_console_works_with_exactly_its_scope_until_revoked() {
    for backend in backends() {
        let app = app(backend).await;
        let (_owner, _) = signed_in_as(&app, "owner").await;
        let (responder, csrf) = signed_in_as(&app, "responder").await;
        let me = id_of(&app, "responder@acme.test").await;

        // Only the scopes within a responder's role are offered.
        let page = get(&app, &responder, "/console/tokens").await;
        assert_eq!(page.status, 200, "{backend:?}: {}", page.text);
        for offered in ["responder", "communicator", "viewer", "ingest", "read"] {
            assert!(
                page.text.contains(&format!(r#"<option value="{offered}""#)),
                "{offered}"
            );
        }
        for withheld in ["owner", "admin"] {
            assert!(
                !page
                    .text
                    .contains(&format!(r#"<option value="{withheld}""#)),
                "{withheld}"
            );
        }
        assert!(page.text.contains("No tokens yet."));
        assert_plain(&page);

        let minted = submit(
            &app,
            &responder,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "grafana <x>"),
                ("scope", "read"),
                ("owner", &me),
                ("expires", ""),
            ],
        )
        .await;
        assert_eq!(minted.status, 201, "{backend:?}: {}", minted.text);
        assert!(minted.header("location").is_empty(), "not a redirect");
        assert_eq!(minted.header("cache-control"), "no-store");
        assert!(
            minted.text.contains("Copy this token now"),
            "{}",
            minted.text
        );
        assert!(
            minted.text.contains("grafana &#60;x&#62;"),
            "{}",
            minted.text
        );
        let token = shown_token(&minted);
        assert!(
            token.starts_with("pht_") && token.len() == 4 + 12 + 1 + 43,
            "{token}"
        );
        let id = &token[4..16];

        // Stored as a hash only, owned by the person, audited.
        let s = store(&app).await;
        let stored = s.api_tokens(Some(&me)).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, id);
        assert!(!stored[0].secret_hash.contains(&token[17..]));
        let entry = &audit(&app, "token.create").await[0];
        assert_eq!(entry.record.subject.as_deref(), Some(id));
        assert_eq!(entry.record.actor_kind, ActorKind::User);
        assert!(!entry
            .record
            .after
            .as_deref()
            .unwrap()
            .contains(&token[17..]));

        // Listed without its secret.
        let page = get(&app, &responder, "/console/tokens").await;
        assert!(page.text.contains("grafana &#60;x&#62;"), "{}", page.text);
        assert!(page.text.contains(&format!("pht_{id}_…")));
        assert!(
            !page.text.contains(&token[17..]),
            "the secret is shown once only"
        );

        // Exactly its scope against the admin API.
        let read = http::get(&app, "/api/v1/incidents", Some(&token)).await;
        assert_eq!(read.status, 200, "{backend:?}: {read:?}");
        let body = serde_json::json!({"name": "From a read token", "body": "no"});
        let write = http::post(&app, "/api/v1/incidents", Some(&token), &body).await;
        assert_eq!(write.status, 403, "{backend:?}: {write:?}");

        // Wider than the role, or for someone else: refused, nothing minted.
        let wider = submit(
            &app,
            &responder,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "too wide"),
                ("scope", "admin"),
                ("owner", &me),
            ],
        )
        .await;
        assert_eq!(wider.status, 422, "{backend:?}: {}", wider.text);
        assert!(
            wider.text.contains("wider than your role"),
            "{}",
            wider.text
        );
        let svc = add_service(&app, "ci", "responder").await;
        let denied_before = audit(&app, "access.denied").await.len();
        let theirs = submit(
            &app,
            &responder,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "not mine"),
                ("scope", "read"),
                ("owner", &svc),
            ],
        )
        .await;
        assert_eq!(theirs.status, 403, "{backend:?}: {}", theirs.text);
        assert_eq!(audit(&app, "access.denied").await.len(), denied_before + 1);
        let past = submit(
            &app,
            &responder,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "old"),
                ("scope", "read"),
                ("owner", &me),
                ("expires", "2001-01-01"),
            ],
        )
        .await;
        assert_eq!(past.status, 422, "{backend:?}: {}", past.text);
        assert_eq!(s.api_tokens(None).await.unwrap().len(), 1);

        // With an expiry: it works until the end of that day.
        let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).date_naive();
        let dated = submit(
            &app,
            &responder,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "dated"),
                ("scope", "ingest"),
                ("owner", &me),
                ("expires", &tomorrow.to_string()),
            ],
        )
        .await;
        assert_eq!(dated.status, 201, "{backend:?}: {}", dated.text);
        let dated_id = shown_token(&dated)[4..16].to_owned();
        let expires = token_expiry(&s, &dated_id).await;
        assert_eq!(
            expires,
            Some(
                (tomorrow + chrono::TimeDelta::days(1))
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_utc()
            )
        );

        // Revoked: refused at once.
        let revoked = submit(
            &app,
            &responder,
            &format!("/console/tokens/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(revoked.status, 303, "{backend:?}: {}", revoked.text);
        assert_eq!(revoked.header("location"), "/console/tokens?done=revoked");
        let after = http::get(&app, "/api/v1/incidents", Some(&token)).await;
        assert_eq!(after.status, 401, "{backend:?}: {after:?}");
        let entry = &audit(&app, "token.revoke").await[0];
        assert_eq!(entry.record.subject.as_deref(), Some(id));
        assert_eq!(entry.record.actor_name, "Responder Person");
        let page = get(&app, &responder, "/console/tokens?done=revoked").await;
        assert!(page.text.contains("revoked"), "{}", page.text);
        assert!(
            !page.text.contains(&format!("/tokens/{id}/revoke")),
            "no second revoke"
        );

        // Someone else's token is not there to revoke, nor listed.
        let (viewer, vcsrf) = signed_in_as(&app, "viewer").await;
        let page = get(&app, &viewer, "/console/tokens").await;
        assert!(!page.text.contains("grafana"), "{}", page.text);
        let theirs = submit(
            &app,
            &viewer,
            &format!("/console/tokens/{dated_id}/revoke"),
            &[("csrf", &vcsrf)],
        )
        .await;
        assert_eq!(theirs.status, 404, "{backend:?}: {}", theirs.text);
        assert!(s
            .api_tokens(None)
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == dated_id && t.revoked_at.is_none()));
        // Without CSRF: refused.
        let no_csrf = submit(
            &app,
            &viewer,
            "/console/tokens",
            &[("name", "x"), ("scope", "read")],
        )
        .await;
        assert_eq!(no_csrf.status, 403);
        app.stop().await;
    }
}

/// The expiry stored for token `id`.
async fn token_expiry(s: &Store, id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    s.api_token(id).await.unwrap().unwrap().token.expires_at
}

#[tokio::test]
async fn an_admin_makes_a_service_accounts_token_and_sees_everyones() {
    for backend in backends() {
        let app = app(backend).await;
        let (_owner, _) = signed_in_as(&app, "owner").await;
        let svc = add_service(&app, "deploy-bot", "responder").await;
        add_service(&app, "<i>sneaky</i>", "viewer").await;
        let (admin, csrf) = signed_in_as(&app, "admin").await;
        let (_responder, _) = signed_in_as(&app, "responder").await;

        let page = get(&app, &admin, "/console/tokens").await;
        assert!(
            page.text
                .contains("deploy-bot (service account, responder)"),
            "{}",
            page.text
        );
        let minted = submit(
            &app,
            &admin,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "deploys"),
                ("scope", "responder"),
                ("owner", &svc),
            ],
        )
        .await;
        assert_eq!(minted.status, 201, "{backend:?}: {}", minted.text);
        assert!(
            minted.text.contains("owned by deploy-bot"),
            "{}",
            minted.text
        );
        let token = shown_token(&minted);
        let body = serde_json::json!({"name": "Deploy went wrong", "body": "Rolling back."});
        let created = http::post(&app, "/api/v1/incidents", Some(&token), &body).await;
        assert_eq!(created.status, 201, "{backend:?}: {created:?}");

        // A scope wider than the service account's role is refused.
        let wider = submit(
            &app,
            &admin,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "wide"),
                ("scope", "admin"),
                ("owner", &svc),
            ],
        )
        .await;
        assert_eq!(wider.status, 422, "{backend:?}: {}", wider.text);

        // A person's tokens are their own: not even an admin makes one for them.
        let responder = id_of(&app, "responder@acme.test").await;
        let theirs = submit(
            &app,
            &admin,
            "/console/tokens",
            &[
                ("csrf", &csrf),
                ("name", "for you"),
                ("scope", "read"),
                ("owner", &responder),
            ],
        )
        .await;
        assert_eq!(theirs.status, 403, "{backend:?}: {}", theirs.text);

        // The admin sees everyone's tokens, with their owner.
        let page = get(&app, &admin, "/console/tokens").await;
        assert!(
            page.text.contains("Everyone&#39;s tokens") || page.text.contains("Everyone's tokens"),
            "{}",
            page.text
        );
        assert!(page.text.contains("deploys") && page.text.contains("deploy-bot"));

        // An API token still cannot mint.
        let body = serde_json::json!({"name": "heir", "owner": svc, "scope": "read"});
        let refused = http::post(&app, "/api/v1/tokens", Some(&token), &body).await;
        assert_eq!(refused.status, 403, "{backend:?}: {refused:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_audit_log_shows_the_trail_newest_first_with_filters_and_pages() {
    for backend in backends() {
        let app = app(backend).await;
        let (owner, _) = signed_in_as(&app, "owner").await;
        let owner_id = id_of(&app, "owner@acme.test").await;
        let s = store(&app).await;
        // The owner reads times in Paris.
        s.update_user(
            &owner_id,
            &UserPatch {
                time_zone: Some("Europe/Paris".into()),
                ..UserPatch::default()
            },
            chrono::Utc::now(),
            &setup("test.setup"),
        )
        .await
        .unwrap()
        .unwrap();
        for i in 0..55 {
            let mut e = setup("robot.poke");
            e.actor_name = "Robot <r>".into();
            e.subject = Some(format!("thing-{i}"));
            e.before = Some(r#"{"state":"old","same":1}"#.into());
            e.after = Some(r#"{"state":"<new>","same":1}"#.into());
            e.request_id = Some("req-abc".into());
            e.address = Some("192.0.2.7".into());
            s.append_audit(&e).await.unwrap();
        }

        let page = get(&app, &owner, "/console/audit").await;
        assert_eq!(page.status, 200, "{backend:?}: {}", page.text);
        assert!(page.text.contains(r#"aria-current="page">Audit log"#));
        assert_plain(&page);
        assert!(page.text.contains("Robot &#60;r&#62;") && !page.text.contains("Robot <r>"));
        assert!(page.text.contains("automation"));
        assert!(page.text.contains("req-abc") && page.text.contains("192.0.2.7"));
        assert!(
            page.text.contains("CET") || page.text.contains("CEST"),
            "Paris time: {}",
            page.text
        );
        // The diff names the changed key only; both documents are in <details>.
        assert!(
            page.text.contains("state: <del>&#34;old&#34;</del>"),
            "{}",
            page.text
        );
        assert!(!page.text.contains("same: "), "{}", page.text);
        assert!(page.text.contains("<details>"));
        // Newest first: thing-54 before thing-5.
        let newest = page.text.find("thing-54").unwrap();
        let older = page.text.find("thing-10<").unwrap();
        assert!(newest < older);
        assert!(!page.text.contains("thing-4<"), "page one holds 50");
        let next = page.text.find("Older entries").expect("an older page");
        let href_start = page.text[..next].rfind("href=\"").unwrap() + 6;
        let href = page.text[href_start..next]
            .split('"')
            .next()
            .unwrap()
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        let page2 = get(&app, &owner, &href).await;
        assert_eq!(page2.status, 200, "{href}");
        assert!(page2.text.contains("thing-4<"), "{}", page2.text);
        assert!(!page2.text.contains("thing-54"));

        // Filters: the action's prefix, the actor, a date; the older page keeps them.
        let robots = get(&app, &owner, "/console/audit?kind=robot.").await;
        assert!(!robots.text.contains("<code>signin</code>"));
        assert!(
            robots.text.contains("kind=robot.&#38;before=")
                || robots.text.contains("kind=robot.&amp;before="),
            "{}",
            robots.text
        );
        assert!(
            robots.text.contains(r#"value="robot.""#),
            "the form shows the filter"
        );
        let filtered = get(&app, &owner, "/console/audit?kind=signin&actor=&since=").await;
        assert_eq!(filtered.status, 200);
        assert!(filtered.text.contains("Owner Person") && !filtered.text.contains("robot.poke"));
        let by_actor = get(&app, &owner, &format!("/console/audit?actor={owner_id}")).await;
        assert!(
            by_actor.text.contains("<code>signin</code>") && !by_actor.text.contains("robot.poke")
        );
        let later = (chrono::Utc::now() + chrono::TimeDelta::days(2)).date_naive();
        let none = get(&app, &owner, &format!("/console/audit?since={later}")).await;
        assert!(none.text.contains("No entries"), "{}", none.text);
        let bad = get(&app, &owner, "/console/audit?since=yesterday").await;
        assert_eq!(bad.status, 422);
        assert!(bad.text.contains("YYYY-MM-DD"));

        // An admin reads it too; a responder may not.
        let (admin, _) = signed_in_as(&app, "admin").await;
        assert_eq!(get(&app, &admin, "/console/audit").await.status, 200);
        let (responder, _) = signed_in_as(&app, "responder").await;
        let refused = get(&app, &responder, "/console/audit").await;
        assert_eq!(refused.status, 403);
        let denied = audit(&app, "access.denied").await;
        assert_eq!(denied[0].record.actor_name, "Responder Person");
        app.stop().await;
    }
}
