//! The responders' console: people and service accounts, their one-time recovery codes,
//! console sessions and API tokens.
//!
//! Every change here is written in one transaction with the [`AuditRecord`] the caller
//! describes it by, so a change and its audit entry are stored together or not at all; a
//! change refused (a [`PeopleConflict`], bad input, a deposed leader's fence) writes neither.
//! Three bookkeeping writes take no entry: a session's and a token's last use
//! ([`Store::touch_session`], [`Store::touch_api_token`], single `UPDATE`s the caller
//! throttles) and the last TOTP step accepted ([`Store::advance_totp_step`], a step of a
//! sign-in that is audited as a whole). Each write carries the leader's fence, as the batch
//! does.
//!
//! The store never sees a secret in clear: passwords arrive as PHC strings, TOTP secrets as
//! sealed blobs, recovery codes hashed, and sessions and tokens by the SHA-256 of their secret.
//!
//! Rules kept in the database transaction, so two requests at once cannot break them:
//!
//! - the last enabled owner (a person) can be neither demoted nor disabled
//!   ([`PeopleConflict::LastOwner`]); on PostgreSQL the enabled owners' rows are locked first,
//!   so two owners demoting each other at once leave one;
//! - an e-mail address or an SSO subject names at most one user
//!   ([`PeopleConflict::DuplicateEmail`], [`PeopleConflict::DuplicateSsoSubject`]);
//! - people are disabled, never deleted, so the audit trail keeps naming them; disabling one
//!   ends their sessions.
//!
//! A session is read with its user ([`Store::session`]) and is absent once expired, once its
//! user is disabled, or when it was created before the user's `sessions_valid_after`
//! ([`Store::sign_out_everywhere`]). Expired sessions are deleted by [`Store::prune`].

use chrono::{DateTime, Utc};

use crate::audit::{check_audit, insert_audit};
use crate::error::OpError;
use crate::model::AuditRecord;
use crate::sql::{from_ms, from_opt_ms, ms};
use crate::{Result, Store};
use pharos_domain::access::{Role, Scope};

/// The most characters of a session's user agent the store keeps; the rest is cut off.
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// Whether a user is a person or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// Someone who signs in to the console.
    Person,
    /// An account that only owns API tokens, so they outlive the people who made them. It has
    /// no e-mail, password, TOTP secret or SSO subject.
    Service,
}

impl UserKind {
    /// Both kinds.
    pub const ALL: [UserKind; 2] = [UserKind::Person, UserKind::Service];

    /// Storage form: `"person"` or `"service"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Person => "person",
            UserKind::Service => "service",
        }
    }

    /// The kind whose [`as_str`](UserKind::as_str) is `s`, if any.
    pub fn parse(s: &str) -> Option<UserKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A person or service account as stored. Times are stored as unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable id, `usr_…`, chosen by the caller.
    pub id: String,
    /// Person or service account.
    pub kind: UserKind,
    /// The e-mail address, lowercased by the caller; unique among users. `None` for service
    /// accounts.
    pub email: Option<String>,
    /// Display name.
    pub name: String,
    /// IANA time zone name the console shows times in (`UTC` by default).
    pub time_zone: String,
    /// What the user may do.
    pub role: Role,
    /// The password as a PHC string (argon2id); `None` for SSO-only people and service
    /// accounts.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed by the caller (the store never sees it in clear); `None` when
    /// the user has no second factor.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted, so a code is never accepted twice
    /// ([`Store::advance_totp_step`]).
    pub totp_last_step: Option<i64>,
    /// The SSO identity, `"issuer|sub"`; unique among users.
    pub sso_subject: Option<String>,
    /// Sessions created before this are dead ([`Store::sign_out_everywhere`]).
    pub sessions_valid_after: DateTime<Utc>,
    /// When the user was added.
    pub created_at: DateTime<Utc>,
    /// When the user was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user was disabled; `None` while enabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl UserRecord {
    /// A new enabled user added at `at`, with no e-mail, password, second factor or SSO
    /// identity, in `UTC`, whose sessions are all valid so far.
    pub fn new(
        id: impl Into<String>,
        kind: UserKind,
        name: impl Into<String>,
        role: Role,
        at: DateTime<Utc>,
    ) -> UserRecord {
        UserRecord {
            id: id.into(),
            kind,
            email: None,
            name: name.into(),
            time_zone: "UTC".to_owned(),
            role,
            password_hash: None,
            totp_secret: None,
            totp_last_step: None,
            sso_subject: None,
            sessions_valid_after: DateTime::<Utc>::UNIX_EPOCH,
            created_at: at,
            updated_at: at,
            disabled_at: None,
        }
    }

    /// Whether the user is enabled (not disabled).
    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }

    /// Whether this is an enabled person with the owner role: one of those the last-owner
    /// guard counts.
    fn is_enabled_owner(&self) -> bool {
        self.kind == UserKind::Person && self.role == Role::Owner && self.is_enabled()
    }
}

