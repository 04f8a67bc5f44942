//! `/history.atom` and `/history.rss` through the real router: well-formed XML (parsed strictly
//! with quick-xml), Statuspage's feed shape element by element, the first `<strong>` of each
//! entry being its current status, escaping, the 50-entry cap, CORS and conditional GET.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

use crate::common;

use crate::common::xml::{self, Element};
use crate::common::{get, send};
use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use pharos_domain::Indicator;
use pharos_web::v2::IncidentStatus;
use pharos_web::{Resource, Snapshot};
use regex::Regex;

/// The text of the first `<strong>` of an entry's HTML content.
fn first_strong(html: &str) -> String {
    Regex::new(r"<strong>([^<]*)</strong>")
        .unwrap()
        .captures(html)
        .unwrap_or_else(|| panic!("no <strong> in {html}"))[1]
        .to_owned()
}

/// Nothing in an entry's HTML can run script.
fn assert_inert(html: &str) {
    for re in [
        r"(?i)<(script|img|svg|iframe|style|object|embed)\b",
        r#"(?i)<[a-z][^>]*\son[a-z]+\s*="#,
        r#"(?i)<[a-z][^>]*=\s*["']?\s*javascript:"#,
    ] {
        let re = Regex::new(re).unwrap();
        assert!(!re.is_match(html), "{:?} in {html}", re.find(html));
    }
}

fn entry_id(entry: &Element) -> String {
    entry.child("id").text.clone()
}

