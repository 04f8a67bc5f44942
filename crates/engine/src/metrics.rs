//! Prometheus metrics owned by one engine instance (a registry per engine, not a global, so
//! several engines in one test process never mix their numbers).
//!
//! The registry (`prometheus-client`) writes OpenMetrics text, which Prometheus asks for by
//! `Accept`. Everything else that scrapes `/metrics` (older Prometheus servers, `promtool check
//! metrics`, most exporters' clients) speaks the classic text format 0.0.4, so
//! [`Metrics::render`] rewrites the OpenMetrics exposition into it: counters are named with
//! their `_total` in `# HELP` and `# TYPE`, `_created` samples, `# UNIT` and `# EOF` go, and
//! exemplars are dropped.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use pharos_domain::{CheckOutcome, Health};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming one monitor.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MonitorLabels {
    /// Monitor id.
    pub monitor: String,
}

/// Labels of the checks counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Monitor id.
    pub monitor: String,
    /// `up`, `degraded` or `down`.
    pub outcome: String,
}

/// Labels naming one monitor at one location.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocationLabels {
    /// Monitor id.
    pub monitor: String,
    /// Location id (`local` is the server itself).
    pub location: String,
}

/// Labels of the per-location checks counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocationCheckLabels {
    /// Monitor id.
    pub monitor: String,
    /// Location id.
    pub location: String,
    /// `up`, `degraded` or `down`.
    pub outcome: String,
}

