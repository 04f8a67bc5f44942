//! Who may do what: the roles people hold, the permissions every admin route and console
//! action asks for, and the scopes API tokens carry — SPEC §9's table, as code.
//!
//! - [`Role`] is what a person (or a service account) is given: owner, admin, responder,
//!   communicator or viewer.
//! - [`Permission`] is one row of the table, plus [`Permission::Ingest`] for the alert and
//!   change ingestion endpoints. [`Role::may`] answers the table; a route asks for exactly one
//!   permission.
//! - [`Scope`] is what an API token may do: a role's permissions, or ingestion only, or
//!   reading only. [`Scope::within`] keeps a token no wider than its creator.
//! - [`Role::may_assign`] and [`Role::may_manage`] say who may give which role and whose
//!   account one may change: only owners make, demote or remove owners.
//!
//! The table is a ladder — each role may everything the roles below it may — and
//! [`Permission::least_role`] names the rung each permission starts at. The tests spell the
//! table out as a literal matrix, so a change to it is a change to SPEC §9 first.
//!
//! Pure: no storage, no HTTP. What needs state (the last owner cannot be removed, a token's
//! creator is still who they were) is the caller's to check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::IntoStaticStr;

use crate::request::RequestValue;

/// A role a person or service account holds, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Everything, including making, demoting and removing owners.
    Owner,
    /// Everything but managing owners: people, roles, tokens, SSO, the audit log, and the
    /// page's operation (subscribers, deliveries, schedules, escalation).
    Admin,
    /// Works incidents: acknowledges, overrides, records changes, silences; and communicates.
    Responder,
    /// Writes what the public and the team read: incidents, updates, notes, maintenances,
    /// postmortems.
    Communicator,
    /// Reads everything in the console and the API; changes nothing.
    Viewer,
}

/// One row of SPEC §9's table: what a route or console action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Permission {
    /// Read everything in the console and the API.
    Read,
    /// Incidents, updates, notes, maintenances, postmortems.
    Communicate,
    /// Acknowledge, overrides, changes, silences.
    Respond,
    /// Subscribers, deliveries, schedules, escalation.
    Operate,
    /// Users, roles, tokens of others, SSO, the audit log.
    Administer,
    /// Remove or demote an owner.
    ManageOwners,
    /// Send alerts and changes to the ingestion endpoints (Alertmanager, Grafana, PagerDuty
    /// events and change events). Not a row of the table: responders and above may, and so
    /// may a token scoped to `ingest` alone.
    Ingest,
}

/// What an API token may do: a role's permissions, or ingestion only, or reading only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything the role may ([`Role::may`]).
    Role(Role),
    /// The ingestion endpoints only ([`Permission::Ingest`]); not even reading.
    Ingest,
    /// Reading only ([`Permission::Read`]).
    Read,
}

/// A name that is no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {given:?}; expected one of {}", names(&Role::ALL.map(Role::as_str)))]
pub struct UnknownRole {
    /// The name given.
    pub given: String,
}

/// A name that is no token scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {given:?}; expected one of {}", names(&Scope::ALL.map(Scope::as_str)))]
pub struct UnknownScope {
    /// The name given.
    pub given: String,
}

