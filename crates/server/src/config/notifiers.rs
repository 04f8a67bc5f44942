//! `[[notifiers]]`: responders' channels, each turned into a `pharos_notify::Notifier` with
//! its route, every key checked against the notifier's type.
//!
//! Chat webhook URLs, signing secrets, tokens and routing keys are credentials: no message
//! here repeats a notifier's `url`, `secret`, `token` or `routing_key`, not even in a type
//! error, and `Channel`'s `Debug` names only the kind.
//!
//! An `email` notifier sends to the addresses in `to` through the `[smtp]` server, which must
//! be configured; it takes no `url`, and its `timeout` defaults to `[smtp] timeout`.

use std::collections::HashMap;

use pharos_notify::email::check_address;
use pharos_notify::notifier::{DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT};
use pharos_notify::{Channel, EventKind, Notifier, Route};

use super::monitors::component_refs;
use super::smtp::SmtpState;
use super::source::Str;
use super::values::check_secret_http_url;
use super::walk::{did_you_mean, unique_id, unknown_key, Cx, Field, Section};
use super::DEFAULT_PAGERDUTY_URL;

/// Keys every notifier type accepts.
const COMMON_KEYS: &[&str] = &[
    "id",
    "type",
    "url",
    "events",
    "components",
    "min_severity",
    "timeout",
    "concurrency",
];
/// Keys that belong to one type only, with that type.
const TYPE_KEYS: &[(&str, &str)] = &[
    ("secret", "webhook"),
    ("token", "ntfy"),
    ("routing_key", "pagerduty"),
    ("to", "email"),
];
const SUPPORTED_TYPES: &[&str] = &[
    "webhook",
    "slack",
    "discord",
    "teams",
    "ntfy",
    "pagerduty",
    "email",
];

const MAX_CONCURRENCY: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Webhook,
    Slack,
    Discord,
    Teams,
    Ntfy,
    PagerDuty,
    Email,
    /// Missing or unknown: the error is reported; check the rest as well as we can.
    Unknown,
}

impl Type {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "webhook" => Self::Webhook,
            "slack" => Self::Slack,
            "discord" => Self::Discord,
            "teams" => Self::Teams,
            "ntfy" => Self::Ntfy,
            "pagerduty" => Self::PagerDuty,
            "email" => Self::Email,
            _ => return None,
        })
    }

    /// The `type` as written in the file; empty for [`Type::Unknown`].
    fn name(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Teams => "teams",
            Self::Ntfy => "ntfy",
            Self::PagerDuty => "pagerduty",
            Self::Email => "email",
            Self::Unknown => "",
        }
    }

    /// Whether the type needs a `url` (PagerDuty has a default endpoint; e-mail has none).
    fn needs_url(self) -> bool {
        !matches!(self, Self::PagerDuty | Self::Email | Self::Unknown)
    }
}

