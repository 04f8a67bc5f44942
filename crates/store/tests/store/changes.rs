//! The store's changes contract: append-only records with their corrections, the reads an
//! incident and a postmortem use, regression verdicts kept beside the change, and results read
//! between two times. On SQLite always and on PostgreSQL whenever `PHAROS_TEST_POSTGRES_URL`
//! is set (each PostgreSQL test in a schema of its own). No mocks.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use pharos_domain::change::{RegressionState, WindowStats};
use pharos_domain::{Change, CheckOutcome, CheckResult, Regression};
use pharos_store::{
    Batch, ChangeConflict, ChangeFilter, ComponentRecord, MonitorRecord, Store, StoreError,
};

use crate::common::{cid, mid, t};
use crate::common::{contract_tests, OpenStore as _, TestDb};

contract_tests!(
    changes_are_stored_and_listed_newest_first,
    a_retried_external_id_stores_nothing_and_names_the_first_record,
    a_correction_supersedes_and_both_stay_visible,
    the_database_refuses_to_edit_or_delete_a_change,
    changes_between_selects_components_and_times,
    regressions_are_kept_beside_the_change,
    results_between_reads_a_window_of_the_ring,
    bad_input_stores_nothing,
);

// ---- fixtures --------------------------------------------------------------------------

/// The components `api`, `db` and `web`, and monitor `api-health` of `api`.
pub(crate) async fn seed(store: &Store) {
    let components: Vec<ComponentRecord> = ["api", "db", "web"]
        .iter()
        .enumerate()
        .map(|(i, id)| ComponentRecord {
            id: cid(id),
            name: id.to_uppercase(),
            description: None,
            group_id: None,
            is_group: false,
            position: i as u32,
        })
        .collect();
    let monitors = vec![MonitorRecord {
        id: mid("api-health"),
        type_name: "http".into(),
        definition_json: "{}".into(),
        components: vec![cid("api")],
    }];
    store
        .reconcile(&components, &monitors, t("2026-03-01T00:00:00Z"))
        .await
        .unwrap();
}

/// A deploy of `component` started at `started`.
pub(crate) fn change(id: &str, component: &str, started: &str) -> Change {
    Change {
        id: id.into(),
        component: cid(component),
        kind: "deploy".into(),
        summary: format!("Deploy {id}"),
        version: Some("1.4.2".into()),
        commit: Some("9f1c2ab".into()),
        environment: Some("production".into()),
        author: Some("alice".into()),
        url: Some("https://ci.example.com/runs/1".into()),
        started_at: t(started),
        finished_at: Some(t(started) + chrono::Duration::minutes(2)),
        // The sender's own id: one per change (a source never sends one twice).
        external_id: Some(format!("run-{id}")),
        supersedes: None,
        source: "api".into(),
        recorded_at: t(started) + chrono::Duration::minutes(3),
        recorded_by: "ci".into(),
    }
}

async fn insert(store: &Store, c: &Change) {
    store.insert_change(c).await.unwrap().unwrap();
}

fn ids(entries: &[pharos_domain::ChangeEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.change.id.as_str()).collect()
}

// ---- tests -----------------------------------------------------------------------------

async fn changes_are_stored_and_listed_newest_first(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let a = change("chg_a", "api", "2026-03-01T08:00:00Z");
    let b = change("chg_b", "db", "2026-03-01T09:00:00Z");
    let c = Change {
        version: None,
        commit: None,
        environment: None,
        author: None,
        url: None,
        finished_at: None,
        external_id: None,
        ..change("chg_c", "api", "2026-03-01T10:00:00Z")
    };
    for x in [&a, &b, &c] {
        insert(&store, x).await;
    }
    // Read back field for field, optional ones absent.
    let got = store.change("chg_a").await.unwrap().unwrap();
    assert_eq!(got.change, a);
    assert_eq!((got.superseded_by, got.regression), (None, None));
    assert_eq!(store.change("chg_c").await.unwrap().unwrap().change, c);
    assert!(store.change("chg_nope").await.unwrap().is_none());

    let all = store.changes(&ChangeFilter::default()).await.unwrap();
    assert_eq!(ids(&all), ["chg_c", "chg_b", "chg_a"]);
    let api = store
        .changes(&ChangeFilter {
            component: Some(cid("api")),
            ..ChangeFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&api), ["chg_c", "chg_a"]);
    // since is inclusive, until exclusive.
    let window = store
        .changes(&ChangeFilter {
            since: Some(t("2026-03-01T08:00:00Z")),
            until: Some(t("2026-03-01T10:00:00Z")),
            ..ChangeFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&window), ["chg_b", "chg_a"]);
    let newest = store
        .changes(&ChangeFilter {
            limit: Some(1),
            ..ChangeFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&newest), ["chg_c"]);
    // A reopened store sees the same.
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.change("chg_b").await.unwrap().unwrap().change, b);
}

