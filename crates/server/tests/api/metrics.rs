//! `/metrics` through the real app, checked by Prometheus's own `promtool check metrics`: the
//! text format 0.0.4 with `# HELP` and `# TYPE` naming every family as its samples do, and
//! OpenMetrics only for a client whose `Accept` asks for it. The metrics carry real values: an
//! up monitor, a down one, the incident it opened and a webhook notification.
//!
//! `promtool` comes with Debian's `prometheus` package, which `.ci/run` installs (it sets
//! `PHAROS_TEST_PROMTOOL`); otherwise the test looks on the PATH. Without it the test says so
//! and passes on a laptop, but fails under CI (`CI` set).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, FakeReceiver, FakeTarget};

use crate::support::config::Config;

const WAIT: Duration = Duration::from_secs(20);

fn promtool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PHAROS_TEST_PROMTOOL") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
}

/// `promtool check metrics` on `text`: its exit status and everything it printed.
fn check_metrics(promtool: &PathBuf, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[tokio::test]
async fn metrics_pass_promtool_and_openmetrics_is_served_only_when_asked_for() {
    let Some(promtool) = promtool() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing under CI: .ci/run installs Debian's prometheus package"
        );
        eprintln!("note: no promtool found (install Debian's `prometheus` or set PHAROS_TEST_PROMTOOL); metrics check skipped");
        return;
    };
    let up = FakeTarget::start().await;
    let down = FakeTarget::start().await;
    down.set_status(503);
    let hooks = FakeReceiver::start().await;
    let config = Config::acme()
        .component("api", "API")
        .component("web", "Website")
        .http_monitor("api-health", &format!("{}/health", up.url), "api")
        .http_monitor("web-home", &format!("{}/", down.url), "web")
        .with("failure_threshold = 1")
        .section(&format!(
            "[[notifiers]]\nid = \"ops\"\ntype = \"webhook\"\nurl = \"{}/hook\"",
            hooks.url
        ))
        .build();
    let app = spawn_app(&config).await;

    // Every kind of metric has values: checks both ways, the incident's time to the page, and
    // a notification sent.
    let text = eventually(WAIT, "metrics with values of every kind", || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        [
            "pharos_checks_total{monitor=\"api-health\",outcome=\"up\"}",
            "pharos_checks_total{monitor=\"web-home\",outcome=\"down\"}",
            "pharos_monitor_up{monitor=\"web-home\"} 0",
            "pharos_incident_time_to_publish_seconds_count 1",
            "pharos_notifications_total{notifier=\"ops\",outcome=\"sent\"}",
        ]
        .iter()
        .all(|s| text.contains(s))
        .then_some(text)
    })
    .await;
    let (ok, printed) = check_metrics(&promtool, &text);
    assert!(
        ok && printed.trim().is_empty(),
        "promtool: {printed}\n---\n{text}"
    );
    for line in [
        "# TYPE pharos_checks_total counter",
        "# HELP pharos_checks_total Checks run, by monitor and outcome.",
        "# TYPE pharos_check_duration_seconds histogram",
        "# TYPE pharos_monitor_up gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?}:\n{text}");
    }
    assert!(!text.contains("# EOF"), "{text}");

    let r = app.get("/metrics").await;
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // What Prometheus sends: OpenMetrics, ended by `# EOF`.
    let r = app
        .client
        .get(format!("{}/metrics", app.base_url))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let openmetrics = r.text().await.unwrap();
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(openmetrics.contains("# TYPE pharos_checks counter"));
    app.stop().await;
}
