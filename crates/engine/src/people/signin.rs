//! Signing in to the console with an e-mail and a password, the sessions that follow, and
//! signing out: [`Directory::sign_in`], [`Directory::session`], [`Directory::sign_out`].
//!
//! - **One answer for every refusal.** An unknown e-mail, a wrong password, a disabled user
//!   and a user without a password are all [`SignInRefused`], which the web layer answers
//!   alike; the password is verified (against the dummy hash when there is nothing to verify,
//!   [`verify_sign_in`]) in every case, so the time of the answer does not tell them apart
//!   either. Which one it was goes into the audit entry `signin.failed`, read by owners and
//!   admins only.
//! - **Sessions end twice over**: [`SESSION_LIFETIME`] after sign-in whatever happens, and
//!   after [`SESSION_IDLE`] without a request. The last use is written at most every
//!   [`SESSION_TOUCH_EVERY`].
//! - The password is verified on tokio's blocking pool (argon2id is slow by design).

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use pharos_domain::access::Role;
use pharos_store::{ActorKind, AuditRecord, SessionRecord, StoreError, UserKind, UserRecord};

use super::directory::Directory;
use super::password::verify_sign_in;
use super::second_factor::SignInStep;
use super::session::{mint_session, session_id_hash};

/// How long a session lasts at most, from sign-in: a working day, after which everyone
/// signs in again, however active.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);
/// How long a session survives without a request: a screen left signed in at a desk ends
/// within half an hour.
pub const SESSION_IDLE: TimeDelta = TimeDelta::minutes(30);
/// A session's last use is written at most this often, so an active session costs one
/// write a minute. The idle expiry is therefore exact to within this.
pub const SESSION_TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);
/// The most characters of a typed e-mail kept as the actor of a `signin.failed` entry (an
/// address is at most 254 characters, RFC 5321 with RFC 3696's erratum).
pub const AUDIT_EMAIL_MAX_CHARS: usize = 254;

/// One sign-in attempt, as the web layer read it.
#[derive(Clone)]
pub struct SignIn<'a> {
    /// The e-mail as typed (it is trimmed and lowercased to look the user up).
    pub email: &'a str,
    /// The password as typed.
    pub password: &'a str,
    /// The client's address.
    pub address: &'a str,
    /// The client's user agent.
    pub user_agent: &'a str,
    /// The request's id, for the audit trail.
    pub request_id: Option<&'a str>,
    /// When.
    pub now: DateTime<Utc>,
    /// `[sso] only`: a password signs in owners alone (the break-glass owner); anyone else is
    /// refused ([`SignInRefused::SsoOnly`]) even with the right password.
    pub owners_only: bool,
}

impl fmt::Debug for SignIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A session just created: the cookie to give the browser, and whose it is.
pub struct SignedIn {
    /// The session cookie's value; sent to the browser once, never stored or logged.
    pub cookie: String,
    /// The session's stored id (the SHA-256 of the cookie), which its CSRF token is bound to.
    pub id_hash: String,
    /// Who signed in.
    pub user: UserRecord,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("cookie", &"[redacted]")
            .field("id_hash", &self.id_hash)
            .field("user", &self.user.id)
            .finish()
    }
}

/// Why a sign-in was refused. The web layer answers each alike; the reason is for the audit
/// trail and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefused {
    /// No person has this e-mail, or the password is wrong.
    #[error("unknown e-mail or wrong password")]
    Mismatch,
    /// The password is right but the user is disabled.
    #[error("the user is disabled")]
    Disabled,
    /// The person has no password (signs in by SSO only).
    #[error("the user has no password")]
    NoPassword,
    /// The password is right but sign-in is by SSO only and the person is not an owner.
    #[error("password sign-in is for owners only (SSO only)")]
    SsoOnly,
}

impl SignInRefused {
    /// The reason as the audit entry records it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInRefused::Mismatch => "mismatch",
            SignInRefused::Disabled => "disabled",
            SignInRefused::NoPassword => "no_password",
            SignInRefused::SsoOnly => "sso_only",
        }
    }
}

/// Why a sign-in, a session read or a sign-out could not be completed: Pharos's fault, not
/// the person's.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Verifying the password on the blocking pool did not finish (it panicked or the
    /// runtime is shutting down).
    #[error("verifying the password did not finish: {0}")]
    Verify(String),
}

/// A live session with its user, as [`Directory::session`] reads it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session's stored id (the SHA-256 of its cookie).
    pub id_hash: String,
    /// Its user, enabled.
    pub user: UserRecord,
    /// When it ends whatever happens.
    pub expires_at: DateTime<Utc>,
}