/// `a, b or c`, for refusals that list what is valid.
fn names(all: &[&str]) -> String {
    match all {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Responder,
        Self::Communicator,
        Self::Viewer,
    ];

    /// The wire form, e.g. `"responder"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The role named exactly `s` (lowercase), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The human name, e.g. `"Responder"`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Responder => "Responder",
            Self::Communicator => "Communicator",
            Self::Viewer => "Viewer",
        }
    }

    /// The role's rung on the ladder: higher may more.
    fn rank(self) -> u8 {
        match self {
            Self::Viewer => 0,
            Self::Communicator => 1,
            Self::Responder => 2,
            Self::Admin => 3,
            Self::Owner => 4,
        }
    }

    /// Whether this role is `other` or above it.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// Whether someone holding this role may do what `permission` covers (SPEC §9's table).
    pub fn may(self, permission: Permission) -> bool {
        self.at_least(permission.least_role())
    }

    /// Whether someone holding this role may give `target` to a person, a service account or
    /// an invitation: owners any role, admins up to admin; nobody else any. Changing a role
    /// someone already holds also needs [`Role::may_manage`] of the role they hold.
    pub fn may_assign(self, target: Role) -> bool {
        match target {
            Role::Owner => self.may(Permission::ManageOwners),
            _ => self.may(Permission::Administer),
        }
    }

    /// Whether someone holding this role may change or remove the account of someone who
    /// holds `subject` (their role, their tokens, their sessions, their second factor):
    /// owners anyone, admins anyone but an owner. Acting on one's own account is the
    /// caller's rule, not this one's.
    pub fn may_manage(self, subject: Role) -> bool {
        match subject {
            Role::Owner => self.may(Permission::ManageOwners),
            _ => self.may(Permission::Administer),
        }
    }

    /// Whether someone holding this role may move a person from `from` to `to`: both
    /// [`Role::may_manage`]`(from)` and [`Role::may_assign`]`(to)`.
    pub fn may_change_role(self, from: Role, to: Role) -> bool {
        self.may_manage(from) && self.may_assign(to)
    }
}

impl Permission {
    /// Every permission: the table's rows in order, then ingestion.
    pub const ALL: [Permission; 7] = [
        Self::Read,
        Self::Communicate,
        Self::Respond,
        Self::Operate,
        Self::Administer,
        Self::ManageOwners,
        Self::Ingest,
    ];

    /// The wire form, e.g. `"manage_owners"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The permission named exactly `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What the permission covers, in the table's words (for refusals and the console).
    pub fn label(self) -> &'static str {
        match self {
            Self::Read => "read everything in the console and API",
            Self::Communicate => "incidents, updates, notes, maintenances, postmortems",
            Self::Respond => "acknowledge, overrides, changes, silences",
            Self::Operate => "subscribers, deliveries, schedules, escalation",
            Self::Administer => "users, roles, tokens of others, SSO, audit log",
            Self::ManageOwners => "remove or demote an owner",
            Self::Ingest => "send alerts and changes to the ingestion endpoints",
        }
    }

    /// The lowest role that has this permission; every role above it has it too.
    pub fn least_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::Communicate => Role::Communicator,
            Self::Respond | Self::Ingest => Role::Responder,
            Self::Operate | Self::Administer => Role::Admin,
            Self::ManageOwners => Role::Owner,
        }
    }
}

impl Scope {
    /// Every scope: the roles highest first, then `ingest` and `read`.
    pub const ALL: [Scope; 7] = [
        Self::Role(Role::Owner),
        Self::Role(Role::Admin),
        Self::Role(Role::Responder),
        Self::Role(Role::Communicator),
        Self::Role(Role::Viewer),
        Self::Ingest,
        Self::Read,
    ];

    /// The wire form: a role's name, `"ingest"` or `"read"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Role(role) => role.as_str(),
            Self::Ingest => "ingest",
            Self::Read => "read",
        }
    }

    /// The scope named exactly `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a token with this scope may do what `permission` covers.
    pub fn may(self, permission: Permission) -> bool {
        match self {
            Self::Role(role) => role.may(permission),
            Self::Ingest => permission == Permission::Ingest,
            Self::Read => permission == Permission::Read,
        }
    }

    /// Whether someone holding `creator` may mint a token with this scope: "no wider than
    /// their creator's" — every permission the scope grants, the creator has. So a
    /// communicator cannot mint an `ingest` token (communicators cannot ingest), a responder
    /// can, and only an owner mints an owner token.
    pub fn within(self, creator: Role) -> bool {
        Permission::ALL
            .into_iter()
            .all(|p| !self.may(p) || creator.may(p))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    /// Exactly a role's lowercase name; the refusal lists the valid ones.
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Self::parse(s).ok_or_else(|| UnknownRole {
            given: s.to_owned(),
        })
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    /// Exactly a scope's lowercase name; the refusal lists the valid ones.
    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Self::parse(s).ok_or_else(|| UnknownScope {
            given: s.to_owned(),
        })
    }
}

