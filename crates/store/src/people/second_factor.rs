//! The second factor's storage: a TOTP secret being set up (sealed, on the session that
//! started it), turning the second factor on and off with the recovery codes in the same
//! transaction as its audit entry, and sign-ins waiting for their code
//! ([`PendingSignInRecord`]), completed into a session at most once.
//!
//! As everywhere in the store, secrets arrive sealed or hashed: the store never sees a TOTP
//! secret, a recovery code or a pending sign-in's cookie in clear.

use chrono::{DateTime, Utc};

use super::{no_nul, truncate_chars, Outcome, PeopleConflict, SessionRecord, USER_AGENT_MAX_CHARS};
use crate::audit::{check_audit, insert_audit};
use crate::error::OpError;
use crate::model::AuditRecord;
use crate::sql::{from_ms, ms};
use crate::{Result, Store};

/// A sign-in whose password was right and whose second factor is still due. Times are
/// stored as unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignInRecord {
    /// The SHA-256 (hex) of the cookie's secret; the secret itself is never stored.
    pub id_hash: String,
    /// Who is signing in.
    pub user_id: String,
    /// When the password was accepted.
    pub created_at: DateTime<Utc>,
    /// When the code is no longer accepted.
    pub expires_at: DateTime<Utc>,
    /// The client's address at the password step.
    pub address: String,
    /// The client's user agent, cut to [`USER_AGENT_MAX_CHARS`] characters.
    pub user_agent: String,
}

/// What [`Store::enable_totp`] stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnable<'a> {
    /// The user turning the second factor on.
    pub user_id: &'a str,
    /// The session the setup was started on: its pending secret must be `sealed`, and is
    /// cleared.
    pub session_id_hash: &'a str,
    /// The sealed secret, as the session holds it.
    pub sealed: &'a str,
    /// The step of the code that confirmed it (the replay guard starts there, so the same
    /// code cannot also sign in).
    pub step: i64,
    /// The new recovery codes' hashes, replacing any stored.
    pub code_hashes: &'a [String],
}

