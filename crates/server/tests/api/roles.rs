//! Who may call which admin route (SPEC §9), tested route by route through the real router:
//! one API token per role and scope, each stored as the console will store them, tried on
//! every operation of the OpenAPI document. A token whose grant lacks the route's permission
//! gets 403 naming what it needs; one that has it gets past the check (to a 404, 400 or 415
//! for the made-up id and empty body, never a change). The table below restates SPEC §9 for
//! each route, and every operation in the document must be in it, so a new route cannot
//! ship without a decision.

use std::collections::BTreeSet;

use chrono::Utc;
use pharos_domain::access::{Permission, Role, Scope};
use pharos_engine::people::mint_token;
use pharos_store::{
    ActorKind, ApiTokenRecord, AuditFilter, AuditRecord, Store, UserKind, UserPatch, UserRecord,
};
use pharos_testkit::{spawn_app, FakeTarget};
use reqwest::Method;
use serde_json::Value;

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";

/// SPEC §9, route by route.
const EXPECTED: &[(&str, &str, Permission)] = &[
    ("GET", "/api/v1/alerts", Permission::Read),
    ("GET", "/api/v1/changes", Permission::Read),
    ("POST", "/api/v1/changes", Permission::Ingest),
    ("GET", "/api/v1/changes/{id}", Permission::Read),
    ("GET", "/api/v1/cluster", Permission::Read),
    ("GET", "/api/v1/components", Permission::Read),
    (
        "PUT",
        "/api/v1/components/{id}/override",
        Permission::Respond,
    ),
    (
        "DELETE",
        "/api/v1/components/{id}/override",
        Permission::Respond,
    ),
    ("GET", "/api/v1/coverage", Permission::Read),
    ("GET", "/api/v1/deliveries", Permission::Read),
    ("POST", "/api/v1/deliveries/{id}/retry", Permission::Operate),
    ("GET", "/api/v1/incidents", Permission::Read),
    ("POST", "/api/v1/incidents", Permission::Communicate),
    ("GET", "/api/v1/incidents/{id}", Permission::Read),
    ("PATCH", "/api/v1/incidents/{id}", Permission::Communicate),
    (
        "POST",
        "/api/v1/incidents/{id}/updates",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/notes",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/acknowledge",
        Permission::Respond,
    ),
    ("GET", "/api/v1/incidents/{id}/postmortem", Permission::Read),
    (
        "PUT",
        "/api/v1/incidents/{id}/postmortem",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/postmortem/publish",
        Permission::Communicate,
    ),
    ("POST", "/api/v1/ingest/alertmanager", Permission::Ingest),
    ("POST", "/api/v1/ingest/grafana", Permission::Ingest),
    ("GET", "/api/v1/locations", Permission::Read),
    ("GET", "/api/v1/maintenances", Permission::Read),
    ("POST", "/api/v1/maintenances", Permission::Communicate),
    ("GET", "/api/v1/maintenances/{id}", Permission::Read),
    (
        "PATCH",
        "/api/v1/maintenances/{id}",
        Permission::Communicate,
    ),
    (
        "POST",
        "/api/v1/maintenances/{id}/updates",
        Permission::Communicate,
    ),
    ("GET", "/api/v1/monitors", Permission::Read),
    ("GET", "/api/v1/monitors/{id}", Permission::Read),
    ("GET", "/api/v1/reports", Permission::Read),
    ("GET", "/api/v1/self-check", Permission::Read),
    ("GET", "/api/v1/subscribers", Permission::Read),
    ("DELETE", "/api/v1/subscribers/{id}", Permission::Operate),
    ("GET", "/api/v1/tokens", Permission::Read),
    ("POST", "/api/v1/tokens", Permission::Read),
    ("DELETE", "/api/v1/tokens/{id}", Permission::Read),
    ("GET", "/api/v1/audit", Permission::Administer),
    ("GET", "/api/v1/users", Permission::Read),
    ("POST", "/api/v1/users", Permission::Administer),
    ("PATCH", "/api/v1/users/{id}", Permission::Administer),
    (
        "POST",
        "/api/v1/users/{id}/sign-out",
        Permission::Administer,
    ),
];

