//! The pages in a real browser: headless Chromium loads `/` and `/incidents/{id}` from a real
//! socket, with an update body full of script payloads that would mark the page if any ran.
//! Our own script must run (it rewrites the time-zone note), theirs must not.
//!
//! Runs when Chromium is found: `PHAROS_TEST_CHROMIUM` (which `.ci/run` sets after installing
//! it), else `chromium`, `chromium-browser` or `google-chrome` on the PATH. Without one the test
//! says so and passes, like the PostgreSQL suite without its database.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use pharos_web::{router, Snapshot, WebState};

/// Payloads that each leave a mark on `<body>` if they ever execute.
const MARKING_BODY: &str = "Investigating.\r\n\r\n<script>document.body.setAttribute('data-pwned','script')</script>\r\n\r\n<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">\r\n\r\n<svg onload=\"document.body.setAttribute('data-pwned','svg')\"></svg>\r\n\r\n<details open ontoggle=\"document.body.setAttribute('data-pwned','details')\"><summary>x</summary></details>\r\n\r\n<iframe srcdoc=\"<script>parent.document.body.setAttribute('data-pwned','iframe')</script>\"></iframe>\r\n\r\n**Still bold.**";

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PHAROS_TEST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

fn dump_dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .env("TZ", "UTC")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn update_bodies_never_run_script_in_a_real_browser() {
    let Some(browser) = chromium() else {
        eprintln!("note: no Chromium found (set PHAROS_TEST_CHROMIUM); browser test skipped");
        return;
    };
    let (mut incidents, maintenances) = common::incidents();
    let slow = incidents.iter_mut().find(|i| i.id == "api-slow").unwrap();
    slow.incident_updates[0].body = MARKING_BODY.to_owned();
    let state = WebState::new(
        Snapshot::build_with(&common::view(), &incidents, &maintenances),
        String::new,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router(state)).await });

    for path in ["/incidents/api-slow", "/"] {
        let url = format!("http://{addr}{path}");
        let browser = browser.clone();
        let dom = tokio::task::spawn_blocking(move || dump_dom(&browser, &url))
            .await
            .unwrap();
        assert!(
            dom.contains("<strong>Still bold.</strong>"),
            "{path}: {dom}"
        );
        // Our script ran: the browser is in UTC, the page in America/Denver.
        assert!(
            dom.contains("Times are in your time zone (UTC)"),
            "{path}: the page's own script did not run: {dom}"
        );
        // Escaped payloads still show as text; a payload that ran would leave the attribute.
        assert!(
            !dom.contains("data-pwned=\""),
            "{path}: an update ran script: {dom}"
        );
        assert!(!dom.contains("<iframe"), "{path}: {dom}");
    }
    server.abort();
}
