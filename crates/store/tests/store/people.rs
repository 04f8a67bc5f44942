//! The store contract for the responders' console: people and service accounts, the last
//! owner's guard, recovery codes, sessions, API tokens and the append-only audit trail written
//! with each change. On SQLite always and on PostgreSQL whenever `PHAROS_TEST_POSTGRES_URL` is
//! set (each PostgreSQL test in a schema of its own). No mocks.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pharos_domain::access::{Role, Scope};
use pharos_store::{
    ActorKind, ApiTokenRecord, AuditFilter, AuditRecord, Batch, Fence, IncidentEventRecord,
    IncidentKind, IncidentRecord, PendingSignInRecord, PeopleConflict, SessionRecord, Store,
    StoreError, TotpEnable, UserKind, UserPatch, UserRecord, AUDIT_PAGE_MAX, USER_AGENT_MAX_CHARS,
};

use crate::common::t;
use crate::common::{contract_tests, OpenStore as _, TestDb};

contract_tests!(
    users_are_added_read_and_updated,
    a_taken_email_sso_identity_or_id_is_refused_and_changes_nothing,
    two_people_adding_one_email_at_once_get_one_user_and_a_conflict,
    bad_people_input_is_refused,
    the_last_owner_can_be_neither_demoted_nor_disabled,
    two_owners_demoting_each_other_at_once_leave_one,
    sessions_expire_and_die_with_sign_out_everywhere_and_a_disabled_user,
    sessions_are_pruned_when_expired,
    tokens_are_created_read_revoked_and_touched,
    a_recovery_code_is_used_once,
    a_totp_step_is_accepted_once,
    totp_is_set_up_on_a_session_then_enabled_and_disabled_with_its_codes,
    a_pending_sign_in_completes_into_a_session_once,
    the_database_refuses_to_edit_or_delete_the_audit_trail,
    the_audit_trail_is_filtered_and_paged_newest_first,
    a_batch_writes_its_audit_entries_with_it,
);

// ---- fixtures --------------------------------------------------------------------------

const T0: &str = "2027-03-01T09:00:00Z";

fn at(minutes: i64) -> DateTime<Utc> {
    t(T0) + chrono::Duration::minutes(minutes)
}

