//! `pharos-checkcost`: CPU time per check, and memory per monitor, of Pharos, with
//! Prometheus's blackbox_exporter doing the same checks for comparison.
//!
//!     pharos-checkcost pharos   --kind http|tcp [--monitors 1000] [--interval 1] [--bin PATH]
//!     pharos-checkcost blackbox --kind http|tcp [--monitors 1000] [--interval 1]
//!                               [--exporter prometheus-blackbox-exporter] [--concurrency 64]
//!     pharos-checkcost rss      [--monitors 1,1000,10000] [--interval 300] [--bin PATH]
//!
//! Every case starts its own probe target in this process on 127.0.0.1 (an HTTP/1.1 server
//! answering `200 OK\n` with keep-alive, counting requests for `/m/{i}`, and a TCP listener
//! that accepts and closes), so this process's CPU is never the one measured.
//!
//! - `pharos`: writes a configuration with N monitors of the kind (`http`: URL `/m/{i}` on
//!   the target; `tcp`: the TCP listener), interval `--interval` seconds, starts the release
//!   `pharos serve` on SQLite in a temp dir, waits `--warmup` seconds, then measures Pharos's
//!   CPU time (`utime + stime` from `/proc/<pid>/stat`) over `--window` seconds and the
//!   checks the target received in the same window.
//! - `blackbox`: starts `prometheus-blackbox-exporter` on a free port with the modules
//!   `http_2xx` and `tcp_connect`, and asks it for the same N probes per interval on a fixed
//!   schedule (see `pharos_bench::blackbox::Driver`), as Prometheus would; same warm-up,
//!   window and measures, the exporter's CPU instead of Pharos's.
//! - `rss`: for each N, starts Pharos with N http monitors at a long interval (mostly idle),
//!   waits `--settle` seconds and takes the median `VmRSS` over `--window` seconds.
//!
//! Each case prints one JSON line on stdout and a summary on stderr. The machine's CPU
//! (`/proc/stat`) is read at both ends of the window too, so a report shows how much CPU
//! other processes used meanwhile.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pharos_bench::blackbox::{self, Driver};
use pharos_bench::process::{self, free_port, print_log_tail, round, toml_string};
use pharos_bench::procfs::{self, MachineCpu, ProcSample};
use pharos_bench::target::{ProbeTarget, TargetSnapshot};
use serde_json::json;

/// How long Pharos or the exporter may take to start serving.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// SIGTERM, then this long, then SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Components in a generated configuration; monitor `i` drives component `i % COMPONENTS`.
const COMPONENTS: usize = 10;
/// A run keeps up when it does at least this share of the checks it should.
const KEEPS_UP: f64 = 0.98;

/// CPU time per check of Pharos and of blackbox_exporter, and Pharos's memory per monitor.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    case: Case,
    /// A label copied into the JSON line (e.g. which round of a series this run is).
    #[arg(long, global = true)]
    label: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Case {
    /// Pharos checking N monitors every interval: its CPU per check.
    Pharos {
        #[command(flatten)]
        run: RunArgs,
        /// The Pharos binary.
        #[arg(long, default_value = "target/release/pharos")]
        bin: PathBuf,
    },
    /// blackbox_exporter probing the same N targets every interval: its CPU per probe.
    Blackbox {
        #[command(flatten)]
        run: RunArgs,
        /// The exporter's binary (Debian's package installs it under this name).
        #[arg(long, default_value = "prometheus-blackbox-exporter")]
        exporter: PathBuf,
        /// Most probe requests in flight at once; a probe waits for a free slot.
        #[arg(long, default_value_t = 64)]
        concurrency: u32,
    },
    /// Pharos's resident memory with N mostly idle http monitors, for each N.
    Rss {
        /// Monitor counts, one Pharos run each.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 1000, 10000])]
        monitors: Vec<usize>,
        /// Seconds between checks of one monitor.
        #[arg(long, default_value_t = 300)]
        interval: u64,
        /// Seconds after Pharos is ready before memory is read.
        #[arg(long, default_value_t = 60)]
        settle: u64,
        /// Seconds of sampling (once a second); the result is the median.
        #[arg(long, default_value_t = 20)]
        window: u64,
        /// The Pharos binary.
        #[arg(long, default_value = "target/release/pharos")]
        bin: PathBuf,
        /// Keep the temp dir (configurations, databases, logs).
        #[arg(long)]
        keep: bool,
    },
}

