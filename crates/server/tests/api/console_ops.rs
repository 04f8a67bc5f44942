//! The console's operations pages through the real app and a browser-like client, on every
//! backend: maintenances (scheduling in the person's zone, the calendar, moving a window
//! forward), the postmortem editor (checklist, preview, save, publish refused then done),
//! changes, subscribers (removal), deliveries (retrying a dead one, also through the admin
//! API) and reports. Each change leaves its audit entry; a role that may not is refused with
//! `access.denied` and nothing changed; a form without its CSRF token is refused.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use pharos_server::people::{add_user, NewUser};
use pharos_store::{DeliveryState, Store, UserKind};
use pharos_testkit::{backends, eventually, spawn_app_on, Backend, FakeReceiver, TestApp};
use serde_json::json;

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{add_person, browser, get, sign_in, signed_in_as, submit, Page};
use crate::support::http::{get as api_get, post};

const ADMIN: &str = "ops-console-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

/// Two components (one whose name needs escaping); loopback webhooks allowed so a
/// subscriber can be the test's receiver.
async fn app(backend: Backend) -> TestApp {
    let config = Config::acme()
        .admin("ops", ADMIN)
        .section("[subscriptions]\nallowed_webhook_networks = [\"127.0.0.0/8\"]")
        .component("api", "Public API")
        .component("db", "Data <base>")
        .build();
    let app = spawn_app_on(backend, &config).await;
    // The first person must be an owner.
    add_person(
        &app,
        "olive@acme.test",
        "Olive Owner",
        "owner",
        "an owner's password",
    )
    .await;
    app
}

/// `page` is a 303 whose `Location` starts with `to`; the location.
fn see_other(page: &Page, to: &str) -> String {
    assert_eq!(page.status, 303, "{}", page.text);
    let location = page.header("location").to_owned();
    assert!(location.starts_with(to), "{location}");
    location
}

/// `page` is a 403 refusal for the role, and it was recorded.
async fn denied(app: &TestApp, page: &Page, before: usize) {
    assert_eq!(page.status, 403, "{}", page.text);
    assert!(page.text.contains("Nothing was changed"), "{}", page.text);
    assert_eq!(audit(app, "access.denied").await.len(), before + 1);
}

