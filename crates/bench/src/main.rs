//! `pharos-fanout`: the time one incident takes to reach every subscriber.
//!
//!     pharos-fanout --kind webhook|email --subscribers N [--database URL] [--bin PATH]
//!                   [--timeout SECS] [--keep]
//!
//! 1. Starts a local sink on 127.0.0.1: an HTTP receiver (webhook) or an SMTP server (email)
//!    that accepts everything and counts distinct deliveries.
//! 2. Fills a fresh database with N confirmed whole-page subscribers, straight through
//!    `pharos-store` (the public subscribe endpoint is rate limited): a SQLite file in a temp
//!    dir, or a new schema on the PostgreSQL server `--database` names (dropped at the end).
//! 3. Writes a Pharos configuration (`[smtp]` pointing at the sink for e-mail), checks it with
//!    `pharos validate`, starts `pharos serve` and waits for `/api/v2/summary.json`.
//! 4. Declares one incident through the admin API (no components, so every subscriber gets
//!    exactly one event, the incident opening) and waits until the sink has N distinct
//!    deliveries. The result is the time from just before that request to the last new
//!    delivery.
//! 5. Waits for the outbox to settle (nothing pending), refuses the run if any delivery is
//!    dead, stops Pharos with SIGTERM, and prints one JSON line to stdout and a summary to
//!    stderr.
//!
//! CPU time is Pharos's `utime + stime` from `/proc/<pid>/stat`, converted with
//! `getconf CLK_TCK` (100 when that cannot be run); peak memory is its `VmHWM`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, ValueEnum};
use pharos_bench::process::{self, free_port, print_log_tail, round, toml_string};
use pharos_bench::procfs::{self, ProcSample};
use pharos_bench::sink::Sink;
use pharos_bench::tally::Counts;
use pharos_store::{Batch, Store, SubscriberChange, SubscriberKind, SubscriberRecord};
use serde_json::json;

/// Subscribers written per transaction while preparing the database.
const INSERT_BATCH: usize = 5_000;
/// How long Pharos may take to start serving.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the sink is looked at while waiting for the deliveries.
const POLL_EVERY: Duration = Duration::from_millis(10);
/// How long the outbox may take, after the last delivery, to record every one as sent.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGTERM, then this long, then SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Progress on stderr this often while waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Times one incident's notification fan-out to N webhook or e-mail subscribers.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Which kind of subscriber, and so which sink.
    #[arg(long, value_enum)]
    kind: Kind,
    /// How many subscribers.
    #[arg(long)]
    subscribers: usize,
    /// A PostgreSQL URL (a fresh schema is made in it); default: SQLite in a temp dir.
    #[arg(long)]
    database: Option<String>,
    /// The Pharos binary.
    #[arg(long, default_value = "target/release/pharos")]
    bin: PathBuf,
    /// Give up when the deliveries have not all arrived after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Keep the temp dir (config, database, Pharos's log) and the PostgreSQL schema.
    #[arg(long)]
    keep: bool,
}

/// Which kind of subscriber the run fans out to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Webhook subscribers, POSTed to a local HTTP receiver.
    Webhook,
    /// E-mail subscribers, sent through a local SMTP sink.
    Email,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Email => "email",
        }
    }

    /// The stated target for the reference sizes (10,000 webhooks, 100,000 e-mails).
    fn target(self) -> (usize, f64) {
        match self {
            Kind::Webhook => (10_000, 10.0),
            Kind::Email => (100_000, 60.0),
        }
    }
}

/// Starts the sink for `kind`.
async fn start_sink(kind: Kind) -> Result<Sink> {
    Ok(match kind {
        Kind::Webhook => pharos_bench::webhook::start().await?,
        Kind::Email => pharos_bench::smtp::start().await?,
    })
}

/// What must be undone however the run ends.
#[derive(Default)]
struct Teardown {
    keep: bool,
    tmp: Option<tempfile::TempDir>,
    pharos: Option<Child>,
    /// (base URL, schema name) of a PostgreSQL schema we made.
    schema: Option<(String, String)>,
    log: Option<PathBuf>,
}

