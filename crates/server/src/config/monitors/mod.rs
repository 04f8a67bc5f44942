//! `[[monitors]]`: each entry becomes a `pharos_domain::MonitorSpec`, with the defaults of
//! SPEC §2 filled in and every key checked against the monitor's type.
//!
//! This module reads what every monitor has (id, type, interval, thresholds, conditions,
//! components, `depends_on`, quiet rules) and hands the rest to the module of its type, the
//! way each probe kind owns its module in `pharos-probe`. A type is a [`Type`] entry in
//! [`TYPES`]: its keys, its defaults and the function that reads its target. Adding a type
//! is a new module here: its `mod` line and its entry in [`TYPES`] are all that change in
//! this file.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::{
    ComponentId, ComponentStatus, Condition, MonitorId, MonitorKind, MonitorSpec, QuietRules,
};

use pharos_domain::location::{LocationDef, Placement};

use super::source::Str;
use super::walk::{did_you_mean, unknown_key, Cx, Field, Section};

mod depends_on;
mod dns;
mod heartbeat;
mod http;
mod icmp;
mod prometheus;
mod tcp;
mod tls;

/// Every monitor type, in the order messages list them (and suggestions prefer them).
const TYPES: &[Type] = &[
    http::TYPE,
    tcp::TYPE,
    heartbeat::TYPE,
    prometheus::TYPE,
    dns::TYPE,
    tls::TYPE,
    icmp::TYPE,
];

/// Keys every monitor type accepts, unless its [`Type::refuses`] them.
const COMMON_KEYS: &[&str] = &[
    "id",
    "type",
    "url",
    "interval",
    "timeout",
    "failure_threshold",
    "success_threshold",
    "conditions",
    "degraded_conditions",
    "components",
    "on_failure",
    "depends_on",
    "retries",
    "retry_interval",
    "flap_window",
    "flap_threshold",
    "locations",
    "quorum",
    "on_regional_failure",
];
/// Most retries a monitor may ask for: more hides an outage for too long.
const MAX_RETRIES: u32 = 10;
/// The shortest `interval` (and `retry_interval`, `flap_window`, heartbeat `period`).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The interval when none is given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The longest default timeout: the interval, up to this.
const MAX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Failed and successful checks in a row before a checked monitor changes state, by default.
const DEFAULT_THRESHOLDS: (u32, u32) = (3, 2);
/// The statuses `on_failure` may set, in the order messages list them.
pub(super) const ON_FAILURE: &[ComponentStatus] = &[
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
    ComponentStatus::DegradedPerformance,
];

/// One monitor type: what it accepts beyond the common keys, its defaults, and its reader.
struct Type {
    /// The value of `type`.
    name: &'static str,
    /// How messages name a monitor of this type, with its article: "an http", "a tcp".
    a_name: &'static str,
    /// Keys only this type (and perhaps a few others) accepts, in the order suggestions
    /// prefer them.
    keys: &'static [&'static str],
    /// Common keys this type refuses (a heartbeat has no `url`).
    refuses: &'static [&'static str],
    /// Why a refused common key does not apply, after "`key` does not apply to … monitor: ".
    refusal: &'static str,
    /// The condition used when `conditions` is left out; `None` for none at all.
    default_condition: Option<&'static str>,
    /// Failed and successful checks in a row before the monitor changes state, by default.
    thresholds: (u32, u32),
    /// Reads the type's own keys and its target; `None` once an error is reported.
    read: fn(&mut Cx<'_>, &Section<'_>, &mut Entry<'_>) -> Option<Read>,
}

/// What a type's reader knows of the monitor besides its section.
struct Entry<'e> {
    /// "monitor `api`" (or just "monitor" without a valid id), for messages.
    name: &'e str,
    /// The type's name, for "invalid … monitor `url`" messages.
    type_name: &'static str,
    /// The `url`, read and located, when the type takes one and it is a string.
    url: Option<Str>,
    /// Values this type requires to be unique across its monitors (heartbeat tokens), each
    /// with where it was first used.
    seen: &'e mut HashMap<String, usize>,
}

impl Entry<'_> {
    /// The target parsed from `url` by `parse`; `None` when `url` is missing or not a string
    /// (already reported) or `parse` refuses it ("invalid {type} monitor `url`: …").
    fn target<T>(
        &self,
        cx: &mut Cx<'_>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let url = self.url.as_ref()?;
        parse(&url.text)
            .map_err(|e| {
                cx.error(
                    url.at,
                    format!("invalid {} monitor `url`: {e}", self.type_name),
                );
            })
            .ok()
    }
}

/// What a type's reader makes of a monitor.
struct Read {
    /// The check to run (or the pings to expect).
    kind: MonitorKind,
    /// The interval shown when the type decides it (a heartbeat's period); `None` for
    /// `interval` or its default.
    interval: Option<Duration>,
}

