//! The leader's lease, its fencing token and the fence on the leader's writes (PostgreSQL
//! only: SQLite is single-node). Expiry is simulated by moving the stored expiry into the
//! past, never by waiting. Skipped, with a note, when `PHAROS_TEST_POSTGRES_URL` is not set.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, Instant};

use pharos_store::{Batch, Fence, IncidentKind, IncidentRecord, Store, StoreError};

use crate::common::t;
use crate::common::{OpenStore as _, TestDb};

const LEASE: Duration = Duration::from_secs(10);

async fn postgres(test: &str) -> Option<(TestDb, Store)> {
    let db = TestDb::postgres(&format!("cluster::{test}")).await?;
    let store = db.open().await;
    Some((db, store))
}

/// Ends the stored lease now, as if its holder had gone silent for its whole length.
async fn expire(db: &TestDb) {
    db.execute("UPDATE cluster_lease SET expires_at = 0").await;
}

/// A batch with one incident, `id`.
fn incident(id: &str) -> Batch {
    let at = t("2027-01-01T00:00:00Z");
    Batch {
        incidents: vec![IncidentRecord {
            id: id.to_owned(),
            kind: IncidentKind::Incident,
            status: "investigating".into(),
            created_at: at,
            updated_at: at,
            doc: format!(r#"{{"id":"{id}"}}"#),
        }],
        ..Batch::default()
    }
}

fn fenced(store: &Store, node: &str, token: i64) -> Store {
    store.with_fence(Arc::new(Fence::new(node, token, LEASE, Instant::now())))
}

async fn incidents(db: &TestDb) -> i64 {
    db.query_i64("SELECT COUNT(*) FROM incidents").await
}

#[tokio::test]
async fn the_lease_is_taken_renewed_and_refused_to_others() {
    let Some((_db, store)) = postgres("lease").await else {
        return;
    };
    assert_eq!(store.lease().await.unwrap(), None);
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(1));
    // A renewal keeps the token; another node is refused while the lease runs.
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(1));
    assert_eq!(store.acquire_lease("b", LEASE).await.unwrap(), None);
    let lease = store.lease().await.unwrap().unwrap();
    assert_eq!((lease.holder.as_str(), lease.token), ("a", 1));
    assert!(!lease.expired);
    assert!(lease.expires_at > chrono::Utc::now());
}

#[tokio::test]
async fn an_expired_lease_passes_on_and_the_token_grows_with_each_holder() {
    let Some((db, store)) = postgres("takeover").await else {
        return;
    };
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(1));
    expire(&db).await;
    assert!(store.lease().await.unwrap().unwrap().expired);
    assert_eq!(store.acquire_lease("b", LEASE).await.unwrap(), Some(2));
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), None);
    assert_eq!(store.acquire_lease("b", LEASE).await.unwrap(), Some(2));
    expire(&db).await;
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(3));
    // A holder whose lease ran out but nobody took keeps its token on renewal.
    expire(&db).await;
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(3));
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let Some((_db, store)) = postgres("release").await else {
        return;
    };
    assert_eq!(store.acquire_lease("a", LEASE).await.unwrap(), Some(1));
    store.release_lease("b").await.unwrap(); // not b's: nothing changes
    assert_eq!(store.acquire_lease("b", LEASE).await.unwrap(), None);
    store.release_lease("a").await.unwrap();
    assert_eq!(store.acquire_lease("b", LEASE).await.unwrap(), Some(2));
}