/// Reads every notifier. `components` are the declared component ids; `smtp` is what the
/// file says about `[smtp]`, which `email` notifiers need. Only fully valid notifiers are
/// returned.
pub(super) fn notifiers(
    cx: &mut Cx<'_>,
    sections: &[Section<'_>],
    components: &[String],
    smtp: &SmtpState,
) -> Vec<Notifier> {
    let mut first_at: HashMap<String, usize> = HashMap::new();
    sections
        .iter()
        .filter_map(|s| notifier(cx, s, components, smtp, &mut first_at))
        .collect()
}

fn notifier(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    components: &[String],
    smtp: &SmtpState,
    first_at: &mut HashMap<String, usize>,
) -> Option<Notifier> {
    let errors_before = cx.error_count();
    let id = unique_id(cx, s, first_at, "notifier");
    let name = id
        .as_ref()
        .map_or_else(|| "notifier".to_owned(), |id| format!("notifier `{id}`"));

    let ty = match s.field("type") {
        None => {
            cx.error(s.at, format!("{name} is missing required key `type`"));
            Type::Unknown
        }
        Some(f) => match cx.string(&f) {
            None => Type::Unknown,
            Some(v) => match Type::parse(&v.text) {
                Some(Type::Email) => {
                    if matches!(smtp, SmtpState::Absent) {
                        cx.error(v.at, "type = \"email\" needs an [smtp] table");
                    }
                    Type::Email
                }
                Some(ty) => ty,
                None => {
                    cx.error(
                        v.at,
                        format!(
                            "unknown notifier type {:?} (expected one of: {}){}",
                            v.text,
                            SUPPORTED_TYPES.join(", "),
                            did_you_mean(&v.text, SUPPORTED_TYPES),
                        ),
                    );
                    Type::Unknown
                }
            },
        },
    };
    check_notifier_keys(cx, s, ty);

    let url = match s.field("url") {
        None => {
            if ty.needs_url() {
                cx.error(s.at, format!("{name} is missing required key `url`"));
            }
            None
        }
        // Reported by the key check: e-mail has no URL.
        Some(_) if ty == Type::Email => None,
        Some(f) => cx
            .secret_string(&f)
            .and_then(|v| match check_secret_http_url(&v.text) {
                Ok(()) => Some(v.text),
                Err(e) => {
                    cx.error(v.at, format!("invalid notifier `url`: {e}"));
                    None
                }
            }),
    };
    let secret = optional_secret(cx, s, ty, Type::Webhook, "secret");
    let token = optional_secret(cx, s, ty, Type::Ntfy, "token");
    let routing_key = match (ty, s.field("routing_key")) {
        (Type::PagerDuty, None) => {
            cx.error(
                s.at,
                format!("{name} is missing required key `routing_key`"),
            );
            None
        }
        (Type::PagerDuty, Some(f)) => cx.secret_string(&f),
        _ => None,
    };
    let to = match (ty, s.field("to")) {
        (Type::Email, None) => {
            cx.error(s.at, format!("{name} is missing required key `to`"));
            None
        }
        (Type::Email, Some(f)) => recipients(cx, &f),
        _ => None,
    };

    let events_field = s.field("events");
    let events = events_field.as_ref().and_then(|f| events(cx, f));
    let route_components = s.field("components").and_then(|f| {
        let ids = component_refs(cx, &f, components, None)?;
        if ids.is_empty() {
            cx.error(
                f.at,
                "`components` must not be empty; leave the key out for events about every component",
            );
            return None;
        }
        Some(ids)
    });
    let severity_field = s.field("min_severity");
    let min_severity = severity_field.as_ref().and_then(|f| min_severity(cx, f));
    if let (Some(kinds), Some(_), Some(f)) = (&events, min_severity, &severity_field) {
        if !kinds.iter().any(|k| k.is_incident()) {
            cx.warn(
                f.at,
                "`min_severity` has no effect: `events` lists no incident event",
            );
        }
    }
    let timeout = s.field("timeout").and_then(|f| cx.delivery_timeout(&f));
    // An e-mail notifier's attempt takes as long as the server is given, unless it says.
    let default_timeout = match (ty, smtp.settings()) {
        (Type::Email, Some(settings)) => settings.timeout,
        _ => DEFAULT_TIMEOUT,
    };
    let concurrency = s.field("concurrency").and_then(|f| {
        let n = cx.integer_at_least::<usize>(&f, 1)?;
        if n > MAX_CONCURRENCY {
            cx.error(
                f.at,
                format!("`concurrency` must be at most {MAX_CONCURRENCY}, found {n}"),
            );
            return None;
        }
        Some(n)
    });

    if cx.error_count() > errors_before {
        return None;
    }
    let channel = match ty {
        Type::Webhook => Channel::Webhook {
            url: url?,
            secret: secret.map(|s| s.text),
        },
        Type::Slack => Channel::Slack { url: url? },
        Type::Discord => Channel::Discord { url: url? },
        Type::Teams => Channel::Teams { url: url? },
        Type::Ntfy => Channel::Ntfy {
            url: url?,
            token: token.map(|s| s.text),
        },
        Type::PagerDuty => Channel::PagerDuty {
            routing_key: routing_key?.text,
            url: url.unwrap_or_else(|| DEFAULT_PAGERDUTY_URL.to_owned()),
        },
        Type::Email => Channel::Email {
            to: to?,
            // Absent is reported above; an invalid [smtp] table has its own errors.
            smtp: smtp.settings()?.clone(),
        },
        Type::Unknown => return None,
    };
    Some(Notifier {
        id: id?,
        channel,
        route: Route {
            events: events.unwrap_or_default(),
            components: route_components.unwrap_or_default(),
            min_severity,
        },
        timeout: timeout.unwrap_or(default_timeout),
        concurrency: concurrency.unwrap_or(DEFAULT_CONCURRENCY),
    })
}

/// Reports unknown keys, and keys that belong to another type than `ty`.
fn check_notifier_keys(cx: &mut Cx<'_>, s: &Section<'_>, ty: Type) {
    for (key, at) in s.keys() {
        if key == "url" && ty == Type::Email {
            cx.error(
                at,
                "`url` does not apply to type = \"email\": it sends to the addresses in `to` through [smtp]",
            );
            continue;
        }
        if COMMON_KEYS.contains(&key) {
            continue;
        }
        if let Some((_, owner)) = TYPE_KEYS.iter().find(|(k, _)| *k == key) {
            if ty != Type::Unknown && ty.name() != *owner {
                cx.error(at, format!("`{key}` only applies to type = {owner:?}"));
            }
            continue;
        }
        let mut known: Vec<&str> = COMMON_KEYS.to_vec();
        known.extend(
            TYPE_KEYS
                .iter()
                .filter(|(_, owner)| ty == Type::Unknown || ty.name() == *owner)
                .map(|(k, _)| *k),
        );
        cx.error(at, unknown_key(key, s.label, &known));
    }
}

/// An optional secret `key` that only type `owner` has; `None` (its misplacement already
/// reported) for other types.
fn optional_secret(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    ty: Type,
    owner: Type,
    key: &str,
) -> Option<Str> {
    if ty != owner {
        return None;
    }
    s.field(key).and_then(|f| cx.secret_string(&f))
}

/// `to`: e-mail addresses, each valid and listed once, at least one.
fn recipients(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<Vec<String>> {
    let list = cx.string_array(f)?;
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    let mut ok = true;
    for a in list {
        let address = a.text.trim();
        if let Err(e) = check_address(address) {
            cx.error(a.at, format!("invalid address {:?} in `to`: {e}", a.text));
            ok = false;
        } else if out.iter().any(|o| o.eq_ignore_ascii_case(address)) {
            cx.error(a.at, format!("address {address:?} is listed twice in `to`"));
            ok = false;
        } else {
            out.push(address.to_owned());
        }
    }
    if ok && out.is_empty() {
        cx.error(
            f.at,
            "`to` must list at least one address, like [\"oncall@example.com\"]",
        );
        return None;
    }
    ok.then_some(out)
}

/// `events`: known kinds, each once, at least one.
fn events(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<Vec<EventKind>> {
    let names = cx.string_array(f)?;
    let valid: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut out: Vec<EventKind> = Vec::with_capacity(names.len());
    let mut ok = true;
    for n in names {
        match EventKind::parse(&n.text) {
            Some(kind) if out.contains(&kind) => {
                cx.error(n.at, format!("event `{}` is listed twice", n.text));
                ok = false;
            }
            Some(kind) => out.push(kind),
            None => {
                cx.error(
                    n.at,
                    format!(
                        "unknown event {:?} (expected one of: {}){}",
                        n.text,
                        valid.join(", "),
                        did_you_mean(&n.text, &valid),
                    ),
                );
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        cx.error(
            f.at,
            "`events` must not be empty; leave the key out to receive every incident, maintenance and probe event",
        );
        return None;
    }
    ok.then_some(out)
}

fn min_severity(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<pharos_domain::Severity> {
    let v = cx.string(f)?;
    let found = pharos_domain::Severity::parse(&v.text);
    if found.is_none() {
        let names: Vec<&str> = pharos_domain::Severity::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        cx.error(
            v.at,
            format!(
                "`min_severity` must be one of {} (S1 is the most severe), found {:?}",
                names.join(", "),
                v.text
            ),
        );
    }
    found
}
