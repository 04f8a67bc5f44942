//! `pharos user add` (SPEC §9): people and service accounts, created from the command line
//! straight in the database, so the first owner exists before anyone can sign in. It may run
//! beside a running Pharos (on SQLite too: only `serve` holds the file's lock).

use chrono::Utc;
use pharos_domain::access::Role;
use pharos_engine::people::{
    check_password, hash_password, new_user_id, normalise_email, PasswordError,
};
use pharos_store::{ActorKind, AuditRecord, PeopleConflict, Store, UserKind, UserRecord};

/// Who to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// A person (with an e-mail and usually a password) or a service account (neither).
    pub kind: UserKind,
    /// The person's e-mail; `None` for a service account.
    pub email: Option<String>,
    /// Display name (default: the e-mail's local part).
    pub name: Option<String>,
    /// The role, as typed.
    pub role: String,
    /// IANA time zone the console shows times in (default UTC).
    pub time_zone: Option<String>,
    /// The password, for a person who signs in with one; `None` for SSO only.
    pub password: Option<String>,
}

/// Why a user was not added; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    /// The role is not one of the five.
    #[error("{0}")]
    Role(#[from] pharos_domain::access::UnknownRole),
    /// The e-mail is missing or not an address.
    #[error("{0:?} is not an e-mail address")]
    Email(String),
    /// A service account was given an e-mail or a password.
    #[error(
        "a service account has no e-mail and no password (it only owns API tokens); give --name"
    )]
    ServiceWithCredentials,
    /// A service account needs a name.
    #[error("a service account needs --name")]
    ServiceWithoutName,
    /// The time zone is not an IANA name.
    #[error("unknown time zone {0:?}; use an IANA name such as Europe/Paris or UTC")]
    TimeZone(String),
    /// The password breaks a rule.
    #[error("{0}")]
    Password(#[from] PasswordError),
    /// The first person must be an owner.
    #[error("the first user must be an owner (--role owner): an owner is who adds everyone else")]
    FirstNotOwner,
    /// Someone has this e-mail already.
    #[error("a user with the e-mail {0} already exists")]
    Taken(String),
    /// The database refused or failed.
    #[error("{0}")]
    Store(#[from] pharos_store::StoreError),
}

/// Adds `new` to `store`, with its audit entry; returns what was stored.
pub async fn add_user(store: &Store, new: NewUser) -> Result<UserRecord, AddUserError> {
    let role: Role = new.role.trim().parse()?;
    let now = Utc::now();
    let email = match (&new.kind, new.email) {
        (UserKind::Person, Some(e)) => {
            Some(normalise_email(&e).ok_or_else(|| AddUserError::Email(e.trim().to_owned()))?)
        }
        (UserKind::Person, None) => return Err(AddUserError::Email(String::new())),
        (UserKind::Service, Some(_)) => return Err(AddUserError::ServiceWithCredentials),
        (UserKind::Service, None) => None,
    };
    if new.kind == UserKind::Service && new.password.is_some() {
        return Err(AddUserError::ServiceWithCredentials);
    }
    let time_zone = new.time_zone.unwrap_or_else(|| "UTC".to_owned());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(AddUserError::TimeZone(time_zone));
    }
    let name = match (&new.kind, new.name) {
        (_, Some(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        (UserKind::Service, _) => return Err(AddUserError::ServiceWithoutName),
        (UserKind::Person, _) => email
            .as_deref()
            .and_then(|e| e.split('@').next())
            .unwrap_or_default()
            .to_owned(),
    };
    let password_hash = match &new.password {
        Some(p) => {
            check_password(p)?;
            Some(hash_password(p)?)
        }
        None => None,
    };
    let people = store.users().await?;
    let first_person = !people.iter().any(|u| u.kind == UserKind::Person);
    if new.kind == UserKind::Person && first_person && role != Role::Owner {
        return Err(AddUserError::FirstNotOwner);
    }
    let mut user = UserRecord::new(new_user_id(new.kind), new.kind, name, role, now);
    user.email = email.clone();
    user.time_zone = time_zone;
    user.password_hash = password_hash;
    let audit = AuditRecord {
        at: now,
        actor_kind: ActorKind::Automation,
        actor_id: None,
        actor_name: "pharos user add".to_owned(),
        action: "user.add".to_owned(),
        subject: Some(user.id.clone()),
        before: None,
        after: Some(
            serde_json::json!({
                "id": user.id,
                "kind": user.kind.as_str(),
                "email": user.email,
                "name": user.name,
                "role": user.role.as_str(),
                "time_zone": user.time_zone,
                "password": user.password_hash.is_some(),
            })
            .to_string(),
        ),
        request_id: None,
        address: None,
    };
    match store.add_user(&user, &audit).await? {
        Ok(()) => Ok(user),
        Err(PeopleConflict::DuplicateEmail(_)) => {
            Err(AddUserError::Taken(email.unwrap_or_default()))
        }
        Err(other) => Err(AddUserError::Store(
            pharos_store::StoreError::InvalidInput {
                op: "add_user",
                message: other.to_string(),
            },
        )),
    }
}