#[tokio::test]
async fn atom_is_well_formed_and_shaped_like_statuspage() {
    let (app, _) = common::app_with_incidents();
    let (status, headers, body) = get(&app, "/history.atom").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(body.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xml:lang=\"en-US\" xmlns=\"http://www.w3.org/2005/Atom\">\n"
    ));

    let feed = xml::parse(&body).unwrap();
    assert_eq!(feed.name, "feed");
    assert_eq!(feed.attr("xml:lang"), Some("en-US"));
    assert_eq!(feed.attr("xmlns"), Some("http://www.w3.org/2005/Atom"));
    assert_eq!(
        feed.child_names()[..6],
        ["id", "link", "link", "title", "updated", "author"]
    );
    assert_eq!(feed.child("id").text, "tag:status.acme.test,2005:/history");
    let links: Vec<(&str, &str, &str)> = feed
        .all("link")
        .map(|l| {
            (
                l.attr("rel").unwrap(),
                l.attr("type").unwrap(),
                l.attr("href").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            ("alternate", "text/html", "https://status.acme.test"),
            (
                "self",
                "application/atom+xml",
                "https://status.acme.test/history.atom"
            )
        ]
    );
    assert_eq!(
        feed.child("title").text,
        "Acme Cloud Status - Incident History"
    );
    assert_eq!(feed.child("author").child("name").text, "Acme Cloud");
    // The newest entry's last update.
    assert_eq!(feed.child("updated").text, "2026-03-31T17:00:00.000Z");

    // Incidents and maintenances together, by last update.
    let entries: Vec<&Element> = feed.all("entry").collect();
    let ids: Vec<String> = entries.iter().map(|e| entry_id(e)).collect();
    assert_eq!(
        ids,
        [
            "tag:status.acme.test,2005:Incident/api-slow",
            "tag:status.acme.test,2005:Incident/db-outage",
            "tag:status.acme.test,2005:Incident/db-upgrade",
            "tag:status.acme.test,2005:Incident/early-march",
            "tag:status.acme.test,2005:Incident/old-dec",
        ]
    );
    let mut statuses = Vec::new();
    for e in &entries {
        assert_eq!(
            e.child_names(),
            ["id", "published", "updated", "link", "title", "content"]
        );
        let link = e.child("link");
        assert_eq!(link.attr("rel"), Some("alternate"));
        assert_eq!(link.attr("type"), Some("text/html"));
        let id = entry_id(e).rsplit('/').next().unwrap().to_owned();
        assert_eq!(
            link.attr("href").unwrap(),
            format!("https://status.acme.test/incidents/{id}")
        );
        let content = e.child("content");
        assert_eq!(content.attr("type"), Some("html"));
        assert!(content.text.starts_with("<p><small>"), "{}", content.text);
        assert_inert(&content.text);
        statuses.push(first_strong(&content.text));
    }
    // Parsers regex the first <strong> for the current status.
    assert_eq!(
        statuses,
        [
            "Investigating",
            "Resolved",
            "Scheduled",
            "Resolved",
            "Resolved"
        ]
    );

    let db = entries[1];
    assert_eq!(
        db.child("title").text,
        "Database <primary> outage & failover"
    );
    assert_eq!(db.child("published").text, "2026-03-31T15:00:00.000Z");
    assert_eq!(db.child("updated").text, "2026-03-31T16:45:00.000Z");
    let content = &db.child("content").text;
    // Every update, newest first, in the page's zone with its abbreviation.
    assert!(content.starts_with(concat!(
        "<p><small>Mar <var data-var='date'>31</var>, <var data-var='time'>10:45</var> MDT</small><br>",
        "<strong>Resolved</strong> - This incident has been resolved.</p>",
        "<p><small>Mar <var data-var='date'>31</var>, <var data-var='time'>09:30</var> MDT</small><br>",
        "<strong>Identified</strong> - Cause found:<ul><li>disk full</li><li>failover stuck</li></ul>",
        "<br><br>See <a href=\"https://docs.acme.test/runbook\" rel=\"noopener noreferrer nofollow\">the runbook</a>.</p>"
    )));
    assert!(content.ends_with(concat!(
        "<p><small>Mar <var data-var='date'>31</var>, <var data-var='time'>09:00</var> MDT</small><br>",
        "<strong>Investigating</strong> - We are <strong>investigating</strong> errors.<br>More soon.</p>"
    )));
    let labels: Vec<String> = Regex::new(r"<br><strong>([^<]*)</strong> - ")
        .unwrap()
        .captures_iter(content)
        .map(|c| c[1].to_owned())
        .collect();
    assert_eq!(labels, ["Resolved", "Identified", "Investigating"]);

    // Feb 28 in Denver; single-digit days are space-padded as on Statuspage.
    assert!(entries[3]
        .child("content")
        .text
        .starts_with("<p><small>Feb <var data-var='date'>28</var>, <var data-var='time'>21:00</var> MST</small><br><strong>Resolved</strong> - Fixed.</p>"));
    let maintenance = &entries[2].child("content").text;
    assert!(maintenance.ends_with(
        "<p><strong>THIS IS A SCHEDULED EVENT Apr <var data-var='date'> 2</var>, <var data-var='time'>02:00</var> - <var data-var='time'>04:00</var> MDT</strong></p>"
    ));

    // The XSS body stays text inside the content.
    let slow = &entries[0].child("content").text;
    assert!(slow.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"));
    assert!(slow.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Escaped once more in the XML itself.
    assert!(body.contains("&amp;lt;script&amp;gt;"));

    insta::assert_snapshot!("history_atom", body);
}

#[tokio::test]
async fn rss_is_well_formed_and_shaped_like_statuspage() {
    let (app, _) = common::app_with_incidents();
    let (status, headers, body) = get(&app, "/history.rss").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/rss+xml; charset=utf-8"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

    let rss = xml::parse(&body).unwrap();
    assert_eq!(rss.name, "rss");
    assert_eq!(rss.attr("version"), Some("2.0"));
    assert_eq!(rss.attr("xmlns:atom"), Some("http://www.w3.org/2005/Atom"));
    assert_eq!(rss.child_names(), ["channel"]);
    let channel = rss.child("channel");
    assert_eq!(
        channel.child_names()[..5],
        ["title", "link", "atom:link", "description", "pubDate"]
    );
    // The channel names its own address.
    let own = channel.child("atom:link");
    assert_eq!(
        (own.attr("href"), own.attr("rel"), own.attr("type")),
        (
            Some("https://status.acme.test/history.rss"),
            Some("self"),
            Some("application/rss+xml")
        )
    );
    assert_eq!(
        channel.child("title").text,
        "Acme Cloud Status - Incident History"
    );
    assert_eq!(channel.child("link").text, "https://status.acme.test");
    assert_eq!(
        channel.child("pubDate").text,
        "Tue, 31 Mar 2026 11:00:00 -0600"
    );

    let items: Vec<&Element> = channel.all("item").collect();
    assert_eq!(items.len(), 5);
    let mut statuses = Vec::new();
    for item in &items {
        assert_eq!(
            item.child_names(),
            ["title", "description", "pubDate", "link", "guid"]
        );
        let link = &item.child("link").text;
        assert!(link.starts_with("https://status.acme.test/incidents/"));
        assert_eq!(&item.child("guid").text, link);
        chrono::DateTime::parse_from_rfc2822(&item.child("pubDate").text).unwrap();
        let description = &item.child("description").text;
        assert_inert(description);
        statuses.push(first_strong(description));
    }
    assert_eq!(
        statuses,
        [
            "Investigating",
            "Resolved",
            "Scheduled",
            "Resolved",
            "Resolved"
        ]
    );
    assert_eq!(
        items[1].child("title").text,
        "Database <primary> outage & failover"
    );
    assert_eq!(
        items[1].child("pubDate").text,
        "Tue, 31 Mar 2026 10:45:00 -0600"
    );
    assert_eq!(
        items[1].child("link").text,
        "https://status.acme.test/incidents/db-outage"
    );
    // Statuspage's RSS escapes apostrophes.
    assert!(body.contains("&lt;var data-var=&apos;date&apos;&gt;31&lt;/var&gt;"));

    insta::assert_snapshot!("history_rss", body);
}

#[tokio::test]
async fn feeds_answer_conditional_gets_with_cors() {
    let (app, _) = common::app_with_incidents();
    for path in ["/history.atom", "/history.rss"] {
        let (_, headers, _) = get(&app, path).await;
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let req = Request::get(path)
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(body.is_empty());
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

        let req = Request::get(path)
            .header(header::IF_NONE_MATCH, "\"stale\"")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);

        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, "https://reader.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = send(&app, preflight).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}

#[test]
fn empty_feeds_are_valid() {
    let snap = Snapshot::build(&common::view());
    let atom = String::from_utf8(snap.get(Resource::HistoryAtom).body.to_vec()).unwrap();
    let feed = xml::parse(&atom).unwrap();
    assert_eq!(feed.all("entry").count(), 0);
    // No entries: the page's last update.
    assert_eq!(feed.child("updated").text, "2026-03-31T17:45:12.345Z");
    let rss = String::from_utf8(snap.get(Resource::HistoryRss).body.to_vec()).unwrap();
    let rss = xml::parse(&rss).unwrap();
    assert_eq!(rss.child("channel").all("item").count(), 0);
    assert_eq!(
        rss.child("channel").child("pubDate").text,
        "Tue, 31 Mar 2026 11:45:12 -0600"
    );
}

#[test]
fn feeds_hold_the_newest_fifty_by_last_update() {
    // 60 incidents created in order, but updated in reverse: the oldest was touched last.
    let incidents: Vec<_> = (0..60)
        .map(|n| {
            let created = format!("2026-01-01T00:{n:02}:00Z");
            let mut i = common::incident_of(
                &format!("inc{n:02}"),
                &format!("Incident {n}"),
                IncidentStatus::Resolved,
                Indicator::Minor,
                &created,
                Some(&created),
                vec![common::update(
                    &format!("inc{n:02}"),
                    &format!("u{n}"),
                    IncidentStatus::Resolved,
                    "Done.",
                    &created,
                )],
            );
            let updated = common::at("2026-02-01T00:00:00Z") + chrono::Duration::hours(100 - n / 2);
            i.updated_at = pharos_web::v2::ApiTime::in_zone(updated, common::TZ);
            i
        })
        .collect();
    let snap = Snapshot::build_with(&common::view(), &incidents, &[]);
    let atom = String::from_utf8(snap.get(Resource::HistoryAtom).body.to_vec()).unwrap();
    let feed = xml::parse(&atom).unwrap();
    let ids: Vec<String> = feed
        .all("entry")
        .map(|e| entry_id(e).rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 50);
    // Same updated_at in pairs: the later-created one first.
    assert_eq!(ids[..4], ["inc01", "inc00", "inc03", "inc02"]);
    assert!(!ids.contains(&"inc50".to_owned()));
    assert!(ids.contains(&"inc49".to_owned()));
    let rss = String::from_utf8(snap.get(Resource::HistoryRss).body.to_vec()).unwrap();
    assert_eq!(
        xml::parse(&rss)
            .unwrap()
            .child("channel")
            .all("item")
            .count(),
        50
    );
    // Every incident still has its page and its place in the history.
    assert_eq!(snap.incident_count(), 60);
    let history = String::from_utf8(snap.get(Resource::History).body.to_vec()).unwrap();
    assert_eq!(history.matches("<article").count(), 60);
}

#[test]
fn hosts_and_links_come_from_the_public_url() {
    let mut view = common::view();
    view.page.url = "https://status.acme.test:8443/".to_owned();
    view.page.name = "Acme \"Cloud\" & <Co>".to_owned();
    let (incidents, maintenances) = common::incidents();
    let snap = Snapshot::build_with(&view, &incidents, &maintenances);
    let atom = String::from_utf8(snap.get(Resource::HistoryAtom).body.to_vec()).unwrap();
    let feed = xml::parse(&atom).unwrap();
    assert_eq!(feed.child("id").text, "tag:status.acme.test,2005:/history");
    assert_eq!(
        feed.child("title").text,
        "Acme \"Cloud\" & <Co> Status - Incident History"
    );
    let entry = feed.child("entry");
    assert_eq!(
        entry.child("link").attr("href"),
        Some("https://status.acme.test:8443/incidents/api-slow")
    );
    let rss = String::from_utf8(snap.get(Resource::HistoryRss).body.to_vec()).unwrap();
    let rss = xml::parse(&rss).unwrap();
    assert_eq!(
        rss.child("channel").child("link").text,
        "https://status.acme.test:8443"
    );
}

#[test]
fn two_updates_within_one_second_still_differ() {
    let (incidents, maintenances) = common::incidents();
    let slow = incidents.iter().position(|i| i.id == "api-slow").unwrap();
    let atom_at = |incidents: &[pharos_web::v2::Incident], at: &str| {
        let mut incidents = incidents.to_vec();
        incidents[slow].updated_at = common::api_time(at);
        let snap = Snapshot::build_with(&common::view(), &incidents, &maintenances);
        let body = String::from_utf8(snap.get(Resource::HistoryAtom).body.to_vec()).unwrap();
        let feed = xml::parse(&body).unwrap();
        let entry = feed
            .all("entry")
            .find(|e| e.child("id").text.ends_with("/api-slow"))
            .unwrap()
            .child("updated")
            .text
            .clone();
        (feed.child("updated").text.clone(), entry)
    };
    let first = atom_at(&incidents, "2026-03-31T23:59:58.100Z");
    let second = atom_at(&incidents, "2026-03-31T23:59:58.900Z");
    assert_eq!(
        first,
        (
            "2026-03-31T23:59:58.100Z".to_owned(),
            "2026-03-31T23:59:58.100Z".to_owned()
        )
    );
    assert_eq!(second.1, "2026-03-31T23:59:58.900Z");
    assert_ne!(first, second);
}
