//! The human part of a postmortem: what people write (root cause, remediation, action items,
//! and optionally their own description, type of event, services and time zone), as stored,
//! and [`parse_edits`], which checks a `PUT …/postmortem` request for it field by field. Dates,
//! action kinds and the time zone arrive parsed (the edge deserializes them with
//! [`crate::request`] and [`time_zone`]).

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::incident::{rule_de_error, RuleError};
use crate::request::RequestValue;

/// Longest description, root cause or remediation, in characters.
pub const MAX_TEXT_LEN: usize = 10_000;
/// Longest event type or services-impacted text, in characters.
pub const MAX_SHORT_LEN: usize = 1_000;
/// Most action items one postmortem holds.
pub const MAX_ACTIONS: usize = 50;
/// Longest action description, in characters.
pub const MAX_ACTION_LEN: usize = 1_000;
/// Longest owner name, in characters.
pub const MAX_OWNER_LEN: usize = 100;
/// Longest tracker link, in characters.
pub const MAX_URL_LEN: usize = 2_000;

/// What an action item is for (the Google SRE template's types).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActionKind {
    /// Keeps it from happening again.
    #[default]
    Prevent,
    /// Makes it hurt less, or be noticed sooner, next time.
    Mitigate,
    /// Changes how the team works (runbooks, reviews, on-call).
    Process,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 3] = [Self::Prevent, Self::Mitigate, Self::Process];

    /// The wire form, e.g. `"prevent"`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// A kind as a request gives it (surrounding blanks ignored).
impl RequestValue for ActionKind {
    fn from_request(k: &str) -> Result<Self, String> {
        Self::parse(k.trim())
            .ok_or_else(|| format!("unknown kind {k:?}; expected prevent, mitigate or process"))
    }
}

/// One follow-up: what will be done, by whom, by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionItem {
    /// Stable id within the postmortem, `A1`, `A2`, … (given by [`parse_edits`]).
    pub id: String,
    /// What will be done.
    pub description: String,
    /// Who owns it (a person or a team); `None` while nobody does, which [`missing`](super::missing) flags.
    #[serde(default)]
    pub owner: Option<String>,
    /// When it is due; `None` while undecided, which [`missing`](super::missing) flags.
    #[serde(default)]
    pub due: Option<NaiveDate>,
    /// What it is for.
    #[serde(default)]
    pub kind: ActionKind,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
    /// A link to its ticket.
    #[serde(default)]
    pub url: Option<String>,
}

/// The human part of a postmortem, as stored: everything the record cannot say. `None` for
/// `description`, `event_type` and `services_impacted` keeps the drafted text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostmortemEdits {
    /// Replaces the drafted description.
    pub description: Option<String>,
    /// Replaces the drafted type of event ("Outage", "Degradation", …).
    pub event_type: Option<String>,
    /// Says which services were impacted, beside (or instead of) the recorded components.
    pub services_impacted: Option<String>,
    /// Why it happened (Markdown).
    pub root_cause: String,
    /// What was done to end it (Markdown).
    pub remediation: String,
    /// Follow-ups.
    pub actions: Vec<ActionItem>,
    /// The IANA zone the document is written in, e.g. `America/Denver`; `None` uses the page's.
    pub time_zone: Option<String>,
}

impl PostmortemEdits {
    /// The saved time zone, if it is one chrono-tz knows.
    pub fn tz(&self) -> Option<Tz> {
        self.time_zone.as_deref().and_then(|z| Tz::from_str(z).ok())
    }

    /// Action items not done yet.
    pub fn open_actions(&self) -> impl Iterator<Item = &ActionItem> {
        self.actions.iter().filter(|a| !a.done)
    }
}

/// A request to replace the human part (`PUT …/postmortem`), its values parsed, before the
/// rules that need what is saved (and lengths) are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditsInput {
    /// Replaces the drafted description; blank or `None` keeps the draft's.
    pub description: Option<String>,
    /// Replaces the drafted type of event; blank or `None` keeps the draft's.
    pub event_type: Option<String>,
    /// Names the services impacted; blank or `None` uses the recorded components.
    pub services_impacted: Option<String>,
    /// Root cause.
    pub root_cause: Option<String>,
    /// Remediation.
    pub remediation: Option<String>,
    /// Action items, in order.
    pub actions: Vec<ActionInput>,
    /// The zone the document is written in (parsed by [`parse_time_zone`]).
    pub time_zone: Option<Tz>,
}

