//! The second factor, as a person meets it: setting TOTP up from their account page
//! ([`Directory::start_totp`], [`Directory::confirm_totp`]), turning it off and making new
//! recovery codes (each proven with a current code or the password), and the sign-in's second
//! step ([`Directory::second_step`]) after a right password ([`SignInStep::SecondFactor`]).
//!
//! - **The secret never rests in clear.** It is sealed ([`super::seal`]) under the key kept
//!   outside the database ([`SealKey`]) from the moment it is made: while being set up it is
//!   kept sealed on the session that started the setup, and only a right code moves it to the
//!   person's record. Without a key, setup is refused ([`SetupRefused::NoKey`]); with a
//!   different key than the one that sealed a secret, the code cannot be checked and the
//!   sign-in is refused ([`SecondRefused::Unavailable`], logged as an error) — never let
//!   through.
//! - **A code is good once.** The step a code matched is recorded ([`pharos_store::Store::advance_totp_step`],
//!   one conditional `UPDATE`): the same code, or an older one, is refused afterwards, the
//!   code that confirmed the setup included. A recovery code is used up with the session it
//!   opens, in one transaction.
//! - **A pending sign-in is short and single.** It lasts [`PENDING_SIGNIN_LIFETIME`], is
//!   named by a cookie whose SHA-256 is stored (as a session's), and completing it deletes it
//!   in the transaction that creates the session.
//! - Every change is audited with it (`totp.enable`, `totp.disable`, `recovery.regenerate`);
//!   a refused code leaves `signin.failed` with the reason `totp`, a completed sign-in
//!   `signin` with `second_factor`.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use pharos_store::{
    ActorKind, AuditRecord, PendingSignInRecord, SessionRecord, StoreError, TotpEnable, UserRecord,
};

use super::directory::Directory;
use super::password::verify_password;
use super::recovery::{mint_recovery_codes, recovery_code_hash, RecoveryCodes};
use super::seal::{open, seal, SealKey};
use super::session::{mint_session, session_id_hash};
use super::signin::{SignInError, SignedIn, SESSION_LIFETIME};
use super::totp::{CodeRefused, TotpSecret};

/// How long a sign-in waits for its second factor after the right password.
pub const PENDING_SIGNIN_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// What a person is told when setup is refused for want of a key; the operator's part.
pub const NO_KEY_MESSAGE: &str = "Two-step sign-in cannot be set up: this Pharos has no \
     sealing key. An administrator sets one with `[console] secret_key_file` in the \
     configuration file (a file of 32 random bytes, or 64 hex digits: `openssl rand -hex 32`) \
     or the environment variable PHAROS_SECRET_KEY, then restarts Pharos.";

/// What a right password leads to.
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in: the person has no second factor.
    Session(SignedIn),
    /// A code is still due: no session yet.
    SecondFactor(PendingSignIn),
}

/// A sign-in waiting for its code.
pub struct PendingSignIn {
    /// The cookie's value naming it; sent to the browser once, never stored or logged.
    pub cookie: String,
    /// Who is signing in.
    pub user: UserRecord,
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("cookie", &"[redacted]")
            .field("user", &self.user.id)
            .finish()
    }
}

/// A secret being set up, to show the person: as base32 and as an `otpauth://` URI.
pub struct TotpSetup {
    /// The secret in base32, for typing into an app.
    pub base32: String,
    /// The `otpauth://` URI, for a QR code.
    pub uri: String,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSetup([redacted])")
    }
}

/// Why setting the second factor up was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupRefused {
    /// No sealing key is configured.
    #[error("{NO_KEY_MESSAGE}")]
    NoKey,
    /// The person already has a second factor.
    #[error("two-step sign-in is already on")]
    AlreadyOn,
    /// No setup was started on this session (or it was replaced, or the key changed).
    #[error("no setup is in progress: start again")]
    NotStarted,
    /// The person has no e-mail address for the authenticator app to name them by.
    #[error("an account without an e-mail address cannot set up an authenticator app")]
    NoEmail,
    /// The code does not match the secret being set up.
    #[error("that code does not match: check the app's clock and type the code it shows now")]
    WrongCode,
}

