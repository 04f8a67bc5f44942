//! What people read: the HTML page and the summary JSON of a fixed view, as reviewed insta
//! snapshots, plus the page's promises (no external assets, 90 bars, written statuses).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

mod common;

use pharos_web::v2::{IncidentsResponse, MaintenanceStatus, MaintenancesResponse, SummaryResponse};
use pharos_web::{Resource, Snapshot};

fn html(snap: &Snapshot) -> String {
    String::from_utf8(snap.get(Resource::Page).body.to_vec()).unwrap()
}

#[test]
fn summary_json_snapshot() {
    let snap = Snapshot::build(&common::view());
    // Parsed into our ordered types (not a `Value`) so the snapshot keeps the wire key order.
    let summary: SummaryResponse =
        serde_json::from_slice(&snap.get(Resource::Summary).body).unwrap();
    insta::assert_json_snapshot!("summary", summary);
}

#[test]
fn status_page_html_snapshot() {
    insta::assert_snapshot!("index_html", html(&Snapshot::build(&common::view())));
}

#[test]
fn page_shows_every_component_with_written_status_and_ninety_bars() {
    let page = html(&Snapshot::build(&common::view()));
    assert!(page.contains("<title>Acme Cloud Status</title>"));
    assert!(page.contains("Partial System Outage"), "banner description");
    assert!(page.contains(r#"class="banner major""#));
    for label in [
        "Operational",
        "Partial outage",
        "Major outage",
        "Under maintenance",
        "Degraded performance",
    ] {
        assert!(page.contains(label), "{label}");
    }
    // Six leaf components, each with exactly 90 bars; the group has none of its own.
    assert_eq!(page.matches(r#"<button class="b-"#).count(), 6 * 90);
    assert_eq!(page.matches(">90 days ago<").count(), 6);
    assert_eq!(page.matches(">30 days ago<").count(), 6);
    assert_eq!(page.matches(">Today<").count(), 6);
    assert!(page.contains(r#"<details class="group" open>"#));
    // Escaped, never raw.
    assert!(page.contains("Queries &#38; mutations &#60;v2&#62;"));
    // A component without data says so.
    assert!(page.contains(">No data<"));
    // Each bar is a button whose text is the day's date, status and uptime.
    assert!(page.contains(
        r#"<button class="b-major"><span>Mar 31, 2026: Major outage · 93.75 % uptime</span></button>"#
    ));
    assert!(page.contains(r#"<button class="b-none"><span>Jan 1, 2026: No data</span></button>"#));
    // Incident history and subscribing are one step from the top of the page.
    assert!(page.contains(r#"<a href="/history">Incident history</a>"#));
    assert!(page.contains(r##"<a class="button" href="#subscribe">Subscribe to updates</a>"##));
    // Times: page zone server-side, rewritten locally by script, zone kept in the title.
    assert!(page.contains(r#"<time data-local datetime="2026-03-31T11:45:12.345-06:00" title="Mar 31, 2026 11:45 MDT (America/Denver)">Mar 31, 2026 11:45 MDT</time>"#));
    assert!(page.contains("Intl.DateTimeFormat"));
    assert!(page.contains("Powered by Pharos"));
    // Empty sections are hidden.
    assert!(page.contains(r#"<section id="incidents" aria-labelledby="incidents-h" hidden>"#));
    assert!(page.contains(r#"<section id="maintenance" aria-labelledby="maintenance-h" hidden>"#));
}

#[test]
fn page_loads_nothing_from_elsewhere() {
    let page = html(&Snapshot::build(&common::view()));
    for needle in [
        "src=",
        "@import",
        "url(",
        "<link rel=\"stylesheet\"",
        "//fonts",
        "cdn",
    ] {
        assert!(!page.contains(needle), "{needle}");
    }
    // No absolute URL at all without branding.
    assert!(!page.contains("https://") && !page.contains("http://"));
}

#[test]
fn open_incidents_and_maintenance_appear_when_there_are_some() {
    let incidents =
        serde_json::from_str::<IncidentsResponse>(include_str!("fixtures/discord-unresolved.json"))
            .unwrap()
            .incidents;
    let mut maintenances = serde_json::from_str::<MaintenancesResponse>(include_str!(
        "fixtures/discord-scheduled-maintenances.json"
    ))
    .unwrap()
    .scheduled_maintenances;
    maintenances[0].incident.status = MaintenanceStatus::InProgress;
    let page = html(&Snapshot::build_with(
        &common::view(),
        &incidents,
        &maintenances,
    ));
    assert!(page.contains(r#"<section id="incidents" aria-labelledby="incidents-h">"#));
    assert!(page.contains("Global Unavailability"));
    assert!(page.contains("We are working on resolving some internal technical problems now."));
    assert!(page.contains(r#"<section id="maintenance" aria-labelledby="maintenance-h">"#));
    assert!(page.contains("Potentially Disruptive Upgrade"));
    assert!(page.contains("In progress"));
    // Completed maintenances are not shown.
    assert!(!page.contains("Call the Moving Van!"));
}

#[test]
fn the_subscribe_form_works_without_script_and_offers_e_mail_only_with_smtp() {
    let mut view = common::view();
    let page = html(&Snapshot::build(&view));
    assert!(page.contains(r#"<form class="subscribe" method="post" action="/subscribe">"#));
    assert!(page.contains(r#"name="endpoint""#));
    assert!(
        !page.contains(r#"name="email""#),
        "no [smtp]: no e-mail option"
    );
    assert!(page.contains(r#"<input type="checkbox" name="components" value="api-rest">"#));
    view.page.email_subscriptions = true;
    let page = html(&Snapshot::build(&view));
    assert!(page.contains(r#"<input id="sub-email" name="email" type="email""#));
}