async fn a_correction_supersedes_and_both_stay_visible(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let wrong = change("chg_wrong", "api", "2026-03-01T08:00:00Z");
    insert(&store, &wrong).await;
    let fixed = Change {
        component: cid("db"),
        summary: "The deploy went to the database, not the API".into(),
        supersedes: Some("chg_wrong".into()),
        ..change("chg_fixed", "db", "2026-03-01T08:00:00Z")
    };
    insert(&store, &fixed).await;

    let old = store.change("chg_wrong").await.unwrap().unwrap();
    assert_eq!(old.change, wrong, "the old record is unchanged");
    assert_eq!(old.superseded_by.as_deref(), Some("chg_fixed"));
    let new = store.change("chg_fixed").await.unwrap().unwrap();
    assert_eq!(new.change.supersedes.as_deref(), Some("chg_wrong"));
    assert_eq!(new.superseded_by, None);
    let all = store.changes(&ChangeFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2, "both stay listed");

    // A second correction of the same record is refused, naming the one to correct instead.
    let again = Change {
        supersedes: Some("chg_wrong".into()),
        ..change("chg_again", "api", "2026-03-01T08:00:00Z")
    };
    assert_eq!(
        store.insert_change(&again).await.unwrap(),
        Err(ChangeConflict::AlreadySuperseded {
            id: "chg_wrong".into(),
            by: "chg_fixed".into()
        })
    );
    // A chain goes through the newest record.
    let chained = Change {
        supersedes: Some("chg_fixed".into()),
        ..again.clone()
    };
    insert(&store, &chained).await;
    assert_eq!(
        store
            .change("chg_fixed")
            .await
            .unwrap()
            .unwrap()
            .superseded_by
            .as_deref(),
        Some("chg_again")
    );
    let unknown = Change {
        supersedes: Some("chg_nothing".into()),
        ..change("chg_x", "api", "2026-03-01T08:00:00Z")
    };
    assert_eq!(
        store.insert_change(&unknown).await.unwrap(),
        Err(ChangeConflict::UnknownSupersedes("chg_nothing".into()))
    );
    assert_eq!(
        store.insert_change(&wrong).await.unwrap(),
        Err(ChangeConflict::DuplicateId("chg_wrong".into()))
    );
    assert_eq!(
        store.changes(&ChangeFilter::default()).await.unwrap().len(),
        3
    );
}

async fn a_retried_external_id_stores_nothing_and_names_the_first_record(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let first = change("chg_first", "api", "2026-03-01T08:00:00Z");
    insert(&store, &first).await;
    let retry = Change {
        id: "chg_retry".into(),
        summary: "Deploy again".into(),
        ..first.clone()
    };
    assert_eq!(
        store.insert_change(&retry).await.unwrap(),
        Err(ChangeConflict::AlreadyRecorded {
            external_id: "run-chg_first".into(),
            id: "chg_first".into()
        })
    );
    // Another source may use the same id; so may a change without one, any number of times.
    let other_source = Change {
        id: "chg_cli".into(),
        source: "cli".into(),
        ..first.clone()
    };
    insert(&store, &other_source).await;
    for id in ["chg_n1", "chg_n2"] {
        let plain = Change {
            id: id.into(),
            external_id: None,
            ..first.clone()
        };
        insert(&store, &plain).await;
    }
    let ids: Vec<String> = store
        .changes(&ChangeFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.change.id)
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(!ids.contains(&"chg_retry".to_owned()), "{ids:?}");
}

async fn the_database_refuses_to_edit_or_delete_a_change(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    insert(&store, &change("chg_a", "api", "2026-03-01T08:00:00Z")).await;
    let update = db
        .raw("UPDATE changes SET summary = 'rewritten' WHERE id = 'chg_a'")
        .await;
    assert!(update.unwrap_err().contains("append-only"));
    let delete = db.raw("DELETE FROM changes WHERE id = 'chg_a'").await;
    assert!(delete.unwrap_err().contains("append-only"));
    let got = store.change("chg_a").await.unwrap().unwrap();
    assert_eq!(got.change.summary, "Deploy chg_a");
}