impl From<MonitorKind> for Read {
    fn from(kind: MonitorKind) -> Self {
        Self {
            kind,
            interval: None,
        }
    }
}

/// What reading one monitor needs to know about those before it.
#[derive(Default)]
struct Seen {
    /// Each monitor id, with where it was first used.
    ids: HashMap<String, usize>,
    /// Per type, the values it keeps unique (see [`Entry::seen`]).
    by_type: HashMap<&'static str, HashMap<String, usize>>,
    /// Every `depends_on` entry, checked once all monitors are known.
    deps: Vec<depends_on::DependsRef>,
}

/// Reads every monitor. `components` are the declared component ids; every component a
/// monitor refers to is added to `driven`. Only fully valid monitors are returned.
pub(super) fn monitors(
    cx: &mut Cx<'_>,
    sections: &[Section<'_>],
    components: &[String],
    locations: &[LocationDef],
    driven: &mut HashSet<String>,
) -> Vec<MonitorSpec> {
    let mut seen = Seen::default();
    let out: Vec<MonitorSpec> = sections
        .iter()
        .filter_map(|s| monitor(cx, s, components, locations, driven, &mut seen))
        .collect();
    depends_on::check(cx, &seen.deps, &seen.ids);
    out
}

/// Reads one monitor: the common keys here, the rest by its type. `None` once an error is
/// reported.
fn monitor(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    components: &[String],
    locations: &[LocationDef],
    driven: &mut HashSet<String>,
    seen: &mut Seen,
) -> Option<MonitorSpec> {
    let errors_before = cx.error_count();
    let id = monitor_id(cx, s, &mut seen.ids);
    let name = id
        .as_ref()
        .map_or_else(|| "monitor".to_owned(), |id| format!("monitor `{id}`"));
    let ty = monitor_type(cx, s, &name);
    check_monitor_keys(cx, s, ty);

    let url = match s.field("url") {
        // A type that refuses `url` (a heartbeat, a dns monitor) had it reported above.
        _ if ty.is_some_and(|t| t.refuses.contains(&"url")) => None,
        None => {
            cx.error(s.at, format!("{name} is missing required key `url`"));
            None
        }
        Some(f) => cx.string(&f),
    };

    let interval = s.field("interval").and_then(|f| {
        let d = cx.duration(&f)?;
        if d < MIN_INTERVAL {
            cx.error(
                f.at,
                format!(
                    "`interval` must be at least 1s, found {:?}",
                    format_duration(d)
                ),
            );
            return None;
        }
        Some(d)
    });
    let interval_value = interval.unwrap_or(DEFAULT_INTERVAL);
    let timeout = s.field("timeout").and_then(|f| {
        let d = cx.duration(&f)?;
        if d.is_zero() {
            cx.error(f.at, "`timeout` must be longer than 0s");
            return None;
        }
        // Only compare with an interval that is itself valid.
        let interval_ok = interval.is_some() || s.field("interval").is_none();
        if interval_ok && d > interval_value {
            cx.error(
                f.at,
                format!(
                    "`timeout` ({}) must not be longer than `interval` ({}): checks of one monitor never overlap",
                    format_duration(d),
                    format_duration(interval_value)
                ),
            );
            return None;
        }
        Some(d)
    });
    let failure_threshold = s
        .field("failure_threshold")
        .and_then(|f| cx.integer_at_least::<u32>(&f, 1));
    let success_threshold = s
        .field("success_threshold")
        .and_then(|f| cx.integer_at_least::<u32>(&f, 1));

    let conditions = s.field("conditions").and_then(|f| {
        let list = condition_list(cx, &f)?;
        if list.is_empty() {
            cx.error(
                f.at,
                "`conditions` must not be empty; leave the key out to use the default",
            );
            return None;
        }
        Some(list)
    });
    let degraded_conditions = s
        .field("degraded_conditions")
        .and_then(|f| condition_list(cx, &f));
    let drives = match s.field("components") {
        Some(f) => component_refs(cx, &f, components, Some(driven)),
        None => None,
    };
    let on_failure = s.field("on_failure").and_then(|f| on_failure(cx, &f));
    let depends_on = s
        .field("depends_on")
        .and_then(|f| depends_on::read(cx, &f, id.as_ref(), &mut seen.deps));

    let quiet = quiet_rules(cx, s);
    // A type that refuses `locations` (a pinged heartbeat) had them reported above.
    let placement = if ty.is_some_and(|t| t.refuses.contains(&"locations")) {
        Some(Placement::default())
    } else {
        super::locations::placement(cx, s, locations)
    };

    let read = match ty {
        Some(ty) => (ty.read)(
            cx,
            s,
            &mut Entry {
                name: &name,
                type_name: ty.name,
                url,
                seen: seen.by_type.entry(ty.name).or_default(),
            },
        ),
        // Missing or unknown type (reported): check the http keys, the likeliest meant, as
        // well as we can.
        None => {
            http::settings(cx, s);
            None
        }
    };

    if cx.error_count() == errors_before && drives.as_ref().is_none_or(Vec::is_empty) {
        cx.warn(
            s.field("components").map_or(s.at, |f| f.at),
            format!("{name} drives no component, so it does not show on the status page"),
        );
    }

    let conditions = match conditions {
        Some(c) => c,
        None => match ty.and_then(|t| t.default_condition) {
            // A heartbeat's verdicts come from its pings and the clock.
            None => Vec::new(),
            Some(default) => match Condition::parse(default) {
                Ok(c) => vec![c],
                Err(e) => {
                    cx.error(
                        s.at,
                        format!(
                            "internal error: default condition {default:?} does not parse: {e}"
                        ),
                    );
                    Vec::new()
                }
            },
        },
    };

    if cx.error_count() > errors_before {
        return None;
    }
    let (ty, read) = (ty?, read?);
    let interval_value = read.interval.unwrap_or(interval_value);
    Some(MonitorSpec {
        id: id?,
        kind: read.kind,
        interval: interval_value,
        timeout: timeout.unwrap_or(interval_value.min(MAX_DEFAULT_TIMEOUT)),
        failure_threshold: failure_threshold.unwrap_or(ty.thresholds.0),
        success_threshold: success_threshold.unwrap_or(ty.thresholds.1),
        conditions,
        degraded_conditions: degraded_conditions.unwrap_or_default(),
        components: drives.unwrap_or_default(),
        on_failure: on_failure.unwrap_or(ComponentStatus::MajorOutage),
        depends_on: depends_on.unwrap_or_default(),
        quiet: quiet?,
        placement: placement?,
    })
}

/// The monitor's `type`; `None` (reported) when it is missing, not a string or unknown.
fn monitor_type(cx: &mut Cx<'_>, s: &Section<'_>, name: &str) -> Option<&'static Type> {
    let Some(f) = s.field("type") else {
        cx.error(s.at, format!("{name} is missing required key `type`"));
        return None;
    };
    let v = cx.string(&f)?;
    let found = TYPES.iter().find(|t| t.name == v.text);
    if found.is_none() {
        let names: Vec<&str> = TYPES.iter().map(|t| t.name).collect();
        cx.error(
            v.at,
            format!(
                "unknown monitor type {:?} (expected one of: {}){}",
                v.text,
                names.join(", "),
                did_you_mean(&v.text, &names),
            ),
        );
    }
    found
}

