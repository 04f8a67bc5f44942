//! Prometheus monitors: scrape a target's metrics page (the Prometheus text format), read one
//! series, and judge it against a threshold and against its trend, so that a value growing
//! toward its limit (open connections leaking, a disk filling) degrades the component before
//! it falls over.
//!
//! - [`SeriesSelector`] names one series: `db_connections_open{pool="booking"}` (the labels
//!   given must match; others may be present). Exactly one series must match.
//! - [`find_value`] reads the text format: `# HELP`/`# TYPE` comments, `name{labels} value
//!   [timestamp]` samples, label values with `\"`, `\\` and `\n` escapes, `NaN` and `±Inf`.
//! - [`Trend`] keeps the last [`TREND_SAMPLES`] values and fits a least-squares line through
//!   them: at the fitted rate, how long until the threshold.
//! - [`judge`] makes the verdict: at or over the threshold is down; reaching it within
//!   `forecast` at the current rate is degraded ("at the current rate
//!   `db_connections_open{pool="booking"}` reaches 500 in 25m"); otherwise up.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::check::{CheckOutcome, CheckResult, Observation};
use crate::duration::format_duration;
use crate::monitor::{HttpSpec, MonitorSpec};

/// Samples a trend is fitted through (the newest ones).
pub const TREND_SAMPLES: usize = 20;
/// Fewest samples a forecast needs.
pub const TREND_MIN_SAMPLES: usize = 3;

/// Settings of a `prometheus` monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusSpec {
    /// How the metrics page is fetched (a `GET` of its URL).
    pub http: HttpSpec,
    /// The one series judged.
    pub series: SeriesSelector,
    /// At or over this value the monitor is down.
    pub threshold: f64,
    /// Degraded while the trend reaches the threshold within this long.
    #[serde(
        serialize_with = "crate::monitor::opt_millis",
        deserialize_with = "crate::monitor::opt_from_millis"
    )]
    pub forecast: Option<Duration>,
}

/// A metric name with the labels a series must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSelector {
    name: String,
    labels: Labels,
}

impl Serialize for SeriesSelector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeriesSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SeriesSelector::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SeriesSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            write!(f, "{{{}}}", labels.join(","))?;
        }
        Ok(())
    }
}

impl SeriesSelector {
    /// Parses `name` or `name{label="value", …}`.
    pub fn parse(text: &str) -> Result<SeriesSelector, String> {
        let text = text.trim();
        let (name, rest) = split_name(text);
        if !is_metric_name(name) {
            return Err(format!(
                "{text:?} does not start with a metric name like db_connections_open"
            ));
        }
        let labels = match rest.trim() {
            "" => Vec::new(),
            r if r.starts_with('{') => {
                let (labels, after) = parse_labels(r)?;
                if !after.trim().is_empty() {
                    return Err(format!("unexpected {:?} after the labels", after.trim()));
                }
                labels
            }
            r => return Err(format!("unexpected {r:?} after the metric name")),
        };
        Ok(SeriesSelector {
            name: name.to_owned(),
            labels,
        })
    }

    fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        name == self.name
            && self
                .labels
                .iter()
                .all(|want| labels.iter().any(|have| have == want))
    }
}

/// The value of the one series `selector` picks from a text-format scrape.
pub fn find_value(scrape: &str, selector: &SeriesSelector) -> Result<f64, String> {
    let mut found: Option<f64> = None;
    let mut matches = 0usize;
    for (n, line) in scrape.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = split_name(line);
        if name != selector.name {
            continue;
        }
        let sample = parse_sample(rest).map_err(|e| format!("line {}: {e}", n + 1))?;
        if selector.matches(name, &sample.0) {
            matches += 1;
            found = Some(sample.1);
        }
    }
    match (matches, found) {
        (1, Some(v)) => Ok(v),
        (0, _) => Err(format!("the scrape has no series {selector}")),
        (n, _) => Err(format!(
            "{n} series match {selector}; add labels to pick one"
        )),
    }
}

/// The newest values of one series, for its trend.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    samples: VecDeque<(DateTime<Utc>, f64)>,
}

impl Trend {
    /// Adds a value seen at `at` (dropping the oldest beyond [`TREND_SAMPLES`]); NaN is
    /// not a sample.
    pub fn push(&mut self, at: DateTime<Utc>, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.samples.len() == TREND_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((at, value));
    }

    /// The fitted rate of change per second, from [`TREND_MIN_SAMPLES`] samples on.
    pub fn rate_per_second(&self) -> Option<f64> {
        if self.samples.len() < TREND_MIN_SAMPLES {
            return None;
        }
        let t0 = self.samples.front()?.0;
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .map(|(t, v)| ((*t - t0).num_milliseconds() as f64 / 1000.0, *v))
            .collect();
        let n = points.len() as f64;
        let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
        let var_t: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
        if var_t <= f64::EPSILON {
            return None;
        }
        let cov: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
        Some(cov / var_t)
    }

