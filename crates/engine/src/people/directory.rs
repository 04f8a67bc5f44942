//! Who a credential belongs to and what it may do, read from storage: the one place an API
//! token (`pht_…`) becomes a [`Principal`]. The web layer asks here for every request that
//! presents one, then checks the route's permission against [`Principal::grant`].

use chrono::{DateTime, Utc};
use pharos_domain::access::{Permission, Role, Scope};
use pharos_store::{ApiTokenRecord, AuditRecord, Store, StoreError, UserRecord};

use super::token::{mint_token, parse_token, verify_secret};

/// `email` as stored and looked up: trimmed and lowercased; `None` when it is not an
/// address (no `@`, an empty local part, a domain without a dot, or whitespace inside).
pub fn normalise_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let valid = e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
    }) && !e.chars().any(char::is_whitespace);
    valid.then_some(e)
}

/// A new user's id: `usr_` for a person, `svc_` for a service account, then 12 random
/// characters.
pub fn new_user_id(kind: pharos_store::UserKind) -> String {
    let prefix = match kind {
        pharos_store::UserKind::Person => "usr_",
        pharos_store::UserKind::Service => "svc_",
    };
    format!("{prefix}{}", crate::random_string(12))
}

/// Longest token name.
pub const TOKEN_NAME_MAX_CHARS: usize = 100;

/// A token's last use is written at most this often, so a busy token costs one write a minute,
/// not one per request.
pub const LAST_USE_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Someone (a person, a service account, a configured token) acting through a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name recorded as the author of their changes.
    pub name: String,
    /// What the credential may do.
    pub grant: Scope,
    /// Where it came from.
    pub source: Source,
}

/// Where a [`Principal`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `[admin] tokens` entry of the configuration file: acts as an owner.
    ConfigToken,
    /// An API token of a user or service account.
    ApiToken {
        /// The token's public id.
        id: String,
        /// The user or service account that owns it.
        owner_id: String,
    },
    /// A person signed in to the console: acts with their role.
    Session {
        /// The user's id.
        user_id: String,
    },
}

impl Principal {
    /// A configured `[admin] tokens` entry named `name`: an owner (SPEC §9).
    pub fn config_token(name: &str) -> Principal {
        Principal {
            name: name.to_owned(),
            grant: Scope::Role(Role::Owner),
            source: Source::ConfigToken,
        }
    }

    /// A person signed in to the console as `user`, acting with their role.
    pub fn session(user: &UserRecord) -> Principal {
        Principal {
            name: user.name.clone(),
            grant: Scope::Role(user.role),
            source: Source::Session {
                user_id: user.id.clone(),
            },
        }
    }

    /// Whether the credential allows `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.grant.may(permission)
    }
}

/// Why a presented API token was not accepted. Each is answered 401 alike (nobody learns
/// whether a token id exists); the reason is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// Not of the `pht_<id>_<secret>` shape.
    #[error("not a Pharos API token")]
    Malformed,
    /// No token has this id, or the secret is wrong.
    #[error("unknown token or wrong secret")]
    Unknown,
    /// Revoked.
    #[error("the token was revoked")]
    Revoked,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Its owner is disabled.
    #[error("the token's owner is disabled")]
    OwnerDisabled,
}

/// Reads credentials from storage.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    /// The key TOTP secrets are sealed under, when one is configured.
    seal_key: Option<std::sync::Arc<super::SealKey>>,
}

impl Directory {
    /// A directory over `store`.
    pub fn new(store: Store) -> Directory {
        Directory {
            store,
            seal_key: None,
        }
    }

    /// This directory, sealing and opening TOTP secrets with `key` (none: the second factor
    /// cannot be set up, and codes cannot be checked).
    pub fn with_seal_key(mut self, key: Option<std::sync::Arc<super::SealKey>>) -> Directory {
        self.seal_key = key;
        self
    }

    /// The sealing key, if one is configured.
    pub(super) fn seal_key(&self) -> Option<&super::SealKey> {
        self.seal_key.as_deref()
    }

    /// The store it reads, for the sibling modules (`signin`).
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The principal behind API token `presented` at `now`: its owner's name and the token's
    /// scope. Its last use is recorded (at most every [`LAST_USE_EVERY`]). `Err` is a storage
    /// fault; `Ok(Err(_))` a refused token.
    pub async fn api_token(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Principal, TokenRefused>, StoreError> {
        let Some((id, secret)) = parse_token(presented) else {
            return Ok(Err(TokenRefused::Malformed));
        };
        let Some(found) = self.store.api_token(id).await? else {
            return Ok(Err(TokenRefused::Unknown));
        };
        let token = &found.token;
        if !verify_secret(secret, &token.secret_hash) {
            return Ok(Err(TokenRefused::Unknown));
        }
        if token.revoked_at.is_some() {
            return Ok(Err(TokenRefused::Revoked));
        }
        if token.expires_at.is_some_and(|e| e <= now) {
            return Ok(Err(TokenRefused::Expired));
        }
        if !found.owner.is_enabled() {
            return Ok(Err(TokenRefused::OwnerDisabled));
        }
        if token.last_used_at.is_none_or(|t| now - t >= LAST_USE_EVERY) {
            if let Err(error) = self.store.touch_api_token(id, now).await {
                // Recording the use is bookkeeping: a failure must not refuse the request.
                tracing::debug!(%error, token = id, "recording a token's last use failed");
            }
        }
        Ok(Ok(Principal {
            name: found.owner.name.clone(),
            grant: token.scope,
            source: Source::ApiToken {
                id: token.id.clone(),
                owner_id: found.owner.id.clone(),
            },
        }))
    }
}

/// Why a token was not minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintRefused {
    /// The name is empty or too long.
    #[error("a token's name is 1 to {TOKEN_NAME_MAX_CHARS} characters")]
    BadName,
    /// No enabled user or service account has this id.
    #[error("no enabled user or service account has the id {0:?}")]
    UnknownOwner(String),
    /// The scope is wider than its owner's role.
    #[error("a {scope} token cannot belong to {owner}, whose role is {role}: a token is never wider than its owner")]
    WiderThanOwner {
        /// The scope asked for.
        scope: &'static str,
        /// The owner's name.
        owner: String,
        /// The owner's role.
        role: &'static str,
    },
    /// The expiry is not in the future.
    #[error("expires_at must be in the future")]
    ExpiryPast,
}

