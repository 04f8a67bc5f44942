//! The in-memory snapshot every public read is served from: each response body rendered once
//! per change, with its validators (ETag, Last-Modified) and header values built ahead of time,
//! so a request costs a pointer load, a few reference-count increments and no database access.

use std::hash::Hasher;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;
use pharos_engine::StatusView;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::page;
use crate::v2::{
    self, ComponentsResponse, Incident, IncidentsResponse, Lists, MaintenancesResponse,
    ScheduledMaintenance, StatusResponse, SummaryResponse,
};

/// Content type of the HTML page.
pub const HTML: &str = "text/html; charset=utf-8";
/// Content type of the JSON API.
pub const JSON: &str = "application/json";

/// A pre-rendered public resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `/`, the HTML status page.
    Page,
    /// `/api/v2/summary.json`.
    Summary,
    /// `/api/v2/status.json`.
    Status,
    /// `/api/v2/components.json`.
    Components,
    /// `/api/v2/incidents.json`.
    Incidents,
    /// `/api/v2/incidents/unresolved.json`.
    IncidentsUnresolved,
    /// `/api/v2/scheduled-maintenances.json`.
    Maintenances,
    /// `/api/v2/scheduled-maintenances/upcoming.json`.
    MaintenancesUpcoming,
    /// `/api/v2/scheduled-maintenances/active.json`.
    MaintenancesActive,
}

impl Resource {
    /// Every resource, in route order.
    pub const ALL: [Resource; 9] = [
        Self::Page,
        Self::Summary,
        Self::Status,
        Self::Components,
        Self::Incidents,
        Self::IncidentsUnresolved,
        Self::Maintenances,
        Self::MaintenancesUpcoming,
        Self::MaintenancesActive,
    ];

    /// The URL path it is served at.
    pub fn path(self) -> &'static str {
        match self {
            Self::Page => "/",
            Self::Summary => "/api/v2/summary.json",
            Self::Status => "/api/v2/status.json",
            Self::Components => "/api/v2/components.json",
            Self::Incidents => "/api/v2/incidents.json",
            Self::IncidentsUnresolved => "/api/v2/incidents/unresolved.json",
            Self::Maintenances => "/api/v2/scheduled-maintenances.json",
            Self::MaintenancesUpcoming => "/api/v2/scheduled-maintenances/upcoming.json",
            Self::MaintenancesActive => "/api/v2/scheduled-maintenances/active.json",
        }
    }

    /// Whether it is part of the JSON API (and so sent with CORS headers).
    pub fn is_api(self) -> bool {
        self != Self::Page
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One pre-rendered response: body and ready-made header values.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The response body.
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// Strong `ETag`: a quoted hash of the body.
    pub etag: HeaderValue,
    /// `Last-Modified` as an HTTP date.
    pub last_modified: HeaderValue,
    /// The same instant, whole seconds, for `If-Modified-Since` comparisons.
    pub last_modified_at: DateTime<Utc>,
}

impl Entry {
    fn new(body: Vec<u8>, content_type: &'static str, updated_at: DateTime<Utc>) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        h.write(&body);
        let etag = format!("\"{:016x}{:x}\"", h.finish(), body.len());
        let last_modified_at =
            DateTime::from_timestamp(updated_at.timestamp(), 0).unwrap_or(updated_at);
        let last_modified = last_modified_at
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        Self {
            body: Bytes::from(body),
            content_type: HeaderValue::from_static(content_type),
            // Hex digits and quotes, and an RFC 7231 date: always valid header values.
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: HeaderValue::from_str(&last_modified)
                .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            last_modified_at,
        }
    }

    /// The ETag without its header wrapper, e.g. `"1a2b…"` (quotes included).
    pub fn etag_str(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }
}

/// Every public body, rendered from one [`StatusView`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    entries: [Entry; 9],
    /// The view's `updated_at` (`page.updated_at` in the API).
    pub updated_at: DateTime<Utc>,
}

impl Snapshot {
    /// Renders every resource from `view`, with no incidents and no maintenances.
    pub fn build(view: &StatusView) -> Snapshot {
        Self::build_with(view, &[], &[])
    }

    /// Renders every resource from `view` plus incidents and maintenances already in their API
    /// shape. They are sorted, filtered and capped here ([`Lists::new`]); unresolved incidents
    /// raise the page indicator ([`v2::page_status`]).
    pub fn build_with(
        view: &StatusView,
        incidents: &[Incident],
        maintenances: &[ScheduledMaintenance],
    ) -> Snapshot {
        let page = v2::page(view);
        let components = v2::components(view);
        let lists = Lists::new(incidents, maintenances);
        let status = v2::page_status(view, &lists.unresolved);
        // Last-Modified is when a body last changed. The bars and percentages move with the
        // clock even when no status changes, so `view.updated_at` would let an
        // `If-Modified-Since` client keep yesterday's page; a rebuild time is always safe, and
        // [`Snapshot::keep_dates_of_unchanged`] restores the older date where the body is the same.
        let at = view.generated_at.max(view.updated_at);
        let json = |body| Entry::new(body, JSON, at);

        let html = match page::render(
            view,
            &status,
            &lists.unresolved,
            &lists.summary_maintenances,
        ) {
            Ok(html) => html,
            Err(error) => {
                tracing::error!(%error, "status page template failed; serving a plain page");
                format!(
                    "<!doctype html><meta charset=utf-8><title>Status</title><p>{}</p>",
                    status.description
                )
            }
        };

        let incidents_of = |incidents: &Vec<Incident>| IncidentsResponse {
            page: page.clone(),
            incidents: incidents.clone(),
        };
        let maintenances_of = |list: &Vec<ScheduledMaintenance>| MaintenancesResponse {
            page: page.clone(),
            scheduled_maintenances: list.clone(),
        };
        let entries = [
            Entry::new(html.into_bytes(), HTML, at),
            json(to_json(&SummaryResponse {
                page: page.clone(),
                components: components.clone(),
                incidents: lists.unresolved.clone(),
                scheduled_maintenances: lists.summary_maintenances.clone(),
                status: status.clone(),
            })),
            json(to_json(&StatusResponse {
                page: page.clone(),
                status,
            })),
            json(to_json(&ComponentsResponse {
                page: page.clone(),
                components,
            })),
            json(to_json(&incidents_of(&lists.incidents))),
            json(to_json(&incidents_of(&lists.unresolved))),
            json(to_json(&maintenances_of(&lists.maintenances))),
            json(to_json(&maintenances_of(&lists.upcoming))),
            json(to_json(&maintenances_of(&lists.active))),
        ];
        Snapshot {
            entries,
            updated_at: view.updated_at,
        }
    }

