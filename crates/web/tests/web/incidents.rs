//! The incident pages (`/incidents/{id}`), the history page (`/history`) and the incident links
//! on `/`, through the real router: contents, order, time zones, Markdown and XSS, 404s, caching
//! and reuse across rebuilds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

use crate::common;

use crate::common::{get, send};
use axum::body::Body;
use http::{header, Request, StatusCode};
use pharos_domain::ComponentStatus;
use pharos_web::{Resource, Snapshot};
use regex::Regex;

/// The part of a page between two markers (both must be present, in this order).
fn between<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let start = page
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in page"));
    let end = page[start..]
        .find(to)
        .unwrap_or_else(|| panic!("no {to:?} after {from:?}"));
    &page[start..start + end]
}

/// Asserts that nothing in `html` can run script: the only `<script>` is the page's own time
/// script, and no element carries an event handler, a `javascript:` URL, or is an
/// img/svg/iframe/style/object element.
fn assert_inert(html: &str) {
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(html.contains("<script>\n(function(){try{var o={year"));
    let handler = Regex::new(r#"(?i)<[a-z][^>]*\son[a-z]+\s*="#).unwrap();
    assert!(!handler.is_match(html), "{:?}", handler.find(html));
    let js_url = Regex::new(r#"(?i)<[a-z][^>]*=\s*["']?\s*javascript:"#).unwrap();
    assert!(!js_url.is_match(html), "{:?}", js_url.find(html));
    let tag = Regex::new(r"(?i)<(img|svg|iframe|object|embed)\b").unwrap();
    assert!(!tag.is_match(html), "{:?}", tag.find(html));
    assert_eq!(
        html.to_ascii_lowercase().matches("<style").count(),
        1,
        "only the page's own style"
    );
}

#[tokio::test]
async fn an_incident_page_shows_every_update_newest_first_with_markdown() {
    let (app, _) = common::app_with_incidents();
    let (status, headers, page) = get(&app, "/incidents/db-outage").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(headers.contains_key(header::ETAG));
    assert!(page.starts_with("<!doctype html>"));

    // Name (escaped), impact colour, status, links back.
    assert!(page.contains(
        "<title>Database &#60;primary&#62; outage &#38; failover · Acme Cloud Status</title>"
    ));
    assert!(page.contains(r#"<h2 id="incident-h" class="t-major">Database &#60;primary&#62; outage &#38; failover</h2>"#));
    assert!(page.contains(r#"<div class="event i-major">"#));
    assert!(page.contains(
        "<strong>Resolved</strong> · Incident · Impact: <span class=\"t-major\">Major</span>"
    ));
    assert!(page.contains(r#"<a href="/">"#));
    assert!(page.contains(r#"<a href="/history">Incident history</a>"#));
    assert!(page.contains("<dt>Affected</dt><dd>REST API, Search</dd>"));

    // Updates newest first, although the API list came oldest first.
    let updates = between(&page, r#"<ol class="updates""#, "</ol>");
    let labels: Vec<&str> = Regex::new(r"<h3>([^<]+)</h3>")
        .unwrap()
        .captures_iter(updates)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(labels, ["Resolved", "Identified", "Investigating"]);

    // Times in the page's zone with its abbreviation, machine-readable in UTC.
    assert!(updates.contains(r#"<time data-local datetime="2026-03-31T16:45:00Z" title="Mar 31, 2026 10:45 MDT (America/Denver)">Mar 31, 2026 10:45 MDT</time>"#));
    assert!(updates.contains(r#"<time data-local datetime="2026-03-31T15:00:00Z" title="Mar 31, 2026 09:00 MDT (America/Denver)">Mar 31, 2026 09:00 MDT</time>"#));
    assert!(page.contains("<dt>Started</dt><dd><time data-local datetime=\"2026-03-31T15:00:00Z\""));
    assert!(
        page.contains("<dt>Resolved</dt><dd><time data-local datetime=\"2026-03-31T16:45:00Z\"")
    );

    // Markdown rendered: emphasis, line breaks from \r\n, lists, safe links.
    assert!(
        updates.contains("<p>We are <strong>investigating</strong> errors.<br>\nMore soon.</p>")
    );
    assert!(updates.contains("<ul>\n<li>disk full</li>\n<li>failover stuck</li>\n</ul>"));
    assert!(updates.contains(r#"<a href="https://docs.acme.test/runbook" rel="noopener noreferrer nofollow">the runbook</a>"#));
    assert_inert(&page);

    // Works without JavaScript: every time already has its text.
    assert!(!page.contains("></time>"));
}

#[tokio::test]
async fn xss_payloads_in_an_update_are_inert_everywhere() {
    let (app, _) = common::app_with_incidents();
    let (status, _, page) = get(&app, "/incidents/api-slow").await;
    assert_eq!(status, StatusCode::OK);
    assert_inert(&page);
    // Shown as text, so the operator sees what was typed.
    assert!(page.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains(r#"<a rel="noopener noreferrer nofollow">click me</a>"#));
    assert!(page.contains("&lt;svg onload=alert(3)&gt;"));
    assert!(page.contains(
        "<strong>Investigating</strong> · Incident · Impact: <span class=\"t-minor\">Minor</span>"
    ));
    // Open: no resolution time.
    assert!(!page.contains("<dt>Resolved</dt>"));

    // The home page shows the same body, just as inert.
    let (_, _, home) = get(&app, "/").await;
    assert_inert(&home);
    assert!(home.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"));
}

#[tokio::test]
async fn a_maintenance_page_shows_its_window() {
    let (app, _) = common::app_with_incidents();
    let (status, _, page) = get(&app, "/incidents/db-upgrade").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<h2 id="incident-h" class="t-maintenance">Database upgrade</h2>"#));
    assert!(page.contains("<strong>Scheduled</strong> · Scheduled maintenance · Impact: <span class=\"t-maintenance\">Maintenance</span>"));
    assert!(page.contains(concat!(
        r#"<dt>Scheduled</dt><dd><time data-local datetime="2026-04-02T08:00:00Z" title="Apr 2, 2026 02:00 MDT (America/Denver)">Apr 2, 2026 02:00 MDT</time>"#,
        r#" – <time data-local datetime="2026-04-02T10:00:00Z" title="Apr 2, 2026 04:00 MDT (America/Denver)">Apr 2, 2026 04:00 MDT</time></dd>"#
    )));
    assert!(page
        .contains("<p>We will upgrade the database. Expect <em>brief</em> read-only periods.</p>"));
    assert!(!page.contains("<dt>Started</dt>"));
}

#[tokio::test]
async fn incident_page_html_snapshot() {
    let (app, _) = common::app_with_incidents();
    let (_, _, page) = get(&app, "/incidents/db-outage").await;
    insta::assert_snapshot!("incident_html", page);
}

#[tokio::test]
async fn an_unknown_incident_is_a_404_page() {
    let (app, _) = common::app_with_incidents();
    for path in [
        "/incidents/nope",
        "/incidents/DB-OUTAGE",
        "/incidents/db-outage.json",
    ] {
        let (status, headers, page) = get(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("Incident not found"));
        assert!(page.contains(r#"<a href="/history">Incident history</a>"#));
        assert!(!headers.contains_key(header::ETAG));
    }
    // With no incidents at all, too.
    let (app, _) = common::app();
    let (status, _, _) = get(&app, "/incidents/db-outage").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let head = Request::head("/incidents/nope")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, head).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_empty());
}

#[tokio::test]
async fn incident_pages_answer_conditional_gets() {
    let (app, _) = common::app_with_incidents();
    let (_, headers, _) = get(&app, "/incidents/db-outage").await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let req = Request::get("/incidents/db-outage")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::ETAG], etag.as_str());
    // Another incident's validator does not match.
    let req = Request::get("/incidents/api-slow")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.0, StatusCode::OK);
}

/// The month headings of the history page, in order.
fn months(page: &str) -> Vec<String> {
    Regex::new(r#"<h2 id="m-\d{4}-\d{2}">([^<]+)</h2>"#)
        .unwrap()
        .captures_iter(page)
        .map(|c| c[1].to_owned())
        .collect()
}

#[tokio::test]
async fn history_groups_by_month_in_the_page_zone() {
    let (app, _) = common::app_with_incidents();
    let (status, headers, page) = get(&app, "/history").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // From the upcoming maintenance's month down to the oldest incident's, empty ones included.
    assert_eq!(
        months(&page),
        [
            "April 2026",
            "March 2026",
            "February 2026",
            "January 2026",
            "December 2025"
        ]
    );
    let april = between(&page, "April 2026", "March 2026");
    assert!(april.contains(
        r#"<h3 class="t-maintenance"><a href="/incidents/db-upgrade">Database upgrade</a></h3>"#
    ));
    assert!(april.contains("<strong>Scheduled</strong>"));

    // Newest first within a month; an open incident is "ongoing".
    let march = between(&page, "March 2026", "February 2026");
    let slow = march.find("/incidents/api-slow").unwrap();
    let db = march.find("/incidents/db-outage").unwrap();
    assert!(slow < db);
    assert!(march.contains(
        r#"<h3 class="t-minor"><a href="/incidents/api-slow">Slow API responses</a></h3>"#
    ));
    assert!(march.contains("<strong>Investigating</strong> · <time data-local datetime=\"2026-03-31T17:00:00Z\" title=\"Mar 31, 2026 11:00 MDT (America/Denver)\">Mar 31, 2026 11:00 MDT</time> – ongoing"));
    assert!(march.contains(r#"<h3 class="t-major"><a href="/incidents/db-outage">Database &#60;primary&#62; outage &#38; failover</a></h3>"#));
    assert!(march.contains("<strong>Resolved</strong> · <time data-local datetime=\"2026-03-31T15:00:00Z\" title=\"Mar 31, 2026 09:00 MDT (America/Denver)\">Mar 31, 2026 09:00 MDT</time> – <time data-local datetime=\"2026-03-31T16:45:00Z\""));

    // 2026-03-01 03:00 UTC is Feb 28, 20:00 in Denver: February, not March.
    assert!(!march.contains("early-march"));
    let february = between(&page, "February 2026", "January 2026");
    assert!(february.contains(
        r#"<h3 class="t-critical"><a href="/incidents/early-march">Login failures</a></h3>"#
    ));
    assert!(february.contains("Feb 28, 2026 20:00 MST"));

    let january = between(&page, "January 2026", "December 2025");
    assert!(january.contains("No incidents reported."));
    assert!(!january.contains("<article"));
    assert_eq!(page.matches("No incidents reported.").count(), 1);
    assert!(page[page.find("December 2025").unwrap()..].contains("/incidents/old-dec"));
}

#[tokio::test]
async fn the_same_instant_files_under_march_on_a_utc_page() {
    let (incidents, maintenances) = common::incidents();
    let snap = Snapshot::build_with(&common::view_in(chrono_tz::UTC), &incidents, &maintenances);
    let page = String::from_utf8(snap.get(Resource::History).body.to_vec()).unwrap();
    // "Now" (2026-04-01 00:00 UTC) is in April on a UTC page.
    assert_eq!(
        months(&page),
        [
            "April 2026",
            "March 2026",
            "February 2026",
            "January 2026",
            "December 2025"
        ]
    );
    let march = between(&page, "March 2026", "February 2026");
    assert!(march.contains("/incidents/early-march"));
    assert!(march.contains("Mar 1, 2026 03:00 UTC"));
    let february = between(&page, "February 2026", "January 2026");
    assert!(february.contains("No incidents reported."));
}

#[tokio::test]
async fn an_empty_history_shows_this_month() {
    let (app, _) = common::app();
    let (status, _, page) = get(&app, "/history").await;
    assert_eq!(status, StatusCode::OK);
    // "Now" is 2026-04-01 00:00 UTC, still March 31 in Denver.
    assert_eq!(months(&page), ["March 2026"]);
    assert!(page.contains("No incidents reported."));
    assert!(!page.contains("/incidents/"));
}

#[tokio::test]
async fn history_html_snapshot() {
    let (app, _) = common::app_with_incidents();
    let (_, _, page) = get(&app, "/history").await;
    insta::assert_snapshot!("history_html", page);
}

#[tokio::test]
async fn the_home_page_links_open_incidents_and_the_history() {
    let (app, _) = common::app_with_incidents();
    let (_, _, home) = get(&app, "/").await;
    assert!(home.contains(r#"<h3><a href="/incidents/api-slow">Slow API responses</a></h3>"#));
    assert!(home.contains(r#"<h3><a href="/incidents/db-upgrade">Database upgrade</a></h3>"#));
    // Resolved incidents are not on the home page.
    assert!(!home.contains("/incidents/db-outage"));
    assert!(home.contains("<strong>Scheduled</strong> – We will upgrade the database. Expect <em>brief</em> read-only periods."));
    let (_, _, empty) = get(&common::app().0, "/").await;
    assert!(empty.contains(r#"<a href="/history">Incident history</a>"#));
    assert!(home.contains(r#"<a href="/history">Incident history</a>"#));
}

#[test]
fn a_rebuild_re_renders_only_what_changed() {
    let (mut incidents, maintenances) = common::incidents();
    let view = common::view();
    let first = Snapshot::build_with(&view, &incidents, &maintenances);
    let page = |s: &Snapshot, id: &str| s.incident(id).unwrap().clone();

    // An hour later a component changes; no incident does. Nothing incident-related is
    // re-rendered: the bodies are the very same bytes, with the first build's dates (a fresh
    // render would carry the new build time).
    let mut later = view.clone();
    later.generated_at = common::at("2026-04-01T01:00:00Z");
    later.updated_at = common::at("2026-04-01T01:00:00Z");
    later.components[0].status = ComponentStatus::MajorOutage;
    let second = Snapshot::build_reusing(&later, &incidents, &maintenances, Some(&first));
    for id in [
        "db-outage",
        "api-slow",
        "early-march",
        "old-dec",
        "db-upgrade",
    ] {
        let (a, b) = (page(&first, id), page(&second, id));
        assert_eq!(a.etag, b.etag, "{id}");
        assert_eq!(a.last_modified, b.last_modified, "{id}");
        assert!(a.body.as_ptr() == b.body.as_ptr(), "{id} was re-rendered");
    }
    for r in [
        Resource::History,
        Resource::HistoryAtom,
        Resource::HistoryRss,
    ] {
        assert!(
            first.get(r).body.as_ptr() == second.get(r).body.as_ptr(),
            "{r:?} was re-rendered"
        );
        assert_eq!(first.get(r).last_modified, second.get(r).last_modified);
    }
    // The status page itself did change.
    assert_ne!(
        first.get(Resource::Page).etag,
        second.get(Resource::Page).etag
    );

    // A new update on one incident re-renders that incident, the history and the feeds only.
    let slow = incidents.iter_mut().find(|i| i.id == "api-slow").unwrap();
    slow.incident_updates.insert(
        0,
        common::update(
            "api-slow",
            "s2",
            pharos_web::v2::IncidentStatus::Identified,
            "A slow query.",
            "2026-04-01T00:30:00Z",
        ),
    );
    slow.status = pharos_web::v2::IncidentStatus::Identified;
    slow.updated_at = common::api_time("2026-04-01T00:30:00Z");
    let third = Snapshot::build_reusing(&later, &incidents, &maintenances, Some(&second));
    let (old, new) = (page(&second, "api-slow"), page(&third, "api-slow"));
    assert_ne!(old.etag, new.etag);
    assert_eq!(new.last_modified, "Wed, 01 Apr 2026 01:00:00 GMT");
    assert!(String::from_utf8(new.body.to_vec())
        .unwrap()
        .contains("A slow query."));
    let (old, new) = (page(&second, "db-outage"), page(&third, "db-outage"));
    assert!(old.body.as_ptr() == new.body.as_ptr());
    assert_ne!(
        second.get(Resource::HistoryAtom).etag,
        third.get(Resource::HistoryAtom).etag
    );

    // A renamed page re-renders everything.
    let mut renamed = later.clone();
    renamed.page.name = "Acme".to_owned();
    let fourth = Snapshot::build_reusing(&renamed, &incidents, &maintenances, Some(&third));
    let (old, new) = (page(&third, "db-outage"), page(&fourth, "db-outage"));
    assert_ne!(old.etag, new.etag);
    assert!(String::from_utf8(new.body.to_vec())
        .unwrap()
        .contains("· Acme Status</title>"));

    // Removed incidents are gone.
    let fifth = Snapshot::build_reusing(&renamed, &incidents[..1], &[], Some(&fourth));
    assert_eq!(fifth.incident_count(), 1);
    assert!(fifth.incident("api-slow").is_none());
}

#[test]
fn an_identical_rebuild_keeps_every_date() {
    let (incidents, maintenances) = common::incidents();
    let view = common::view();
    let first = Snapshot::build_with(&view, &incidents, &maintenances);
    let mut later = view.clone();
    later.generated_at = common::at("2026-04-01T00:30:00Z");
    // Without reuse every body is rendered again with a new date; equal bodies get the old
    // date back.
    let mut second = Snapshot::build_with(&later, &incidents, &maintenances);
    second.keep_dates_of_unchanged(&first);
    let a = first.incident("db-outage").unwrap();
    let b = second.incident("db-outage").unwrap();
    assert_eq!(a.etag, b.etag);
    assert_eq!(a.last_modified, b.last_modified);
    assert_eq!(
        first.get(Resource::HistoryRss).last_modified,
        second.get(Resource::HistoryRss).last_modified
    );
}
