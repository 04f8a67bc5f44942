//! What people read: the HTML page and the summary JSON of a fixed view, as reviewed insta
//! snapshots, plus the page's promises (no external assets, 90 bars, written statuses).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

use crate::common;

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
    let incidents = serde_json::from_str::<IncidentsResponse>(include_str!(
        "../fixtures/discord-unresolved.json"
    ))
    .unwrap()
    .incidents;
    let mut maintenances = serde_json::from_str::<MaintenancesResponse>(include_str!(
        "../fixtures/discord-scheduled-maintenances.json"
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

/// The banner (colour, icon, words) and today's bars over every combination of two components'
/// statuses (and none at all) × open incidents (none; one of every impact in every open
/// status; two of the same impact; a resolved one) × maintenance (none, upcoming, in progress).
/// The colour is always `status.json`'s indicator, the icon follows the colour, the words are
/// Statuspage's description unless an open incident raised the indicator (then they say what
/// the incident is doing, never "All Systems Operational" on a colour that says otherwise),
/// and today's bar of each component is at least as bad as its status.
#[test]
fn banner_and_bars_agree_in_every_combination() {
    use pharos_domain::{ComponentStatus, Indicator, PageStatus};
    use pharos_web::v2::{IncidentStatus, MaintenanceStatus, ScheduledMaintenance, StatusResponse};

    let banner_re = regex::Regex::new(
        r#"<div class="banner ([a-z]+)" role="status"><span class="icon" aria-hidden="true">([^<]*)</span><span>([^<]*)</span></div>"#,
    )
    .unwrap();
    let today_bar_re = regex::Regex::new(
        r#"<button class="b-([a-z]+)"><span>(Mar 31, 2026: [^<]*)</span></button></div>"#,
    )
    .unwrap();
    let seven = [
        ("All Systems Operational", Indicator::None),
        ("Major System Outage", Indicator::Critical),
        ("Partial System Outage", Indicator::Major),
        ("Minor Service Outage", Indicator::Minor),
        ("Degraded System Service", Indicator::Minor),
        ("Partially Degraded Service", Indicator::Minor),
        ("Service Under Maintenance", Indicator::Maintenance),
    ];
    let phrase = |s: IncidentStatus| match s {
        IncidentStatus::Investigating => "Incident under investigation",
        IncidentStatus::Identified => "Issue identified, fix in progress",
        IncidentStatus::Monitoring => "Fix applied, monitoring",
        _ => unreachable!(),
    };
    let class_of = |s: ComponentStatus| match s {
        ComponentStatus::Operational => "op",
        ComponentStatus::DegradedPerformance => "deg",
        ComponentStatus::PartialOutage => "part",
        ComponentStatus::MajorOutage => "major",
        ComponentStatus::UnderMaintenance => "maint",
    };

    let mut leaf_sets: Vec<Vec<ComponentStatus>> = vec![vec![]];
    for a in ComponentStatus::ALL {
        for b in ComponentStatus::ALL {
            leaf_sets.push(vec![a, b]);
        }
    }
    let impacts = [
        Indicator::None,
        Indicator::Minor,
        Indicator::Major,
        Indicator::Critical,
        Indicator::Maintenance,
    ];
    let open = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
    ];
    let incident = |n: usize, impact: Indicator, status: IncidentStatus| {
        common::incident_of(
            &format!("i{n}"),
            &format!("Incident {n}"),
            status,
            impact,
            "2026-03-31T15:00:00Z",
            None,
            vec![common::update(
                &format!("i{n}"),
                &format!("u{n}"),
                status,
                "Body.",
                "2026-03-31T15:00:00Z",
            )],
        )
    };
    let mut incident_sets: Vec<Vec<pharos_web::v2::Incident>> = vec![vec![]];
    for impact in impacts {
        for status in open {
            incident_sets.push(vec![incident(1, impact, status)]);
        }
        incident_sets.push(vec![
            incident(1, impact, IncidentStatus::Monitoring),
            incident(2, impact, IncidentStatus::Investigating),
        ]);
    }
    incident_sets.push(vec![incident(
        1,
        Indicator::Critical,
        IncidentStatus::Resolved,
    )]);
    let (_, fixture_maintenances) = common::incidents();
    let maintenance = |status: MaintenanceStatus| -> Vec<ScheduledMaintenance> {
        let mut m = fixture_maintenances[0].clone();
        m.incident.status = status;
        vec![m]
    };
    let maintenance_sets = [
        vec![],
        maintenance(MaintenanceStatus::Scheduled),
        maintenance(MaintenanceStatus::InProgress),
    ];

    let base = common::view();
    let mut cases = 0;
    for leaves in &leaf_sets {
        let mut view = base.clone();
        // Two top-level components whose history is all operational; today included.
        view.components
            .retain(|c| ["website", "search"].contains(&c.id.as_str()));
        view.components.truncate(leaves.len());
        for (c, status) in view.components.iter_mut().zip(leaves) {
            c.status = *status;
            for d in &mut c.uptime_days {
                *d = common::day(d.date, 0, 0, 0, 0);
            }
        }
        for incidents in &incident_sets {
            for maintenances in &maintenance_sets {
                cases += 1;
                let snap = Snapshot::build_with(&view, incidents, maintenances);
                let page = html(&snap);
                let status: StatusResponse =
                    serde_json::from_slice(&snap.get(Resource::Status).body).unwrap();
                let rollup = PageStatus::rollup(leaves);
                let raised_by = incidents
                    .iter()
                    .filter(|i| i.status.is_unresolved())
                    .map(|i| i.impact);
                let expected = rollup.raised_by(raised_by);
                let case = format!(
                    "{leaves:?} × {:?} × {:?}",
                    incidents
                        .iter()
                        .map(|i| (i.impact, i.status))
                        .collect::<Vec<_>>(),
                    maintenances
                        .iter()
                        .map(|m| m.incident.status)
                        .collect::<Vec<_>>()
                );
                // The API keeps Statuspage's words, whatever the incidents.
                assert_eq!(status.status.indicator, expected.indicator, "{case}");
                assert_eq!(status.status.description, rollup.description, "{case}");

                let caps = banner_re
                    .captures(&page)
                    .unwrap_or_else(|| panic!("{case}: no banner"));
                let (class, icon, words) = (&caps[1], &caps[2], &caps[3]);
                assert_eq!(class, expected.indicator.as_str(), "{case}");
                let expected_icon = match expected.indicator {
                    Indicator::None => "\u{2713}",
                    Indicator::Maintenance => "\u{2699}\u{FE0E}",
                    _ => "!",
                };
                assert_eq!(icon, expected_icon, "{case}");
                let responsible: Vec<_> = incidents
                    .iter()
                    .filter(|i| i.status.is_unresolved() && i.impact == expected.indicator)
                    .collect();
                if expected.indicator == rollup.indicator {
                    assert_eq!(words, rollup.description, "{case}");
                } else if responsible.len() > 1 {
                    assert_eq!(
                        words,
                        format!("{} open incidents", responsible.len()),
                        "{case}"
                    );
                } else if expected.indicator == Indicator::Maintenance {
                    assert_eq!(words, "Maintenance in progress", "{case}");
                } else {
                    assert_eq!(words, phrase(responsible[0].status), "{case}");
                }
                // Never words that claim a different colour.
                if let Some((_, meant)) = seven.iter().find(|(d, _)| *d == words) {
                    assert_eq!(*meant, expected.indicator, "{case}: {words} on {class}");
                }

                // Today's bar of each component shows at least its status.
                let todays: Vec<_> = today_bar_re.captures_iter(&page).collect();
                assert_eq!(todays.len(), leaves.len(), "{case}");
                for (bar, status) in todays.iter().zip(leaves) {
                    assert_eq!(&bar[1], class_of(*status), "{case}");
                    if *status != ComponentStatus::Operational {
                        assert!(bar[2].contains(status.label()), "{case}: {}", &bar[2]);
                    }
                }
            }
        }
    }
    assert_eq!(cases, 26 * 22 * 3);
}

#[test]
fn branding_shows_on_every_page_without_inline_style_or_script() {
    let mut view = common::view();
    view.page.branding = pharos_engine::Branding {
        logo_url: Some("https://cdn.acme.test/logo.svg".into()),
        favicon_url: Some("/favicon.png".into()),
        accent_color: Some("#6f42c1".into()),
        home_url: Some("https://acme.test".into()),
        support_url: Some("mailto:help@acme.test".into()),
    };
    let (incidents, maintenances) = common::incidents();
    let snap = Snapshot::build_with(&view, &incidents, &maintenances);
    let body = |e: &pharos_web::Entry| String::from_utf8(e.body.to_vec()).unwrap();
    let pages = [
        ("/", body(snap.get(Resource::Page))),
        ("/history", body(snap.get(Resource::History))),
        (
            "/incidents/db-outage",
            body(snap.incident("db-outage").unwrap()),
        ),
        ("not found", body(snap.incident_not_found())),
    ];
    // (Update bodies in the fixture quote such markup as escaped text, which is fine.)
    let inline = regex::Regex::new(
        r#"(?i)<[a-z][^<>]*\s(?:style\s*=|on[a-z]+\s*=|(?:href|src)\s*=\s*["']?\s*javascript:)"#,
    )
    .unwrap();
    for (path, page) in &pages {
        for needle in [
            r#"<a href="https://acme.test"><img class="logo" src="https://cdn.acme.test/logo.svg" alt="Acme Cloud"></a>"#,
            r#"<link rel="icon" href="/favicon.png">"#,
            r##"<meta name="theme-color" content="#6f42c1">"##,
            r#"<link rel="stylesheet" href="/theme.css">"#,
            r#"<a href="mailto:help@acme.test">Support</a>"#,
            r#"<a href="/history">Incident history</a>"#,
            r#"Subscribe to updates</a>"#,
        ] {
            assert!(page.contains(needle), "{path}: {needle}");
        }
        // What a strict Content-Security-Policy allows: one <style>, one <script>, nothing
        // inline beyond them.
        assert_eq!(page.matches("<style").count(), 1, "{path}");
        assert_eq!(page.matches("<script").count(), 1, "{path}");
        if let Some(m) = inline.find(page) {
            panic!(
                "{path}: inline markup at byte {}: {}",
                m.start(),
                m.as_str()
            );
        }
    }
    // The accent colour lives in /theme.css, never in the hashed <style> element.
    assert_eq!(
        body(snap.get(Resource::Theme)),
        ":root{--accent:#6f42c1;--on-accent:#fff}\n"
    );
    assert!(!pages[0].1.contains("#6f42c1;"));
    let plain = html(&Snapshot::build(&common::view()));
    let style = |p: &str| p[p.find("<style>").unwrap()..p.find("</style>").unwrap()].to_owned();
    assert_eq!(style(&pages[0].1), style(&plain));
}