impl Store {
    /// Keeps `sealed` (a TOTP secret being set up, sealed by the caller) on session
    /// `id_hash`, or clears it with `None`; answers whether the session exists. Unaudited:
    /// nothing is enabled until [`Store::enable_totp`].
    pub async fn set_totp_pending(&self, id_hash: &str, sealed: Option<&str>) -> Result<bool> {
        const OP: &str = "set_totp_pending";
        no_nul("a pending TOTP secret", sealed).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let done = sqlx::query("UPDATE sessions SET totp_pending = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(sealed)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, OpError>(done == 1)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// The TOTP secret being set up on session `id_hash` (sealed), if any.
    pub async fn totp_pending(&self, id_hash: &str) -> Result<Option<String>> {
        const OP: &str = "totp_pending";
        let row: Option<(Option<String>,)> = db_run!(self, |pool, d| {
            sqlx::query_as("SELECT totp_pending FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        Ok(row.and_then(|(s,)| s))
    }

    /// Turns user `change.user_id`'s second factor on at `at`: stores the sealed secret with
    /// the confirming step as the last accepted, replaces the recovery codes, clears the
    /// session's pending secret, and writes `audit`, in one transaction. Answers `false`,
    /// storing nothing, when the user is unknown, disabled or already has a second factor,
    /// or the session no longer holds this pending secret (a newer setup replaced it).
    pub async fn enable_totp(
        &self,
        change: &TotpEnable<'_>,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        const OP: &str = "enable_totp";
        no_nul(
            "a TOTP setup",
            [change.user_id, change.session_id_hash, change.sealed]
                .into_iter()
                .chain(change.code_hashes.iter().map(String::as_str)),
        )
        .map_err(|e| e.at(OP))?;
        let distinct: std::collections::BTreeSet<&String> = change.code_hashes.iter().collect();
        if distinct.len() != change.code_hashes.len() {
            return Err(OpError::Invalid("a recovery code hash is given twice".into()).at(OP));
        }
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let cleared = sqlx::query(
                "UPDATE sessions SET totp_pending = NULL \
                 WHERE id_hash = $1 AND user_id = $2 AND totp_pending = $3",
            )
            .bind(change.session_id_hash)
            .bind(change.user_id)
            .bind(change.sealed)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let enabled = if cleared == 1 {
                sqlx::query(
                    "UPDATE users SET totp_secret = $2, totp_last_step = $3, updated_at = $4 \
                     WHERE id = $1 AND totp_secret IS NULL AND disabled_at IS NULL",
                )
                .bind(change.user_id)
                .bind(change.sealed)
                .bind(change.step)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            if enabled != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(change.user_id)
                .execute(&mut *tx)
                .await?;
            for hash in change.code_hashes {
                sqlx::query(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) \
                     VALUES ($1, $2, $3, NULL)",
                )
                .bind(change.user_id)
                .bind(hash)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok::<_, OpError>(true)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// Turns user `id`'s second factor off at `at`: removes the secret, the last accepted
    /// step and every recovery code, with `audit`, in one transaction. Answers `false`,
    /// storing nothing, when the user is unknown or has no second factor.
    pub async fn disable_totp(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        const OP: &str = "disable_totp";
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let done = sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_last_step = NULL, updated_at = $2 \
                 WHERE id = $1 AND totp_secret IS NOT NULL",
            )
            .bind(id)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok::<_, OpError>(true)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// Stores a sign-in waiting for its second factor (its user agent cut to
    /// [`USER_AGENT_MAX_CHARS`] characters), deleting those already expired at its
    /// `created_at`. Unaudited: the sign-in is audited when it completes or is refused.
    /// `Ok(Err(_))`, storing nothing, for an unknown or disabled user or an `id_hash` already
    /// stored.
    pub async fn create_pending_signin(
        &self,
        pending: &PendingSignInRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "create_pending_signin";
        no_nul(
            "a pending sign-in",
            [
                pending.id_hash.as_str(),
                pending.user_id.as_str(),
                pending.address.as_str(),
                pending.user_agent.as_str(),
            ],
        )
        .map_err(|e| e.at(OP))?;
        let user_agent = truncate_chars(&pending.user_agent, USER_AGENT_MAX_CHARS);
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            match user_state!(tx, d, &pending.user_id) {
                None => refuse!(tx, PeopleConflict::UnknownUser(pending.user_id.clone())),
                Some(Some(_)) => refuse!(tx, PeopleConflict::UserDisabled(pending.user_id.clone())),
                Some(None) => {}
            }
            sqlx::query("DELETE FROM pending_signins WHERE expires_at <= $1")
                .bind(ms(pending.created_at))
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO pending_signins (id_hash, user_id, created_at, expires_at, address, \
                 user_agent) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&pending.id_hash)
            .bind(&pending.user_id)
            .bind(ms(pending.created_at))
            .bind(ms(pending.expires_at))
            .bind(&pending.address)
            .bind(user_agent)
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                if super::unique_violation(&e).is_none() {
                    return Err(OpError::Sql(e));
                }
                refuse!(tx, PeopleConflict::DuplicateId(pending.id_hash.clone()));
            }
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// The sign-in waiting at `now` whose cookie hashes to `id_hash`: `None` when there is
    /// none, it expired, or it was completed.
    pub async fn pending_signin(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingSignInRecord>> {
        const OP: &str = "pending_signin";
        type Row = (String, String, i64, i64, String, String);
        let row: Option<Row> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT id_hash, user_id, created_at, expires_at, address, user_agent \
                 FROM pending_signins WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(ms(now))
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(
            |(id_hash, user_id, created, expires, address, user_agent)| {
                Ok(PendingSignInRecord {
                    id_hash,
                    user_id,
                    created_at: from_ms(created)?,
                    expires_at: from_ms(expires)?,
                    address,
                    user_agent,
                })
            },
        )
        .transpose()
        .map_err(|e: OpError| e.at(OP))
    }

    /// Completes the pending sign-in `id_hash` into `session`, once: deletes it (it must be
    /// unexpired at the session's `created_at` and the session's user's), uses the recovery
    /// code `recovery_code_hash` when one is given (it must be unused), stores the session
    /// and writes `audit`, in one transaction. Answers `false`, storing nothing, when any of
    /// that fails (completed or expired already, a used code, a disabled user), so two
    /// requests with one pending sign-in or one code cannot both pass.
    pub async fn complete_pending_signin(
        &self,
        id_hash: &str,
        session: &SessionRecord,
        recovery_code_hash: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        const OP: &str = "complete_pending_signin";
        no_nul("a recovery code hash", recovery_code_hash).map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let now = ms(session.created_at);
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let deleted = sqlx::query(
                "DELETE FROM pending_signins WHERE id_hash = $1 AND user_id = $2 AND expires_at > $3",
            )
            .bind(id_hash)
            .bind(&session.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted != 1 || user_state!(tx, d, &session.user_id) != Some(None) {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(code_hash) = recovery_code_hash {
                let used = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(&session.user_id)
                .bind(code_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, \
                 address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&session.id_hash)
            .bind(&session.user_id)
            .bind(ms(session.created_at))
            .bind(ms(session.last_seen_at))
            .bind(ms(session.expires_at))
            .bind(&session.address)
            .bind(truncate_chars(&session.user_agent, USER_AGENT_MAX_CHARS))
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok::<_, OpError>(true)
        }
        .await)
        .map_err(|e| e.at(OP))
    }
}