    /// How long until `threshold` at the fitted rate, from the newest value, to the nearest
    /// second; `None` when the series is not rising toward it.
    pub fn time_to(&self, threshold: f64) -> Option<Duration> {
        let (_, last) = *self.samples.back()?;
        let rate = self.rate_per_second()?;
        if rate <= 0.0 || last >= threshold {
            return None;
        }
        Duration::try_from_secs_f64(((threshold - last) / rate).round()).ok()
    }
}

/// The verdict on one scraped value: down at or over the threshold, degraded when the trend
/// (with this value pushed) reaches it within `forecast`, else up; with the reason.
pub fn judge(
    spec: &PrometheusSpec,
    trend: &mut Trend,
    at: DateTime<Utc>,
    value: f64,
) -> (CheckOutcome, Option<String>) {
    trend.push(at, value);
    let series = &spec.series;
    let threshold = number(spec.threshold);
    if value.is_nan() {
        return (
            CheckOutcome::Down,
            Some(format!(
                "{series} is NaN, not a number to compare with {threshold}"
            )),
        );
    }
    if value >= spec.threshold {
        return (
            CheckOutcome::Down,
            Some(format!(
                "{series} is {}, at or over its threshold {threshold}",
                number(value)
            )),
        );
    }
    if let (Some(horizon), Some(eta)) = (spec.forecast, trend.time_to(spec.threshold)) {
        if eta <= horizon {
            let per_minute = trend.rate_per_second().unwrap_or_default() * 60.0;
            return (
                CheckOutcome::Degraded,
                Some(format!(
                    "at the current rate {series} reaches {threshold} in {} (now {}, +{} per \
                     minute)",
                    format_duration(eta.max(Duration::from_secs(1))),
                    number(value),
                    number((per_minute * 100.0).round() / 100.0)
                )),
            );
        }
    }
    (CheckOutcome::Up, None)
}

/// Judges one scrape of a `prometheus` monitor: the monitor's conditions first (a scrape
/// that failed or broke a condition is down, as any check), then the series: missing or
/// ambiguous is down, else [`judge`] decides. The worse of the two verdicts stands.
pub fn judge_scrape(
    spec: &MonitorSpec,
    prometheus: &PrometheusSpec,
    trend: &mut Trend,
    obs: &Observation,
    started_at: DateTime<Utc>,
) -> CheckResult {
    let mut result = CheckResult::judge(spec, obs, started_at);
    if result.outcome == CheckOutcome::Down {
        return result;
    }
    let (outcome, reason) = match find_value(obs.body.as_deref().unwrap_or(""), &prometheus.series)
    {
        Ok(value) => judge(prometheus, trend, started_at, value),
        Err(reason) => (CheckOutcome::Down, Some(reason)),
    };
    if outcome != CheckOutcome::Up {
        result.outcome = outcome;
        result.error = reason;
    }
    result
}

/// A value as written in reasons: integers without a fraction.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The metric name at the start of `s`, and the rest.
fn split_name(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s.split_at(end)
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A series' labels, `(name, value)` in order.
type Labels = Vec<(String, String)>;

/// `{labels} value [timestamp]` after a sample's name.
fn parse_sample(rest: &str) -> Result<(Labels, f64), String> {
    let (labels, after) = if rest.starts_with('{') {
        parse_labels(rest)?
    } else {
        (Vec::new(), rest)
    };
    let value = after
        .split_whitespace()
        .next()
        .ok_or("a sample without a value")?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("{v:?} is not a sample value"))?,
    };
    Ok((labels, value))
}

