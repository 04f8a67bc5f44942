//! Prometheus metrics owned by one engine instance (a registry per engine, not a global, so
//! several engines in one test process never mix their numbers).

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
        Metrics {
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

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }
}
