//! `[self_check]`: targets that answer whenever Pharos's own network works. Each is a URL
//! (`http(s)://`, `tcp://host:port` or `icmp://host`) checked with the defaults of its kind;
//! when every one fails in the same round, Pharos is the one cut off (see
//! `pharos_engine::self_check`).

use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::monitor::SelfCheck;
use pharos_domain::{
    ComponentStatus, Condition, HttpSpec, IcmpSpec, MonitorId, MonitorKind, MonitorSpec,
    QuietRules, TcpSpec,
};

use super::values::{check_http_url, parse_host_url, parse_tcp_url};
use super::walk::{Cx, Section};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Reads `[self_check]`: `targets` (required, at least one) and `interval`/`timeout`.
pub(super) fn self_check(cx: &mut Cx<'_>, s: Section<'_>) -> Option<SelfCheck> {
    s.check_keys(cx, &["targets", "interval", "timeout"]);
    let errors_before = cx.error_count();
    let interval = match s.field("interval") {
        None => Some(DEFAULT_INTERVAL),
        Some(f) => cx.duration(&f).and_then(|d| {
            if d < MIN_INTERVAL {
                cx.error(f.at, "`interval` must be at least 1s");
                None
            } else {
                Some(d)
            }
        }),
    };
    let timeout = match s.field("timeout") {
        None => interval.map(|i| i.min(DEFAULT_TIMEOUT)),
        Some(f) => cx.duration(&f).and_then(|d| match interval {
            _ if d.is_zero() => {
                cx.error(f.at, "`timeout` must be longer than 0s");
                None
            }
            Some(i) if d > i => {
                cx.error(
                    f.at,
                    format!(
                        "`timeout` ({}) must not be longer than `interval` ({})",
                        format_duration(d),
                        format_duration(i)
                    ),
                );
                None
            }
            _ => Some(d),
        }),
    };
    let Some(f) = s.field("targets") else {
        s.missing(cx, "targets");
        return None;
    };
    let texts = cx.string_array(&f)?;
    if texts.is_empty() {
        cx.error(
            f.at,
            "`targets` must name at least one target, like \"tcp://10.0.0.1:53\" (your gateway or resolver)",
        );
        return None;
    }
    let mut targets = Vec::with_capacity(texts.len());
    for (i, t) in texts.into_iter().enumerate() {
        let kind = if t.text.starts_with("http://") || t.text.starts_with("https://") {
            check_http_url(&t.text).map(|()| MonitorKind::Http(HttpSpec::get(t.text.clone())))
        } else if t.text.starts_with("tcp://") {
            parse_tcp_url(&t.text).map(|(host, port)| MonitorKind::Tcp(TcpSpec { host, port }))
        } else if t.text.starts_with("icmp://") {
            parse_host_url(&t.text, "icmp", None)
                .map(|(host, _)| MonitorKind::Icmp(IcmpSpec { host }))
        } else {
            Err(format!(
                "{:?} is not an http(s)://, tcp://host:port or icmp://host URL",
                t.text
            ))
        };
        let kind = match kind {
            Ok(kind) => kind,
            Err(e) => {
                cx.error(t.at, format!("`targets`: {e}"));
                continue;
            }
        };
        let condition = match kind {
            MonitorKind::Http(_) => "[STATUS] < 500",
            _ => "[CONNECTED] == true",
        };
        let (Ok(id), Ok(condition)) = (
            MonitorId::new(format!("self-check-{}", i + 1)),
            Condition::parse(condition),
        ) else {
            cx.error(
                t.at,
                "internal error: could not build the self-check target",
            );
            continue;
        };
        let (Some(interval), Some(timeout)) = (interval, timeout) else {
            continue;
        };
        targets.push((
            // The target as written, without the password of a URL's user information: it
            // is shown in the admin API and the log.
            pharos_domain::fingerprint::redact_userinfo(&t.text).into_owned(),
            MonitorSpec {
                id,
                kind,
                interval,
                timeout,
                failure_threshold: 1,
                success_threshold: 1,
                conditions: vec![condition],
                degraded_conditions: Vec::new(),
                components: Vec::new(),
                on_failure: ComponentStatus::MajorOutage,
                depends_on: Vec::new(),
                quiet: QuietRules::default(),
                placement: pharos_domain::location::Placement::default(),
            },
        ));
    }
    if cx.error_count() > errors_before {
        return None;
    }
    Some(SelfCheck {
        targets,
        interval: interval?,
    })
}
