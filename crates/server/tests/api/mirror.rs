//! `[mirror] dir` through the real app: the page, the v2 JSON, the feeds and each incident's
//! page are written to a directory (with `.gz` and `.br` beside them) and follow every change,
//! so a plain web server can serve the last state with every node down. (The files come from
//! the public snapshot; storage adds nothing, so SQLite only.)

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, FakeTarget};

use crate::support::config::Config;

const WAIT: Duration = Duration::from_secs(20);

fn read(dir: &Path, rel: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(rel)).ok()
}

fn json(dir: &Path, rel: &str) -> Option<serde_json::Value> {
    serde_json::from_slice(&read(dir, rel)?).ok()
}

#[tokio::test]
async fn the_mirror_follows_the_page_and_serves_without_pharos() {
    let target = FakeTarget::start().await;
    let mirror = tempfile::tempdir().unwrap();
    let dir = mirror.path().join("status");
    let config = Config::acme()
        .component("api", "API")
        .http_monitor("api-health", &format!("{}/", target.url), "api")
        .thresholds(1, 1)
        .auto_incidents("1h")
        .section("[mirror]")
        .with(&format!("dir = {:?}", dir.display().to_string()))
        .build();
    let app = spawn_app(&config).await;

    // Written at start, and in step with what the server answers (the mirror is written
    // right after each snapshot is served, so the two agree once it is done).
    eventually(WAIT, "the mirror in step with the server", || async {
        let served = app.get_json("/api/v2/status.json").await;
        (json(&dir, "api/v2/status.json")? == served).then_some(())
    })
    .await;
    for rel in [
        "index.html",
        "history.html",
        "history.atom",
        "history.rss",
        "theme.css",
        "api/v2/summary.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
    ] {
        assert!(dir.join(rel).is_file(), "{rel} is written");
    }

    // An outage reaches the mirror: the component, the incident and its own page.
    target.set_status(500);
    let incident = eventually(WAIT, "the outage in the mirror", || async {
        let summary = json(&dir, "api/v2/summary.json")?;
        (summary["components"][0]["status"] == "major_outage")
            .then(|| summary["incidents"][0].clone())
            .filter(|i| i.is_object())
    })
    .await;
    // Its page was written before the summary that lists it.
    let id = incident["id"].as_str().unwrap();
    let page = read(&dir, &format!("incidents/{id}.html")).expect("the incident's page");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("Major outage of API"), "{page}");

    // Pharos stops; the mirror keeps the last state. (A write in flight when it stopped
    // finishes on its own: each file is replaced whole, so wait for the three forms of the
    // page to agree rather than read them in the middle.)
    app.stop().await;
    let body = eventually(
        WAIT,
        "the page and its compressed forms to agree",
        || async {
            let body = read(&dir, "index.html")?;
            let mut gunzipped = Vec::new();
            flate2::read::GzDecoder::new(&read(&dir, "index.html.gz")?[..])
                .read_to_end(&mut gunzipped)
                .ok()?;
            let mut unbrotlied = Vec::new();
            brotli::Decompressor::new(&read(&dir, "index.html.br")?[..], 4096)
                .read_to_end(&mut unbrotlied)
                .ok()?;
            (gunzipped == body && unbrotlied == body).then_some(body)
        },
    )
    .await;
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("Major Outage") || page.contains("Major outage"),
        "the page shows the outage"
    );
    let summary = json(&dir, "api/v2/summary.json").unwrap();
    assert_eq!(summary["components"][0]["status"], "major_outage");
    eventually(WAIT, "no temporary file left behind", || async {
        walk(&dir)
            .iter()
            .all(|p| p.extension().is_none_or(|e| e != "tmp"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_mirror_that_cannot_be_written_stops_the_start() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A directory inside a regular file cannot be created.
    let dir = file.path().join("status");
    let config = Config::acme()
        .section("[mirror]")
        .with(&format!("dir = {:?}", dir.display().to_string()))
        .build();
    let out = std::process::Command::new(crate::support::PHAROS)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--database", "sqlite::memory:"])
        .arg("--config")
        .arg({
            let path = file.path().with_extension("toml");
            std::fs::write(&path, config).unwrap();
            path
        })
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write the mirror directory"),
        "{stderr}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
