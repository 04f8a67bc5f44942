//! The store contract: every operation, written once, run against SQLite always and against
//! PostgreSQL whenever `PHAROS_TEST_POSTGRES_URL` is set (each PostgreSQL test gets its own
//! schema, dropped afterwards). No mocks.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pharos_domain::uptime::StatusChange;
use pharos_domain::{
    CheckOutcome, CheckResult, ComponentId, ComponentStatus, ComponentTransition, Health,
    MonitorState, PhaseTimings,
};
use pharos_store::{
    ArchivedMonitor, Backend, Batch, ComponentRecord, DeliveryState, Granularity, HeldAlertChange,
    HeldAlertRecord, IncidentEventRecord, IncidentKind, IncidentRecord, MonitorRecord,
    OutboxPayload, OutboxRecord, OutboxRow, OverrideChange, OverrideRecord, PruneReport, Requeue,
    Settlement, Store, StoreError, SubscriberChange, SubscriberFilter, SubscriberKind,
    SubscriberRecord, SubscriberState, DEAD_DELIVERY_RETENTION, OUTBOX_ERROR_MAX_CHARS, RING_SIZE,
    SENT_DELIVERY_RETENTION,
};
use sqlx::Connection as _;

use crate::common::{cid, mid, t};
use crate::common::{contract_tests, OpenStore as _, TestDb};

contract_tests!(
    opens_migrates_and_pings,
    held_alerts_are_kept_replaced_and_let_go,
    reconcile_adds_changes_archives_and_restores,
    reconcile_rejects_bad_input_without_writing,
    archived_monitors_are_listed_with_their_last_state,
    everything_survives_a_reopen,
    ring_keeps_the_newest_hundred,
    rollups_count_per_bucket,
    monitor_states_round_trip,
    component_changes_set_status_and_log_events,
    status_timeline_is_clamped_to_since,
    prune_respects_retention_boundaries,
    a_failing_batch_writes_nothing,
    batches_of_hundreds_are_fast,
    incidents_upsert_by_id_and_keep_created_at,
    incident_events_are_ordered_and_retries_are_idempotent,
    overrides_set_replace_and_clear,
    a_failing_incident_batch_writes_nothing,
    prune_keeps_incidents_and_events,
    unicode_and_large_documents_survive_byte_for_byte,
    a_version_1_database_upgrades,
    a_version_4_outbox_upgrades,
    results_keep_their_phase_timings,
    a_version_5_result_upgrades,
    outbox_deliveries_commit_with_their_batch,
    a_failing_batch_enqueues_nothing,
    claims_respect_due_time_and_leases,
    deliveries_are_settled_sent_retried_or_dead,
    a_dead_delivery_is_queued_again_with_its_audit_entry,
    outbox_rows_are_newest_first_and_counted,
    prune_ages_out_settled_deliveries,
    concurrent_claims_never_share_a_delivery,
    subscribers_upsert_confirm_unsubscribe_and_remove,
    subscribers_are_listed_by_state_and_component,
    a_failing_batch_stores_no_subscriber,
    the_signing_key_is_made_once_and_kept,
);

// ---------------------------------------------------------------------------------------
// Fixtures

fn component(id: &str, position: u32) -> ComponentRecord {
    ComponentRecord {
        id: cid(id),
        name: id.to_uppercase(),
        description: None,
        group_id: None,
        is_group: false,
        position,
    }
}

fn group(id: &str, position: u32) -> ComponentRecord {
    ComponentRecord {
        is_group: true,
        ..component(id, position)
    }
}

