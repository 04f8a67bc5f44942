//! A hand-built [`StatusView`] covering groups, children, every status and uptime data, shared
//! by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use pharos_domain::uptime::{overall_ratio, DayUptime};
use pharos_domain::{ComponentId, ComponentStatus};
use pharos_engine::{ComponentView, PageInfo, StatusView};
use pharos_web::{router, Snapshot, WebState};

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn id(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

/// One fully observed day with the given seconds of trouble.
pub fn day(date: NaiveDate, major: i64, partial: i64, degraded: i64, maint: i64) -> DayUptime {
    DayUptime {
        date,
        observed_ms: 86_400_000,
        major_ms: major * 1000,
        partial_ms: partial * 1000,
        degraded_ms: degraded * 1000,
        maintenance_ms: maint * 1000,
    }
}

/// `n` days ending `today`, all operational, then patched by `f(index_from_oldest, day)`.
pub fn days(today: NaiveDate, n: i64, f: impl Fn(i64, &mut DayUptime)) -> Vec<DayUptime> {
    (0..n)
        .map(|i| {
            let mut d = day(today - Duration::days(n - 1 - i), 0, 0, 0, 0);
            f(i, &mut d);
            d
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn component(
    pos: u32,
    cid: &str,
    name: &str,
    description: Option<&str>,
    status: ComponentStatus,
    group: Option<&str>,
    uptime: Vec<DayUptime>,
    start: Option<NaiveDate>,
) -> ComponentView {
    ComponentView {
        id: id(cid),
        name: name.to_owned(),
        description: description.map(str::to_owned),
        position: pos,
        status,
        created_at: at("2025-01-15T09:30:00.123Z"),
        updated_at: at("2026-03-31T16:02:03.456Z"),
        group_id: group.map(id),
        is_group: false,
        children: Vec::new(),
        uptime_ratio: overall_ratio(&uptime),
        uptime_days: uptime,
        start_date: start,
        failing_from: Vec::new(),
    }
}

/// The page's time zone in [`view`].
pub const TZ: Tz = chrono_tz::America::Denver;

/// A page with a group of two, four top-level components, and every status.
pub fn view() -> StatusView {
    view_in(TZ)
}

/// [`view`] with another page time zone.
pub fn view_in(tz: Tz) -> StatusView {
    use ComponentStatus::*;
    let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let full = |f: fn(i64, &mut DayUptime)| days(today, 90, f);
    let api_rest = component(
        2,
        "api-rest",
        "REST API",
        None,
        PartialOutage,
        Some("api"),
        full(|i, d| match i {
            10 => d.major_ms = 3_600_000,
            40 => d.partial_ms = 7_200_000,
            89 => {
                d.observed_ms = 64_800_000;
                d.partial_ms = 1_800_000;
            }
            _ => {}
        }),
        Some(NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()),
    );
    let api_graphql = component(
        3,
        "api-graphql",
        "GraphQL API",
        Some("Queries & mutations <v2>"),
        Operational,
        Some("api"),
        days(today, 30, |i, d| {
            if i == 5 {
                d.degraded_ms = 600_000;
            }
        }),
        Some(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
    );
    let mut api = component(
        1,
        "api",
        "Core API",
        None,
        PartialOutage,
        None,
        vec![],
        None,
    );
    api.is_group = true;
    api.children = vec![id("api-rest"), id("api-graphql")];
    StatusView {
        page: PageInfo {
            id: "acme".to_owned(),
            name: "Acme Cloud".to_owned(),
            url: "https://status.acme.test".to_owned(),
            time_zone: tz,
            email_subscriptions: false,
            branding: Default::default(),
        },
        generated_at: at("2026-04-01T00:00:00Z"),
        updated_at: at("2026-03-31T17:45:12.345Z"),
        components: vec![
            component(
                0,
                "website",
                "Website",
                Some("The public website"),
                Operational,
                None,
                full(|i, d| {
                    if i == 60 {
                        d.maintenance_ms = 3_600_000;
                    }
                }),
                Some(NaiveDate::from_ymd_opt(2025, 1, 15).unwrap()),
            ),
            api,
            api_rest,
            api_graphql,
            component(
                4,
                "search",
                "Search",
                None,
                MajorOutage,
                None,
                full(|i, d| {
                    if i == 89 {
                        d.major_ms = 5_400_000;
                    }
                }),
                None,
            ),
            component(
                5,
                "billing",
                "Billing",
                None,
                UnderMaintenance,
                None,
                full(|i, d| {
                    if i == 89 {
                        d.maintenance_ms = 3_600_000;
                    }
                }),
                None,
            ),
            component(
                6,
                "emails",
                "Status emails",
                None,
                DegradedPerformance,
                None,
                vec![],
                None,
            ),
        ],
        monitors: vec![],
        incidents: Default::default(),
        maintenances: Default::default(),
    }
}

/// The real router over a snapshot of [`view`], with a fixed metrics text.
pub fn app() -> (axum::Router, WebState) {
    let state = WebState::new(Snapshot::build(&view()), || {
        "# TYPE pharos_up gauge\npharos_up 1\n".to_owned()
    });
    (router(state.clone()), state)
}

pub fn arc_view() -> Arc<StatusView> {
    Arc::new(view())
}

// ---------------------------------------------------------------------------------------------
// Incidents and maintenances, built directly as v2 types.

pub mod xml;

use pharos_web::v2::{
    self, AffectedComponent, ApiTime, Incident, IncidentOf, IncidentStatus, IncidentUpdateOf,
    MaintenanceStatus, ScheduledMaintenance,
};

/// `s` (RFC 3339) as the API writes it on the page of [`view`].
pub fn api_time(s: &str) -> ApiTime {
    ApiTime::in_zone(at(s), TZ)
}

/// One update of `incident`, shown and written at `when`.
pub fn update<S>(
    incident: &str,
    id: &str,
    status: S,
    body: &str,
    when: &str,
) -> IncidentUpdateOf<S> {
    IncidentUpdateOf {
        id: id.to_owned(),
        status,
        body: body.to_owned(),
        incident_id: incident.to_owned(),
        created_at: api_time(when),
        updated_at: api_time(when),
        display_at: api_time(when),
        affected_components: None,
        deliver_notifications: true,
        custom_tweet: None,
        tweet_id: None,
    }
}

/// An incident or maintenance whose `updated_at` is its newest update's time.
pub fn incident_of<S: Copy>(
    id: &str,
    name: &str,
    status: S,
    impact: pharos_domain::Indicator,
    started: &str,
    resolved: Option<&str>,
    updates: Vec<IncidentUpdateOf<S>>,
) -> IncidentOf<S> {
    let newest = updates
        .iter()
        .map(|u| u.display_at)
        .max_by_key(|t| t.utc())
        .unwrap_or_else(|| api_time(started));
    IncidentOf {
        id: id.to_owned(),
        name: name.to_owned(),
        status,
        created_at: api_time(started),
        updated_at: newest,
        monitoring_at: None,
        resolved_at: resolved.map(api_time),
        impact,
        shortlink: format!("https://status.acme.test/incidents/{id}"),
        started_at: api_time(started),
        page_id: "acme".to_owned(),
        incident_updates: updates,
        components: Vec::new(),
    }
}

/// A body full of real XSS payloads, next to ordinary Markdown.
pub const XSS_BODY: &str = "Payloads: <script>alert('xss')</script>\r\n\r\n<img src=x onerror=alert(1)>\r\n\r\n[click me](javascript:alert(1)) and <a href=\"javascript:alert(2)\">raw link</a>\r\n\r\n<svg onload=alert(3)>\r\n\r\n<iframe src=\"https://evil.example\"></iframe><style>body{display:none}</style>";

/// Incidents and maintenances on the page of [`view`] (America/Denver; "now" is
/// 2026-03-31 18:00 MDT):
///
/// - `db-outage`: resolved, major, Mar 31; three updates given OLDEST first (the API promises
///   newest first; the pages must not depend on it), Markdown bodies, affects REST API and Search.
/// - `api-slow`: open (investigating), minor, Mar 31, with the XSS body.
/// - `early-march`: resolved, critical, 2026-03-01 03:00 UTC, which is Feb 28 in Denver.
/// - `old-dec`: resolved, none, December 2025 (so January 2026 is empty).
/// - `db-upgrade`: a maintenance scheduled for Apr 2, 2026 02:00–04:00 MDT.
pub fn incidents() -> (Vec<Incident>, Vec<ScheduledMaintenance>) {
    use pharos_domain::Indicator;
    use IncidentStatus::*;
    let view = view();
    let component = |cid: &str| {
        let c = view
            .components
            .iter()
            .find(|c| c.id.as_str() == cid)
            .unwrap();
        v2::component(&view, c)
    };
    let mut db = incident_of(
        "db-outage",
        "Database <primary> outage & failover",
        Resolved,
        Indicator::Major,
        "2026-03-31T15:00:00Z",
        Some("2026-03-31T16:45:00Z"),
        vec![
            update(
                "db-outage",
                "u1",
                Investigating,
                "We are **investigating** errors.\r\nMore soon.",
                "2026-03-31T15:00:00Z",
            ),
            update(
                "db-outage",
                "u2",
                Identified,
                "Cause found:\r\n\r\n- disk full\r\n- failover stuck\r\n\r\nSee [the runbook](https://docs.acme.test/runbook).",
                "2026-03-31T15:30:00Z",
            ),
            update(
                "db-outage",
                "u3",
                Resolved,
                "This incident has been resolved.",
                "2026-03-31T16:45:00Z",
            ),
        ],
    );
    db.components = vec![component("api-rest"), component("search")];
    db.incident_updates[0].affected_components = Some(vec![AffectedComponent {
        code: Some("api-rest".to_owned()),
        name: "Core API - Core API :: REST API".to_owned(),
        old_status: Some(ComponentStatus::Operational),
        new_status: Some(ComponentStatus::MajorOutage),
    }]);

    let slow = incident_of(
        "api-slow",
        "Slow API responses",
        Investigating,
        Indicator::Minor,
        "2026-03-31T17:00:00Z",
        None,
        vec![update(
            "api-slow",
            "s1",
            Investigating,
            XSS_BODY,
            "2026-03-31T17:00:00Z",
        )],
    );
    let early = incident_of(
        "early-march",
        "Login failures",
        Resolved,
        Indicator::Critical,
        "2026-03-01T03:00:00Z",
        Some("2026-03-01T04:00:00Z"),
        vec![
            update(
                "early-march",
                "e2",
                Resolved,
                "Fixed.",
                "2026-03-01T04:00:00Z",
            ),
            update(
                "early-march",
                "e1",
                Investigating,
                "Looking.",
                "2026-03-01T03:00:00Z",
            ),
        ],
    );
    let old = incident_of(
        "old-dec",
        "Delayed emails",
        Resolved,
        Indicator::None,
        "2025-12-10T12:00:00Z",
        Some("2025-12-10T13:00:00Z"),
        vec![update(
            "old-dec",
            "d1",
            Resolved,
            "Delivered.",
            "2025-12-10T13:00:00Z",
        )],
    );
    let maintenance = ScheduledMaintenance {
        incident: incident_of(
            "db-upgrade",
            "Database upgrade",
            MaintenanceStatus::Scheduled,
            Indicator::Maintenance,
            "2026-03-30T12:00:00Z",
            None,
            vec![update(
                "db-upgrade",
                "m1",
                MaintenanceStatus::Scheduled,
                "We will upgrade the database. Expect _brief_ read-only periods.",
                "2026-03-30T12:00:00Z",
            )],
        ),
        scheduled_for: api_time("2026-04-02T08:00:00Z"),
        scheduled_until: api_time("2026-04-02T10:00:00Z"),
    };
    (vec![db, slow, early, old], vec![maintenance])
}

/// The real router over a snapshot of [`view`] with [`incidents`].
pub fn app_with_incidents() -> (axum::Router, WebState) {
    let (incidents, maintenances) = incidents();
    let state = WebState::new(
        Snapshot::build_with(&view(), &incidents, &maintenances),
        String::new,
    );
    (router(state.clone()), state)
}

/// Sends `req` to the router, returning the status, headers and body as text.
pub async fn send(
    app: &axum::Router,
    req: http::Request<axum::body::Body>,
) -> (http::StatusCode, http::HeaderMap, String) {
    use tower::ServiceExt as _;
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// `GET path` from the router.
pub async fn get(app: &axum::Router, path: &str) -> (http::StatusCode, http::HeaderMap, String) {
    send(
        app,
        http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
}