impl From<Role> for Scope {
    fn from(role: Role) -> Self {
        Self::Role(role)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A role in a request body, surrounding spaces ignored.
impl RequestValue for Role {
    fn from_request(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|e: UnknownRole| e.to_string())
    }
}

/// A token scope in a request body, surrounding spaces ignored.
impl RequestValue for Scope {
    fn from_request(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|e: UnknownScope| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::Permission::*;
    use super::*;

    /// SPEC §9's table as written there, plus ingestion; columns owner, admin, responder,
    /// communicator, viewer.
    const TABLE: [(Permission, [bool; 5]); 7] = [
        (Read, [true, true, true, true, true]),
        (Communicate, [true, true, true, true, false]),
        (Respond, [true, true, true, false, false]),
        (Operate, [true, true, false, false, false]),
        (Administer, [true, true, false, false, false]),
        (ManageOwners, [true, false, false, false, false]),
        (Ingest, [true, true, true, false, false]),
    ];

    const COLUMNS: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Responder,
        Role::Communicator,
        Role::Viewer,
    ];

    #[test]
    fn roles_may_exactly_what_the_table_says() {
        assert_eq!(COLUMNS, Role::ALL);
        assert_eq!(
            TABLE.map(|(p, _)| p),
            Permission::ALL,
            "every permission has a row"
        );
        for (permission, row) in TABLE {
            for (role, expected) in COLUMNS.into_iter().zip(row) {
                assert_eq!(role.may(permission), expected, "{role} may {permission}");
            }
        }
    }

    #[test]
    fn the_table_is_a_ladder() {
        for p in Permission::ALL {
            for higher in Role::ALL {
                for lower in Role::ALL {
                    if higher.at_least(lower) && lower.may(p) {
                        assert!(higher.may(p), "{higher} above {lower} may {p}");
                    }
                }
            }
            assert!(p.least_role().may(p));
        }
    }

    /// What a token of each scope may do; columns in `Permission::ALL` order (read,
    /// communicate, respond, operate, administer, manage_owners, ingest).
    const SCOPES: [(Scope, [bool; 7]); 7] = [
        (Scope::Role(Role::Owner), [true; 7]),
        (
            Scope::Role(Role::Admin),
            [true, true, true, true, true, false, true],
        ),
        (
            Scope::Role(Role::Responder),
            [true, true, true, false, false, false, true],
        ),
        (
            Scope::Role(Role::Communicator),
            [true, true, false, false, false, false, false],
        ),
        (
            Scope::Role(Role::Viewer),
            [true, false, false, false, false, false, false],
        ),
        (
            Scope::Ingest,
            [false, false, false, false, false, false, true],
        ),
        (
            Scope::Read,
            [true, false, false, false, false, false, false],
        ),
    ];

    #[test]
    fn scopes_may_exactly_what_they_name() {
        assert_eq!(SCOPES.map(|(s, _)| s), Scope::ALL);
        for (scope, row) in SCOPES {
            for (permission, expected) in Permission::ALL.into_iter().zip(row) {
                assert_eq!(
                    scope.may(permission),
                    expected,
                    "{scope} token may {permission}"
                );
            }
        }
    }

    /// Which scopes each creator may mint; columns owner, admin, responder, communicator,
    /// viewer (the creator's role).
    const MINT: [(Scope, [bool; 5]); 7] = [
        (Scope::Role(Role::Owner), [true, false, false, false, false]),
        (Scope::Role(Role::Admin), [true, true, false, false, false]),
        (
            Scope::Role(Role::Responder),
            [true, true, true, false, false],
        ),
        (
            Scope::Role(Role::Communicator),
            [true, true, true, true, false],
        ),
        (Scope::Role(Role::Viewer), [true, true, true, true, true]),
        // Ingesting is a responder's: a communicator or viewer cannot, so cannot mint it.
        (Scope::Ingest, [true, true, true, false, false]),
        (Scope::Read, [true, true, true, true, true]),
    ];