/// Why a change that needs proof (a current code or the password) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefused {
    /// The person has no second factor to turn off or make codes for.
    #[error("two-step sign-in is not on")]
    NotOn,
    /// Neither a current code nor the password.
    #[error("that is neither a current code from the app nor the password")]
    Wrong,
}

/// Why the second step of a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecondRefused {
    /// The pending sign-in is unknown, expired or already completed: sign in again.
    #[error("the sign-in expired")]
    Expired,
    /// The code is wrong, used already, or not a code; or the recovery code is unknown or
    /// used.
    #[error("wrong code")]
    Wrong,
    /// TOTP codes cannot be checked: no key, or the key does not open the secret. Logged.
    #[error(
        "codes cannot be checked: the sealing key is missing or not the one that sealed the secret"
    )]
    Unavailable,
}

/// One second-step attempt, as the web layer read it.
#[derive(Clone)]
pub struct SecondStep<'a> {
    /// The pending sign-in's cookie.
    pub cookie: &'a str,
    /// What was typed: six digits, or a recovery code.
    pub code: &'a str,
    /// The client's address.
    pub address: &'a str,
    /// The client's user agent.
    pub user_agent: &'a str,
    /// The request's id, for the audit trail.
    pub request_id: Option<&'a str>,
    /// When.
    pub now: DateTime<Utc>,
}

impl fmt::Debug for SecondStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecondStep")
            .field("code", &"[redacted]")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Whether `entered` has the shape of a TOTP code (six digits, spaces aside) rather than a
/// recovery code.
fn looks_like_totp(entered: &str) -> bool {
    let digits: Vec<char> = entered.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == super::totp::TOTP_DIGITS && digits.iter().all(char::is_ascii_digit)
}

impl Directory {
    /// Whether a sealing key is configured (so the second factor can be set up).
    pub fn can_seal(&self) -> bool {
        self.seal_key().is_some()
    }

    /// The sealing key as an owned handle, or `SetupRefused::NoKey`.
    fn key(&self) -> Result<&SealKey, SetupRefused> {
        self.seal_key().ok_or(SetupRefused::NoKey)
    }

    /// The person's TOTP secret, opened; `None` (logged as an error) when there is none, no
    /// key, or the key does not open it.
    fn open_secret(&self, user: &UserRecord) -> Option<TotpSecret> {
        let sealed = user.totp_secret.as_deref()?;
        let Some(key) = self.seal_key() else {
            tracing::error!(
                user = %user.id,
                "a TOTP code cannot be checked: no sealing key is configured ([console] \
                 secret_key_file or PHAROS_SECRET_KEY); refused"
            );
            return None;
        };
        match open(key.bytes(), sealed).map(|bytes| TotpSecret::from_bytes(&bytes)) {
            Ok(Ok(secret)) => Some(secret),
            Ok(Err(error)) => {
                tracing::error!(user = %user.id, %error, "a stored TOTP secret is not usable; refused");
                None
            }
            Err(error) => {
                tracing::error!(
                    user = %user.id,
                    %error,
                    "a TOTP secret does not open with the configured sealing key (was the key \
                     changed?); the code is refused"
                );
                None
            }
        }
    }

    /// Starts setting up TOTP for the person of `session`: a new secret, kept sealed on the
    /// session (replacing any setup begun before), shown as [`TotpSetup`].
    pub async fn start_totp(
        &self,
        session_id_hash: &str,
        user: &UserRecord,
        page_name: &str,
    ) -> Result<Result<TotpSetup, SetupRefused>, StoreError> {
        let key = match self.key() {
            Ok(k) => k,
            Err(r) => return Ok(Err(r)),
        };
        if user.totp_secret.is_some() {
            return Ok(Err(SetupRefused::AlreadyOn));
        }
        let Some(email) = user.email.as_deref() else {
            return Ok(Err(SetupRefused::NoEmail));
        };
        let secret = TotpSecret::generate();
        let Ok(uri) = secret.otpauth_uri(page_name, email) else {
            return Ok(Err(SetupRefused::NoEmail));
        };
        let sealed = seal(key.bytes(), secret.as_bytes());
        if !self
            .store()
            .set_totp_pending(session_id_hash, Some(&sealed))
            .await?
        {
            return Ok(Err(SetupRefused::NotStarted));
        }
        Ok(Ok(TotpSetup {
            base32: secret.to_base32(),
            uri,
        }))
    }

