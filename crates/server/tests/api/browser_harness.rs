//! The browser and sign-in harness in `tests/browser` (issue 16), run against what exists: real
//! Chromium driven by `playwright-core` over the real app's public pages (the page's name,
//! axe-core with no serious or critical violation, every control reachable with Tab), and the
//! real OpenID provider (`oidc-provider`) through a whole authorization-code + PKCE sign-in in
//! the browser. The console runs the same way: a team through an incident, a person setting up
//! and using two-step sign-in (TOTP and recovery codes), and single sign-on through the real
//! provider, each checked afterwards in the store's audit log.
//!
//! Needs Node.js 20.19 or later (`node` on the PATH, or `PHAROS_TEST_NODE`), the harness's
//! packages (`npm ci` in `tests/browser`, which `.ci/run` does before exporting
//! `PHAROS_TEST_NODE_MODULES`) and Chromium (`PHAROS_TEST_CHROMIUM`, or `chromium` on the
//! PATH). Without them the tests print `SKIPPED …` with what is missing and pass, except under
//! CI (`CI` set) or when `PHAROS_TEST_NODE_MODULES` says the harness was installed, where a
//! missing piece fails them.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_server::{App, Settings};
use pharos_store::{AuditEntry, AuditFilter, Store};
use pharos_testkit::{
    eventually, parse_config, spawn_app, Backend, FakeSmtp, FakeTarget, TestApp, TestDb,
};
use serde_json::{json, Value};

use crate::support::config::Config;
use crate::support::console::{add_person, browser, get};
use crate::support::free_port;
use crate::support::http::post;
use crate::support::node::{
    given, harness_dir, harness_required, node_problem, on_path, packages_problem, NodeHarness,
    OidcProvider,
};
use crate::support::sso;

const TOKEN: &str = "browser-harness-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);
/// Longest a harness script may run; each stops itself after 90 s, this is the backstop.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(150);

/// The harness: where its scripts are, the Node.js and the Chromium to run them with.
struct Harness {
    dir: PathBuf,
    node: PathBuf,
    chromium: PathBuf,
}

/// The harness, or `None` after saying the test is skipped and why. Under CI, or when
/// `.ci/run` said the harness is installed, a missing piece fails the test instead.
fn harness_or_skip(test: &str) -> Option<Harness> {
    let dir = harness_dir().canonicalize().unwrap();
    let node = given("PHAROS_TEST_NODE").or_else(|| on_path(&["node"]));
    let chromium = given("PHAROS_TEST_CHROMIUM")
        .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]));
    let mut missing = Vec::new();
    match &node {
        None => missing.push("Node.js (`node` on the PATH or PHAROS_TEST_NODE)".to_owned()),
        Some(node) => missing.extend(node_problem(node)),
    }
    missing.extend(packages_problem(&dir));
    if chromium.is_none() {
        missing.push("Chromium (PHAROS_TEST_CHROMIUM or `chromium` on the PATH)".to_owned());
    }
    let required = harness_required(&dir);
    if missing.is_empty() {
        return Some(Harness {
            dir,
            node: node.unwrap(),
            chromium: chromium.unwrap(),
        });
    }
    assert!(
        !required,
        "{test}: the browser harness is incomplete under CI: needs {}; .ci/run installs it all",
        missing.join("; ")
    );
    eprintln!(
        "SKIPPED browser_harness::{test}: needs {} (README, For developers: the browser tests)",
        missing.join("; ")
    );
    None
}

/// A child process killed when dropped, so a failing assertion leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a harness script did.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Ran {
    /// The script's one-line JSON summary (its last line on stdout).
    fn summary(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|_| panic!("no JSON summary:\n{self}"))
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.took, self.stdout, self.stderr
        )
    }
}

