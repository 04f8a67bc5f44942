//! The console's overview, monitor page and incidents, through the real app with a
//! browser-like client: a responder declares an incident, previews and posts updates, adds a
//! private note, edits it and takes command, and each step is on the page, on the public
//! surface where it should be (and only there), and in the audit trail as theirs; the live
//! page's event stream follows the incident; a viewer sees everything and may do nothing; a
//! form without its token changes nothing; every console route answers as its row in the
//! permission table says. On every backend.

use std::time::Duration;

use pharos_store::{ActorKind, Store};
use pharos_testkit::{backends, eventually, spawn_app_on, FakeTarget, TestApp};

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{get, signed_in_as, submit, submit_from, Page};
use crate::support::http::post;

const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(15);

/// An app with components `api` and `web`, and monitor `api-health` checking a live target.
async fn app(backend: pharos_testkit::Backend, target: &FakeTarget) -> TestApp {
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("api", "Public API")
        .component("web", "Website")
        .http_monitor("api-health", &target.url, "api");
    spawn_app_on(backend, &config.build()).await
}

/// The incident id a 303 to its console page names.
fn incident_of(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.text);
    let to = page.header("location");
    to.strip_prefix("/console/incidents/")
        .unwrap_or_else(|| panic!("a redirect to an incident, not {to:?}"))
        .to_owned()
}