    /// The secret being set up on the session, opened, to show again (after a wrong code).
    pub async fn pending_totp(
        &self,
        session_id_hash: &str,
        user: &UserRecord,
        page_name: &str,
    ) -> Result<Option<TotpSetup>, StoreError> {
        Ok(self
            .pending_secret(session_id_hash)
            .await?
            .and_then(|(secret, _)| {
                let uri = secret
                    .otpauth_uri(page_name, user.email.as_deref().unwrap_or_default())
                    .ok()?;
                Some(TotpSetup {
                    base32: secret.to_base32(),
                    uri,
                })
            }))
    }

    /// The pending secret of a session, opened, with its sealed text.
    async fn pending_secret(
        &self,
        session_id_hash: &str,
    ) -> Result<Option<(TotpSecret, String)>, StoreError> {
        let Some(key) = self.seal_key() else {
            return Ok(None);
        };
        let Some(sealed) = self.store().totp_pending(session_id_hash).await? else {
            return Ok(None);
        };
        Ok(open(key.bytes(), &sealed)
            .ok()
            .and_then(|bytes| TotpSecret::from_bytes(&bytes).ok())
            .map(|secret| (secret, sealed)))
    }

    /// Confirms the setup on the session with `code`: on a right code the second factor is
    /// on, with ten new recovery codes (returned to show once), and `audit` (`totp.enable`;
    /// subject, `before` and `after` filled in here) is written with it.
    pub async fn confirm_totp(
        &self,
        session_id_hash: &str,
        user: &UserRecord,
        code: &str,
        mut audit: AuditRecord,
    ) -> Result<Result<RecoveryCodes, SetupRefused>, StoreError> {
        if let Err(r) = self.key() {
            return Ok(Err(r));
        }
        if user.totp_secret.is_some() {
            return Ok(Err(SetupRefused::AlreadyOn));
        }
        let Some((secret, sealed)) = self.pending_secret(session_id_hash).await? else {
            return Ok(Err(SetupRefused::NotStarted));
        };
        let Ok(step) = secret.verify(code, audit.at, None) else {
            return Ok(Err(SetupRefused::WrongCode));
        };
        let codes = mint_recovery_codes();
        audit.subject = Some(user.id.clone());
        audit.before = Some(serde_json::json!({ "totp": false }).to_string());
        audit.after = Some(
            serde_json::json!({ "totp": true, "recovery_codes": codes.hashes.len() }).to_string(),
        );
        let change = TotpEnable {
            user_id: &user.id,
            session_id_hash,
            sealed: &sealed,
            step: i64::try_from(step).unwrap_or(i64::MAX),
            code_hashes: &codes.hashes,
        };
        if self.store().enable_totp(&change, audit.at, &audit).await? {
            Ok(Ok(codes))
        } else {
            Ok(Err(SetupRefused::NotStarted))
        }
    }

    /// Whether `proof` is a current code of `user`'s second factor (recorded as used) or
    /// their password.
    async fn proven(
        &self,
        user: &UserRecord,
        proof: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, SignInError> {
        if looks_like_totp(proof) {
            let Some(secret) = self.open_secret(user) else {
                return Ok(false);
            };
            let last = user.totp_last_step.and_then(|s| u64::try_from(s).ok());
            return match secret.verify(proof, now, last) {
                Ok(step) => Ok(self
                    .store()
                    .advance_totp_step(&user.id, i64::try_from(step).unwrap_or(i64::MAX))
                    .await?),
                Err(_) => Ok(false),
            };
        }
        let Some(hash) = user.password_hash.clone() else {
            return Ok(false);
        };
        let password = proof.to_owned();
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| SignInError::Verify(e.to_string()))
    }