/// An audit entry by the owner `usr_owner`, for `action` on `subject`.
fn audit(action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: t(T0),
        actor_kind: ActorKind::User,
        actor_id: Some("usr_owner".into()),
        actor_name: "Olive Owner".into(),
        action: action.into(),
        subject: Some(subject.into()),
        before: None,
        after: Some(format!(r#"{{"id":"{subject}"}}"#)),
        request_id: Some("req-1".into()),
        address: Some("192.0.2.7".into()),
    }
}

/// A person with an e-mail address and a password.
fn person(id: &str, email: &str, role: Role) -> UserRecord {
    UserRecord {
        email: Some(email.into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        ..UserRecord::new(id, UserKind::Person, id.to_uppercase(), role, t(T0))
    }
}

async fn add(store: &Store, user: &UserRecord) {
    store
        .add_user(user, &audit("user.add", &user.id))
        .await
        .unwrap()
        .unwrap();
}

/// The owner `usr_owner` (the actor of [`audit`]).
async fn owner(store: &Store) -> UserRecord {
    let owner = person("usr_owner", "olive@example.com", Role::Owner);
    add(store, &owner).await;
    owner
}

async fn audit_count(db: &TestDb) -> i64 {
    db.query_i64("SELECT COUNT(*) FROM audit_log").await
}

async fn actions(store: &Store) -> Vec<String> {
    store
        .audit(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record.action)
        .collect()
}

fn session(id_hash: &str, user: &str, created: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        id_hash: id_hash.into(),
        user_id: user.into(),
        created_at: at(created),
        last_seen_at: at(created),
        expires_at: at(expires),
        address: "192.0.2.7".into(),
        user_agent: "Firefox".into(),
    }
}

async fn sign_in(store: &Store, s: &SessionRecord) {
    store
        .create_session(s, &audit("signin", &s.user_id))
        .await
        .unwrap()
        .unwrap();
}

fn token(id: &str, owner: &str, scope: Scope) -> ApiTokenRecord {
    ApiTokenRecord {
        id: id.into(),
        secret_hash: format!("{:0>64}", id.len()),
        name: format!("token {id}"),
        owner_id: owner.into(),
        created_by: "usr_owner".into(),
        scope,
        created_at: t(T0),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

// ---- users -----------------------------------------------------------------------------

async fn users_are_added_read_and_updated(db: &TestDb) {
    let store = db.open().await;
    let owner = owner(&store).await;
    let service = UserRecord::new("usr_ci", UserKind::Service, "CI", Role::Responder, at(1));
    add(&store, &service).await;
    let sso = UserRecord {
        sso_subject: Some("https://id.example.com|1234".into()),
        time_zone: "Europe/Paris".into(),
        ..person("usr_sso", "sam@example.com", Role::Viewer)
    };
    let sso = UserRecord {
        password_hash: None,
        created_at: at(2),
        updated_at: at(2),
        ..sso
    };
    add(&store, &sso).await;

    assert_eq!(store.user("usr_owner").await.unwrap(), Some(owner.clone()));
    assert_eq!(
        store.user_by_email("olive@example.com").await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        store
            .user_by_sso_subject("https://id.example.com|1234")
            .await
            .unwrap(),
        Some(sso.clone())
    );
    assert_eq!(store.user("usr_nobody").await.unwrap(), None);
    assert_eq!(
        store.user_by_email("OLIVE@example.com").await.unwrap(),
        None
    );
    let ids: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, ["usr_owner", "usr_ci", "usr_sso"]);

    let patch = UserPatch {
        name: Some("Samira".into()),
        time_zone: Some("Asia/Tokyo".into()),
        role: Some(Role::Communicator),
        email: Some(Some("samira@example.com".into())),
        password_hash: Some(Some("$argon2id$new".into())),
        totp_secret: Some(Some("sealed:abc".into())),
        ..UserPatch::default()
    };
    let mut change = audit("user.update", "usr_sso");
    change.before = Some(r#"{"role":"viewer"}"#.into());
    change.after = Some(r#"{"role":"communicator"}"#.into());
    let updated = store
        .update_user("usr_sso", &patch, at(5), &change)
        .await
        .unwrap()
        .unwrap();
    let expected = UserRecord {
        name: "Samira".into(),
        time_zone: "Asia/Tokyo".into(),
        role: Role::Communicator,
        email: Some("samira@example.com".into()),
        password_hash: Some("$argon2id$new".into()),
        totp_secret: Some("sealed:abc".into()),
        updated_at: at(5),
        ..sso.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(store.user("usr_sso").await.unwrap(), Some(expected));
    assert_eq!(store.user_by_email("sam@example.com").await.unwrap(), None);

    // Clearing the optional fields.
    let cleared = store
        .update_user(
            "usr_sso",
            &UserPatch {
                email: Some(None),
                sso_subject: Some(None),
                password_hash: Some(None),
                totp_secret: Some(None),
                ..UserPatch::default()
            },
            at(6),
            &audit("user.update", "usr_sso"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            cleared.email,
            cleared.sso_subject,
            cleared.password_hash,
            cleared.totp_secret
        ),
        (None, None, None, None)
    );

    // Each change wrote its entry, as given, newest first.
    let entries = store.audit(&AuditFilter::default()).await.unwrap();
    let got: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.record.action.as_str(), e.record.subject.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("user.update", Some("usr_sso")),
            ("user.update", Some("usr_sso")),
            ("user.add", Some("usr_sso")),
            ("user.add", Some("usr_ci")),
            ("user.add", Some("usr_owner")),
        ]
    );
    assert_eq!(entries[1].record, change);
    assert!(entries.windows(2).all(|w| w[0].seq > w[1].seq));
}

async fn a_taken_email_sso_identity_or_id_is_refused_and_changes_nothing(db: &TestDb) {
    let store = db.open().await;
    let first = UserRecord {
        sso_subject: Some("issuer|one".into()),
        ..person("usr_a", "a@example.com", Role::Owner)
    };
    add(&store, &first).await;
    let entries = audit_count(db).await;

    let same_email = person("usr_b", "a@example.com", Role::Viewer);
    assert_eq!(
        store
            .add_user(&same_email, &audit("user.add", "usr_b"))
            .await
            .unwrap(),
        Err(PeopleConflict::DuplicateEmail("a@example.com".into()))
    );
    let same_subject = UserRecord {
        sso_subject: Some("issuer|one".into()),
        ..person("usr_b", "b@example.com", Role::Viewer)
    };
    assert_eq!(
        store
            .add_user(&same_subject, &audit("user.add", "usr_b"))
            .await
            .unwrap(),
        Err(PeopleConflict::DuplicateSsoSubject("issuer|one".into()))
    );
    let same_id = person("usr_a", "other@example.com", Role::Viewer);
    assert_eq!(
        store
            .add_user(&same_id, &audit("user.add", "usr_a"))
            .await
            .unwrap(),
        Err(PeopleConflict::DuplicateId("usr_a".into()))
    );
    assert_eq!(store.users().await.unwrap(), vec![first.clone()]);
    assert_eq!(
        audit_count(db).await,
        entries,
        "no entry for a refused change"
    );

    // Two service accounts (no e-mail, no SSO identity) do not collide.
    for id in ["usr_ci", "usr_bot"] {
        add(
            &store,
            &UserRecord::new(id, UserKind::Service, id, Role::Viewer, t(T0)),
        )
        .await;
    }
    let b = person("usr_b", "b@example.com", Role::Viewer);
    add(&store, &b).await;
    let entries = audit_count(db).await;
    for (patch, conflict) in [
        (
            UserPatch {
                email: Some(Some("a@example.com".into())),
                name: Some("renamed".into()),
                ..UserPatch::default()
            },
            PeopleConflict::DuplicateEmail("a@example.com".into()),
        ),
        (
            UserPatch {
                sso_subject: Some(Some("issuer|one".into())),
                ..UserPatch::default()
            },
            PeopleConflict::DuplicateSsoSubject("issuer|one".into()),
        ),
    ] {
        assert_eq!(
            store
                .update_user("usr_b", &patch, at(1), &audit("user.update", "usr_b"))
                .await
                .unwrap(),
            Err(conflict)
        );
    }
    assert_eq!(store.user("usr_b").await.unwrap(), Some(b));
    assert_eq!(audit_count(db).await, entries);
    // A user keeping their own address is no conflict.
    store
        .update_user(
            "usr_a",
            &UserPatch {
                email: Some(Some("a@example.com".into())),
                ..UserPatch::default()
            },
            at(2),
            &audit("user.update", "usr_a"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .update_user(
                "usr_nobody",
                &UserPatch::default(),
                at(2),
                &audit("user.update", "usr_nobody")
            )
            .await
            .unwrap(),
        Err(PeopleConflict::UnknownUser("usr_nobody".into()))
    );
}

async fn two_people_adding_one_email_at_once_get_one_user_and_a_conflict(db: &TestDb) {
    let store = db.open().await;
    for round in 0..5 {
        let email = format!("same{round}@example.com");
        let add_one = |id: String| {
            let store = store.clone();
            let user = person(&id, &email, Role::Viewer);
            async move {
                store
                    .add_user(&user, &audit("user.add", &user.id))
                    .await
                    .unwrap()
            }
        };
        let (a, b) = tokio::join!(
            tokio::spawn(add_one(format!("usr_a{round}"))),
            tokio::spawn(add_one(format!("usr_b{round}"))),
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(Result::is_err);
        // Whichever lost, it lost with the typed conflict, never a database error.
        assert_eq!(
            outcomes,
            [Ok(()), Err(PeopleConflict::DuplicateEmail(email.clone()))],
            "round {round}"
        );
    }
    assert_eq!(store.users().await.unwrap().len(), 5);
    assert_eq!(audit_count(db).await, 5);
}

async fn bad_people_input_is_refused(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    let entries = audit_count(db).await;
    let invalid = |e: StoreError| assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");

    let upper = person("usr_b", "Bob@example.com", Role::Viewer);
    invalid(
        store
            .add_user(&upper, &audit("user.add", "usr_b"))
            .await
            .unwrap_err(),
    );
    let nul = person("usr_b", "b@example.com", Role::Viewer);
    let nul = UserRecord {
        name: "B\0b".into(),
        ..nul
    };
    invalid(
        store
            .add_user(&nul, &audit("user.add", "usr_b"))
            .await
            .unwrap_err(),
    );
    let service_with_password = UserRecord {
        password_hash: Some("$argon2id$x".into()),
        ..UserRecord::new("usr_ci", UserKind::Service, "CI", Role::Viewer, t(T0))
    };
    invalid(
        store
            .add_user(&service_with_password, &audit("user.add", "usr_ci"))
            .await
            .unwrap_err(),
    );
    let mut bad_audit = audit("user.add", "usr_b");
    bad_audit.after = Some("{not json".into());
    invalid(
        store
            .add_user(&person("usr_b", "b@example.com", Role::Viewer), &bad_audit)
            .await
            .unwrap_err(),
    );
    let mut nul_audit = audit("user.add", "usr_b");
    nul_audit.actor_name = "x\0".into();
    invalid(
        store
            .add_user(&person("usr_b", "b@example.com", Role::Viewer), &nul_audit)
            .await
            .unwrap_err(),
    );
    invalid(
        store
            .update_user(
                "usr_owner",
                &UserPatch {
                    time_zone: Some("UTC\0".into()),
                    ..UserPatch::default()
                },
                at(1),
                &audit("user.update", "usr_owner"),
            )
            .await
            .unwrap_err(),
    );
    invalid(
        store
            .update_user(
                "usr_owner",
                &UserPatch {
                    email: Some(Some("Olive@example.com".into())),
                    ..UserPatch::default()
                },
                at(1),
                &audit("user.update", "usr_owner"),
            )
            .await
            .unwrap_err(),
    );
    invalid(
        store
            .append_audit(&AuditRecord {
                action: String::new(),
                ..audit("x", "y")
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(store.users().await.unwrap().len(), 1);
    assert_eq!(
        store.user("usr_owner").await.unwrap().unwrap().email,
        Some("olive@example.com".into())
    );
    assert_eq!(audit_count(db).await, entries);
}

async fn the_last_owner_can_be_neither_demoted_nor_disabled(db: &TestDb) {
    let store = db.open().await;
    let olive = owner(&store).await;
    // A service account with the owner role, and a disabled owner, do not count.
    add(
        &store,
        &UserRecord::new("usr_ci", UserKind::Service, "CI", Role::Owner, t(T0)),
    )
    .await;
    let dora = UserRecord {
        disabled_at: Some(t(T0)),
        ..person("usr_dora", "dora@example.com", Role::Owner)
    };
    add(&store, &dora).await;
    let entries = audit_count(db).await;

    let demote = UserPatch {
        role: Some(Role::Admin),
        ..UserPatch::default()
    };
    let disable = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    for patch in [&demote, &disable] {
        assert_eq!(
            store
                .update_user(
                    "usr_owner",
                    patch,
                    at(1),
                    &audit("user.update", "usr_owner")
                )
                .await
                .unwrap(),
            Err(PeopleConflict::LastOwner("usr_owner".into()))
        );
    }
    assert_eq!(store.user("usr_owner").await.unwrap(), Some(olive));
    assert_eq!(
        audit_count(db).await,
        entries,
        "no entry for a refused change"
    );

    // What keeps the owner an enabled owner is allowed.
    store
        .update_user(
            "usr_owner",
            &UserPatch {
                name: Some("Olive O.".into()),
                role: Some(Role::Owner),
                disabled: Some(false),
                ..UserPatch::default()
            },
            at(2),
            &audit("user.update", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    // With a second enabled owner, the first may go; then the second is the last.
    store
        .update_user(
            "usr_dora",
            &UserPatch {
                disabled: Some(false),
                ..UserPatch::default()
            },
            at(3),
            &audit("user.enable", "usr_dora"),
        )
        .await
        .unwrap()
        .unwrap();
    let demoted = store
        .update_user(
            "usr_owner",
            &demote,
            at(4),
            &audit("user.update", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demoted.role, Role::Admin);
    assert_eq!(
        store
            .update_user(
                "usr_dora",
                &disable,
                at(5),
                &audit("user.disable", "usr_dora")
            )
            .await
            .unwrap(),
        Err(PeopleConflict::LastOwner("usr_dora".into()))
    );
    // Disabling someone else keeps the first time; the disabled owner service account too.
    let ci = store
        .update_user("usr_ci", &disable, at(6), &audit("user.disable", "usr_ci"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ci.disabled_at, Some(at(6)));
    let ci = store
        .update_user("usr_ci", &disable, at(7), &audit("user.disable", "usr_ci"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ci.disabled_at, Some(at(6)));
}

async fn two_owners_demoting_each_other_at_once_leave_one(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    add(&store, &person("usr_two", "two@example.com", Role::Owner)).await;
    let set_role = |id: &'static str, role: Role, minute: i64| {
        let store = store.clone();
        async move {
            let patch = UserPatch {
                role: Some(role),
                ..UserPatch::default()
            };
            store
                .update_user(id, &patch, at(minute), &audit("user.role", id))
                .await
                .unwrap()
        }
    };
    for round in 0..5 {
        let entries = audit_count(db).await;
        let (a, b) = tokio::join!(
            tokio::spawn(set_role("usr_owner", Role::Admin, round)),
            tokio::spawn(set_role("usr_two", Role::Viewer, round)),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let refused: Vec<&PeopleConflict> = [&a, &b]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
            .collect();
        assert_eq!(refused.len(), 1, "round {round}: {a:?} {b:?}");
        assert!(
            matches!(refused[0], PeopleConflict::LastOwner(_)),
            "{refused:?}"
        );
        let owners = store
            .users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Owner)
            .count();
        assert_eq!(owners, 1, "round {round}");
        assert_eq!(audit_count(db).await, entries + 1);
        // Both owners again for the next round.
        for id in ["usr_owner", "usr_two"] {
            set_role(id, Role::Owner, round).await.unwrap();
        }
    }
}

// ---- sessions --------------------------------------------------------------------------

async fn sessions_expire_and_die_with_sign_out_everywhere_and_a_disabled_user(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    let bob = person("usr_bob", "bob@example.com", Role::Responder);
    add(&store, &bob).await;

    let long_agent = "é".repeat(USER_AGENT_MAX_CHARS + 10);
    let s1 = SessionRecord {
        user_agent: long_agent,
        ..session("hash1", "usr_bob", 0, 60)
    };
    sign_in(&store, &s1).await;
    let live = store.session("hash1", at(10)).await.unwrap().unwrap();
    assert_eq!(live.user, bob);
    assert_eq!(live.session.user_agent, "é".repeat(USER_AGENT_MAX_CHARS));
    assert_eq!(live.session.expires_at, at(60));
    // Expired at its end, whatever the use.
    store.touch_session("hash1", at(30)).await.unwrap();
    store.touch_session("hash1", at(20)).await.unwrap(); // never back
    let live = store.session("hash1", at(59)).await.unwrap().unwrap();
    assert_eq!(live.session.last_seen_at, at(30));
    assert_eq!(store.session("hash1", at(60)).await.unwrap(), None);
    assert_eq!(store.session("nope", at(10)).await.unwrap(), None);

    // Signing out everywhere ends every session made before, not one made after.
    sign_in(&store, &session("hash2", "usr_bob", 1, 600)).await;
    sign_in(&store, &session("hash3", "usr_owner", 1, 600)).await;
    let entries = audit_count(db).await;
    store
        .sign_out_everywhere(
            "usr_bob",
            at(5),
            &audit("user.sign_out_everywhere", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audit_count(db).await, entries + 1);
    assert_eq!(store.session("hash2", at(6)).await.unwrap(), None);
    assert!(store.session("hash3", at(6)).await.unwrap().is_some());
    assert_eq!(
        store
            .user("usr_bob")
            .await
            .unwrap()
            .unwrap()
            .sessions_valid_after,
        at(5)
    );
    // A session created before `sessions_valid_after`, however it got there, is dead.
    db.execute(
        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, address, \
         user_agent) SELECT 'stale', 'usr_bob', sessions_valid_after - 1, 0, \
         sessions_valid_after + 3600000, '', '' FROM users WHERE id = 'usr_bob'",
    )
    .await;
    assert_eq!(store.session("stale", at(6)).await.unwrap(), None);
    sign_in(&store, &session("hash4", "usr_bob", 5, 600)).await;
    sign_in(&store, &session("hash5", "usr_bob", 7, 600)).await;
    assert!(store.session("hash4", at(8)).await.unwrap().is_some());
    let mine: Vec<String> = store
        .sessions_of("usr_bob", at(8))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id_hash)
        .collect();
    assert_eq!(mine, ["hash5", "hash4"]);

    // Signing out deletes the session, once, with its entry.
    let entries = audit_count(db).await;
    assert!(store
        .delete_session("hash5", &audit("signout", "usr_bob"))
        .await
        .unwrap());
    assert!(!store
        .delete_session("hash5", &audit("signout", "usr_bob"))
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries + 1);
    assert_eq!(store.session("hash5", at(8)).await.unwrap(), None);

    // A disabled user's sessions end, and do not come back when they are enabled again.
    store
        .update_user(
            "usr_bob",
            &UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            at(9),
            &audit("user.disable", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.session("hash4", at(10)).await.unwrap(), None);
    assert_eq!(
        store
            .create_session(
                &session("hash6", "usr_bob", 10, 600),
                &audit("signin", "usr_bob")
            )
            .await
            .unwrap(),
        Err(PeopleConflict::UserDisabled("usr_bob".into()))
    );
    store
        .update_user(
            "usr_bob",
            &UserPatch {
                disabled: Some(false),
                ..UserPatch::default()
            },
            at(11),
            &audit("user.enable", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.session("hash4", at(12)).await.unwrap(), None);
    assert!(store.session("hash3", at(12)).await.unwrap().is_some());

    // Refusals write nothing.
    let entries = audit_count(db).await;
    assert_eq!(
        store
            .create_session(
                &session("hash7", "usr_nobody", 10, 600),
                &audit("signin", "usr_nobody")
            )
            .await
            .unwrap(),
        Err(PeopleConflict::UnknownUser("usr_nobody".into()))
    );
    assert_eq!(
        store
            .create_session(
                &session("hash3", "usr_bob", 12, 600),
                &audit("signin", "usr_bob")
            )
            .await
            .unwrap(),
        Err(PeopleConflict::DuplicateId("hash3".into()))
    );
    assert_eq!(
        store
            .sign_out_everywhere("usr_nobody", at(12), &audit("x", "usr_nobody"))
            .await
            .unwrap(),
        Err(PeopleConflict::UnknownUser("usr_nobody".into()))
    );
    assert_eq!(audit_count(db).await, entries);
    assert_eq!(
        store
            .session("hash3", at(12))
            .await
            .unwrap()
            .unwrap()
            .user
            .id,
        "usr_owner"
    );
}

async fn sessions_are_pruned_when_expired(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    sign_in(&store, &session("old", "usr_owner", 0, 60)).await;
    sign_in(&store, &session("edge", "usr_owner", 0, 120)).await;
    sign_in(&store, &session("new", "usr_owner", 0, 600)).await;
    let entries = audit_count(db).await;
    let report = store.prune(at(120)).await.unwrap();
    assert_eq!(report.sessions, 2);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM sessions").await, 1);
    assert!(store.session("new", at(120)).await.unwrap().is_some());
    assert_eq!(
        audit_count(db).await,
        entries,
        "the audit trail is never pruned"
    );
}

// ---- tokens ----------------------------------------------------------------------------

async fn tokens_are_created_read_revoked_and_touched(db: &TestDb) {
    let store = db.open().await;
    let olive = owner(&store).await;
    let ci = UserRecord::new("usr_ci", UserKind::Service, "CI", Role::Responder, t(T0));
    add(&store, &ci).await;

    let deploys = ApiTokenRecord {
        expires_at: Some(at(60)),
        ..token("tok_deploys", "usr_ci", Scope::Ingest)
    };
    let mine = ApiTokenRecord {
        created_at: at(1),
        ..token("tok_mine", "usr_owner", Scope::Role(Role::Admin))
    };
    let entries = audit_count(db).await;
    for tok in [&deploys, &mine] {
        store
            .create_api_token(tok, &audit("token.create", &tok.id))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(audit_count(db).await, entries + 2);

    let got = store.api_token("tok_deploys").await.unwrap().unwrap();
    assert_eq!((got.token.clone(), got.owner), (deploys.clone(), ci));
    assert!(got.token.is_usable(at(59)));
    assert!(!got.token.is_usable(at(60)));
    assert_eq!(
        store.api_token("tok_mine").await.unwrap().unwrap().owner,
        olive
    );
    assert_eq!(store.api_token("tok_nope").await.unwrap(), None);
    assert_eq!(
        store.api_tokens(None).await.unwrap(),
        vec![mine.clone(), deploys.clone()]
    );
    assert_eq!(
        store.api_tokens(Some("usr_ci")).await.unwrap(),
        vec![deploys.clone()]
    );
    assert!(store
        .api_tokens(Some("usr_nobody"))
        .await
        .unwrap()
        .is_empty());

    // Use is recorded, never backwards, without an audit entry.
    let entries = audit_count(db).await;
    store.touch_api_token("tok_deploys", at(10)).await.unwrap();
    store.touch_api_token("tok_deploys", at(5)).await.unwrap();
    store.touch_api_token("tok_nope", at(5)).await.unwrap();
    let got = store.api_token("tok_deploys").await.unwrap().unwrap().token;
    assert_eq!(got.last_used_at, Some(at(10)));
    assert_eq!(audit_count(db).await, entries);

    // Revoking is recorded once; again changes nothing.
    assert_eq!(
        store
            .revoke_api_token("tok_deploys", at(20), &audit("token.revoke", "tok_deploys"))
            .await
            .unwrap(),
        Ok(true)
    );
    assert_eq!(
        store
            .revoke_api_token("tok_deploys", at(30), &audit("token.revoke", "tok_deploys"))
            .await
            .unwrap(),
        Ok(false)
    );
    let got = store.api_token("tok_deploys").await.unwrap().unwrap().token;
    assert_eq!(got.revoked_at, Some(at(20)));
    assert!(!got.is_usable(at(21)));
    assert_eq!(audit_count(db).await, entries + 1);
    assert_eq!(
        store
            .revoke_api_token("tok_nope", at(30), &audit("token.revoke", "tok_nope"))
            .await
            .unwrap(),
        Err(PeopleConflict::UnknownToken("tok_nope".into()))
    );

    // Refused: a taken id, an unknown or disabled owner; nothing written.
    store
        .update_user(
            "usr_ci",
            &UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            at(40),
            &audit("user.disable", "usr_ci"),
        )
        .await
        .unwrap()
        .unwrap();
    let entries = audit_count(db).await;
    for (tok, conflict) in [
        (
            token("tok_mine", "usr_owner", Scope::Read),
            PeopleConflict::DuplicateId("tok_mine".into()),
        ),
        (
            token("tok_x", "usr_nobody", Scope::Read),
            PeopleConflict::UnknownUser("usr_nobody".into()),
        ),
        (
            token("tok_y", "usr_ci", Scope::Read),
            PeopleConflict::UserDisabled("usr_ci".into()),
        ),
    ] {
        assert_eq!(
            store
                .create_api_token(&tok, &audit("token.create", &tok.id))
                .await
                .unwrap(),
            Err(conflict)
        );
    }
    assert_eq!(audit_count(db).await, entries);
    assert_eq!(store.api_tokens(None).await.unwrap().len(), 2);
    // A disabled owner's token is still read, with its owner, for the caller to refuse.
    let got = store.api_token("tok_deploys").await.unwrap().unwrap();
    assert!(!got.owner.is_enabled());
}

// ---- second factors --------------------------------------------------------------------

async fn a_recovery_code_is_used_once(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    let codes: Vec<String> = ["h1", "h2", "h3"].map(String::from).to_vec();
    store
        .set_recovery_codes("usr_owner", &codes, at(1), &audit("mfa.codes", "usr_owner"))
        .await
        .unwrap()
        .unwrap();
    let entries = audit_count(db).await;
    let use_code = |hash: &'static str, minute: i64| {
        let store = store.clone();
        async move {
            store
                .use_recovery_code(
                    "usr_owner",
                    hash,
                    at(minute),
                    &audit("signin.recovery_code", "usr_owner"),
                )
                .await
                .unwrap()
        }
    };
    assert!(use_code("h2", 2).await);
    assert!(!use_code("h2", 3).await, "a code is used once");
    assert!(!use_code("h9", 3).await, "an unknown code");
    assert_eq!(audit_count(db).await, entries + 1);
    let stored = store.recovery_codes("usr_owner").await.unwrap();
    let used: Vec<(&str, Option<DateTime<Utc>>)> = stored
        .iter()
        .map(|c| (c.code_hash.as_str(), c.used_at))
        .collect();
    assert_eq!(used, [("h1", None), ("h2", Some(at(2))), ("h3", None)]);

    // A new set replaces the old one.
    store
        .set_recovery_codes(
            "usr_owner",
            &["h4".to_owned()],
            at(4),
            &audit("mfa.codes", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!use_code("h1", 5).await);
    let stored = store.recovery_codes("usr_owner").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].created_at, at(4));

    let twice = ["h5".to_owned(), "h5".to_owned()];
    let e = store
        .set_recovery_codes("usr_owner", &twice, at(6), &audit("mfa.codes", "usr_owner"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert_eq!(
        store
            .set_recovery_codes("usr_nobody", &[], at(6), &audit("mfa.codes", "usr_nobody"))
            .await
            .unwrap(),
        Err(PeopleConflict::UnknownUser("usr_nobody".into()))
    );
    // A disabled user's codes are not accepted.
    add(&store, &person("usr_bob", "bob@example.com", Role::Viewer)).await;
    store
        .set_recovery_codes(
            "usr_bob",
            &["b1".to_owned()],
            at(6),
            &audit("mfa.codes", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .update_user(
            "usr_bob",
            &UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            at(7),
            &audit("user.disable", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!store
        .use_recovery_code("usr_bob", "b1", at(8), &audit("signin", "usr_bob"))
        .await
        .unwrap());
}

async fn a_totp_step_is_accepted_once(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    assert!(
        !store.advance_totp_step("usr_owner", 100).await.unwrap(),
        "no second factor yet"
    );
    let with_totp = UserPatch {
        totp_secret: Some(Some("sealed:one".into())),
        ..UserPatch::default()
    };
    store
        .update_user(
            "usr_owner",
            &with_totp,
            at(1),
            &audit("mfa.enable", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(store.advance_totp_step("usr_owner", 100).await.unwrap());
    assert!(!store.advance_totp_step("usr_owner", 100).await.unwrap());
    assert!(!store.advance_totp_step("usr_owner", 99).await.unwrap());
    assert!(store.advance_totp_step("usr_owner", 101).await.unwrap());
    assert_eq!(
        store
            .user("usr_owner")
            .await
            .unwrap()
            .unwrap()
            .totp_last_step,
        Some(101)
    );
    // A new secret starts afresh.
    let user = store
        .update_user(
            "usr_owner",
            &with_totp,
            at(2),
            &audit("mfa.enable", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.totp_last_step, None);
    assert!(store.advance_totp_step("usr_owner", 101).await.unwrap());
    assert!(!store.advance_totp_step("usr_nobody", 1).await.unwrap());
}

async fn totp_is_set_up_on_a_session_then_enabled_and_disabled_with_its_codes(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    sign_in(&store, &session("s1", "usr_owner", 0, 60)).await;
    assert!(store
        .set_totp_pending("s1", Some("v1:pending"))
        .await
        .unwrap());
    assert!(
        !store.set_totp_pending("s9", Some("v1:x")).await.unwrap(),
        "no such session"
    );
    assert_eq!(
        store.totp_pending("s1").await.unwrap().as_deref(),
        Some("v1:pending")
    );
    assert_eq!(store.totp_pending("s9").await.unwrap(), None);
    let codes = ["r1".to_owned(), "r2".to_owned()];
    let enable = |sealed: &'static str| TotpEnable {
        user_id: "usr_owner",
        session_id_hash: "s1",
        sealed,
        step: 50,
        code_hashes: &codes,
    };
    let entries = audit_count(db).await;
    // Another secret than the session's pending one (a newer setup replaced it): nothing.
    assert!(!store
        .enable_totp(
            &enable("v1:other"),
            at(1),
            &audit("totp.enable", "usr_owner")
        )
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries);
    assert!(store.recovery_codes("usr_owner").await.unwrap().is_empty());
    // The session's own: on, with its codes, its audit entry, and the setup cleared.
    assert!(store
        .enable_totp(
            &enable("v1:pending"),
            at(1),
            &audit("totp.enable", "usr_owner")
        )
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries + 1);
    assert_eq!(actions(&store).await[0], "totp.enable");
    let user = store.user("usr_owner").await.unwrap().unwrap();
    assert_eq!(user.totp_secret.as_deref(), Some("v1:pending"));
    assert_eq!(
        user.totp_last_step,
        Some(50),
        "the confirming code is spent"
    );
    assert_eq!(user.updated_at, at(1));
    assert_eq!(store.recovery_codes("usr_owner").await.unwrap().len(), 2);
    assert_eq!(store.totp_pending("s1").await.unwrap(), None);
    assert!(!store.advance_totp_step("usr_owner", 50).await.unwrap());
    assert!(store.advance_totp_step("usr_owner", 51).await.unwrap());
    // Once on, a second setup cannot replace it.
    assert!(store
        .set_totp_pending("s1", Some("v1:pending"))
        .await
        .unwrap());
    assert!(!store
        .enable_totp(
            &enable("v1:pending"),
            at(2),
            &audit("totp.enable", "usr_owner")
        )
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries + 1);
    let twice = ["r1".to_owned(), "r1".to_owned()];
    let e = store
        .enable_totp(
            &TotpEnable {
                code_hashes: &twice,
                ..enable("v1:pending")
            },
            at(2),
            &audit("totp.enable", "usr_owner"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");

    // Off: the secret, the step and the codes go, with the entry.
    assert!(store
        .disable_totp("usr_owner", at(3), &audit("totp.disable", "usr_owner"))
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries + 2);
    let user = store.user("usr_owner").await.unwrap().unwrap();
    assert_eq!((user.totp_secret, user.totp_last_step), (None, None));
    assert!(store.recovery_codes("usr_owner").await.unwrap().is_empty());
    assert!(
        !store
            .disable_totp("usr_owner", at(4), &audit("totp.disable", "usr_owner"))
            .await
            .unwrap(),
        "already off"
    );
    assert!(!store
        .disable_totp("usr_nobody", at(4), &audit("totp.disable", "usr_nobody"))
        .await
        .unwrap());
    assert_eq!(audit_count(db).await, entries + 2);
}

fn pending(id_hash: &str, user: &str, created: i64, expires: i64) -> PendingSignInRecord {
    PendingSignInRecord {
        id_hash: id_hash.into(),
        user_id: user.into(),
        created_at: at(created),
        expires_at: at(expires),
        address: "192.0.2.7".into(),
        user_agent: "Firefox".into(),
    }
}

async fn a_pending_sign_in_completes_into_a_session_once(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    store
        .set_recovery_codes(
            "usr_owner",
            &["r1".to_owned(), "r2".to_owned()],
            at(0),
            &audit("totp.enable", "usr_owner"),
        )
        .await
        .unwrap()
        .unwrap();
    let wait = |p: PendingSignInRecord| {
        let store = store.clone();
        async move { store.create_pending_signin(&p).await.unwrap() }
    };
    assert_eq!(wait(pending("p1", "usr_owner", 0, 5)).await, Ok(()));
    assert_eq!(
        wait(pending("p1", "usr_owner", 0, 5)).await,
        Err(PeopleConflict::DuplicateId("p1".into()))
    );
    assert_eq!(
        wait(pending("p9", "usr_nobody", 0, 5)).await,
        Err(PeopleConflict::UnknownUser("usr_nobody".into()))
    );
    let found = store.pending_signin("p1", at(1)).await.unwrap().unwrap();
    assert_eq!(found, pending("p1", "usr_owner", 0, 5));
    assert_eq!(
        store.pending_signin("p1", at(5)).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.pending_signin("p9", at(1)).await.unwrap(), None);

    let entries = audit_count(db).await;
    let complete = |p: &'static str, s: &'static str, minute: i64, code: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .complete_pending_signin(
                    p,
                    &session(s, "usr_owner", minute, minute + 60),
                    code,
                    &audit("signin", "usr_owner"),
                )
                .await
                .unwrap()
        }
    };
    // Once: the session and its entry, and the pending sign-in is gone.
    assert!(complete("p1", "s1", 1, None).await);
    assert!(!complete("p1", "s2", 1, None).await, "good once");
    assert_eq!(audit_count(db).await, entries + 1);
    assert!(store.session("s1", at(2)).await.unwrap().is_some());
    assert!(store.session("s2", at(2)).await.unwrap().is_none());
    assert_eq!(store.pending_signin("p1", at(1)).await.unwrap(), None);

    // With a recovery code: used with the session, and not again.
    assert_eq!(wait(pending("p2", "usr_owner", 2, 7)).await, Ok(()));
    assert_eq!(wait(pending("p3", "usr_owner", 2, 7)).await, Ok(()));
    assert!(complete("p2", "s3", 3, Some("r1")).await);
    assert!(!complete("p3", "s4", 3, Some("r1")).await, "a used code");
    assert!(
        !complete("p3", "s4", 3, Some("r9")).await,
        "an unknown code"
    );
    assert!(store.session("s4", at(3)).await.unwrap().is_none());
    assert!(
        store.pending_signin("p3", at(3)).await.unwrap().is_some(),
        "kept for another try"
    );
    let used: Vec<bool> = store
        .recovery_codes("usr_owner")
        .await
        .unwrap()
        .iter()
        .map(|c| c.used_at.is_some())
        .collect();
    assert_eq!(used, [true, false]);
    assert_eq!(audit_count(db).await, entries + 2);

    // Expired: refused; and making a new one clears the expired ones away.
    assert!(!complete("p3", "s5", 7, Some("r2")).await);
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM pending_signins").await,
        1
    );
    assert_eq!(wait(pending("p4", "usr_owner", 8, 13)).await, Ok(()));
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM pending_signins").await,
        1
    );

    // A disabled user's pending sign-in does not complete.
    add(&store, &person("usr_bob", "bob@example.com", Role::Viewer)).await;
    assert_eq!(wait(pending("pb", "usr_bob", 8, 13)).await, Ok(()));
    store
        .update_user(
            "usr_bob",
            &UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
            at(9),
            &audit("user.disable", "usr_bob"),
        )
        .await
        .unwrap()
        .unwrap();
    let bob = SessionRecord {
        user_id: "usr_bob".into(),
        ..session("sb", "usr_bob", 9, 60)
    };
    assert!(!store
        .complete_pending_signin("pb", &bob, None, &audit("signin", "usr_bob"))
        .await
        .unwrap());
    assert_eq!(
        wait(pending("pc", "usr_bob", 9, 14)).await,
        Err(PeopleConflict::UserDisabled("usr_bob".into()))
    );
}

// ---- the audit trail -------------------------------------------------------------------

async fn the_database_refuses_to_edit_or_delete_the_audit_trail(db: &TestDb) {
    let store = db.open().await;
    owner(&store).await;
    let update = db
        .raw("UPDATE audit_log SET actor_name = 'someone else'")
        .await;
    assert!(update.unwrap_err().contains("append-only"));
    let delete = db.raw("DELETE FROM audit_log").await;
    assert!(delete.unwrap_err().contains("append-only"));
    let entries = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record, audit("user.add", "usr_owner"));
}

async fn the_audit_trail_is_filtered_and_paged_newest_first(db: &TestDb) {
    let store = db.open().await;
    let entry =
        |minute: i64, kind: ActorKind, id: Option<&str>, name: &str, action: &str| AuditRecord {
            at: at(minute),
            actor_kind: kind,
            actor_id: id.map(String::from),
            actor_name: name.into(),
            action: action.into(),
            subject: None,
            before: None,
            after: None,
            request_id: None,
            address: None,
        };
    let records = [
        entry(0, ActorKind::User, Some("usr_a"), "Ann", "incident.create"),
        entry(
            1,
            ActorKind::Token,
            Some("tok_1"),
            "deploys",
            "change.record",
        ),
        entry(2, ActorKind::User, Some("usr_a"), "Ann", "user.add"),
        entry(
            3,
            ActorKind::ConfigToken,
            Some("ops"),
            "ops",
            "incident.update",
        ),
        entry(4, ActorKind::Anonymous, None, "anonymous", "signin.failed"),
        entry(5, ActorKind::Automation, None, "Pharos", "incident.resolve"),
        entry(6, ActorKind::User, Some("usr_b"), "Ann", "user_x.odd"),
    ];
    let mut seqs = Vec::new();
    for r in &records {
        seqs.push(store.append_audit(r).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let read = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .audit(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.record.action)
                .collect::<Vec<_>>()
        }
    };
    let all = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[0].record, records[6]);
    assert_eq!(all[6].record, records[0]);
    assert_eq!(all[0].seq, seqs[6]);
    // By actor: its id or its name.
    assert_eq!(
        read(AuditFilter {
            actor: Some("usr_a".into()),
            ..AuditFilter::default()
        })
        .await,
        ["user.add", "incident.create"]
    );
    assert_eq!(
        read(AuditFilter {
            actor: Some("Ann".into()),
            ..AuditFilter::default()
        })
        .await,
        ["user_x.odd", "user.add", "incident.create"]
    );
    // By action prefix, exactly: `_` is no wildcard, and case counts.
    assert_eq!(
        read(AuditFilter {
            action_prefix: Some("incident.".into()),
            ..AuditFilter::default()
        })
        .await,
        ["incident.resolve", "incident.update", "incident.create"]
    );
    assert_eq!(
        read(AuditFilter {
            action_prefix: Some("user.".into()),
            ..AuditFilter::default()
        })
        .await,
        ["user.add"]
    );
    assert_eq!(
        read(AuditFilter {
            action_prefix: Some("user_".into()),
            ..AuditFilter::default()
        })
        .await,
        ["user_x.odd"]
    );
    assert!(read(AuditFilter {
        action_prefix: Some("Incident".into()),
        ..AuditFilter::default()
    })
    .await
    .is_empty());
    // Since, combined with the rest.
    assert_eq!(
        read(AuditFilter {
            since: Some(at(3)),
            action_prefix: Some("incident".into()),
            ..AuditFilter::default()
        })
        .await,
        ["incident.resolve", "incident.update"]
    );
    // Pages of two, each after the last seq of the one before.
    let mut pages = Vec::new();
    let mut before_seq = None;
    loop {
        let page = store
            .audit(&AuditFilter {
                before_seq,
                limit: Some(2),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        pages.push(page.iter().map(|e| e.seq).collect::<Vec<_>>());
    }
    let mut newest_first = seqs.clone();
    newest_first.reverse();
    assert_eq!(pages.concat(), newest_first);
    assert_eq!(pages.len(), 4);

    // A page is never longer than AUDIT_PAGE_MAX.
    let many = Batch {
        audit: (0..AUDIT_PAGE_MAX + 5)
            .map(|i| {
                entry(
                    10,
                    ActorKind::Automation,
                    None,
                    "Pharos",
                    &format!("bulk.{i}"),
                )
            })
            .collect(),
        ..Batch::default()
    };
    store.write_batch(&many).await.unwrap();
    let page = store
        .audit(&AuditFilter {
            limit: Some(10_000),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), AUDIT_PAGE_MAX);
    assert_eq!(
        page[0].record.action,
        format!("bulk.{}", AUDIT_PAGE_MAX + 4)
    );
    assert_eq!(
        store.audit(&AuditFilter::default()).await.unwrap().len(),
        AUDIT_PAGE_MAX
    );
}

async fn a_batch_writes_its_audit_entries_with_it(db: &TestDb) {
    let store = db.open().await;
    let incident = IncidentRecord {
        id: "inc1".into(),
        kind: IncidentKind::Incident,
        status: "investigating".into(),
        created_at: t(T0),
        updated_at: t(T0),
        doc: r#"{"id":"inc1"}"#.into(),
    };
    let mut first = Batch {
        incidents: vec![incident],
        audit: vec![audit("incident.create", "inc1")],
        ..Batch::default()
    };
    // Entries of merged batches keep their order.
    first.append(Batch {
        audit: vec![audit("incident.update", "inc1")],
        ..Batch::default()
    });
    assert!(!Batch {
        audit: vec![audit("x", "y")],
        ..Batch::default()
    }
    .is_empty());
    store.write_batch(&first).await.unwrap();
    assert_eq!(
        actions(&store).await,
        ["incident.update", "incident.create"]
    );

    // A batch refused (an event of an unknown incident) writes none of its entries.
    let refused = Batch {
        incident_events: vec![IncidentEventRecord {
            id: "ev1".into(),
            incident_id: "inc_unknown".into(),
            seq: 0,
            occurred_at: t(T0),
            recorded_at: t(T0),
            kind: "update".into(),
            doc: "{}".into(),
        }],
        audit: vec![audit("incident.update", "inc_unknown")],
        ..Batch::default()
    };
    let e = store.write_batch(&refused).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    let mut bad = audit("incident.update", "inc1");
    bad.before = Some("not json".into());
    let e = store
        .write_batch(&Batch {
            audit: vec![bad],
            ..Batch::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert_eq!(audit_count(db).await, 2);
}

// ---- several nodes (PostgreSQL only) ---------------------------------------------------

const LEASE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_deposed_leaders_people_writes_are_refused() {
    let Some(db) = TestDb::postgres("people::fenced").await else {
        return;
    };
    let store = db.open().await;
    let token = store.acquire_lease("a", LEASE).await.unwrap().unwrap();
    let a = store.with_fence(Arc::new(Fence::new("a", token, LEASE, Instant::now())));
    owner(&a).await;
    add(&a, &person("usr_bob", "bob@example.com", Role::Viewer)).await;
    sign_in(&a, &session("hash1", "usr_bob", 0, 600)).await;
    a.create_api_token(
        &token_of("tok_1", "usr_bob"),
        &audit("token.create", "tok_1"),
    )
    .await
    .unwrap()
    .unwrap();
    let entries = audit_count(&db).await;

    db.execute("UPDATE cluster_lease SET expires_at = 0").await;
    store.acquire_lease("b", LEASE).await.unwrap().unwrap();
    let write = |e: StoreError| assert!(e.is_fenced(), "{e}");
    write(
        a.add_user(
            &person("usr_c", "c@example.com", Role::Viewer),
            &audit("user.add", "usr_c"),
        )
        .await
        .unwrap_err(),
    );
    write(
        a.update_user(
            "usr_bob",
            &UserPatch {
                role: Some(Role::Admin),
                ..UserPatch::default()
            },
            at(1),
            &audit("user.update", "usr_bob"),
        )
        .await
        .unwrap_err(),
    );
    write(a.advance_totp_step("usr_bob", 5).await.unwrap_err());
    write(
        a.set_recovery_codes("usr_bob", &["h".into()], at(1), &audit("mfa", "usr_bob"))
            .await
            .unwrap_err(),
    );
    write(
        a.use_recovery_code("usr_bob", "h", at(1), &audit("mfa", "usr_bob"))
            .await
            .unwrap_err(),
    );
    write(
        a.create_session(
            &session("hash2", "usr_bob", 1, 600),
            &audit("signin", "usr_bob"),
        )
        .await
        .unwrap_err(),
    );
    write(
        a.delete_session("hash1", &audit("signout", "usr_bob"))
            .await
            .unwrap_err(),
    );
    write(
        a.sign_out_everywhere("usr_bob", at(1), &audit("signout", "usr_bob"))
            .await
            .unwrap_err(),
    );
    write(
        a.create_api_token(
            &token_of("tok_2", "usr_bob"),
            &audit("token.create", "tok_2"),
        )
        .await
        .unwrap_err(),
    );
    write(
        a.revoke_api_token("tok_1", at(1), &audit("token.revoke", "tok_1"))
            .await
            .unwrap_err(),
    );
    write(
        a.append_audit(&audit("signin.failed", "x"))
            .await
            .unwrap_err(),
    );
    write(
        a.write_batch(&Batch {
            audit: vec![audit("incident.create", "i")],
            ..Batch::default()
        })
        .await
        .unwrap_err(),
    );
    assert_eq!(
        audit_count(&db).await,
        entries,
        "no entry from a deposed leader"
    );
    let bob = store.user("usr_bob").await.unwrap().unwrap();
    assert_eq!(bob.role, Role::Viewer);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM users").await, 2);
    assert!(store.session("hash1", at(1)).await.unwrap().is_some());
    assert_eq!(
        store
            .api_token("tok_1")
            .await
            .unwrap()
            .unwrap()
            .token
            .revoked_at,
        None
    );

    // A fence not renewed in time refuses even the cheap touches, without asking.
    let long_ago = Instant::now().checked_sub(LEASE * 2).unwrap();
    let paused = store.with_fence(Arc::new(Fence::new("b", token + 1, LEASE, long_ago)));
    write(paused.touch_session("hash1", at(2)).await.unwrap_err());
    write(paused.touch_api_token("tok_1", at(2)).await.unwrap_err());
}

fn token_of(id: &str, owner: &str) -> ApiTokenRecord {
    token(id, owner, Scope::Read)
}