/// The number of entries in incident `id`'s timeline.
async fn timeline_len(app: &TestApp, id: &str) -> usize {
    let r = app
        .client
        .get(format!("{}/api/v1/incidents/{id}", app.base_url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    v["timeline"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_responder_runs_an_incident_from_the_console() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = app(backend, &target).await;
        let (browser, csrf) = signed_in_as(&app, "responder").await;

        // The form offers the leaf components and the templates.
        let form = get(&app, &browser, "/console/incidents/new").await;
        assert_eq!(form.status, 200, "{backend:?}: {}", form.text);
        assert!(form.text.contains(r#"name="c.api""#), "{}", form.text);
        assert!(form.text.contains("Use template"));

        // A template fills the message in, naming the chosen components; nothing is declared.
        let filled = submit(
            &app,
            &browser,
            "/console/incidents",
            &[
                ("csrf", &csrf),
                ("name", "Checkout <slow>"),
                ("c.api", "degraded_performance"),
                ("template", "investigating"),
                ("action", "template"),
            ],
        )
        .await;
        assert_eq!(filled.status, 200, "{}", filled.text);
        assert!(
            filled
                .text
                .contains("We are investigating reports of problems with Public API."),
            "{}",
            filled.text
        );
        // A preview renders the Markdown and declares nothing either.
        let preview = submit(
            &app,
            &browser,
            "/console/incidents",
            &[
                ("csrf", &csrf),
                ("name", "Checkout <slow>"),
                ("body", "We are **looking** <script>x</script>"),
                ("action", "preview"),
            ],
        )
        .await;
        assert_eq!(preview.status, 200);
        assert!(
            preview.text.contains("<strong>looking</strong>"),
            "{}",
            preview.text
        );
        assert!(
            !preview.text.contains("<script>x"),
            "raw HTML is shown as text"
        );
        assert!(audit(&app, "incident.create").await.is_empty());

        // Bad input names the field and declares nothing.
        let bad = submit(
            &app,
            &browser,
            "/console/incidents",
            &[
                ("csrf", &csrf),
                ("name", "Checkout"),
                ("status", "bogus"),
                ("action", "declare"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert!(
            bad.text.contains(
                "status: &#34;bogus&#34; is not an incident status. Nothing was changed."
            ),
            "{}",
            bad.text
        );
        assert!(audit(&app, "incident.create").await.is_empty());

        let declared = submit(
            &app,
            &browser,
            "/console/incidents",
            &[
                ("csrf", &csrf),
                ("name", "Checkout <slow>"),
                ("status", "investigating"),
                ("c.api", "degraded_performance"),
                ("body", "We are **looking**."),
                ("severity", "S2"),
                ("public", "on"),
                ("action", "declare"),
            ],
        )
        .await;
        let id = incident_of(&declared);
        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.text.contains("Checkout &#60;slow&#62;"),
            "{}",
            page.text
        );
        assert!(!page.text.contains("Checkout <slow>"));
        assert!(page.text.contains("<strong>looking</strong>"));
        assert!(
            page.text.contains("Public API: Degraded performance"),
            "{}",
            page.text
        );
        assert!(page.text.contains("S2"));
        // The public page shows it.
        eventually(WAIT, "the incident on the public API", || async {
            let r = app
                .client
                .get(format!("{}/api/v2/incidents/unresolved.json", app.base_url))
                .send()
                .await
                .unwrap();
            r.text()
                .await
                .unwrap()
                .contains("Checkout <slow>")
                .then_some(())
        })
        .await;

        // An update with a status that does not exist is refused and changes nothing.
        let before = timeline_len(&app, &id).await;
        let refused = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/updates"),
            &[("csrf", &csrf), ("status", "fixed-ish"), ("body", "x")],
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused.text.contains("is not an incident status"));
        assert_eq!(timeline_len(&app, &id).await, before);

        // An update, a private note, details and command.
        let updated = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/updates"),
            &[
                ("csrf", &csrf),
                ("status", "identified"),
                ("c.api", "partial_outage"),
                ("body", "A bad deploy; rolling back."),
                ("action", "post"),
            ],
        )
        .await;
        assert_eq!(incident_of(&updated), id);
        let noted = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/notes"),
            &[("csrf", &csrf), ("note", "Only for us: it was release 42.")],
        )
        .await;
        assert_eq!(incident_of(&noted), id);
        let edited = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "Checkout failing"),
                ("severity", "S1"),
                ("impact", ""),
                ("action", "details"),
            ],
        )
        .await;
        assert_eq!(incident_of(&edited), id);
        let command = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/edit"),
            &[("csrf", &csrf), ("action", "command")],
        )
        .await;
        assert_eq!(incident_of(&command), id);

        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert!(
            page.text.contains("<h1>Checkout failing</h1>"),
            "{}",
            page.text
        );
        assert!(page.text.contains("Public update: Identified"));
        assert!(page.text.contains("A bad deploy; rolling back."));
        assert!(page.text.contains("Only for us: it was release 42."));
        assert!(
            page.text.contains("commander: Responder Person"),
            "{}",
            page.text
        );
        assert!(page.text.contains("Public API: Partial outage"));
        // The note never reaches the public surface; the update does.
        eventually(WAIT, "the update on the public API", || async {
            let r = app
                .client
                .get(format!("{}/api/v2/incidents.json", app.base_url))
                .send()
                .await
                .unwrap();
            let text = r.text().await.unwrap();
            assert!(!text.contains("release 42"), "a private note went public");
            text.contains("A bad deploy; rolling back.").then_some(())
        })
        .await;

        // Each step is in the audit trail, as the responder's, with the request's address.
        let store = Store::connect(&app.db.url).await.unwrap();
        let responder = store
            .users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.name == "Responder Person")
            .unwrap();
        for action in [
            "incident.create",
            "incident.update",
            "incident.note",
            "incident.edit",
        ] {
            let entries = audit(&app, action).await;
            assert!(!entries.is_empty(), "{backend:?}: no {action}");
            for e in &entries {
                assert_eq!(e.record.actor_kind, ActorKind::User, "{action}");
                assert_eq!(e.record.actor_id.as_deref(), Some(responder.id.as_str()));
                assert_eq!(e.record.subject.as_deref(), Some(id.as_str()), "{action}");
                assert_eq!(e.record.address.as_deref(), Some("127.0.0.1"), "{action}");
                assert!(e.record.request_id.is_some());
            }
        }
        // Two edits: the details, then command.
        assert_eq!(audit(&app, "incident.edit").await.len(), 2);

        // The list finds it by a word of its name, and not by another.
        let found = get(&app, &browser, "/console/incidents?q=checkout&show=open").await;
        assert!(found.text.contains(&format!("/console/incidents/{id}")));
        let none = get(&app, &browser, "/console/incidents?q=database").await;
        assert!(!none.text.contains(&format!("/console/incidents/{id}")));
        assert!(none.text.contains("No incident matches"));
    }
}