/// One action item in a request, its values parsed, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInput {
    /// The id of a saved action this one replaces; `None` for a new action.
    pub id: Option<String>,
    /// What will be done.
    pub description: String,
    /// Who owns it; must not be blank when given.
    pub owner: Option<String>,
    /// Due date.
    pub due: Option<NaiveDate>,
    /// What it is for (default `prevent`).
    pub kind: Option<ActionKind>,
    /// Whether it is done (default false).
    pub done: Option<bool>,
    /// Ticket link, `http(s)://…`.
    pub url: Option<String>,
}

/// Checks a request for the human part against what is saved (`previous`), and gives new
/// actions the next free ids. Nothing is half-applied: the first fault is returned, naming its
/// field (`root_cause`, `actions[1].owner`, `time_zone`, …).
pub fn parse_edits(
    input: EditsInput,
    previous: &PostmortemEdits,
) -> Result<PostmortemEdits, RuleError> {
    let optional = |field: &str, value: Option<String>, max: usize| {
        let value = value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        match value {
            Some(s) if s.chars().count() > max => Err(RuleError::invalid(
                field,
                format!("must be at most {max} characters"),
            )),
            other => Ok(other),
        }
    };
    let text = |field: &str, value: Option<String>| {
        optional(field, value, MAX_TEXT_LEN).map(Option::unwrap_or_default)
    };
    let description = optional("description", input.description, MAX_TEXT_LEN)?;
    let event_type = optional("event_type", input.event_type, MAX_SHORT_LEN)?;
    let services_impacted = optional("services_impacted", input.services_impacted, MAX_SHORT_LEN)?;
    let root_cause = text("root_cause", input.root_cause)?;
    let remediation = text("remediation", input.remediation)?;
    let time_zone = input.time_zone.map(|z| z.name().to_owned());
    if input.actions.len() > MAX_ACTIONS {
        return Err(RuleError::invalid(
            "actions",
            format!("at most {MAX_ACTIONS} action items"),
        ));
    }

    let saved: BTreeSet<&str> = previous.actions.iter().map(|a| a.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut next = previous
        .actions
        .iter()
        .filter_map(|a| action_number(&a.id))
        .max()
        .unwrap_or(0);
    let mut actions = Vec::with_capacity(input.actions.len());
    let mut unnumbered = Vec::new();
    for (i, a) in input.actions.into_iter().enumerate() {
        let field = |name: &str| format!("actions[{i}].{name}");
        let id = match a.id.map(|s| s.trim().to_owned()) {
            Some(id) if !saved.contains(id.as_str()) => {
                return Err(RuleError::invalid(
                    field("id"),
                    format!("no saved action has id {id:?}; leave id out for a new action"),
                ))
            }
            Some(id) if !seen.insert(id.clone()) => {
                return Err(RuleError::invalid(
                    field("id"),
                    format!("action {id} is listed twice"),
                ))
            }
            other => other,
        };
        let description = a.description.trim().to_owned();
        if description.is_empty() {
            return Err(RuleError::invalid(
                field("description"),
                "must not be empty",
            ));
        }
        if description.chars().count() > MAX_ACTION_LEN {
            return Err(RuleError::invalid(
                field("description"),
                format!("must be at most {MAX_ACTION_LEN} characters"),
            ));
        }
        let owner = match a.owner.map(|o| o.trim().to_owned()) {
            Some(o) if o.is_empty() => {
                return Err(RuleError::invalid(
                    field("owner"),
                    "must not be empty; leave it out (or null) while nobody owns the action",
                ))
            }
            Some(o) if o.chars().count() > MAX_OWNER_LEN => {
                return Err(RuleError::invalid(
                    field("owner"),
                    format!("must be at most {MAX_OWNER_LEN} characters"),
                ))
            }
            other => other,
        };
        let due = a.due;
        let kind = a.kind.unwrap_or_default();
        let url = match a.url.map(|u| u.trim().to_owned()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) if !crate::link::is_http_link(&u) || u.chars().count() > MAX_URL_LEN => {
                return Err(RuleError::invalid(
                    field("url"),
                    format!(
                        "must be an http:// or https:// link of at most {MAX_URL_LEN} characters"
                    ),
                ))
            }
            other => other,
        };
        if id.is_none() {
            unnumbered.push(actions.len());
        }
        actions.push(ActionItem {
            id: id.unwrap_or_default(),
            description,
            owner,
            due,
            kind,
            done: a.done.unwrap_or(false),
            url,
        });
    }
    for i in unnumbered {
        next += 1;
        actions[i].id = format!("A{next}");
    }
    Ok(PostmortemEdits {
        description,
        event_type,
        services_impacted,
        root_cause,
        remediation,
        actions,
        time_zone,
    })
}