#[tokio::test]
async fn the_fence_refuses_a_deposed_leaders_writes_claims_and_views() {
    let Some((db, store)) = postgres("fence").await else {
        return;
    };
    let a_token = store.acquire_lease("a", LEASE).await.unwrap().unwrap();
    let a = fenced(&store, "a", a_token);
    a.write_batch(&incident("i1")).await.unwrap();
    a.claim_due(chrono::Utc::now(), LEASE, 10).await.unwrap();
    a.publish_view(r#"{"by":"a"}"#).await.unwrap();
    assert_eq!(incidents(&db).await, 1);

    expire(&db).await;
    let b_token = store.acquire_lease("b", LEASE).await.unwrap().unwrap();
    assert_eq!(b_token, a_token + 1);
    let err = a.write_batch(&incident("i2")).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert!(
        matches!(
            err,
            StoreError::Fenced {
                op: "write_batch",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        incidents(&db).await,
        1,
        "nothing of the refused batch was written"
    );
    let err = a
        .claim_due(chrono::Utc::now(), LEASE, 10)
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err}");
    let err = a.publish_view(r#"{"by":"a, late"}"#).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    // The same node with a stale token is refused too: the token, not the name, decides.
    let err = fenced(&store, "b", a_token)
        .write_batch(&incident("i3"))
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err}");

    let b = fenced(&store, "b", b_token);
    b.write_batch(&incident("i2")).await.unwrap();
    b.publish_view(r#"{"by":"b"}"#).await.unwrap();
    assert_eq!(incidents(&db).await, 2);
    let view = store.published_view(None).await.unwrap().unwrap();
    assert_eq!((view.token, view.doc.as_str()), (b_token, r#"{"by":"b"}"#));
    // Asked again with what it has seen, a follower gets nothing new.
    assert_eq!(store.published_view(Some(view.seq)).await.unwrap(), None);
    // An expired lease refuses its own holder's writes until it is renewed.
    expire(&db).await;
    assert!(b
        .write_batch(&incident("i4"))
        .await
        .unwrap_err()
        .is_fenced());
    assert_eq!(
        store.acquire_lease("b", LEASE).await.unwrap(),
        Some(b_token)
    );
    b.write_batch(&incident("i4")).await.unwrap();
    // A store without a fence (a single node) writes whatever the lease says, and may not
    // publish a view.
    store.write_batch(&incident("i5")).await.unwrap();
    assert!(store.publish_view("{}").await.unwrap_err().is_fenced());
}

#[tokio::test]
async fn a_deposed_leaders_direct_writes_are_refused_too() {
    let Some((db, store)) = postgres("direct_writes").await else {
        return;
    };
    crate::changes::seed(&store).await;
    let a_token = store.acquire_lease("a", LEASE).await.unwrap().unwrap();
    let a = fenced(&store, "a", a_token);
    a.write_batch(&incident("i1")).await.unwrap();
    let at = t("2027-01-01T01:00:00Z");
    a.save_postmortem("i1", r#"{"by":"a"}"#, at, None)
        .await
        .unwrap();
    let deploy = crate::changes::change("c1", "api", "2027-01-01T00:00:00Z");
    a.insert_change(&deploy).await.unwrap().unwrap();
    let verdict = crate::changes::regression(
        pharos_domain::change::RegressionState::Suspect,
        "2027-01-01T00:20:00Z",
    );
    a.put_regression("c1", &verdict).await.unwrap();

    expire(&db).await;
    store.acquire_lease("b", LEASE).await.unwrap().unwrap();
    // Everything a writes outside its batches is refused once b leads: postmortems, changes,
    // regression verdicts and the configuration it reconciles at start.
    let refused = [
        a.save_postmortem("i1", r#"{"by":"a, late"}"#, at, None)
            .await
            .unwrap_err(),
        a.mark_postmortem_published("i1", at).await.unwrap_err(),
        a.insert_change(&crate::changes::change("c2", "api", "2027-01-01T00:30:00Z"))
            .await
            .unwrap_err(),
        a.put_regression("c1", &verdict).await.unwrap_err(),
        a.reconcile(&[], &[], at).await.unwrap_err(),
    ];
    for err in &refused {
        assert!(err.is_fenced(), "{err}");
    }
    assert_eq!(
        db.query_string("SELECT doc FROM postmortems WHERE incident_id = 'i1'")
            .await,
        r#"{"by":"a"}"#
    );
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM changes").await, 1);
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM components WHERE archived_at IS NULL")
            .await,
        3,
        "a's empty configuration archived nothing"
    );
}

#[tokio::test]
async fn a_fence_not_renewed_in_time_refuses_without_asking_the_database() {
    let Some((db, store)) = postgres("local_fence").await else {
        return;
    };
    let token = store.acquire_lease("a", LEASE).await.unwrap().unwrap();
    // The database's lease still runs, but this process last renewed it a lease ago (it was
    // paused): it must act as if it had lost it.
    let long_ago = Instant::now().checked_sub(LEASE * 2).unwrap();
    let fence = Arc::new(Fence::new("a", token, LEASE, long_ago));
    assert!(!fence.holds_locally());
    let a = store.with_fence(fence.clone());
    assert!(!a.may_act());
    let err = a.write_batch(&incident("i1")).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert!(a
        .claim_due(chrono::Utc::now(), LEASE, 10)
        .await
        .unwrap_err()
        .is_fenced());
    assert_eq!(incidents(&db).await, 0);
    // Renewed: it acts again.
    fence.renewed(Instant::now());
    assert!(a.may_act());
    a.write_batch(&incident("i1")).await.unwrap();
    assert!(store.may_act(), "a store without a fence always may");
}

#[tokio::test]
async fn nodes_are_listed_with_how_long_they_have_been_silent() {
    let Some((db, store)) = postgres("nodes").await else {
        return;
    };
    store
        .heartbeat_node("b", "http://10.0.0.2:8080", "follower", "0.1.0")
        .await
        .unwrap();
    store
        .heartbeat_node("a", "http://10.0.0.1:8080", "leader", "0.1.0")
        .await
        .unwrap();
    store
        .heartbeat_node("a", "http://10.0.0.1:9090", "leader", "0.1.0")
        .await
        .unwrap();
    let nodes = store.cluster_nodes().await.unwrap();
    let ids: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.address.as_str(), n.role.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("a", "http://10.0.0.1:9090", "leader"),
            ("b", "http://10.0.0.2:8080", "follower")
        ]
    );
    assert!(nodes.iter().all(|n| n.silent_for < Duration::from_secs(60)));
    db.execute("UPDATE cluster_nodes SET last_seen_at = last_seen_at - 7200000 WHERE id = 'b'")
        .await;
    let b = &store.cluster_nodes().await.unwrap()[1];
    assert!(b.silent_for >= Duration::from_secs(7200), "{b:?}");
    assert_eq!(
        store.forget_nodes(Duration::from_secs(3600)).await.unwrap(),
        1
    );
    assert_eq!(store.cluster_nodes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_has_no_lease() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let err = store.acquire_lease("a", LEASE).await.unwrap_err();
    assert!(err.to_string().contains("SQLite is single-node"), "{err}");
}