#[tokio::test]
async fn the_live_page_follows_an_open_incident() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = app(backend, &target).await;
        let (browser, _) = signed_in_as(&app, "viewer").await;
        let created = post(
            &app,
            "/api/v1/incidents",
            Some(ADMIN),
            &serde_json::json!({"name": "Queue backlog", "body": "Looking."}),
        )
        .await;
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.json["id"].as_str().unwrap().to_owned();
        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert!(
            page.text
                .contains(&format!(r#"data-live="/console/incidents/{id}/events""#)),
            "{}",
            page.text
        );

        let mut stream = browser
            .get(format!("{}/console/incidents/{id}/events", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert!(stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut seen = String::new();
        // The first event is the page's live part as it is.
        read_until(&mut stream, &mut seen, "Looking.").await;
        assert!(seen.contains("event: incident"), "{seen}");
        // A change made elsewhere arrives without a reload.
        let updated = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(ADMIN),
            &serde_json::json!({"status": "monitoring", "body": "Draining now."}),
        )
        .await;
        assert_eq!(updated.status, 201, "{updated:?}");
        read_until(&mut stream, &mut seen, "Draining now.").await;
        // Resolved: the stream says so and ends.
        let resolved = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(ADMIN),
            &serde_json::json!({"status": "resolved", "body": "All clear."}),
        )
        .await;
        assert_eq!(resolved.status, 201);
        read_until(&mut stream, &mut seen, "event: closed").await;
        let rest = tokio::time::timeout(WAIT, stream.chunk()).await.unwrap();
        assert!(matches!(rest, Ok(None)), "the stream ends: {rest:?}");
    }
}

/// Reads `stream` into `seen` until it contains `needle` (failing after [`WAIT`]).
async fn read_until(stream: &mut reqwest::Response, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in the stream; got {seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended without {needle:?}; got {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_viewer_sees_everything_and_may_change_nothing() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = app(backend, &target).await;
        let created = post(
            &app,
            "/api/v1/incidents",
            Some(ADMIN),
            &serde_json::json!({"name": "Slow search", "body": "Looking."}),
        )
        .await;
        let id = created.json["id"].as_str().unwrap().to_owned();
        let (browser, csrf) = signed_in_as(&app, "viewer").await;
        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("Slow search"));
        assert!(!page.text.contains("Post an update"), "the form is hidden");
        let list = get(&app, &browser, "/console/incidents").await;
        assert!(!list.text.contains("Declare an incident"));

        let before = timeline_len(&app, &id).await;
        let refused = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/updates"),
            &[("csrf", &csrf), ("status", "resolved"), ("body", "Done")],
        )
        .await;
        assert_eq!(refused.status, 403, "{backend:?}: {}", refused.text);
        assert!(
            refused
                .text
                .contains("Viewer Person (viewer) may not do this"),
            "{}",
            refused.text
        );
        assert_eq!(timeline_len(&app, &id).await, before);
        let denied = audit(&app, "access.denied").await;
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert_eq!(denied[0].record.actor_name, "Viewer Person");
        assert_eq!(
            denied[0].record.subject.as_deref(),
            Some("/console/incidents/{id}/updates")
        );
        assert!(audit(&app, "incident.update").await.is_empty());
    }
}

#[tokio::test]
async fn a_form_without_its_token_or_from_elsewhere_changes_nothing() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = app(backend, &target).await;
        let (browser, csrf) = signed_in_as(&app, "responder").await;
        let fields = |token: &'static str| {
            vec![
                ("csrf", token),
                ("name", "Forged"),
                ("body", "x"),
                ("action", "declare"),
            ]
        };
        let forged = submit(&app, &browser, "/console/incidents", &fields("forged")).await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        let leaked: &'static str = Box::leak(csrf.clone().into_boxed_str());
        let elsewhere = submit_from(
            &app,
            &browser,
            "/console/incidents",
            &fields(leaked),
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(elsewhere.status, 403);
        assert!(audit(&app, "incident.create").await.is_empty());
        assert_eq!(audit(&app, "csrf.refused").await.len(), 2);
        // Signed out, a form is refused and a page sends to the sign-in form.
        let stranger = crate::support::console::browser();
        let page = get(&app, &stranger, "/console/incidents").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), "/console/sign-in");
        let form = submit(&app, &stranger, "/console/incidents", &fields(leaked)).await;
        assert_eq!(form.status, 403);
        assert!(audit(&app, "incident.create").await.is_empty());
    }
}

