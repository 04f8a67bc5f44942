//! Request values: a value a person sends in a request body, parsed at the edge into the
//! domain type it names (a status, an impact, a severity, a component), so the layers behind
//! the edge are handed typed commands and check only what needs their state.
//!
//! A type says how a person's text becomes it by implementing [`RequestValue`]; a request
//! body's field then deserializes with one of the helpers here, chosen by the field's shape:
//!
//! ```
//! use std::collections::BTreeMap;
//! use pharos_domain::{request, ComponentId, ComponentStatus, IncidentStatus, Severity};
//!
//! #[derive(serde::Deserialize)]
//! struct Declare {
//!     #[serde(default, deserialize_with = "request::option")]
//!     status: Option<IncidentStatus>,
//!     #[serde(default, deserialize_with = "request::nullable")]
//!     severity: Option<Option<Severity>>,
//!     #[serde(default, deserialize_with = "request::map")]
//!     components: BTreeMap<ComponentId, ComponentStatus>,
//! }
//! let d: Declare = serde_json::from_str(r#"{"severity": "s2", "components": {"api": "major_outage"}}"#).unwrap();
//! assert_eq!(d.severity, Some(Some(Severity::S2)));
//! ```
//!
//! A value of the wrong JSON type (a number for a status) is a type error, as serde reports
//! it; a string that names no such value is refused with the rule's own message through
//! [`rule_de_error`], which the admin API answers as a 422 naming the field by its path
//! (`components.api`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::NaiveDate;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::incident::{self, rule_de_error};
use crate::{ComponentId, ComponentStatus, Impact, IncidentStatus, MaintenanceStatus, Severity};

/// A value a person names by a string in a request.
pub trait RequestValue: Sized {
    /// Parses `s` as a request gives it; `Err` is the refusal's message (the field is the
    /// deserializer's path, so the message does not name it).
    fn from_request(s: &str) -> Result<Self, String>;
}

/// One value: a string, parsed by [`RequestValue::from_request`].
struct Parsed<T>(T);

impl<'de, T: RequestValue> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        T::from_request(&s).map(Parsed).map_err(rule_de_error)
    }
}

/// A field that must be present (`deserialize_with = "request::one"`).
pub fn one<'de, D: Deserializer<'de>, T: RequestValue>(d: D) -> Result<T, D::Error> {
    Parsed::deserialize(d).map(|p| p.0)
}

/// An optional field, absent or `null` being `None`
/// (`#[serde(default, deserialize_with = "request::option")]`).
pub fn option<'de, D: Deserializer<'de>, T: RequestValue>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Parsed<T>>::deserialize(d).map(|o| o.map(|p| p.0))
}

/// A field that `null` clears: absent is `None` (by `#[serde(default)]`), `null` is
/// `Some(None)` (`#[serde(default, deserialize_with = "request::nullable")]`).
pub fn nullable<'de, D: Deserializer<'de>, T: RequestValue>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    option(d).map(Some)
}

/// A list of values (`deserialize_with = "request::list"`); a refusal names its index
/// (`components[1]`).
pub fn list<'de, D: Deserializer<'de>, T: RequestValue>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Parsed<T>>::deserialize(d).map(|v| v.into_iter().map(|p| p.0).collect())
}

/// An object of values keyed by values, absent or `null` being empty
/// (`#[serde(default, deserialize_with = "request::map")]`); a refusal of a key or of a value
/// names the key (`components.api`).
pub fn map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: RequestValue + Ord,
    V: RequestValue,
{
    Option::<ParsedMap<K, V>>::deserialize(d).map(|m| m.map(|m| m.0).unwrap_or_default())
}

struct ParsedMap<K, V>(BTreeMap<K, V>);