/// Parses the time zone a postmortem is written in: an IANA `Area/Location` name such as
/// `America/Denver`, or `UTC`. Abbreviations are refused even where the IANA database keeps a
/// legacy zone of that name (`MST`, `EST`): the seeds' postmortems mixed MST, CST and EST, and
/// an abbreviation does not follow daylight saving time.
pub fn parse_time_zone(field: &str, z: &str) -> Result<Tz, RuleError> {
    let z = z.trim();
    let unknown = || {
        RuleError::invalid(
            field,
            format!("unknown time zone {z:?}; expected an IANA name like America/Denver, or UTC"),
        )
    };
    if z != "UTC" && !z.contains('/') {
        return Err(RuleError::invalid(
            field,
            format!("{z:?} is an abbreviation, not a place; give an IANA name like America/Denver, or UTC"),
        ));
    }
    Tz::from_str(z).map_err(|_| unknown())
}

/// Deserializes a postmortem's `time_zone` with [`parse_time_zone`], blank or `null` being
/// `None` (`#[serde(default, deserialize_with = "pharos_domain::postmortem::time_zone")]`); a
/// zone that is none is a broken rule.
pub fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(z) if !z.trim().is_empty() => parse_time_zone("time_zone", &z)
            .map(Some)
            .map_err(|e| rule_de_error(e.message())),
        _ => Ok(None),
    }
}