/// A token just minted: its stored record, and the whole token, shown this once.
pub struct Minted {
    /// What is stored.
    pub record: ApiTokenRecord,
    /// `pht_<id>_<secret>`: give it to its holder now; it is never shown again.
    pub shown_once: String,
}

impl Directory {
    /// A user or service account by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.store.user(id).await
    }

    /// Mints a token named `name` for `owner_id` with `scope`, written with `audit` in one
    /// transaction (its subject and `after` are filled in here). The scope must be within the
    /// owner's role; the creator's own limits are the caller's to check.
    pub async fn mint(
        &self,
        owner_id: &str,
        name: &str,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
        mut audit: AuditRecord,
    ) -> Result<Result<Minted, MintRefused>, StoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX_CHARS {
            return Ok(Err(MintRefused::BadName));
        }
        let now = audit.at;
        if expires_at.is_some_and(|e| e <= now) {
            return Ok(Err(MintRefused::ExpiryPast));
        }
        let owner = match self.store.user(owner_id).await? {
            Some(u) if u.is_enabled() => u,
            _ => return Ok(Err(MintRefused::UnknownOwner(owner_id.to_owned()))),
        };
        if !scope.within(owner.role) {
            return Ok(Err(MintRefused::WiderThanOwner {
                scope: scope.as_str(),
                owner: owner.name,
                role: owner.role.as_str(),
            }));
        }
        let minted = mint_token();
        let record = ApiTokenRecord {
            id: minted.id.clone(),
            secret_hash: minted.secret_hash.clone(),
            name: name.to_owned(),
            owner_id: owner.id.clone(),
            created_by: created_by.to_owned(),
            scope,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        audit.subject = Some(record.id.clone());
        audit.after = Some(token_json(&record));
        match self.store.create_api_token(&record, &audit).await? {
            Ok(()) => Ok(Ok(Minted {
                record,
                shown_once: minted.shown_once,
            })),
            // The owner went away between the read and the write.
            Err(_) => Ok(Err(MintRefused::UnknownOwner(owner_id.to_owned()))),
        }
    }

    /// Every user and service account, oldest first.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.store.users().await
    }

    /// Adds `user`, with `audit`, in one transaction.
    pub async fn add_user(
        &self,
        user: &UserRecord,
        audit: &AuditRecord,
    ) -> Result<Result<(), pharos_store::PeopleConflict>, StoreError> {
        self.store.add_user(user, audit).await
    }

    /// Changes user `id` as `patch` says, with `audit`, in one transaction; the last enabled
    /// owner is kept.
    pub async fn update_user(
        &self,
        id: &str,
        patch: &pharos_store::UserPatch,
        audit: &AuditRecord,
    ) -> Result<Result<UserRecord, pharos_store::PeopleConflict>, StoreError> {
        self.store.update_user(id, patch, audit.at, audit).await
    }

    /// Ends every session of user `id`, with `audit`.
    pub async fn sign_out_everywhere(
        &self,
        id: &str,
        audit: &AuditRecord,
    ) -> Result<Result<(), pharos_store::PeopleConflict>, StoreError> {
        self.store.sign_out_everywhere(id, audit.at, audit).await
    }

    /// Records `entry` on its own: something refused or denied, which changes nothing stored.
    pub async fn record(&self, entry: &AuditRecord) -> Result<(), StoreError> {
        self.store.append_audit(entry).await.map(|_| ())
    }

    /// The audit trail, newest first, as `filter` selects.
    pub async fn audit(
        &self,
        filter: &pharos_store::AuditFilter,
    ) -> Result<Vec<pharos_store::AuditEntry>, StoreError> {
        self.store.audit(filter).await
    }

    /// Tokens, newest first: all of them, or `owner`'s.
    pub async fn tokens(&self, owner: Option<&str>) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.store.api_tokens(owner).await
    }

    /// Token `id` with its owner, if it exists.
    pub async fn token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        Ok(self.store.api_token(id).await?.map(|t| t.token))
    }

    /// Revokes token `id`, with `audit` (its subject and `before` filled in here): `Some(true)`
    /// revoked now, `Some(false)` it already was, `None` no such token.
    pub async fn revoke(
        &self,
        id: &str,
        mut audit: AuditRecord,
    ) -> Result<Option<bool>, StoreError> {
        let Some(found) = self.store.api_token(id).await? else {
            return Ok(None);
        };
        audit.subject = Some(id.to_owned());
        audit.before = Some(token_json(&found.token));
        // The only conflict is an unknown token (it went away since it was read).
        Ok(self
            .store
            .revoke_api_token(id, audit.at, &audit)
            .await?
            .ok())
    }
}

/// A token as the audit trail shows it: never its secret or hash.
fn token_json(t: &ApiTokenRecord) -> String {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "owner": t.owner_id,
        "scope": t.scope.as_str(),
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    })
    .to_string()
}