/// `retries` with `retry_interval`, and `flap_window` with `flap_threshold`.
fn quiet_rules(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<QuietRules> {
    let mut rules = QuietRules::default();
    let mut ok = true;
    if let Some(f) = s.field("retries") {
        match cx.integer_at_least::<u32>(&f, 0) {
            Some(n) if n > MAX_RETRIES => {
                cx.error(
                    f.at,
                    format!(
                        "`retries` must be at most {MAX_RETRIES}, found {n}; raise `failure_threshold` \
                         to wait for more failed checks"
                    ),
                );
                ok = false;
            }
            Some(n) => rules.retries = n,
            None => ok = false,
        }
    }
    if let Some(f) = s.field("retry_interval") {
        match cx.duration(&f) {
            Some(d) if d < MIN_INTERVAL => {
                cx.error(f.at, "`retry_interval` must be at least 1s");
                ok = false;
            }
            Some(d) => rules.retry_interval = d,
            None => ok = false,
        }
    }
    if let Some(f) = s.field("flap_window") {
        match cx.duration(&f) {
            Some(d) if d < MIN_INTERVAL => {
                cx.error(f.at, "`flap_window` must be at least 1s");
                ok = false;
            }
            Some(d) => rules.flap_window = d,
            None => ok = false,
        }
    }
    if let Some(f) = s.field("flap_threshold") {
        match cx.integer_at_least::<u32>(&f, 0) {
            Some(n @ (1 | 2)) => {
                cx.error(
                    f.at,
                    format!(
                        "`flap_threshold` must be 0 (off) or at least 3, found {n}: going down and \
                         coming back is a recovery, not flapping"
                    ),
                );
                ok = false;
            }
            Some(n) => rules.flap_threshold = n,
            None => ok = false,
        }
    }
    ok.then_some(rules)
}

/// The monitor's `id`, which must be valid and not used by an earlier monitor (`first_at`
/// remembers where each was first used).
fn monitor_id(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    first_at: &mut HashMap<String, usize>,
) -> Option<MonitorId> {
    let Some(f) = s.field("id") else {
        s.missing(cx, "id");
        return None;
    };
    let v = cx.string(&f)?;
    match MonitorId::new(v.text.as_str()) {
        Err(e) => {
            cx.error(v.at, format!("monitor {e}"));
            None
        }
        Ok(id) => {
            if let Some(&prev) = first_at.get(id.as_str()) {
                let message = format!(
                    "duplicate monitor id `{id}` (first used {})",
                    cx.describe_position(prev)
                );
                cx.error(v.at, message);
                None
            } else {
                first_at.insert(id.to_string(), v.at);
                Some(id)
            }
        }
    }
}

/// Reports every key the monitor's type does not accept: why, for a key of another type or
/// one the type refuses; with a suggestion, for a key no type has.
fn check_monitor_keys(cx: &mut Cx<'_>, s: &Section<'_>, ty: Option<&Type>) {
    let allowed = allowed_keys(ty);
    for (key, at) in s.keys() {
        if allowed.contains(&key) {
            continue;
        }
        match ty {
            Some(t) if t.refuses.contains(&key) => cx.error(
                at,
                format!(
                    "`{key}` does not apply to {} monitor: {}",
                    t.a_name, t.refusal
                ),
            ),
            Some(t) if allowed_keys(None).contains(&key) => {
                cx.error(
                    at,
                    format!("`{key}` does not apply to {} monitor", t.a_name),
                );
            }
            _ => cx.error(at, unknown_key(key, s.label, &allowed)),
        }
    }
}

/// The keys a monitor of type `ty` accepts; for a missing or unknown type, every key of any
/// type (common ones first, then each type's in [`TYPES`] order).
fn allowed_keys(ty: Option<&Type>) -> Vec<&'static str> {
    match ty {
        Some(t) => COMMON_KEYS
            .iter()
            .filter(|k| !t.refuses.contains(*k))
            .chain(t.keys)
            .copied()
            .collect(),
        None => {
            let mut keys = COMMON_KEYS.to_vec();
            for k in TYPES.iter().flat_map(|t| t.keys) {
                if !keys.contains(k) {
                    keys.push(*k);
                }
            }
            keys
        }
    }
}