/// What [`Store::update_user`] changes; `None` leaves a field as it is, and for the fields
/// that may be empty, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// A new e-mail address (lowercased), or `Some(None)` to remove it.
    pub email: Option<Option<String>>,
    /// A new display name.
    pub name: Option<String>,
    /// A new IANA time zone name.
    pub time_zone: Option<String>,
    /// A new role (refused for the last enabled owner unless it stays `Owner`).
    pub role: Option<Role>,
    /// A new password hash, or `Some(None)` to remove the password.
    pub password_hash: Option<Option<String>>,
    /// A new sealed TOTP secret, or `Some(None)` to remove the second factor; either resets
    /// the last accepted step.
    pub totp_secret: Option<Option<String>>,
    /// A new SSO identity, or `Some(None)` to unlink it.
    pub sso_subject: Option<Option<String>>,
    /// `Some(true)` disables the user (keeping the first time it was disabled) and ends their
    /// sessions; `Some(false)` enables them again.
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// `user` with this patch applied at `at`.
    fn apply(&self, user: &UserRecord, at: DateTime<Utc>) -> UserRecord {
        let mut out = user.clone();
        if let Some(email) = &self.email {
            out.email.clone_from(email);
        }
        if let Some(name) = &self.name {
            out.name.clone_from(name);
        }
        if let Some(zone) = &self.time_zone {
            out.time_zone.clone_from(zone);
        }
        if let Some(role) = self.role {
            out.role = role;
        }
        if let Some(hash) = &self.password_hash {
            out.password_hash.clone_from(hash);
        }
        if let Some(secret) = &self.totp_secret {
            out.totp_secret.clone_from(secret);
            out.totp_last_step = None;
        }
        if let Some(subject) = &self.sso_subject {
            out.sso_subject.clone_from(subject);
        }
        match self.disabled {
            Some(true) => out.disabled_at = Some(user.disabled_at.unwrap_or(at)),
            Some(false) => out.disabled_at = None,
            None => {}
        }
        out.updated_at = at;
        out
    }

    fn texts(&self) -> impl Iterator<Item = &str> {
        [
            self.email.as_ref().and_then(Option::as_deref),
            self.name.as_deref(),
            self.time_zone.as_deref(),
            self.password_hash.as_ref().and_then(Option::as_deref),
            self.totp_secret.as_ref().and_then(Option::as_deref),
            self.sso_subject.as_ref().and_then(Option::as_deref),
        ]
        .into_iter()
        .flatten()
    }
}

/// One of a user's one-time recovery codes, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    /// The user it belongs to.
    pub user_id: String,
    /// The code, hashed by the caller.
    pub code_hash: String,
    /// When the set it belongs to was made.
    pub created_at: DateTime<Utc>,
    /// When it was used; `None` while it can still be.
    pub used_at: Option<DateTime<Utc>>,
}

/// A console session as stored. Times are stored as unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The SHA-256 (hex) of the cookie's secret; the secret itself is never stored.
    pub id_hash: String,
    /// Whose session it is.
    pub user_id: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When the session was last used ([`Store::touch_session`]).
    pub last_seen_at: DateTime<Utc>,
    /// When it ends, whatever happens.
    pub expires_at: DateTime<Utc>,
    /// The client's address at sign-in.
    pub address: String,
    /// The client's user agent at sign-in, cut to [`USER_AGENT_MAX_CHARS`] characters.
    pub user_agent: String,
}

/// A live session with its user, as [`Store::session`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWithUser {
    /// The session.
    pub session: SessionRecord,
    /// Its user, enabled.
    pub user: UserRecord,
}

/// An API token as stored: `pht_<id>_<secret>`, of which only the id and the secret's hash
/// are kept. Times are stored as unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// The public part of the token, chosen by the caller.
    pub id: String,
    /// The SHA-256 (hex) of the secret part.
    pub secret_hash: String,
    /// What the token is for, as its creator named it.
    pub name: String,
    /// The user it acts for: a person or a service account.
    pub owner_id: String,
    /// Who created it: a user id, or a configuration token's name.
    pub created_by: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working by itself; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used, as recorded by [`Store::touch_api_token`].
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `None` while it was not.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiTokenRecord {
    /// Whether the token itself may be used at `now`: not revoked and not expired. Whether
    /// its owner may still act is the owner's record's business ([`TokenWithOwner`]).
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }
}

/// An API token with the user it acts for, as [`Store::api_token`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenWithOwner {
    /// The token, revoked or expired ones included.
    pub token: ApiTokenRecord,
    /// Its owner, disabled or not.
    pub owner: UserRecord,
}