    /// Keeps `previous`'s Last-Modified for every body that did not change, so a rebuild with
    /// identical output never invalidates a client's cache.
    pub fn keep_dates_of_unchanged(&mut self, previous: &Snapshot) {
        for (new, old) in self.entries.iter_mut().zip(previous.entries.iter()) {
            if new.etag == old.etag {
                new.last_modified = old.last_modified.clone();
                new.last_modified_at = old.last_modified_at;
            }
        }
    }

    /// The pre-rendered response for `resource`.
    pub fn get(&self, resource: Resource) -> &Entry {
        &self.entries[resource.index()]
    }
}

/// Serializes a response body.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    // The response types hold only strings, numbers, booleans and string-keyed structs, so
    // serializing them cannot fail; an empty object keeps clients parsing if it ever did.
    serde_json::to_vec(value).unwrap_or_else(|error| {
        tracing::error!(%error, "serializing an API response failed");
        b"{}".to_vec()
    })
}

/// Rebuilds `target` from every new [`StatusView`] published on `rx`, starting with the
/// current one. Views published while a build runs are coalesced: the next build takes only the
/// latest. Builds run on the blocking pool so a large page never stalls request handling. The
/// task ends when the sender is dropped.
pub fn spawn_snapshot_builder(
    mut rx: watch::Receiver<Arc<StatusView>>,
    target: Arc<ArcSwap<Snapshot>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let view = rx.borrow_and_update().clone();
            let started = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || Snapshot::build(&view)).await {
                Ok(mut snapshot) => {
                    snapshot.keep_dates_of_unchanged(&target.load());
                    let summary_bytes = snapshot.get(Resource::Summary).body.len();
                    let page_bytes = snapshot.get(Resource::Page).body.len();
                    target.store(Arc::new(snapshot));
                    tracing::debug!(
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        page_bytes,
                        summary_bytes,
                        "public snapshot rebuilt"
                    );
                }
                Err(error) => {
                    tracing::error!(%error, "building the public snapshot failed; keeping the previous one");
                }
            }
            if rx.changed().await.is_err() {
                tracing::info!("status view publisher gone; snapshot builder stopping");
                return;
            }
        }
    })
}

#[cfg(test)]
mod last_modified_tests {
    use super::*;

    #[test]
    fn an_identical_rebuild_keeps_last_modified_and_a_changed_body_moves_it() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = |n: u32| pharos_domain::uptime::DayUptime {
            date: chrono::NaiveDate::from_ymd_opt(2026, 3, n).unwrap(),
            observed_secs: 86_400,
            major_secs: 0,
            partial_secs: 0,
            degraded_secs: 0,
            maintenance_secs: 0,
        };
        let component = pharos_engine::ComponentView {
            id: pharos_domain::ComponentId::new("api").unwrap(),
            name: "API".into(),
            description: None,
            position: 0,
            status: pharos_domain::ComponentStatus::Operational,
            created_at: at,
            updated_at: at,
            group_id: None,
            is_group: false,
            children: vec![],
            uptime_days: vec![day(1), day(2)],
            uptime_ratio: Some(1.0),
            start_date: None,
        };
        let mut view = StatusView {
            page: pharos_engine::PageInfo {
                id: "p".into(),
                name: "P".into(),
                url: "http://x".into(),
                time_zone: chrono_tz::UTC,
            },
            generated_at: at,
            updated_at: at,
            components: vec![component],
            monitors: vec![],
        };
        let first = Snapshot::build(&view);
        view.generated_at += chrono::Duration::hours(1);
        let mut same = Snapshot::build(&view);
        same.keep_dates_of_unchanged(&first);
        let status = Resource::Status;
        assert_eq!(
            same.get(status).last_modified,
            first.get(status).last_modified
        );

        // Same status change time, but the clock moved past midnight: bars differ, so the
        // page must not look unmodified to an If-Modified-Since client.
        view.generated_at += chrono::Duration::days(1);
        view.components[0].uptime_days.remove(0);
        let mut later = Snapshot::build(&view);
        later.keep_dates_of_unchanged(&first);
        assert!(
            later.get(Resource::Page).last_modified_at > first.get(Resource::Page).last_modified_at
        );
    }
}
