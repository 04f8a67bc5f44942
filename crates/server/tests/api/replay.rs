//! Replays of the seed incidents through the real `pharos` binary, driven only over HTTP and
//! by the `pharos change` command, with a [`FakeTarget`] as the watched service and a SQLite
//! file in a temporary directory as the database. Each scenario is shaped after one of the
//! postmortems in the seeds, and ends by reading the postmortem Pharos drafts from its own
//! record, section by section:
//!
//! 1. A routine update makes everything slow and is reverted (Noterro, August 2023): the deploy
//!    is recorded by `pharos change`, its checks turn slow, Pharos judges it suspect, degrades
//!    the component, opens an incident naming it; the rollback and the recovery close it.
//! 2. An outage whose investigation was misled by a wrong deployment record (Proxyclick, March
//!    2023): an Alertmanager alert opens the incident, the record is corrected with
//!    `supersedes`, and the postmortem, read in another zone than the page's, shows both
//!    records and is published once people wrote the human parts.
//! 3. A connection leak that takes a service down twice within days (Serraview, January 2024):
//!    the second outage is replayed four days later (`PHAROS_CLOCK_OFFSET`) on the same
//!    database, and lists the first with its postmortem and its action still open.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::config::Config;
use crate::support::http::{send_from, Answer, Body};
use crate::support::{free_port, sections, time, PHAROS};
use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use pharos_testkit::serde_json_value::Value;
use pharos_testkit::{eventually, FakeTarget};
use reqwest::Method;
use serde_json::json;

const TOKEN: &str = "replay-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The binary, over HTTP
// ---------------------------------------------------------------------------------------------