/// A system entry for the audit trail of what the test sets up.
fn setup(action: &str) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
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

/// A user of `role` owning a token of `scope`; the token as shown once.
async fn token(store: &Store, user: &str, role: Role, scope: Scope) -> String {
    let now = Utc::now();
    if store.user(user).await.unwrap().is_none() {
        let u = UserRecord::new(user, UserKind::Person, user, role, now);
        store
            .add_user(&u, &setup("user.add"))
            .await
            .unwrap()
            .unwrap();
    }
    let minted = mint_token();
    let record = ApiTokenRecord {
        id: minted.id.clone(),
        secret_hash: minted.secret_hash.clone(),
        name: format!("{user}-{}", scope.as_str()),
        owner_id: user.into(),
        created_by: user.into(),
        scope,
        created_at: now,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_token(&record, &setup("token.create"))
        .await
        .unwrap()
        .unwrap();
    minted.shown_once
}

#[tokio::test]
async fn every_route_lets_exactly_the_roles_of_its_permission_through() {
    let target = FakeTarget::start().await;
    let app = spawn_app(
        &Config::acme()
            .admin("ops", ADMIN)
            .component("api", "API")
            .http_monitor("api-health", &format!("{}/", target.url), "api")
            .build(),
    )
    .await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let mut grants: Vec<(Scope, String)> = Vec::new();
    for role in Role::ALL {
        let user = format!("usr_{}", role.as_str());
        grants.push((
            Scope::Role(role),
            token(&store, &user, role, Scope::Role(role)).await,
        ));
    }
    grants.push((
        Scope::Ingest,
        token(&store, "usr_responder", Role::Responder, Scope::Ingest).await,
    ));
    grants.push((
        Scope::Read,
        token(&store, "usr_responder", Role::Responder, Scope::Read).await,
    ));

    // Every documented operation has a row here (and nothing here is undocumented).
    let doc = app.get_json("/api/v1/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    documented.remove(&("GET".to_owned(), "/api/v1/openapi.json".to_owned()));
    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected, "the document and this table disagree");

    let client = reqwest::Client::new();
    let mut checked = 0;
    for (method, path, permission) in EXPECTED {
        // The cluster route is served by a node itself, which takes configured tokens only.
        if *path == "/api/v1/cluster" {
            continue;
        }
        let url = format!("{}{}", app.base_url, path.replace("{id}", "nope"));
        for (scope, token) in &grants {
            let r = client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if scope.may(*permission) {
                assert!(
                    status != 403 && status != 401,
                    "{method} {path} with a {} token: {status} {body}",
                    scope.as_str()
                );
            } else {
                assert_eq!(
                    status,
                    403,
                    "{method} {path} with a {} token: {body}",
                    scope.as_str()
                );
                let message = body["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(permission.label())
                        && message.contains(permission.least_role().as_str()),
                    "{message}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, (EXPECTED.len() - 1) * grants.len());
}

#[tokio::test]
async fn a_revoked_expired_or_disowned_token_is_refused_like_an_unknown_one() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let get = |token: String| {
        let url = format!("{}/api/v1/incidents", app.base_url);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    let good = token(&store, "usr_a", Role::Viewer, Scope::Read).await;
    assert_eq!(get(good.clone()).await, 200);
    // Its use is recorded.
    let id = pharos_engine::people::parse_token(&good)
        .unwrap()
        .0
        .to_owned();
    let used = store.api_token(&id).await.unwrap().unwrap();
    assert!(used.token.last_used_at.is_some());

    // A wrong secret for a real id, and a token never issued.
    let wrong = format!("{}x", &good[..good.len() - 1]);
    let wrong = if wrong == good {
        format!("{}y", &good[..good.len() - 1])
    } else {
        wrong
    };
    assert_eq!(get(wrong).await, 401);
    assert_eq!(get(mint_token().shown_once).await, 401);

    // Revoked.
    store
        .revoke_api_token(&id, Utc::now(), &setup("token.revoke"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(good).await, 401);

    // Its owner disabled.
    let other = token(&store, "usr_b", Role::Viewer, Scope::Read).await;
    assert_eq!(get(other.clone()).await, 200);
    let patch = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    store
        .update_user("usr_b", &patch, Utc::now(), &setup("user.disable"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(other).await, 401);

    // Expired: a token whose `expires_at` has passed.
    let minted = mint_token();
    let expired = ApiTokenRecord {
        id: minted.id.clone(),
        secret_hash: minted.secret_hash.clone(),
        name: "expired".into(),
        owner_id: "usr_a".into(),
        created_by: "usr_a".into(),
        scope: Scope::Read,
        created_at: Utc::now() - chrono::TimeDelta::hours(2),
        expires_at: Some(Utc::now() - chrono::TimeDelta::seconds(1)),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_token(&expired, &setup("token.create"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(minted.shown_once).await, 401);
}

/// `method path` with `token` and an optional JSON body: the status and the JSON answer.
async fn call(
    app: &pharos_testkit::TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base_url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_are_minted_once_scoped_to_their_owner_listed_without_secrets_and_revoked() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let now = Utc::now();
    let ci = UserRecord::new("svc_ci", UserKind::Service, "CI", Role::Responder, now);
    store
        .add_user(&ci, &setup("user.add"))
        .await
        .unwrap()
        .unwrap();

    // A configured token mints an ingest token for the CI's service account.
    let (status, minted) = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        ADMIN,
        Some(serde_json::json!({"name": "alertmanager", "owner": "svc_ci", "scope": "ingest"})),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pht_"), "{minted}");
    assert_eq!(minted["scope"], "ingest");
    assert_eq!(minted["owner"], "svc_ci");
    // It ingests, and does nothing else.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/ingest/alertmanager",
        &token,
        Some(serde_json::json!({"alerts": []})),
    )
    .await;
    assert_ne!(status, 401);
    assert_ne!(status, 403);
    let (status, body) = call(&app, Method::GET, "/api/v1/incidents", &token, None).await;
    assert_eq!(status, 403, "{body}");
    // Used beyond its scope, it is refused and the attempt is in the trail, as the token's.
    let store = pharos_store::Store::connect(&app.db.url).await.unwrap();
    let denied = store
        .audit(&pharos_store::AuditFilter {
            action_prefix: Some("access.denied".into()),
            ..pharos_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].record.actor_kind, pharos_store::ActorKind::Token);
    assert_eq!(
        denied[0].record.subject.as_deref(),
        Some("GET /api/v1/incidents")
    );
    // An API token never mints tokens.
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        &token,
        Some(serde_json::json!({"name": "heir", "owner": "svc_ci", "scope": "ingest"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Refusals name the field, and store nothing.
    for (body, field) in [
        (
            serde_json::json!({"name": "x", "owner": "svc_ci", "scope": "admin"}),
            "scope",
        ),
        (
            serde_json::json!({"name": "x", "owner": "nobody", "scope": "read"}),
            "owner",
        ),
        (
            serde_json::json!({"name": "", "owner": "svc_ci", "scope": "read"}),
            "name",
        ),
        (
            serde_json::json!({"name": "x", "owner": "svc_ci", "scope": "root"}),
            "scope",
        ),
        (
            serde_json::json!({"name": "x", "owner": "svc_ci", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (status, answer) = call(
            &app,
            Method::POST,
            "/api/v1/tokens",
            ADMIN,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }

    // Listed without secrets.
    let (status, listed) = call(&app, Method::GET, "/api/v1/tokens", ADMIN, None).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].get("token").is_none() && listed[0].get("secret_hash").is_none());
    assert!(!listed[0].to_string().contains(&token[token.len() - 20..]));
    assert!(listed[0]["last_used_at"].is_string(), "its use is recorded");

    // A viewer's own token sees only its own tokens, and someone else's is not there for it.
    let viewer = self::token(&store, "usr_v", Role::Viewer, Scope::Read).await;
    let (_, mine) = call(&app, Method::GET, "/api/v1/tokens", &viewer, None).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["owner"], "usr_v");
    let ci_id = minted["id"].as_str().unwrap();
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{ci_id}"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Revoked: it stops working at once; revoking again changes nothing.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{ci_id}"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/ingest/alertmanager",
        &token,
        Some(serde_json::json!({"alerts": []})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{ci_id}"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 204);

    // The audit trail has both, by the configured token's name, and no secret.
    let trail = store
        .audit(&AuditFilter {
            action_prefix: Some("token.".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let ours: Vec<(&str, &str)> = trail
        .iter()
        .filter(|e| e.record.subject.as_deref() == Some(ci_id))
        .map(|e| (e.record.action.as_str(), e.record.actor_name.as_str()))
        .collect();
    assert_eq!(ours, [("token.revoke", "ops"), ("token.create", "ops")]);
    for e in &trail {
        let text = format!("{:?}", e.record);
        assert!(
            !text.contains(&token[4..]),
            "a secret in the audit trail: {text}"
        );
    }
}

/// `pharos user add` with `args` on `database`; (exit success, stdout, stderr).
fn user_add(database: &str, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(crate::support::PHAROS)
        .args(["user", "add", "--database", database])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn user_add_makes_the_first_owner_then_people_and_service_accounts_that_own_tokens() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "correct horse battery staple\n").unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "hunter2\n").unwrap();
    let pw = secret.to_str().unwrap();
    let db = app.db.url.as_str();

    // The first person must be an owner.
    let (ok, _, err) = user_add(
        db,
        dir.path(),
        &[
            "--email",
            "bob@example.com",
            "--role",
            "viewer",
            "--password-file",
            pw,
        ],
    );
    assert!(!ok);
    assert!(err.contains("the first user must be an owner"), "{err}");
    let (ok, out, err) = user_add(
        db,
        dir.path(),
        &[
            "--email",
            "Alice@Example.com",
            "--name",
            "Alice",
            "--role",
            "owner",
            "--password-file",
            pw,
            "--time-zone",
            "Europe/Paris",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("added Alice <alice@example.com> as owner (usr_"),
        "{out}"
    );
    // Refusals name the problem and store nothing.
    for (args, says) in [
        (
            vec![
                "--email",
                "alice@example.com",
                "--role",
                "admin",
                "--password-file",
                pw,
            ],
            "already exists",
        ),
        (
            vec![
                "--email",
                "carol@example.com",
                "--role",
                "chief",
                "--password-file",
                pw,
            ],
            "unknown role \"chief\"",
        ),
        (
            vec![
                "--email",
                "not-an-address",
                "--role",
                "viewer",
                "--password-file",
                pw,
            ],
            "is not an e-mail address",
        ),
        (
            vec![
                "--email",
                "dan@example.com",
                "--role",
                "viewer",
                "--password-file",
                short.to_str().unwrap(),
            ],
            "12",
        ),
        (
            vec![
                "--email",
                "erin@example.com",
                "--role",
                "viewer",
                "--password-file",
                pw,
                "--time-zone",
                "Mars/Olympus",
            ],
            "unknown time zone",
        ),
        (vec!["--service", "--role", "responder"], "needs --name"),
        (
            vec!["--email", "frank@example.com", "--role", "viewer"],
            "--password-file or --no-password",
        ),
    ] {
        let (ok, _, err) = user_add(db, dir.path(), &args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (ok, out, err) = user_add(
        db,
        dir.path(),
        &["--service", "--name", "CI", "--role", "responder"],
    );
    assert!(ok, "{err}");
    let svc = out
        .trim()
        .rsplit_once('(')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_owned();
    assert!(svc.starts_with("svc_"), "{out}");
    let (ok, _, err) = user_add(
        db,
        dir.path(),
        &[
            "--email",
            "sso@example.com",
            "--role",
            "viewer",
            "--no-password",
        ],
    );
    assert!(ok, "{err}");

    let store = Store::connect(db).await.unwrap();
    let users = store.users().await.unwrap();
    assert_eq!(users.len(), 3, "{users:?}");
    let alice = store
        .user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.time_zone, "Europe/Paris");
    let hash = alice.password_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"), "stored hashed");
    assert!(pharos_engine::people::verify_password(
        "correct horse battery staple",
        &hash
    ));
    let trail = store
        .audit(&AuditFilter {
            action_prefix: Some("user.add".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(trail.len(), 3);
    assert!(
        trail
            .iter()
            .all(|e| !format!("{:?}", e.record).contains("$argon2")),
        "no hash in the trail"
    );

    // The service account owns a token minted through the API, which ingests.
    let (status, minted) = call(
        &app,
        Method::POST,
        "/api/v1/tokens",
        ADMIN,
        Some(serde_json::json!({"name": "deploys", "owner": svc, "scope": "ingest"})),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/changes",
        minted["token"].as_str().unwrap(),
        Some(serde_json::json!({"component": "nope", "summary": "Deploy 1.2.3"})),
    )
    .await;
    assert_ne!(status, 401, "{body}");
    assert_ne!(status, 403, "{body}");
}

#[tokio::test]
async fn the_audit_trail_is_read_newest_first_filtered_and_paged_by_admins_only() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let now = Utc::now();
    let svc = UserRecord::new("svc_ci", UserKind::Service, "CI", Role::Responder, now);
    store
        .add_user(&svc, &setup("user.add"))
        .await
        .unwrap()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, minted) = call(
            &app,
            Method::POST,
            "/api/v1/tokens",
            ADMIN,
            Some(serde_json::json!({"name": format!("t{i}"), "owner": "svc_ci", "scope": "read"})),
        )
        .await;
        assert_eq!(status, 201, "{minted}");
        ids.push(minted["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/tokens/{}", ids[0]),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 204);

    let (status, all) = call(&app, Method::GET, "/api/v1/audit?kind=token.", ADMIN, None).await;
    assert_eq!(status, 200, "{all}");
    let all = all.as_array().unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "token.revoke",
            "token.create",
            "token.create",
            "token.create"
        ]
    );
    let newest = &all[0];
    assert_eq!(newest["actor"]["kind"], "config_token");
    assert_eq!(newest["actor"]["name"], "ops");
    assert_eq!(newest["subject"], ids[0].as_str());
    assert_eq!(newest["before"]["scope"], "read", "{newest}");
    assert!(newest["before"].get("secret_hash").is_none(), "{newest}");
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );

    // Paged: two at a time, the next page after the last seq.
    let (_, page1) = call(
        &app,
        Method::GET,
        "/api/v1/audit?kind=token.&limit=2",
        ADMIN,
        None,
    )
    .await;
    let last = page1[1]["seq"].as_i64().unwrap();
    let (_, page2) = call(
        &app,
        Method::GET,
        &format!("/api/v1/audit?kind=token.&limit=2&before={last}"),
        ADMIN,
        None,
    )
    .await;
    let paged: Vec<i64> = page1
        .as_array()
        .unwrap()
        .iter()
        .chain(page2.as_array().unwrap())
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(paged, seqs);
    // By actor, and a bad limit named.
    let (_, by_test) = call(&app, Method::GET, "/api/v1/audit?actor=test", ADMIN, None).await;
    assert_eq!(by_test.as_array().unwrap().len(), 1, "{by_test}");
    let (status, bad) = call(&app, Method::GET, "/api/v1/audit?limit=0", ADMIN, None).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (422, Some("limit"))
    );
    let (status, bad) = call(&app, Method::GET, "/api/v1/audit?who=me", ADMIN, None).await;
    assert_eq!(status, 400, "{bad}");

    // Each entry carries its request's id (the client's, when sane, sent back too) and
    // the client's address.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens", app.base_url))
        .bearer_auth(ADMIN)
        .header("X-Request-Id", "deploy-42")
        .json(&serde_json::json!({"name": "traced", "owner": "svc_ci", "scope": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "deploy-42");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens", app.base_url))
        .bearer_auth(ADMIN)
        .header("X-Request-Id", "not ok; <script>")
        .json(&serde_json::json!({"name": "untraced", "owner": "svc_ci", "scope": "read"}))
        .send()
        .await
        .unwrap();
    let fresh = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(fresh.len(), 16, "{fresh}");
    let (_, newest) = call(
        &app,
        Method::GET,
        "/api/v1/audit?kind=token.create&limit=2",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(newest[0]["request_id"], fresh.as_str());
    assert_eq!(newest[1]["request_id"], "deploy-42");
    assert_eq!(newest[1]["address"], "127.0.0.1");

    // A responder may not read it.
    let responder = self::token(
        &store,
        "usr_r",
        Role::Responder,
        Scope::Role(Role::Responder),
    )
    .await;
    let (status, body) = call(&app, Method::GET, "/api/v1/audit", &responder, None).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn each_change_a_person_makes_is_in_the_audit_trail_with_before_and_after() {
    let target = FakeTarget::start().await;
    let app = spawn_app(
        &Config::acme()
            .admin("ops", ADMIN)
            .component("api", "API")
            .http_monitor("api-health", &format!("{}/", target.url), "api")
            .build(),
    )
    .await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let responder = self::token(
        &store,
        "usr_rita",
        Role::Responder,
        Scope::Role(Role::Responder),
    )
    .await;

    let (status, incident) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        &responder,
        Some(serde_json::json!({"name": "Elevated errors", "body": "Investigating.", "components": {"api": "partial_outage"}})),
    )
    .await;
    assert_eq!(status, 201, "{incident}");
    let id = incident["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/incidents/{id}");
    let steps = [
        (
            Method::POST,
            format!("{path}/updates"),
            serde_json::json!({"status": "identified", "body": "A bad deploy."}),
        ),
        (
            Method::POST,
            format!("{path}/notes"),
            serde_json::json!({"body": "Rolled back at 10:02."}),
        ),
        (
            Method::PATCH,
            path.clone(),
            serde_json::json!({"severity": "S2"}),
        ),
        (
            Method::PUT,
            format!("{path}/postmortem"),
            serde_json::json!({"root_cause": "A bad deploy."}),
        ),
        (
            Method::PUT,
            format!("{path}/postmortem"),
            serde_json::json!({"root_cause": "A bad deploy of the API."}),
        ),
        (
            Method::PUT,
            "/api/v1/components/api/override".to_owned(),
            serde_json::json!({"status": "degraded_performance"}),
        ),
        (
            Method::DELETE,
            "/api/v1/components/api/override".to_owned(),
            Value::Null,
        ),
        (
            Method::POST,
            "/api/v1/maintenances".to_owned(),
            serde_json::json!({"name": "DB upgrade", "body": "Upgrading.", "components": ["api"], "scheduled_for": "2030-05-01T02:00:00Z", "scheduled_until": "2030-05-01T03:00:00Z"}),
        ),
    ];
    for (method, path, body) in steps {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = call(&app, method.clone(), &path, &responder, body).await;
        assert!(status < 300, "{method} {path}: {status} {answer}");
    }
    // Refused changes leave nothing: an unknown incident, and a viewer.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/incidents/nope/updates",
        &responder,
        Some(serde_json::json!({"status": "identified", "body": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let viewer = self::token(&store, "usr_vic", Role::Viewer, Scope::Read).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/incidents",
        &viewer,
        Some(serde_json::json!({"name": "x", "body": "x"})),
    )
    .await;
    assert_eq!(status, 403);

    let (status, trail) = call(
        &app,
        Method::GET,
        "/api/v1/audit?actor=usr_rita",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{trail}");
    let trail = trail.as_array().unwrap();
    let actions: Vec<&str> = trail
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "incident.create",
            "incident.update",
            "incident.note",
            "incident.edit",
            "postmortem.save",
            "postmortem.save",
            "override.set",
            "override.clear",
            "maintenance.create"
        ],
        "{trail:?}"
    );
    let by_action = |a: &str| trail.iter().find(|e| e["action"] == a).unwrap();
    // The newest postmortem save says what it replaced.
    let saved = by_action("postmortem.save");
    assert_eq!(saved["subject"], id.as_str());
    assert_eq!(saved["before"]["root_cause"], "A bad deploy.", "{saved}");
    assert_eq!(
        saved["after"]["root_cause"], "A bad deploy of the API.",
        "{saved}"
    );
    let created = by_action("incident.create");
    assert_eq!(created["subject"], id.as_str());
    assert!(created["before"].is_null());
    assert_eq!(created["after"]["name"], "Elevated errors");
    assert_eq!(created["actor"]["kind"], "token");
    assert_eq!(created["actor"]["name"], "usr_rita");
    assert_eq!(created["address"], "127.0.0.1");
    assert!(created["request_id"].is_string());
    let update = by_action("incident.update");
    assert_eq!(update["before"]["status"], "investigating", "{update}");
    assert_eq!(update["after"]["status"], "identified", "{update}");
    let set = by_action("override.set");
    assert_eq!(set["subject"], "api");
    assert_eq!(set["after"]["status"], "degraded_performance", "{set}");
    let cleared = by_action("override.clear");
    assert_eq!(
        cleared["before"]["status"], "degraded_performance",
        "{cleared}"
    );
    assert!(cleared["after"].is_null());
    assert!(by_action("maintenance.create")["subject"].is_string());
}

#[tokio::test]
async fn people_are_managed_through_the_api_within_their_managers_role_and_one_owner_stays() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    let now = Utc::now();
    let mut owner = UserRecord::new("usr_olga", UserKind::Person, "Olga", Role::Owner, now);
    owner.email = Some("olga@example.com".into());
    owner.password_hash =
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into());
    store
        .add_user(&owner, &setup("user.add"))
        .await
        .unwrap()
        .unwrap();

    // A configured token (an owner) adds an admin, whose own token then manages others.
    let (status, adam) = call(&app, Method::POST, "/api/v1/users", ADMIN,
        Some(serde_json::json!({"email": "Adam@Example.com", "role": "admin", "time_zone": "Europe/Paris"}))).await;
    assert_eq!(status, 201, "{adam}");
    assert_eq!(adam["email"], "adam@example.com");
    assert_eq!(adam["name"], "adam");
    let adam_id = adam["id"].as_str().unwrap().to_owned();
    let adam_token = {
        let (status, minted) = call(
            &app,
            Method::POST,
            "/api/v1/tokens",
            ADMIN,
            Some(serde_json::json!({"name": "adam", "owner": adam_id, "scope": "admin"})),
        )
        .await;
        assert_eq!(status, 201, "{minted}");
        minted["token"].as_str().unwrap().to_owned()
    };
    let (status, rita) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        &adam_token,
        Some(serde_json::json!({"email": "rita@example.com", "name": "Rita", "role": "responder"})),
    )
    .await;
    assert_eq!(status, 201, "{rita}");
    let rita_id = rita["id"].as_str().unwrap().to_owned();
    // An admin makes no owner and touches no owner.
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        &adam_token,
        Some(serde_json::json!({"email": "eve@example.com", "role": "owner"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        "/api/v1/users/usr_olga",
        &adam_token,
        Some(serde_json::json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{rita_id}"),
        &adam_token,
        Some(serde_json::json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Refusals name the field.
    for (body, field) in [
        (
            serde_json::json!({"email": "x@example.com", "role": "chief"}),
            "role",
        ),
        (
            serde_json::json!({"email": "nope", "role": "viewer"}),
            "email",
        ),
        (
            serde_json::json!({"email": "rita@example.com", "role": "viewer"}),
            "email",
        ),
        (
            serde_json::json!({"kind": "service", "role": "viewer"}),
            "name",
        ),
        (
            serde_json::json!({"email": "y@example.com", "role": "viewer", "time_zone": "Mars/Base"}),
            "time_zone",
        ),
    ] {
        let (status, answer) = call(
            &app,
            Method::POST,
            "/api/v1/users",
            ADMIN,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (422, Some(field)),
            "{body} → {answer}"
        );
    }

    // The last enabled owner stays one.
    let (status, body) = call(
        &app,
        Method::PATCH,
        "/api/v1/users/usr_olga",
        ADMIN,
        Some(serde_json::json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last enabled owner"),
        "{body}"
    );
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/api/v1/users/usr_olga",
        ADMIN,
        Some(serde_json::json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 409);
    // Both refusals are in the trail, with what was asked and why.
    let refused = store
        .audit(&AuditFilter {
            action_prefix: Some("user.refused".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].record.subject.as_deref(), Some("usr_olga"));
    assert!(
        refused[1]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("last enabled owner"),
        "{refused:?}"
    );

    // Disabled: their token stops working at once; enabled again, it works.
    let rita_token = self::token(
        &store,
        &rita_id,
        Role::Responder,
        Scope::Role(Role::Responder),
    )
    .await;
    assert_eq!(
        call(&app, Method::GET, "/api/v1/incidents", &rita_token, None)
            .await
            .0,
        200
    );
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{rita_id}"),
        &adam_token,
        Some(serde_json::json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["disabled_at"].is_string());
    assert_eq!(
        call(&app, Method::GET, "/api/v1/incidents", &rita_token, None)
            .await
            .0,
        401
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{rita_id}/sign-out"),
        &adam_token,
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Listed without secrets; a viewer may list.
    let viewer = self::token(&store, "usr_vera", Role::Viewer, Scope::Read).await;
    let (status, users) = call(&app, Method::GET, "/api/v1/users", &viewer, None).await;
    assert_eq!(status, 200);
    let text = users.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password_hash"),
        "{text}"
    );
    let olga = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "usr_olga")
        .unwrap();
    assert_eq!(
        (olga["role"].as_str(), olga["password"].as_bool()),
        (Some("owner"), Some(true))
    );
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/users",
        &viewer,
        Some(serde_json::json!({"email": "z@example.com", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 403);

    // The trail has each change, by whom.
    let (_, trail) = call(&app, Method::GET, "/api/v1/audit?kind=user.", ADMIN, None).await;
    let seen: Vec<(String, String)> = trail
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let adam_name = "adam".to_owned();
    assert!(
        seen.contains(&("user.add".to_owned(), "ops".to_owned())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("user.add".to_owned(), adam_name.clone())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("user.disable".to_owned(), adam_name.clone())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("user.sign_out".to_owned(), adam_name)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn guessing_admin_tokens_is_slowed_per_address() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    for _ in 0..10 {
        let (status, _) = call(
            &app,
            Method::GET,
            "/api/v1/incidents",
            &mint_token().shown_once,
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/incidents", app.base_url))
        .bearer_auth(mint_token().shown_once)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The right token from that address waits too, for now; another address does not.
    assert_eq!(
        call(&app, Method::GET, "/api/v1/incidents", ADMIN, None)
            .await
            .0,
        429
    );
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .build()
        .unwrap();
    let r = elsewhere
        .get(format!("{}/api/v1/incidents", app.base_url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn user_add_uses_the_configurations_database_as_serve_does() {
    let app = spawn_app(&Config::acme().admin("ops", ADMIN).build()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pharos.toml");
    std::fs::write(
        &config,
        format!("[storage]\nurl = \"{}\"\n", app.db.url.replace('"', "\\\"")),
    )
    .unwrap();
    std::fs::write(dir.path().join("pw"), "a long enough password").unwrap();
    let out = std::process::Command::new(crate::support::PHAROS)
        .args(["user", "add", "--config"])
        .arg(&config)
        .args([
            "--email",
            "cfg@acme.test",
            "--role",
            "owner",
            "--password-file",
            "pw",
        ])
        .current_dir(dir.path())
        .env_remove("PHAROS_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::connect(&app.db.url).await.unwrap();
    let users = store.users().await.unwrap();
    assert!(
        users
            .iter()
            .any(|u| u.email.as_deref() == Some("cfg@acme.test")),
        "{users:?}"
    );
    assert!(
        !dir.path().join("pharos-data").exists(),
        "it wrote to the default database instead"
    );
}