/// Labels naming a monitor type: `type="http"`.
pub type TypeLabels = Vec<(&'static str, String)>;

/// Every metric the engine exports.
pub struct Metrics {
    registry: Registry,
    checks: Family<CheckLabels, Counter>,
    check_duration: Family<TypeLabels, Histogram, fn() -> Histogram>,
    start_delay: Histogram,
    monitor_up: Family<MonitorLabels, Gauge>,
    last_check: Family<MonitorLabels, Gauge<f64, AtomicU64>>,
    last_duration: Family<MonitorLabels, Gauge<f64, AtomicU64>>,
    store_errors: Counter,
    batch_seconds: Histogram,
    time_to_publish: Histogram,
    deliveries: Family<DeliveryLabels, Counter>,
    location_checks: Family<LocationCheckLabels, Counter>,
    location_up: Family<LocationLabels, Gauge>,
    location_duration: Family<LocationLabels, Gauge<f64, AtomicU64>>,
}

/// Labels of the notifications counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Notifier id.
    pub notifier: String,
    /// `sent`, `failed` (will retry) or `dead` (given up).
    pub outcome: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pharos");
        let checks = Family::<CheckLabels, Counter>::default();
        registry.register(
            "checks",
            "Checks run, by monitor and outcome",
            checks.clone(),
        );
        let check_duration =
            Family::<TypeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register(
            "check_duration_seconds",
            "How long checks took, by monitor type",
            check_duration.clone(),
        );
        let start_delay = Histogram::new([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0]);
        registry.register(
            "check_start_delay_seconds",
            "How late checks started after their due time",
            start_delay.clone(),
        );
        let monitor_up = Family::<MonitorLabels, Gauge>::default();
        registry.register(
            "monitor_up",
            "1 while the monitor is up or degraded, 0 while it is down",
            monitor_up.clone(),
        );
        let last_check = Family::<MonitorLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "monitor_last_check_timestamp_seconds",
            "Unix time the monitor's last check started",
            last_check.clone(),
        );
        let last_duration = Family::<MonitorLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "monitor_last_check_duration_seconds",
            "How long the monitor's last check took",
            last_duration.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_write_errors",
            "Batches that failed to write to the database (they are retried)",
            store_errors.clone(),
        );
        let batch_seconds = Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]);
        registry.register(
            "store_batch_seconds",
            "Time to write one batch of results",
            batch_seconds.clone(),
        );
        let time_to_publish =
            Histogram::new([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 30.0, 60.0, 300.0]);
        registry.register(
            "incident_time_to_publish_seconds",
            "From the first failing check to the incident on the public page",
            time_to_publish.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notification attempts, by notifier and outcome",
            deliveries.clone(),
        );
        let location_checks = Family::<LocationCheckLabels, Counter>::default();
        registry.register(
            "location_checks",
            "Results of monitors checked from several locations, by monitor, location and outcome",
            location_checks.clone(),
        );
        let location_up = Family::<LocationLabels, Gauge>::default();
        registry.register(
            "location_monitor_up",
            "1 while the monitor is up or degraded at the location, 0 while down there (absent while unknown)",
            location_up.clone(),
        );
        let location_duration = Family::<LocationLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "location_last_check_duration_seconds",
            "How long the monitor's last check from the location took",
            location_duration.clone(),
        );
        Metrics {
            location_checks,
            location_up,
            location_duration,
            registry,
            checks,
            check_duration,
            start_delay,
            monitor_up,
            last_check,
            last_duration,
            store_errors,
            batch_seconds,
            time_to_publish,
            deliveries,
        }
    }

    /// Records one notification attempt's outcome.
    pub fn record_delivery(&self, notifier: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                notifier: notifier.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records how long an automated incident took from first failure to the public page.
    pub fn record_time_to_publish(&self, took: Duration) {
        self.time_to_publish.observe(took.as_secs_f64());
    }

    /// Records one finished check.
    pub fn record_check(
        &self,
        monitor: &str,
        type_name: &str,
        outcome: CheckOutcome,
        started_unix: f64,
        took: Duration,
    ) {
        self.checks
            .get_or_create(&CheckLabels {
                monitor: monitor.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
        self.check_duration
            .get_or_create(&vec![("type", type_name.to_owned())])
            .observe(took.as_secs_f64());
        let labels = MonitorLabels {
            monitor: monitor.to_owned(),
        };
        self.last_check.get_or_create(&labels).set(started_unix);
        self.last_duration
            .get_or_create(&labels)
            .set(took.as_secs_f64());
    }

    /// Records one result of a monitor checked from several locations, with the monitor's
    /// health there after it (`Unknown` leaves the gauge as it was).
    pub fn record_location_check(
        &self,
        monitor: &str,
        location: &str,
        outcome: CheckOutcome,
        took: Duration,
        health: Health,
    ) {
        self.location_checks
            .get_or_create(&LocationCheckLabels {
                monitor: monitor.to_owned(),
                location: location.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
        let labels = LocationLabels {
            monitor: monitor.to_owned(),
            location: location.to_owned(),
        };
        self.location_duration
            .get_or_create(&labels)
            .set(took.as_secs_f64());
        let up = match health {
            Health::Up | Health::Degraded => 1,
            Health::Down => 0,
            Health::Unknown => return,
        };
        self.location_up.get_or_create(&labels).set(up);
    }

    /// Records how late a check started.
    pub fn record_start_delay(&self, late: Duration) {
        self.start_delay.observe(late.as_secs_f64());
    }

    /// Sets a monitor's up gauge from its health (unknown health exports nothing yet).
    pub fn set_health(&self, monitor: &str, health: Health) {
        let value = match health {
            Health::Up | Health::Degraded => 1,
            Health::Down => 0,
            Health::Unknown => return,
        };
        self.monitor_up
            .get_or_create(&MonitorLabels {
                monitor: monitor.to_owned(),
            })
            .set(value);
    }

    /// Counts a failed batch write.
    pub fn record_store_error(&self) {
        self.store_errors.inc();
    }

    /// Records a batch write's duration.
    pub fn record_batch(&self, took: Duration) {
        self.batch_seconds.observe(took.as_secs_f64());
    }

    /// Every metric in the OpenMetrics text format 1.0.0 (`application/openmetrics-text`).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }

    /// Every metric in the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        openmetrics_to_prometheus(&self.render_openmetrics())
    }
}

/// Rewrites an OpenMetrics text exposition as Prometheus text format 0.0.4.
///
/// Handles what an OpenMetrics exposition may hold: counters (named `NAME` in `# TYPE` and
/// sampled as `NAME_total`, with optional `NAME_created`), gauges, histograms and summaries
/// (unchanged but for `_created`), `unknown` (0.0.4's `untyped`), `info` (a gauge named
/// `NAME_info`) and `stateset` (a gauge). Gauge histograms have no 0.0.4 form; their samples
/// are written as untyped. `# UNIT` and `# EOF` lines and exemplars are dropped; OpenMetrics
/// timestamps (seconds) become milliseconds.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    use std::collections::HashMap;
    use std::fmt::Write as _;

    // The families and their types, from the `# TYPE` lines.
    let mut types: HashMap<&str, &str> = HashMap::new();
    for line in text.lines() {
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' ')) {
            types.insert(name, kind.trim());
        }
    }
    // The name a family has in 0.0.4.
    let renamed = |name: &str| -> String {
        match types.get(name).copied() {
            Some("counter") => format!("{name}_total"),
            Some("info") => format!("{name}_info"),
            _ => name.to_owned(),
        }
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if types.get(name) == Some(&"gaugehistogram") {
                continue;
            }
            // OpenMetrics escapes `"` in help text; 0.0.4 escapes only `\\` and newlines.
            let help = help.replace("\\\"", "\"");
            let _ = writeln!(out, "# HELP {} {help}", renamed(name));
            continue;
        }
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' ')) {
            let kind = match kind.trim() {
                "counter" => "counter",
                "gauge" | "info" | "stateset" => "gauge",
                "histogram" => "histogram",
                "summary" => "summary",
                "gaugehistogram" => continue,
                _ => "untyped",
            };
            let _ = writeln!(out, "# TYPE {} {kind}", renamed(name));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // A sample: NAME[{labels}] VALUE [TIMESTAMP] [# EXEMPLAR].
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if let Some(family) = name.strip_suffix("_created") {
            if matches!(
                types.get(family).copied(),
                Some("counter" | "histogram" | "summary" | "gaugehistogram")
            ) {
                continue;
            }
        }
        let rest = &line[name_end..];
        // Label values may hold spaces and `#`: the labels end at the `}` outside quotes.
        let labels_end = if rest.starts_with('{') {
            let mut quoted = false;
            let mut escaped = false;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    '}' if !quoted => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            0
        };
        let (labels, tail) = rest.split_at(labels_end);
        let tail = tail.split(" # ").next().unwrap_or_default();
        let mut fields = tail.split_whitespace();
        let Some(value) = fields.next() else {
            continue;
        };
        out.push_str(name);
        out.push_str(labels);
        out.push(' ');
        out.push_str(value);
        if let Some(ts) = fields.next().and_then(|t| t.parse::<f64>().ok()) {
            let _ = write!(out, " {}", (ts * 1000.0).round() as i64);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_with_total_and_keeps_every_sample() {
        let m = Metrics::new();
        m.record_check(
            "api",
            "http",
            CheckOutcome::Down,
            1_700_000_000.5,
            Duration::from_millis(20),
        );
        m.set_health("api", Health::Down);
        m.record_store_error();
        let om = m.render_openmetrics();
        assert!(om.contains("# TYPE pharos_checks counter"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        let text = m.render();
        for line in [
            "# HELP pharos_checks_total Checks run, by monitor and outcome.",
            "# TYPE pharos_checks_total counter",
            "pharos_checks_total{monitor=\"api\",outcome=\"down\"} 1",
            "# TYPE pharos_store_write_errors_total counter",
            "pharos_store_write_errors_total 1",
            "# TYPE pharos_monitor_up gauge",
            "pharos_monitor_up{monitor=\"api\"} 0",
            "# TYPE pharos_check_duration_seconds histogram",
            "pharos_check_duration_seconds_bucket{le=\"+Inf\",type=\"http\"} 1",
            "pharos_check_duration_seconds_count{type=\"http\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        // Every sample survives: the same count of non-comment lines.
        let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples(&text), samples(&om));
    }

    #[test]
    fn other_openmetrics_shapes_convert_too() {
        let om = "# HELP a_seconds Time \\\"quoted\\\".\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\n\
                  a_seconds_total{x=\"} # {\"} 2.5 1700000000.25 # {trace=\"1\"} 1.0\n\
                  a_seconds_created 1700000000.0\n\
                  # TYPE b info\nb_info{version=\"1\"} 1\n\
                  # TYPE c unknown\nc 3\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP a_seconds_total Time \"quoted\".\n# TYPE a_seconds_total counter\n\
             a_seconds_total{x=\"} # {\"} 2.5 1700000000250\n\
             # TYPE b_info gauge\nb_info{version=\"1\"} 1\n\
             # TYPE c untyped\nc 3\n"
        );
    }
}