/// Why a people, session or token write stored nothing (and wrote no audit entry), though
/// the database was fine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleConflict {
    /// A user, session or token with this id is already stored.
    #[error("{0:?} is already taken")]
    DuplicateId(String),
    /// Another user has this e-mail address.
    #[error("another user has the e-mail address {0:?}")]
    DuplicateEmail(String),
    /// Another user is linked to this SSO identity.
    #[error("another user is linked to the SSO identity {0:?}")]
    DuplicateSsoSubject(String),
    /// No user has this id.
    #[error("no user with id {0:?}")]
    UnknownUser(String),
    /// The user is disabled.
    #[error("user {0:?} is disabled")]
    UserDisabled(String),
    /// The change would leave no enabled owner: this user is the last.
    #[error("user {0:?} is the last enabled owner: make another person owner first")]
    LastOwner(String),
    /// No API token has this id.
    #[error("no API token with id {0:?}")]
    UnknownToken(String),
}

// ---- rows ------------------------------------------------------------------------------

/// The user columns, in the order of [`UserRow`], of the table aliased `u`.
const USER_COLUMNS: &str = "u.id, u.kind, u.email, u.name, u.time_zone, u.role, \
     u.password_hash, u.totp_secret, u.totp_last_step, u.sso_subject, u.sessions_valid_after, \
     u.created_at, u.updated_at, u.disabled_at";

/// The session columns of the table aliased `s`, renamed `s_…` for [`SessionRow`].
const SESSION_COLUMNS: &str = "s.id_hash AS s_id_hash, s.user_id AS s_user_id, \
     s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, \
     s.expires_at AS s_expires_at, s.address AS s_address, s.user_agent AS s_user_agent";

/// The token columns of the table aliased `t`, renamed `t_…` for [`TokenRow`].
const TOKEN_COLUMNS: &str = "t.id AS t_id, t.secret_hash AS t_secret_hash, t.name AS t_name, \
     t.owner_id AS t_owner_id, t.created_by AS t_created_by, t.scope AS t_scope, \
     t.created_at AS t_created_at, t.expires_at AS t_expires_at, \
     t.last_used_at AS t_last_used_at, t.revoked_at AS t_revoked_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    kind: String,
    email: Option<String>,
    name: String,
    time_zone: String,
    role: String,
    password_hash: Option<String>,
    totp_secret: Option<String>,
    totp_last_step: Option<i64>,
    sso_subject: Option<String>,
    sessions_valid_after: i64,
    created_at: i64,
    updated_at: i64,
    disabled_at: Option<i64>,
}

