//! Signing in through an identity provider (`[sso]`, OpenID Connect): the web layer has
//! verified the provider's ID token and mapped its claims to a role; here the person is found
//! or made, their role brought in line with the claim, and a session opened exactly as a
//! password sign-in opens one ([`Directory::sign_in_external`]).
//!
//! - **Who is who.** A person is linked to one identity, `"issuer|sub"` (the users table's
//!   unique `sso_subject`): the provider's subject is stable where an e-mail address is not.
//!   The first sign-in of an identity links it to the user with the same e-mail address only
//!   when the provider says that address is verified (`email_verified`), so nobody takes over
//!   an account by registering its address at the provider; otherwise a new person is added.
//! - **Roles follow the claim** at every sign-in, each change audited (`user.change`), except
//!   that the last enabled owner is never demoted: they keep owner and sign in.
//! - **Refusals** ([`ExternalRefused`]) leave `signin.failed` with the reason, as password
//!   sign-ins do, and change nothing.

use std::fmt;

use chrono::{DateTime, Utc};
use pharos_domain::access::Role;
use pharos_store::{
    ActorKind, AuditRecord, PeopleConflict, StoreError, UserKind, UserPatch, UserRecord,
};

use super::directory::{new_user_id, normalise_email, Directory};
use super::signin::{audit_text, SignInError, SignedIn, AUDIT_EMAIL_MAX_CHARS};

/// The audit trail's name for what single sign-on does by itself (adding, linking or
/// re-roling a person on their sign-in).
pub const SSO_ACTOR: &str = "single sign-on";

/// A sign-in the identity provider vouched for: its ID token verified, its claims read.
#[derive(Clone)]
pub struct ExternalSignIn<'a> {
    /// The provider's issuer identifier, as configured (and as the token's `iss`).
    pub issuer: &'a str,
    /// The token's `sub`: the person at the provider.
    pub subject: &'a str,
    /// The `email` claim, if any.
    pub email: Option<&'a str>,
    /// The `email_verified` claim (`false` when absent).
    pub email_verified: bool,
    /// A display name from the claims (`name`, else `preferred_username`), if any.
    pub name: Option<&'a str>,
    /// The role the claims map to.
    pub role: Role,
    /// The client's address.
    pub address: &'a str,
    /// The client's user agent.
    pub user_agent: &'a str,
    /// The request's id, for the audit trail.
    pub request_id: Option<&'a str>,
    /// When.
    pub now: DateTime<Utc>,
}

impl fmt::Debug for ExternalSignIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalSignIn")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in the provider vouched for was refused all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExternalRefused {
    /// The person is disabled in Pharos.
    #[error("this account is disabled in Pharos")]
    Disabled,
    /// A person has this e-mail address, but the provider does not say it is verified, so
    /// the identity is not linked to them.
    #[error(
        "a Pharos account has this e-mail address, but the identity provider does not say the \
         address is verified, so it is not linked to that account"
    )]
    EmailUnverified,
    /// The person with this e-mail address is linked to another identity.
    #[error("the Pharos account with this e-mail address is linked to another identity")]
    LinkedElsewhere,
}

impl ExternalRefused {
    /// The reason as the audit entry records it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalRefused::Disabled => "disabled",
            ExternalRefused::EmailUnverified => "email_unverified",
            ExternalRefused::LinkedElsewhere => "linked_elsewhere",
        }
    }
}

/// A refused single sign-on, as the audit trail records it.
#[derive(Debug, Clone, Copy)]
pub struct ExternalFailure<'a> {
    /// Who, as far as anyone knows: the e-mail or subject the provider named, or `""` when
    /// the refusal came before any was verified.
    pub who: &'a str,
    /// The user concerned, when one was found.
    pub user_id: Option<&'a str>,
    /// Why, one word (`state`, `nonce`, `issuer`, `audience`, …).
    pub reason: &'a str,
    /// The client's address.
    pub address: &'a str,
    /// The request's id.
    pub request_id: Option<&'a str>,
    /// When.
    pub now: DateTime<Utc>,
}

/// The stored identity of `issuer`'s subject `subject`.
pub fn sso_subject(issuer: &str, subject: &str) -> String {
    format!("{issuer}|{subject}")
}

