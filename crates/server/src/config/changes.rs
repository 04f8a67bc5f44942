//! `[changes]`: how far back an incident lists the changes before it, and the release-
//! regression check that compares each change's component's checks before and after it.
//! Every key is optional; the defaults are [`ChangeSettings::default`]:
//!
//! ```toml
//! [changes]
//! lookback = "6h"                  # an incident lists changes from this long before it (1m–30d)
//! regression = true                # judge every change by the checks around it
//! regression_window = "15m"        # the windows compared, before and after (1s–24h)
//! latency_ratio = 2.0              # p95 after ≥ this × p95 before… (more than 1)
//! min_latency_increase = "100ms"   # …and at least this much slower: suspect
//! failure_rate_increase = 0.05     # failure rate up by this (0.05 = 5 points, 0–1): suspect
//! min_samples = 10                 # fewer checks than this on a side: no verdict (≥ 1)
//! degrade = true                   # a suspect change degrades its component and is named
//!                                  # in an incident
//! ```

use std::time::Duration;

use pharos_domain::change::RegressionRules;
use pharos_domain::duration::format_duration;
use pharos_engine::ChangeSettings;

use super::walk::{Cx, Field, Section};

const MIN_LOOKBACK: Duration = Duration::from_secs(60);
const MAX_LOOKBACK: Duration = Duration::from_secs(30 * 24 * 3600);
const MIN_WINDOW: Duration = Duration::from_secs(1);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

const KEYS: &[&str] = &[
    "lookback",
    "regression",
    "regression_window",
    "latency_ratio",
    "min_latency_increase",
    "failure_rate_increase",
    "min_samples",
    "degrade",
];

/// Reads `[changes]`.
pub(super) fn changes(cx: &mut Cx<'_>, s: Section<'_>) -> ChangeSettings {
    s.check_keys(cx, KEYS);
    let mut out = ChangeSettings::default();
    let mut rules = RegressionRules::default();
    if let Some(f) = s.field("lookback") {
        if let Some(d) = bounded_duration(cx, &f, MIN_LOOKBACK, MAX_LOOKBACK) {
            out.lookback = d;
        }
    }
    if let Some(f) = s.field("regression_window") {
        if let Some(d) = bounded_duration(cx, &f, MIN_WINDOW, MAX_WINDOW) {
            rules.window = d;
        }
    }
    if let Some(f) = s.field("min_latency_increase") {
        if let Some(d) = cx.duration(&f) {
            rules.min_latency_increase = d;
        }
    }
    if let Some(f) = s.field("latency_ratio") {
        match number(cx, &f) {
            Some(x) if x > 1.0 && x.is_finite() => rules.latency_ratio = x,
            Some(x) => cx.error(
                f.at,
                format!("`latency_ratio` must be more than 1 (2.0 means twice as slow), found {x}"),
            ),
            None => {}
        }
    }
    if let Some(f) = s.field("failure_rate_increase") {
        match number(cx, &f) {
            Some(x) if x > 0.0 && x <= 1.0 => rules.failure_rate_increase = x,
            Some(x) => cx.error(
                f.at,
                format!(
                    "`failure_rate_increase` must be more than 0 and at most 1 (0.05 means 5 points), found {x}"
                ),
            ),
            None => {}
        }
    }
    if let Some(f) = s.field("min_samples") {
        if let Some(n) = cx.integer_at_least::<u32>(&f, 1) {
            rules.min_samples = n;
        }
    }
    if let Some(f) = s.field("degrade") {
        if let Some(b) = cx.boolean(&f) {
            out.degrade = b;
        }
    }
    let enabled = match s.field("regression") {
        Some(f) => cx.boolean(&f).unwrap_or(true),
        None => true,
    };
    out.regression = enabled.then_some(rules);
    out
}

/// A duration between `min` and `max`.
fn bounded_duration(
    cx: &mut Cx<'_>,
    f: &Field<'_>,
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    let d = cx.duration(f)?;
    if d < min || d > max {
        cx.error(
            f.at,
            format!(
                "`{}` must be between {} and {}, found {:?}",
                f.name,
                format_duration(min),
                format_duration(max),
                format_duration(d)
            ),
        );
        return None;
    }
    Some(d)
}

/// A TOML float or integer.
fn number(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<f64> {
    if let Some(x) = f.item.as_float() {
        return Some(x);
    }
    if let Some(n) = f.item.as_integer() {
        // Configuration numbers are small: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        return Some(n as f64);
    }
    cx.error(f.at, format!("`{}` must be a number, like 2.0", f.name));
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::*;

    fn load(toml: &str) -> Result<ChangeSettings, Vec<String>> {
        parse_str(toml, "pharos.toml", &|_| None)
            .map(|l| l.config.changes)
            .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_without_the_section() {
        let c = load("").unwrap();
        assert_eq!(c, ChangeSettings::default());
        assert_eq!(c.lookback, Duration::from_secs(6 * 3600));
        assert_eq!(c.regression, Some(RegressionRules::default()));
        assert!(c.degrade);
    }

    #[test]
    fn every_key_is_read() {
        let c = load(
            r#"
[changes]
lookback = "2h"
regression_window = "5m"
latency_ratio = 3
min_latency_increase = "50ms"
failure_rate_increase = 0.1
min_samples = 4
degrade = false
"#,
        )
        .unwrap();
        assert_eq!(c.lookback, Duration::from_secs(7200));
        assert!(!c.degrade);
        let r = c.regression.unwrap();
        assert_eq!(r.window, Duration::from_secs(300));
        assert_eq!(r.latency_ratio, 3.0);
        assert_eq!(r.min_latency_increase, Duration::from_millis(50));
        assert_eq!(r.failure_rate_increase, 0.1);
        assert_eq!(r.min_samples, 4);
        assert_eq!(
            load("[changes]\nregression = false\n").unwrap().regression,
            None
        );
    }

    #[test]
    fn bad_values_are_located() {
        let errors = load(
            r#"[changes]
lookback = "10s"
regression_window = "2d"
latency_ratio = 0.5
failure_rate_increase = "lots"
min_samples = 0
degrade = "yes"
lookbak = "1h"
"#,
        )
        .unwrap_err();
        let want = [
            "pharos.toml:2:12: error: `lookback` must be between 1m and 30d, found \"10s\"",
            "pharos.toml:3:21: error: `regression_window` must be between 1s and 1d, found \"2d\"",
            "pharos.toml:4:17: error: `latency_ratio` must be more than 1 (2.0 means twice as slow), found 0.5",
            "pharos.toml:5:25: error: `failure_rate_increase` must be a number, like 2.0",
            "pharos.toml:6:15: error: `min_samples` must be at least 1, found 0",
        ];
        for w in want {
            assert!(
                errors.iter().any(|e| e == w),
                "missing {w:?} in {errors:#?}"
            );
        }
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("pharos.toml:7:11: error:")),
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("pharos.toml:8:1: error:") && e.contains("lookbak")),
            "{errors:#?}"
        );
    }
}
