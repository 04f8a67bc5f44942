//! `[[monitors]]`: each entry becomes a `pharos_domain::MonitorSpec`, with the defaults of
//! SPEC §2 filled in and every key checked against the monitor's type.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::heartbeat::{Expect, HeartbeatSpec, Schedule};
use pharos_domain::monitor::{ClientIdentity, HttpAuth, DNS_QUERY_TYPES};
use pharos_domain::prometheus::{PrometheusSpec, SeriesSelector};
use pharos_domain::{
    ComponentId, ComponentStatus, Condition, DnsSpec, HttpSpec, IcmpSpec, MonitorId, MonitorKind,
    MonitorSpec, QuietRules, Secret, StatusRange, TcpSpec, TlsSpec,
};

use super::source::Str;
use super::values::{
    check_http_url, is_http_token, parse_byte_size, parse_host_url, parse_socket_addr,
    parse_tcp_url,
};
use super::walk::{did_you_mean, unknown_key, Cx, Field, Section};

/// Keys every supported monitor type accepts.
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
];
/// Keys only `http` monitors accept.
const HTTP_KEYS: &[&str] = &[
    "method",
    "headers",
    "body",
    "insecure",
    "max_redirects",
    "max_body_size",
    "basic_auth",
    "bearer_token",
    "accepted_status_codes",
    "client_certificate",
    "client_key",
    "ca_certificate",
];
/// Keys only `heartbeat` monitors accept.
const HEARTBEAT_KEYS: &[&str] = &["token", "period", "schedule", "time_zone", "grace"];
/// Keys a `heartbeat` monitor refuses: it is pinged, never checked.
const NOT_FOR_HEARTBEATS: &[&str] = &[
    "url",
    "interval",
    "timeout",
    "conditions",
    "degraded_conditions",
    "retries",
    "retry_interval",
];
/// Most retries a monitor may ask for: more hides an outage for too long.
const MAX_RETRIES: u32 = 10;
/// Keys only `prometheus` monitors accept.
const PROMETHEUS_KEYS: &[&str] = &["series", "threshold", "forecast"];
/// The http keys a `prometheus` monitor also takes (its scrape is a plain `GET`).
const PROMETHEUS_HTTP_KEYS: &[&str] = &["headers", "insecure", "max_body_size", "ca_certificate"];
/// Keys only `dns` monitors accept (a dns monitor has no `url`).
const DNS_KEYS: &[&str] = &["server", "query_name", "query_type"];
/// Keys only `tls` monitors accept besides the common ones.
const TLS_KEYS: &[&str] = &["insecure", "ca_certificate"];
const SUPPORTED_TYPES: &[&str] = &[
    "http",
    "tcp",
    "heartbeat",
    "prometheus",
    "dns",
    "tls",
    "icmp",
];
/// Shortest and longest heartbeat token.
const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=128;
/// A heartbeat's grace when none is given (healthchecks.io's default).
const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
const DEFAULT_HTTP_CONDITION: &str = "[STATUS] < 400";
const DEFAULT_TCP_CONDITION: &str = "[CONNECTED] == true";
const DEFAULT_DNS_CONDITION: &str = "[DNS_RCODE] == NOERROR";
const DEFAULT_DNS_PORT: u16 = 53;
const DEFAULT_TLS_PORT: u16 = 443;
pub(super) const ON_FAILURE: &[ComponentStatus] = &[
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
    ComponentStatus::DegradedPerformance,
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Http,
    Tcp,
    Heartbeat,
    Prometheus,
    Dns,
    Tls,
    Icmp,
    /// Missing or unknown: the error is reported; check the rest as well as we can.
    Unknown,
}