#[tokio::test]
async fn the_overview_and_a_monitor_show_state_from_memory() {
    let target = FakeTarget::start().await;
    let app = app(pharos_testkit::Backend::Sqlite, &target).await;
    let (browser, _) = signed_in_as(&app, "viewer").await;
    // Two checks or more: a sparkline.
    let overview = eventually(WAIT, "a sparkline on the overview", || async {
        let page = get(&app, &browser, "/console").await;
        page.text.contains("<polyline").then_some(page)
    })
    .await;
    assert!(overview
        .text
        .contains(r#"href="/console/monitors/api-health""#));
    assert!(overview.text.contains("Response time of the last"));
    assert!(overview.text.contains("Public API"));
    let monitor = get(&app, &browser, "/console/monitors/api-health").await;
    assert_eq!(monitor.status, 200, "{}", monitor.text);
    assert!(monitor.text.contains("Recent results"));
    assert!(monitor.text.contains("<td>200</td>"), "{}", monitor.text);
    assert!(
        monitor.text.contains("Where the time went"),
        "{}",
        monitor.text
    );
    let missing = get(&app, &browser, "/console/monitors/nope").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn every_console_route_is_guarded_as_its_row_says() {
    let target = FakeTarget::start().await;
    let app = app(pharos_testkit::Backend::Sqlite, &target).await;
    let created = post(
        &app,
        "/api/v1/incidents",
        Some(ADMIN),
        &serde_json::json!({"name": "Guarded", "body": "x"}),
    )
    .await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now() + chrono::Duration::hours(1);
    let window = post(
        &app,
        "/api/v1/maintenances",
        Some(ADMIN),
        &serde_json::json!({
            "name": "Guarded window", "body": "x", "components": ["web"],
            "scheduled_for": now.to_rfc3339(),
            "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(window.status, 201, "{window:?}");
    let maintenance = window.json["id"].as_str().unwrap().to_owned();
    let (viewer, viewer_csrf) = signed_in_as(&app, "viewer").await;
    let stranger = crate::support::console::browser();
    for (method, path, permission) in pharos_web::console::ROUTES {
        let path = path.replace("/monitors/{id}", "/monitors/api-health");
        let path = path.replace(
            "/maintenances/{id}",
            &format!("/maintenances/{maintenance}"),
        );
        let path = format!("/console{}", path.replace("{id}", &id));
        let viewer_may = *permission == pharos_domain::access::Permission::Read;
        match *method {
            "GET" => {
                if path.ends_with("/events") {
                    continue; // a stream: its guard is the same; read in its own test
                }
                let page = get(&app, &viewer, &path).await;
                let expected = if viewer_may { 200 } else { 403 };
                assert_eq!(page.status, expected, "GET {path}: {}", page.text);
                let page = get(&app, &stranger, &path).await;
                assert_eq!(page.status, 303, "GET {path} signed out");
            }
            "POST" => {
                let page = submit(&app, &viewer, &path, &[("csrf", &viewer_csrf)]).await;
                if viewer_may {
                    assert_ne!(page.status, 403, "POST {path}: {}", page.text);
                } else {
                    assert_eq!(page.status, 403, "POST {path}: {}", page.text);
                }
                let page = submit(&app, &stranger, &path, &[("csrf", &viewer_csrf)]).await;
                assert_eq!(page.status, 403, "POST {path} signed out");
            }
            other => panic!("a console route with method {other}"),
        }
    }
}

#[tokio::test]
async fn a_responder_acknowledges_an_open_incident_once() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let app = app(backend, &target).await;
        let created = post(
            &app,
            "/api/v1/incidents",
            Some(ADMIN),
            &serde_json::json!({"name": "Login errors", "body": "Looking."}),
        )
        .await;
        let id = created.json["id"].as_str().unwrap().to_owned();
        let (browser, csrf) = signed_in_as(&app, "responder").await;
        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert!(page.text.contains(">Acknowledge</button>"), "{}", page.text);
        let acked = submit(
            &app,
            &browser,
            &format!("/console/incidents/{id}/acknowledge"),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(incident_of(&acked), id);
        let page = get(&app, &browser, &format!("/console/incidents/{id}")).await;
        assert!(
            page.text.contains("acknowledged by Responder Person at "),
            "{}",
            page.text
        );
        assert!(page
            .text
            .contains("Responder Person acknowledged the incident"));
        assert!(!page.text.contains(">Acknowledge</button>"));
        // The first acknowledgement stays: a second, over the API, changes nothing.
        let again = post(
            &app,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(ADMIN),
            &serde_json::json!({}),
        )
        .await;
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(again.json["acknowledged_by"], "Responder Person");
        let entries = crate::support::console::audit(&app, "incident.acknowledge").await;
        assert_eq!(
            entries[entries.len() - 1].record.actor_name,
            "Responder Person"
        );
        // A resolved incident has nothing to acknowledge.
        let resolved = post(
            &app,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(ADMIN),
            &serde_json::json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
        assert_eq!(resolved.status, 201);
        let refused = post(
            &app,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(ADMIN),
            &serde_json::json!({}),
        )
        .await;
        assert_eq!(refused.status, 422, "{refused:?}");
    }
}
