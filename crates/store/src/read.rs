//! Reads: live components, monitor states, status timelines for uptime, recent results from
//! the ring, rollups, incidents with their timelines, and component overrides. Each is one or
//! two indexed queries; archived rows are left out of the component and monitor reads, except
//! [`Store::archived_monitors`], which lists exactly those.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_domain::uptime::StatusChange;
use pharos_domain::{
    CheckResult, ComponentId, Health, LocationId, MonitorId, MonitorState, PhaseTimings,
};

use crate::error::OpError;
use crate::model::{
    ArchivedMonitor, Granularity, HeldAlertRecord, IncidentEventRecord, IncidentKind,
    IncidentRecord, OverrideRecord, Rollup, StoredComponent,
};
use crate::sql::{
    component_id, component_status, from_ms, from_opt_ms, monitor_id, ms, outcome, to_u32, to_u64,
};
use crate::{Result, Store};

/// `(id, name, description, group_id, is_group, position, status, created_at, updated_at)`
type ComponentRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
    i64,
    String,
    i64,
    i64,
);

/// `(monitor id, health, since, down, up, not_up, not_down, last_check_at, last_outcome,
/// last_error)`, every state column nullable because of the left join.
type StateRow = (
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// `(component id, status in force at `since`, if any)`
type InForceRow = (String, Option<String>);

/// `(component id, at, status)`
type EventRow = (String, i64, String);

/// `(started_at, duration_ms, outcome, status_code, error, dns_ms, connect_ms, tls_ms,
/// first_byte_ms)`
type ResultRow = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
);

/// `(bucket_start, checks, up, degraded, down, duration_sum_ms, duration_max_ms)`
type RollupRow = (i64, i64, i64, i64, i64, i64, i64);

/// `(id, kind, status, created_at, updated_at, doc)`
type IncidentRow = (String, String, String, i64, i64, String);

/// `(id, incident_id, seq, occurred_at, recorded_at, kind, doc)`
type IncidentEventRow = (String, String, i64, i64, i64, String, String);

/// `(component_id, status, until_at, set_at, doc)`
type OverrideRow = (String, String, Option<i64>, i64, String);

/// `(id, type_name, created_at, archived_at, health, health_since, last_check_at,
/// last_error)`, the state columns nullable because of the left join.
type ArchivedMonitorRow = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