/// The number of an action id `A<n>`.
fn action_number(id: &str) -> Option<u32> {
    id.strip_prefix('A')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postmortem::fixtures::*;

    #[test]
    fn values_are_parsed_as_requests_give_them() {
        assert_eq!(
            ActionKind::from_request(" mitigate"),
            Ok(ActionKind::Mitigate)
        );
        assert_eq!(
            ActionKind::from_request("fix"),
            Err("unknown kind \"fix\"; expected prevent, mitigate or process".to_owned())
        );
        assert_eq!(
            NaiveDate::from_request("30/04/2026"),
            Err("\"30/04/2026\" is not a date; expected YYYY-MM-DD, like 2026-04-30".to_owned())
        );
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "time_zone")]
            time_zone: Option<Tz>,
        }
        let zone = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.time_zone);
        assert_eq!(zone("{}").unwrap(), None);
        assert_eq!(zone(r#"{"time_zone": null}"#).unwrap(), None);
        assert_eq!(
            zone(r#"{"time_zone": "  "}"#).unwrap(),
            None,
            "blank is absent"
        );
        assert_eq!(
            zone(r#"{"time_zone": " America/Denver "}"#).unwrap(),
            Some(chrono_tz::America::Denver)
        );
        for bad in ["Mars/Olympus", "MST"] {
            let e = zone(&format!(r#"{{"time_zone": "{bad}"}}"#)).unwrap_err();
            let rule = crate::incident::rule_message(&e.to_string()).map(str::to_owned);
            assert!(rule.is_some_and(|m| m.contains(bad)), "{e}");
        }
    }

    #[test]
    fn edits_are_checked_field_by_field_and_actions_get_stable_ids() {
        let none = PostmortemEdits::default();
        let action = |d: &str| ActionInput {
            description: d.into(),
            ..ActionInput::default()
        };
        let refuse = |input: EditsInput, previous: &PostmortemEdits| {
            parse_edits(input, previous).unwrap_err().field().to_owned()
        };
        let with_actions = |actions| EditsInput {
            actions,
            ..EditsInput::default()
        };
        // A date, a kind and a time zone are parsed before: a bad one is refused at the edge
        // naming its field (`actions[1].due`); see `values_are_parsed_as_requests_give_them`.
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    owner: Some("  ".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].owner"
        );
        assert_eq!(
            refuse(with_actions(vec![action(" ")]), &none),
            "actions[0].description"
        );
        // A link is the same rule as a change's: a scheme alone, or a link with a space in
        // it, is no link.
        for url in [
            "javascript:alert(1)",
            "https://",
            "https://tracker.example/a b",
        ] {
            assert_eq!(
                refuse(
                    with_actions(vec![ActionInput {
                        url: Some(url.into()),
                        ..action("a")
                    }]),
                    &none
                ),
                "actions[0].url",
                "{url}"
            );
        }
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    id: Some("A9".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].id"
        );
        assert_eq!(
            parse_time_zone("time_zone", "Mars/Olympus")
                .unwrap_err()
                .field(),
            "time_zone"
        );
        for abbreviation in ["MST", "EST", "CST6CDT"] {
            assert_eq!(
                parse_time_zone("time_zone", abbreviation)
                    .unwrap_err()
                    .field(),
                "time_zone",
                "{abbreviation}"
            );
        }
        assert_eq!(parse_time_zone("tz", "UTC"), Ok(chrono_tz::UTC));
        assert_eq!(parse_time_zone("tz", " Etc/UTC "), Ok(chrono_tz::Etc::UTC));
        assert_eq!(
            refuse(
                EditsInput {
                    root_cause: Some("x".repeat(MAX_TEXT_LEN + 1)),
                    ..EditsInput::default()
                },
                &none
            ),
            "root_cause"
        );

        let first = parse_edits(
            EditsInput {
                description: Some("   ".into()),
                time_zone: Some(chrono_tz::America::Denver),
                actions: vec![action("one"), action("two")],
                ..EditsInput::default()
            },
            &none,
        )
        .unwrap();
        assert_eq!(first.description, None, "blank keeps the drafted text");
        assert_eq!(first.tz(), Some(chrono_tz::America::Denver));
        let ids: Vec<&str> = first.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["A1", "A2"]);
        assert_eq!(first.actions[0].kind, ActionKind::Prevent);

        // Keep A2 (now done), drop A1, add one: the new one does not take a used number.
        let second = parse_edits(
            with_actions(vec![
                ActionInput {
                    id: Some("A2".into()),
                    done: Some(true),
                    ..action("two")
                },
                action("three"),
            ]),
            &first,
        )
        .unwrap();
        let ids: Vec<(&str, bool)> = second
            .actions
            .iter()
            .map(|a| (a.id.as_str(), a.done))
            .collect();
        assert_eq!(ids, [("A2", true), ("A3", false)]);
        assert_eq!(
            refuse(
                with_actions(vec![
                    ActionInput {
                        id: Some("A2".into()),
                        ..action("x")
                    },
                    ActionInput {
                        id: Some("A2".into()),
                        ..action("y")
                    }
                ]),
                &first
            ),
            "actions[1].id"
        );
    }

    #[test]
    fn edits_round_trip_as_stored_json() {
        let edits = complete_edits();
        let json = serde_json::to_string(&edits).unwrap();
        assert!(json.contains("\"due\":\"2026-04-30\""), "{json}");
        assert!(json.contains("\"kind\":\"prevent\""), "{json}");
        assert_eq!(
            serde_json::from_str::<PostmortemEdits>(&json).unwrap(),
            edits
        );
        // An older, smaller document still loads.
        let old: PostmortemEdits = serde_json::from_str(r#"{"root_cause":"x"}"#).unwrap();
        assert_eq!(old.root_cause, "x");
        assert!(old.actions.is_empty());
    }
}