    #[test]
    fn tokens_are_no_wider_than_their_creator() {
        assert_eq!(MINT.map(|(s, _)| s), Scope::ALL);
        for (scope, row) in MINT {
            for (creator, expected) in COLUMNS.into_iter().zip(row) {
                assert_eq!(scope.within(creator), expected, "{creator} mints {scope}");
            }
        }
    }

    #[test]
    fn a_role_scope_is_the_role() {
        for role in Role::ALL {
            for p in Permission::ALL {
                assert_eq!(Scope::from(role).may(p), role.may(p));
            }
            assert!(Scope::Role(role).within(role), "{role} mints its own role");
        }
    }

    /// Who may give which role; columns as `COLUMNS` (the one giving).
    const ASSIGN: [(Role, [bool; 5]); 5] = [
        (Role::Owner, [true, false, false, false, false]),
        (Role::Admin, [true, true, false, false, false]),
        (Role::Responder, [true, true, false, false, false]),
        (Role::Communicator, [true, true, false, false, false]),
        (Role::Viewer, [true, true, false, false, false]),
    ];

    #[test]
    fn only_owners_make_owners_and_admins_give_up_to_admin() {
        for (target, row) in ASSIGN {
            for (giver, expected) in COLUMNS.into_iter().zip(row) {
                assert_eq!(giver.may_assign(target), expected, "{giver} gives {target}");
                // Managing an account follows the same table: only owners touch owners.
                assert_eq!(
                    giver.may_manage(target),
                    expected,
                    "{giver} manages {target}"
                );
            }
        }
    }

    #[test]
    fn changing_a_role_needs_both_ends() {
        // An admin may promote a viewer to admin, but neither promote to nor demote an owner.
        assert!(Role::Admin.may_change_role(Role::Viewer, Role::Admin));
        assert!(!Role::Admin.may_change_role(Role::Viewer, Role::Owner));
        assert!(!Role::Admin.may_change_role(Role::Owner, Role::Viewer));
        assert!(Role::Owner.may_change_role(Role::Owner, Role::Viewer));
        assert!(!Role::Responder.may_change_role(Role::Viewer, Role::Communicator));
    }

    #[test]
    fn names_read_back_and_refusals_list_the_valid_ones() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(role.label().to_lowercase(), role.as_str());
        }
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            let json = serde_json::to_value(scope).unwrap();
            assert_eq!(json, scope.as_str());
            assert_eq!(serde_json::from_value::<Scope>(json).unwrap(), scope);
        }
        let names: Vec<_> = Role::ALL.map(Role::as_str).into();
        assert_eq!(
            names,
            ["owner", "admin", "responder", "communicator", "viewer"]
        );
        assert_eq!(
            "Admin".parse::<Role>().unwrap_err().to_string(),
            "unknown role \"Admin\"; expected one of owner, admin, responder, communicator or viewer"
        );
        assert_eq!(
            "write".parse::<Scope>().unwrap_err().to_string(),
            "unknown scope \"write\"; expected one of owner, admin, responder, communicator, \
             viewer, ingest or read"
        );
        assert!(serde_json::from_str::<Scope>("\"root\"")
            .unwrap_err()
            .to_string()
            .contains("unknown scope \"root\""));
        assert_eq!(Role::from_request(" viewer "), Ok(Role::Viewer));
        assert_eq!(Scope::from_request("ingest"), Ok(Scope::Ingest));
        assert!(Role::from_request("root")
            .unwrap_err()
            .contains("expected one of owner"));
        assert_eq!(Permission::parse("manage_owners"), Some(ManageOwners));
        assert_eq!(Permission::parse("ManageOwners"), None);
    }
}
