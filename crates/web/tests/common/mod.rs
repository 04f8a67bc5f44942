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
        observed_secs: 86_400,
        major_secs: major,
        partial_secs: partial,
        degraded_secs: degraded,
        maintenance_secs: maint,
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
            10 => d.major_secs = 3_600,
            40 => d.partial_secs = 7_200,
            89 => {
                d.observed_secs = 64_800;
                d.partial_secs = 1_800;
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
                d.degraded_secs = 600;
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
                        d.maintenance_secs = 3_600;
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
                        d.major_secs = 5_400;
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
                        d.maintenance_secs = 3_600;
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
