//! `[[locations]]`: the places monitors are checked from besides the server itself, each
//! with the tokens its probes present (SPEC §7); and a monitor's `locations`, `quorum` and
//! `on_regional_failure`.
//!
//! ```toml
//! [[locations]]
//! id = "eu-fr"
//! name = "Europe (France)"
//! tokens = ["${PHAROS_PROBE_TOKEN_EU}"]
//! offline_after = "60s"      # silence longer than this is "probe offline"
//! ```

use std::collections::HashMap;
use std::time::Duration;

use pharos_domain::location::{LocationDef, Placement, Quorum, DEFAULT_OFFLINE_AFTER};
use pharos_domain::{ComponentStatus, LocationId};

use super::secret::Secret;
use super::walk::{did_you_mean, unique_id, Cx, Section};

const KEYS: &[&str] = &["id", "name", "tokens", "offline_after"];
/// Shortest probe token: a guessable one would let a stranger vote.
const MIN_TOKEN_LEN: usize = 16;
/// Shortest `offline_after`: a probe is heard from every 20 seconds at most.
const MIN_OFFLINE_AFTER: Duration = Duration::from_secs(5);

/// Reads every location. Only fully valid ones are returned.
pub(super) fn locations(cx: &mut Cx<'_>, sections: &[Section<'_>]) -> Vec<LocationDef> {
    let mut ids = HashMap::new();
    // Token → the location it was first given to: one token is one location's.
    let mut tokens: HashMap<String, String> = HashMap::new();
    sections
        .iter()
        .filter_map(|s| location(cx, s, &mut ids, &mut tokens))
        .collect()
}

fn location(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    ids: &mut HashMap<String, usize>,
    seen_tokens: &mut HashMap<String, String>,
) -> Option<LocationDef> {
    let errors_before = cx.error_count();
    s.check_keys(cx, KEYS);
    let id = unique_id(cx, s, ids, "location");
    if let (Some(id), Some(f)) = (&id, s.field("id")) {
        if id == LocationId::LOCAL {
            cx.error(
                f.at,
                "location id `local` is the server itself and needs no [[locations]] entry",
            );
        }
    }
    let name = match s.field("name") {
        None => {
            s.missing(cx, "name");
            None
        }
        Some(f) => cx.string(&f).and_then(|n| {
            if n.text.trim().is_empty() {
                cx.error(n.at, "`name` must not be empty");
                None
            } else {
                Some(n.text)
            }
        }),
    };
    let mut tokens = Vec::new();
    match s.field("tokens") {
        None => s.missing(cx, "tokens"),
        Some(f) => {
            for t in cx.string_array(&f).unwrap_or_default() {
                if t.text.trim().chars().count() < MIN_TOKEN_LEN {
                    cx.error(
                        t.at,
                        format!("a probe token must be at least {MIN_TOKEN_LEN} characters"),
                    );
                    continue;
                }
                let owner = id.clone().unwrap_or_default();
                if let Some(first) = seen_tokens.insert(t.text.clone(), owner) {
                    cx.error(
                        t.at,
                        format!(
                            "this probe token is already given to location `{first}`; each location needs its own tokens"
                        ),
                    );
                    continue;
                }
                tokens.push(Secret::new(t.text));
            }
        }
    }
    let offline_after = s.field("offline_after").and_then(|f| {
        let d = cx.duration(&f)?;
        if d < MIN_OFFLINE_AFTER {
            cx.error(f.at, "`offline_after` must be at least 5s");
            return None;
        }
        Some(d)
    });
    if cx.error_count() > errors_before {
        return None;
    }
    Some(LocationDef {
        id: LocationId::new(id?).ok()?,
        name: name?,
        tokens,
        offline_after: offline_after.unwrap_or(DEFAULT_OFFLINE_AFTER),
    })
}

/// Reads a monitor's `locations`, `quorum` and `on_regional_failure` against the declared
/// `known` locations; `None` once an error is reported.
pub(super) fn placement(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    known: &[LocationDef],
) -> Option<Placement> {
    let errors_before = cx.error_count();
    let locations = match s.field("locations") {
        None => vec![LocationId::local()],
        Some(f) => {
            let list = cx.string_array(&f).unwrap_or_default();
            let mut out: Vec<LocationId> = Vec::new();
            for l in list {
                let Ok(id) = LocationId::new(l.text.clone()) else {
                    cx.error(l.at, format!("`{}` is not a location id", l.text));
                    continue;
                };
                if out.contains(&id) {
                    cx.error(l.at, format!("location `{id}` is listed twice"));
                    continue;
                }
                if !id.is_local() && !known.iter().any(|k| k.id == id) {
                    let names: Vec<&str> = known
                        .iter()
                        .map(|k| k.id.as_str())
                        .chain([LocationId::LOCAL])
                        .collect();
                    cx.error(
                        l.at,
                        format!(
                            "unknown location `{id}`{}; locations are declared with [[locations]] (`local` is the server itself)",
                            did_you_mean(&l.text, &names)
                        ),
                    );
                    continue;
                }
                out.push(id);
            }
            if out.is_empty() && cx.error_count() == errors_before {
                cx.error(
                    f.at,
                    "`locations` must name at least one location; leave it out to check from the server alone",
                );
            }
            out
        }
    };
    let needed = s
        .field("quorum")
        .and_then(|f| Some((cx.integer_at_least::<u32>(&f, 1)?, f.at)));
    let on_regional_failure = s.field("on_regional_failure").and_then(|f| {
        let v = cx.string(&f)?;
        match ComponentStatus::parse(&v.text) {
            Some(status) if super::monitors::ON_FAILURE.contains(&status) => Some(status),
            _ => {
                cx.error(
                    v.at,
                    format!(
                        "`on_regional_failure` must be one of {}, found {:?}",
                        super::monitors::ON_FAILURE
                            .iter()
                            .map(|s| format!("`{}`", s.as_str()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        v.text
                    ),
                );
                None
            }
        }
    });
    if cx.error_count() > errors_before {
        return None;
    }
    let count = u32::try_from(locations.len()).unwrap_or(u32::MAX);
    let quorum = match Quorum::new(count, needed.map(|(n, _)| n)) {
        Ok(q) => q,
        Err(e) => {
            cx.error(needed.map_or(s.at, |(_, at)| at), e.to_string());
            return None;
        }
    };
    Some(Placement {
        locations,
        quorum,
        on_regional_failure: on_regional_failure.unwrap_or(ComponentStatus::PartialOutage),
    })
}