/// A running `pharos serve`, killed when dropped (with its log printed if the test failed).
struct Pharos {
    child: Child,
    base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Pharos {
    /// Starts `pharos serve` with `dir/pharos.toml` (written from `config`) on a free port,
    /// over the SQLite file `dir/pharos.db`, its clock moved by `clock_offset` when given,
    /// and returns once `/healthz` answers.
    async fn start(dir: &Path, config: &str, clock_offset: Option<&str>) -> Pharos {
        let config_path = dir.join("pharos.toml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let n = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".log")
            })
            .count();
        let log = dir.join(format!("pharos-{n}.log"));
        // The log lines go to stdout, the configuration's warnings to stderr: one file.
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(PHAROS);
        cmd.args(["serve", "--config"])
            .arg(&config_path)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--database",
                &format!("sqlite://{}/pharos.db", dir.display()),
            ])
            .env("PHAROS_LOG", "warn")
            .env_remove("PHAROS_CLOCK_OFFSET")
            .env_remove("PHAROS_DATABASE_URL")
            .env_remove("PHAROS_LISTEN")
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(log_file);
        if let Some(offset) = clock_offset {
            cmd.env("PHAROS_CLOCK_OFFSET", offset);
        }
        let mut pharos = Pharos {
            child: cmd.spawn().unwrap(),
            base,
            client: reqwest::Client::new(),
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = pharos.child.try_wait().unwrap() {
                panic!(
                    "pharos exited ({status}): {}",
                    std::fs::read_to_string(&pharos.log).unwrap_or_default()
                );
            }
            let healthy = pharos
                .client
                .get(format!("{}/healthz", pharos.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                break;
            }
            assert!(Instant::now() < deadline, "pharos did not start serving");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pharos
    }

    /// `method path` with the admin token, with `body` as JSON.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let body = body.as_ref().map_or(Body::None, Body::Json);
        send_from(&self.client, method, &url, Some(TOKEN), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// `GET path` with the admin token, which must answer 200 with JSON.
    async fn json(&self, path: &str) -> Value {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {a:?}");
        a.json
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn incident(&self, id: &str) -> Value {
        self.json(&format!("/api/v1/incidents/{id}")).await
    }

    async fn component_status(&self, id: &str) -> String {
        let summary = self.json("/api/v2/components.json").await;
        summary["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    async fn wait_component(&self, id: &str, want: &str) {
        eventually(WAIT, &format!("{id} to be {want}"), || async {
            (self.component_status(id).await == want).then_some(())
        })
        .await;
    }

    async fn wait_incident(&self, id: &str, want: &str) -> Value {
        eventually(WAIT, &format!("incident {id} to be {want}"), || async {
            let i = self.incident(id).await;
            (i["status"] == want).then_some(i)
        })
        .await
    }

    /// The one incident automation opened, once there is one besides `except`.
    async fn opened_incident(&self, except: &[&str]) -> String {
        eventually(WAIT, "an incident opened by automation", || async {
            let all = self.json("/api/v1/incidents").await;
            all.as_array()?
                .iter()
                .find(|i| i["automated"] == true && !except.contains(&i["id"].as_str().unwrap()))
                .map(|i| i["id"].as_str().unwrap().to_owned())
        })
        .await
    }

    /// Stops it as an operator would (SIGTERM), waiting for it to exit.
    fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0), "a clean stop");
                return;
            }
            assert!(Instant::now() < deadline, "pharos did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pharos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(&self.log) {
                let _ = f.read_to_string(&mut text);
            }
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!(
                "--- the last lines of {} ---\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// Runs `pharos change --url … --token … ARGS` off the test's runtime; the new change's id.
async fn pharos_change(pharos: &Pharos, args: &[&str]) -> String {
    let mut all = vec![
        "change".to_owned(),
        "--url".to_owned(),
        pharos.base.clone(),
        "--token".to_owned(),
        TOKEN.to_owned(),
    ];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(PHAROS)
            .args(all)
            .env_remove("PHAROS_URL")
            .env_remove("PHAROS_ADMIN_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "pharos change {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("chg_"), "{id}");
    id
}

// ---------------------------------------------------------------------------------------------
// Reading a postmortem
// ---------------------------------------------------------------------------------------------

fn kinds(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks that every timeline line is in time order, written in one zone (whose
/// abbreviations and UTC offsets in hours are `zone`) with the matching UTC time beside it.
fn check_timeline(pm: &Value, zone: &[(&str, i64)]) {
    let lines = pm["timeline"].as_array().unwrap();
    assert!(!lines.is_empty(), "{pm}");
    let mut previous: Option<DateTime<Utc>> = None;
    for l in lines {
        let at = time(&l["at"]);
        if let Some(p) = previous {
            assert!(p <= at, "out of order at {l}");
        }
        previous = Some(at);

        let local = l["local"].as_str().unwrap();
        let (clock, abbreviation) = local.rsplit_once(' ').unwrap();
        let offset = zone
            .iter()
            .find(|(a, _)| *a == abbreviation)
            .unwrap_or_else(|| panic!("{local:?} is not in the one zone {zone:?}"))
            .1;
        let shown = NaiveDateTime::parse_from_str(clock, "%Y-%m-%d %H:%M").unwrap();
        let expected = at.naive_utc() + chrono::Duration::hours(offset);
        assert_eq!(
            shown.format("%Y-%m-%d %H:%M").to_string(),
            expected.format("%Y-%m-%d %H:%M").to_string(),
            "{l}"
        );
        let utc = l["utc"].as_str().unwrap();
        let utc_expected = if shown.date() == at.date_naive() {
            at.format("%H:%M UTC").to_string()
        } else {
            at.format("%Y-%m-%d %H:%M UTC").to_string()
        };
        assert_eq!(utc, utc_expected, "{l}");
    }
}

/// Checks the detection metrics against the incident's own timestamps: each measured from its
/// `started_at`, to `created_at`, `published_at`, its first `monitoring` and `resolved_at`;
/// the total duration is the time to resolve. Returns the time to detect, in seconds.
fn check_detection(pm: &Value, incident: &Value) -> i64 {
    let d = &pm["detection"];
    let start = time(&incident["started_at"]);
    assert_eq!(time(&pm["started_at"]), start);
    let metric = |name: &str, at: DateTime<Utc>| {
        let m = &d[name];
        assert_eq!(time(&m["at"]), at, "{name}: {d}");
        assert_eq!(
            m["seconds"].as_i64().unwrap(),
            (at - start).num_seconds(),
            "{name}: {d}"
        );
        assert!(!m["text"].as_str().unwrap().is_empty());
        m["seconds"].as_i64().unwrap()
    };
    let detect = metric("time_to_detect", time(&incident["created_at"]));
    let public = metric(
        "time_to_first_public_update",
        time(&incident["published_at"]),
    );
    let mitigate = metric("time_to_mitigate", time(&incident["monitoring_at"]));
    let resolve = metric("time_to_resolve", time(&incident["resolved_at"]));
    assert!(
        0 <= detect && detect <= public && public <= mitigate && mitigate <= resolve,
        "{d}"
    );
    assert_eq!(pm["total_duration"]["seconds"].as_i64().unwrap(), resolve);
    detect
}

/// The postmortem draft at `path`, once its timeline holds the resolution. The incident's
/// state is served from memory while its timeline is read from the database, which the
/// batched writer reaches a moment later (at most `FLUSH_EVERY`, 250 ms): right after an
/// incident resolves, its draft may not have the resolution line yet.
async fn draft_once_resolved(pharos: &Pharos, path: &str) -> Value {
    eventually(WAIT, "the resolution in the draft's timeline", || async {
        let pm = pharos.json(path).await;
        pm["timeline"]
            .as_array()?
            .iter()
            .any(|l| {
                l["kind"] == "public_update"
                    && l["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Resolved"))
            })
            .then_some(pm)
    })
    .await
}

/// The `## heading` section of a Markdown postmortem, without its heading.
fn md_section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("no section {heading:?} in:\n{md}"));
    let body = &md[start + 1..];
    let body = &body[body.find('\n').unwrap() + 1..];
    match body.find("\n## ") {
        Some(end) => body[..end].trim(),
        None => body.trim(),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A routine update made everything slow; it was reverted (seed 004)
// ---------------------------------------------------------------------------------------------

/// Noterro's page: the web app with its monitor on `target`, and regression detection.
fn noterro(target: &str) -> String {
    Config::new()
        .page("noterro", "Noterro")
        .with(r#"time_zone = "America/New_York""#)
        .admin("alice", TOKEN)
        .auto_incidents("1s")
        .section(
            r#"[changes]
regression_window = "4s"
min_samples = 3
latency_ratio = 2.0
min_latency_increase = "150ms""#,
        )
        .component("web", "Web App")
        .http_monitor("web-health", &format!("{target}/web"), "web")
        .build()
}

#[tokio::test]
async fn a_routine_update_makes_everything_slow_and_is_reverted() {
    let started = Instant::now();
    let target = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pharos = Pharos::start(dir.path(), &noterro(&target.url), None).await;
    // A few seconds of fast checks: the window before the update. Waited for as stored:
    // the last 4 s of results, at least four, all up and under 150 ms (a count of target hits
    // let a check slowed by a busy machine, or the first one at start-up, fall into it).
    eventually(WAIT, "a baseline of fast checks", || async {
        let monitor = pharos.json("/api/v1/monitors/web-health").await;
        let since = Utc::now() - chrono::Duration::milliseconds(4500);
        let window: Vec<&Value> = monitor["recent_results"]
            .as_array()?
            .iter()
            .filter(|r| time(&r["started_at"]) >= since)
            .collect();
        (window.len() >= 4
            && window
                .iter()
                .all(|r| r["outcome"] == "up" && r["duration_ms"].as_u64().unwrap() < 150))
        .then_some(())
    })
    .await;

    // The routine update; from now on every answer is 400 ms slower. The pipeline records it
    // with the moment the rollout began, half a second before the answers turned slow: a
    // check started before that moment is never slowed, whereas recording first and slowing
    // down after left a check started in between to chance.
    let rollout = cest(Utc::now() - chrono::Duration::milliseconds(500));
    target.set_delay(Duration::from_millis(400));
    let deploy = pharos_change(
        &pharos,
        &[
            "--component",
            "web",
            "--kind",
            "deploy",
            "--summary",
            "Routine update: improvements, bug fixes and optimizations",
            "--version",
            "1.4.2",
            "--commit",
            "9f1c2ab",
            "--environment",
            "production",
            "--author",
            "alice",
            "--link",
            "https://ci.example.com/runs/812",
            "--started-at",
            &rollout,
        ],
    )
    .await;

    // Pharos judges it once enough slow checks show it: suspect, with the numbers.
    let judged = eventually(WAIT, "the update to be judged", || async {
        let c = pharos.json(&format!("/api/v1/changes/{deploy}")).await;
        let state = c["regression"]["state"].as_str().unwrap_or("").to_owned();
        (!state.is_empty() && state != "watching").then_some(c)
    })
    .await;
    let regression = &judged["regression"];
    assert_eq!(regression["state"], "suspect", "{judged}");
    assert_eq!(regression["suspect"], true);
    assert_eq!(regression["monitors"], json!(["web-health"]));
    assert!(
        regression["p95_before_ms"].as_u64().unwrap() < 150,
        "{regression}"
    );
    assert!(
        regression["p95_after_ms"].as_u64().unwrap() >= 400,
        "{regression}"
    );
    assert_eq!(regression["failure_rate_after"], 0.0, "slow, not failing");
    let summary = regression["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.starts_with("p95 latency") && summary.contains("since deploy 1.4.2 at "),
        "{summary}"
    );
    assert_eq!(judged["author"], "alice", "the record itself is unchanged");

    // The component degrades and an incident names the update.
    pharos.wait_component("web", "degraded_performance").await;
    let id = pharos.opened_incident(&[]).await;
    let incident = pharos.incident(&id).await;
    assert_eq!(incident["name"], "Degraded performance of Web App");
    assert_eq!(incident["status"], "investigating");
    assert_eq!(time(&incident["started_at"]), time(&judged["started_at"]));
    let first_update = incident["updates"][0]["body"].as_str().unwrap();
    assert!(first_update.contains(&summary), "{first_update}");
    let listed = &incident["changes"].as_array().unwrap()[0];
    assert_eq!(listed["id"], deploy.as_str());
    assert_eq!(listed["reason"], "same_component");
    assert_eq!(listed["before_incident"], true);
    assert_eq!(listed["regression"]["suspect"], true);

    // The auto-recovery does not help; the update is reverted and the service is fast again.
    let rollback = pharos_change(
        &pharos,
        &[
            "--component",
            "web",
            "--kind",
            "rollback",
            "--summary",
            "Revert the routine update to the previous stable version",
            "--version",
            "1.4.1",
            "--author",
            "alice",
        ],
    )
    .await;
    target.set_delay(Duration::ZERO);
    pharos.wait_component("web", "operational").await;
    let incident = pharos.wait_incident(&id, "resolved").await;
    let recovered = pharos.json(&format!("/api/v1/changes/{deploy}")).await;
    assert!(
        recovered["regression"]["recovered_at"].is_string(),
        "{recovered}"
    );
    assert_eq!(
        recovered["regression"]["state"], "suspect",
        "the verdict stays"
    );
    let statuses: Vec<&str> = incident["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["investigating", "monitoring", "resolved"]);
    // The incident lists both, newest first; the rollback during it.
    let listed: Vec<(&str, bool)> = incident["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap(),
                c["before_incident"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [(rollback.as_str(), false), (deploy.as_str(), true)]
    );

    // The postmortem, section by section, in the page's zone.
    let pm_path = format!("/api/v1/incidents/{id}/postmortem");
    let pm = draft_once_resolved(&pharos, &pm_path).await;
    assert_eq!(pm["incident_id"], id.as_str());
    assert_eq!(pm["title"], "Degraded performance of Web App");
    assert_eq!(pm["incident_status"], "resolved");
    assert_eq!(pm["time_zone"], "America/New_York");
    assert_eq!(
        pm["event_type"],
        json!({"text": "Degradation", "edited": false})
    );
    assert_eq!(
        pm["services_impacted"],
        json!([{"component_id": "web", "name": "Web App", "worst_status": "degraded_performance"}])
    );
    let description = pm["description"]["text"].as_str().unwrap();
    assert!(
        description.starts_with(
            "Degraded performance of Web App. Affected: Web App (degraded performance). It lasted "
        ),
        "{description}"
    );
    check_timeline(&pm, &[("EST", -5), ("EDT", -4)]);
    let timeline = pm["timeline"].as_array().unwrap();
    // It starts with the update, the moment the trouble started.
    assert_eq!(timeline[0]["kind"], "change");
    assert_eq!(time(&timeline[0]["at"]), time(&incident["started_at"]));
    assert_eq!(
        timeline[0]["text"],
        "Change to Web App: deploy — Routine update: improvements, bug fixes and optimizations (version 1.4.2), by alice"
    );
    let k = kinds(&pm["timeline"]);
    let at = |kind: &str, text: &str| {
        timeline
            .iter()
            .position(|l| l["kind"] == kind && l["text"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("no {kind} line with {text:?} in {k:?}"))
    };
    let opened = at("opened", "Degraded performance of Web App");
    let named = at("public_update", &summary);
    let reverted = at("change", "rollback — Revert the routine update");
    let monitoring = at("public_update", "Monitoring");
    let resolved = at("public_update", "Resolved");
    assert!(
        0 < opened
            && opened <= named
            && named < reverted
            && reverted < monitoring
            && monitoring < resolved,
        "{k:?}"
    );
    // The private note naming the record is the responders' only.
    let note = &timeline[at("note", &deploy)];
    assert_eq!(note["private"], true);
    assert!(
        note["text"].as_str().unwrap().contains("commit 9f1c2ab"),
        "{note}"
    );
    // Detection: by Pharos itself, as soon as `min_samples` (3) slow checks a second apart
    // follow the update (not only once its 4 s window has passed), nobody acked.
    let detect = check_detection(&pm, &incident);
    assert!(
        detect >= 2,
        "judged on three checks after the update, not before: {detect}"
    );
    assert_eq!(pm["detection"]["by_check"], true);
    assert_eq!(pm["detection"]["source"], "Pharos automation");
    assert_eq!(pm["detection"]["time_to_acknowledge"], Value::Null);
    // Changes: the update, then the rollback, oldest first.
    let changes = pm["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["id"], deploy.as_str());
    assert_eq!(changes[0]["kind"], "deploy");
    assert_eq!(changes[0]["version"], "1.4.2");
    assert_eq!(changes[0]["url"], "https://ci.example.com/runs/812");
    assert_eq!(changes[0]["before_start"]["seconds"], 0);
    assert_eq!(changes[0]["why"], "a change to the incident's component");
    assert_eq!(
        changes[0]["regression"],
        summary.as_str(),
        "the verdict beside it"
    );
    assert_eq!(changes[1]["id"], rollback.as_str());
    assert_eq!(changes[1]["kind"], "rollback");
    assert_eq!(
        changes[1]["before_start"],
        Value::Null,
        "during the incident"
    );
    assert_eq!(pm["complete"], false);
    assert_eq!(
        sections(&pm["missing"]),
        ["root_cause", "remediation", "actions"],
        "people write only what the record cannot know"
    );

    // The same as Markdown.
    let a = pharos.get(&format!("{pm_path}?format=md")).await;
    assert_eq!(a.status, 200, "{a:?}");
    let content_type = a.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    let md = a.text;
    assert!(
        md.starts_with("# Postmortem: Degraded performance of Web App\n"),
        "{md}"
    );
    assert!(md.contains("> **Draft — incomplete.**"), "{md}");
    assert_eq!(md_section(&md, "Type of event"), "Degradation");
    assert_eq!(
        md_section(&md, "Services impacted"),
        "- Web App: degraded performance"
    );
    let md_timeline = md_section(
        &md,
        "Timeline (times in America/New_York, UTC beside each time)",
    );
    assert_eq!(md_timeline.lines().count(), timeline.len(), "{md_timeline}");
    for (line, l) in md_timeline.lines().zip(timeline) {
        let expected = format!(
            "- {} ({}) — ",
            l["local"].as_str().unwrap(),
            l["utc"].as_str().unwrap()
        );
        assert!(line.starts_with(&expected), "{line:?} for {l}");
    }
    assert!(md_timeline.contains(&summary), "{md_timeline}");
    assert!(
        md_section(&md, "Total duration")
            .starts_with(pm["total_duration"]["text"].as_str().unwrap()),
        "{md}"
    );
    let detection = md_section(&md, "Detection");
    assert!(
        detection.starts_with("Detected by Pharos automation."),
        "{detection}"
    );
    assert!(
        detection.contains("- Time to acknowledge: not acknowledged by a person"),
        "{detection}"
    );
    let md_changes = md_section(&md, "Changes before the incident");
    let lines: Vec<&str> = md_changes.lines().collect();
    assert_eq!(lines.len(), 2, "{md_changes}");
    assert!(
        lines[0].ends_with(&format!("— Web App deploy: Routine update: improvements, bug fixes and optimizations (version 1.4.2), by alice; 0s before the start; suspect: {summary}")),
        "{md_changes}"
    );
    assert!(
        lines[1].ends_with("— Web App rollback: Revert the routine update to the previous stable version (version 1.4.1), by alice; during the incident"),
        "{md_changes}"
    );
    assert_eq!(md_section(&md, "Root cause"), "_Not written yet._");
    assert_eq!(md_section(&md, "Remediation"), "_Not written yet._");
    assert_eq!(md_section(&md, "Preventative actions"), "_None yet._");

    // The rollback was judged too: it made things faster, not slower.
    let rolled = eventually(WAIT, "the rollback to be judged", || async {
        let c = pharos.json(&format!("/api/v1/changes/{rollback}")).await;
        (c["regression"]["state"] != "watching").then_some(c)
    })
    .await;
    assert_eq!(rolled["regression"]["state"], "clear", "{rolled}");

    pharos.stop();
    eprintln!(
        "a_routine_update_makes_everything_slow_and_is_reverted: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. An outage, an Alertmanager alert and a wrong deployment record (seed 002)
// ---------------------------------------------------------------------------------------------

/// Proxyclick's page: the API and the dashboard, no monitor (alerts drive them).
fn proxyclick() -> String {
    Config::new()
        .page("proxyclick", "Proxyclick")
        .with(r#"time_zone = "Europe/Brussels""#)
        .admin("alice", TOKEN)
        .auto_incidents("1s")
        .section("[changes]\nregression = false")
        .component("api", "Proxyclick API")
        .component("dashboard", "Dashboard")
        .build()
}

/// Central European Summer Time, as the seed's updates were posted.
fn cest(at: DateTime<Utc>) -> String {
    at.with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// An Alertmanager v4 webhook body, as Alertmanager 0.27 sends it.
fn alertmanager(status: &str, starts_at: DateTime<Utc>, ends_at: Option<DateTime<Utc>>) -> Value {
    let ends = ends_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), cest);
    json!({
        "receiver": "pharos",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "ApiErrorRateHigh", "component": "api", "severity": "critical",
                       "instance": "api-eu-1:9100", "job": "proxyclick-api"},
            "annotations": {"summary": "No user is able to use Proxyclick: 5xx rate above 50%",
                            "runbook_url": "https://runbooks.example.com/api-errors"},
            "startsAt": cest(starts_at),
            "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=api_5xx_ratio",
            "fingerprint": "8d1f0a27c3b5e946"
        }],
        "groupLabels": {"alertname": "ApiErrorRateHigh"},
        "commonLabels": {"alertname": "ApiErrorRateHigh", "component": "api", "severity": "critical"},
        "commonAnnotations": {"summary": "No user is able to use Proxyclick: 5xx rate above 50%"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"ApiErrorRateHigh\"}",
        "truncatedAlerts": 0
    })
}

#[tokio::test]
async fn a_wrong_deployment_record_is_corrected_during_an_alertmanager_outage() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pharos = Pharos::start(dir.path(), &proxyclick(), None).await;
    let now = Utc::now();
    let deployed_at = now - chrono::Duration::minutes(25);
    let alert_started = now - chrono::Duration::minutes(5);

    // The scheduled platform update, recorded as if the authentication change had shipped
    // in an earlier release.
    let a = pharos
        .post(
            "/api/v1/changes",
            json!({"component": "api", "kind": "deploy",
                   "summary": "Scheduled platform update 2023.13 (authentication unchanged)",
                   "version": "2023.13.0", "commit": "4be1f0a", "environment": "production",
                   "author": "release-bot", "started_at": cest(deployed_at),
                   "external_id": "release-2023.13"}),
        )
        .await;
    assert_eq!(a.status, 201, "{a:?}");
    let wrong = a.json["id"].as_str().unwrap().to_owned();

    // Monitoring detects the outage: Alertmanager pages Pharos.
    let a = pharos
        .post(
            "/api/v1/ingest/alertmanager",
            alertmanager("firing", alert_started, None),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let outcome = &a.json["alerts"][0];
    assert_eq!(outcome["result"], "opened", "{a:?}");
    assert_eq!(outcome["key"], "alertmanager:8d1f0a27c3b5e946");
    assert_eq!(outcome["components"], json!(["api"]));
    let id = outcome["incident_id"].as_str().unwrap().to_owned();
    pharos.wait_component("api", "major_outage").await;
    let incident = pharos.incident(&id).await;
    assert_eq!(incident["name"], "Major outage of Proxyclick API");
    assert_eq!(
        time(&incident["started_at"]),
        time(&json!(cest(alert_started))),
        "the trouble started when the alert did"
    );
    // Responders see the (wrong) record.
    let listed = incident["changes"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], wrong.as_str());
    assert_eq!(listed[0]["version"], "2023.13.0");
    assert_eq!(listed[0]["superseded"], false);
    assert_eq!(listed[0]["reason"], "same_component");
    assert_eq!(listed[0]["before_incident"], true);
    let a = pharos
        .post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"body": "The release record says authentication was not part of 2023.13; looking at the other components first."}),
        )
        .await;
    assert_eq!(a.status, 201, "{a:?}");

    // The record was wrong: the authentication change shipped for the first time in this
    // deployment. Corrected from a shell; the old record stays.
    let fixed = pharos_change(
        &pharos,
        &[
            "--component",
            "api",
            "--kind",
            "deploy",
            "--summary",
            "Scheduled platform update 2023.13, with the authentication logic update (first time in production)",
            "--version",
            "2023.13.1",
            "--commit",
            "e91d7c3",
            "--author",
            "release-bot",
            "--started-at",
            &cest(deployed_at),
            "--supersedes",
            &wrong,
        ],
    )
    .await;
    let incident = pharos.incident(&id).await;
    let listed = incident["changes"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let old = listed.iter().find(|c| c["id"] == wrong.as_str()).unwrap();
    let new = listed.iter().find(|c| c["id"] == fixed.as_str()).unwrap();
    assert_eq!(old["superseded"], true);
    assert_eq!(old["superseded_by"], fixed.as_str());
    assert_eq!(old["version"], "2023.13.0", "the old record is unchanged");
    assert_eq!(new["supersedes"], wrong.as_str());
    assert_eq!(new["superseded_by"], Value::Null);
    assert_eq!(new["commit"], "e91d7c3");

    // The hotfix is out: Alertmanager sends the resolve; the incident resolves by itself.
    let alert_ended = Utc::now();
    let a = pharos
        .post(
            "/api/v1/ingest/alertmanager",
            alertmanager("resolved", alert_started, Some(alert_ended)),
        )
        .await;
    assert_eq!(a.json["alerts"][0]["result"], "resolved", "{a:?}");
    pharos.wait_component("api", "operational").await;
    let incident = pharos.wait_incident(&id, "resolved").await;

    // The postmortem, read in Denver time (the seed's own timeline mixed three US zones).
    let pm_path = format!("/api/v1/incidents/{id}/postmortem");
    let pm = draft_once_resolved(&pharos, &format!("{pm_path}?tz=America/Denver")).await;
    assert_eq!(pm["time_zone"], "America/Denver");
    assert_eq!(pm["event_type"]["text"], "Outage");
    assert_eq!(
        pm["services_impacted"],
        json!([{"component_id": "api", "name": "Proxyclick API", "worst_status": "major_outage"}])
    );
    check_timeline(&pm, &[("MST", -7), ("MDT", -6)]);
    check_detection(&pm, &incident);
    assert!(
        pm["detection"]["time_to_acknowledge"]["seconds"]
            .as_i64()
            .unwrap()
            > 0,
        "the note acknowledged it: {}",
        pm["detection"]
    );
    let timeline = pm["timeline"].as_array().unwrap();
    let k = kinds(&pm["timeline"]);
    let first = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("no {kind} in {k:?}"))
    };
    let firing = first("alert_firing");
    let resolved = first("alert_resolved");
    assert!(
        first("change") < firing && firing < first("opened") && first("opened") < resolved,
        "the deploy, the alert firing, Pharos opening the incident, the alert resolving: {k:?}"
    );
    assert_eq!(time(&timeline[firing]["at"]), time(&incident["started_at"]));
    assert_eq!(
        time(&timeline[resolved]["at"]).timestamp_millis(),
        alert_ended.timestamp_millis(),
        "resolved when Alertmanager says it ended"
    );
    assert!(
        timeline[firing]["text"]
            .as_str()
            .unwrap()
            .contains("alertmanager:8d1f0a27c3b5e946"),
        "{}",
        timeline[firing]
    );
    // Both records, the old one pointing to its correction, in the changes and the timeline.
    let changes = pm["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let old = changes.iter().find(|c| c["id"] == wrong.as_str()).unwrap();
    let new = changes.iter().find(|c| c["id"] == fixed.as_str()).unwrap();
    assert_eq!(old["superseded_by"], fixed.as_str());
    assert_eq!(new["superseded_by"], Value::Null);
    assert_eq!(old["before_start"]["seconds"], 20 * 60);
    let corrected: Vec<&str> = timeline
        .iter()
        .filter(|l| l["kind"] == "change")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(corrected.len(), 2, "{corrected:?}");
    assert!(
        corrected.iter().any(|t| t.contains("(version 2023.13.0)")
            && t.ends_with(&format!("[corrected by {fixed}]"))),
        "{corrected:?}"
    );
    assert!(
        corrected
            .iter()
            .any(|t| t.contains("(version 2023.13.1)") && !t.contains("corrected by")),
        "{corrected:?}"
    );

    let md = pharos
        .get(&format!("{pm_path}?format=md&tz=America/Denver"))
        .await
        .text;
    let md_timeline = md_section(
        &md,
        "Timeline (times in America/Denver, UTC beside each time)",
    );
    for line in md_timeline.lines() {
        assert!(
            line.contains(" MST (") || line.contains(" MDT ("),
            "one zone, UTC beside: {line}"
        );
    }
    assert!(
        md_section(&md, "Changes before the incident").contains(&format!(
            "(version 2023.13.0), by release-bot; 20m before the start; corrected by {fixed}"
        )),
        "{md}"
    );

    // Publishing is refused until people wrote what the record cannot know.
    let a = pharos
        .send(Method::POST, &format!("{pm_path}/publish"), None)
        .await;
    assert_eq!(a.status, 422, "{a:?}");
    assert_eq!(a.json["error"]["field"], "root_cause");
    assert_eq!(
        sections(&a.json["missing"]),
        ["root_cause", "remediation", "actions"]
    );
    let a = pharos
        .put(
            &pm_path,
            json!({
                "root_cause": "An update to the authentication logic was marked as deployed in a previous release but shipped for the first time in the scheduled deployment; it could not handle production load. The wrong deployment record led the investigation away from the authentication components.",
                "remediation": "A hotfix to the authentication logic was deployed and service returned to normal.",
                "time_zone": "America/Denver",
                "actions": [
                    {"description": "Add load scaling to pre-production testing", "kind": "prevent",
                     "owner": "qa-team", "due": "2030-04-30"},
                    {"description": "Review the deployment process so release records are accurate",
                     "kind": "process", "owner": "engineering", "due": "2030-05-31"}
                ]
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["complete"], true, "{a:?}");
    assert_eq!(a.json["time_zone"], "America/Denver", "the saved zone");
    let a = pharos
        .send(Method::POST, &format!("{pm_path}/publish"), None)
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["incident_status"], "postmortem");

    // The public snapshot is rendered from the engine's view a moment after it changes.
    let published = eventually(WAIT, "the postmortem on the public API", || async {
        let public = pharos.json("/api/v2/incidents.json").await;
        public["incidents"]
            .as_array()?
            .iter()
            .find(|i| i["id"] == id.as_str() && i["status"] == "postmortem")
            .cloned()
    })
    .await;
    assert_eq!(published["status"], "postmortem");
    let body = published["incident_updates"][0]["body"].as_str().unwrap();
    assert_eq!(published["incident_updates"][0]["status"], "postmortem");
    assert!(
        body.contains("shipped for the first time in the scheduled deployment"),
        "{body}"
    );
    assert!(
        // Owners are responders: named only on a page with `show_responders`.
        body.contains("A1 (prevent): Add load scaling to pre-production testing. Due: 2030-04-30."),
        "{body}"
    );
    assert!(
        body.contains("— Resolved: public update by Pharos: This incident has been resolved"),
        "{body}"
    );
    assert!(
        !body.contains("looking at the other components"),
        "private: {body}"
    );
    let page = pharos.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Postmortem"), "{}", page.text);
    assert!(page.text.contains("<h4>Root cause</h4>"), "{}", page.text);
    assert!(
        page.text
            .contains("The wrong deployment record led the investigation away"),
        "{}",
        page.text
    );

    pharos.stop();
    eprintln!(
        "a_wrong_deployment_record_is_corrected_during_an_alertmanager_outage: {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A connection leak takes the booking service down twice within days (seed 003)
// ---------------------------------------------------------------------------------------------

/// Serraview's page: the booking service with its monitor on `target`, and Engage.
fn serraview(target: &str) -> String {
    Config::new()
        .page("serraview", "Serraview")
        .with(r#"time_zone = "America/New_York""#)
        .admin("alice", TOKEN)
        .auto_incidents("2s")
        .component("booking", "Booking Service")
        .component("engage", "Engage")
        .http_monitor("booking-health", &format!("{target}/booking"), "booking")
        .thresholds(2, 1)
        .build()
}

#[tokio::test]
async fn a_connection_leak_recurs_four_days_later_and_is_linked_to_the_first_outage() {
    let started = Instant::now();
    let target = FakeTarget::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = serraview(&target.url);
    let pharos = Pharos::start(dir.path(), &config, None).await;
    eventually(WAIT, "a first good check", || async {
        (target.hits() > 0).then_some(())
    })
    .await;

    // Thursday: open connections pile up until the service answers errors.
    target.set_status(500);
    let first = pharos.opened_incident(&[]).await;
    pharos.wait_component("booking", "major_outage").await;
    // Restarting the service ends it.
    target.set_status(200);
    let incident = pharos.wait_incident(&first, "resolved").await;
    let first_started = time(&incident["started_at"]);

    let pm_path = format!("/api/v1/incidents/{first}/postmortem");
    let draft = draft_once_resolved(&pharos, &pm_path).await;
    assert_eq!(draft["similar_incidents"], json!([]), "nothing earlier");
    assert_eq!(draft["event_type"]["text"], "Outage");
    let a = pharos
        .put(
            &pm_path,
            json!({
                "root_cause": "An ever-growing list of open connections (a connection leak in the booking client) maxed out the capacity of the Booking Service.",
                "remediation": "Restarted the Booking Service with more memory so it can hold more simultaneous connections.",
                "actions": [
                    {"description": "Restart the Booking Service with more memory", "kind": "mitigate",
                     "owner": "cloud-ops", "due": "2030-01-26", "done": true},
                    {"description": "Alert when open connections to the booking database keep growing",
                     "kind": "prevent", "owner": "engineering", "due": "2030-02-15"}
                ]
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["complete"], true, "{a:?}");
    let a = pharos
        .send(Method::POST, &format!("{pm_path}/publish"), None)
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["incident_status"], "postmortem");
    pharos.stop();

    // Monday, four days later: the same binary, the same database, the clock moved on.
    let restarted = Utc::now();
    let pharos = Pharos::start(dir.path(), &config, Some("4d")).await;
    // A check of this run, stored: the newest result started after the restart (by the real
    // clock; target hits come before the result is stored, and reading the results once then
    // could find only Thursday's).
    let newest = eventually(WAIT, "a stored check after the restart", || async {
        let monitor = pharos.json("/api/v1/monitors/booking-health").await;
        monitor["recent_results"]
            .as_array()?
            .iter()
            .map(|r| time(&r["started_at"]))
            .max()
            .filter(|newest| *newest > restarted)
    })
    .await;
    assert!(
        newest - Utc::now() > chrono::Duration::days(4) - chrono::Duration::minutes(1),
        "PHAROS_CLOCK_OFFSET=4d moves the checks' clock: {newest}"
    );
    let log = std::fs::read_to_string(&pharos.log).unwrap();
    assert!(
        log.contains("PHAROS_CLOCK_OFFSET is set"),
        "serve warns that its clock is moved: {log}"
    );
    let old = pharos.incident(&first).await;
    assert_eq!(old["status"], "postmortem");
    assert_eq!(
        time(&old["started_at"]),
        first_started,
        "history is kept as it was"
    );

    target.set_status(500);
    let second = pharos.opened_incident(&[&first]).await;
    let incident = pharos.incident(&second).await;
    assert_eq!(incident["name"], "Major outage of Booking Service");
    let gap = time(&incident["started_at"]) - first_started;
    assert!(
        gap >= chrono::Duration::days(4)
            && gap < chrono::Duration::days(4) + chrono::Duration::minutes(2),
        "about four days after the first: {gap}"
    );
    // The new incident remembers the first, its root cause and the action still open.
    let similar = incident["similar_incidents"].as_array().unwrap();
    assert_eq!(similar.len(), 1, "{similar:?}");
    let s = &similar[0];
    assert_eq!(s["id"], first.as_str());
    assert_eq!(s["status"], "postmortem");
    assert_eq!(s["postmortem"], "published");
    assert_eq!(s["shared_components"], json!(["booking"]));
    assert!(s["score"].as_f64().unwrap() >= 0.15, "{s}");
    assert!(
        s["root_cause"]
            .as_str()
            .unwrap()
            .contains("ever-growing list of open connections"),
        "{s}"
    );
    let open: Vec<&str> = s["open_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["A2"], "the done restart is not open: {s}");
    assert_eq!(s["open_actions"][0]["owner"], "engineering");
    assert_eq!(s["open_actions"][0]["due"], "2030-02-15");

    // Restarted again; once resolved, its postmortem draft lists the first one too.
    target.set_status(200);
    pharos.wait_incident(&second, "resolved").await;
    let pm = draft_once_resolved(&pharos, &format!("/api/v1/incidents/{second}/postmortem")).await;
    assert_eq!(pm["similar_incidents"][0]["id"], first.as_str(), "{pm}");
    assert_eq!(pm["similar_incidents"][0]["open_actions"][0]["id"], "A2");
    let md = pharos
        .get(&format!("/api/v1/incidents/{second}/postmortem?format=md"))
        .await
        .text;
    let listed = md_section(&md, "Similar incidents");
    assert!(
        listed.contains(&format!("- Major outage of Booking Service ({first}), started "))
            && listed.contains("postmortem published; root cause: An ever-growing list of open connections")
            && listed.contains("  - still open: A2 Alert when open connections to the booking database keep growing (owner engineering, due 2030-02-15)"),
        "{listed}"
    );

    // The reports count both outages of the booking service in the last 30 days.
    let report = pharos
        .json("/api/v1/reports?days=30&component=booking")
        .await;
    let booking = &report["components"].as_array().unwrap()[0];
    assert_eq!(booking["id"], "booking");
    let incidents = &booking["incidents"]["30d"];
    assert_eq!(incidents["count"], 2, "{report}");
    assert_eq!(incidents["open"], 0, "{report}");
    assert_eq!(incidents["time_to_resolve"]["count"], 2, "{report}");
    assert_eq!(
        report["overall"]["incidents"]["30d"]["count"], 2,
        "{report}"
    );
    let engage = pharos
        .json("/api/v1/reports?days=30&component=engage")
        .await;
    assert_eq!(engage["components"][0]["incidents"]["30d"]["count"], 0);

    pharos.stop();
    eprintln!(
        "a_connection_leak_recurs_four_days_later_and_is_linked_to_the_first_outage: {:?}",
        started.elapsed()
    );
}