/// Reads a list of conditions; `None` if any is not valid (each reported where it is wrong).
fn condition_list(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<Vec<Condition>> {
    let texts = cx.string_array(f)?;
    let parsed: Vec<Option<Condition>> = texts.iter().map(|t| cx.condition(t)).collect();
    parsed.into_iter().collect()
}

/// Reads a list of component ids, each of which must be among the declared `components` and
/// listed once. Each known one is added to `driven`, if given, even when the list has errors,
/// so the "not driven" warning does not pile onto them.
pub(super) fn component_refs(
    cx: &mut Cx<'_>,
    f: &Field<'_>,
    components: &[String],
    mut driven: Option<&mut HashSet<String>>,
) -> Option<Vec<ComponentId>> {
    let refs: Vec<Str> = cx.string_array(f)?;
    let mut out: Vec<ComponentId> = Vec::with_capacity(refs.len());
    let mut ok = true;
    for r in refs {
        let known = components.contains(&r.text);
        match ComponentId::new(r.text.as_str()) {
            Ok(id) if known => {
                if let Some(driven) = driven.as_deref_mut() {
                    driven.insert(r.text.clone());
                }
                if out.contains(&id) {
                    cx.error(r.at, format!("component `{id}` is listed twice"));
                    ok = false;
                } else {
                    out.push(id);
                }
            }
            _ => {
                let names = components.iter().map(String::as_str);
                let hint = super::walk::suggest(&r.text, names)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                cx.error(
                    r.at,
                    format!(
                        "unknown component `{}`{hint} (components are declared with [[components]])",
                        r.text
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Reads `on_failure`, one of [`ON_FAILURE`].
fn on_failure(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<ComponentStatus> {
    let v = cx.string(f)?;
    let found = ON_FAILURE.iter().copied().find(|s| s.as_str() == v.text);
    if found.is_none() {
        let names: Vec<&str> = ON_FAILURE.iter().map(|s| s.as_str()).collect();
        cx.error(
            v.at,
            format!(
                "`on_failure` must be one of {}, found {:?}",
                names.join(", "),
                v.text
            ),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_condition_parses() {
        for t in TYPES {
            if let Some(c) = t.default_condition {
                assert!(Condition::parse(c).is_ok(), "{}: {c}", t.name);
            }
        }
    }

    #[test]
    fn type_names_are_unique_and_refused_keys_are_common_ones() {
        for (i, t) in TYPES.iter().enumerate() {
            assert!(
                TYPES[..i].iter().all(|u| u.name != t.name),
                "{} twice",
                t.name
            );
            for k in t.refuses {
                assert!(COMMON_KEYS.contains(k), "{}: {k}", t.name);
            }
            assert_eq!(t.refuses.is_empty(), t.refusal.is_empty(), "{}", t.name);
        }
    }
}