impl Teardown {
    /// Stops Pharos if it still runs, drops the schema and removes the temp dir (unless
    /// `--keep`). Problems are reported on stderr; nothing here fails the run.
    async fn finish(&mut self, failed: bool) {
        if let Some(mut child) = self.pharos.take() {
            if let Err(e) = process::stop(&mut child, STOP_GRACE) {
                eprintln!("pharos-fanout: stopping Pharos: {e:#}");
            }
        }
        if failed {
            if let Some(log) = &self.log {
                print_log_tail(log, 40);
            }
        }
        if let Some((base, name)) = self.schema.take() {
            if self.keep {
                eprintln!("pharos-fanout: kept PostgreSQL schema {name}");
            } else if let Err(e) = drop_schema(&base, &name).await {
                eprintln!("pharos-fanout: dropping schema {name}: {e:#}");
            }
        }
        if let Some(tmp) = self.tmp.take() {
            if self.keep {
                eprintln!("pharos-fanout: kept {}", tmp.keep().display());
            } else if let Err(e) = tmp.close() {
                eprintln!("pharos-fanout: removing the temp dir: {e}");
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut teardown = Teardown {
        keep: args.keep,
        ..Teardown::default()
    };
    // On SIGINT or SIGTERM the run stops where it is, and Pharos, the schema and the temp
    // dir are still cleaned up.
    let result = tokio::select! {
        r = run(&args, &mut teardown) => r,
        signal = process::interrupted() => Err(anyhow!("interrupted by {signal}")),
    };
    teardown.finish(result.is_err()).await;
    match result {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pharos-fanout: FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Says what is happening, on stderr.
fn say(msg: impl std::fmt::Display) {
    eprintln!("[fanout] {msg}");
}

async fn run(args: &Args, teardown: &mut Teardown) -> Result<serde_json::Value> {
    let n = args.subscribers;
    if n == 0 {
        bail!("--subscribers must be at least 1");
    }
    let bin = std::path::absolute(&args.bin)
        .with_context(|| format!("resolving {}", args.bin.display()))?;
    if !bin.is_file() {
        bail!(
            "no Pharos binary at {} (build it with `cargo build --release --bin pharos`, or pass --bin)",
            bin.display()
        );
    }
    let version = command_output(Command::new(&bin).arg("--version"))
        .unwrap_or_default()
        .trim()
        .to_owned();

    let tmp = tempfile::Builder::new()
        .prefix("pharos-fanout-")
        .tempdir()
        .context("creating a temp dir")?;
    let dir = tmp.path().to_path_buf();
    teardown.tmp = Some(tmp);

    let sink = start_sink(args.kind).await.context("starting the sink")?;
    say(format!(
        "{} sink on 127.0.0.1:{}",
        args.kind.as_str(),
        sink.addr().port()
    ));

    // The database, filled before Pharos starts.
    let (db_url, backend) = match &args.database {
        None => (format!("sqlite://{}/pharos.db", dir.display()), "sqlite"),
        Some(base) if base.starts_with("postgres://") || base.starts_with("postgresql://") => {
            let name = format!("bench_{:016x}", rand::random::<u64>());
            create_schema(base, &name)
                .await
                .context("creating a PostgreSQL schema")?;
            teardown.schema = Some((base.clone(), name.clone()));
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{name}"),
                "postgres",
            )
        }
        Some(_) => bail!("--database must be a postgres:// or postgresql:// URL"),
    };
    let prepare_started = Instant::now();
    insert_subscribers(&db_url, args.kind, n, sink.addr().port()).await?;
    let prepare_s = prepare_started.elapsed().as_secs_f64();
    say(format!(
        "{n} {} subscribers stored on {backend} in {prepare_s:.1} s",
        args.kind.as_str()
    ));

    // Pharos's configuration.
    let port = free_port()?;
    let token = format!("{:032x}", rand::random::<u128>());
    let config_path = dir.join("pharos.toml");
    std::fs::write(
        &config_path,
        config_text(args.kind, port, &db_url, &token, sink.addr().port()),
    )
    .context("writing the configuration")?;
    let validate = Command::new(&bin)
        .arg("validate")
        .arg("--config")
        .arg(&config_path)
        .env_remove("PHAROS_DATABASE_URL")
        .env_remove("PHAROS_LISTEN")
        .output()
        .with_context(|| format!("running {} validate", bin.display()))?;
    if !validate.status.success() {
        bail!(
            "`pharos validate` refused the generated configuration:\n{}{}",
            String::from_utf8_lossy(&validate.stdout),
            String::from_utf8_lossy(&validate.stderr)
        );
    }

    // Pharos itself.
    let log_path = dir.join("pharos.log");
    let log = File::create(&log_path).context("creating the log file")?;
    let log2 = log.try_clone().context("creating the log file")?;
    teardown.log = Some(log_path.clone());
    let started = Instant::now();
    let child = Command::new(&bin)
        .arg("serve")
        .arg("--config")
        .arg(&config_path)
        .current_dir(&dir)
        .env(
            "PHAROS_LOG",
            std::env::var("PHAROS_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .env_remove("PHAROS_DATABASE_URL")
        .env_remove("PHAROS_LISTEN")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .with_context(|| format!("starting {} serve", bin.display()))?;
    let pid = child.id();
    let pharos = teardown.pharos.insert(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    wait_ready(&http, &base, pharos).await?;
    let startup_s = started.elapsed().as_secs_f64();
    say(format!(
        "pharos pid {pid} serving on {base} after {startup_s:.2} s"
    ));

    // The measurement.
    let ticks = procfs::clock_ticks_per_second();
    let before = procfs::sample(pid, ticks).context("reading Pharos's /proc entries")?;
    let tally = sink.tally().clone();
    let t0 = Instant::now();
    let response = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(json!({"name": "Fan-out benchmark", "body": "We are investigating."}).to_string())
        .send()
        .await
        .context("POST /api/v1/incidents")?;
    let post_s = t0.elapsed().as_secs_f64();
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !(status == reqwest::StatusCode::CREATED || status == reqwest::StatusCode::OK) {
        bail!("POST /api/v1/incidents answered {status}: {text}");
    }
    let incident_id = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .unwrap_or_default();
    say(format!(
        "incident {incident_id} declared in {post_s:.3} s; waiting for {n} deliveries"
    ));

    let deadline = t0 + Duration::from_secs(args.timeout);
    let mut next_progress = t0 + PROGRESS_EVERY;
    let counts = loop {
        let c = tally.counts();
        if c.distinct >= n as u64 {
            break c;
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "timed out after {} s with {} of {n} distinct deliveries ({} repeats)",
                args.timeout,
                c.distinct,
                c.repeats()
            );
        }
        if now >= next_progress {
            next_progress += PROGRESS_EVERY;
            if let Some(status) = pharos.try_wait().context("watching Pharos")? {
                bail!(
                    "Pharos exited ({status}) with {} of {n} deliveries",
                    c.distinct
                );
            }
            say(format!(
                "{:.0} s: {} of {n} delivered",
                (now - t0).as_secs_f64(),
                c.distinct
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let after = procfs::sample(pid, ticks).context("reading Pharos's /proc entries")?;
    let last_s = since(t0, counts.last_new);
    let first_s = since(t0, counts.first);
    say(format!(
        "all {n} delivered: first after {first_s:.3} s, last after {last_s:.3} s"
    ));

    // The outbox should now record every delivery as sent, and none dead.
    let settled_s = wait_settled(&http, &base, &token, t0).await?;
    let dead = deliveries(&http, &base, &token, "dead", 500).await?;
    if !dead.is_empty() {
        let sample: Vec<String> = dead
            .iter()
            .take(3)
            .map(|d| {
                format!(
                    "{}: {}",
                    d.get("destination").and_then(|v| v.as_str()).unwrap_or("?"),
                    d.get("last_error").and_then(|v| v.as_str()).unwrap_or("?")
                )
            })
            .collect();
        bail!(
            "{}{} deliveries are dead, e.g. {}",
            dead.len(),
            if dead.len() >= 500 { "+" } else { "" },
            sample.join("; ")
        );
    }
    let attempts = notification_attempts(&http, &base).await;
    let end = procfs::sample(pid, ticks).context("reading Pharos's /proc entries")?;
    // Late repeats (a lease that ran out) show up by now.
    let final_counts = tally.counts();

    let stopping = Instant::now();
    let mut child = teardown
        .pharos
        .take()
        .ok_or_else(|| anyhow!("Pharos is gone"))?;
    let exit = process::stop(&mut child, STOP_GRACE)?;
    let shutdown_s = stopping.elapsed().as_secs_f64();
    if !exit.success() {
        say(format!("warning: Pharos exited with {exit} after SIGTERM"));
    }

    let (target_n, target_s) = args.kind.target();
    let report = Report {
        args,
        backend,
        version: &version,
        counts: final_counts,
        at_last: counts,
        first_s,
        last_s,
        post_s,
        settled_s,
        prepare_s,
        startup_s,
        shutdown_s,
        exit_code: exit.code(),
        before,
        after,
        end,
        ticks,
        attempts,
        target: (target_n, target_s),
    };
    eprintln!("{}", report.human());
    Ok(report.json())
}

/// Seconds from `t0` to `at` (0 when it never happened).
fn since(t0: Instant, at: Option<Instant>) -> f64 {
    at.map_or(0.0, |at| at.saturating_duration_since(t0).as_secs_f64())
}

/// Everything the run found, for the JSON line and the summary.
struct Report<'a> {
    args: &'a Args,
    backend: &'static str,
    version: &'a str,
    /// At the end, after the outbox settled.
    counts: Counts,
    /// When the last distinct delivery was seen.
    at_last: Counts,
    first_s: f64,
    last_s: f64,
    post_s: f64,
    settled_s: Option<f64>,
    prepare_s: f64,
    startup_s: f64,
    shutdown_s: f64,
    exit_code: Option<i32>,
    before: ProcSample,
    after: ProcSample,
    end: ProcSample,
    ticks: u64,
    attempts: Attempts,
    target: (usize, f64),
}

impl Report<'_> {
    fn rate(&self) -> f64 {
        if self.last_s > 0.0 {
            self.args.subscribers as f64 / self.last_s
        } else {
            0.0
        }
    }

    fn json(&self) -> serde_json::Value {
        let mib = |kib: u64| round(kib as f64 / 1024.0, 1);
        let (target_n, target_s) = self.target;
        json!({
            "bench": "fanout",
            "kind": self.args.kind.as_str(),
            "database": self.backend,
            "subscribers": self.args.subscribers,
            "last_delivery_s": round(self.last_s, 3),
            "first_delivery_s": round(self.first_s, 3),
            "deliveries_per_s": round(self.rate(), 1),
            "distinct": self.counts.distinct,
            "repeats": self.counts.repeats(),
            "repeats_at_last_delivery": self.at_last.repeats(),
            "requests": self.counts.messages,
            "unkeyed_requests": self.counts.unkeyed,
            "body_bytes": self.counts.bytes,
            "incident_post_s": round(self.post_s, 3),
            "outbox_settled_s": self.settled_s.map(|s| round(s, 3)),
            "attempts_sent": self.attempts.sent,
            "attempts_failed": self.attempts.failed,
            "cpu_s_fanout": round((self.after.cpu.saturating_sub(self.before.cpu)).as_secs_f64(), 2),
            "cpu_s_total": round(self.end.cpu.as_secs_f64(), 2),
            "rss_before_mib": mib(self.before.rss_kib),
            "rss_after_mib": mib(self.after.rss_kib),
            "peak_rss_mib": mib(self.end.peak_rss_kib),
            "clk_tck": self.ticks,
            "prepare_s": round(self.prepare_s, 2),
            "startup_s": round(self.startup_s, 2),
            "shutdown_s": round(self.shutdown_s, 2),
            "exit_code": self.exit_code,
            "target_subscribers": target_n,
            "target_s": target_s,
            // Only meaningful at the reference size (or above).
            "within_target": (self.args.subscribers >= target_n).then_some(self.last_s <= target_s),
            "pharos_version": self.version,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        })
    }

    fn human(&self) -> String {
        let (target_n, target_s) = self.target;
        let verdict = if self.args.subscribers < target_n {
            format!("(target {target_s:.0} s is for {target_n})")
        } else if self.last_s <= target_s {
            format!("within the {target_s:.0} s target")
        } else {
            format!("OVER the {target_s:.0} s target")
        };
        format!(
            "fan-out {} x{} on {}: last delivery after {:.3} s ({:.0}/s), {verdict}; \
             {} repeats, {} failed attempts; Pharos CPU {:.2} s, peak RSS {:.1} MiB",
            self.args.kind.as_str(),
            self.args.subscribers,
            self.backend,
            self.last_s,
            self.rate(),
            self.counts.repeats(),
            self.attempts
                .failed
                .map_or("?".to_owned(), |f| f.to_string()),
            self.after.cpu.saturating_sub(self.before.cpu).as_secs_f64(),
            self.end.peak_rss_kib as f64 / 1024.0,
        )
    }
}

/// The Pharos configuration for the run.
fn config_text(kind: Kind, port: u16, db_url: &str, token: &str, sink_port: u16) -> String {
    let mut text = format!(
        r#"# Generated by pharos-fanout.
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[storage]
url = {db}

[page]
id = "bench"
name = "Fan-out benchmark"
time_zone = "UTC"

[admin]
tokens = [{{ name = "bench", token = "{token}" }}]

[[components]]
id = "api"
name = "API"

# One quiet monitor on Pharos's own /healthz, so `validate` has no unwatched component to
# warn about.
[[monitors]]
id = "self"
type = "http"
url = "http://127.0.0.1:{port}/healthz"
interval = "60s"
timeout = "5s"
components = ["api"]
"#,
        db = toml_string(db_url),
    );
    if kind == Kind::Email {
        text.push_str(&format!(
            r#"
[smtp]
host = "127.0.0.1"
port = {sink_port}
security = "none"
from = "Bench Status <status@example.com>"
timeout = "30s"
"#
        ));
    }
    if kind == Kind::Webhook {
        // The sink listens on loopback, which subscriber webhooks may not reach by default.
        text.push_str(
            r#"
[subscriptions]
allowed_webhook_networks = ["127.0.0.0/8"]
"#,
        );
    }
    text
}

/// Stores `n` confirmed, whole-page subscribers `bench0`… in a few transactions.
async fn insert_subscribers(url: &str, kind: Kind, n: usize, sink_port: u16) -> Result<()> {
    let store = Store::connect(url).await.context("opening the database")?;
    let now = chrono::Utc::now();
    let mut i = 0;
    let result = async {
        while i < n {
            let end = (i + INSERT_BATCH).min(n);
            let subscribers = (i..end)
                .map(|i| {
                    let (kind, address) = match kind {
                        Kind::Webhook => (
                            SubscriberKind::Webhook,
                            format!("http://127.0.0.1:{sink_port}/hook/{i}"),
                        ),
                        Kind::Email => (SubscriberKind::Email, format!("reader{i}@example.com")),
                    };
                    SubscriberChange::Upsert(SubscriberRecord {
                        id: format!("bench{i}"),
                        kind,
                        address,
                        components: vec![],
                        created_at: now,
                        confirmed_at: Some(now),
                        unsubscribed_at: None,
                        doc: "{}".into(),
                    })
                })
                .collect();
            let batch = Batch {
                subscribers,
                ..Batch::default()
            };
            store
                .write_batch(&batch)
                .await
                .with_context(|| format!("storing subscribers {i}..{end}"))?;
            i = end;
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn create_schema(base: &str, name: &str) -> Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(base).await?;
    // The name is ours (`bench_` and hex digits), not input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

async fn drop_schema(base: &str, name: &str) -> Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(base).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {name} CASCADE"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// Waits until `/api/v2/summary.json` answers 200, or Pharos exits, or [`STARTUP_TIMEOUT`].
async fn wait_ready(http: &reqwest::Client, base: &str, pharos: &mut Child) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let url = format!("{base}/api/v2/summary.json");
    loop {
        if let Some(status) = pharos.try_wait().context("watching Pharos")? {
            bail!("Pharos exited ({status}) before serving");
        }
        let ok = http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "Pharos did not serve {url} within {} s",
                STARTUP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /api/v1/deliveries?state=…&limit=…`.
async fn deliveries(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    state: &str,
    limit: usize,
) -> Result<Vec<serde_json::Value>> {
    let response = http
        .get(format!(
            "{base}/api/v1/deliveries?state={state}&limit={limit}"
        ))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET /api/v1/deliveries?state={state}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != reqwest::StatusCode::OK {
        bail!("GET /api/v1/deliveries?state={state} answered {status}: {text}");
    }
    serde_json::from_str(&text)
        .with_context(|| format!("GET /api/v1/deliveries?state={state}: not a JSON list"))
}

/// Seconds from `t0` until the outbox holds nothing pending, checked every 250 ms for up to
/// [`SETTLE_TIMEOUT`]; `None` (with a warning naming a pending delivery's last error) when it
/// does not settle in time.
async fn wait_settled(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    t0: Instant,
) -> Result<Option<f64>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let pending = deliveries(http, base, token, "pending", 1).await?;
        if pending.is_empty() {
            return Ok(Some(t0.elapsed().as_secs_f64()));
        }
        if Instant::now() >= deadline {
            let error = pending[0]
                .get("last_error")
                .and_then(|v| v.as_str())
                .unwrap_or("none yet");
            say(format!(
                "warning: deliveries still pending {} s after the last one arrived (last error: {error})",
                SETTLE_TIMEOUT.as_secs()
            ));
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Notification attempts by outcome, from `pharos_notifications_total` in `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
struct Attempts {
    sent: Option<u64>,
    failed: Option<u64>,
}

async fn notification_attempts(http: &reqwest::Client, base: &str) -> Attempts {
    let Ok(response) = http.get(format!("{base}/metrics")).send().await else {
        return Attempts::default();
    };
    let Ok(text) = response.text().await else {
        return Attempts::default();
    };
    parse_attempts(&text)
}

fn parse_attempts(metrics: &str) -> Attempts {
    let mut sent = 0u64;
    let mut failed = 0u64;
    let mut seen = false;
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("pharos_notifications_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        seen = true;
        if labels.contains("outcome=\"sent\"") {
            sent += value as u64;
        } else if labels.contains("outcome=\"failed\"") || labels.contains("outcome=\"dead\"") {
            failed += value as u64;
        }
    }
    if seen {
        Attempts {
            sent: Some(sent),
            failed: Some(failed),
        }
    } else {
        // No attempt recorded under any label: zero of each.
        Attempts {
            sent: Some(0),
            failed: Some(0),
        }
    }
}

/// Runs a command and returns its stdout, if it ran and succeeded.
fn command_output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_from_metrics() {
        let text = "# HELP x\n\
            pharos_notifications_total{notifier=\"subscribers:webhook\",outcome=\"sent\"} 10\n\
            pharos_notifications_total{notifier=\"subscribers:webhook\",outcome=\"failed\"} 2\n";
        let a = parse_attempts(text);
        assert_eq!((a.sent, a.failed), (Some(10), Some(2)));
    }
}