/// Runs `node <script>` in the harness with `env`, waiting for its exit until
/// [`SCRIPT_DEADLINE`] (then it is killed and the test fails). Blocking: call it from
/// `spawn_blocking`, so the app in the test's runtime keeps answering the browser.
fn run_script(harness: &Harness, script: &str, env: &[(&str, &str)]) -> Ran {
    let start = Instant::now();
    let mut command = Command::new(&harness.node);
    command
        .arg(harness.dir.join(script))
        .current_dir(&harness.dir)
        .env("PHAROS_TEST_CHROMIUM", &harness.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Only what this test gives: a developer's shell may have these set for running the
    // scripts by hand.
    for k in [
        "PHAROS_URL",
        "PHAROS_PATHS",
        "PHAROS_PAGE_NAME",
        "PHAROS_OWNER",
        "PHAROS_VIEWER",
        "PHAROS_COMPONENT",
        "PHAROS_MONITOR",
        "PHAROS_CONSOLE_PATHS",
        "PHAROS_PERSON",
        "PHAROS_SSO_LABEL",
        "PHAROS_SSO_USER",
        "PHAROS_SSO_EXPECT",
    ] {
        command.env_remove(k);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = Running(command.spawn().unwrap());
    // Read both pipes while the script runs, so neither fills up and blocks it.
    let mut out = child.0.stdout.take().unwrap();
    let mut err = child.0.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > SCRIPT_DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(child);
    let ran = Ran {
        ok: status.is_some_and(|s| s.success()),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        took: start.elapsed(),
    };
    assert!(
        status.is_some(),
        "{script} did not finish within {SCRIPT_DEADLINE:?} and was killed\n{ran}"
    );
    ran
}

/// A page like the example's: a group of components checked for real, an e-mail server (so
/// the subscribe form has its e-mail field), and a published incident with a Markdown update.
fn config(target: &str, smtp: &FakeSmtp) -> String {
    Config::new()
        .page("example", "Example Inc.")
        .with(r#"time_zone = "Europe/Berlin""#)
        .admin("ops", TOKEN)
        .smtp(smtp)
        .component("website", "Website")
        .with(r#"group = "Customer-facing""#)
        .component("search", "Search")
        .with(r#"group = "Customer-facing""#)
        .with(r#"description = "Full-text search across the catalogue""#)
        .component("db", "Database")
        .with(r#"group = "Infrastructure""#)
        .http_monitor("website-home", &format!("{target}/"), "website")
        .http_monitor("search-health", &format!("{target}/search"), "search")
        .http_monitor("db-health", &format!("{target}/db"), "db")
        .build()
}

/// The console's pages the browser test checks besides those it acts on (once they exist).
const CONSOLE_PATHS: &str =
    "/console/changes,/console/subscribers,/console/deliveries,/console/reports";

#[tokio::test]
async fn a_team_runs_an_incident_in_the_console_in_chromium() {
    let Some(harness) = harness_or_skip("a_team_runs_an_incident_in_the_console_in_chromium")
    else {
        return;
    };
    let target = FakeTarget::start().await;
    let smtp = FakeSmtp::start().await;
    let app = spawn_app(&config(&target.url, &smtp)).await;
    const PASSWORD: &str = "correct horse battery staple";
    crate::support::console::add_person(
        &app,
        "owner@example.test",
        "Olive Owner",
        "owner",
        PASSWORD,
    )
    .await;
    crate::support::console::add_person(
        &app,
        "viewer@example.test",
        "Vic Viewer",
        "viewer",
        PASSWORD,
    )
    .await;
    let base = app.base_url.clone();
    let owner = format!("owner@example.test:{PASSWORD}");
    let viewer = format!("viewer@example.test:{PASSWORD}");
    let ran = tokio::task::spawn_blocking(move || {
        run_script(
            &harness,
            "console.spec.mjs",
            &[
                ("PHAROS_URL", &base),
                ("PHAROS_OWNER", &owner),
                ("PHAROS_VIEWER", &viewer),
                ("PHAROS_COMPONENT", "search"),
                ("PHAROS_MONITOR", "search-health"),
                ("PHAROS_CONSOLE_PATHS", CONSOLE_PATHS),
            ],
        )
    })
    .await
    .unwrap();
    assert!(ran.ok, "console.spec.mjs failed {ran}");
    let summary = ran.summary();
    assert_eq!(summary["ok"], true, "{ran}");
    eprintln!("console.spec.mjs: {summary}");
    // What the browser did is in the store: the incident it declared, as the owner's.
    let store = pharos_store::Store::connect(&app.db.url).await.unwrap();
    let created = store
        .audit(&pharos_store::AuditFilter {
            action_prefix: Some("incident.create".into()),
            ..pharos_store::AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(
        created.iter().any(|e| e.record.actor_name == "Olive Owner"),
        "{created:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_public_pages_pass_the_browser_harness() {
    let Some(harness) = harness_or_skip("the_public_pages_pass_the_browser_harness") else {
        return;
    };
    let target = FakeTarget::start().await;
    let smtp = FakeSmtp::start().await;
    let app = spawn_app(&config(&target.url, &smtp)).await;
    let created = post(
        &app,
        "/api/v1/incidents",
        Some(TOKEN),
        &json!({
            "name": "Slow search results",
            "body": "We are **looking into** slow searches.\n\n- results take up to 10 s\n- [details](https://example.com/status)",
            "components": {"search": "degraded_performance"},
            "impact": "minor",
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();
    // The page the browser loads is the one the test set up: every monitor has been checked
    // and the incident is on it.
    eventually(
        WAIT,
        "every monitor checked and the incident shown",
        || async {
            let metrics = app.get("/metrics").await.text().await.ok()?;
            let checked = ["website-home", "search-health", "db-health"]
                .iter()
                .all(|m| {
                    metrics.lines().any(|l| {
                        l.starts_with("pharos_checks_total")
                            && l.contains(&format!("monitor=\"{m}\""))
                            && l.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()) >= Some(1.0)
                    })
                });
            let page = app.get("/").await.text().await.ok()?;
            (checked && page.contains("Slow search results")).then_some(())
        },
    )
    .await;

    let base = app.base_url.clone();
    let paths = format!("/,/history,/incidents/{id}");
    let ran = tokio::task::spawn_blocking(move || {
        run_script(
            &harness,
            "public-page.spec.mjs",
            &[("PHAROS_URL", &base), ("PHAROS_PATHS", &paths)],
        )
    })
    .await
    .unwrap();
    assert!(ran.ok, "public-page.spec.mjs failed {ran}");
    let summary = ran.summary();
    assert_eq!(summary["ok"], true, "{ran}");
    assert_eq!(summary["page_name"], "Example Inc.", "{ran}");
    assert_eq!(summary["pages"].as_array().unwrap().len(), 3, "{ran}");
    eprintln!("public-page.spec.mjs: {summary}");
    app.stop().await;
}

#[tokio::test]
async fn a_real_openid_provider_signs_in_through_chromium() {
    let Some(harness) = harness_or_skip("a_real_openid_provider_signs_in_through_chromium") else {
        return;
    };
    let ran = tokio::task::spawn_blocking(move || run_script(&harness, "oidc-smoke.mjs", &[]))
        .await
        .unwrap();
    assert!(ran.ok, "oidc-smoke.mjs failed {ran}");
    let summary = ran.summary();
    assert_eq!(summary["ok"], true, "{ran}");
    assert_eq!(
        summary["groups"],
        json!({"alice": ["pharos-admins"], "bob": ["pharos-viewers"]}),
        "{ran}"
    );
    eprintln!("oidc-smoke.mjs: {summary}");
}

/// Starts Pharos with `config_toml` on a fresh SQLite database, listening on `port` (chosen
/// beforehand) and published there (`[server] public_url`), for what must know its address
/// before it starts: an OpenID provider's redirect URI.
async fn spawn_app_on_port(port: u16, config_toml: &str) -> TestApp {
    let base_url = format!("http://127.0.0.1:{port}");
    let db = TestDb::new(Backend::Sqlite).await;
    let settings = Settings {
        config: parse_config(&format!(
            "[server]\npublic_url = \"{base_url}\"\n\n{config_toml}"
        )),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        database_url: db.url.clone(),
    };
    let app = App::start(settings).await.unwrap();
    TestApp {
        app,
        db,
        base_url,
        client: reqwest::Client::new(),
    }
}

/// The audit entries of exactly `action`, newest first.
async fn audit(app: &TestApp, action: &str) -> Vec<AuditEntry> {
    Store::connect(&app.db.url)
        .await
        .unwrap()
        .audit(&AuditFilter {
            action_prefix: Some(action.into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == action)
        .collect()
}

/// An entry's `after`, as JSON (`null` when it has none).
fn after(entry: &AuditEntry) -> Value {
    entry
        .record
        .after
        .as_deref()
        .map_or(Value::Null, |a| serde_json::from_str(a).unwrap())
}

#[tokio::test]
async fn a_person_sets_up_two_step_sign_in_and_uses_it_in_chromium() {
    let Some(harness) =
        harness_or_skip("a_person_sets_up_two_step_sign_in_and_uses_it_in_chromium")
    else {
        return;
    };
    // The sealing key from the configuration file, never from the process's environment
    // (tests run in parallel in one process).
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(
        &key,
        "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n",
    )
    .unwrap();
    let app = spawn_app(
        &Config::new()
            .page("example", "Example Inc.")
            .admin("ops", TOKEN)
            .section(&format!(
                "[console]\nsecret_key_file = \"{}\"",
                key.display()
            ))
            .component("website", "Website")
            .build(),
    )
    .await;
    const EMAIL: &str = "ada@example.test";
    const PASSWORD: &str = "correct horse battery staple";
    // The first person is an owner; Ada, a responder, sets it up for herself.
    add_person(&app, "owner@example.test", "Olive Owner", "owner", PASSWORD).await;
    add_person(&app, EMAIL, "Ada Lovelace", "responder", PASSWORD).await;
    let base = app.base_url.clone();
    let person = format!("{EMAIL}:{PASSWORD}");
    let ran = tokio::task::spawn_blocking(move || {
        run_script(
            &harness,
            "totp.spec.mjs",
            &[("PHAROS_URL", &base), ("PHAROS_PERSON", &person)],
        )
    })
    .await
    .unwrap();
    assert!(ran.ok, "totp.spec.mjs failed {ran}");
    let summary = ran.summary();
    assert_eq!(summary["ok"], true, "{ran}");
    assert_eq!(summary["whoami"], "Ada Lovelace · responder", "{ran}");
    assert_eq!(summary["recovery_codes"], 10, "{ran}");
    eprintln!("totp.spec.mjs: {summary}");

    // What the browser did is in the audit log: two-step sign-in turned on by Ada, then a
    // sign-in with the app's code and two with recovery codes (the one refused in between
    // was a used recovery code).
    let enabled = audit(&app, "totp.enable").await;
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    assert_eq!(enabled[0].record.actor_name, "Ada Lovelace");
    assert_eq!(after(&enabled[0])["totp"], true, "{enabled:?}");
    let factors: Vec<Value> = audit(&app, "signin")
        .await
        .iter()
        .rev()
        .map(|e| {
            assert_eq!(e.record.actor_name, "Ada Lovelace");
            after(e)["second_factor"].clone()
        })
        .collect();
    assert_eq!(
        factors,
        [
            Value::Null,
            json!("totp"),
            json!("recovery"),
            json!("recovery")
        ],
        "the sign-ins, oldest first"
    );
    let refused = audit(&app, "signin.failed").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(after(&refused[0])["reason"], "totp");
    assert_eq!(after(&refused[0])["method"], "recovery");
    app.stop().await;
}

#[tokio::test]
async fn a_person_signs_in_with_single_sign_on_in_chromium() {
    let Some(harness) = harness_or_skip("a_person_signs_in_with_single_sign_on_in_chromium") else {
        return;
    };
    // Pharos and the provider each need the other's address (`[server] public_url` makes the
    // redirect URI): both ports are chosen first, two different ones.
    let port = free_port();
    let app_port = std::iter::repeat_with(free_port)
        .find(|p| *p != port)
        .unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let secret = sso::secret_file();
    let app = spawn_app_on_port(
        app_port,
        &Config::new()
            .page("example", "Example Inc.")
            .admin("ops", TOKEN)
            .section(&sso::section(&issuer, secret.path(), false))
            .component("website", "Website")
            .build(),
    )
    .await;
    let mut provider_config =
        sso::provider_config(&format!("{}/console/sso/callback", app.base_url));
    provider_config["port"] = json!(port);
    let node = NodeHarness {
        dir: harness.dir.clone(),
        node: harness.node.clone(),
    };
    let provider = OidcProvider::start(&node, &provider_config);
    assert_eq!(provider.issuer, issuer);
    // Pharos reads the provider's discovery document when single sign-on is first used; the
    // provider was not up when Pharos started.
    eventually(
        WAIT,
        "single sign-on to start once the provider is up",
        || async {
            (get(&app, &browser(), "/console/sso/start").await.status == 303).then_some(())
        },
    )
    .await;

    let base = app.base_url.clone();
    let ran = tokio::task::spawn_blocking(move || {
        run_script(
            &harness,
            "sso.spec.mjs",
            &[
                ("PHAROS_URL", &base),
                ("PHAROS_SSO_LABEL", sso::BUTTON_LABEL),
                ("PHAROS_SSO_USER", "alice:alice-password"),
                // pharos-admins and oncall: the higher role wins.
                ("PHAROS_SSO_EXPECT", "Alice Admin · admin"),
            ],
        )
    })
    .await
    .unwrap();
    assert!(ran.ok, "sso.spec.mjs failed {ran}");
    let summary = ran.summary();
    assert_eq!(summary["ok"], true, "{ran}");
    assert_eq!(summary["provider"], issuer.as_str(), "{ran}");
    eprintln!("sso.spec.mjs: {summary}");

    // The browser's sign-in added Alice with the role her groups map to, and both sign-ins
    // are audited as single sign-on from this provider.
    let alice = Store::connect(&app.db.url)
        .await
        .unwrap()
        .user_by_email("alice@example.test")
        .await
        .unwrap()
        .expect("alice was added");
    assert_eq!(alice.role.as_str(), "admin");
    assert_eq!(alice.name, "Alice Admin");
    assert_eq!(
        alice.sso_subject.as_deref(),
        Some(format!("{issuer}|alice").as_str())
    );
    let added = audit(&app, "user.add").await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].record.subject.as_deref(), Some(alice.id.as_str()));
    let signins = audit(&app, "signin").await;
    assert_eq!(signins.len(), 2, "{signins:?}");
    for entry in &signins {
        assert_eq!(entry.record.actor_id.as_deref(), Some(alice.id.as_str()));
        assert_eq!(after(entry)["method"], "sso", "{entry:?}");
        assert_eq!(after(entry)["issuer"], issuer.as_str(), "{entry:?}");
    }
    assert!(audit(&app, "signin.failed").await.is_empty());
    drop(provider);
    app.stop().await;
}
