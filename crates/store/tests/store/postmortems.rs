//! The store contract for postmortems: saving the human part, publishing, reading back, on
//! SQLite always and on PostgreSQL whenever `PHAROS_TEST_POSTGRES_URL` is set (each
//! PostgreSQL test gets its own schema, dropped afterwards). No mocks.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use pharos_store::{Batch, IncidentKind, IncidentRecord, PostmortemRecord, Store, StoreError};

use crate::common::t;
use crate::common::{contract_tests, OpenStore as _, TestDb};

contract_tests!(
    a_postmortem_is_saved_replaced_and_read_back,
    publishing_keeps_the_document_and_saving_keeps_the_publication,
    a_postmortem_needs_a_stored_incident,
    postmortems_survive_a_reopen_and_are_listed_by_incident,
);

/// Stores incidents `ids`, as the engine's writer would.
async fn incidents(store: &Store, ids: &[&str]) {
    let at = t("2027-01-01T00:00:00Z");
    let records = ids
        .iter()
        .map(|id| IncidentRecord {
            id: (*id).to_owned(),
            kind: IncidentKind::Incident,
            status: "resolved".into(),
            created_at: at,
            updated_at: at,
            doc: format!(r#"{{"id":"{id}"}}"#),
        })
        .collect();
    store
        .write_batch(&Batch {
            incidents: records,
            ..Batch::default()
        })
        .await
        .unwrap();
}

async fn a_postmortem_is_saved_replaced_and_read_back(db: &TestDb) {
    let store = db.open().await;
    incidents(&store, &["inc1"]).await;
    assert_eq!(store.postmortem("inc1").await.unwrap(), None);

    let t1 = t("2027-01-02T10:00:00.123Z");
    let doc = r#"{"root_cause":"A leak — ünïcode kept","actions":[]}"#;
    let saved = store.save_postmortem("inc1", doc, t1, None).await.unwrap();
    let expected = PostmortemRecord {
        incident_id: "inc1".into(),
        doc: doc.into(),
        updated_at: t1,
        published_at: None,
    };
    assert_eq!(saved, expected);
    assert_eq!(store.postmortem("inc1").await.unwrap(), Some(expected));

    let t2 = t("2027-01-02T11:00:00Z");
    let saved = store
        .save_postmortem("inc1", r#"{"root_cause":"B"}"#, t2, None)
        .await
        .unwrap();
    assert_eq!(
        saved.doc, r#"{"root_cause":"B"}"#,
        "a save replaces the document"
    );
    assert_eq!(saved.updated_at, t2);
    assert_eq!(store.postmortem("inc1").await.unwrap(), Some(saved));
}

async fn publishing_keeps_the_document_and_saving_keeps_the_publication(db: &TestDb) {
    let store = db.open().await;
    incidents(&store, &["inc1", "inc2"]).await;
    let t1 = t("2027-01-02T10:00:00Z");
    let t2 = t("2027-01-03T10:00:00Z");
    let t3 = t("2027-01-04T10:00:00Z");
    store
        .save_postmortem("inc1", r#"{"root_cause":"A"}"#, t1, None)
        .await
        .unwrap();
    let published = store.mark_postmortem_published("inc1", t2).await.unwrap();
    assert_eq!(published.doc, r#"{"root_cause":"A"}"#);
    assert_eq!(published.updated_at, t1, "publishing is not an edit");
    assert_eq!(published.published_at, Some(t2));

    let edited = store
        .save_postmortem("inc1", r#"{"root_cause":"A, revised"}"#, t3, None)
        .await
        .unwrap();
    assert_eq!(
        edited.published_at,
        Some(t2),
        "an edit keeps the publication"
    );
    let again = store.mark_postmortem_published("inc1", t3).await.unwrap();
    assert_eq!(
        again.published_at,
        Some(t3),
        "the latest publication counts"
    );
    assert_eq!(again.doc, r#"{"root_cause":"A, revised"}"#);

    // Published without a saved document: an empty one is stored.
    let bare = store.mark_postmortem_published("inc2", t3).await.unwrap();
    assert_eq!(bare.doc, "{}");
    assert_eq!(bare.published_at, Some(t3));
}

async fn a_postmortem_needs_a_stored_incident(db: &TestDb) {
    let store = db.open().await;
    incidents(&store, &["inc1"]).await;
    let at = t("2027-01-02T10:00:00Z");
    let e = store
        .save_postmortem("nope", "{}", at, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::InvalidInput {
                op: "save_postmortem",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("nope"), "{e}");
    let e = store
        .mark_postmortem_published("nope", at)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert_eq!(store.postmortem("nope").await.unwrap(), None);
    assert!(
        store.postmortems().await.unwrap().is_empty(),
        "nothing was written"
    );
}

async fn postmortems_survive_a_reopen_and_are_listed_by_incident(db: &TestDb) {
    let store = db.open().await;
    incidents(&store, &["b", "a", "c"]).await;
    let at = t("2027-01-02T10:00:00Z");
    store
        .save_postmortem("b", r#"{"n":"b"}"#, at, None)
        .await
        .unwrap();
    store
        .save_postmortem("a", r#"{"n":"a"}"#, at, None)
        .await
        .unwrap();
    store.mark_postmortem_published("a", at).await.unwrap();
    store.close().await;

    let store = db.open().await;
    let all = store.postmortems().await.unwrap();
    let ids: Vec<(&str, bool)> = all
        .iter()
        .map(|p| (p.incident_id.as_str(), p.published_at.is_some()))
        .collect();
    assert_eq!(ids, [("a", true), ("b", false)]);
    assert_eq!(all[1].doc, r#"{"n":"b"}"#);
}