impl Store {
    /// The live (non-archived) components and groups, ordered by position (then id).
    pub async fn components(&self) -> Result<Vec<StoredComponent>> {
        const OP: &str = "components";
        let rows: Vec<ComponentRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT id, name, description, group_id, is_group, position, status, \
                 created_at, updated_at FROM components WHERE archived_at IS NULL \
                 ORDER BY position, id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredComponent {
                    id: component_id(r.0)?,
                    name: r.1,
                    description: r.2,
                    group_id: r.3.map(component_id).transpose()?,
                    is_group: r.4,
                    position: to_u32(r.5, "position")?,
                    status: component_status(&r.6)?,
                    created_at: from_ms(r.7)?,
                    updated_at: from_ms(r.8)?,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// The state of every live monitor, in id order; a monitor never checked has
    /// [`MonitorState::default`].
    pub async fn monitor_states(&self) -> Result<Vec<(MonitorId, MonitorState)>> {
        const OP: &str = "monitor_states";
        let rows: Vec<StateRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT m.id, s.health, s.health_since, s.down_streak, s.up_streak, \
                 s.not_up_streak, s.not_down_streak, s.last_check_at, s.last_outcome, \
                 s.last_error FROM monitors m LEFT JOIN monitor_states s ON s.monitor_id = m.id \
                 WHERE m.archived_at IS NULL ORDER BY m.id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                let id = monitor_id(r.0)?;
                let Some(health) = r.1 else {
                    return Ok((id, MonitorState::default()));
                };
                let streak = |n: Option<i64>, what| to_u32(n.unwrap_or(0), what);
                let state = MonitorState {
                    health: Health::parse(&health)
                        .ok_or_else(|| OpError::Corrupt(format!("unknown health {health:?}")))?,
                    since: from_opt_ms(r.2)?,
                    down_streak: streak(r.3, "down_streak")?,
                    up_streak: streak(r.4, "up_streak")?,
                    not_up_streak: streak(r.5, "not_up_streak")?,
                    not_down_streak: streak(r.6, "not_down_streak")?,
                    last_check_at: from_opt_ms(r.7)?,
                    last_outcome: r.8.as_deref().map(outcome).transpose()?,
                    last_error: r.9,
                };
                Ok((id, state))
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// For every live component that is not a group, its status timeline from `since` on,
    /// sorted by time, ready for [`pharos_domain::uptime::daily`].
    ///
    /// The first entry is the status in force at `since`, clamped to `since`, when the
    /// component already existed then; the changes after `since` follow. A component created
    /// later starts with its first status event.
    pub async fn status_timeline(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashMap<ComponentId, Vec<StatusChange>>> {
        const OP: &str = "status_timeline";
        let since_ms = ms(since);
        let (in_force, later): (Vec<InForceRow>, Vec<EventRow>) = db_run!(self, |pool, d| async {
            // The latest event at or before `since`, per component, through the
            // (component_id, at, id) index.
            let in_force = sqlx::query_as(
                "SELECT c.id, (SELECT e.status FROM component_events e \
                     WHERE e.component_id = c.id AND e.at <= $1 \
                     ORDER BY e.at DESC, e.id DESC LIMIT 1) \
                     FROM components c WHERE c.archived_at IS NULL AND c.is_group = FALSE",
            )
            .bind(since_ms)
            .fetch_all(pool)
            .await?;
            // CROSS JOIN keeps SQLite's planner driving from the few live components into
            // the (component_id, at, id) index; PostgreSQL plans it like any inner join.
            let later = sqlx::query_as(
                "SELECT e.component_id, e.at, e.status \
                 FROM components c CROSS JOIN component_events e \
                 WHERE e.component_id = c.id AND c.archived_at IS NULL \
                 AND c.is_group = FALSE AND e.at > $1 \
                 ORDER BY e.component_id, e.at, e.id",
            )
            .bind(since_ms)
            .fetch_all(pool)
            .await?;
            Ok::<_, sqlx::Error>((in_force, later))
        }
        .await)
        .map_err(|e| OpError::from(e).at(OP))?;
        let build = || -> Result<HashMap<ComponentId, Vec<StatusChange>>, OpError> {
            let mut out: HashMap<ComponentId, Vec<StatusChange>> = HashMap::new();
            for (id, status) in in_force {
                let entry = out.entry(component_id(id)?).or_default();
                if let Some(status) = status {
                    entry.push(StatusChange {
                        at: since,
                        status: component_status(&status)?,
                    });
                }
            }
            for (id, at, status) in later {
                out.entry(component_id(id)?)
                    .or_default()
                    .push(StatusChange {
                        at: from_ms(at)?,
                        status: component_status(&status)?,
                    });
            }
            Ok(out)
        };
        build().map_err(|e| e.at(OP))
    }

    /// Up to `limit` of `monitor`'s most recent results, newest first (at most
    /// [`RING_SIZE`](crate::RING_SIZE) are kept).
    pub async fn recent_results(
        &self,
        monitor: &MonitorId,
        limit: usize,
    ) -> Result<Vec<CheckResult>> {
        const OP: &str = "recent_results";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<ResultRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT started_at, duration_ms, outcome, status_code, error, dns_ms, \
                 connect_ms, tls_ms, first_byte_ms, location FROM check_results \
                 WHERE monitor_id = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(monitor.as_str().to_owned())
            .bind(limit)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(CheckResult {
                    monitor_id: monitor.clone(),
                    started_at: from_ms(r.0)?,
                    duration_ms: to_u64(r.1, "duration_ms")?,
                    outcome: outcome(&r.2)?,
                    status_code: r
                        .3
                        .map(|c| {
                            u16::try_from(c)
                                .map_err(|_| OpError::Corrupt(format!("status code {c}")))
                        })
                        .transpose()?,
                    error: r.4,
                    timings: timings([r.5, r.6, r.7, r.8])?,
                    location: LocationId::new(r.9.clone())
                        .map_err(|_| OpError::Corrupt(format!("location {:?}", r.9)))?,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// `monitor`'s rollups of one granularity from the bucket holding `since` on, oldest
    /// first. Buckets without checks are absent.
    pub async fn rollups(
        &self,
        monitor: &MonitorId,
        granularity: Granularity,
        since: DateTime<Utc>,
    ) -> Result<Vec<Rollup>> {
        const OP: &str = "rollups";
        let from = granularity.bucket_start_ms(ms(since));
        let rows: Vec<RollupRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT bucket_start, checks, up_count, degraded_count, down_count, \
                 duration_sum_ms, duration_max_ms FROM rollups \
                 WHERE monitor_id = $1 AND granularity = $2 AND bucket_start >= $3 \
                 ORDER BY bucket_start",
            )
            .bind(monitor.as_str().to_owned())
            .bind(granularity.code())
            .bind(from)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(Rollup {
                    monitor_id: monitor.clone(),
                    granularity,
                    bucket_start: from_ms(r.0)?,
                    checks: to_u64(r.1, "checks")?,
                    up: to_u64(r.2, "up_count")?,
                    degraded: to_u64(r.3, "degraded_count")?,
                    down: to_u64(r.4, "down_count")?,
                    duration_sum_ms: to_u64(r.5, "duration_sum_ms")?,
                    duration_max_ms: to_u64(r.6, "duration_max_ms")?,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// Every incident and maintenance, ordered by `created_at`, then id.
    pub async fn incidents(&self) -> Result<Vec<IncidentRecord>> {
        const OP: &str = "incidents";
        let rows: Vec<IncidentRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT id, kind, status, created_at, updated_at, doc FROM incidents \
                 ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(IncidentRecord {
                    kind: IncidentKind::parse(&r.1).ok_or_else(|| {
                        OpError::Corrupt(format!("incident {}: unknown kind {:?}", r.0, r.1))
                    })?,
                    id: r.0,
                    status: r.2,
                    created_at: from_ms(r.3)?,
                    updated_at: from_ms(r.4)?,
                    doc: r.5,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// The timeline of one incident, ordered by `occurred_at`, then `seq` (then id); empty
    /// for an unknown incident.
    pub async fn incident_events(&self, incident_id: &str) -> Result<Vec<IncidentEventRecord>> {
        const OP: &str = "incident_events";
        let rows: Vec<IncidentEventRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT id, incident_id, seq, occurred_at, recorded_at, kind, doc \
                 FROM incident_events WHERE incident_id = $1 \
                 ORDER BY occurred_at, seq, id",
            )
            .bind(incident_id)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(IncidentEventRecord {
                    id: r.0,
                    incident_id: r.1,
                    seq: r.2,
                    occurred_at: from_ms(r.3)?,
                    recorded_at: from_ms(r.4)?,
                    kind: r.5,
                    doc: r.6,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// Every component override, ordered by component id, including those on archived
    /// components and those whose `until` has passed (the store has no clock; expiring them
    /// is the engine's job).
    pub async fn overrides(&self) -> Result<Vec<OverrideRecord>> {
        const OP: &str = "overrides";
        let rows: Vec<OverrideRow> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT component_id, status, until_at, set_at, doc FROM component_overrides \
                 ORDER BY component_id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|r| {
                Ok(OverrideRecord {
                    component_id: component_id(r.0)?,
                    status: component_status(&r.1)?,
                    until: from_opt_ms(r.2)?,
                    set_at: from_ms(r.3)?,
                    doc: r.4,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// Every alert held outside an incident, ordered by key.
    pub async fn held_alerts(&self) -> Result<Vec<HeldAlertRecord>> {
        const OP: &str = "held_alerts";
        let rows: Vec<(String, i64, String)> = db_run!(self, |pool, d| {
            sqlx::query_as("SELECT alert_key, updated_at, doc FROM held_alerts ORDER BY alert_key")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|(key, updated_at, doc)| {
                Ok(HeldAlertRecord {
                    key,
                    updated_at: from_ms(updated_at)?,
                    doc,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// Every archived monitor (one the configuration no longer declares), most recently
    /// archived first, then by id, with the components it drove and its last state. A
    /// monitor declared again is live, so it is no longer listed.
    pub async fn archived_monitors(&self) -> Result<Vec<ArchivedMonitor>> {
        const OP: &str = "archived_monitors";
        let (rows, links): (Vec<ArchivedMonitorRow>, Vec<(String, String)>) =
            db_run!(self, |pool, d| async {
                let rows = sqlx::query_as(
                    "SELECT m.id, m.type_name, m.created_at, m.archived_at, s.health, \
                     s.health_since, s.last_check_at, s.last_error \
                     FROM monitors m LEFT JOIN monitor_states s ON s.monitor_id = m.id \
                     WHERE m.archived_at IS NOT NULL ORDER BY m.archived_at DESC, m.id",
                )
                .fetch_all(pool)
                .await?;
                let links = sqlx::query_as(
                    "SELECT l.monitor_id, l.component_id \
                     FROM monitors m JOIN monitor_components l ON l.monitor_id = m.id \
                     WHERE m.archived_at IS NOT NULL ORDER BY l.monitor_id, l.component_id",
                )
                .fetch_all(pool)
                .await?;
                Ok::<_, sqlx::Error>((rows, links))
            }
            .await)
            .map_err(|e| OpError::from(e).at(OP))?;
        let build = || -> Result<Vec<ArchivedMonitor>, OpError> {
            let mut components: HashMap<String, Vec<ComponentId>> = HashMap::new();
            for (monitor, component) in links {
                components
                    .entry(monitor)
                    .or_default()
                    .push(component_id(component)?);
            }
            rows.into_iter()
                .map(|r| {
                    let health = match r.4.as_deref() {
                        None => Health::Unknown,
                        Some(h) => Health::parse(h)
                            .ok_or_else(|| OpError::Corrupt(format!("unknown health {h:?}")))?,
                    };
                    Ok(ArchivedMonitor {
                        components: components.remove(&r.0).unwrap_or_default(),
                        id: monitor_id(r.0)?,
                        type_name: r.1,
                        created_at: from_ms(r.2)?,
                        archived_at: from_ms(r.3)?,
                        health,
                        health_since: from_opt_ms(r.5)?,
                        last_check_at: from_opt_ms(r.6)?,
                        last_error: r.7,
                    })
                })
                .collect()
        };
        build().map_err(|e| e.at(OP))
    }
}

/// A result's stored phase timings: `None` when no phase was recorded (results of other
/// kinds, or stored before schema version 6).
fn timings(phases: [Option<i64>; 4]) -> Result<Option<PhaseTimings>, OpError> {
    if phases.iter().all(Option::is_none) {
        return Ok(None);
    }
    let [dns, connect, tls, first_byte] =
        phases.map(|phase| phase.map(|ms| to_u64(ms, "a phase timing")).transpose());
    Ok(Some(PhaseTimings {
        dns_ms: dns?,
        connect_ms: connect?,
        tls_ms: tls?,
        first_byte_ms: first_byte?,
    }))
}