/// `{a="b",c="d"}` at the start of `s`: the labels and what follows the closing brace.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("labels start with {")?;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        if rest.is_empty() {
            return Err("the labels are not closed with }".to_owned());
        }
        let (name, after) = split_name(rest);
        if name.is_empty() {
            return Err(format!("expected a label name at {rest:?}"));
        }
        let after = after
            .trim_start()
            .strip_prefix('=')
            .ok_or_else(|| format!("expected = after label {name}"))?
            .trim_start();
        let mut chars = after
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label {name} must be in double quotes"))?
            .char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err(format!("the value of label {name} is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("the value of label {name} is not closed")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        // `after` starts with the opening quote, which `char_indices` skipped.
        rest = after[1 + end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A real node/postgres-exporter-like page.
    const SCRAPE: &str = r#"# HELP db_connections_open Open connections by pool.
# TYPE db_connections_open gauge
db_connections_open{pool="booking",instance="db-1:9187"} 431
db_connections_open{pool="search",instance="db-1:9187"} 12 1700000000000
db_connections_open{pool="we\"ird\\pool\n"} 7
process_open_fds 1.5e+02
go_gc_duration_seconds{quantile="0.5"} NaN
up +Inf
"#;

    fn sel(s: &str) -> SeriesSelector {
        SeriesSelector::parse(s).unwrap()
    }

    #[test]
    fn one_series_is_picked_by_name_and_labels() {
        let booking = sel(r#"db_connections_open{pool="booking"}"#);
        assert_eq!(find_value(SCRAPE, &booking), Ok(431.0));
        assert_eq!(
            find_value(SCRAPE, &sel(r#"db_connections_open{ pool = "search" }"#)),
            Ok(12.0)
        );
        assert_eq!(
            find_value(
                SCRAPE,
                &sel(r#"db_connections_open{pool="we\"ird\\pool\n"}"#)
            ),
            Ok(7.0)
        );
        assert_eq!(find_value(SCRAPE, &sel("process_open_fds")), Ok(150.0));
        assert_eq!(find_value(SCRAPE, &sel("up")), Ok(f64::INFINITY));
        assert!(find_value(SCRAPE, &sel("go_gc_duration_seconds"))
            .unwrap()
            .is_nan());
        assert_eq!(
            find_value(SCRAPE, &sel("db_connections_open")).unwrap_err(),
            "3 series match db_connections_open; add labels to pick one"
        );
        assert_eq!(
            find_value(SCRAPE, &sel(r#"db_connections_open{pool="billing"}"#)).unwrap_err(),
            r#"the scrape has no series db_connections_open{pool="billing"}"#
        );
        assert_eq!(
            booking.to_string(),
            r#"db_connections_open{pool="booking"}"#
        );
    }

    #[test]
    fn bad_selectors_and_samples_are_named() {
        assert!(SeriesSelector::parse("9lives")
            .unwrap_err()
            .contains("metric name"));
        assert!(SeriesSelector::parse(r#"up{job=x}"#)
            .unwrap_err()
            .contains("double quotes"));
        assert!(SeriesSelector::parse(r#"up{job="x""#)
            .unwrap_err()
            .contains("not closed"));
        assert!(SeriesSelector::parse("up extra")
            .unwrap_err()
            .contains("unexpected"));
        assert_eq!(
            find_value("up abc\n", &sel("up")).unwrap_err(),
            "line 1: \"abc\" is not a sample value"
        );
    }

    fn spec(threshold: f64, forecast: Option<u64>) -> PrometheusSpec {
        PrometheusSpec {
            http: HttpSpec::get("http://127.0.0.1:9187/metrics"),
            series: sel(r#"db_connections_open{pool="booking"}"#),
            threshold,
            forecast: forecast.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_linear_leak_degrades_before_the_limit_and_is_down_at_it() {
        let spec = spec(500.0, Some(25 * 60));
        let mut trend = Trend::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Two connections a minute, one scrape a minute, from 400.
        let mut verdicts = Vec::new();
        for minute in 0..60i64 {
            let value = 400.0 + 2.0 * minute as f64;
            let at = t0 + chrono::Duration::minutes(minute);
            verdicts.push(judge(&spec, &mut trend, at, value));
        }
        // Too few samples to forecast at first; far from the limit, up.
        assert_eq!(verdicts[0], (CheckOutcome::Up, None));
        assert_eq!(verdicts[10].0, CheckOutcome::Up, "{:?}", verdicts[10]);
        // 25 minutes before 500 (at 450, minute 25) it is degraded, with the forecast.
        assert_eq!(verdicts[24].0, CheckOutcome::Up, "{:?}", verdicts[24]);
        assert_eq!(
            verdicts[25],
            (
                CheckOutcome::Degraded,
                Some(
                    "at the current rate db_connections_open{pool=\"booking\"} reaches 500 in \
                     25m (now 450, +2 per minute)"
                        .to_owned()
                )
            )
        );
        assert_eq!(verdicts[49].0, CheckOutcome::Degraded);
        assert_eq!(
            verdicts[50],
            (
                CheckOutcome::Down,
                Some(
                    "db_connections_open{pool=\"booking\"} is 500, at or over its threshold 500"
                        .to_owned()
                )
            )
        );
    }

    #[test]
    fn a_flat_or_falling_series_forecasts_nothing() {
        let spec = spec(500.0, Some(3600));
        let mut trend = Trend::default();
        let t0 = Utc::now();
        for (i, v) in [480.0, 470.0, 475.0, 460.0].iter().enumerate() {
            let (outcome, _) = judge(
                &spec,
                &mut trend,
                t0 + chrono::Duration::minutes(i as i64),
                *v,
            );
            assert_eq!(outcome, CheckOutcome::Up);
        }
        assert!(trend.rate_per_second().unwrap() < 0.0);
        // Without a forecast, only the threshold counts.
        let spec = PrometheusSpec {
            forecast: None,
            ..spec
        };
        let mut trend = Trend::default();
        for i in 0..5 {
            let v = 490.0 + i as f64;
            let (outcome, _) = judge(&spec, &mut trend, t0 + chrono::Duration::minutes(i), v);
            assert_eq!(outcome, CheckOutcome::Up);
        }
    }
}