    /// Turns `user`'s second factor off, proven by `proof` (a current code or the password),
    /// with `audit` (`totp.disable`; filled in here).
    pub async fn disable_totp(
        &self,
        user: &UserRecord,
        proof: &str,
        mut audit: AuditRecord,
    ) -> Result<Result<(), ProofRefused>, SignInError> {
        if user.totp_secret.is_none() {
            return Ok(Err(ProofRefused::NotOn));
        }
        if !self.proven(user, proof, audit.at).await? {
            return Ok(Err(ProofRefused::Wrong));
        }
        audit.subject = Some(user.id.clone());
        audit.before = Some(serde_json::json!({ "totp": true }).to_string());
        audit.after = Some(serde_json::json!({ "totp": false, "recovery_codes": 0 }).to_string());
        if self
            .store()
            .disable_totp(&user.id, audit.at, &audit)
            .await?
        {
            Ok(Ok(()))
        } else {
            Ok(Err(ProofRefused::NotOn))
        }
    }

    /// Replaces `user`'s recovery codes by ten new ones (returned to show once), proven by
    /// `proof`, with `audit` (`recovery.regenerate`; filled in here).
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserRecord,
        proof: &str,
        mut audit: AuditRecord,
    ) -> Result<Result<RecoveryCodes, ProofRefused>, SignInError> {
        if user.totp_secret.is_none() {
            return Ok(Err(ProofRefused::NotOn));
        }
        if !self.proven(user, proof, audit.at).await? {
            return Ok(Err(ProofRefused::Wrong));
        }
        let codes = mint_recovery_codes();
        let left = self.recovery_codes_left(&user.id).await?;
        audit.subject = Some(user.id.clone());
        audit.before = Some(serde_json::json!({ "recovery_codes": left }).to_string());
        audit.after = Some(serde_json::json!({ "recovery_codes": codes.hashes.len() }).to_string());
        match self
            .store()
            .set_recovery_codes(&user.id, &codes.hashes, audit.at, &audit)
            .await?
        {
            Ok(()) => Ok(Ok(codes)),
            Err(_) => Ok(Err(ProofRefused::NotOn)),
        }
    }

    /// How many of user `id`'s recovery codes are unused.
    pub async fn recovery_codes_left(&self, id: &str) -> Result<usize, StoreError> {
        Ok(self
            .store()
            .recovery_codes(id)
            .await?
            .iter()
            .filter(|c| c.used_at.is_none())
            .count())
    }

    /// Stores a sign-in of `user` waiting for its code, from `address`.
    pub(super) async fn begin_second_step(
        &self,
        user: UserRecord,
        address: &str,
        user_agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let minted = mint_session();
        let pending = PendingSignInRecord {
            id_hash: minted.id_hash,
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + PENDING_SIGNIN_LIFETIME,
            address: address.to_owned(),
            user_agent: user_agent.to_owned(),
        };
        Ok(match self.store().create_pending_signin(&pending).await? {
            Ok(()) => Some(PendingSignIn {
                cookie: minted.cookie,
                user,
            }),
            Err(_) => None,
        })
    }

    /// The person a pending sign-in's cookie names at `now`, while it waits (enabled, with a
    /// second factor): `None` otherwise.
    pub async fn pending_signin(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let Some(id_hash) = session_id_hash(cookie) else {
            return Ok(None);
        };
        let Some(pending) = self.store().pending_signin(&id_hash, now).await? else {
            return Ok(None);
        };
        Ok(self
            .store()
            .user(&pending.user_id)
            .await?
            .filter(|u| u.is_enabled() && u.totp_secret.is_some()))
    }

    /// Completes a sign-in with its second factor: a TOTP code (six digits; the step is
    /// recorded, so it is good once) or a recovery code (used up). On success the session is
    /// created with `signin` (`second_factor`: `totp` or `recovery`) and the pending sign-in
    /// deleted, in one transaction. A wrong code writes `signin.failed` with the reason
    /// `totp` and keeps the pending sign-in for another try (the caller limits tries).
    pub async fn second_step(
        &self,
        attempt: SecondStep<'_>,
    ) -> Result<Result<SignedIn, SecondRefused>, SignInError> {
        let Some(id_hash) = session_id_hash(attempt.cookie) else {
            return Ok(Err(SecondRefused::Expired));
        };
        let Some(pending) = self.store().pending_signin(&id_hash, attempt.now).await? else {
            return Ok(Err(SecondRefused::Expired));
        };
        let Some(user) = self
            .store()
            .user(&pending.user_id)
            .await?
            .filter(|u| u.is_enabled() && u.totp_secret.is_some())
        else {
            return Ok(Err(SecondRefused::Expired));
        };
        let (method, recovery_hash) = if looks_like_totp(attempt.code) {
            let Some(secret) = self.open_secret(&user) else {
                self.record_code_failure(&attempt, &user, "totp", "unavailable")
                    .await?;
                return Ok(Err(SecondRefused::Unavailable));
            };
            let last = user.totp_last_step.and_then(|s| u64::try_from(s).ok());
            let accepted = match secret.verify(attempt.code, attempt.now, last) {
                Ok(step) => {
                    self.store()
                        .advance_totp_step(&user.id, i64::try_from(step).unwrap_or(i64::MAX))
                        .await?
                }
                Err(CodeRefused::Replayed) => {
                    self.record_code_failure(&attempt, &user, "totp", "replayed")
                        .await?;
                    return Ok(Err(SecondRefused::Wrong));
                }
                Err(_) => false,
            };
            if !accepted {
                self.record_code_failure(&attempt, &user, "totp", "wrong")
                    .await?;
                return Ok(Err(SecondRefused::Wrong));
            }
            ("totp", None)
        } else {
            let Some(hash) = recovery_code_hash(attempt.code) else {
                self.record_code_failure(&attempt, &user, "recovery", "malformed")
                    .await?;
                return Ok(Err(SecondRefused::Wrong));
            };
            ("recovery", Some(hash))
        };
        let minted = mint_session();
        let session = SessionRecord {
            id_hash: minted.id_hash.clone(),
            user_id: user.id.clone(),
            created_at: attempt.now,
            last_seen_at: attempt.now,
            expires_at: attempt.now + SESSION_LIFETIME,
            address: attempt.address.to_owned(),
            user_agent: attempt.user_agent.to_owned(),
        };
        let audit = AuditRecord {
            at: attempt.now,
            actor_kind: ActorKind::User,
            actor_id: Some(user.id.clone()),
            actor_name: user.name.clone(),
            action: "signin".to_owned(),
            subject: Some(user.id.clone()),
            before: None,
            after: Some(serde_json::json!({ "second_factor": method }).to_string()),
            request_id: attempt.request_id.map(str::to_owned),
            address: Some(attempt.address.to_owned()),
        };
        let done = self
            .store()
            .complete_pending_signin(&id_hash, &session, recovery_hash.as_deref(), &audit)
            .await?;
        if !done {
            if method == "recovery" {
                self.record_code_failure(&attempt, &user, "recovery", "wrong")
                    .await?;
                return Ok(Err(SecondRefused::Wrong));
            }
            // The pending sign-in went (completed by a request at the same time, or expired).
            return Ok(Err(SecondRefused::Expired));
        }
        Ok(Ok(SignedIn {
            cookie: minted.cookie,
            id_hash: minted.id_hash,
            user,
        }))
    }

    /// Writes `signin.failed` (reason `totp`) for a refused second step.
    async fn record_code_failure(
        &self,
        attempt: &SecondStep<'_>,
        user: &UserRecord,
        method: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let record = AuditRecord {
            at: attempt.now,
            actor_kind: ActorKind::Anonymous,
            actor_id: None,
            actor_name: user.email.clone().unwrap_or_else(|| user.name.clone()),
            action: "signin.failed".to_owned(),
            subject: Some(user.id.clone()),
            before: None,
            after: Some(
                serde_json::json!({ "reason": "totp", "method": method, "detail": why })
                    .to_string(),
            ),
            request_id: attempt.request_id.map(|r| r.chars().take(128).collect()),
            address: Some(attempt.address.chars().take(64).collect()),
        };
        self.store().append_audit(&record).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_a_totp_code_anything_else_a_recovery_code() {
        assert!(looks_like_totp("123456"));
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("12345"));
        assert!(!looks_like_totp("abcd-2345-xy"));
        assert!(!looks_like_totp("1234567"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let setup = TotpSetup {
            base32: "GEZDGNBV".into(),
            uri: "otpauth://totp/x?secret=GEZDGNBV".into(),
        };
        assert!(!format!("{setup:?}").contains("GEZ"));
        let step = SecondStep {
            cookie: "c00kie",
            code: "123456",
            address: "192.0.2.1",
            user_agent: "",
            request_id: None,
            now: Utc::now(),
        };
        let debug = format!("{step:?}");
        assert!(
            !debug.contains("123456") && !debug.contains("c00kie"),
            "{debug}"
        );
        assert!(SetupRefused::NoKey.to_string().contains("secret_key_file"));
        assert!(SetupRefused::NoKey
            .to_string()
            .contains("PHAROS_SECRET_KEY"));
    }

    /// An audit record by Ada at `now`.
    fn by_ada(action: &str, now: DateTime<Utc>) -> AuditRecord {
        AuditRecord {
            at: now,
            actor_kind: ActorKind::User,
            actor_id: Some("usr_ada".into()),
            actor_name: "Ada".into(),
            action: action.into(),
            subject: None,
            before: None,
            after: None,
            request_id: None,
            address: None,
        }
    }

    fn attempt<'a>(cookie: &'a str, code: &'a str, now: DateTime<Utc>) -> SecondStep<'a> {
        SecondStep {
            cookie,
            code,
            address: "192.0.2.1",
            user_agent: "test",
            request_id: None,
            now,
        }
    }

    /// The whole flow against a real (in-memory SQLite) store: setup refused without a key,
    /// set up with one, the password then leading to a pending sign-in, codes good once, a
    /// recovery code used up, and another key refusing app codes.
    #[tokio::test]
    async fn set_up_then_sign_in_with_a_code_once() {
        use crate::people::{hash_password, SignIn};
        use pharos_domain::access::Role;
        use pharos_store::{Store, UserKind};
        use std::sync::Arc;

        let store = Store::connect("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let ada = UserRecord {
            email: Some("ada@example.com".into()),
            password_hash: Some(hash_password("correct horse battery").unwrap()),
            ..UserRecord::new("usr_ada", UserKind::Person, "Ada", Role::Owner, now)
        };
        store
            .add_user(&ada, &by_ada("user.add", now))
            .await
            .unwrap()
            .unwrap();
        let password = |now| SignIn {
            email: "ada@example.com",
            password: "correct horse battery",
            address: "192.0.2.1",
            user_agent: "test",
            request_id: None,
            now,
            owners_only: false,
        };
        let keyless = Directory::new(store.clone());
        let key = Arc::new(SealKey::from_bytes([7; 32]));
        let directory = Directory::new(store.clone()).with_seal_key(Some(key));
        let Ok(Ok(SignInStep::Session(session))) = directory.sign_in(password(now)).await else {
            panic!("no second factor yet: a session");
        };
        assert_eq!(
            keyless
                .start_totp(&session.id_hash, &ada, "Acme")
                .await
                .unwrap()
                .unwrap_err(),
            SetupRefused::NoKey
        );
        let setup = directory
            .start_totp(&session.id_hash, &ada, "Acme")
            .await
            .unwrap()
            .unwrap();
        let shown = directory
            .pending_totp(&session.id_hash, &ada, "Acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(shown.base32, setup.base32);
        let secret = TotpSecret::from_base32(&setup.base32).unwrap();
        let wrong = if secret.code_at(now) == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert_eq!(
            directory
                .confirm_totp(&session.id_hash, &ada, wrong, by_ada("totp.enable", now))
                .await
                .unwrap()
                .unwrap_err(),
            SetupRefused::WrongCode
        );
        let codes = directory
            .confirm_totp(
                &session.id_hash,
                &ada,
                &secret.code_at(now),
                by_ada("totp.enable", now),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(codes.shown_once.len(), 10);

        // The password alone: a pending sign-in, no session.
        let Ok(Ok(SignInStep::SecondFactor(pending))) = directory.sign_in(password(now)).await
        else {
            panic!("a code is due");
        };
        assert!(directory
            .pending_signin(&pending.cookie, now)
            .await
            .unwrap()
            .is_some());
        // The confirming code is spent; the next step's works once.
        let spent = secret.code_at(now);
        assert_eq!(
            directory
                .second_step(attempt(&pending.cookie, &spent, now))
                .await
                .unwrap()
                .unwrap_err(),
            SecondRefused::Wrong
        );
        let next = secret.code_at(now + TimeDelta::seconds(30));
        let signed = directory
            .second_step(attempt(&pending.cookie, &next, now))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(signed.user.id, "usr_ada");
        assert_eq!(
            directory
                .second_step(attempt(&pending.cookie, &next, now))
                .await
                .unwrap()
                .unwrap_err(),
            SecondRefused::Expired,
            "the pending sign-in is good once"
        );
        // After five minutes it has expired.
        let Ok(Ok(SignInStep::SecondFactor(late))) = directory.sign_in(password(now)).await else {
            panic!("a code is due");
        };
        let later = now + PENDING_SIGNIN_LIFETIME;
        assert_eq!(
            directory
                .second_step(attempt(&late.cookie, &codes.shown_once[0], later))
                .await
                .unwrap()
                .unwrap_err(),
            SecondRefused::Expired
        );

        // Another key cannot check app codes; a recovery code still signs in, once.
        let other = Directory::new(store.clone())
            .with_seal_key(Some(Arc::new(SealKey::from_bytes([8; 32]))));
        let Ok(Ok(SignInStep::SecondFactor(pending))) = other.sign_in(password(now)).await else {
            panic!("a code is due");
        };
        let later_code = secret.code_at(now + TimeDelta::seconds(30));
        assert_eq!(
            other
                .second_step(attempt(&pending.cookie, &later_code, now))
                .await
                .unwrap()
                .unwrap_err(),
            SecondRefused::Unavailable
        );
        let code = &codes.shown_once[2];
        assert!(other
            .second_step(attempt(&pending.cookie, code, now))
            .await
            .unwrap()
            .is_ok());
        let Ok(Ok(SignInStep::SecondFactor(pending))) = other.sign_in(password(now)).await else {
            panic!("a code is due");
        };
        assert_eq!(
            other
                .second_step(attempt(&pending.cookie, code, now))
                .await
                .unwrap()
                .unwrap_err(),
            SecondRefused::Wrong
        );
        assert_eq!(directory.recovery_codes_left("usr_ada").await.unwrap(), 9);

        // Turning it off needs a proof.
        let user = store.user("usr_ada").await.unwrap().unwrap();
        assert_eq!(
            directory
                .disable_totp(&user, "guess", by_ada("totp.disable", now))
                .await
                .unwrap(),
            Err(ProofRefused::Wrong)
        );
        assert_eq!(
            directory
                .disable_totp(&user, "correct horse battery", by_ada("totp.disable", now))
                .await
                .unwrap(),
            Ok(())
        );
        assert!(matches!(
            directory.sign_in(password(now)).await,
            Ok(Ok(SignInStep::Session(_)))
        ));
    }
}