/// A browser signed in as a communicator whose zone is America/Denver.
async fn denver_communicator(app: &TestApp) -> (reqwest::Client, String) {
    let store = Store::connect(&app.db.url).await.unwrap();
    add_user(
        &store,
        NewUser {
            kind: UserKind::Person,
            email: Some("dora@acme.test".into()),
            name: Some("Dora <Denver>".into()),
            role: "communicator".into(),
            time_zone: Some("America/Denver".into()),
            password: Some("correct horse battery staple".into()),
        },
    )
    .await
    .unwrap();
    let client = browser();
    let signed = sign_in(
        app,
        &client,
        "dora@acme.test",
        "correct horse battery staple",
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    let home = get(app, &client, "/console").await;
    (client.clone(), home.csrf())
}

async fn maintenance_count(app: &TestApp) -> usize {
    api_get(app, "/api/v1/maintenances", Some(ADMIN))
        .await
        .json
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn maintenances_are_scheduled_in_the_persons_zone_and_moved_forward() {
    for backend in backends() {
        let app = app(backend).await;
        let (dora, csrf) = denver_communicator(&app).await;
        let form = get(&app, &dora, "/console/maintenances/new").await;
        assert_eq!(form.status, 200, "{}", form.text);
        assert!(form.text.contains("America/Denver"), "{}", form.text);
        assert!(form.text.contains("Data &#60;base&#62;"), "{}", form.text);

        // Two days ahead, 02:00 to 03:30 on Denver's clock.
        let day = (Utc::now() + chrono::Duration::days(2))
            .with_timezone(&chrono_tz::America::Denver)
            .date_naive();
        let starts = format!("{day}T02:00");
        let ends = format!("{day}T03:30");
        let fields = |name: &'static str, starts: String, ends: String| {
            vec![
                ("csrf", csrf.clone()),
                ("name", name.to_owned()),
                ("body", "We upgrade <the> database.".to_owned()),
                ("components", "db".to_owned()),
                ("starts", starts),
                ("ends", ends),
                ("auto_start", "on".to_owned()),
            ]
        };
        let send = |v: Vec<(&'static str, String)>| {
            let dora = dora.clone();
            let app = &app;
            async move {
                let refs: Vec<(&str, &str)> = v.iter().map(|(k, s)| (*k, s.as_str())).collect();
                submit(app, &dora, "/console/maintenances", &refs).await
            }
        };

        // Refused: the end before the start, and a time Denver's clocks skip. Nothing stored.
        let backwards = send(fields("Backwards", ends.clone(), starts.clone())).await;
        assert_eq!(backwards.status, 422, "{}", backwards.text);
        assert!(
            backwards.text.contains("Nothing was scheduled"),
            "{}",
            backwards.text
        );
        assert!(
            backwards.text.contains("value=\"Backwards\""),
            "typed values kept"
        );
        let gap = send(fields(
            "Gap",
            "2027-03-14T02:30".to_owned(),
            "2027-03-14T04:00".to_owned(),
        ))
        .await;
        assert_eq!(gap.status, 422, "{}", gap.text);
        assert!(
            gap.text.contains("does not exist in America/Denver"),
            "{}",
            gap.text
        );
        assert_eq!(maintenance_count(&app).await, 0);

        let created = send(fields("Upgrade <db>", starts.clone(), ends.clone())).await;
        let location = see_other(&created, "/console/maintenances/");
        let id = location
            .trim_start_matches("/console/maintenances/")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let stored = api_get(&app, &format!("/api/v1/maintenances/{id}"), Some(ADMIN)).await;
        assert_eq!(stored.status, 200, "{}", stored.text);
        let want = chrono_tz::America::Denver
            .from_local_datetime(&day.and_hms_opt(2, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let got: chrono::DateTime<Utc> = stored.json["scheduled_for"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(got, want, "read as Denver time, stored in UTC");
        assert_eq!(stored.json["auto_complete"], false, "unchecked box");
        let scheduled = audit(&app, "maintenance.create").await;
        assert_eq!(scheduled.len(), 1);
        assert_eq!(scheduled[0].record.actor_name, "Dora <Denver>");

        // The page, the list and the calendar show it, escaped.
        let page = get(&app, &dora, &location).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("The maintenance is scheduled."));
        assert!(
            page.text.contains("<h1>Upgrade &#60;db&#62;</h1>"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("We upgrade &lt;the&gt; database."),
            "{}",
            page.text
        );
        assert!(page.text.contains("02:00 MST") || page.text.contains("02:00 MDT"));
        assert!(page.text.contains("Start now"));
        let list = get(&app, &dora, "/console/maintenances").await;
        assert!(list.text.contains("Upgrade &#60;db&#62;"), "{}", list.text);
        assert!(list.text.contains("aria-current=\"page\">Maintenances"));
        let month = day.format("%Y-%m").to_string();
        let calendar = get(&app, &dora, &format!("/console/maintenances?month={month}")).await;
        assert!(
            calendar.text.contains(&format!(
                "class=\"window\" href=\"/console/maintenances/{id}\""
            )),
            "{}",
            calendar.text
        );
        assert!(calendar
            .text
            .contains(&day.format("<caption>%B %Y</caption>").to_string()));

        // A viewer may read it but not schedule; a form without its token is refused.
        let (viewer, viewer_csrf) = signed_in_as(&app, "viewer").await;
        assert_eq!(get(&app, &viewer, &location).await.status, 200);
        let before = audit(&app, "access.denied").await.len();
        let refused = submit(
            &app,
            &viewer,
            &format!("/console/maintenances/{id}/updates"),
            &[
                ("csrf", &viewer_csrf),
                ("status", "in_progress"),
                ("body", ""),
            ],
        )
        .await;
        denied(&app, &refused, before).await;
        let forged = submit(
            &app,
            &dora,
            &format!("/console/maintenances/{id}/updates"),
            &[("status", "in_progress"), ("body", "")],
        )
        .await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        let status = |_: &TestApp| {
            let path = format!("/api/v1/maintenances/{id}");
            let app = &app;
            async move { api_get(app, &path, Some(ADMIN)).await.json["status"].clone() }
        };
        assert_eq!(status(&app).await, "scheduled");

        // Going back is refused with the form again; starting now and finishing now work.
        let started = submit(
            &app,
            &dora,
            &format!("/console/maintenances/{id}/updates"),
            &[
                ("csrf", &csrf),
                ("status", "in_progress"),
                ("body", "Started early."),
            ],
        )
        .await;
        see_other(
            &started,
            &format!("/console/maintenances/{id}?done=updated"),
        );
        assert_eq!(status(&app).await, "in_progress");
        let back = submit(
            &app,
            &dora,
            &format!("/console/maintenances/{id}/updates"),
            &[("csrf", &csrf), ("status", "scheduled"), ("body", "x")],
        )
        .await;
        assert_eq!(back.status, 422, "{}", back.text);
        assert!(back.text.contains("cannot go back"), "{}", back.text);
        assert_eq!(status(&app).await, "in_progress");
        let finished = submit(
            &app,
            &dora,
            &format!("/console/maintenances/{id}/updates"),
            &[
                ("csrf", &csrf),
                ("status", "completed"),
                ("body", "The scheduled maintenance has been completed."),
            ],
        )
        .await;
        see_other(&finished, &format!("/console/maintenances/{id}"));
        assert_eq!(status(&app).await, "completed");
        let updates = audit(&app, "maintenance.update").await;
        assert_eq!(updates.len(), 2, "one entry per change, none for refusals");
        assert_eq!(updates[0].record.subject.as_deref(), Some(id.as_str()));
        let page = get(&app, &dora, &location).await;
        assert!(page.text.contains("Started early."), "{}", page.text);
        assert!(!page.text.contains("Start now"), "no forms once completed");
        app.stop().await;
    }
}

/// Declares an incident on `api` and resolves it; its id.
async fn resolved_incident(app: &TestApp) -> String {
    let a = post(
        app,
        "/api/v1/incidents",
        Some(ADMIN),
        &json!({"name": "Slow <bookings>", "body": "Looking into it.",
                "components": {"api": "degraded_performance"}}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.json["id"].as_str().unwrap().to_owned();
    let a = post(
        app,
        &format!("/api/v1/incidents/{id}/updates"),
        Some(ADMIN),
        &json!({"status": "resolved", "body": "Fixed."}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    id
}

#[tokio::test]
async fn postmortems_are_previewed_saved_and_published_once_complete() {
    for backend in backends() {
        let app = app(backend).await;
        let id = resolved_incident(&app).await;
        let path = format!("/console/incidents/{id}/postmortem");
        let api_path = format!("/api/v1/incidents/{id}/postmortem");
        let (c, csrf) = signed_in_as(&app, "communicator").await;

        let page = get(&app, &c, &path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.text.contains("Postmortem: Slow &#60;bookings&#62;"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("<strong>Missing:</strong> Root cause"),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("<strong>Done:</strong> Timeline"),
            "{}",
            page.text
        );
        assert!(page
            .text
            .contains(&format!("href=\"/console/incidents/{id}\"")));

        // Publishing an incomplete postmortem is refused, naming what is missing.
        let refused = submit(&app, &c, &format!("{path}/publish"), &[("csrf", &csrf)]).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused
            .text
            .contains("Not published: The postmortem is incomplete"));
        assert!(
            refused.text.contains("Write the root cause"),
            "{}",
            refused.text
        );
        assert_eq!(
            api_get(&app, &api_path, Some(ADMIN)).await.json["published"],
            false
        );

        let fields = |action: &'static str, due: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("action", action.to_owned()),
                (
                    "root_cause",
                    "The pool was **exhausted** <by leaks>.".to_owned(),
                ),
                ("remediation", "Restarted with a larger pool.".to_owned()),
                ("a0.id", String::new()),
                ("a0.description", "Alert on pool growth".to_owned()),
                ("a0.owner", "alice".to_owned()),
                ("a0.due", due.to_owned()),
                ("a0.kind", "prevent".to_owned()),
                ("a1.id", String::new()),
                ("a1.description", String::new()),
            ]
        };
        let send = |v: Vec<(&'static str, String)>| {
            let c = c.clone();
            let (app, path) = (&app, path.clone());
            async move {
                let refs: Vec<(&str, &str)> = v.iter().map(|(k, s)| (*k, s.as_str())).collect();
                submit(app, &c, &path, &refs).await
            }
        };

        // Preview: the document rendered (Markdown, raw HTML as text), nothing saved.
        let preview = send(fields("preview", "2026-04-30")).await;
        assert_eq!(preview.status, 200, "{}", preview.text);
        assert!(
            preview
                .text
                .contains("The pool was <strong>exhausted</strong> &lt;by leaks&gt;."),
            "{}",
            preview.text
        );
        assert!(preview.text.contains("value=\"Alert on pool growth\""));
        let saved = api_get(&app, &api_path, Some(ADMIN)).await;
        assert_eq!(
            saved.json["edits"]["root_cause"], "",
            "a preview saves nothing"
        );

        // A bad date is refused naming the row; then it is saved.
        let bad = send(fields("save", "30/04/2026")).await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert!(bad.text.contains("Action 1, due"), "{}", bad.text);
        assert!(audit(&app, "postmortem.save").await.is_empty());
        let ok = send(fields("save", "2026-04-30")).await;
        see_other(&ok, &format!("{path}?done=saved"));
        let saved = api_get(&app, &api_path, Some(ADMIN)).await;
        assert_eq!(saved.json["complete"], true, "{}", saved.text);
        assert_eq!(saved.json["edits"]["actions"][0]["owner"], "alice");
        assert_eq!(audit(&app, "postmortem.save").await.len(), 1);
        let page = get(&app, &c, &path).await;
        assert!(
            page.text.contains("Complete: it can be published."),
            "{}",
            page.text
        );
        assert!(
            page.text.contains("value=\"A1\""),
            "the saved action keeps its id"
        );

        // A viewer may read it, not change it; a form without its token is refused.
        let (viewer, viewer_csrf) = signed_in_as(&app, "viewer").await;
        assert_eq!(get(&app, &viewer, &path).await.status, 200);
        let before = audit(&app, "access.denied").await.len();
        let refused = submit(
            &app,
            &viewer,
            &format!("{path}/publish"),
            &[("csrf", &viewer_csrf)],
        )
        .await;
        denied(&app, &refused, before).await;
        let forged = submit(&app, &c, &format!("{path}/publish"), &[]).await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        assert_eq!(
            api_get(&app, &api_path, Some(ADMIN)).await.json["published"],
            false
        );

        let published = submit(&app, &c, &format!("{path}/publish"), &[("csrf", &csrf)]).await;
        see_other(&published, &format!("{path}?done=published"));
        assert_eq!(
            api_get(&app, &api_path, Some(ADMIN)).await.json["published"],
            true
        );
        assert_eq!(audit(&app, "postmortem.publish").await.len(), 1);
        app.stop().await;
    }
}

/// The stored deliveries to `destination`.
async fn deliveries_to(app: &TestApp, destination: &str) -> Vec<pharos_store::OutboxRow> {
    let store = Store::connect(&app.db.url).await.unwrap();
    store
        .outbox_rows(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.destination == destination)
        .collect()
}

#[tokio::test]
async fn changes_subscribers_deliveries_and_reports() {
    for backend in backends() {
        let app = app(backend).await;
        let receiver = FakeReceiver::start().await;
        receiver.set_status(503);
        let endpoint = format!("{}/hook?a=1&b=2", receiver.url);
        let r = post(
            &app,
            "/api/v2/subscribers.json",
            None,
            &json!({"subscriber": {"endpoint": endpoint}}),
        )
        .await;
        assert!(r.status < 300, "{}", r.text);
        let subscriber = api_get(&app, "/api/v1/subscribers", Some(ADMIN)).await.json[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let change = post(
            &app,
            "/api/v1/changes",
            Some(ADMIN),
            &json!({"component": "api", "kind": "deploy", "summary": "Deploy <b>1.2</b>",
                    "version": "1.2.0", "url": "https://ci.example.com/run/7"}),
        )
        .await;
        assert_eq!(change.status, 201, "{}", change.text);
        let declared = post(
            &app,
            "/api/v1/incidents",
            Some(ADMIN),
            &json!({"name": "Errors", "body": "Looking.", "public": true}),
        )
        .await;
        assert_eq!(declared.status, 201, "{}", declared.text);

        let (viewer, viewer_csrf) = signed_in_as(&app, "viewer").await;
        let changes = get(&app, &viewer, "/console/changes").await;
        assert_eq!(changes.status, 200, "{}", changes.text);
        assert!(
            changes.text.contains("Deploy &#60;b&#62;1.2&#60;/b&#62;"),
            "{}",
            changes.text
        );
        assert!(changes
            .text
            .contains("href=\"https://ci.example.com/run/7\""));
        assert!(changes.text.contains("Public API"));

        // A failing delivery, given up.
        let destination = format!("subscriber:{subscriber}");
        let delivery = eventually(WAIT, "a failed attempt", || async {
            deliveries_to(&app, &destination)
                .await
                .into_iter()
                .find(|r| r.attempts > 0)
        })
        .await;
        let store = Store::connect(&app.db.url).await.unwrap();
        store
            .mark_failed(&delivery.id, Utc::now(), "HTTP 503 <unavailable>", None)
            .await
            .unwrap();
        let dead = |_: &TestApp| {
            let (destination, id) = (destination.clone(), delivery.id.clone());
            let app = &app;
            async move {
                deliveries_to(app, &destination)
                    .await
                    .into_iter()
                    .find(|r| r.id == id)
                    .unwrap()
                    .state
            }
        };
        assert_eq!(dead(&app).await, DeliveryState::Dead);
        let page = get(&app, &viewer, "/console/deliveries?state=dead").await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.text.contains("HTTP 503 &#60;unavailable&#62;"),
            "{}",
            page.text
        );
        assert!(
            !page.text.contains("Retry</button>"),
            "a viewer is not offered it"
        );

        // Not allowed below admin; not without the token.
        let retry = format!("/console/deliveries/{}/retry", delivery.id);
        let before = audit(&app, "access.denied").await.len();
        let refused = submit(&app, &viewer, &retry, &[("csrf", &viewer_csrf)]).await;
        denied(&app, &refused, before).await;
        let (communicator, communicator_csrf) = signed_in_as(&app, "communicator").await;
        let refused = submit(&app, &communicator, &retry, &[("csrf", &communicator_csrf)]).await;
        denied(&app, &refused, before + 1).await;
        let (admin, csrf) = signed_in_as(&app, "admin").await;
        let forged = submit(&app, &admin, &retry, &[]).await;
        assert_eq!(forged.status, 403, "{}", forged.text);
        assert_eq!(dead(&app).await, DeliveryState::Dead);
        assert!(audit(&app, "delivery.retry").await.is_empty());

        // Retried by an admin: audited, then sent.
        let page = get(&app, &admin, "/console/deliveries?state=dead").await;
        assert!(page.text.contains("Retry</button>"), "{}", page.text);
        receiver.set_status(200);
        let retried = submit(&app, &admin, &retry, &[("csrf", &csrf)]).await;
        see_other(&retried, "/console/deliveries?done=retried");
        let entries = audit(&app, "delivery.retry").await;
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].record.subject.as_deref(),
            Some(delivery.id.as_str())
        );
        assert_eq!(entries[0].record.actor_name, "Admin Person");
        eventually(WAIT, "the retried delivery sent", || async {
            (dead(&app).await == DeliveryState::Sent).then_some(())
        })
        .await;
        // Only a dead one: again is a conflict, in the console and the API.
        let again = submit(&app, &admin, &retry, &[("csrf", &csrf)]).await;
        assert_eq!(again.status, 409, "{}", again.text);
        let api = post(
            &app,
            &format!("/api/v1/deliveries/{}/retry", delivery.id),
            Some(ADMIN),
            &json!(null),
        )
        .await;
        assert_eq!(api.status, 409, "{}", api.text);
        let api = post(
            &app,
            "/api/v1/deliveries/nope/retry",
            Some(ADMIN),
            &json!(null),
        )
        .await;
        assert_eq!(api.status, 404, "{}", api.text);
        assert_eq!(audit(&app, "delivery.retry").await.len(), 1);

        // Subscribers: listed escaped; removed by an admin only.
        let page = get(&app, &viewer, "/console/subscribers").await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("/hook?a=1&#38;b=2"), "{}", page.text);
        let remove = format!("/console/subscribers/{subscriber}/remove");
        let before = audit(&app, "access.denied").await.len();
        let refused = submit(&app, &viewer, &remove, &[("csrf", &viewer_csrf)]).await;
        denied(&app, &refused, before).await;
        assert_eq!(
            api_get(&app, "/api/v1/subscribers", Some(ADMIN))
                .await
                .json
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let removed = submit(&app, &admin, &remove, &[("csrf", &csrf)]).await;
        see_other(&removed, "/console/subscribers?done=removed");
        assert!(api_get(&app, "/api/v1/subscribers", Some(ADMIN))
            .await
            .json
            .as_array()
            .unwrap()
            .is_empty());
        let entries = audit(&app, "subscriber.remove").await;
        assert_eq!(
            entries[0].record.subject.as_deref(),
            Some(subscriber.as_str())
        );
        let gone = submit(&app, &admin, &remove, &[("csrf", &csrf)]).await;
        assert_eq!(gone.status, 404, "{}", gone.text);

        // Reports: the API's figures, with a chart per window.
        let page = get(&app, &viewer, "/console/reports").await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("<svg class=\"chart\""), "{}", page.text);
        assert!(page.text.contains("Data &#60;base&#62;"), "{}", page.text);
        assert!(page.text.contains("id=\"all.30d.uptime\""), "{}", page.text);
        let narrowed = get(&app, &viewer, "/console/reports?days=30").await;
        assert!(!narrowed.text.contains("id=\"all.90d.uptime\""));
        for section in [
            "Maintenances",
            "Changes",
            "Subscribers",
            "Deliveries",
            "Reports",
        ] {
            assert!(
                page.text.contains(&format!(">{section}</a>")),
                "nav: {section}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_window_that_has_not_started_is_changed_and_one_under_way_is_not() {
    for backend in backends() {
        let app = app(backend).await;
        let start = Utc::now() + chrono::Duration::days(2);
        let created = post(
            &app,
            "/api/v1/maintenances",
            Some(ADMIN),
            &json!({
                "name": "Old name", "body": "Planned.", "components": ["api"],
                "scheduled_for": start.to_rfc3339(),
                "scheduled_until": (start + chrono::Duration::hours(1)).to_rfc3339(),
            }),
        )
        .await;
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.json["id"].as_str().unwrap().to_owned();

        // Over the API: renamed and moved a day later; the renaming is in its timeline.
        let later = start + chrono::Duration::days(1);
        let patched = crate::support::http::patch(
            &app,
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            &json!({"name": "Database upgrade", "scheduled_for": later.to_rfc3339(),
                    "scheduled_until": (later + chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await;
        assert_eq!(patched.status, 200, "{backend:?}: {patched:?}");
        assert_eq!(patched.json["name"], "Database upgrade");
        let detail = api_get(&app, &format!("/api/v1/maintenances/{id}"), Some(ADMIN)).await;
        let timeline = detail.json["timeline"].to_string();
        assert!(timeline.contains("renamed"), "{timeline}");
        assert_eq!(audit(&app, "maintenance.edit").await.len(), 1);

        // An end before the start is refused, naming the field; nothing changes.
        let refused = crate::support::http::patch(
            &app,
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            &json!({"scheduled_until": start.to_rfc3339()}),
        )
        .await;
        assert_eq!(refused.status, 422, "{refused:?}");
        assert_eq!(
            refused.json["error"]["field"], "scheduled_until",
            "{refused:?}"
        );
        assert_eq!(audit(&app, "maintenance.edit").await.len(), 1);

        // In the console: the form shows the window in the person's zone and changes it.
        let (browser, csrf) = signed_in_as(&app, "communicator").await;
        let page = get(&app, &browser, &format!("/console/maintenances/{id}")).await;
        assert!(page.text.contains("Change the window"), "{}", page.text);
        let day = (later + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let changed = submit(
            &app,
            &browser,
            &format!("/console/maintenances/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "Database upgrade, part 2"),
                ("components", "api"),
                ("starts", &format!("{day}T04:00")),
                ("ends", &format!("{day}T05:30")),
                ("auto_start", "on"),
                ("auto_complete", "on"),
            ],
        )
        .await;
        assert_eq!(changed.status, 303, "{}", changed.text);
        let stored = api_get(&app, &format!("/api/v1/maintenances/{id}"), Some(ADMIN)).await;
        assert_eq!(stored.json["name"], "Database upgrade, part 2");
        let begins: chrono::DateTime<Utc> = stored.json["scheduled_for"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            begins.format("%Y-%m-%dT%H:%M").to_string(),
            format!("{day}T04:00")
        );
        let edits = audit(&app, "maintenance.edit").await;
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0].record.actor_name, "Communicator Person");

        // Once under way it is refused: an update says what changed.
        let started = post(
            &app,
            &format!("/api/v1/maintenances/{id}/updates"),
            Some(ADMIN),
            &json!({"status": "in_progress", "body": "Starting early."}),
        )
        .await;
        assert_eq!(started.status, 201, "{started:?}");
        let refused = crate::support::http::patch(
            &app,
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            &json!({"name": "Too late"}),
        )
        .await;
        assert_eq!(refused.status, 422, "{refused:?}");
        assert!(
            refused.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only a window that has not started can be edited"),
            "{refused:?}"
        );
        let page = get(&app, &browser, &format!("/console/maintenances/{id}")).await;
        assert!(!page.text.contains("Change the window"));
    }
}