impl UserRow {
    fn into_record(self) -> Result<UserRecord, OpError> {
        let kind = UserKind::parse(&self.kind).ok_or_else(|| {
            OpError::Corrupt(format!("user {} has unknown kind {:?}", self.id, self.kind))
        })?;
        let role = Role::parse(&self.role).ok_or_else(|| {
            OpError::Corrupt(format!("user {} has unknown role {:?}", self.id, self.role))
        })?;
        Ok(UserRecord {
            kind,
            role,
            email: self.email,
            name: self.name,
            time_zone: self.time_zone,
            password_hash: self.password_hash,
            totp_secret: self.totp_secret,
            totp_last_step: self.totp_last_step,
            sso_subject: self.sso_subject,
            sessions_valid_after: from_ms(self.sessions_valid_after)?,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
            disabled_at: from_opt_ms(self.disabled_at)?,
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    s_id_hash: String,
    s_user_id: String,
    s_created_at: i64,
    s_last_seen_at: i64,
    s_expires_at: i64,
    s_address: String,
    s_user_agent: String,
}

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, OpError> {
        Ok(SessionRecord {
            created_at: from_ms(self.s_created_at)?,
            last_seen_at: from_ms(self.s_last_seen_at)?,
            expires_at: from_ms(self.s_expires_at)?,
            id_hash: self.s_id_hash,
            user_id: self.s_user_id,
            address: self.s_address,
            user_agent: self.s_user_agent,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    t_id: String,
    t_secret_hash: String,
    t_name: String,
    t_owner_id: String,
    t_created_by: String,
    t_scope: String,
    t_created_at: i64,
    t_expires_at: Option<i64>,
    t_last_used_at: Option<i64>,
    t_revoked_at: Option<i64>,
}

impl TokenRow {
    fn into_record(self) -> Result<ApiTokenRecord, OpError> {
        let scope = Scope::parse(&self.t_scope).ok_or_else(|| {
            OpError::Corrupt(format!(
                "API token {} has unknown scope {:?}",
                self.t_id, self.t_scope
            ))
        })?;
        Ok(ApiTokenRecord {
            scope,
            created_at: from_ms(self.t_created_at)?,
            expires_at: from_opt_ms(self.t_expires_at)?,
            last_used_at: from_opt_ms(self.t_last_used_at)?,
            revoked_at: from_opt_ms(self.t_revoked_at)?,
            id: self.t_id,
            secret_hash: self.t_secret_hash,
            name: self.t_name,
            owner_id: self.t_owner_id,
            created_by: self.t_created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenOwnerRow {
    #[sqlx(flatten)]
    token: TokenRow,
    #[sqlx(flatten)]
    user: UserRow,
}

// ---- checks ----------------------------------------------------------------------------

fn no_nul<'a>(what: &str, texts: impl IntoIterator<Item = &'a str>) -> Result<(), OpError> {
    if texts.into_iter().any(|t| t.contains('\0')) {
        return Err(OpError::Invalid(format!("{what} contains a NUL character")));
    }
    Ok(())
}

/// Refuses a user the store must not keep: NUL characters, an empty id, an e-mail address
/// not lowercased, or a service account with a way to sign in.
fn check_user(u: &UserRecord) -> Result<(), OpError> {
    no_nul(
        &format!("user {:?}", u.id),
        [
            Some(u.id.as_str()),
            u.email.as_deref(),
            Some(u.name.as_str()),
            Some(u.time_zone.as_str()),
            u.password_hash.as_deref(),
            u.totp_secret.as_deref(),
            u.sso_subject.as_deref(),
        ]
        .into_iter()
        .flatten(),
    )?;
    if u.id.is_empty() {
        return Err(OpError::Invalid("a user needs an id".into()));
    }
    if let Some(email) = &u.email {
        if *email != email.to_lowercase() {
            return Err(OpError::Invalid(format!(
                "user {:?}: the e-mail address {email:?} must be stored lowercased",
                u.id
            )));
        }
    }
    if u.kind == UserKind::Service
        && (u.email.is_some()
            || u.password_hash.is_some()
            || u.totp_secret.is_some()
            || u.sso_subject.is_some())
    {
        return Err(OpError::Invalid(format!(
            "service account {:?} cannot have an e-mail address, a password, a second factor \
             or an SSO identity",
            u.id
        )));
    }
    Ok(())
}

/// When `e` is a unique violation, the name of the constraint (PostgreSQL) and the message
/// (which names the column on SQLite).
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(format!(
            "{} {}",
            db.constraint().unwrap_or_default(),
            db.message()
        )),
        _ => None,
    }
}

/// Which conflict a failed write of `user` was (when another transaction took its e-mail
/// address, SSO identity or id between the checks and the write); any other error stays one.
fn user_conflict(e: sqlx::Error, user: &UserRecord) -> Result<PeopleConflict, OpError> {
    let Some(text) = unique_violation(&e) else {
        return Err(OpError::Sql(e));
    };
    Ok(if text.contains("email") {
        PeopleConflict::DuplicateEmail(user.email.clone().unwrap_or_default())
    } else if text.contains("sso_subject") {
        PeopleConflict::DuplicateSsoSubject(user.sso_subject.clone().unwrap_or_default())
    } else {
        PeopleConflict::DuplicateId(user.id.clone())
    })
}

/// `s` cut to its first `max` characters.
fn truncate_chars(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(end, _)| &s[..end])
}

/// Rolls the transaction back and answers the conflict: a dropped transaction is only rolled
/// back when its connection is next used, and until then it holds its locks.
macro_rules! refuse {
    ($tx:ident, $conflict:expr) => {{
        $tx.rollback().await?;
        return Ok(Err($conflict));
    }};
}

/// Inside a write transaction: the user's `disabled_at`, `None` when there is no such user
/// (as `Option<Option<i64>>`); locks the row on PostgreSQL.
macro_rules! user_state {
    ($tx:ident, $d:ident, $id:expr) => {{
        let row: Option<(Option<i64>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT disabled_at FROM users WHERE id = $1{}",
            $d.lock_update
        )))
        .bind($id)
        .fetch_optional(&mut *$tx)
        .await?;
        row.map(|(disabled,)| disabled)
    }};
}

/// Inside a write transaction: the conflict when another user than `$user` has its e-mail
/// address or SSO identity, as `Option<PeopleConflict>`.
macro_rules! taken_identity {
    ($tx:ident, $user:expr) => {{
        let u: &UserRecord = $user;
        let mut found = None;
        if let Some(email) = &u.email {
            let other: Option<(String,)> =
                sqlx::query_as("SELECT id FROM users WHERE email = $1 AND id <> $2")
                    .bind(email)
                    .bind(&u.id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if other.is_some() {
                found = Some(PeopleConflict::DuplicateEmail(email.clone()));
            }
        }
        if let (None, Some(subject)) = (&found, &u.sso_subject) {
            let other: Option<(String,)> =
                sqlx::query_as("SELECT id FROM users WHERE sso_subject = $1 AND id <> $2")
                    .bind(subject)
                    .bind(&u.id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if other.is_some() {
                found = Some(PeopleConflict::DuplicateSsoSubject(subject.clone()));
            }
        }
        found
    }};
}

/// What a people write answers inside its transaction: a conflict is `Ok(Err(_))`.
type Outcome<T> = Result<Result<T, PeopleConflict>, OpError>;

impl Store {
    // ---- users -------------------------------------------------------------------------

    /// Adds a user, with `audit`, in one transaction. Answers `Ok(Err(conflict))`, storing
    /// nothing, when the id, the e-mail address or the SSO identity is taken; `Err` is a
    /// database fault, [`StoreError::InvalidInput`](crate::StoreError::InvalidInput) for a
    /// NUL character, an e-mail address not lowercased or a service account with a way to
    /// sign in, or [`StoreError::Fenced`](crate::StoreError::Fenced) on a deposed leader.
    pub async fn add_user(
        &self,
        user: &UserRecord,
        audit: &AuditRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "add_user";
        check_user(user).map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let taken: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                .bind(&user.id)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                refuse!(tx, PeopleConflict::DuplicateId(user.id.clone()));
            }
            if let Some(conflict) = taken_identity!(tx, user) {
                refuse!(tx, conflict);
            }
            let inserted = sqlx::query(
                "INSERT INTO users (id, kind, email, name, time_zone, role, password_hash, \
                 totp_secret, totp_last_step, sso_subject, sessions_valid_after, created_at, \
                 updated_at, disabled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&user.id)
            .bind(user.kind.as_str())
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.time_zone)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(&user.totp_secret)
            .bind(user.totp_last_step)
            .bind(&user.sso_subject)
            .bind(ms(user.sessions_valid_after))
            .bind(ms(user.created_at))
            .bind(ms(user.updated_at))
            .bind(user.disabled_at.map(ms))
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                let conflict = user_conflict(e, user)?;
                refuse!(tx, conflict);
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// The user with this id, enabled or not.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        self.user_where("user", "u.id = $1", id).await
    }

    /// The user with this e-mail address (give it lowercased, as stored), enabled or not.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.user_where("user_by_email", "u.email = $1", email)
            .await
    }

    /// The user linked to this SSO identity (`"issuer|sub"`), enabled or not.
    pub async fn user_by_sso_subject(&self, subject: &str) -> Result<Option<UserRecord>> {
        self.user_where("user_by_sso_subject", "u.sso_subject = $1", subject)
            .await
    }

    async fn user_where(
        &self,
        op: &'static str,
        condition: &str,
        value: &str,
    ) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {condition}");
        let row: Option<UserRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(value)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(op))?;
        row.map(UserRow::into_record)
            .transpose()
            .map_err(|e| e.at(op))
    }

    /// Every user, people and service accounts, enabled or not, oldest first.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        const OP: &str = "users";
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.created_at, u.id");
        let rows: Vec<UserRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(UserRow::into_record)
            .collect::<Result<_, _>>()
            .map_err(|e| e.at(OP))
    }