/// What the `pharos` and `blackbox` cases share.
#[derive(Debug, Args)]
struct RunArgs {
    /// Which kind of check.
    #[arg(long, value_enum)]
    kind: Kind,
    /// How many monitors (targets); each is checked once per interval.
    #[arg(long, default_value_t = 1000)]
    monitors: usize,
    /// Seconds between checks of one monitor (also the check timeout).
    #[arg(long, default_value_t = 1)]
    interval: u64,
    /// Seconds of checking before the window.
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Seconds of measuring.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Keep the temp dir (configuration, database, logs).
    #[arg(long)]
    keep: bool,
}

/// Which kind of check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// An HTTP `GET` of `/m/{i}` on the target; up on 2xx.
    Http,
    /// A TCP connection to the target's accept-and-close listener; up when it opens.
    Tcp,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
        }
    }
}

/// What must be undone however the run ends.
#[derive(Default)]
struct Teardown {
    keep: bool,
    tmp: Option<tempfile::TempDir>,
    /// A process we started and its log.
    child: Option<(Child, PathBuf)>,
}

impl Teardown {
    /// Stops the child if it still runs and removes the temp dir (unless `--keep`).
    fn finish(&mut self, failed: bool) {
        if let Some((mut child, log)) = self.child.take() {
            if let Err(e) = process::stop(&mut child, STOP_GRACE) {
                eprintln!("pharos-checkcost: stopping pid {}: {e:#}", child.id());
            }
            if failed {
                print_log_tail(&log, 30);
            }
        }
        if let Some(tmp) = self.tmp.take() {
            if self.keep {
                eprintln!("pharos-checkcost: kept {}", tmp.keep().display());
            } else if let Err(e) = tmp.close() {
                eprintln!("pharos-checkcost: removing the temp dir: {e}");
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut teardown = Teardown::default();
    let result = tokio::select! {
        r = run(&cli.case, &mut teardown) => r,
        signal = process::interrupted() => Err(anyhow!("interrupted by {signal}")),
    };
    teardown.finish(result.is_err());
    match result {
        Ok(mut report) => {
            if let (Some(label), Some(fields)) = (&cli.label, report.as_object_mut()) {
                fields.insert("label".to_owned(), json!(label));
            }
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pharos-checkcost: FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(case: &Case, teardown: &mut Teardown) -> Result<serde_json::Value> {
    match case {
        Case::Pharos { run, bin } => {
            teardown.keep = run.keep;
            run_pharos(run, bin, teardown).await
        }
        Case::Blackbox {
            run,
            exporter,
            concurrency,
        } => {
            teardown.keep = run.keep;
            run_blackbox(run, exporter, *concurrency, teardown).await
        }
        Case::Rss {
            monitors,
            interval,
            settle,
            window,
            bin,
            keep,
        } => {
            teardown.keep = *keep;
            run_rss(monitors, *interval, *settle, *window, bin, teardown).await
        }
    }
}

/// Says what is happening, on stderr.
fn say(msg: impl std::fmt::Display) {
    eprintln!("[checkcost] {msg}");
}

// ------------------------------------------------------------------ measuring

/// The figures read at one end of the window.
struct Edge {
    at: Instant,
    /// The process being measured (Pharos or the exporter).
    measured: ProcSample,
    /// This process: the target (and, for blackbox_exporter, the driver).
    own: ProcSample,
    machine: MachineCpu,
    load: [f64; 3],
}

fn edge(pid: u32, ticks: u64) -> Result<Edge> {
    Ok(Edge {
        at: Instant::now(),
        measured: procfs::sample(pid, ticks)
            .with_context(|| format!("reading /proc/{pid} (has it exited?)"))?,
        own: procfs::sample(std::process::id(), ticks).context("reading /proc/self")?,
        machine: procfs::machine_cpu().context("reading /proc/stat")?,
        load: procfs::load_average().context("reading /proc/loadavg")?,
    })
}

/// What happened between two [`Edge`]s.
struct Window {
    seconds: f64,
    cpu_ms: f64,
    own_cpu_ms: f64,
    machine: MachineCpu,
    ticks: u64,
    rss_kib: u64,
    peak_rss_kib: u64,
    load_start: [f64; 3],
    load_end: [f64; 3],
}

impl Window {
    fn between(a: &Edge, b: &Edge, ticks: u64) -> Window {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Window {
            seconds: (b.at - a.at).as_secs_f64(),
            cpu_ms: ms(b.measured.cpu.saturating_sub(a.measured.cpu)),
            own_cpu_ms: ms(b.own.cpu.saturating_sub(a.own.cpu)),
            machine: b.machine.since(&a.machine),
            ticks,
            rss_kib: b.measured.rss_kib,
            peak_rss_kib: b.measured.peak_rss_kib,
            load_start: a.load,
            load_end: b.load,
        }
    }

    fn ticks_ms(&self, ticks: u64) -> f64 {
        ticks as f64 * 1000.0 / self.ticks.max(1) as f64
    }

    /// The window's common JSON fields, and the CPU per 1,000 `checks`.
    fn json(&self, checks: u64) -> serde_json::Value {
        let busy_ms = self.ticks_ms(self.machine.busy());
        json!({
            "window_s": round(self.seconds, 3),
            "cpu_ms": round(self.cpu_ms, 0),
            "cpu_pct_of_core": round(self.cpu_ms / 10.0 / self.seconds.max(1e-9), 2),
            "cpu_ms_per_1000": per_1000(self.cpu_ms, checks),
            "rss_mib": round(self.rss_kib as f64 / 1024.0, 1),
            "peak_rss_mib": round(self.peak_rss_kib as f64 / 1024.0, 1),
            "bench_process_cpu_ms": round(self.own_cpu_ms, 0),
            "machine_busy_ms": round(busy_ms, 0),
            "machine_irq_ms": round(self.ticks_ms(self.machine.irq), 0),
            "machine_steal_ms": round(self.ticks_ms(self.machine.steal), 0),
            // Busy time of the machine that neither the measured process nor this one used:
            // other processes, kernel threads, interrupts.
            "other_cpu_ms": round((busy_ms - self.cpu_ms - self.own_cpu_ms).max(0.0), 0),
            "load_window_start": self.load_start,
            "load_window_end": self.load_end,
        })
    }
}

fn per_1000(cpu_ms: f64, checks: u64) -> Option<f64> {
    (checks > 0).then(|| round(cpu_ms * 1000.0 / checks as f64, 2))
}

/// Merges the fields of `more` into `base` (both JSON objects).
fn merge(mut base: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

/// Checks of `kind` the target saw in `delta`.
fn target_checks(kind: Kind, delta: &TargetSnapshot) -> u64 {
    match kind {
        Kind::Http => delta.http_total(),
        Kind::Tcp => delta.tcp_accepts,
    }
}

/// Sleeps `seconds`, failing early if the child exits.
async fn sleep_watching(seconds: u64, teardown: &mut Teardown, what: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        if let Some((child, _)) = teardown.child.as_mut() {
            if let Some(status) = child.try_wait().context("watching the child")? {
                bail!("{what} exited ({status})");
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    Ok(())
}

// ------------------------------------------------------------------ pharos

async fn run_pharos(
    args: &RunArgs,
    bin: &Path,
    teardown: &mut Teardown,
) -> Result<serde_json::Value> {
    let n = check_run_args(args)?;
    let bin = pharos_bin(bin)?;
    let version = command_output(Command::new(&bin).arg("--version"));
    let load_at_start = procfs::load_average().ok();
    let target = ProbeTarget::start(n).await.context("starting the target")?;
    let dir = temp_dir(teardown)?;
    let (pid, base, startup_s) =
        start_pharos(&bin, &dir, args.kind, n, args.interval, &target, teardown).await?;
    say(format!(
        "pharos pid {pid}: {n} {} monitors every {} s, ready after {startup_s:.2} s; warm-up {} s",
        args.kind.as_str(),
        args.interval,
        args.warmup
    ));
    sleep_watching(args.warmup, teardown, "Pharos").await?;

    let http = client()?;
    let ticks = procfs::clock_ticks_per_second();
    // /metrics is read outside the CPU window: rendering it is not a check.
    let m0 = metrics(&http, &base).await?;
    let s0 = target.snapshot();
    let e0 = edge(pid, ticks)?;
    say(format!("measuring for {} s", args.window));
    sleep_watching(args.window, teardown, "Pharos").await?;
    let e1 = edge(pid, ticks)?;
    let s1 = target.snapshot();
    let m1 = metrics(&http, &base).await?;
    let window = Window::between(&e0, &e1, ticks);

    let (exit, shutdown_s) = stop_child(teardown)?;
    let delta = s1.since(&s0);
    let checks = target_checks(args.kind, &delta);
    let (m_total, m_up) = (
        m1.checks.saturating_sub(m0.checks),
        m1.up.saturating_sub(m0.up),
    );
    let expected = n as f64 / args.interval as f64;
    let per_s = checks as f64 / window.seconds.max(1e-9);
    let (lo, hi) = delta.per_monitor_range();
    let report = merge(
        json!({
            "bench": "checkcost",
            "case": "pharos",
            "kind": args.kind.as_str(),
            "monitors": n,
            "interval_s": args.interval,
            "warmup_s": args.warmup,
            "expected_per_s": expected,
            "checks": checks,
            "checks_per_s": round(per_s, 1),
            "kept_up": per_s >= KEEPS_UP * expected,
            "pharos_checks_counted": m_total,
            "pharos_checks_up": m_up,
            "pharos_store_write_errors": m1.store_errors.saturating_sub(m0.store_errors),
            "per_monitor_min_max": (args.kind == Kind::Http).then_some([lo, hi]),
            "target_other_requests": delta.http_other,
            "startup_s": round(startup_s, 2),
            "shutdown_s": round(shutdown_s, 2),
            "exit_code": exit.code(),
            "load_at_start": load_at_start,
            "version": version,
            "db_bytes": dir_bytes(&dir, "pharos.db"),
        }),
        window.json(checks),
    );
    say(format!(
        "Pharos {} x{n}: {checks} checks in {:.1} s ({per_s:.1}/s, Pharos counted {m_total}, {m_up} up); \
         CPU {:.0} ms = {} ms per 1,000 checks ({:.1} % of a core); RSS {:.1} MiB; other CPU {} ms",
        args.kind.as_str(),
        window.seconds,
        window.cpu_ms,
        fmt_opt(per_1000(window.cpu_ms, checks)),
        window.cpu_ms / 10.0 / window.seconds.max(1e-9),
        window.rss_kib as f64 / 1024.0,
        report["other_cpu_ms"],
    ));
    if !exit.success() {
        say(format!("warning: Pharos exited with {exit} after SIGTERM"));
    }
    Ok(report)
}

fn check_run_args(args: &RunArgs) -> Result<usize> {
    if args.monitors == 0 || args.interval == 0 || args.window == 0 {
        bail!("--monitors, --interval and --window must be at least 1");
    }
    Ok(args.monitors)
}

fn pharos_bin(bin: &Path) -> Result<PathBuf> {
    let bin = std::path::absolute(bin).with_context(|| format!("resolving {}", bin.display()))?;
    if !bin.is_file() {
        bail!(
            "no Pharos binary at {} (build it with `cargo build --release --bin pharos`, or pass --bin)",
            bin.display()
        );
    }
    Ok(bin)
}

fn temp_dir(teardown: &mut Teardown) -> Result<PathBuf> {
    let tmp = tempfile::Builder::new()
        .prefix("pharos-checkcost-")
        .tempdir()
        .context("creating a temp dir")?;
    let dir = tmp.path().to_path_buf();
    teardown.tmp = Some(tmp);
    Ok(dir)
}

/// Writes the configuration into `dir`, validates it, starts `pharos serve` (owned by
/// `teardown`) and waits for `/healthz`: (pid, base URL, seconds until ready).
async fn start_pharos(
    bin: &Path,
    dir: &Path,
    kind: Kind,
    n: usize,
    interval: u64,
    target: &ProbeTarget,
    teardown: &mut Teardown,
) -> Result<(u32, String, f64)> {
    let port = free_port()?;
    let config = dir.join("pharos.toml");
    std::fs::write(&config, pharos_config(kind, n, interval, port, target, dir))
        .context("writing the configuration")?;
    let validate = Command::new(bin)
        .arg("validate")
        .arg("--config")
        .arg(&config)
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
    let log_path = dir.join("pharos.log");
    let log = File::create(&log_path).context("creating the log file")?;
    let log2 = log.try_clone().context("creating the log file")?;
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .current_dir(dir)
        .env_remove("PHAROS_DATABASE_URL")
        .env_remove("PHAROS_LISTEN")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .with_context(|| format!("starting {} serve", bin.display()))?;
    let pid = child.id();
    teardown.child = Some((child, log_path));
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/healthz"), teardown, "Pharos").await?;
    Ok((pid, base, started.elapsed().as_secs_f64()))
}

/// N monitors of `kind` against `target`, SQLite in `dir`.
fn pharos_config(
    kind: Kind,
    n: usize,
    interval: u64,
    port: u16,
    target: &ProbeTarget,
    dir: &Path,
) -> String {
    let db = format!("sqlite://{}/pharos.db", dir.display());
    let mut text = format!(
        "# Generated by pharos-checkcost: {n} {kind} monitors every {interval} s.
[server]
listen = \"127.0.0.1:{port}\"

[storage]
url = {db}

[page]
id = \"checkcost\"
name = \"Check cost benchmark\"
time_zone = \"UTC\"
",
        kind = kind.as_str(),
        db = toml_string(&db),
    );
    for c in 0..COMPONENTS.min(n) {
        text.push_str(&format!(
            "\n[[components]]\nid = \"c{c}\"\nname = \"Component {c}\"\n"
        ));
    }
    let http = target.http_addr();
    let tcp = target.tcp_addr();
    for i in 0..n {
        let url = match kind {
            Kind::Http => format!("http://{http}/m/{i}"),
            Kind::Tcp => format!("tcp://{tcp}"),
        };
        text.push_str(&format!(
            "\n[[monitors]]\nid = \"m{i:05}\"\ntype = \"{}\"\nurl = \"{url}\"\ninterval = \"{interval}s\"\ncomponents = [\"c{}\"]\n",
            kind.as_str(),
            i % COMPONENTS
        ));
    }
    text
}

/// Pharos's own counts from `/metrics`.
struct PharosMetrics {
    checks: u64,
    up: u64,
    store_errors: u64,
}

async fn metrics(http: &reqwest::Client, base: &str) -> Result<PharosMetrics> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("GET /metrics")?
        .text()
        .await
        .context("GET /metrics")?;
    Ok(parse_metrics(&text))
}

fn parse_metrics(text: &str) -> PharosMetrics {
    let mut m = PharosMetrics {
        checks: 0,
        up: 0,
        store_errors: 0,
    };
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let value = value as u64;
        if let Some(labels) = name.strip_prefix("pharos_checks_total{") {
            m.checks += value;
            if labels.contains("outcome=\"up\"") {
                m.up += value;
            }
        } else if name == "pharos_store_write_errors_total" {
            m.store_errors += value;
        }
    }
    m
}

// ------------------------------------------------------------------ blackbox_exporter

async fn run_blackbox(
    args: &RunArgs,
    exporter: &Path,
    concurrency: u32,
    teardown: &mut Teardown,
) -> Result<serde_json::Value> {
    let n = check_run_args(args)?;
    let version = command_output(Command::new(exporter).arg("--version"))
        .and_then(|v| v.lines().next().map(str::to_owned));
    let load_at_start = procfs::load_average().ok();
    let target = ProbeTarget::start(n).await.context("starting the target")?;
    let dir = temp_dir(teardown)?;
    let interval = Duration::from_secs(args.interval);
    let config = dir.join("blackbox.yml");
    std::fs::write(&config, blackbox::config_yaml(interval)).context("writing blackbox.yml")?;
    let port = free_port()?;
    let log_path = dir.join("blackbox.log");
    let log = File::create(&log_path).context("creating the log file")?;
    let log2 = log.try_clone().context("creating the log file")?;
    let started = Instant::now();
    let child = Command::new(exporter)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .with_context(|| format!("starting {}", exporter.display()))?;
    let pid = child.id();
    teardown.child = Some((child, log_path));
    let base = format!("127.0.0.1:{port}");
    wait_ready(
        &format!("http://{base}/-/healthy"),
        teardown,
        "blackbox_exporter",
    )
    .await?;
    let startup_s = started.elapsed().as_secs_f64();

    let exporter_addr: SocketAddr = base.parse().context("the exporter's address")?;
    let urls = (0..n)
        .map(|i| {
            let (module, probed) = match args.kind {
                Kind::Http => (
                    blackbox::HTTP_MODULE,
                    format!("http://{}/m/{i}", target.http_addr()),
                ),
                Kind::Tcp => (blackbox::TCP_MODULE, target.tcp_addr().to_string()),
            };
            let url = blackbox::probe_url(exporter_addr, module, &probed);
            reqwest::Url::parse(&url).with_context(|| format!("parsing {url}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(concurrency as usize)
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let driver = Driver::start(http, urls, interval, concurrency);
    say(format!(
        "blackbox_exporter pid {pid} on {base}, ready after {startup_s:.2} s: {n} {} probes every {} s, \
         at most {concurrency} in flight; warm-up {} s",
        args.kind.as_str(),
        args.interval,
        args.warmup
    ));
    sleep_watching(args.warmup, teardown, "blackbox_exporter").await?;

    let ticks = procfs::clock_ticks_per_second();
    driver.reset_max_late();
    let d0 = driver.counts();
    let s0 = target.snapshot();
    let e0 = edge(pid, ticks)?;
    say(format!("measuring for {} s", args.window));
    sleep_watching(args.window, teardown, "blackbox_exporter").await?;
    let e1 = edge(pid, ticks)?;
    let s1 = target.snapshot();
    let d1 = driver.counts();
    let window = Window::between(&e0, &e1, ticks);

    driver.stop(Duration::from_secs(5)).await;
    let (exit, shutdown_s) = stop_child(teardown)?;
    let d = d1.since(&d0);
    let delta = s1.since(&s0);
    let checks = target_checks(args.kind, &delta);
    let expected = n as f64 / args.interval as f64;
    let per_s = checks as f64 / window.seconds.max(1e-9);
    let kept_up = per_s >= KEEPS_UP * expected && d.late * 100 <= d.started;
    let (lo, hi) = delta.per_monitor_range();
    let report = merge(
        json!({
            "bench": "checkcost",
            "case": "blackbox",
            "kind": args.kind.as_str(),
            "monitors": n,
            "interval_s": args.interval,
            "warmup_s": args.warmup,
            "expected_per_s": expected,
            "checks": checks,
            "checks_per_s": round(per_s, 1),
            "kept_up": kept_up,
            "probes_started": d.started,
            "probes_completed": d.completed,
            "probes_success": d.success,
            "probes_failure": d.failure,
            "probe_errors": d.errors,
            "probes_late": d.late,
            "max_late_ms": round(d.max_late_us as f64 / 1000.0, 1),
            "concurrency": concurrency,
            "per_monitor_min_max": (args.kind == Kind::Http).then_some([lo, hi]),
            "target_other_requests": delta.http_other,
            "cpu_ms_per_1000_completed": per_1000(window.cpu_ms, d.completed),
            "startup_s": round(startup_s, 2),
            "shutdown_s": round(shutdown_s, 2),
            "exit_code": exit.code(),
            "load_at_start": load_at_start,
            "version": version,
        }),
        window.json(checks),
    );
    say(format!(
        "blackbox {} x{n}: {checks} checks in {:.1} s ({per_s:.1}/s; {} probes answered, {} with probe_success 1, \
         {} errors, {} late, max {:.1} ms late); CPU {:.0} ms = {} ms per 1,000 checks ({:.1} % of a core); \
         RSS {:.1} MiB; other CPU {} ms",
        args.kind.as_str(),
        window.seconds,
        d.completed,
        d.success,
        d.errors,
        d.late,
        d.max_late_us as f64 / 1000.0,
        window.cpu_ms,
        fmt_opt(per_1000(window.cpu_ms, checks)),
        window.cpu_ms / 10.0 / window.seconds.max(1e-9),
        window.rss_kib as f64 / 1024.0,
        report["other_cpu_ms"],
    ));
    if !kept_up {
        say("warning: blackbox_exporter did not keep up with the schedule; lower --monitors for both");
    }
    Ok(report)
}

// ------------------------------------------------------------------ rss

async fn run_rss(
    counts: &[usize],
    interval: u64,
    settle: u64,
    window: u64,
    bin: &Path,
    teardown: &mut Teardown,
) -> Result<serde_json::Value> {
    if counts.is_empty() || counts.contains(&0) || interval == 0 || window == 0 {
        bail!("--monitors must list counts of at least 1; --interval and --window at least 1");
    }
    let bin = pharos_bin(bin)?;
    let version = command_output(Command::new(&bin).arg("--version"));
    let most = counts.iter().copied().max().unwrap_or(1);
    let target = ProbeTarget::start(most)
        .await
        .context("starting the target")?;
    let root = temp_dir(teardown)?;
    let ticks = procfs::clock_ticks_per_second();
    let mut points = Vec::new();
    for &n in counts {
        let dir = root.join(format!("n{n}"));
        std::fs::create_dir_all(&dir).context("creating a run dir")?;
        let (pid, _base, startup_s) =
            start_pharos(&bin, &dir, Kind::Http, n, interval, &target, teardown).await?;
        say(format!(
            "pharos pid {pid}: {n} http monitors every {interval} s, ready after {startup_s:.2} s; \
             reading memory after {settle} s"
        ));
        sleep_watching(settle, teardown, "Pharos").await?;
        let first = procfs::sample(pid, ticks).context("reading Pharos's /proc entries")?;
        let mut rss = Vec::new();
        let mut last = first;
        for _ in 0..window {
            last = procfs::sample(pid, ticks).context("reading Pharos's /proc entries")?;
            rss.push(last.rss_kib);
            sleep_watching(1, teardown, "Pharos").await?;
        }
        rss.sort_unstable();
        let median = rss[rss.len() / 2];
        let (lo, hi) = (rss[0], rss[rss.len() - 1]);
        let cpu_pct = (last.cpu.saturating_sub(first.cpu)).as_secs_f64() * 100.0 / window as f64;
        let (exit, _) = stop_child(teardown)?;
        let mib = |k: u64| round(k as f64 / 1024.0, 1);
        say(format!(
            "  {n} monitors: VmRSS median {:.1} MiB (range {:.1}-{:.1}), VmHWM {:.1} MiB, CPU {cpu_pct:.1} %",
            median as f64 / 1024.0,
            lo as f64 / 1024.0,
            hi as f64 / 1024.0,
            last.peak_rss_kib as f64 / 1024.0
        ));
        points.push(json!({
            "monitors": n,
            "rss_mib_median": mib(median),
            "rss_mib_min": mib(lo),
            "rss_mib_max": mib(hi),
            "rss_kib_median": median,
            "vmhwm_mib": mib(last.peak_rss_kib),
            "cpu_pct_of_core": round(cpu_pct, 2),
            "startup_s": round(startup_s, 2),
            "exit_code": exit.code(),
        }));
    }
    // MiB per 1,000 monitors between the smallest and the largest run.
    let at = |p: &serde_json::Value, k: &str| p[k].as_f64().unwrap_or(0.0);
    let per_1000 = match (points.first(), points.last()) {
        (Some(a), Some(b)) if at(b, "monitors") > at(a, "monitors") => Some(round(
            (at(b, "rss_kib_median") - at(a, "rss_kib_median"))
                / 1024.0
                / ((at(b, "monitors") - at(a, "monitors")) / 1000.0),
            2,
        )),
        _ => None,
    };
    say(format!(
        "RSS per 1,000 monitors (first to last run): {} MiB",
        fmt_opt(per_1000)
    ));
    Ok(json!({
        "bench": "checkcost",
        "case": "rss",
        "interval_s": interval,
        "settle_s": settle,
        "window_s": window,
        "points": points,
        "mib_per_1000_monitors": per_1000,
        "version": version,
    }))
}

// ------------------------------------------------------------------ helpers

fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Waits until `url` answers 200, or the child exits, or [`STARTUP_TIMEOUT`].
async fn wait_ready(url: &str, teardown: &mut Teardown, what: &str) -> Result<()> {
    let http = client()?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some((child, _)) = teardown.child.as_mut() {
            if let Some(status) = child.try_wait().context("watching the child")? {
                bail!("{what} exited ({status}) before serving");
            }
        }
        let ok = http
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{what} did not serve {url} within {} s",
                STARTUP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the teardown's child: its exit status and the seconds that took.
fn stop_child(teardown: &mut Teardown) -> Result<(ExitStatus, f64)> {
    let (mut child, _) = teardown
        .child
        .take()
        .ok_or_else(|| anyhow!("no process to stop"))?;
    let t = Instant::now();
    let status = process::stop(&mut child, STOP_GRACE)?;
    Ok((status, t.elapsed().as_secs_f64()))
}

/// The size of the files in `dir` whose names start with `prefix` (a database and its WAL).
fn dir_bytes(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| format!("{v}"))
}

/// Runs a command and returns its stdout (or, when that is empty, stderr), trimmed, if it ran
/// and succeeded.
fn command_output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    };
    Some(String::from_utf8_lossy(text).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed() {
        let text = "# HELP pharos_checks Checks run\n\
            pharos_checks_total{monitor=\"m00000\",outcome=\"up\"} 60\n\
            pharos_checks_total{monitor=\"m00001\",outcome=\"up\"} 59\n\
            pharos_checks_total{monitor=\"m00001\",outcome=\"down\"} 1\n\
            pharos_store_write_errors_total 2\n\
            pharos_checks_totalx 5\n";
        let m = parse_metrics(text);
        assert_eq!((m.checks, m.up, m.store_errors), (120, 119, 2));
    }

    #[test]
    fn per_1000_checks() {
        assert_eq!(per_1000(5000.0, 60_000), Some(83.33));
        assert_eq!(per_1000(5000.0, 0), None);
    }
}
