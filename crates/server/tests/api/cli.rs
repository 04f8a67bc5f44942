//! The `pharos` binary as a user runs it: `validate`, `serve`, `--version`, exit codes,
//! environment overrides and a clean stop on SIGTERM.

use crate::support::{free_port, PHAROS};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pharos.toml")
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

#[test]
fn prints_its_version() {
    let out = Command::new(PHAROS).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pharos "));
}

#[test]
fn help_speaks_to_users() {
    let out = Command::new(PHAROS).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("status page"), "{help}");
    assert!(help.contains("pharos serve --config pharos.toml"), "{help}");
    // Words for the people who build Pharos stay out of it.
    assert!(!help.contains("composition root"), "{help}");
    for command in ["serve", "validate", "notify", "change", "probe"] {
        assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
    }
}

#[test]
fn validate_accepts_the_example() {
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(example())
        .env("PHAROS_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (5 components, 5 monitors)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("warning:") && !stderr.contains("error:"),
        "{stderr}"
    );
}

#[test]
fn validate_accepts_the_outage_demo_of_the_readme() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/outage-demo.toml");
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&demo)
        .env("PHAROS_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (1 component, 1 monitor)"));
    assert!(
        !stderr.contains("warning:") && !stderr.contains("error:"),
        "{stderr}"
    );
    // Without the token the README asks for, the file names what is missing.
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&demo)
        .env_remove("PHAROS_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PHAROS_ADMIN_TOKEN"));
}

const BROKEN: &str = r#"[page]
name = "Broken"
colour = "red"

[[components]]
id = "api"
name = "API"

[[components]]
id = "lonely"
name = "Nobody watches me"

[[monitors]]
id = "api-health"
type = "http"
url = "http://127.0.0.1:1/"
interval = "30 seconds"
conditions = ["[STATU] == 200"]
components = ["api", "ghost"]
"#;

#[test]
fn validate_reports_every_problem_with_its_location_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.toml", BROKEN);
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    let lines: Vec<String> = stderr.lines().map(|l| l.replace(&file, "FILE")).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

const NOTIFIERS: &str = r#"[[components]]
id = "api"
name = "API"

[[monitors]]
id = "api-health"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["api"]

[[notifiers]]
id = "ops"
type = "webhook"
url = "https://hooks.example.com/pharos"
secret = "${PHAROS_WEBHOOK_SECRET}"

[[notifiers]]
id = "chat"
type = "slack"
url = "${SLACK_WEBHOOK_URL}"
components = ["api"]
"#;

#[test]
fn validate_checks_notifiers_without_printing_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "notifiers.toml", NOTIFIERS);
    let run = |slack_url: &str| {
        Command::new(PHAROS)
            .args(["validate", "--config"])
            .arg(&path)
            .env("PHAROS_WEBHOOK_SECRET", "whsec-never-printed-0123")
            .env("SLACK_WEBHOOK_URL", slack_url)
            .output()
            .unwrap()
    };

    let out = run("https://hooks.slack.com/services/T0/B0/never-printed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("warning:") && !stderr.contains("error:"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));

    // A bad chat URL is reported at its `${…}`, without repeating it.
    let out = run("hooks.slack.com/services/T0/B0/never-printed");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert_eq!(
        stderr.trim_end().replace(&file, "FILE"),
        "FILE:20:7: error: invalid notifier `url`: not an absolute URL; expected http://… or https://…"
    );
    assert!(!stderr.contains("never-printed"), "{stderr}");
}

#[test]
fn serve_refuses_a_broken_file_without_listening() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.toml", BROKEN);
    let port = free_port();
    let out = Command::new(PHAROS)
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("error: invalid condition: unknown placeholder [STATU]"));
    assert!(
        !dir.path().join("pharos-data").exists(),
        "no database was created"
    );
}

#[test]
fn serve_runs_on_defaults_from_the_environment_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // No --config and no ./pharos.toml: the empty configuration; listen from PHAROS_LISTEN.
    let mut child = Command::new(PHAROS)
        .current_dir(dir.path())
        .arg("serve")
        .env("PHAROS_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("PHAROS_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(body) = http_get(port, "/api/v2/status.json") {
            break body;
        }
        assert!(Instant::now() < deadline, "pharos did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("All Systems Operational"), "{body}");
    assert!(
        dir.path().join("pharos-data/pharos.db").exists(),
        "default SQLite file created"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "pharos did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_listen_flag_overrides_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (taken, port) = (TcpListener::bind("127.0.0.1:0").unwrap(), free_port());
    let taken_port = taken.local_addr().unwrap().port();
    let mut child = Command::new(PHAROS)
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        // The environment names a taken port; the flag must win.
        .env("PHAROS_LISTEN", format!("127.0.0.1:{taken_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_serving(&mut child, port, "pharos did not listen on the flag's port");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `pharos serve` on `port` with the default configuration and `database`; its
/// standard error goes to `stderr`.
fn serve(dir: &Path, port: u16, database: &str, stderr: Stdio) -> std::process::Child {
    Command::new(PHAROS)
        .current_dir(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", database])
        .env_remove("PHAROS_LOG")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Waits (20 s at most) until `child` answers `/healthz` on `port`; panics with `failed` when
/// it does not, or when it exits first.
fn wait_serving(child: &mut std::process::Child, port: u16, failed: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(port, "/healthz").is_err() {
        let exited = child.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "{failed} ({exited:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_second_node_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/data/pharos.db", dir.path().display());
    let first_port = free_port();
    let mut first = serve(dir.path(), first_port, &database, Stdio::null());
    wait_serving(&mut first, first_port, "the first pharos did not start");

    // A second node on the same file stops at once, saying why, and the first serves on.
    let mut second = serve(dir.path(), free_port(), &database, Stdio::piped());
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second pharos on the same SQLite file was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = second.wait_with_output().unwrap();
    assert!(!second.status.success(), "{:?}", second.status);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("is already served by another `pharos serve`")
            && stderr.contains("pharos.db")
            && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
    assert!(
        http_get(first_port, "/healthz").is_ok(),
        "the first node still serves"
    );

    // Once the first has stopped (even by SIGKILL), the file is free again.
    first.kill().unwrap();
    first.wait().unwrap();
    let port = free_port();
    let mut again = serve(dir.path(), port, &database, Stdio::null());
    wait_serving(
        &mut again,
        port,
        "pharos did not start again on a file nobody serves",
    );
    again.kill().unwrap();
    again.wait().unwrap();
}

/// The body of a blocking GET of `path` from the `pharos` on `port`, when it answers 200.
fn http_get(port: u16, path: &str) -> reqwest::Result<String> {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}"))?
        .error_for_status()?
        .text()
}

#[tokio::test]
async fn notify_test_sends_one_real_message_and_reports_the_outcome() {
    let receiver = pharos_testkit::FakeReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pharos.toml",
        &format!(
            r#"[page]
name = "Acme"

[[notifiers]]
id = "ops"
type = "webhook"
url = "{}/hook"
"#,
            receiver.url
        ),
    );
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || Command::new(PHAROS).args(args).output().unwrap())
    };
    let args = |id: &str| {
        vec![
            "notify".to_owned(),
            "test".to_owned(),
            id.to_owned(),
            "--config".to_owned(),
            path.display().to_string(),
        ]
    };

    let out = run(args("ops")).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ops: sent a test message (webhook)"
    );
    let got = receiver.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/hook");
    assert_eq!(
        got[0].json()["incident"]["name"],
        "Test notification from Pharos"
    );

    receiver.set_status(500);
    let out = run(args("ops")).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HTTP 500"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(args("nope")).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("configured: ops"));
}