    /// Changes user `id` as `patch` says, at `at`, with `audit`, in one transaction, and
    /// answers the user as stored now. Disabling a user also deletes their sessions; a new
    /// or removed TOTP secret resets the last accepted step.
    ///
    /// Answers `Ok(Err(conflict))`, storing nothing, for an unknown user, an e-mail address or
    /// SSO identity another user has, or a change that would demote or disable the last
    /// enabled owner ([`PeopleConflict::LastOwner`]). `Err` as for [`Store::add_user`].
    pub async fn update_user(
        &self,
        id: &str,
        patch: &UserPatch,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Result<UserRecord, PeopleConflict>> {
        const OP: &str = "update_user";
        no_nul(&format!("the change of user {id:?}"), patch.texts()).map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<UserRecord> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            // The enabled owners first, locked in id order: a transaction demoting another
            // owner waits here for this one, then sees this one's outcome.
            let owners: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM users WHERE kind = $1 AND role = $2 AND disabled_at IS NULL \
                 ORDER BY id{}",
                d.lock_update
            )))
            .bind(UserKind::Person.as_str())
            .bind(Role::Owner.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1{}",
                d.lock_update
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                refuse!(tx, PeopleConflict::UnknownUser(id.to_owned()));
            };
            let before = row.into_record()?;
            let after = patch.apply(&before, at);
            if let Err(e) = check_user(&after) {
                tx.rollback().await?;
                return Err(e);
            }
            if before.is_enabled_owner()
                && !after.is_enabled_owner()
                && !owners.iter().any(|(owner,)| owner.as_str() != id)
            {
                refuse!(tx, PeopleConflict::LastOwner(id.to_owned()));
            }
            if let Some(conflict) = taken_identity!(tx, &after) {
                refuse!(tx, conflict);
            }
            let updated = sqlx::query(
                "UPDATE users SET email = $2, name = $3, time_zone = $4, role = $5, \
                 password_hash = $6, totp_secret = $7, totp_last_step = $8, sso_subject = $9, \
                 updated_at = $10, disabled_at = $11 WHERE id = $1",
            )
            .bind(id)
            .bind(&after.email)
            .bind(&after.name)
            .bind(&after.time_zone)
            .bind(after.role.as_str())
            .bind(&after.password_hash)
            .bind(&after.totp_secret)
            .bind(after.totp_last_step)
            .bind(&after.sso_subject)
            .bind(ms(after.updated_at))
            .bind(after.disabled_at.map(ms))
            .execute(&mut *tx)
            .await;
            if let Err(e) = updated {
                let conflict = user_conflict(e, &after)?;
                refuse!(tx, conflict);
            }
            if before.is_enabled() && !after.is_enabled() {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(after))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// Accepts TOTP time step `step` for user `id` when it is later than the last one
    /// accepted (the replay guard), recording it, and answers whether it was: `false` for a
    /// step already used or older, an unknown or disabled user, or one without a second
    /// factor. One conditional `UPDATE`, so two sign-ins with the same code cannot both pass.
    ///
    /// It writes no audit entry: it is a step of a sign-in, which is audited by the session
    /// it creates ([`Store::create_session`]) or by its refusal ([`Store::append_audit`]).
    pub async fn advance_totp_step(&self, id: &str, step: i64) -> Result<bool> {
        const OP: &str = "advance_totp_step";
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let done = sqlx::query(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 \
                 AND totp_secret IS NOT NULL AND disabled_at IS NULL \
                 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            )
            .bind(id)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, OpError>(done == 1)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    // ---- recovery codes ----------------------------------------------------------------

    /// Replaces user `id`'s recovery codes by `code_hashes` (hashed by the caller; none
    /// removes them all), made at `at`, with `audit`, in one transaction. `Ok(Err(_))` for an
    /// unknown user; [`StoreError::InvalidInput`](crate::StoreError::InvalidInput) for a
    /// hash given twice or holding a NUL character.
    pub async fn set_recovery_codes(
        &self,
        id: &str,
        code_hashes: &[String],
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "set_recovery_codes";
        no_nul(
            "a recovery code hash",
            code_hashes.iter().map(String::as_str),
        )
        .map_err(|e| e.at(OP))?;
        let distinct: std::collections::BTreeSet<&String> = code_hashes.iter().collect();
        if distinct.len() != code_hashes.len() {
            return Err(OpError::Invalid("a recovery code hash is given twice".into()).at(OP));
        }
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            if user_state!(tx, d, id).is_none() {
                refuse!(tx, PeopleConflict::UnknownUser(id.to_owned()));
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for hash in code_hashes {
                sqlx::query(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) \
                     VALUES ($1, $2, $3, NULL)",
                )
                .bind(id)
                .bind(hash)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// User `id`'s recovery codes, used ones included, by hash.
    pub async fn recovery_codes(&self, id: &str) -> Result<Vec<RecoveryCodeRecord>> {
        const OP: &str = "recovery_codes";
        let rows: Vec<(String, String, i64, Option<i64>)> = db_run!(self, |pool, d| {
            sqlx::query_as(
                "SELECT user_id, code_hash, created_at, used_at FROM recovery_codes \
                 WHERE user_id = $1 ORDER BY code_hash",
            )
            .bind(id)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(|(user_id, code_hash, created_at, used_at)| {
                Ok(RecoveryCodeRecord {
                    user_id,
                    code_hash,
                    created_at: from_ms(created_at)?,
                    used_at: from_opt_ms(used_at)?,
                })
            })
            .collect::<Result<_, OpError>>()
            .map_err(|e| e.at(OP))
    }

    /// Uses user `id`'s recovery code `code_hash` at `at`, once: answers `true` and writes
    /// `audit` with it when the code was unused and the user is enabled; `false`, writing
    /// nothing, otherwise (an unknown code, one already used, a disabled user). One
    /// conditional `UPDATE`, so two sign-ins with the same code cannot both pass.
    pub async fn use_recovery_code(
        &self,
        id: &str,
        code_hash: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        const OP: &str = "use_recovery_code";
        no_nul("a recovery code hash", [code_hash]).map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let used = sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL \
                 AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NULL)",
            )
            .bind(id)
            .bind(code_hash)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok::<_, OpError>(true)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    // ---- sessions ----------------------------------------------------------------------

    /// Stores a new session (its user agent cut to [`USER_AGENT_MAX_CHARS`] characters), with
    /// `audit`, in one transaction. `Ok(Err(_))`, storing nothing, for an unknown or disabled
    /// user or an `id_hash` already stored.
    pub async fn create_session(
        &self,
        session: &SessionRecord,
        audit: &AuditRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "create_session";
        no_nul(
            "a session",
            [
                session.id_hash.as_str(),
                session.user_id.as_str(),
                session.address.as_str(),
                session.user_agent.as_str(),
            ],
        )
        .map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        let user_agent = truncate_chars(&session.user_agent, USER_AGENT_MAX_CHARS);
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            match user_state!(tx, d, &session.user_id) {
                None => refuse!(tx, PeopleConflict::UnknownUser(session.user_id.clone())),
                Some(Some(_)) => refuse!(tx, PeopleConflict::UserDisabled(session.user_id.clone())),
                Some(None) => {}
            }
            let inserted = sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, \
                 address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&session.id_hash)
            .bind(&session.user_id)
            .bind(ms(session.created_at))
            .bind(ms(session.last_seen_at))
            .bind(ms(session.expires_at))
            .bind(&session.address)
            .bind(user_agent)
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                if unique_violation(&e).is_none() {
                    return Err(OpError::Sql(e));
                }
                refuse!(tx, PeopleConflict::DuplicateId(session.id_hash.clone()));
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// The live session whose secret hashes to `id_hash`, with its user; `None` when there is
    /// none, or it expired by `now`, or its user is disabled, or it was created before its
    /// user's `sessions_valid_after`.
    pub async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionWithUser>> {
        self.session_with_user("session", id_hash, Some(now)).await
    }

    /// The session whose secret hashes to `id_hash` and its user, live or not: what
    /// [`Store::session`] refused, to say why (past its lifetime, its user disabled or signed
    /// out everywhere). `None` when no such session is stored.
    pub async fn ended_session(&self, id_hash: &str) -> Result<Option<SessionWithUser>> {
        self.session_with_user("ended_session", id_hash, None).await
    }

    /// The session `id_hash` with its user: only if live at `live_at` when that is given.
    async fn session_with_user(
        &self,
        op: &'static str,
        id_hash: &str,
        live_at: Option<DateTime<Utc>>,
    ) -> Result<Option<SessionWithUser>> {
        let live = if live_at.is_some() {
            " AND s.expires_at > $2 AND u.disabled_at IS NULL \
             AND s.created_at >= u.sessions_valid_after"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1{live}"
        );
        let row: Option<SessionUserRow> = db_run!(self, |pool, d| {
            let query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id_hash);
            match live_at {
                Some(now) => query.bind(ms(now)),
                None => query,
            }
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| OpError::from(e).at(op))?;
        row.map(|r| {
            Ok(SessionWithUser {
                session: r.session.into_record()?,
                user: r.user.into_record()?,
            })
        })
        .transpose()
        .map_err(|e: OpError| e.at(op))
    }

    /// User `id`'s live sessions at `now` (as [`Store::session`] judges them), newest first.
    pub async fn sessions_of(&self, id: &str, now: DateTime<Utc>) -> Result<Vec<SessionRecord>> {
        const OP: &str = "sessions_of";
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.user_id = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL \
             AND s.created_at >= u.sessions_valid_after \
             ORDER BY s.created_at DESC, s.id_hash"
        );
        let rows: Vec<SessionRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .bind(ms(now))
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(SessionRow::into_record)
            .collect::<Result<_, _>>()
            .map_err(|e| e.at(OP))
    }

    /// Records that the session was used at `at` (never moving `last_seen_at` back). One
    /// `UPDATE`, unaudited; callers throttle it. A leader whose fence no longer holds locally
    /// is refused, without asking the database.
    pub async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> Result<()> {
        const OP: &str = "touch_session";
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
            )
            .bind(id_hash)
            .bind(ms(at))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(|e| OpError::from(e).at(OP))
    }

    /// Deletes the session (signing out), with `audit`, in one transaction; answers whether
    /// there was one. When there was none, nothing is written, the audit entry neither.
    pub async fn delete_session(&self, id_hash: &str, audit: &AuditRecord) -> Result<bool> {
        const OP: &str = "delete_session";
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let deleted = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok::<_, OpError>(true)
        }
        .await)
        .map_err(|e| e.at(OP))
    }

    /// Signs user `id` out everywhere at `at`, with `audit`, in one transaction: moves their
    /// `sessions_valid_after` to `at` (never back) and deletes their sessions, so no session
    /// created before `at` is read again. `Ok(Err(_))` for an unknown user.
    pub async fn sign_out_everywhere(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "sign_out_everywhere";
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let updated = sqlx::query(
                "UPDATE users SET sessions_valid_after = CASE \
                 WHEN sessions_valid_after < $2 THEN $2 ELSE sessions_valid_after END \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                refuse!(tx, PeopleConflict::UnknownUser(id.to_owned()));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    // ---- API tokens --------------------------------------------------------------------

    /// Stores a new API token, with `audit`, in one transaction. `Ok(Err(_))`, storing
    /// nothing, for an unknown or disabled owner or an id already stored.
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput) for a NUL character.
    pub async fn create_api_token(
        &self,
        token: &ApiTokenRecord,
        audit: &AuditRecord,
    ) -> Result<Result<(), PeopleConflict>> {
        const OP: &str = "create_api_token";
        no_nul(
            &format!("API token {:?}", token.id),
            [
                token.id.as_str(),
                token.secret_hash.as_str(),
                token.name.as_str(),
                token.owner_id.as_str(),
                token.created_by.as_str(),
            ],
        )
        .map_err(|e| e.at(OP))?;
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<()> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            match user_state!(tx, d, &token.owner_id) {
                None => refuse!(tx, PeopleConflict::UnknownUser(token.owner_id.clone())),
                Some(Some(_)) => refuse!(tx, PeopleConflict::UserDisabled(token.owner_id.clone())),
                Some(None) => {}
            }
            let inserted = sqlx::query(
                "INSERT INTO api_tokens (id, secret_hash, name, owner_id, created_by, scope, \
                 created_at, expires_at, last_used_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&token.id)
            .bind(&token.secret_hash)
            .bind(&token.name)
            .bind(&token.owner_id)
            .bind(&token.created_by)
            .bind(token.scope.as_str())
            .bind(ms(token.created_at))
            .bind(token.expires_at.map(ms))
            .bind(token.last_used_at.map(ms))
            .bind(token.revoked_at.map(ms))
            .execute(&mut *tx)
            .await;
            if let Err(e) = inserted {
                if unique_violation(&e).is_none() {
                    return Err(OpError::Sql(e));
                }
                refuse!(tx, PeopleConflict::DuplicateId(token.id.clone()));
            }
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// The API token with this id, with its owner, whatever their state: revoked and expired
    /// tokens and disabled owners included, for the caller to judge
    /// ([`ApiTokenRecord::is_usable`], [`UserRecord::is_enabled`]).
    pub async fn api_token(&self, id: &str) -> Result<Option<TokenWithOwner>> {
        const OP: &str = "api_token";
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} FROM api_tokens t \
             JOIN users u ON u.id = t.owner_id WHERE t.id = $1"
        );
        let row: Option<TokenOwnerRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        row.map(|r| {
            Ok(TokenWithOwner {
                token: r.token.into_record()?,
                owner: r.user.into_record()?,
            })
        })
        .transpose()
        .map_err(|e: OpError| e.at(OP))
    }

    /// The API tokens of `owner` (a user id), or every token when `None`, revoked ones
    /// included, newest first.
    pub async fn api_tokens(&self, owner: Option<&str>) -> Result<Vec<ApiTokenRecord>> {
        const OP: &str = "api_tokens";
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t \
             WHERE ($1 IS NULL OR t.owner_id = $1) ORDER BY t.created_at DESC, t.id"
        );
        let rows: Vec<TokenRow> = db_run!(self, |pool, d| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(owner)
                .fetch_all(pool)
                .await
        })
        .map_err(|e| OpError::from(e).at(OP))?;
        rows.into_iter()
            .map(TokenRow::into_record)
            .collect::<Result<_, _>>()
            .map_err(|e| e.at(OP))
    }

    /// Revokes API token `id` at `at`, with `audit`, in one transaction, and answers `true`.
    /// Revoking it again changes nothing (it keeps its first revocation time, and no audit
    /// entry is written) and answers `false`. `Ok(Err(_))` for an unknown token.
    pub async fn revoke_api_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Result<bool, PeopleConflict>> {
        const OP: &str = "revoke_api_token";
        check_audit(audit).map_err(|e| e.at(OP))?;
        self.fence_locally(OP)?;
        let outcome: Outcome<bool> = db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            check_fence!(self, tx, d);
            let row: Option<(Option<i64>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT revoked_at FROM api_tokens WHERE id = $1{}",
                d.lock_update
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => refuse!(tx, PeopleConflict::UnknownToken(id.to_owned())),
                Some((Some(_),)) => {
                    tx.rollback().await?;
                    return Ok(Ok(false));
                }
                Some((None,)) => {}
            }
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1")
                .bind(id)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            tx.commit().await?;
            Ok(Ok(true))
        }
        .await);
        outcome.map_err(|e| e.at(OP))
    }

    /// Records that API token `id` was used at `at` (never moving `last_used_at` back). One
    /// `UPDATE`, unaudited; callers throttle it. A leader whose fence no longer holds locally
    /// is refused, without asking the database.
    pub async fn touch_api_token(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        const OP: &str = "touch_api_token";
        self.fence_locally(OP)?;
        db_run!(self, |pool, d| {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(ms(at))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(|e| OpError::from(e).at(OP))
    }
}

mod second_factor;
pub use second_factor::{PendingSignInRecord, TotpEnable};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_enums_round_trip() {
        for kind in UserKind::ALL {
            assert_eq!(UserKind::parse(kind.as_str()), Some(kind));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let scope = Scope::Role(role);
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        for scope in [Scope::Ingest, Scope::Read] {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Role::parse("Owner"), None);
        assert_eq!(Scope::parse("write"), None);
    }

    #[test]
    fn user_agents_are_cut_on_characters() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("", 0), "");
    }
}