impl<'de, K: RequestValue + Ord, V: RequestValue> Deserialize<'de> for ParsedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(PhantomData<(K, V)>);
        impl<'de, K: RequestValue + Ord, V: RequestValue> Visitor<'de> for Entries<K, V> {
            type Value = ParsedMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(Parsed(k)) = a.next_key::<Parsed<K>>()? {
                    let Parsed(v) = a.next_value::<Parsed<V>>()?;
                    out.insert(k, v);
                }
                Ok(ParsedMap(out))
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

/// Refusal messages are the rule functions' own, without their field.
fn message<T>(r: Result<T, crate::RuleError>) -> Result<T, String> {
    r.map_err(|e| e.message().to_owned())
}

/// An incident status a person sets: not `postmortem` (publishing a postmortem sets it), and a
/// maintenance status is refused by name.
impl RequestValue for IncidentStatus {
    fn from_request(s: &str) -> Result<Self, String> {
        message(incident::parse_incident_status("", s))
    }
}

/// A maintenance status; an incident status is refused by name.
impl RequestValue for MaintenanceStatus {
    fn from_request(s: &str) -> Result<Self, String> {
        message(incident::parse_maintenance_status("", s))
    }
}

impl RequestValue for Impact {
    fn from_request(s: &str) -> Result<Self, String> {
        message(incident::parse_impact("", s))
    }
}

/// `S1`..`S4`, case-insensitive.
impl RequestValue for Severity {
    fn from_request(s: &str) -> Result<Self, String> {
        message(incident::parse_severity("", s))
    }
}

impl RequestValue for ComponentStatus {
    fn from_request(s: &str) -> Result<Self, String> {
        message(incident::parse_component_status("", s))
    }
}

/// A component a request names (an incident's or a maintenance's): a string that cannot be an
/// id names no component, and is refused as unknown, as an id nobody configured is (whether
/// it is configured, and not a group, is the engine's to say).
impl RequestValue for ComponentId {
    fn from_request(s: &str) -> Result<Self, String> {
        ComponentId::new(s).map_err(|_| format!("unknown component {s:?}"))
    }
}

/// A day, `YYYY-MM-DD` (surrounding blanks ignored).
impl RequestValue for NaiveDate {
    fn from_request(s: &str) -> Result<Self, String> {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{s:?} is not a date; expected YYYY-MM-DD, like 2026-04-30"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::rule_message;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, deserialize_with = "option")]
        status: Option<IncidentStatus>,
        #[serde(default, deserialize_with = "nullable")]
        impact: Option<Option<Impact>>,
        #[serde(default, deserialize_with = "map")]
        components: BTreeMap<ComponentId, ComponentStatus>,
        #[serde(default, deserialize_with = "list")]
        days: Vec<NaiveDate>,
    }

    fn refusal(json: &str) -> String {
        let e = serde_json::from_str::<Body>(json).unwrap_err().to_string();
        rule_message(&e)
            .unwrap_or_else(|| panic!("not a rule: {e}"))
            .to_owned()
    }

    #[test]
    fn fields_of_every_shape() {
        let b: Body = serde_json::from_str("{}").unwrap();
        assert_eq!((b.status, b.impact), (None, None));
        assert!(b.components.is_empty() && b.days.is_empty());
        let b: Body = serde_json::from_str(
            r#"{"status": null, "impact": null, "components": null, "days": [" 2026-04-30"]}"#,
        )
        .unwrap();
        assert_eq!((b.status, b.impact), (None, Some(None)));
        assert!(b.components.is_empty());
        assert_eq!(b.days, [NaiveDate::from_ymd_opt(2026, 4, 30).unwrap()]);
        let b: Body = serde_json::from_str(
            r#"{"status": "identified", "impact": "major", "components": {"api": "major_outage"}}"#,
        )
        .unwrap();
        assert_eq!(b.status, Some(IncidentStatus::Identified));
        assert_eq!(b.impact, Some(Some(Impact::Major)));
        assert_eq!(
            b.components,
            BTreeMap::from([(
                ComponentId::new("api").unwrap(),
                ComponentStatus::MajorOutage
            )])
        );
    }

    #[test]
    fn a_bad_value_is_a_rule_with_its_message_and_a_wrong_type_is_not() {
        assert!(refusal(r#"{"status": "in_progress"}"#).contains("maintenance status"));
        assert!(refusal(r#"{"status": "postmortem"}"#).contains("publishing a postmortem"));
        assert_eq!(
            refusal(r#"{"impact": "x"}"#),
            "unknown impact \"x\"; expected none, minor, major or critical"
        );
        assert!(refusal(r#"{"components": {"api": "on_fire"}}"#)
            .starts_with("unknown component status \"on_fire\""));
        assert_eq!(
            refusal(r#"{"components": {"Not An Id": "major_outage"}}"#),
            "unknown component \"Not An Id\""
        );
        assert_eq!(
            refusal(r#"{"days": ["30/04/2026"]}"#),
            "\"30/04/2026\" is not a date; expected YYYY-MM-DD, like 2026-04-30"
        );
        for wrong_type in [
            r#"{"status": 1}"#,
            r#"{"components": ["api"]}"#,
            r#"{"x": 1}"#,
        ] {
            let e = serde_json::from_str::<Body>(wrong_type).unwrap_err();
            assert_eq!(rule_message(&e.to_string()), None, "{wrong_type}: {e}");
        }
    }
}