/// A record by single sign-on itself at `at`.
fn by_sso(
    action: &str,
    subject: &str,
    at: DateTime<Utc>,
    attempt: &ExternalSignIn<'_>,
) -> AuditRecord {
    AuditRecord {
        at,
        actor_kind: ActorKind::Automation,
        actor_id: None,
        actor_name: SSO_ACTOR.to_owned(),
        action: action.to_owned(),
        subject: Some(subject.to_owned()),
        before: None,
        after: None,
        request_id: attempt.request_id.map(|r| audit_text(r, 128)),
        address: Some(audit_text(attempt.address, 64)),
    }
}

impl Directory {
    /// Signs in the person `attempt` names (see the module's documentation): finds them by
    /// identity, else links the person with the same verified e-mail address, else adds them;
    /// brings their role in line with `attempt.role` (never demoting the last owner); and opens
    /// a session with the audit entry `signin` (`after`: `{"method": "sso", "issuer": …}`).
    /// `Ok(Err(_))` is a refusal, already recorded as `signin.failed`.
    pub async fn sign_in_external(
        &self,
        attempt: ExternalSignIn<'_>,
    ) -> Result<Result<SignedIn, ExternalRefused>, SignInError> {
        let identity = sso_subject(attempt.issuer, attempt.subject);
        let email = attempt.email.and_then(normalise_email);
        let who = email.as_deref().unwrap_or(attempt.subject);
        let user = match self.store().user_by_sso_subject(&identity).await? {
            Some(user) => user,
            None => match self
                .link_or_add(&attempt, &identity, email.as_deref())
                .await?
            {
                Ok(user) => user,
                Err((refused, user_id)) => {
                    self.record_external_failure(ExternalFailure {
                        who,
                        user_id: user_id.as_deref(),
                        reason: refused.as_str(),
                        address: attempt.address,
                        request_id: attempt.request_id,
                        now: attempt.now,
                    })
                    .await?;
                    return Ok(Err(refused));
                }
            },
        };
        if !user.is_enabled() || user.kind != UserKind::Person {
            self.record_external_failure(ExternalFailure {
                who,
                user_id: Some(&user.id),
                reason: ExternalRefused::Disabled.as_str(),
                address: attempt.address,
                request_id: attempt.request_id,
                now: attempt.now,
            })
            .await?;
            return Ok(Err(ExternalRefused::Disabled));
        }
        let user = self.follow_role(&attempt, user).await?;
        let after = serde_json::json!({ "method": "sso", "issuer": attempt.issuer }).to_string();
        let opened = self
            .open_session(
                user,
                attempt.address,
                attempt.user_agent,
                attempt.request_id,
                attempt.now,
                Some(after),
            )
            .await?;
        match opened {
            Ok(signed_in) => Ok(Ok(signed_in)),
            Err(user) => {
                self.record_external_failure(ExternalFailure {
                    who,
                    user_id: Some(&user.id),
                    reason: ExternalRefused::Disabled.as_str(),
                    address: attempt.address,
                    request_id: attempt.request_id,
                    now: attempt.now,
                })
                .await?;
                Ok(Err(ExternalRefused::Disabled))
            }
        }
    }