async fn changes_between_selects_components_and_times(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    for (id, component, at) in [
        ("chg_early", "api", "2026-03-01T01:59:59Z"),
        ("chg_from", "api", "2026-03-01T02:00:00Z"),
        ("chg_db", "db", "2026-03-01T05:00:00Z"),
        ("chg_web", "web", "2026-03-01T06:00:00Z"),
        ("chg_to", "api", "2026-03-01T08:00:00Z"),
        ("chg_late", "api", "2026-03-01T08:00:01Z"),
    ] {
        insert(&store, &change(id, component, at)).await;
    }
    let got = store
        .changes_between(
            &[cid("api"), cid("db")],
            t("2026-03-01T02:00:00Z"),
            t("2026-03-01T08:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&got), ["chg_to", "chg_db", "chg_from"]);
    assert!(store
        .changes_between(&[], t("2026-03-01T00:00:00Z"), t("2026-03-02T00:00:00Z"))
        .await
        .unwrap()
        .is_empty());
}

/// A verdict on a change, evaluated at `at`.
pub(crate) fn regression(state: RegressionState, at: &str) -> Regression {
    Regression {
        state,
        suspect: state == RegressionState::Suspect,
        summary: "p95 latency 3.1× higher since deploy 1.4.2 at 08:00 UTC".into(),
        monitors: vec![mid("api-health")],
        before: Some(WindowStats {
            samples: 30,
            failures: 0,
            p50_ms: 90,
            p95_ms: 100,
        }),
        after: Some(WindowStats {
            samples: 30,
            failures: 1,
            p50_ms: 280,
            p95_ms: 310,
        }),
        window_seconds: 900,
        evaluated_at: t(at),
        recovered_at: None,
    }
}

async fn regressions_are_kept_beside_the_change(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let c = change("chg_a", "api", "2026-03-01T08:00:00Z");
    insert(&store, &c).await;
    let watching = regression(RegressionState::Watching, "2026-03-01T08:05:00Z");
    store.put_regression("chg_a", &watching).await.unwrap();
    assert_eq!(
        store.change("chg_a").await.unwrap().unwrap().regression,
        Some(watching)
    );
    let suspect = regression(RegressionState::Suspect, "2026-03-01T08:15:00Z");
    store.put_regression("chg_a", &suspect).await.unwrap();
    let got = store.change("chg_a").await.unwrap().unwrap();
    assert_eq!(got.regression, Some(suspect.clone()));
    assert_eq!(got.change, c, "the verdict never touches the record");
    let listed = store.changes(&ChangeFilter::default()).await.unwrap();
    assert_eq!(listed[0].regression, Some(suspect));
    // A verdict for a change that does not exist is refused by the database.
    assert!(store
        .put_regression(
            "chg_nope",
            &regression(RegressionState::Clear, "2026-03-01T08:15:00Z")
        )
        .await
        .is_err());
}

async fn results_between_reads_a_window_of_the_ring(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let t0 = t("2026-03-01T08:00:00Z");
    let results: Vec<CheckResult> = (0..10)
        .map(|i| CheckResult {
            monitor_id: mid("api-health"),
            started_at: t0 + chrono::Duration::seconds(30 * i),
            duration_ms: 100 + i as u64,
            outcome: if i == 7 {
                CheckOutcome::Down
            } else {
                CheckOutcome::Up
            },
            status_code: Some(200),
            error: None,
            timings: None,
            location: pharos_domain::LocationId::local(),
        })
        .collect();
    store
        .write_batch(&Batch {
            results,
            ..Batch::default()
        })
        .await
        .unwrap();
    // [08:01:00, 08:04:00): results 2..8.
    let got = store
        .results_between(
            &mid("api-health"),
            t0 + chrono::Duration::seconds(60),
            t0 + chrono::Duration::seconds(240),
        )
        .await
        .unwrap();
    let durations: Vec<u64> = got.iter().map(|s| s.duration_ms).collect();
    assert_eq!(durations, [102, 103, 104, 105, 106, 107]);
    assert_eq!(got[5].outcome, CheckOutcome::Down);
    assert_eq!(got[0].started_at, t0 + chrono::Duration::seconds(60));
    assert!(store
        .results_between(&mid("other"), t0, t0 + chrono::Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
}

async fn bad_input_stores_nothing(db: &TestDb) {
    let store = db.open().await;
    seed(&store).await;
    let unknown_component = change("chg_a", "never-configured", "2026-03-01T08:00:00Z");
    let e = store.insert_change(&unknown_component).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    let nul = Change {
        summary: "a\0b".into(),
        ..change("chg_b", "api", "2026-03-01T08:00:00Z")
    };
    let e = store.insert_change(&nul).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert!(store
        .changes(&ChangeFilter::default())
        .await
        .unwrap()
        .is_empty());
}