fn monitor(id: &str, components: &[&str]) -> MonitorRecord {
    MonitorRecord {
        id: mid(id),
        type_name: "http".into(),
        definition_json: format!(r#"{{"url":"https://{id}.example.com"}}"#),
        components: components.iter().map(|c| cid(c)).collect(),
    }
}

fn result(monitor: &str, at: DateTime<Utc>, outcome: CheckOutcome, ms: u64) -> CheckResult {
    CheckResult {
        monitor_id: mid(monitor),
        started_at: at,
        duration_ms: ms,
        outcome,
        status_code: (outcome != CheckOutcome::Down).then_some(200),
        error: (outcome == CheckOutcome::Down).then(|| "connection refused".to_owned()),
        timings: None,
        location: pharos_domain::LocationId::local(),
    }
}

fn change(
    id: &str,
    from: ComponentStatus,
    to: ComponentStatus,
    at: DateTime<Utc>,
) -> ComponentTransition {
    ComponentTransition {
        component_id: cid(id),
        from,
        to,
        at,
    }
}

fn state(health: Health, at: DateTime<Utc>) -> MonitorState {
    MonitorState {
        health,
        since: Some(at),
        down_streak: 3,
        up_streak: 0,
        not_up_streak: 4,
        not_down_streak: 0,
        last_check_at: Some(at),
        last_outcome: Some(CheckOutcome::Down),
        last_error: Some("timed out".into()),
    }
}

fn incident(
    id: &str,
    kind: IncidentKind,
    status: &str,
    created_at: DateTime<Utc>,
    doc: &str,
) -> IncidentRecord {
    IncidentRecord {
        id: id.into(),
        kind,
        status: status.into(),
        created_at,
        updated_at: created_at,
        doc: doc.into(),
    }
}

fn event(id: &str, incident_id: &str, seq: i64, occurred_at: DateTime<Utc>) -> IncidentEventRecord {
    IncidentEventRecord {
        id: id.into(),
        incident_id: incident_id.into(),
        seq,
        occurred_at,
        recorded_at: occurred_at + chrono::Duration::seconds(1),
        kind: "update".into(),
        doc: format!(r#"{{"event":"{id}"}}"#),
    }
}

fn set_override(
    component_id: &str,
    status: ComponentStatus,
    until: Option<DateTime<Utc>>,
    set_at: DateTime<Utc>,
) -> OverrideChange {
    OverrideChange::Set(OverrideRecord {
        component_id: cid(component_id),
        status,
        until,
        set_at,
        doc: format!(
            r#"{{"component":"{component_id}","status":"{}"}}"#,
            status.as_str()
        ),
    })
}

fn delivery(
    id: &str,
    destination: &str,
    created_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> OutboxRecord {
    OutboxRecord {
        id: id.into(),
        destination: destination.into(),
        event_kind: "incident.created".into(),
        payload: OutboxPayload::shared(format!("p-{id}"), format!(r#"{{"delivery":"{id}"}}"#)),
        created_at,
        due_at,
    }
}

/// The row a freshly enqueued `record` reads back as.
fn pending(record: &OutboxRecord) -> OutboxRow {
    OutboxRow {
        id: record.id.clone(),
        destination: record.destination.clone(),
        event_kind: record.event_kind.clone(),
        payload: record.payload.clone(),
        created_at: record.created_at,
        due_at: record.due_at,
        attempts: 0,
        state: DeliveryState::Pending,
        last_error: None,
        last_attempt_at: None,
        sent_at: None,
    }
}

fn ids_of(rows: &[OutboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

/// One delivery's row, whatever its state.
async fn outbox_row(store: &Store, id: &str) -> OutboxRow {
    store
        .outbox_rows(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap()
}

const LEASE: Duration = Duration::from_secs(60);

fn subscriber(
    id: &str,
    kind: SubscriberKind,
    address: &str,
    components: &[&str],
    created_at: DateTime<Utc>,
) -> SubscriberRecord {
    SubscriberRecord {
        id: id.into(),
        kind,
        address: address.into(),
        components: components.iter().map(|c| cid(c)).collect(),
        created_at,
        confirmed_at: (kind == SubscriberKind::Webhook).then_some(created_at),
        unsubscribed_at: None,
        doc: format!(r#"{{"subscriber":"{id}"}}"#),
    }
}

fn subscriber_ids(records: &[SubscriberRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

async fn write_subscribers(store: &Store, changes: Vec<SubscriberChange>) {
    store
        .write_batch(&Batch {
            subscribers: changes,
            ..Batch::default()
        })
        .await
        .unwrap();
}

fn event_ids(events: &[IncidentEventRecord]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

fn ids(components: &[pharos_store::StoredComponent]) -> Vec<&str> {
    components.iter().map(|c| c.id.as_str()).collect()
}

/// Two components, a group and two monitors.
async fn seed(store: &Store, now: DateTime<Utc>) {
    store
        .reconcile(
            &[component("api", 1), component("db", 2), group("core", 0)],
            &[monitor("api-health", &["api"]), monitor("db-port", &["db"])],
            now,
        )
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Contract tests

async fn opens_migrates_and_pings(db: &TestDb) {
    let store = db.open().await;
    store.ping().await.unwrap();
    let expected = if db.url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    assert_eq!(store.backend(), expected);
    assert!(store.components().await.unwrap().is_empty());
    store.close().await;
    // Migrating an up-to-date database is a no-op.
    let again = db.open().await;
    again.ping().await.unwrap();
    again.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store must fail, not hang or panic"
    );
}

async fn reconcile_adds_changes_archives_and_restores(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-01-01T00:00:00Z");
    let components = [component("api", 1), component("db", 2), group("core", 0)];
    let monitors = [monitor("api-health", &["api"]), monitor("db-port", &["db"])];
    let report = store.reconcile(&components, &monitors, t0).await.unwrap();
    assert_eq!(
        report.added,
        [
            "component:api",
            "component:db",
            "component:core",
            "monitor:api-health",
            "monitor:db-port"
        ]
    );
    assert!(report.changed.is_empty() && report.archived.is_empty());

    let stored = store.components().await.unwrap();
    assert_eq!(ids(&stored), ["core", "api", "db"], "ordered by position");
    assert!(stored
        .iter()
        .all(|c| c.status == ComponentStatus::Operational));
    assert!(stored
        .iter()
        .all(|c| c.created_at == t0 && c.updated_at == t0));
    assert!(stored[0].is_group && !stored[1].is_group);
    let states = store.monitor_states().await.unwrap();
    assert_eq!(states.len(), 2);
    assert!(states.iter().all(|(_, s)| *s == MonitorState::default()));

    // The same configuration again changes nothing.
    let t1 = t("2026-01-01T01:00:00Z");
    assert!(store
        .reconcile(&components, &monitors, t1)
        .await
        .unwrap()
        .is_empty());

    // History to keep through a definition change and an archive.
    store
        .write_batch(&Batch {
            results: vec![result("api-health", t1, CheckOutcome::Down, 40)],
            monitor_states: vec![(mid("api-health"), state(Health::Down, t1))],
            component_changes: vec![change(
                "api",
                ComponentStatus::Operational,
                ComponentStatus::MajorOutage,
                t1,
            )],
            ..Batch::default()
        })
        .await
        .unwrap();

    // Edits: a renamed, regrouped component and a monitor with a new definition.
    let t2 = t("2026-01-01T02:00:00Z");
    let mut api = component("api", 1);
    api.name = "Public API".into();
    api.description = Some("REST".into());
    api.group_id = Some(cid("core"));
    let mut api_health = monitor("api-health", &["api"]);
    api_health.definition_json = r#"{"url":"https://api.example.com/v2"}"#.into();
    let components = [api, component("db", 2), group("core", 0)];
    let monitors = [api_health, monitor("db-port", &["db", "api"])];
    let report = store.reconcile(&components, &monitors, t2).await.unwrap();
    assert!(report.added.is_empty() && report.archived.is_empty());
    assert_eq!(
        report.changed,
        ["component:api", "monitor:api-health", "monitor:db-port"]
    );
    let stored = store.components().await.unwrap();
    let api = &stored[1];
    assert_eq!(
        (
            api.name.as_str(),
            api.description.as_deref(),
            api.group_id.as_ref()
        ),
        ("Public API", Some("REST"), Some(&cid("core")))
    );
    assert_eq!((api.created_at, api.updated_at), (t0, t2));
    assert_eq!(
        api.status,
        ComponentStatus::MajorOutage,
        "an edit keeps the status"
    );
    let states: HashMap<_, _> = store.monitor_states().await.unwrap().into_iter().collect();
    assert_eq!(
        states[&mid("api-health")],
        state(Health::Down, t1),
        "state kept"
    );
    assert_eq!(
        store
            .recent_results(&mid("api-health"), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Dropping db and api-health archives them.
    let t3 = t("2026-01-01T03:00:00Z");
    let report = store
        .reconcile(
            &[component("api", 1), group("core", 0)],
            &[monitor("db-port", &["api"])],
            t3,
        )
        .await
        .unwrap();
    assert_eq!(report.archived, ["component:db", "monitor:api-health"]);
    assert_eq!(report.changed, ["component:api", "monitor:db-port"]);
    assert_eq!(ids(&store.components().await.unwrap()), ["core", "api"]);
    let states = store.monitor_states().await.unwrap();
    assert_eq!(
        states.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["db-port"]
    );
    let timeline = store.status_timeline(t0).await.unwrap();
    assert!(
        !timeline.contains_key(&cid("db")),
        "archived components have no timeline"
    );

    // Declaring them again brings them back, with their history.
    let t4 = t("2026-01-01T04:00:00Z");
    let report = store
        .reconcile(
            &[component("api", 1), component("db", 2), group("core", 0)],
            &[monitor("api-health", &["api"]), monitor("db-port", &["db"])],
            t4,
        )
        .await
        .unwrap();
    assert_eq!(report.added, ["component:db", "monitor:api-health"]);
    let stored = store.components().await.unwrap();
    assert_eq!(ids(&stored), ["core", "api", "db"]);
    assert_eq!((stored[2].created_at, stored[2].updated_at), (t0, t4));
    let states: HashMap<_, _> = store.monitor_states().await.unwrap().into_iter().collect();
    assert_eq!(
        states[&mid("api-health")],
        state(Health::Down, t1),
        "state is back"
    );
    assert_eq!(
        store
            .recent_results(&mid("api-health"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let timeline = store.status_timeline(t0).await.unwrap();
    assert_eq!(
        timeline[&cid("db")],
        [StatusChange {
            at: t0,
            status: ComponentStatus::Operational
        }]
    );
    store.close().await;
}

async fn reconcile_rejects_bad_input_without_writing(db: &TestDb) {
    let store = db.open().await;
    let now = t("2026-01-01T00:00:00Z");
    let err = store
        .reconcile(&[component("api", 0), component("api", 1)], &[], now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                op: "reconcile",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("api"), "{err}");

    let err = store
        .reconcile(&[component("api", 0)], &[monitor("m", &["nope"])], now)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "store operation reconcile rejected its input: monitor m drives unknown component nope"
    );
    assert!(store.components().await.unwrap().is_empty(), "rolled back");
    assert!(store.monitor_states().await.unwrap().is_empty());
    store.close().await;
}

async fn archived_monitors_are_listed_with_their_last_state(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-01-01T00:00:00Z");
    let components = [component("api", 1), component("db", 2), group("core", 0)];
    let both = [
        monitor("api-health", &["db", "api"]),
        monitor("db-port", &["db"]),
    ];
    store.reconcile(&components, &both, t0).await.unwrap();
    assert!(
        store.archived_monitors().await.unwrap().is_empty(),
        "live monitors are not archived"
    );
    let t1 = t("2026-01-01T01:00:00Z");
    store
        .write_batch(&Batch {
            results: vec![result("api-health", t1, CheckOutcome::Down, 40)],
            monitor_states: vec![(mid("api-health"), state(Health::Down, t1))],
            ..Batch::default()
        })
        .await
        .unwrap();

    // db-port leaves the file, never having been checked.
    let t2 = t("2026-01-01T02:00:00Z");
    store.reconcile(&components, &both[..1], t2).await.unwrap();
    let db_port = ArchivedMonitor {
        id: mid("db-port"),
        type_name: "http".into(),
        components: vec![cid("db")],
        created_at: t0,
        archived_at: t2,
        health: Health::Unknown,
        health_since: None,
        last_check_at: None,
        last_error: None,
    };
    assert_eq!(
        store.archived_monitors().await.unwrap(),
        std::slice::from_ref(&db_port)
    );

    // Then api-health, last seen down: listed first (most recently archived), with the
    // state it was in and both components it drove, in id order.
    let t3 = t("2026-01-01T03:00:00Z");
    store.reconcile(&components, &[], t3).await.unwrap();
    let api_health = ArchivedMonitor {
        id: mid("api-health"),
        type_name: "http".into(),
        components: vec![cid("api"), cid("db")],
        created_at: t0,
        archived_at: t3,
        health: Health::Down,
        health_since: Some(t1),
        last_check_at: Some(t1),
        last_error: Some("timed out".into()),
    };
    assert_eq!(
        store.archived_monitors().await.unwrap(),
        [api_health.clone(), db_port]
    );
    assert!(store.monitor_states().await.unwrap().is_empty());
    store.close().await;

    // Kept across a reopen; a monitor declared again is live, no longer listed.
    let store = db.open().await;
    let t4 = t("2026-01-01T04:00:00Z");
    store
        .reconcile(&components, &[monitor("db-port", &["db"])], t4)
        .await
        .unwrap();
    assert_eq!(store.archived_monitors().await.unwrap(), [api_health]);
    store.close().await;
}

async fn everything_survives_a_reopen(db: &TestDb) {
    let t0 = t("2026-02-01T00:00:00Z");
    let t1 = t("2026-02-01T00:00:30Z");
    {
        let store = db.open().await;
        seed(&store, t0).await;
        store
            .write_batch(&Batch {
                results: vec![
                    result("api-health", t0, CheckOutcome::Up, 12),
                    result("api-health", t1, CheckOutcome::Down, 10_000),
                ],
                monitor_states: vec![(mid("api-health"), state(Health::Down, t1))],
                component_changes: vec![change(
                    "api",
                    ComponentStatus::Operational,
                    ComponentStatus::MajorOutage,
                    t1,
                )],
                ..Batch::default()
            })
            .await
            .unwrap();
        store.close().await;
    }
    let store = db.open().await;
    let components = store.components().await.unwrap();
    assert_eq!(ids(&components), ["core", "api", "db"]);
    assert_eq!(components[1].status, ComponentStatus::MajorOutage);
    let states: HashMap<_, _> = store.monitor_states().await.unwrap().into_iter().collect();
    assert_eq!(states[&mid("api-health")], state(Health::Down, t1));
    assert_eq!(states[&mid("db-port")], MonitorState::default());
    let recent = store.recent_results(&mid("api-health"), 10).await.unwrap();
    assert_eq!(
        recent,
        [
            result("api-health", t1, CheckOutcome::Down, 10_000),
            result("api-health", t0, CheckOutcome::Up, 12)
        ]
    );
    // The ring continues where it stopped: a third result is the newest.
    let t2 = t("2026-02-01T00:01:00Z");
    store
        .write_batch(&Batch {
            results: vec![result("api-health", t2, CheckOutcome::Up, 11)],
            ..Batch::default()
        })
        .await
        .unwrap();
    let recent = store.recent_results(&mid("api-health"), 1).await.unwrap();
    assert_eq!(recent[0].started_at, t2);
    assert!(store
        .reconcile(
            &[component("api", 1), component("db", 2), group("core", 0)],
            &[monitor("api-health", &["api"]), monitor("db-port", &["db"])],
            t2
        )
        .await
        .unwrap()
        .is_empty());
    store.close().await;
}

async fn ring_keeps_the_newest_hundred(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-03-01T00:00:00Z");
    seed(&store, t0).await;
    let at = |i: i64| t0 + chrono::Duration::seconds(30 * i);
    // 250 results in uneven batches, one of them larger than the ring, shuffled within it.
    let mut next = 0;
    for size in [1, 99, 120, 30] {
        let mut results: Vec<_> = (next..next + size)
            .map(|i| result("api-health", at(i), CheckOutcome::Up, i as u64))
            .collect();
        results.reverse();
        results.push(result("db-port", at(next), CheckOutcome::Down, 1));
        store
            .write_batch(&Batch {
                results,
                ..Batch::default()
            })
            .await
            .unwrap();
        next += size;
    }
    assert_eq!(next, 250);
    let recent = store
        .recent_results(&mid("api-health"), 1000)
        .await
        .unwrap();
    assert_eq!(
        recent.len(),
        RING_SIZE as usize,
        "the ring holds exactly RING_SIZE rows"
    );
    let expected: Vec<_> = (150..250).rev().map(at).collect();
    assert_eq!(
        recent.iter().map(|r| r.started_at).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(recent[0].duration_ms, 249);
    let three = store.recent_results(&mid("api-health"), 3).await.unwrap();
    assert_eq!(
        three.iter().map(|r| r.duration_ms).collect::<Vec<_>>(),
        [249, 248, 247]
    );
    assert_eq!(
        store
            .recent_results(&mid("db-port"), 1000)
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(store
        .recent_results(&mid("unknown"), 10)
        .await
        .unwrap()
        .is_empty());
    // Rollups saw all 250.
    let days = store
        .rollups(&mid("api-health"), Granularity::Day, t0)
        .await
        .unwrap();
    assert_eq!(days.iter().map(|d| d.checks).sum::<u64>(), 250);
    store.close().await;
}

async fn rollups_count_per_bucket(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-04-01T23:58:00Z");
    seed(&store, t0).await;
    use CheckOutcome::*;
    let m = "api-health";
    // Two minutes before midnight UTC, one minute after, split over two batches so the
    // upsert must add to stored counts.
    store
        .write_batch(&Batch {
            results: vec![
                result(m, t("2026-04-01T23:58:00Z"), Up, 100),
                result(m, t("2026-04-01T23:58:30Z"), Degraded, 900),
                result(m, t("2026-04-01T23:59:10Z"), Down, 5000),
                result("db-port", t("2026-04-01T23:58:10Z"), Up, 3),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    store
        .write_batch(&Batch {
            results: vec![
                result(m, t("2026-04-01T23:58:59.999Z"), Up, 300),
                result(m, t("2026-04-02T00:00:05Z"), Up, 50),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let counts = |r: &pharos_store::Rollup| {
        (
            r.bucket_start,
            r.checks,
            r.up,
            r.degraded,
            r.down,
            r.duration_sum_ms,
            r.duration_max_ms,
        )
    };
    let since = t("2026-04-01T00:00:00Z");
    let minutes = store
        .rollups(&mid(m), Granularity::Minute, since)
        .await
        .unwrap();
    assert_eq!(
        minutes.iter().map(counts).collect::<Vec<_>>(),
        [
            (t("2026-04-01T23:58:00Z"), 3, 2, 1, 0, 1300, 900),
            (t("2026-04-01T23:59:00Z"), 1, 0, 0, 1, 5000, 5000),
            (t("2026-04-02T00:00:00Z"), 1, 1, 0, 0, 50, 50),
        ]
    );
    assert!(minutes
        .iter()
        .all(|r| r.monitor_id == mid(m) && r.granularity == Granularity::Minute));
    assert_eq!(minutes[0].mean_duration_ms(), Some(1300.0 / 3.0));
    assert_eq!(minutes[1].availability(), Some(0.0));
    let hours = store
        .rollups(&mid(m), Granularity::Hour, since)
        .await
        .unwrap();
    assert_eq!(
        hours.iter().map(counts).collect::<Vec<_>>(),
        [
            (t("2026-04-01T23:00:00Z"), 4, 2, 1, 1, 6300, 5000),
            (t("2026-04-02T00:00:00Z"), 1, 1, 0, 0, 50, 50),
        ]
    );
    let days = store
        .rollups(&mid(m), Granularity::Day, since)
        .await
        .unwrap();
    assert_eq!(
        days.iter().map(counts).collect::<Vec<_>>(),
        [
            (t("2026-04-01T00:00:00Z"), 4, 2, 1, 1, 6300, 5000),
            (t("2026-04-02T00:00:00Z"), 1, 1, 0, 0, 50, 50),
        ]
    );
    // `since` inside a bucket includes that bucket; later buckets only after it.
    let from_mid_minute = store
        .rollups(&mid(m), Granularity::Minute, t("2026-04-01T23:59:30Z"))
        .await
        .unwrap();
    assert_eq!(from_mid_minute.len(), 2);
    let other = store
        .rollups(&mid("db-port"), Granularity::Day, since)
        .await
        .unwrap();
    assert_eq!(
        other.iter().map(counts).collect::<Vec<_>>(),
        [(t("2026-04-01T00:00:00Z"), 1, 1, 0, 0, 3, 3)]
    );
    store.close().await;
}

async fn monitor_states_round_trip(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-05-01T00:00:00Z");
    seed(&store, t0).await;
    let full = MonitorState {
        health: Health::Degraded,
        since: Some(t("2026-05-01T00:00:01.234Z")),
        down_streak: 0,
        up_streak: 1,
        not_up_streak: 7,
        not_down_streak: u32::MAX,
        last_check_at: Some(t("2026-05-01T00:05:00.5Z")),
        last_outcome: Some(CheckOutcome::Degraded),
        last_error: Some("condition failed: [RESPONSE_TIME] (812) < 500".into()),
    };
    store
        .write_batch(&Batch {
            monitor_states: vec![
                (mid("api-health"), state(Health::Down, t0)),
                (mid("api-health"), full.clone()),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let states = store.monitor_states().await.unwrap();
    assert_eq!(
        states,
        [
            (mid("api-health"), full.clone()),
            (mid("db-port"), MonitorState::default())
        ]
    );
    // Replaced wholesale, including fields going back to None.
    let cleared = MonitorState {
        health: Health::Up,
        ..MonitorState::default()
    };
    store
        .write_batch(&Batch {
            monitor_states: vec![(mid("api-health"), cleared.clone())],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.monitor_states().await.unwrap()[0],
        (mid("api-health"), cleared)
    );
    store.close().await;
}

async fn component_changes_set_status_and_log_events(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-06-01T00:00:00Z");
    seed(&store, t0).await;
    let (t1, t2) = (t("2026-06-01T01:00:00Z"), t("2026-06-01T02:00:00Z"));
    use ComponentStatus::*;
    // Given out of order: applied in time order, so the later one wins.
    store
        .write_batch(&Batch {
            component_changes: vec![
                change("api", PartialOutage, Operational, t2),
                change("api", Operational, PartialOutage, t1),
                change("db", Operational, UnderMaintenance, t1),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.components().await.unwrap();
    let by_id: HashMap<_, _> = stored.iter().map(|c| (c.id.as_str(), c)).collect();
    assert_eq!(
        (by_id["api"].status, by_id["api"].updated_at),
        (Operational, t2)
    );
    assert_eq!(
        (by_id["db"].status, by_id["db"].updated_at),
        (UnderMaintenance, t1)
    );
    assert_eq!(by_id["core"].updated_at, t0);
    let timeline = store
        .status_timeline(t("2025-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        timeline[&cid("api")],
        [
            StatusChange {
                at: t0,
                status: Operational
            },
            StatusChange {
                at: t1,
                status: PartialOutage
            },
            StatusChange {
                at: t2,
                status: Operational
            },
        ]
    );
    store.close().await;
}

async fn status_timeline_is_clamped_to_since(db: &TestDb) {
    let store = db.open().await;
    use ComponentStatus::*;
    let t0 = t("2026-07-01T00:00:00Z");
    seed(&store, t0).await;
    let (t1, t2) = (t("2026-07-02T00:00:00Z"), t("2026-07-03T00:00:00Z"));
    store
        .write_batch(&Batch {
            component_changes: vec![
                change("api", Operational, MajorOutage, t1),
                change("api", MajorOutage, DegradedPerformance, t2),
                change("core", Operational, MajorOutage, t1),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    // A component created after `since` starts at its creation.
    let t3 = t("2026-07-04T00:00:00Z");
    store
        .reconcile(
            &[
                component("api", 1),
                component("db", 2),
                group("core", 0),
                component("cdn", 3),
            ],
            &[monitor("api-health", &["api"]), monitor("db-port", &["db"])],
            t3,
        )
        .await
        .unwrap();

    let between = t("2026-07-02T12:00:00Z");
    let timeline = store.status_timeline(between).await.unwrap();
    let mut keys: Vec<_> = timeline.keys().map(ComponentId::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["api", "cdn", "db"], "groups are left out");
    assert_eq!(
        timeline[&cid("api")],
        [
            StatusChange {
                at: between,
                status: MajorOutage
            },
            StatusChange {
                at: t2,
                status: DegradedPerformance
            },
        ]
    );
    assert_eq!(
        timeline[&cid("db")],
        [StatusChange {
            at: between,
            status: Operational
        }]
    );
    assert_eq!(
        timeline[&cid("cdn")],
        [StatusChange {
            at: t3,
            status: Operational
        }]
    );

    // A change exactly at `since` is the status in force, once.
    let timeline = store.status_timeline(t1).await.unwrap();
    assert_eq!(
        timeline[&cid("api")],
        [
            StatusChange {
                at: t1,
                status: MajorOutage
            },
            StatusChange {
                at: t2,
                status: DegradedPerformance
            },
        ]
    );
    // Before the component existed: no clamped entry, the history starts at creation.
    let timeline = store
        .status_timeline(t("2026-06-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(timeline[&cid("api")].len(), 3);
    assert_eq!(
        timeline[&cid("api")][0],
        StatusChange {
            at: t0,
            status: Operational
        }
    );
    // After the last change: just the status in force.
    let late = t("2026-08-01T00:00:00Z");
    let timeline = store.status_timeline(late).await.unwrap();
    assert_eq!(
        timeline[&cid("api")],
        [StatusChange {
            at: late,
            status: DegradedPerformance
        }]
    );
    // The timeline feeds the uptime maths directly.
    let days = pharos_domain::uptime::daily(
        &store.status_timeline(t0).await.unwrap()[&cid("api")],
        t2,
        chrono_tz::UTC,
        3,
    );
    assert_eq!((days[0].observed_ms, days[0].major_ms), (86_400_000, 0));
    assert_eq!(
        (days[1].observed_ms, days[1].major_ms),
        (86_400_000, 86_400_000)
    );
    store.close().await;
}

async fn prune_respects_retention_boundaries(db: &TestDb) {
    let store = db.open().await;
    let now = t("2026-09-01T00:00:00Z");
    seed(&store, now - chrono::Duration::days(500)).await;
    let ms = chrono::Duration::milliseconds(1);
    let h48 = now - chrono::Duration::hours(48);
    let d90 = now - chrono::Duration::days(90);
    let d400 = now - chrono::Duration::days(400);
    let results = [h48, h48 - ms, d90, d90 - ms, d400, d400 - ms]
        .into_iter()
        .map(|at| result("api-health", at, CheckOutcome::Up, 1))
        .collect();
    store
        .write_batch(&Batch {
            results,
            ..Batch::default()
        })
        .await
        .unwrap();
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let count = |g| {
        let store = store.clone();
        async move {
            store
                .rollups(&mid("api-health"), g, epoch)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        (
            count(Granularity::Minute).await,
            count(Granularity::Hour).await
        ),
        (6, 6)
    );
    assert_eq!(count(Granularity::Day).await, 6);

    let report = store.prune(now).await.unwrap();
    assert_eq!(
        report,
        PruneReport {
            minute_rollups: 5,
            hour_rollups: 3,
            day_rollups: 1,
            sent_deliveries: 0,
            dead_deliveries: 0,
            payloads: 0,
            sessions: 0,
        }
    );
    let starts = |g| {
        let store = store.clone();
        async move {
            store
                .rollups(&mid("api-health"), g, epoch)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.bucket_start)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        starts(Granularity::Minute).await,
        [h48],
        "a bucket at the cut-off is kept"
    );
    assert_eq!(
        starts(Granularity::Hour).await,
        [d90, h48 - chrono::Duration::hours(1), h48]
    );
    assert_eq!(starts(Granularity::Day).await.len(), 5);
    assert_eq!(
        store.prune(now).await.unwrap(),
        PruneReport::default(),
        "idempotent"
    );
    // Results and events are untouched.
    assert_eq!(
        store
            .recent_results(&mid("api-health"), 100)
            .await
            .unwrap()
            .len(),
        6
    );
    assert!(!store.status_timeline(now).await.unwrap()[&cid("api")].is_empty());
    store.close().await;
}

async fn a_failing_batch_writes_nothing(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2026-10-01T00:00:00Z");
    seed(&store, t0).await;
    let t1 = t("2026-10-01T00:00:30Z");
    let good_part = Batch {
        results: vec![result("api-health", t1, CheckOutcome::Down, 10)],
        monitor_states: vec![(mid("api-health"), state(Health::Down, t1))],
        component_changes: vec![change(
            "api",
            ComponentStatus::Operational,
            ComponentStatus::MajorOutage,
            t1,
        )],
        ..Batch::default()
    };
    // Fails after the first change was written: an unknown component (changes apply in
    // time order).
    let mut bad = good_part.clone();
    bad.component_changes.push(change(
        "ghost",
        ComponentStatus::Operational,
        ComponentStatus::MajorOutage,
        t1,
    ));
    let err = store.write_batch(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                op: "write_batch",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: unknown component ghost"
    );
    // Fails after the component change and the ring reservation were written: unknown
    // monitors, all of them named.
    let mut bad = good_part.clone();
    bad.results
        .push(result("ghost-monitor", t1, CheckOutcome::Up, 1));
    bad.monitor_states
        .push((mid("other-ghost"), MonitorState::default()));
    let err = store.write_batch(&bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: unknown monitor(s): ghost-monitor, other-ghost"
    );

    let assert_untouched = || async {
        assert!(store
            .recent_results(&mid("api-health"), 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .rollups(&mid("api-health"), Granularity::Day, t0)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .monitor_states()
            .await
            .unwrap()
            .iter()
            .all(|(_, s)| *s == MonitorState::default()));
        let api = store
            .components()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.id == cid("api"))
            .unwrap();
        assert_eq!(
            (api.status, api.updated_at),
            (ComponentStatus::Operational, t0)
        );
        assert_eq!(
            store.status_timeline(t0).await.unwrap()[&cid("api")].len(),
            1
        );
    };
    assert_untouched().await;

    // The store is still usable, and the good part alone goes through.
    store.write_batch(&good_part).await.unwrap();
    assert_eq!(
        store
            .recent_results(&mid("api-health"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let api = store
        .components()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == cid("api"))
        .unwrap();
    assert_eq!(api.status, ComponentStatus::MajorOutage);
    store.close().await;
}

/// 10,000 monitors every 30 s is 333 results a second: time batches of that size.
async fn batches_of_hundreds_are_fast(db: &TestDb) {
    const MONITORS: usize = 333;
    const BATCHES: usize = 10;
    let store = db.open().await;
    let t0 = t("2026-11-01T00:00:00Z");
    let components: Vec<_> = (0..MONITORS)
        .map(|i| component(&format!("c{i}"), i as u32))
        .collect();
    let monitors: Vec<_> = (0..MONITORS)
        .map(|i| monitor(&format!("m{i}"), &[&format!("c{i}")]))
        .collect();
    let started = Instant::now();
    store.reconcile(&components, &monitors, t0).await.unwrap();
    let reconcile_time = started.elapsed();

    let mut times = Vec::new();
    for b in 0..BATCHES {
        let at = t0 + chrono::Duration::seconds(30 * b as i64);
        let batch = Batch {
            results: (0..MONITORS)
                .map(|i| {
                    let outcome = if (i + b) % 50 == 0 {
                        CheckOutcome::Down
                    } else {
                        CheckOutcome::Up
                    };
                    result(&format!("m{i}"), at, outcome, (i % 700) as u64)
                })
                .collect(),
            monitor_states: (0..MONITORS)
                .map(|i| (mid(&format!("m{i}")), state(Health::Up, at)))
                .collect(),
            component_changes: (0..5)
                .map(|i| {
                    change(
                        &format!("c{i}"),
                        ComponentStatus::Operational,
                        ComponentStatus::PartialOutage,
                        at,
                    )
                })
                .collect(),
            ..Batch::default()
        };
        let started = Instant::now();
        store.write_batch(&batch).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let median = times[BATCHES / 2];
    eprintln!(
        "perf[{}]: reconcile of {MONITORS} components + monitors {:?}; write_batch of {MONITORS} \
         results + {MONITORS} states + 5 changes: median {:?}, min {:?}, max {:?} \
         (~{:.0} results/s)",
        store.backend(),
        reconcile_time,
        median,
        times[0],
        times[BATCHES - 1],
        MONITORS as f64 / median.as_secs_f64()
    );
    // Generous bound for a loaded CI machine; the figure of interest is printed above.
    assert!(
        median < Duration::from_secs(5),
        "write_batch too slow: {median:?}"
    );
    assert_eq!(
        store.recent_results(&mid("m7"), 100).await.unwrap().len(),
        BATCHES
    );
    store.close().await;
}

async fn incidents_upsert_by_id_and_keep_created_at(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-01-01T00:00:00Z");
    let t1 = t("2027-01-01T01:00:00.123Z");
    assert!(store.incidents().await.unwrap().is_empty());
    // Same created_at for b and a: ordered by id after created_at.
    let b = incident(
        "b",
        IncidentKind::Incident,
        "investigating",
        t1,
        r#"{"title":"API down"}"#,
    );
    let a = incident(
        "a",
        IncidentKind::Maintenance,
        "scheduled",
        t1,
        r#"{"title":"DB upgrade"}"#,
    );
    let early = incident(
        "z-early",
        IncidentKind::Incident,
        "resolved",
        t0,
        r#"{"title":"old"}"#,
    );
    store
        .write_batch(&Batch {
            incidents: vec![b.clone(), a.clone(), early.clone()],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.incidents().await.unwrap(),
        [early.clone(), a.clone(), b.clone()]
    );

    // A later record replaces kind, status, updated_at and doc, but not created_at; within
    // one batch the last record for an id wins.
    let t2 = t("2027-01-01T02:00:00Z");
    let mut b2 = incident(
        "b",
        IncidentKind::Incident,
        "identified",
        t2,
        r#"{"title":"API down","cause":"disk"}"#,
    );
    b2.updated_at = t2;
    let mut b3 = b2.clone();
    b3.kind = IncidentKind::Maintenance;
    b3.status = "monitoring".into();
    b3.doc = r#"{"title":"API down","cause":"disk","fix":"rotated"}"#.into();
    b3.updated_at = t2 + chrono::Duration::minutes(1);
    store
        .write_batch(&Batch {
            incidents: vec![b2, b3.clone()],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.incidents().await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[2],
        IncidentRecord {
            created_at: t1,
            ..b3
        },
        "created_at kept from the first write"
    );
    assert_eq!(
        (stored[0].clone(), stored[1].clone()),
        (early, a),
        "others untouched"
    );
    store.close().await;
}

async fn incident_events_are_ordered_and_retries_are_idempotent(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-02-01T00:00:00Z");
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let inc = incident("inc-1", IncidentKind::Incident, "investigating", t0, "{}");
    let other = incident("inc-2", IncidentKind::Incident, "investigating", t0, "{}");
    // Given out of order, and with ids that sort differently from their time order.
    let events = vec![
        event("e-a", "inc-1", 0, at(30)),
        event("e-b", "inc-1", 2, at(10)),
        event("e-c", "inc-1", 1, at(10)),
        event("e-d", "inc-1", 0, at(-5)),
        event("e-other", "inc-2", 0, at(0)),
    ];
    let batch = Batch {
        incidents: vec![inc.clone(), other],
        incident_events: events.clone(),
        ..Batch::default()
    };
    store.write_batch(&batch).await.unwrap();
    let stored = store.incident_events("inc-1").await.unwrap();
    assert_eq!(event_ids(&stored), ["e-d", "e-c", "e-b", "e-a"]);
    assert_eq!(stored[1], events[2], "every field round-trips");
    assert_eq!(
        event_ids(&store.incident_events("inc-2").await.unwrap()),
        ["e-other"]
    );
    assert!(store.incident_events("nope").await.unwrap().is_empty());

    // The same batch again (a retry after an ambiguous failure): one row per event id.
    store.write_batch(&batch).await.unwrap();
    assert_eq!(store.incident_events("inc-1").await.unwrap(), stored);
    assert_eq!(store.incidents().await.unwrap().len(), 2);

    // An event id already stored is ignored even when its content differs; new ids, for an
    // incident stored by an earlier batch, are appended.
    let mut changed = events[0].clone();
    changed.doc = r#"{"event":"rewritten"}"#.into();
    store
        .write_batch(&Batch {
            incident_events: vec![changed, event("e-e", "inc-1", 0, at(20))],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.incident_events("inc-1").await.unwrap();
    assert_eq!(event_ids(&stored), ["e-d", "e-c", "e-b", "e-e", "e-a"]);
    assert_eq!(stored[4], events[0], "the first write of an id stays");
    store.close().await;
}

async fn held_alerts_are_kept_replaced_and_let_go(db: &TestDb) {
    let store = db.open().await;
    assert!(store.held_alerts().await.unwrap().is_empty());
    let held = |key: &str, at: &str, doc: &str| {
        HeldAlertChange::Upsert(HeldAlertRecord {
            key: key.into(),
            updated_at: t(at),
            doc: doc.into(),
        })
    };
    store
        .write_batch(&Batch {
            held_alerts: vec![
                held("grafana:b", "2027-03-01T00:00:00.250Z", r#"{"n":1}"#),
                held("alertmanager:a", "2027-03-01T00:00:01Z", r#"{"n":1}"#),
                held("grafana:b", "2027-03-01T00:00:02Z", r#"{"n":2}"#),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.held_alerts().await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|h| (h.key.as_str(), h.updated_at, h.doc.as_str()))
            .collect::<Vec<_>>(),
        [
            ("alertmanager:a", t("2027-03-01T00:00:01Z"), r#"{"n":1}"#),
            ("grafana:b", t("2027-03-01T00:00:02Z"), r#"{"n":2}"#),
        ],
        "by key; the later upsert in a batch wins"
    );
    store
        .write_batch(&Batch {
            held_alerts: vec![
                HeldAlertChange::Remove("grafana:b".into()),
                HeldAlertChange::Remove("never:held".into()),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let keys: Vec<String> = store
        .held_alerts()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.key)
        .collect();
    assert_eq!(keys, ["alertmanager:a"]);
    // A NUL in a document is refused and nothing of the batch is written.
    let refused = store
        .write_batch(&Batch {
            held_alerts: vec![
                HeldAlertChange::Remove("alertmanager:a".into()),
                held("x", "2027-03-01T00:00:03Z", "bad\0doc"),
            ],
            ..Batch::default()
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(store.held_alerts().await.unwrap().len(), 1);
}

async fn overrides_set_replace_and_clear(db: &TestDb) {
    use ComponentStatus::*;
    let store = db.open().await;
    let t0 = t("2027-03-01T00:00:00Z");
    seed(&store, t0).await;
    assert!(store.overrides().await.unwrap().is_empty());
    let t1 = t("2027-03-01T01:00:00Z");
    let until = t("2027-03-01T03:30:00.250Z");
    store
        .write_batch(&Batch {
            overrides: vec![
                set_override("db", UnderMaintenance, Some(until), t1),
                set_override("api", MajorOutage, None, t1),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.overrides().await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|o| (o.component_id.as_str(), o.status, o.until, o.set_at))
            .collect::<Vec<_>>(),
        [
            ("api", MajorOutage, None, t1),
            ("db", UnderMaintenance, Some(until), t1)
        ],
        "ordered by component id; until null and set"
    );
    assert_eq!(
        stored[0].doc,
        r#"{"component":"api","status":"major_outage"}"#
    );
    // Overrides do not touch the component's own status.
    assert!(store
        .components()
        .await
        .unwrap()
        .iter()
        .all(|c| c.status == Operational));

    // Replace (until going from set to null and back), clear, and apply in order.
    let t2 = t("2027-03-01T02:00:00Z");
    store
        .write_batch(&Batch {
            overrides: vec![
                set_override("db", PartialOutage, None, t2),
                set_override("api", DegradedPerformance, Some(until), t2),
                OverrideChange::Clear(cid("api")),
                OverrideChange::Clear(cid("core")), // nothing to clear: a no-op
                OverrideChange::Clear(cid("db")),
                set_override("db", DegradedPerformance, None, t2),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let stored = store.overrides().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0].component_id.as_str(),
            stored[0].status,
            stored[0].until,
            stored[0].set_at
        ),
        ("db", DegradedPerformance, None, t2)
    );
    store
        .write_batch(&Batch {
            overrides: vec![set_override("db", UnderMaintenance, Some(until), t2)],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.overrides().await.unwrap()[0].until, Some(until));

    // An override for an unknown component is rejected, and nothing of its batch stays.
    let err = store
        .write_batch(&Batch {
            overrides: vec![
                OverrideChange::Clear(cid("db")),
                set_override("ghost", MajorOutage, None, t2),
            ],
            ..Batch::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: override for unknown component ghost"
    );
    assert_eq!(
        store.overrides().await.unwrap().len(),
        1,
        "clear rolled back"
    );
    store.close().await;
}

async fn a_failing_incident_batch_writes_nothing(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-04-01T00:00:00Z");
    seed(&store, t0).await;
    let t1 = t("2027-04-01T00:00:30Z");
    let good_part = Batch {
        results: vec![result("api-health", t1, CheckOutcome::Down, 10)],
        monitor_states: vec![(mid("api-health"), state(Health::Down, t1))],
        component_changes: vec![change(
            "api",
            ComponentStatus::Operational,
            ComponentStatus::MajorOutage,
            t1,
        )],
        incidents: vec![incident(
            "inc-1",
            IncidentKind::Incident,
            "investigating",
            t1,
            "{}",
        )],
        incident_events: vec![event("e-1", "inc-1", 0, t1)],
        overrides: vec![set_override("api", ComponentStatus::MajorOutage, None, t1)],
        held_alerts: Vec::new(),
        audit: Vec::new(),
        outbox: vec![delivery("d-1", "notifier:ops", t1, t1)],
        subscribers: vec![SubscriberChange::Upsert(subscriber(
            "s-1",
            SubscriberKind::Webhook,
            "https://hooks.example.com",
            &[],
            t1,
        ))],
    };
    // The event insert violates a foreign key: everything before it, check results
    // included, must be rolled back, and the subscribers and the outbox (written after it)
    // never written.
    let mut bad = good_part.clone();
    bad.incident_events
        .push(event("e-2", "no-such-incident", 0, t1));
    let err = store.write_batch(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                op: "write_batch",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: event e-2 names unknown incident \
         no-such-incident"
    );
    // A NUL character is refused up front, on both engines alike.
    let mut bad = good_part.clone();
    bad.incidents[0].doc = "{\"title\":\"a\u{0}b\"}".into();
    let err = store.write_batch(&bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: incident \"inc-1\": doc contains a \
         NUL character"
    );

    assert!(store
        .recent_results(&mid("api-health"), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.subscriber("s-1").await.unwrap(), None);
    assert!(store
        .rollups(&mid("api-health"), Granularity::Minute, t0)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .monitor_states()
        .await
        .unwrap()
        .iter()
        .all(|(_, s)| *s == MonitorState::default()));
    assert!(store
        .components()
        .await
        .unwrap()
        .iter()
        .all(|c| c.status == ComponentStatus::Operational && c.updated_at == t0));
    assert_eq!(
        store.status_timeline(t0).await.unwrap()[&cid("api")].len(),
        1
    );
    assert!(store.incidents().await.unwrap().is_empty());
    assert!(store.incident_events("inc-1").await.unwrap().is_empty());
    assert!(store.overrides().await.unwrap().is_empty());
    assert!(store.outbox_rows(None, 10).await.unwrap().is_empty());
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 0, 0));

    // The store is still usable, and the good part alone goes through.
    store.write_batch(&good_part).await.unwrap();
    assert_eq!(ids_of(&store.outbox_rows(None, 10).await.unwrap()), ["d-1"]);
    assert_eq!(store.incidents().await.unwrap(), good_part.incidents);
    assert_eq!(
        store.incident_events("inc-1").await.unwrap(),
        good_part.incident_events
    );
    assert_eq!(store.overrides().await.unwrap().len(), 1);
    assert_eq!(
        store
            .recent_results(&mid("api-health"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

async fn prune_keeps_incidents_and_events(db: &TestDb) {
    let store = db.open().await;
    let now = t("2027-05-01T00:00:00Z");
    let long_ago = now - chrono::Duration::days(3650);
    seed(&store, long_ago).await;
    let incidents = vec![
        incident("old", IncidentKind::Incident, "resolved", long_ago, "{}"),
        incident(
            "maint",
            IncidentKind::Maintenance,
            "completed",
            long_ago,
            "{}",
        ),
    ];
    let events = vec![
        event("e-1", "old", 0, long_ago),
        event("e-2", "old", 1, long_ago + chrono::Duration::hours(1)),
        event("e-3", "maint", 0, long_ago),
    ];
    store
        .write_batch(&Batch {
            results: vec![result("api-health", long_ago, CheckOutcome::Up, 1)],
            incidents: incidents.clone(),
            incident_events: events.clone(),
            overrides: vec![set_override(
                "db",
                ComponentStatus::UnderMaintenance,
                Some(long_ago),
                long_ago,
            )],
            ..Batch::default()
        })
        .await
        .unwrap();
    let report = store.prune(now).await.unwrap();
    assert_eq!(
        report,
        PruneReport {
            minute_rollups: 1,
            hour_rollups: 1,
            day_rollups: 1,
            sent_deliveries: 0,
            dead_deliveries: 0,
            payloads: 0,
            sessions: 0,
        },
        "the rollups did age out"
    );
    let mut stored = store.incidents().await.unwrap();
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(stored, [incidents[1].clone(), incidents[0].clone()]);
    assert_eq!(store.incident_events("old").await.unwrap(), events[..2]);
    assert_eq!(store.incident_events("maint").await.unwrap(), events[2..]);
    assert_eq!(
        store.overrides().await.unwrap().len(),
        1,
        "expired overrides are the engine's to clear"
    );
    store.close().await;
}

async fn unicode_and_large_documents_survive_byte_for_byte(db: &TestDb) {
    let t0 = t("2027-06-01T00:00:00Z");
    // Multi-byte text of every width, combining marks, right-to-left, a BOM, escapes and
    // control characters other than NUL.
    let unicode = "{\"title\":\"Störung — 障害 — تعطل — 🔥🧯\",\"note\":\"e\u{301} \u{feff}\
                   \\u0000 \\\"quoted\\\" \\n tab\there \u{1}\u{7f} 𝄞\"}";
    // A 100 KB document that is not valid JSON on purpose: the store must not look inside.
    let mut large = String::with_capacity(110_000);
    let mut i = 0u32;
    while large.len() < 100_000 {
        large.push_str(&format!("{i}:ä漢🙂;"));
        i += 1;
    }
    assert!(large.len() >= 100_000);
    let batch = Batch {
        incidents: vec![
            incident(
                "inc-ü",
                IncidentKind::Incident,
                "investigating",
                t0,
                unicode,
            ),
            incident(
                "inc-big",
                IncidentKind::Maintenance,
                "scheduled",
                t0,
                &large,
            ),
        ],
        incident_events: vec![
            IncidentEventRecord {
                doc: unicode.into(),
                kind: "mise à jour".into(),
                ..event("e-ü-1", "inc-ü", 0, t0)
            },
            IncidentEventRecord {
                doc: large.clone(),
                ..event("e-big", "inc-big", 0, t0)
            },
        ],
        overrides: vec![OverrideChange::Set(OverrideRecord {
            component_id: cid("api"),
            status: ComponentStatus::UnderMaintenance,
            until: None,
            set_at: t0,
            doc: large.clone(),
        })],
        ..Batch::default()
    };
    {
        let store = db.open().await;
        seed(&store, t0).await;
        store.write_batch(&batch).await.unwrap();
        store.close().await;
    }
    // Read back through a fresh connection.
    let store = db.open().await;
    let incidents = store.incidents().await.unwrap();
    let by_id: HashMap<_, _> = incidents.iter().map(|i| (i.id.as_str(), i)).collect();
    assert_eq!(by_id["inc-ü"].doc.as_bytes(), unicode.as_bytes());
    assert_eq!(by_id["inc-big"].doc.as_bytes(), large.as_bytes());
    assert_eq!(
        store.incident_events("inc-ü").await.unwrap(),
        batch.incident_events[..1]
    );
    assert_eq!(
        store.incident_events("inc-big").await.unwrap()[0]
            .doc
            .as_bytes(),
        large.as_bytes()
    );
    assert_eq!(
        store.overrides().await.unwrap()[0].doc.as_bytes(),
        large.as_bytes()
    );
    store.close().await;
}

/// Makes `db` a database an older release left behind: the shipped migrations up to and
/// including version `last` (e.g. `"0004"`), then `statements`. The next `db.open()` upgrades
/// it.
async fn at_old_version(db: &TestDb, last: &str, statements: &[&'static str]) {
    let engine = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let old_dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_str().unwrap();
        if name[..4] <= *last {
            std::fs::copy(shipped.join(name), old_dir.path().join(name)).unwrap();
        }
    }
    let old = sqlx::migrate::Migrator::new(old_dir.path()).await.unwrap();
    assert_eq!(
        old.iter().last().unwrap().version,
        last.parse::<i64>().unwrap()
    );
    if engine == "sqlite" {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .create_if_missing(true);
        std::fs::create_dir_all(options.get_filename().parent().unwrap()).unwrap();
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        old.run(&pool).await.unwrap();
        for statement in statements {
            sqlx::query(*statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        old.run(&pool).await.unwrap();
        for statement in statements {
            sqlx::query(*statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

/// A database created by the first release (schema version 1 only) gains the incident
/// tables on the next start, keeping its data.
async fn a_version_1_database_upgrades(db: &TestDb) {
    at_old_version(
        db,
        "0001",
        &[
            "INSERT INTO components (id, name, is_group, position, status, created_at, \
           updated_at) VALUES ('api', 'API', FALSE, 1, 'operational', 0, 0)",
        ],
    )
    .await;

    let store = db.open().await;
    assert_eq!(ids(&store.components().await.unwrap()), ["api"]);
    let t0 = t("2027-07-01T00:00:00Z");
    let inc = incident("inc", IncidentKind::Incident, "investigating", t0, "{}");
    store
        .write_batch(&Batch {
            incidents: vec![inc.clone()],
            overrides: vec![set_override("api", ComponentStatus::MajorOutage, None, t0)],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.incidents().await.unwrap(), [inc]);
    assert_eq!(store.overrides().await.unwrap().len(), 1);
    store.close().await;
}

/// Deliveries stored before payloads were shared (schema version 4) keep their payloads and
/// their state through the upgrade: each gets a payload of its own, under its own id.
async fn a_version_4_outbox_upgrades(db: &TestDb) {
    at_old_version(
        db,
        "0004",
        &[
            "INSERT INTO outbox (id, destination, event_kind, payload, created_at, due_at, \
             state) VALUES ('old-pending', 'notifier:ops', 'incident.created', '{\"old\":1}', \
             0, 0, 'pending')",
            "INSERT INTO outbox (id, destination, event_kind, payload, created_at, due_at, \
             state, sent_at) VALUES ('old-sent', 'notifier:ops', 'incident.created', \
             '{\"old\":2}', 0, 0, 'sent', 5)",
        ],
    )
    .await;

    let store = db.open().await;
    let claimed = store
        .claim_due(t("2027-07-01T00:00:00Z"), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids_of(&claimed), ["old-pending"]);
    assert_eq!(
        *claimed[0].payload,
        OutboxPayload {
            id: "old-pending".into(),
            body: "{\"old\":1}".into()
        }
    );
    let sent = store
        .outbox_rows(Some(DeliveryState::Sent), 10)
        .await
        .unwrap();
    assert_eq!(ids_of(&sent), ["old-sent"]);
    assert_eq!(sent[0].payload.body, "{\"old\":2}");
    store.close().await;
}

/// An http result's phase timings come back as written, a missing phase as `None`, and a
/// result with none at all (another kind) without timings.
async fn results_keep_their_phase_timings(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-06-01T00:00:00Z");
    seed(&store, t0).await;
    let fresh = PhaseTimings {
        dns_ms: Some(4),
        connect_ms: Some(11),
        tls_ms: Some(23),
        first_byte_ms: Some(87),
    };
    // A kept-alive connection: only the wait for the first byte.
    let reused = PhaseTimings {
        first_byte_ms: Some(9),
        ..PhaseTimings::default()
    };
    let with = |at, timings| CheckResult {
        timings,
        ..result("api-health", at, CheckOutcome::Up, 120)
    };
    let t1 = t0 + chrono::Duration::seconds(30);
    let t2 = t1 + chrono::Duration::seconds(30);
    store
        .write_batch(&Batch {
            results: vec![
                with(t0, Some(fresh)),
                with(t1, Some(reused)),
                with(t2, None),
            ],
            ..Batch::default()
        })
        .await
        .unwrap();
    let recent = store.recent_results(&mid("api-health"), 10).await.unwrap();
    let timings: Vec<_> = recent.iter().map(|r| r.timings).collect();
    assert_eq!(timings, [None, Some(reused), Some(fresh)]);
    store.close().await;
}

/// Results stored before phase timings (schema version 5) read back without them, and the
/// ring slot they hold takes a timed result afterwards.
async fn a_version_5_result_upgrades(db: &TestDb) {
    at_old_version(
        db,
        "0005",
        &[
            "INSERT INTO monitors (id, type_name, definition_json, ring_seq, created_at, \
             updated_at) VALUES ('api-health', 'http', '{}', 1, 0, 0)",
            "INSERT INTO check_results (monitor_id, slot, seq, started_at, duration_ms, \
             outcome, status_code, error) VALUES ('api-health', 1, 1, 1000, 42, 'up', 200, NULL)",
        ],
    )
    .await;

    let store = db.open().await;
    let old = store.recent_results(&mid("api-health"), 10).await.unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!((old[0].duration_ms, old[0].timings), (42, None));
    let timings = PhaseTimings {
        dns_ms: None,
        connect_ms: Some(2),
        tls_ms: None,
        first_byte_ms: Some(5),
    };
    store
        .write_batch(&Batch {
            results: vec![CheckResult {
                timings: Some(timings),
                ..result("api-health", t("2027-07-01T00:00:00Z"), CheckOutcome::Up, 7)
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    let recent = store.recent_results(&mid("api-health"), 10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].timings, Some(timings));
    assert_eq!(recent[1].timings, None);
    store.close().await;
}

// ---------------------------------------------------------------------------------------
// The outbox

async fn outbox_deliveries_commit_with_their_batch(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-01T00:00:00Z");
    seed(&store, t0).await;
    let t1 = t0 + chrono::Duration::seconds(30);
    let mut unicode = delivery("d-ü", "subscriber:0193-ab", t1, t1);
    unicode.payload = OutboxPayload::shared(
        "p-ü",
        "{\"title\":\"Störung — 障害 — 🔥\",\"x\":\"\\u0000\"}",
    );
    let batch = Batch {
        results: vec![result("api-health", t1, CheckOutcome::Down, 10)],
        component_changes: vec![change(
            "api",
            ComponentStatus::Operational,
            ComponentStatus::MajorOutage,
            t1,
        )],
        incidents: vec![incident(
            "inc-1",
            IncidentKind::Incident,
            "investigating",
            t1,
            "{}",
        )],
        incident_events: vec![event("e-1", "inc-1", 0, t1)],
        outbox: vec![
            delivery("d-1", "notifier:ops", t1, t1),
            unicode.clone(),
            // Twice in one batch: the first wins.
            OutboxRecord {
                payload: OutboxPayload::shared("p-second", "{\"second\":true}"),
                ..delivery("d-1", "notifier:ops", t1, t1)
            },
            // One payload for two deliveries, as one event to many subscribers.
            OutboxRecord {
                payload: unicode.payload.clone(),
                ..delivery("d-ü2", "subscriber:0193-cd", t1, t1)
            },
        ],
        ..Batch::default()
    };
    assert!(!Batch {
        outbox: batch.outbox.clone(),
        ..Batch::default()
    }
    .is_empty());
    store.write_batch(&batch).await.unwrap();
    // A retried batch (the writer got no answer and sent it again) enqueues nothing new.
    store.write_batch(&batch).await.unwrap();
    store
        .write_batch(&Batch {
            outbox: vec![OutboxRecord {
                payload: OutboxPayload::shared("p-retried", "{\"retried\":true}"),
                ..delivery("d-1", "notifier:ops", t1, t1)
            }],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.outbox_counts().await.unwrap(), (3, 0, 0));

    let claimed = store.claim_due(t1, LEASE, 10).await.unwrap();
    assert_eq!(
        claimed,
        [
            pending(&batch.outbox[0]),
            pending(&unicode),
            pending(&batch.outbox[3])
        ],
        "oldest due first, then by id; stored byte for byte"
    );
    assert_eq!(
        claimed[1].payload.body.as_bytes(),
        unicode.payload.body.as_bytes()
    );
    assert!(
        Arc::ptr_eq(&claimed[1].payload, &claimed[2].payload),
        "rows naming one payload share it"
    );
    assert_eq!(store.incidents().await.unwrap().len(), 1);

    // Reopened, the deliveries are still there, claimed until the lease ends.
    store.close().await;
    let store = db.open().await;
    assert!(store.claim_due(t1, LEASE, 10).await.unwrap().is_empty());
    assert_eq!(
        store.claim_due(t1 + LEASE, LEASE, 10).await.unwrap().len(),
        3
    );
    store.close().await;
}

async fn a_failing_batch_enqueues_nothing(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-02T00:00:00Z");
    seed(&store, t0).await;
    let good_part = Batch {
        results: vec![result("api-health", t0, CheckOutcome::Down, 10)],
        outbox: vec![
            delivery("d-1", "notifier:ops", t0, t0),
            delivery("d-2", "subscriber:s-1", t0, t0),
        ],
        ..Batch::default()
    };
    // An unknown monitor is found before the outbox is written; an unknown incident is the
    // last statement before it.
    let mut bad = good_part.clone();
    bad.results.push(result("ghost", t0, CheckOutcome::Up, 1));
    assert!(store.write_batch(&bad).await.is_err());
    let mut bad = good_part.clone();
    bad.incident_events
        .push(event("e-1", "no-such-incident", 0, t0));
    assert!(matches!(
        store.write_batch(&bad).await.unwrap_err(),
        StoreError::InvalidInput { .. }
    ));
    // A NUL character in a delivery is refused up front, on both engines alike.
    let mut bad = good_part.clone();
    bad.outbox[1].payload = OutboxPayload::shared("p-d-2", "{\"a\":\"\u{0}\"}");
    let err = store.write_batch(&bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "store operation write_batch rejected its input: payload \"p-d-2\": body contains a \
         NUL character"
    );
    assert!(store.outbox_rows(None, 10).await.unwrap().is_empty());
    assert!(store.claim_due(t0, LEASE, 10).await.unwrap().is_empty());
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 0, 0));

    store.write_batch(&good_part).await.unwrap();
    assert_eq!(
        ids_of(&store.claim_due(t0, LEASE, 10).await.unwrap()),
        ["d-1", "d-2"]
    );
    store.close().await;
}

async fn claims_respect_due_time_and_leases(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-03T00:00:00Z");
    let s = chrono::Duration::seconds;
    let records = vec![
        delivery("c", "notifier:ops", t0, t0 + s(20)),
        delivery("a", "notifier:ops", t0, t0),
        delivery("b", "notifier:ops", t0, t0 + s(10)),
    ];
    store
        .write_batch(&Batch {
            outbox: records.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert!(store.claim_due(t0, LEASE, 0).await.unwrap().is_empty());
    assert!(
        store
            .claim_due(t0 - chrono::Duration::milliseconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due yet"
    );
    assert_eq!(
        store.claim_due(t0, LEASE, 10).await.unwrap(),
        [pending(&records[1])],
        "due exactly now is due; the others are not yet"
    );
    // `a` is leased until t0 + 60 s: the oldest due unleased row is `b`.
    assert_eq!(
        ids_of(&store.claim_due(t0 + s(20), LEASE, 1).await.unwrap()),
        ["b"]
    );
    assert_eq!(
        ids_of(&store.claim_due(t0 + s(20), LEASE, 10).await.unwrap()),
        ["c"]
    );
    assert!(
        store
            .claim_due(t0 + s(59), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "every lease still runs"
    );
    // A crashed dispatcher's rows come back when its lease ends, unchanged.
    assert_eq!(
        store.claim_due(t0 + s(60), LEASE, 10).await.unwrap(),
        [pending(&records[1])]
    );
    assert_eq!(
        store.claim_due(t0 + s(200), LEASE, 10).await.unwrap(),
        [
            pending(&records[1]),
            pending(&records[2]),
            pending(&records[0])
        ],
        "claiming counts no attempt"
    );
    assert_eq!(store.outbox_counts().await.unwrap(), (3, 0, 0));
    store.close().await;
}

async fn deliveries_are_settled_sent_retried_or_dead(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-04T00:00:00Z");
    let s = chrono::Duration::seconds;
    let records = vec![
        delivery("retry-then-sent", "notifier:ops", t0, t0),
        delivery("dead", "subscriber:s-1", t0, t0),
    ];
    store
        .write_batch(&Batch {
            outbox: records.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.claim_due(t0, LEASE, 10).await.unwrap().len(), 2);

    // A failure with a retry: pending again, due at the retry time, lease released.
    let long_error = format!("HTTP 503: {}", "Überlastet 🔥 ".repeat(200));
    store
        .mark_failed("retry-then-sent", t0 + s(1), &long_error, Some(t0 + s(30)))
        .await
        .unwrap();
    let row = outbox_row(&store, "retry-then-sent").await;
    let stored_error = row.last_error.clone().unwrap();
    assert_eq!(stored_error.chars().count(), OUTBOX_ERROR_MAX_CHARS);
    assert!(
        long_error.starts_with(&stored_error),
        "cut on a char boundary"
    );
    assert_eq!(
        row,
        OutboxRow {
            due_at: t0 + s(30),
            attempts: 1,
            last_error: Some(stored_error),
            last_attempt_at: Some(t0 + s(1)),
            ..pending(&records[0])
        }
    );
    assert!(store
        .claim_due(t0 + s(29), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids_of(&store.claim_due(t0 + s(30), LEASE, 10).await.unwrap()),
        ["retry-then-sent"],
        "due again at the retry time, though the first lease would still run"
    );
    store
        .mark_sent("retry-then-sent", t0 + s(31))
        .await
        .unwrap();
    let sent = OutboxRow {
        state: DeliveryState::Sent,
        attempts: 2,
        last_attempt_at: Some(t0 + s(31)),
        sent_at: Some(t0 + s(31)),
        ..row
    };
    assert_eq!(outbox_row(&store, "retry-then-sent").await, sent);
    // Late or repeated reports never undo a success.
    store
        .mark_failed("retry-then-sent", t0 + s(40), "late", Some(t0 + s(50)))
        .await
        .unwrap();
    store
        .mark_sent("retry-then-sent", t0 + s(41))
        .await
        .unwrap();
    assert_eq!(outbox_row(&store, "retry-then-sent").await, sent);

    // A failure without a retry: dead, never claimed again.
    store
        .mark_failed("dead", t0 + s(2), "410 Gone\u{0}", None)
        .await
        .unwrap();
    let dead = OutboxRow {
        state: DeliveryState::Dead,
        attempts: 1,
        last_error: Some("410 Gone\u{fffd}".into()),
        last_attempt_at: Some(t0 + s(2)),
        ..pending(&records[1])
    };
    assert_eq!(outbox_row(&store, "dead").await, dead);
    assert!(store
        .claim_due(t0 + chrono::Duration::days(1), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    store
        .mark_failed("dead", t0 + s(3), "again", Some(t0 + s(4)))
        .await
        .unwrap();
    assert_eq!(outbox_row(&store, "dead").await, dead, "dead stays dead");
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 1, 1));

    // Many outcomes in one transaction, as mark_sent and mark_failed record them one by one;
    // a report on a settled delivery is ignored there too.
    let more: Vec<_> = ["b-1", "b-2", "b-3"]
        .iter()
        .map(|id| delivery(id, "notifier:ops", t0, t0))
        .collect();
    store
        .write_batch(&Batch {
            outbox: more,
            ..Batch::default()
        })
        .await
        .unwrap();
    store
        .settle(&[
            Settlement::sent("b-1", t0 + s(5)),
            Settlement::failed("b-2", t0 + s(5), "refused", Some(t0 + s(9))),
            Settlement::failed("b-3", t0 + s(5), "gone", None),
            Settlement::failed("dead", t0 + s(5), "late report", Some(t0 + s(6))),
        ])
        .await
        .unwrap();
    let b1 = outbox_row(&store, "b-1").await;
    assert_eq!(
        (b1.state, b1.sent_at, b1.attempts),
        (DeliveryState::Sent, Some(t0 + s(5)), 1)
    );
    let b2 = outbox_row(&store, "b-2").await;
    assert_eq!(
        (b2.state, b2.due_at, b2.last_error.as_deref()),
        (DeliveryState::Pending, t0 + s(9), Some("refused"))
    );
    assert_eq!(outbox_row(&store, "b-3").await.state, DeliveryState::Dead);
    assert_eq!(outbox_row(&store, "dead").await, dead, "dead stays dead");
    assert_eq!(store.outbox_counts().await.unwrap(), (1, 2, 2));
    // An unknown id among them: the others are still recorded.
    let err = store
        .settle(&[
            Settlement::sent("nope", t0),
            Settlement::sent("b-2", t0 + s(10)),
        ])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown delivery \"nope\""),
        "{err}"
    );
    assert_eq!(outbox_row(&store, "b-2").await.state, DeliveryState::Sent);

    // An unknown delivery is the caller's bug.
    for err in [
        store.mark_sent("nope", t0).await.unwrap_err(),
        store.mark_failed("nope", t0, "x", None).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
        assert!(
            err.to_string().contains("unknown delivery \"nope\""),
            "{err}"
        );
    }
    store.close().await;
}

async fn a_dead_delivery_is_queued_again_with_its_audit_entry(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-04T00:00:00Z");
    let s = chrono::Duration::seconds;
    let records = vec![
        delivery("dead", "subscriber:s-1", t0, t0),
        delivery("sent", "notifier:ops", t0, t0),
        delivery("waiting", "notifier:ops", t0, t0 + s(60)),
    ];
    store
        .write_batch(&Batch {
            outbox: records.clone(),
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.claim_due(t0, LEASE, 10).await.unwrap().len(), 2);
    store
        .mark_failed("dead", t0 + s(1), "410 Gone", None)
        .await
        .unwrap();
    store.mark_sent("sent", t0 + s(1)).await.unwrap();
    let entry = |subject: &str| pharos_store::AuditRecord {
        at: t0 + s(5),
        actor_kind: pharos_store::ActorKind::User,
        actor_id: Some("usr_1".into()),
        actor_name: "Ada".into(),
        action: "delivery.retry".into(),
        subject: Some(subject.into()),
        before: None,
        after: None,
        request_id: None,
        address: None,
    };
    let audited = || async {
        store
            .audit(&pharos_store::AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.record.action == "delivery.retry")
            .count()
    };

    // Only a dead one, and an unknown id is said so: nothing changes, nothing is recorded.
    for (id, want) in [
        ("sent", Requeue::NotDead(DeliveryState::Sent)),
        ("waiting", Requeue::NotDead(DeliveryState::Pending)),
        ("nope", Requeue::Unknown),
    ] {
        let got = store
            .requeue_dead_delivery(id, t0 + s(5), Some(&entry(id)))
            .await
            .unwrap();
        assert_eq!(got, want, "{id}");
    }
    assert_eq!(audited().await, 0);
    assert_eq!(outbox_row(&store, "waiting").await, pending(&records[2]));

    // The dead one: pending, due now, unleased, its history kept, and the entry with it.
    let Requeue::Queued(row) = store
        .requeue_dead_delivery("dead", t0 + s(5), Some(&entry("dead")))
        .await
        .unwrap()
    else {
        panic!("the dead delivery was not queued");
    };
    let want = OutboxRow {
        due_at: t0 + s(5),
        attempts: 1,
        last_error: Some("410 Gone".into()),
        last_attempt_at: Some(t0 + s(1)),
        ..pending(&records[0])
    };
    assert_eq!(row, want);
    assert_eq!(outbox_row(&store, "dead").await, want);
    assert_eq!(audited().await, 1);
    let claimed = store.claim_due(t0 + s(5), LEASE, 10).await.unwrap();
    assert_eq!(
        ids_of(&claimed),
        vec!["dead"],
        "claimed as any due delivery"
    );
    store.mark_sent("dead", t0 + s(6)).await.unwrap();
    assert_eq!(
        store
            .requeue_dead_delivery("dead", t0 + s(7), None)
            .await
            .unwrap(),
        Requeue::NotDead(DeliveryState::Sent)
    );
}

async fn outbox_rows_are_newest_first_and_counted(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-08-05T00:00:00Z");
    let m = chrono::Duration::minutes;
    let records: Vec<_> = [("d-1", 0), ("d-2", 1), ("d-3", 2), ("d-4", 2), ("d-5", 3)]
        .into_iter()
        .map(|(id, minute)| delivery(id, "notifier:ops", t0 + m(minute), t0 + m(minute)))
        .collect();
    store
        .write_batch(&Batch {
            outbox: records,
            ..Batch::default()
        })
        .await
        .unwrap();
    let later = t0 + m(10);
    store.claim_due(later, LEASE, 10).await.unwrap();
    store.mark_sent("d-1", later).await.unwrap();
    store.mark_sent("d-4", later).await.unwrap();
    store.mark_failed("d-2", later, "boom", None).await.unwrap();
    store
        .mark_failed("d-5", later, "slow", Some(later + m(1)))
        .await
        .unwrap();

    assert_eq!(
        ids_of(&store.outbox_rows(None, 100).await.unwrap()),
        ["d-5", "d-4", "d-3", "d-2", "d-1"],
        "newest created first, ties by id descending"
    );
    assert_eq!(
        ids_of(&store.outbox_rows(None, 2).await.unwrap()),
        ["d-5", "d-4"]
    );
    let by_state = |state| {
        let store = store.clone();
        async move {
            let rows = store.outbox_rows(Some(state), 100).await.unwrap();
            assert!(rows.iter().all(|r| r.state == state));
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(by_state(DeliveryState::Pending).await, ["d-5", "d-3"]);
    assert_eq!(by_state(DeliveryState::Sent).await, ["d-4", "d-1"]);
    assert_eq!(by_state(DeliveryState::Dead).await, ["d-2"]);
    assert_eq!(
        ids_of(
            &store
                .outbox_rows(Some(DeliveryState::Pending), 1)
                .await
                .unwrap()
        ),
        ["d-5"]
    );
    assert!(store.outbox_rows(None, 0).await.unwrap().is_empty());
    assert_eq!(store.outbox_counts().await.unwrap(), (2, 2, 1));
    store.close().await;
}

async fn prune_ages_out_settled_deliveries(db: &TestDb) {
    let store = db.open().await;
    let now = t("2027-09-01T00:00:00Z");
    let ms = chrono::Duration::milliseconds(1);
    let sent_cut = now - SENT_DELIVERY_RETENTION;
    let dead_cut = now - DEAD_DELIVERY_RETENTION;
    assert_eq!(SENT_DELIVERY_RETENTION, chrono::Duration::days(7));
    assert_eq!(DEAD_DELIVERY_RETENTION, chrono::Duration::days(30));
    let long_ago = now - chrono::Duration::days(365);
    let ids = [
        "sent-at-cut",
        "sent-before-cut",
        "dead-at-cut",
        "dead-before-cut",
        "pending-ancient",
        "sent-recently",
    ];
    // Two pruned deliveries share a payload, which goes with them; a pruned one shares its
    // payload with a pending one, which keeps it.
    let gone = OutboxPayload::shared("p-gone", "{}");
    let kept = OutboxPayload::shared("p-kept", "{\"kept\":true}");
    let payload_of = |id: &str| match id {
        "sent-before-cut" | "dead-before-cut" => Some(gone.clone()),
        "sent-at-cut" | "pending-ancient" => Some(kept.clone()),
        _ => None,
    };
    store
        .write_batch(&Batch {
            outbox: ids
                .iter()
                .map(|id| {
                    let d = delivery(id, "notifier:ops", long_ago, long_ago);
                    OutboxRecord {
                        payload: payload_of(id).unwrap_or(d.payload.clone()),
                        ..d
                    }
                })
                .collect(),
            ..Batch::default()
        })
        .await
        .unwrap();
    store.mark_sent("sent-at-cut", sent_cut).await.unwrap();
    store
        .mark_sent("sent-before-cut", sent_cut - ms)
        .await
        .unwrap();
    store.mark_sent("sent-recently", now).await.unwrap();
    // A dead delivery's age counts from its last attempt, not from when it was created.
    store
        .mark_failed("dead-at-cut", dead_cut, "gone", None)
        .await
        .unwrap();
    store
        .mark_failed("dead-before-cut", dead_cut - ms, "gone", None)
        .await
        .unwrap();

    let report = store.prune(now).await.unwrap();
    assert_eq!(
        report,
        PruneReport {
            sent_deliveries: 1,
            dead_deliveries: 1,
            payloads: 1,
            sessions: 0,
            ..PruneReport::default()
        }
    );
    let mut left: Vec<String> = store
        .outbox_rows(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "dead-at-cut",
            "pending-ancient",
            "sent-at-cut",
            "sent-recently"
        ]
    );
    assert_eq!(store.prune(now).await.unwrap(), PruneReport::default());
    let pending = store.claim_due(now, LEASE, 10).await.unwrap();
    assert_eq!(ids_of(&pending), ["pending-ancient"]);
    assert_eq!(pending[0].payload, kept, "a payload still named is kept");
    store.close().await;
}

/// Several dispatchers (here four stores, each with its own pool, as four nodes would have)
/// claiming at once never get the same delivery. On PostgreSQL the claims really run side by
/// side; SQLite runs them one after another.
async fn concurrent_claims_never_share_a_delivery(db: &TestDb) {
    const DELIVERIES: usize = 200;
    const LIMIT: usize = 50;
    const NODES: usize = 4;
    let t0 = t("2027-10-01T00:00:00Z");
    let first = db.open().await;
    let records: Vec<_> = (0..DELIVERIES)
        .map(|i| {
            // Spread over a few due times, so the claims' ORDER BY has work to do.
            let due = t0 + chrono::Duration::milliseconds((i % 7) as i64);
            delivery(&format!("d-{i:03}"), "notifier:ops", t0, due)
        })
        .collect();
    first
        .write_batch(&Batch {
            outbox: records,
            ..Batch::default()
        })
        .await
        .unwrap();
    let mut nodes = vec![first];
    for _ in 1..NODES {
        nodes.push(db.open().await);
    }

    // Each cycle starts when every lease of the previous one has ended, so every delivery is
    // claimable again; within a cycle each must be claimed exactly once.
    for cycle in 0..3u32 {
        let now = t0 + chrono::Duration::seconds(3600) * (cycle as i32 + 1);
        let mut seen: HashSet<String> = HashSet::new();
        for round in 0.. {
            let claims = join_all(nodes.iter().map(|n| n.claim_due(now, LEASE, LIMIT))).await;
            let mut claimed = 0;
            for rows in claims {
                let rows = rows.unwrap();
                assert!(rows.len() <= LIMIT);
                assert!(
                    rows.windows(2)
                        .all(|w| (w[0].due_at, &w[0].id) < (w[1].due_at, &w[1].id)),
                    "each claim comes oldest due first"
                );
                for row in rows {
                    assert!(
                        seen.insert(row.id.clone()),
                        "cycle {cycle} round {round}: {} claimed twice",
                        row.id
                    );
                    claimed += 1;
                }
            }
            if claimed == 0 {
                break;
            }
            assert!(round < DELIVERIES, "claims never ran dry");
        }
        assert_eq!(
            seen.len(),
            DELIVERIES,
            "cycle {cycle}: every delivery claimed"
        );
    }

    if nodes[0].backend() == Backend::Postgres {
        // Rows another transaction holds are skipped, not waited for: without SKIP LOCKED
        // this claim would block until the holder finished.
        let now = t0 + chrono::Duration::days(1);
        let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT id FROM outbox WHERE id IN ('d-000', 'd-007') FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let claimed = tokio::time::timeout(
            Duration::from_secs(10),
            nodes[1].claim_due(now, LEASE, DELIVERIES),
        )
        .await
        .expect("a claim must not wait for locked rows")
        .unwrap();
        let claimed: HashSet<_> = claimed.into_iter().map(|r| r.id).collect();
        assert_eq!(claimed.len(), DELIVERIES - 2);
        assert!(!claimed.contains("d-000") && !claimed.contains("d-007"));
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        holder.close().await.unwrap();
        assert_eq!(
            ids_of(&nodes[2].claim_due(now, LEASE, DELIVERIES).await.unwrap()),
            ["d-000", "d-007"],
            "released, they are claimable"
        );
    }
    for node in nodes {
        node.close().await;
    }
}

/// Polls every future to completion at once (a dependency-free `join_all`).
async fn subscribers_upsert_confirm_unsubscribe_and_remove(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-09-01T00:00:00Z");
    let mail = subscriber("s-mail", SubscriberKind::Email, "ann@example.com", &[], t0);
    let hook = subscriber(
        "s-hook",
        SubscriberKind::Webhook,
        "https://hooks.example.com/ünï?x=1&y=2",
        &["api", "db"],
        t0 + chrono::Duration::seconds(1),
    );
    assert!(!Batch {
        subscribers: vec![SubscriberChange::Remove("x".into())],
        ..Batch::default()
    }
    .is_empty());
    // The confirmation e-mail commits with its subscriber.
    store
        .write_batch(&Batch {
            subscribers: vec![
                SubscriberChange::Upsert(mail.clone()),
                SubscriberChange::Upsert(hook.clone()),
            ],
            outbox: vec![delivery("c-1", "subscriber:s-mail", t0, t0)],
            ..Batch::default()
        })
        .await
        .unwrap();
    assert_eq!(store.subscriber("s-mail").await.unwrap().unwrap(), mail);
    assert_eq!(store.subscriber("s-hook").await.unwrap().unwrap(), hook);
    assert_eq!(store.subscriber("nope").await.unwrap(), None);
    assert_eq!(mail.state(), SubscriberState::Pending);
    assert_eq!(hook.state(), SubscriberState::Active);
    assert_eq!(store.outbox_counts().await.unwrap(), (1, 0, 0));

    // Confirmed, then unsubscribed: an upsert replaces everything but `created_at`.
    let t1 = t0 + chrono::Duration::minutes(5);
    let confirmed = SubscriberRecord {
        confirmed_at: Some(t1),
        created_at: t1,
        doc: "{\"confirmed\":true}".into(),
        ..mail.clone()
    };
    write_subscribers(&store, vec![SubscriberChange::Upsert(confirmed.clone())]).await;
    let stored = store.subscriber("s-mail").await.unwrap().unwrap();
    assert_eq!(
        stored.created_at, t0,
        "created_at is kept from the first write"
    );
    assert_eq!(stored.confirmed_at, Some(t1));
    assert_eq!(stored.doc, "{\"confirmed\":true}");
    assert_eq!(stored.state(), SubscriberState::Active);
    let t2 = t1 + chrono::Duration::minutes(5);
    write_subscribers(
        &store,
        vec![SubscriberChange::Upsert(SubscriberRecord {
            unsubscribed_at: Some(t2),
            ..stored.clone()
        })],
    )
    .await;
    let gone = store.subscriber("s-mail").await.unwrap().unwrap();
    assert_eq!(gone.unsubscribed_at, Some(t2));
    assert_eq!(gone.state(), SubscriberState::Unsubscribed);

    // Removed (twice: a retried batch), and a removal of an unknown id is no error.
    write_subscribers(
        &store,
        vec![
            SubscriberChange::Remove("s-hook".into()),
            SubscriberChange::Remove("s-hook".into()),
            SubscriberChange::Remove("never-was".into()),
        ],
    )
    .await;
    assert_eq!(store.subscriber("s-hook").await.unwrap(), None);

    // Everything survives a reopen.
    store.close().await;
    let store = db.open().await;
    assert_eq!(
        subscriber_ids(
            &store
                .subscribers(&SubscriberFilter::default())
                .await
                .unwrap()
        ),
        ["s-mail"]
    );
    assert_eq!(store.subscriber("s-mail").await.unwrap().unwrap(), gone);
    store.close().await;
}

async fn subscribers_are_listed_by_state_and_component(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-09-02T00:00:00Z");
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let pending = subscriber(
        "a-pending",
        SubscriberKind::Email,
        "p@example.com",
        &[],
        at(3),
    );
    let whole = subscriber(
        "b-whole",
        SubscriberKind::Webhook,
        "https://a.example",
        &[],
        at(1),
    );
    let api = subscriber(
        "c-api",
        SubscriberKind::Webhook,
        "https://b.example",
        &["api"],
        at(2),
    );
    let left = SubscriberRecord {
        unsubscribed_at: Some(at(10)),
        ..subscriber(
            "d-left",
            SubscriberKind::Webhook,
            "https://c.example",
            &[],
            at(0),
        )
    };
    write_subscribers(
        &store,
        [&pending, &whole, &api, &left]
            .into_iter()
            .map(|r| SubscriberChange::Upsert(r.clone()))
            .collect(),
    )
    .await;
    let list = |states: &[SubscriberState], component: Option<&str>| {
        let filter = SubscriberFilter {
            states: states.to_vec(),
            component: component.map(cid),
        };
        let store = store.clone();
        async move {
            store
                .subscribers(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    // Oldest first.
    assert_eq!(
        list(&[], None).await,
        ["d-left", "b-whole", "c-api", "a-pending"]
    );
    // By id, in any state; unknown ids are absent and repeats are fine.
    let by_id = store
        .subscribers_by_id(&["c-api", "d-left", "nobody", "c-api"])
        .await
        .unwrap();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id["c-api"], api);
    assert_eq!(by_id["d-left"], left);
    assert!(store.subscribers_by_id(&[]).await.unwrap().is_empty());
    assert_eq!(
        list(&[SubscriberState::Active], None).await,
        ["b-whole", "c-api"]
    );
    assert_eq!(list(&[SubscriberState::Pending], None).await, ["a-pending"]);
    assert_eq!(
        list(&[SubscriberState::Unsubscribed], None).await,
        ["d-left"]
    );
    assert_eq!(
        list(&[SubscriberState::Pending, SubscriberState::Active], None).await,
        ["b-whole", "c-api", "a-pending"]
    );
    // By component: those following the whole page, and those naming it.
    assert_eq!(
        list(&[SubscriberState::Active], Some("api")).await,
        ["b-whole", "c-api"]
    );
    assert_eq!(
        list(&[SubscriberState::Active], Some("db")).await,
        ["b-whole"]
    );
    assert!(whole.follows(&cid("db")) && api.follows(&cid("api")) && !api.follows(&cid("db")));
    store.close().await;
}

async fn a_failing_batch_stores_no_subscriber(db: &TestDb) {
    let store = db.open().await;
    let t0 = t("2027-09-03T00:00:00Z");
    let good = Batch {
        subscribers: vec![SubscriberChange::Upsert(subscriber(
            "s-1",
            SubscriberKind::Email,
            "x@example.com",
            &[],
            t0,
        ))],
        outbox: vec![delivery("c-1", "subscriber:s-1", t0, t0)],
        ..Batch::default()
    };
    // An unknown monitor fails the batch: neither the subscriber nor its e-mail is stored.
    let mut bad = good.clone();
    bad.results.push(result("ghost", t0, CheckOutcome::Up, 1));
    assert!(store.write_batch(&bad).await.is_err());
    // A NUL character in a subscriber is refused up front, on both engines alike.
    let mut bad = good.clone();
    if let SubscriberChange::Upsert(r) = &mut bad.subscribers[0] {
        r.address = "x\u{0}@example.com".into();
    }
    assert_eq!(
        store.write_batch(&bad).await.unwrap_err().to_string(),
        "store operation write_batch rejected its input: subscriber \"s-1\": address contains \
         a NUL character"
    );
    assert!(store
        .subscribers(&SubscriberFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.outbox_counts().await.unwrap(), (0, 0, 0));
    store.write_batch(&good).await.unwrap();
    assert_eq!(
        subscriber_ids(
            &store
                .subscribers(&SubscriberFilter::default())
                .await
                .unwrap()
        ),
        ["s-1"]
    );
    store.close().await;
}

async fn the_signing_key_is_made_once_and_kept(db: &TestDb) {
    let store = db.open().await;
    let key = store.signing_key().await.unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(store.signing_key().await.unwrap(), key);
    // Concurrent first uses agree too.
    let keys = join_all((0..4).map(|_| {
        let store = store.clone();
        async move { store.signing_key().await.unwrap() }
    }))
    .await;
    assert!(keys.iter().all(|k| *k == key));
    store.close().await;
    let store = db.open().await;
    assert_eq!(
        store.signing_key().await.unwrap(),
        key,
        "kept across restarts"
    );
    store.close().await;
    // Another database has another key.
    let other = TestDb::sqlite();
    let other = other.open().await;
    assert_ne!(other.signing_key().await.unwrap(), key);
    other.close().await;
}

async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (handle, slot) in handles.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match handle.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

// ---------------------------------------------------------------------------------------
// Engine-independent

#[tokio::test]
async fn an_unsupported_url_is_a_clear_error() {
    let err = Store::connect("mysql://root:secret@localhost/pharos")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { ref scheme } if scheme == "mysql"));
    let message = err.to_string();
    assert!(
        message.contains("\"mysql\"") && message.contains("sqlite://"),
        "{message}"
    );
    assert!(
        !message.contains("secret"),
        "never echo credentials: {message}"
    );
    let err = Store::connect("pharos.db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_postgres_is_an_error_not_a_panic() {
    let started = Instant::now();
    let err = Store::connect_with_timeout(
        "postgres://pharos:secret@127.0.0.1:1/pharos",
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = err.to_string();
    assert!(matches!(err, StoreError::Connect { .. }), "{message}");
    assert!(
        message.starts_with("cannot open PostgreSQL database \"pharos\" on 127.0.0.1:1"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn an_unopenable_sqlite_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let url = format!("sqlite://{}/pharos.db", blocker.display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let err = Store::connect(&format!("sqlite://{}", garbage.display()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("garbage.db"), "{err}");
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    seed(&store, t("2026-01-01T00:00:00Z")).await;
    assert_eq!(store.components().await.unwrap().len(), 3);
    // A second in-memory store is a different database.
    let other = Store::connect("sqlite::memory:").await.unwrap();
    assert!(other.components().await.unwrap().is_empty());
    store.close().await;
    other.close().await;
}

/// The full target load, by hand: `cargo test -p pharos-store --release --test contract
/// -- --ignored --nocapture ten_thousand`. Reconciles 10,000 monitors, then writes 30 s worth
/// of their results (10,000 results in batches of 333).
#[tokio::test]
#[ignore = "a measurement, not a check; run by hand"]
async fn ten_thousand_monitors() {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres("ten_thousand_monitors").await);
    for db in &dbs {
        let store = db.open().await;
        let t0 = t("2026-12-01T00:00:00Z");
        let components: Vec<_> = (0..100).map(|i| component(&format!("c{i}"), i)).collect();
        let monitors: Vec<_> = (0..10_000)
            .map(|i| monitor(&format!("m{i}"), &[&format!("c{}", i % 100)]))
            .collect();
        let started = Instant::now();
        store.reconcile(&components, &monitors, t0).await.unwrap();
        let reconcile_time = started.elapsed();
        let started = Instant::now();
        for chunk in monitors.chunks(333) {
            let batch = Batch {
                results: chunk
                    .iter()
                    .map(|m| result(m.id.as_str(), t0, CheckOutcome::Up, 20))
                    .collect(),
                monitor_states: chunk
                    .iter()
                    .map(|m| (m.id.clone(), state(Health::Up, t0)))
                    .collect(),
                component_changes: Vec::new(),
                ..Batch::default()
            };
            store.write_batch(&batch).await.unwrap();
        }
        let write_time = started.elapsed();
        let started = Instant::now();
        assert_eq!(store.monitor_states().await.unwrap().len(), 10_000);
        let read_time = started.elapsed();
        eprintln!(
            "perf[{}]: reconcile 10,000 monitors {reconcile_time:?}; 10,000 results + states \
             in 31 batches {write_time:?}; monitor_states() {read_time:?}",
            store.backend()
        );
        store.close().await;
    }
}