    /// The person for a first sign-in of `identity`: the one with the same verified e-mail
    /// address, now linked, or a new one. `Err((why, user id))` when neither may be.
    async fn link_or_add(
        &self,
        attempt: &ExternalSignIn<'_>,
        identity: &str,
        email: Option<&str>,
    ) -> Result<Result<UserRecord, (ExternalRefused, Option<String>)>, StoreError> {
        let existing = match email {
            Some(e) => self.store().user_by_email(e).await?,
            None => None,
        };
        if let Some(user) = existing {
            if !attempt.email_verified {
                return Ok(Err((ExternalRefused::EmailUnverified, Some(user.id))));
            }
            if user.sso_subject.is_some() || user.kind != UserKind::Person {
                return Ok(Err((ExternalRefused::LinkedElsewhere, Some(user.id))));
            }
            if !user.is_enabled() {
                return Ok(Err((ExternalRefused::Disabled, Some(user.id))));
            }
            let patch = UserPatch {
                sso_subject: Some(Some(identity.to_owned())),
                ..UserPatch::default()
            };
            let mut audit = by_sso("user.change", &user.id, attempt.now, attempt);
            audit.after = Some(
                serde_json::json!({ "sso": { "issuer": attempt.issuer, "linked": true } })
                    .to_string(),
            );
            return Ok(
                match self
                    .store()
                    .update_user(&user.id, &patch, attempt.now, &audit)
                    .await?
                {
                    Ok(linked) => {
                        tracing::info!(user = %linked.id, "a person's single sign-on identity was linked by their verified e-mail");
                        Ok(linked)
                    }
                    Err(PeopleConflict::DuplicateSsoSubject(_)) => {
                        // Linked by a sign-in at the same moment: read it back.
                        match self.store().user_by_sso_subject(identity).await? {
                            Some(u) => Ok(u),
                            None => Err((ExternalRefused::LinkedElsewhere, Some(user.id))),
                        }
                    }
                    Err(PeopleConflict::UserDisabled(_)) => {
                        Err((ExternalRefused::Disabled, Some(user.id)))
                    }
                    Err(_) => Err((ExternalRefused::LinkedElsewhere, Some(user.id))),
                },
            );
        }
        let name = attempt
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .or_else(|| email.and_then(|e| e.split('@').next()))
            .unwrap_or(attempt.subject);
        let name: String = audit_text(name, 200);
        let mut user = UserRecord::new(
            new_user_id(UserKind::Person),
            UserKind::Person,
            name,
            attempt.role,
            attempt.now,
        );
        user.email = email.map(str::to_owned);
        user.sso_subject = Some(identity.to_owned());
        let mut audit = by_sso("user.add", &user.id, attempt.now, attempt);
        audit.after = Some(
            serde_json::json!({
                "id": user.id,
                "kind": user.kind.as_str(),
                "email": user.email,
                "name": user.name,
                "role": user.role.as_str(),
                "time_zone": user.time_zone,
                "password": false,
                "sso": { "issuer": attempt.issuer },
            })
            .to_string(),
        );
        Ok(match self.store().add_user(&user, &audit).await? {
            Ok(()) => {
                tracing::info!(user = %user.id, role = user.role.as_str(), "a person was added on their first single sign-on");
                Ok(user)
            }
            // Added by a sign-in at the same moment: read it back.
            Err(PeopleConflict::DuplicateSsoSubject(_)) => {
                match self.store().user_by_sso_subject(identity).await? {
                    Some(u) => Ok(u),
                    None => Err((ExternalRefused::LinkedElsewhere, None)),
                }
            }
            Err(_) => Err((ExternalRefused::LinkedElsewhere, None)),
        })
    }

    /// `user` with the role `attempt` maps to, changed and audited when it differs; the last
    /// enabled owner keeps owner.
    async fn follow_role(
        &self,
        attempt: &ExternalSignIn<'_>,
        user: UserRecord,
    ) -> Result<UserRecord, StoreError> {
        if user.role == attempt.role {
            return Ok(user);
        }
        let patch = UserPatch {
            role: Some(attempt.role),
            ..UserPatch::default()
        };
        let mut audit = by_sso("user.change", &user.id, attempt.now, attempt);
        audit.before = Some(serde_json::json!({ "role": user.role.as_str() }).to_string());
        audit.after = Some(
            serde_json::json!({ "role": attempt.role.as_str(), "from": "sso claim" }).to_string(),
        );
        match self
            .store()
            .update_user(&user.id, &patch, attempt.now, &audit)
            .await?
        {
            Ok(changed) => {
                tracing::info!(user = %changed.id, from = user.role.as_str(), to = changed.role.as_str(), "a person's role followed their single sign-on claim");
                Ok(changed)
            }
            Err(conflict) => {
                // The last owner (or a change at the same moment): they keep their role.
                tracing::warn!(user = %user.id, role = attempt.role.as_str(), %conflict, "a person's role was not changed to follow their single sign-on claim");
                Ok(user)
            }
        }
    }

    /// Writes `signin.failed` for a refused single sign-on (actor anonymous, named by
    /// `failure.who`; `after`: `{"method": "sso", "reason": …}`).
    pub async fn record_external_failure(
        &self,
        failure: ExternalFailure<'_>,
    ) -> Result<(), StoreError> {
        let record = AuditRecord {
            at: failure.now,
            actor_kind: ActorKind::Anonymous,
            actor_id: None,
            actor_name: audit_text(failure.who, AUDIT_EMAIL_MAX_CHARS),
            action: "signin.failed".to_owned(),
            subject: failure.user_id.map(str::to_owned),
            before: None,
            after: Some(
                serde_json::json!({ "method": "sso", "reason": failure.reason }).to_string(),
            ),
            request_id: failure.request_id.map(|r| audit_text(r, 128)),
            address: Some(audit_text(failure.address, 64)),
        };
        self.store().append_audit(&record).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_issuer_and_subject() {
        assert_eq!(
            sso_subject("https://id.example.com", "1234"),
            "https://id.example.com|1234"
        );
    }
}