/// An audit record by `user` at `at`.
fn by_user(user: &UserRecord, action: &str, at: DateTime<Utc>, address: &str) -> AuditRecord {
    AuditRecord {
        at,
        actor_kind: ActorKind::User,
        actor_id: Some(user.id.clone()),
        actor_name: user.name.clone(),
        action: action.to_owned(),
        subject: Some(user.id.clone()),
        before: None,
        after: None,
        request_id: None,
        address: Some(address.to_owned()),
    }
}

/// `s` as the audit trail can keep it: at most `max` characters, NUL characters (which
/// PostgreSQL's TEXT cannot hold) replaced.
pub(super) fn audit_text(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
        .collect()
}

impl Directory {
    /// Signs `attempt` in: looks the person up by e-mail (trimmed, lowercased), verifies the
    /// password off the runtime, and on success creates a session ([`SESSION_LIFETIME`]) with
    /// the audit entry `signin` in one transaction. Every refusal writes `signin.failed`
    /// (actor anonymous, named by the e-mail as typed, cut to [`AUDIT_EMAIL_MAX_CHARS`];
    /// `after` says why). `Err` is Pharos's fault; `Ok(Err(_))` a refused sign-in.
    ///
    /// A person with a second factor gets no session here: a right password answers
    /// [`SignInStep::SecondFactor`], a sign-in waiting for its code
    /// ([`Directory::second_step`]), and nothing is audited until the code is checked.
    pub async fn sign_in(
        &self,
        attempt: SignIn<'_>,
    ) -> Result<Result<SignInStep, SignInRefused>, SignInError> {
        let email = attempt.email.trim().to_lowercase();
        let user = if email.is_empty() || email.contains('\0') {
            None
        } else {
            self.store()
                .user_by_email(&email)
                .await?
                .filter(|u| u.kind == UserKind::Person)
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let password = attempt.password.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || verify_sign_in(&password, stored.as_deref()))
                .await
                .map_err(|e| SignInError::Verify(e.to_string()))?;
        let refused = match &user {
            None => Some(SignInRefused::Mismatch),
            Some(u) if u.password_hash.is_none() => Some(SignInRefused::NoPassword),
            Some(_) if !matches => Some(SignInRefused::Mismatch),
            Some(u) if !u.is_enabled() => Some(SignInRefused::Disabled),
            Some(u) if attempt.owners_only && u.role != Role::Owner => Some(SignInRefused::SsoOnly),
            Some(_) => None,
        };
        let user = match (refused, user) {
            (None, Some(user)) => user,
            (refused, user) => {
                let reason = refused.unwrap_or(SignInRefused::Mismatch);
                self.record_failure(&attempt, user.as_ref(), reason).await?;
                return Ok(Err(reason));
            }
        };
        if user.totp_secret.is_some() {
            return match self
                .begin_second_step(
                    user.clone(),
                    attempt.address,
                    attempt.user_agent,
                    attempt.now,
                )
                .await?
            {
                Some(pending) => Ok(Ok(SignInStep::SecondFactor(pending))),
                // Disabled (or gone) between the read and the write.
                None => {
                    self.record_failure(&attempt, Some(&user), SignInRefused::Disabled)
                        .await?;
                    Ok(Err(SignInRefused::Disabled))
                }
            };
        }
        let opened = self
            .open_session(
                user,
                attempt.address,
                attempt.user_agent,
                attempt.request_id,
                attempt.now,
                None,
            )
            .await?;
        match opened {
            Ok(signed_in) => Ok(Ok(SignInStep::Session(signed_in))),
            // Disabled (or gone) between the read and the write.
            Err(user) => {
                self.record_failure(&attempt, Some(&user), SignInRefused::Disabled)
                    .await?;
                Ok(Err(SignInRefused::Disabled))
            }
        }
    }

    /// Creates a session for `user` ([`SESSION_LIFETIME`]) with the audit entry `signin` (its
    /// `after` is `after`, the way in when it is not the password) in one transaction: how
    /// every way of signing in ends. `Ok(Err(user))` when the user was disabled (or is gone)
    /// by the time of the write, and nothing was stored.
    pub(super) async fn open_session(
        &self,
        user: UserRecord,
        address: &str,
        user_agent: &str,
        request_id: Option<&str>,
        now: DateTime<Utc>,
        after: Option<String>,
    ) -> Result<Result<SignedIn, UserRecord>, StoreError> {
        let minted = mint_session();
        let session = SessionRecord {
            id_hash: minted.id_hash.clone(),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_LIFETIME,
            address: address.to_owned(),
            user_agent: user_agent.to_owned(),
        };
        let mut audit = by_user(&user, "signin", now, address);
        audit.request_id = request_id.map(str::to_owned);
        audit.after = after;
        Ok(match self.store().create_session(&session, &audit).await? {
            Ok(()) => Ok(SignedIn {
                cookie: minted.cookie,
                id_hash: minted.id_hash,
                user,
            }),
            Err(_) => Err(user),
        })
    }