/// Reads every monitor. `components` are the declared component ids; every component a
/// monitor refers to is added to `driven`. Only fully valid monitors are returned.
pub(super) fn monitors(
    cx: &mut Cx<'_>,
    sections: &[Section<'_>],
    components: &[String],
    driven: &mut HashSet<String>,
) -> Vec<MonitorSpec> {
    let mut out = Vec::new();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    let mut tokens: HashMap<String, usize> = HashMap::new();
    let mut deps: Vec<DependsRef> = Vec::new();
    for s in sections {
        let spec = monitor(
            cx,
            s,
            components,
            driven,
            &mut first_at,
            &mut tokens,
            &mut deps,
        );
        if let Some(spec) = spec {
            out.push(spec);
        }
    }
    check_dependencies(cx, &deps, &first_at);
    out
}

/// One entry of a monitor's `depends_on`, where it was written.
struct DependsRef {
    monitor: String,
    on: String,
    at: usize,
}

/// Every `depends_on` entry names another declared monitor, and no chain of them comes back
/// to where it started (a cycle would leave a monitor waiting on itself).
fn check_dependencies(cx: &mut Cx<'_>, deps: &[DependsRef], declared: &HashMap<String, usize>) {
    let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in deps {
        if d.on == d.monitor {
            cx.error(
                d.at,
                format!("monitor `{}` cannot depend on itself", d.monitor),
            );
        } else if !declared.contains_key(&d.on) {
            let hint = super::walk::suggest(&d.on, declared.keys().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            cx.error(
                d.at,
                format!("`depends_on`: unknown monitor `{}`{hint}", d.on),
            );
        } else {
            graph.entry(&d.monitor).or_default().push(&d.on);
        }
    }
    // Depth-first from each monitor, in file order, reporting each cycle once.
    let mut reported: HashSet<&str> = HashSet::new();
    for d in deps {
        let mut path: Vec<&str> = vec![d.monitor.as_str()];
        if let Some(cycle) = find_cycle(&graph, &mut path, &mut HashSet::new()) {
            if cycle.iter().any(|m| reported.contains(m)) {
                continue;
            }
            reported.extend(cycle.iter().copied());
            cx.error(
                d.at,
                format!(
                    "`depends_on` makes a cycle: {}",
                    cycle
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            );
        }
    }
}

/// A cycle through the last monitor of `path`, as the monitors along it (first repeated at
/// the end), if there is one.
fn find_cycle<'a>(
    graph: &HashMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut HashSet<&'a str>,
) -> Option<Vec<&'a str>> {
    let here = *path.last()?;
    for &next in graph.get(here).map(Vec::as_slice).unwrap_or_default() {
        if let Some(i) = path.iter().position(|m| *m == next) {
            let mut cycle = path[i..].to_vec();
            cycle.push(next);
            return Some(cycle);
        }
        if done.contains(next) {
            continue;
        }
        path.push(next);
        if let Some(c) = find_cycle(graph, path, done) {
            return Some(c);
        }
        path.pop();
    }
    done.insert(here);
    None
}

fn monitor(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    components: &[String],
    driven: &mut HashSet<String>,
    first_at: &mut HashMap<String, usize>,
    tokens: &mut HashMap<String, usize>,
    deps: &mut Vec<DependsRef>,
) -> Option<MonitorSpec> {
    let errors_before = cx.error_count();
    let id = monitor_id(cx, s, first_at);
    let name = id
        .as_ref()
        .map_or_else(|| "monitor".to_owned(), |id| format!("monitor `{id}`"));

    let ty = match s.field("type") {
        None => {
            cx.error(s.at, format!("{name} is missing required key `type`"));
            Type::Unknown
        }
        Some(f) => match cx.string(&f) {
            None => Type::Unknown,
            Some(v) => match v.text.as_str() {
                "http" => Type::Http,
                "tcp" => Type::Tcp,
                "heartbeat" => Type::Heartbeat,
                "prometheus" => Type::Prometheus,
                "dns" => Type::Dns,
                "tls" => Type::Tls,
                "icmp" => Type::Icmp,
                t => {
                    cx.error(
                        v.at,
                        format!(
                            "unknown monitor type {t:?} (expected one of: {}){}",
                            SUPPORTED_TYPES.join(", "),
                            did_you_mean(t, SUPPORTED_TYPES),
                        ),
                    );
                    Type::Unknown
                }
            },
        },
    };
    check_monitor_keys(cx, s, ty);

    let url = match s.field("url") {
        // A heartbeat has no target and a dns monitor names a `server`; their `url` is
        // refused above.
        _ if matches!(ty, Type::Heartbeat | Type::Dns) => None,
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
    let depends_on = s.field("depends_on").and_then(|f| {
        let refs = cx.string_array(&f)?;
        let mut out: Vec<MonitorId> = Vec::with_capacity(refs.len());
        for r in refs {
            match MonitorId::new(r.text.as_str()) {
                Ok(dep) if out.contains(&dep) => {
                    cx.error(r.at, format!("monitor `{dep}` is listed twice"));
                }
                Ok(dep) => {
                    if let Some(owner) = &id {
                        deps.push(DependsRef {
                            monitor: owner.to_string(),
                            on: dep.to_string(),
                            at: r.at,
                        });
                    }
                    out.push(dep);
                }
                Err(e) => cx.error(r.at, format!("`depends_on`: monitor {e}")),
            }
        }
        Some(out)
    });

    let quiet = quiet_rules(cx, s);

    let http = if matches!(ty, Type::Http | Type::Unknown | Type::Prometheus) {
        Some(http_settings(cx, s))
    } else {
        None
    };
    let heartbeat = (ty == Type::Heartbeat).then(|| heartbeat(cx, s, &name, tokens));
    let scrape = (ty == Type::Prometheus).then(|| prometheus(cx, s, &name));
    let dns = (ty == Type::Dns).then(|| dns(cx, s, &name)).flatten();
    let kind = match (ty, url) {
        (Type::Http, Some(url)) => match check_http_url(&url.text) {
            Ok(()) => http.map(|settings| {
                MonitorKind::Http(HttpSpec {
                    url: url.text,
                    ..settings
                })
            }),
            Err(e) => {
                cx.error(url.at, format!("invalid http monitor `url`: {e}"));
                None
            }
        },
        (Type::Tcp, Some(url)) => match parse_tcp_url(&url.text) {
            Ok((host, port)) => Some(MonitorKind::Tcp(TcpSpec { host, port })),
            Err(e) => {
                cx.error(url.at, format!("invalid tcp monitor `url`: {e}"));
                None
            }
        },
        (Type::Heartbeat, _) => heartbeat.flatten().map(MonitorKind::Heartbeat),
        (Type::Dns, _) => dns.map(MonitorKind::Dns),
        (Type::Tls, Some(url)) => match parse_host_url(&url.text, "tls", Some(DEFAULT_TLS_PORT)) {
            Ok((host, port)) => {
                let insecure = s
                    .field("insecure")
                    .and_then(|f| cx.boolean(&f))
                    .unwrap_or(false);
                let ca_certificate_pem = ca_certificate(cx, s);
                Some(MonitorKind::Tls(TlsSpec {
                    host,
                    port: port.unwrap_or(DEFAULT_TLS_PORT),
                    insecure,
                    ca_certificate_pem,
                }))
            }
            Err(e) => {
                cx.error(url.at, format!("invalid tls monitor `url`: {e}"));
                None
            }
        },
        (Type::Icmp, Some(url)) => match parse_host_url(&url.text, "icmp", None) {
            Ok((host, _)) => Some(MonitorKind::Icmp(IcmpSpec { host })),
            Err(e) => {
                cx.error(url.at, format!("invalid icmp monitor `url`: {e}"));
                None
            }
        },
        (Type::Prometheus, Some(url)) => match check_http_url(&url.text) {
            Ok(()) => match (http, scrape.flatten()) {
                (Some(settings), Some((series, threshold, forecast))) => {
                    Some(MonitorKind::Prometheus(PrometheusSpec {
                        http: HttpSpec {
                            url: url.text,
                            ..settings
                        },
                        series,
                        threshold,
                        forecast,
                    }))
                }
                _ => None,
            },
            Err(e) => {
                cx.error(url.at, format!("invalid prometheus monitor `url`: {e}"));
                None
            }
        },
        _ => None,
    };

    if cx.error_count() == errors_before && drives.as_ref().is_none_or(Vec::is_empty) {
        cx.warn(
            s.field("components").map_or(s.at, |f| f.at),
            format!("{name} drives no component, so it does not show on the status page"),
        );
    }

    let conditions = match conditions {
        Some(c) => c,
        // A heartbeat's verdicts come from its pings and the clock.
        None if ty == Type::Heartbeat => Vec::new(),
        None => {
            let default = match ty {
                Type::Tcp | Type::Tls | Type::Icmp => DEFAULT_TCP_CONDITION,
                Type::Dns => DEFAULT_DNS_CONDITION,
                _ => DEFAULT_HTTP_CONDITION,
            };
            match Condition::parse(default) {
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
            }
        }
    };

    if cx.error_count() > errors_before {
        return None;
    }
    // A heartbeat's one verdict per ping or silence is the whole story: no threshold by
    // default. Its interval (shown, never used to schedule) is its period.
    let (interval_value, thresholds) = match &kind {
        Some(MonitorKind::Heartbeat(hb)) => (
            match hb.expect {
                Expect::Period(p) => p,
                Expect::Schedule(_) => DEFAULT_INTERVAL,
            },
            (1, 1),
        ),
        _ => (
            interval_value,
            (DEFAULT_FAILURE_THRESHOLD, DEFAULT_SUCCESS_THRESHOLD),
        ),
    };
    Some(MonitorSpec {
        id: id?,
        kind: kind?,
        interval: interval_value,
        timeout: timeout.unwrap_or(interval_value.min(MAX_DEFAULT_TIMEOUT)),
        failure_threshold: failure_threshold.unwrap_or(thresholds.0),
        success_threshold: success_threshold.unwrap_or(thresholds.1),
        conditions,
        degraded_conditions: degraded_conditions.unwrap_or_default(),
        components: drives.unwrap_or_default(),
        on_failure: on_failure.unwrap_or(ComponentStatus::MajorOutage),
        depends_on: depends_on.unwrap_or_default(),
        quiet: quiet?,
    })
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

fn check_monitor_keys(cx: &mut Cx<'_>, s: &Section<'_>, ty: Type) {
    let type_name = match ty {
        Type::Http => "an http",
        Type::Tcp => "a tcp",
        Type::Heartbeat => "a heartbeat",
        Type::Prometheus => "a prometheus",
        Type::Dns => "a dns",
        Type::Tls => "a tls",
        Type::Icmp => "an icmp",
        Type::Unknown => "",
    };
    let allowed = allowed_keys(ty);
    for (key, at) in s.keys() {
        if allowed.contains(&key) {
            continue;
        }
        if ty == Type::Heartbeat && NOT_FOR_HEARTBEATS.contains(&key) {
            cx.error(
                at,
                format!(
                    "`{key}` does not apply to a heartbeat monitor: the job pings \
                     /ping/{{token}}, and `period` or `schedule` with `grace` say when"
                ),
            );
        } else if ty == Type::Dns && key == "url" {
            cx.error(
                at,
                "`url` does not apply to a dns monitor: set `server` (the resolver, like \
                 \"1.1.1.1:53\"), `query_name` and `query_type`",
            );
        } else if allowed_keys(Type::Unknown).contains(&key) {
            cx.error(at, format!("`{key}` does not apply to {type_name} monitor"));
        } else {
            cx.error(at, unknown_key(key, s.label, &allowed));
        }
    }
}

/// The keys a monitor of type `ty` accepts; for an unknown type, every key of any type.
fn allowed_keys(ty: Type) -> Vec<&'static str> {
    let mut keys: Vec<&str> = COMMON_KEYS.to_vec();
    match ty {
        Type::Http => keys.extend_from_slice(HTTP_KEYS),
        Type::Tcp | Type::Icmp => {}
        Type::Heartbeat => {
            keys.retain(|k| !NOT_FOR_HEARTBEATS.contains(k));
            keys.extend_from_slice(HEARTBEAT_KEYS);
        }
        Type::Prometheus => {
            keys.extend_from_slice(PROMETHEUS_HTTP_KEYS);
            keys.extend_from_slice(PROMETHEUS_KEYS);
        }
        Type::Dns => {
            keys.retain(|k| *k != "url");
            keys.extend_from_slice(DNS_KEYS);
        }
        Type::Tls => keys.extend_from_slice(TLS_KEYS),
        Type::Unknown => {
            keys.extend_from_slice(HTTP_KEYS);
            keys.extend_from_slice(HEARTBEAT_KEYS);
            keys.extend_from_slice(PROMETHEUS_KEYS);
            keys.extend_from_slice(DNS_KEYS);
        }
    }
    keys
}

/// The prometheus keys: the `series` to read, its `threshold`, an optional `forecast`.
fn prometheus(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    name: &str,
) -> Option<(SeriesSelector, f64, Option<Duration>)> {
    let series = match s.field("series") {
        None => {
            cx.error(
                s.at,
                format!(
                    "{name} is missing required key `series` (the series to watch, like \
                     'db_connections_open{{pool=\"booking\"}}')"
                ),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            SeriesSelector::parse(&v.text)
                .map_err(|e| cx.error(v.at, format!("`series`: {e}")))
                .ok()
        }),
    };
    let threshold = match s.field("threshold") {
        None => {
            cx.error(
                s.at,
                format!("{name} is missing required key `threshold` (at or over it → down)"),
            );
            None
        }
        Some(f) => match f.item.as_float().or(f.item.as_integer().map(|i| i as f64)) {
            Some(t) if t.is_finite() => Some(t),
            _ => {
                cx.error(
                    f.at,
                    format!(
                        "`threshold` must be a number, found {}",
                        super::walk::describe(f.item)
                    ),
                );
                None
            }
        },
    };
    let forecast = match s.field("forecast") {
        None => Some(None),
        Some(f) => cx.duration(&f).map(Some),
    };
    Some((series?, threshold?, forecast?))
}

/// The heartbeat keys: a unique `token`, `period` or `schedule` (with `time_zone`), `grace`.
fn heartbeat(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    name: &str,
    tokens: &mut HashMap<String, usize>,
) -> Option<HeartbeatSpec> {
    let errors_before = cx.error_count();
    let token = match s.field("token") {
        None => {
            cx.error(
                s.at,
                format!(
                    "{name} is missing required key `token` (the secret in its ping URL \
                     /ping/<token>, e.g. a UUID)"
                ),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let ok_chars = v
                .text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok_chars || !TOKEN_LENGTH.contains(&v.text.len()) {
                cx.error(
                    v.at,
                    format!(
                        "`token` must be {} to {} letters, digits, `-` or `_` (a UUID works), \
                         found {} characters{}",
                        TOKEN_LENGTH.start(),
                        TOKEN_LENGTH.end(),
                        v.text.chars().count(),
                        if ok_chars { "" } else { " including others" }
                    ),
                );
                return None;
            }
            if let Some(&prev) = tokens.get(&v.text) {
                let message = format!(
                    "this `token` is already used by another heartbeat monitor ({}); each \
                     needs its own",
                    cx.describe_position(prev)
                );
                cx.error(v.at, message);
                return None;
            }
            tokens.insert(v.text.clone(), v.at);
            Some(v.text)
        }),
    };
    let period = s.field("period").and_then(|f| {
        let d = cx.duration(&f)?;
        if d < MIN_INTERVAL {
            cx.error(f.at, "`period` must be at least 1s");
            return None;
        }
        Some(d)
    });
    let zone = s.field("time_zone");
    let time_zone = zone.as_ref().and_then(|f| super::build::time_zone(cx, f));
    let schedule = s.field("schedule").and_then(|f| {
        let v = cx.string(&f)?;
        let tz = time_zone.unwrap_or(chrono_tz::UTC);
        Schedule::parse(&v.text, tz)
            .map_err(|e| cx.error(v.at, format!("`schedule`: {e}")))
            .ok()
    });
    let expect = match (s.field("period"), s.field("schedule")) {
        (Some(_), Some(f)) => {
            cx.error(
                f.at,
                "set `period` or `schedule`, not both: a job is expected either every so \
                 often or at set times",
            );
            None
        }
        (None, None) => {
            cx.error(
                s.at,
                format!(
                    "{name} needs `period` (e.g. \"5m\") or `schedule` (e.g. \"*/5 * * * *\") \
                     to say when its job pings"
                ),
            );
            None
        }
        (Some(_), None) => period.map(Expect::Period),
        (None, Some(_)) => schedule.map(|s| Expect::Schedule(Box::new(s))),
    };
    if let (Some(f), None) = (&zone, s.field("schedule")) {
        cx.error(f.at, "`time_zone` applies only with `schedule`");
    }
    let grace = match s.field("grace") {
        None => Some(DEFAULT_GRACE),
        Some(f) => cx.duration(&f),
    };
    if cx.error_count() > errors_before {
        return None;
    }
    Some(HeartbeatSpec {
        token: token?,
        expect: expect?,
        grace: grace?,
    })
}

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

/// The http-only keys, with defaults; the URL is filled in by the caller.
fn http_settings(cx: &mut Cx<'_>, s: &Section<'_>) -> HttpSpec {
    let mut spec = HttpSpec::get(String::new());
    if let Some(v) = s.field("method").and_then(|f| cx.string(&f)) {
        let method = v.text.to_ascii_uppercase();
        if is_http_token(&method) {
            spec.method = method;
        } else {
            cx.error(
                v.at,
                format!(
                    "`method` must be an HTTP method like \"GET\" or \"POST\", found {:?}",
                    v.text
                ),
            );
        }
    }
    if let Some(headers) = s.field("headers").and_then(|f| cx.string_map(&f)) {
        for (name, name_at, value) in headers {
            if !is_http_token(&name) {
                cx.error(name_at, format!("{name:?} is not a valid HTTP header name"));
            } else if value.text.contains(['\r', '\n', '\0']) {
                cx.error(
                    value.at,
                    format!("header `{name}` must not contain line breaks or NUL"),
                );
            } else {
                spec.headers.push((name, value.text));
            }
        }
    }
    if let Some(v) = s.field("body").and_then(|f| cx.string(&f)) {
        spec.body = Some(v.text);
    }
    if let Some(b) = s.field("insecure").and_then(|f| cx.boolean(&f)) {
        spec.insecure = b;
    }
    if let Some(n) = s
        .field("max_redirects")
        .and_then(|f| cx.integer_at_least::<usize>(&f, 0))
    {
        spec.max_redirects = n;
    }
    if let Some(n) = s.field("max_body_size").and_then(|f| max_body_size(cx, &f)) {
        spec.max_body_bytes = n;
    }
    spec.auth = http_auth(cx, s);
    if let Some(codes) = s
        .field("accepted_status_codes")
        .and_then(|f| status_codes(cx, &f))
    {
        spec.accepted_status_codes = codes;
    }
    spec.client_identity = client_identity(cx, s);
    spec.ca_certificate_pem = ca_certificate(cx, s);
    spec
}

/// `ca_certificate`: a PEM file of an extra trusted root (an internal CA), read now so a
/// missing file stops start-up rather than failing every check.
fn ca_certificate(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<String> {
    s.field("ca_certificate")
        .and_then(|f| pem_file(cx, &f, "CERTIFICATE"))
}

/// `basic_auth = { username, password }` or `bearer_token`, not both.
fn http_auth(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<HttpAuth> {
    let basic = s.field("basic_auth");
    let bearer = s.field("bearer_token");
    if let (Some(_), Some(b)) = (&basic, &bearer) {
        cx.error(
            b.at,
            "set `basic_auth` or `bearer_token`, not both: a request carries one Authorization header",
        );
        return None;
    }
    if s.field("headers")
        .and_then(|h| {
            h.item.as_table_like().map(|t| {
                t.iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            })
        })
        .unwrap_or(false)
        && (basic.is_some() || bearer.is_some())
    {
        cx.error(
            basic.as_ref().or(bearer.as_ref()).map_or(s.at, |f| f.at),
            "`headers` already sets Authorization; drop it or the `basic_auth`/`bearer_token` key",
        );
        return None;
    }
    if let Some(b) = bearer {
        return cx
            .secret_string(&b)
            .map(|v| HttpAuth::Bearer(Secret::new(v.text)));
    }
    let f = basic?;
    let Some(table) = f.item.as_table_like() else {
        cx.error(
            f.at,
            format!(
                "`basic_auth` must be a table like {{ username = \"…\", password = \"${{PASSWORD}}\" }}, found {}",
                super::walk::describe_kind(f.item)
            ),
        );
        return None;
    };
    let section = Section {
        table,
        at: f.at,
        label: "basic_auth",
    };
    section.check_keys(cx, &["username", "password"]);
    let username = match section.field("username") {
        None => {
            section.missing(cx, "username");
            None
        }
        Some(u) => cx.string(&u).and_then(|v| {
            if v.text.contains(':') {
                cx.error(v.at, "`username` must not contain `:` (Basic auth joins it to the password with one)");
                None
            } else {
                Some(v.text)
            }
        }),
    };
    let password = match section.field("password") {
        None => {
            section.missing(cx, "password");
            None
        }
        Some(p) => cx.secret_string(&p).map(|v| Secret::new(v.text)),
    };
    Some(HttpAuth::Basic {
        username: username?,
        password: password?,
    })
}

/// `accepted_status_codes = [200, 204, "300-399"]`: codes and inclusive ranges, 100-599.
fn status_codes(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<Vec<StatusRange>> {
    let Some(array) = f.item.as_array() else {
        cx.error(
            f.at,
            format!(
                "`accepted_status_codes` must be a list like [200, \"300-399\"], found {}",
                super::walk::describe(f.item)
            ),
        );
        return None;
    };
    let valid = |n: i64| u16::try_from(n).ok().filter(|c| (100..=599).contains(c));
    let mut out = Vec::new();
    let mut ok = true;
    for v in array.iter() {
        let at = v.span().map_or(f.at, |s| s.start);
        let range = match v {
            toml_edit::Value::Integer(n) => {
                valid(*n.value()).map(|c| StatusRange { from: c, to: c })
            }
            toml_edit::Value::String(text) => {
                let text = text.value().trim();
                let (a, b) = text.split_once('-').unwrap_or((text, text));
                match (
                    a.trim().parse::<i64>().ok().and_then(valid),
                    b.trim().parse::<i64>().ok().and_then(valid),
                ) {
                    (Some(from), Some(to)) if from <= to => Some(StatusRange { from, to }),
                    _ => None,
                }
            }
            _ => None,
        };
        match range {
            Some(r) => out.push(r),
            None => {
                ok = false;
                cx.error(
                    at,
                    format!(
                        "`accepted_status_codes`: {} is not a status code (100-599) or a range like \"200-299\"",
                        v.to_string().trim()
                    ),
                );
            }
        }
    }
    if ok && out.is_empty() {
        cx.error(f.at, "`accepted_status_codes` must not be empty; leave the key out to use the conditions alone");
        return None;
    }
    ok.then_some(out)
}

/// `client_certificate` and `client_key`: PEM files, both or neither, read now so a missing
/// or unreadable file stops start-up rather than failing every check.
fn client_identity(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<ClientIdentity> {
    let cert = s.field("client_certificate");
    let key = s.field("client_key");
    match (&cert, &key) {
        (None, None) => return None,
        (Some(f), None) => {
            cx.error(
                f.at,
                "`client_certificate` needs `client_key` (the PEM file of its private key)",
            );
            return None;
        }
        (None, Some(f)) => {
            cx.error(
                f.at,
                "`client_key` needs `client_certificate` (the PEM file of the certificate)",
            );
            return None;
        }
        _ => {}
    }
    let certificate_pem = cert.and_then(|f| pem_file(cx, &f, "CERTIFICATE"));
    let key_pem = key.and_then(|f| pem_file(cx, &f, "PRIVATE KEY"));
    Some(ClientIdentity {
        certificate_pem: certificate_pem?,
        key_pem: Secret::new(key_pem?),
    })
}

/// Reads a PEM file named by `f` (relative paths from the configuration file's folder) and
/// checks it holds a block whose label ends with `label`. Never quotes the file's content.
fn pem_file(cx: &mut Cx<'_>, f: &Field<'_>, label: &str) -> Option<String> {
    let v = cx.string(f)?;
    let path = cx.relative_path(&v.text);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            cx.error(
                v.at,
                format!("`{}`: cannot read {}: {e}", f.name, path.display()),
            );
            return None;
        }
    };
    let has_block = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !has_block {
        cx.error(
            v.at,
            format!(
                "`{}`: {} holds no PEM \"{label}\" block",
                f.name,
                path.display()
            ),
        );
        return None;
    }
    Some(text)
}

/// The `dns` keys: the resolver `server`, the `query_name` and the `query_type` (default A).
fn dns(cx: &mut Cx<'_>, s: &Section<'_>, name: &str) -> Option<DnsSpec> {
    let server = match s.field("server") {
        None => {
            cx.error(
                s.at,
                format!("{name} is missing required key `server` (the resolver asked, like \"1.1.1.1:53\")"),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            parse_socket_addr(&v.text, DEFAULT_DNS_PORT)
                .map_err(|e| cx.error(v.at, format!("`server`: {e}")))
                .ok()
        }),
    };
    let query_name = match s.field("query_name") {
        None => {
            cx.error(s.at, format!("{name} is missing required key `query_name` (the name looked up)"));
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let name = v.text.trim_end_matches('.');
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
                });
            if ok {
                Some(v.text)
            } else {
                cx.error(v.at, format!("`query_name`: {:?} is not a DNS name (labels of letters, digits, `-` or `_`, each 1-63 characters)", v.text));
                None
            }
        }),
    };
    let query_type = match s.field("query_type") {
        None => Some("A".to_owned()),
        Some(f) => cx.string(&f).and_then(|v| {
            let upper = v.text.to_ascii_uppercase();
            if DNS_QUERY_TYPES.contains(&upper.as_str()) {
                Some(upper)
            } else {
                cx.error(
                    v.at,
                    format!(
                        "`query_type` must be one of {}, found {:?}{}",
                        DNS_QUERY_TYPES.join(", "),
                        v.text,
                        did_you_mean(&upper, DNS_QUERY_TYPES)
                    ),
                );
                None
            }
        }),
    };
    Some(DnsSpec {
        server: server?,
        query_name: query_name?,
        query_type: query_type?,
    })
}

fn max_body_size(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<usize> {
    let bytes = if f.item.is_integer() {
        cx.integer_at_least::<u64>(f, 1)?
    } else if f.item.is_str() {
        let v = cx.string(f)?;
        match parse_byte_size(&v.text) {
            Ok(0) => {
                cx.error(v.at, "`max_body_size` must be at least 1 byte");
                return None;
            }
            Ok(n) => n,
            Err(e) => {
                cx.error(v.at, format!("`max_body_size`: {e}"));
                return None;
            }
        }
    } else {
        cx.error(
            f.at,
            format!(
                "`max_body_size` must be an integer (bytes) or a string like \"1MiB\", found {}",
                super::walk::describe(f.item)
            ),
        );
        return None;
    };
    let n = usize::try_from(bytes).ok();
    if n.is_none() {
        cx.error(f.at, "`max_body_size` is too large for this machine");
    }
    n
}