    /// Writes `signin.failed` for `attempt`.
    async fn record_failure(
        &self,
        attempt: &SignIn<'_>,
        user: Option<&UserRecord>,
        reason: SignInRefused,
    ) -> Result<(), StoreError> {
        let record = AuditRecord {
            at: attempt.now,
            actor_kind: ActorKind::Anonymous,
            actor_id: None,
            actor_name: audit_text(attempt.email, AUDIT_EMAIL_MAX_CHARS),
            action: "signin.failed".to_owned(),
            subject: user.map(|u| u.id.clone()),
            before: None,
            after: Some(serde_json::json!({ "reason": reason.as_str() }).to_string()),
            request_id: attempt.request_id.map(|r| audit_text(r, 128)),
            address: Some(audit_text(attempt.address, 64)),
        };
        self.store().append_audit(&record).await.map(|_| ())
    }

    /// The live session the cookie value `cookie` names at `now`: `None` for junk, an unknown
    /// or ended session ([`SESSION_LIFETIME`], [`SESSION_IDLE`], a disabled user, signed out
    /// everywhere). Its last use is recorded at most every [`SESSION_TOUCH_EVERY`].
    pub async fn session(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveSession>, StoreError> {
        let Some(id_hash) = session_id_hash(cookie) else {
            return Ok(None);
        };
        let Some(found) = self.store().session(&id_hash, now).await? else {
            self.end_refused_session(&id_hash, now).await;
            return Ok(None);
        };
        let last_seen = found.session.last_seen_at;
        if now - last_seen >= SESSION_IDLE {
            // Ended by idleness: deleted with an entry in the trail, once, so the next request
            // with the same cookie is a stranger's.
            let mut audit = by_user(&found.user, "session.expired", now, &found.session.address);
            audit.after =
                Some(serde_json::json!({"reason": "idle", "last_seen_at": last_seen}).to_string());
            if let Err(error) = self.store().delete_session(&id_hash, &audit).await {
                tracing::warn!(%error, "an idle session could not be ended in storage");
            }
            return Ok(None);
        }
        if now - last_seen >= SESSION_TOUCH_EVERY {
            if let Err(error) = self.store().touch_session(&id_hash, now).await {
                // Bookkeeping: a failure must not refuse the request (the session may then
                // end idle a minute early).
                tracing::debug!(%error, "recording a session's last use failed");
            }
        }
        Ok(Some(LiveSession {
            id_hash,
            user: found.user,
            expires_at: found.session.expires_at,
        }))
    }

    /// A stored session refused (past its lifetime, its user disabled or signed out
    /// everywhere): deleted with `session.expired` and the reason in the trail, once, so the
    /// next request with its cookie is a stranger's. A cookie that names no session leaves
    /// nothing (a stranger's guess is not worth a line). Best effort: the refusal stands.
    async fn end_refused_session(&self, id_hash: &str, now: DateTime<Utc>) {
        let found = match self.store().ended_session(id_hash).await {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "reading a refused session failed");
                return;
            }
        };
        let reason = if found.user.disabled_at.is_some() {
            "disabled"
        } else if found.session.created_at < found.user.sessions_valid_after {
            "signed_out_everywhere"
        } else if found.session.expires_at <= now {
            "lifetime"
        } else {
            return;
        };
        let mut audit = by_user(&found.user, "session.expired", now, &found.session.address);
        audit.after = Some(serde_json::json!({"reason": reason}).to_string());
        if let Err(error) = self.store().delete_session(id_hash, &audit).await {
            tracing::warn!(%error, "a refused session could not be ended in storage");
        }
    }

    /// Ends `session` (signing out), with the audit entry `signout` by its user; answers
    /// whether it was still there.
    pub async fn sign_out(
        &self,
        session: &LiveSession,
        address: &str,
        request_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut audit = by_user(&session.user, "signout", now, address);
        audit.request_id = request_id.map(str::to_owned);
        self.store().delete_session(&session.id_hash, &audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_text_is_cut_and_keeps_no_nul() {
        assert_eq!(audit_text("a\0b", 10), "a\u{FFFD}b");
        assert_eq!(
            audit_text(&"é".repeat(300), AUDIT_EMAIL_MAX_CHARS)
                .chars()
                .count(),
            254
        );
    }
}
