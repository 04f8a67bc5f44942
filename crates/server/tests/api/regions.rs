//! Seed 000 replayed from several places, with real processes in network namespaces: the
//! server in this one, a `pharos probe` in each of two namespaces (Europe, the US), and in
//! each place its own copy of the target on its own loopback, at the same address. Taking
//! Europe's copy away is a regional outage that says where; the US's too makes it the
//! outage, in the same incident; a probe cut off from the server for 30 s delivers what it
//! checked meanwhile, in order, once; a probe killed outright is offline, never an outage.
//!
//! Needs root (network namespaces); without it the test says so and passes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_server::{App, Settings};
use pharos_testkit::{eventually, parse_config, Backend, TestDb};
use serde_json::Value;

use crate::support::config::Config;
use crate::support::{free_port, PHAROS};

const ADMIN: &str = "admin-token-0123456789";
const EU_TOKEN: &str = "eu-fr-probe-token-0000001";
const US_TOKEN: &str = "us-east-probe-token-000001";
const WAIT: Duration = Duration::from_secs(30);

/// Runs `ip` with `args`; panics with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to this one by a veth pair: this side `10.231.<n>.1`, the
/// namespace's side `10.231.<n>.2`. Deleted (with its processes' links) when dropped.
struct Place {
    name: String,
    inner: String,
    outer: String,
    n: u8,
}

impl Place {
    fn create(label: &str, n: u8) -> Place {
        let pid = std::process::id() % 100_000;
        let place = Place {
            name: format!("pharos-{label}-{pid}"),
            inner: format!("phi{n}x{pid}"),
            outer: format!("pho{n}x{pid}"),
            n,
        };
        // What a killed earlier run may have left.
        let _ = Command::new("ip")
            .args(["netns", "del", &place.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &place.outer])
            .output();
        ip(&["netns", "add", &place.name]);
        ip(&[
            "link",
            "add",
            &place.outer,
            "type",
            "veth",
            "peer",
            "name",
            &place.inner,
        ]);
        ip(&["link", "set", &place.inner, "netns", &place.name]);
        ip(&[
            "addr",
            "add",
            &format!("10.231.{n}.1/30"),
            "dev",
            &place.outer,
        ]);
        ip(&["link", "set", &place.outer, "up"]);
        place.inside(&["ip", "link", "set", "lo", "up"]);
        place.inside(&[
            "ip",
            "addr",
            "add",
            &format!("10.231.{n}.2/30"),
            "dev",
            &place.inner,
        ]);
        place.inside(&["ip", "link", "set", &place.inner, "up"]);
        place
    }

    /// Runs `args` in the namespace to completion.
    fn inside(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command that runs in the namespace (`ip netns exec` becomes the program itself, so
    /// killing the child kills the program).
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Where the server is, seen from the namespace.
    fn server_url(&self, port: u16) -> String {
        format!("http://10.231.{}.1:{port}", self.n)
    }

    /// Cuts the namespace off (or joins it again): its side of the link down or up.
    fn link(&self, up: bool) {
        self.inside(&[
            "ip",
            "link",
            "set",
            &self.inner,
            if up { "up" } else { "down" },
        ]);
        if up {
            // Bringing a link down drops its address's route; put it back.
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.name,
                    "ip",
                    "addr",
                    "replace",
                    &format!("10.231.{}.2/30", self.n),
                    "dev",
                    &self.inner,
                ])
                .output();
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.outer])
            .output();
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The place's own copy of the target: a plain web server on its loopback at `port`.
fn target(place: Option<&Place>, port: u16, dir: &std::path::Path) -> Proc {
    let mut c = match place {
        Some(p) => p.command("python3"),
        None => Command::new("python3"),
    };
    c.args([
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .current_dir(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    Proc(c.spawn().expect("python3 -m http.server"))
}

/// Waits until the place's copy of the target answers, so a probe's first check never finds
/// it still starting (which would be an outage of its own).
fn wait_ready(place: Option<&Place>, port: u16) {
    let script = format!(
        "import time, urllib.request\n\
         for _ in range(200):\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1); break\n\
         \x20   except Exception:\n\
         \x20       time.sleep(0.05)\n\
         else:\n\
         \x20   raise SystemExit('the target never answered')\n"
    );
    let mut c = match place {
        Some(p) => p.command("python3"),
        None => Command::new("python3"),
    };
    let out = c.args(["-c", &script]).output().expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn probe(place: &Place, port: u16, location: &str, token: &str) -> Proc {
    let mut c = place.command(PHAROS);
    c.args([
        "probe",
        "--server",
        &place.server_url(port),
        "--location",
        location,
    ])
    .env("PHAROS_PROBE_TOKEN", token)
    .env("PHAROS_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    Proc(c.spawn().expect("pharos probe"))
}

fn config(target_port: u16) -> String {
    let url = format!("http://127.0.0.1:{target_port}/");
    Config::acme()
        .admin("ops", ADMIN)
        .component("workplace", "Eptura Workplace")
        .component("api", "API")
        .section(&format!(
            "[[locations]]\nid = \"eu-fr\"\nname = \"Europe (France)\"\ntokens = [\"{EU_TOKEN}\"]\n\
             offline_after = \"5s\""
        ))
        .section(&format!(
            "[[locations]]\nid = \"us-east\"\nname = \"US East\"\ntokens = [\"{US_TOKEN}\"]\n\
             offline_after = \"5s\""
        ))
        .http_monitor("workplace", &url, "workplace")
        .thresholds(1, 1)
        .with("locations = [\"local\", \"eu-fr\", \"us-east\"]")
        .http_monitor("api-us", &url, "api")
        .thresholds(1, 1)
        .with("locations = [\"us-east\"]")
        .auto_incidents("1h")
        .build()
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn admin(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn public(&self, path: &str) -> Value {
        let r = self.client.get(format!("{}{path}", self.base)).send().await;
        r.unwrap().json().await.unwrap()
    }

    async fn status(&self, component: &str) -> String {
        let json = self.public("/api/v2/components.json").await;
        json["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == component)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .unwrap()
    }

    /// Each location's view of `monitor`: `[(id, health)]`.
    async fn places(&self, monitor: &str) -> Vec<(String, String)> {
        let m = self.admin(&format!("/api/v1/monitors/{monitor}")).await;
        m["locations"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|p| {
                        (
                            p["id"].as_str().unwrap_or("").to_owned(),
                            p["health"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Results counted from the US for `api-us`, from `/metrics`.
    async fn us_results(&self) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with(
                    "pharos_location_checks_total{monitor=\"api-us\",location=\"us-east\"",
                )
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_000_from_several_places_in_network_namespaces() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root || Command::new("ip").arg("-V").output().is_err() {
        eprintln!(
            "SKIPPED seed_000_from_several_places_in_network_namespaces: needs root and iproute2 \
             (network namespaces); CI runs it as root"
        );
        return;
    }
    let eu = Place::create("eu", 1);
    let us = Place::create("us", 2);
    let dir = tempfile::tempdir().unwrap();
    let target_port = free_port();
    let _local_target = target(None, target_port, dir.path());
    let mut eu_target = target(Some(&eu), target_port, dir.path());
    let mut us_target = target(Some(&us), target_port, dir.path());
    for place in [None, Some(&eu), Some(&us)] {
        wait_ready(place, target_port);
    }

    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let app = App::start(Settings {
        config: parse_config(&config(target_port)),
        listen: std::net::SocketAddr::from(([0, 0, 0, 0], port)),
        database_url: db.url.clone(),
    })
    .await
    .unwrap();
    let server = Server {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };
    let mut eu_probe = probe(&eu, port, "eu-fr", EU_TOKEN);
    let _us_probe = probe(&us, port, "us-east", US_TOKEN);

    // Every place sees it up.
    let all_up = pairs(&[("local", "up"), ("eu-fr", "up"), ("us-east", "up")]);
    let ready = tokio::time::timeout(WAIT, async {
        while server.places("workplace").await != all_up {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if ready.is_err() {
        panic!(
            "every place never saw the workplace up: {:?}\nlocations: {}\nmonitor: {}",
            server.places("workplace").await,
            server.admin("/api/v1/locations").await,
            server.admin("/api/v1/monitors/workplace").await
        );
    }
    let listing = server.admin("/api/v1/locations").await;
    assert_eq!(listing[0]["online"], true, "{listing}");
    assert_eq!(listing[1]["online"], true, "{listing}");

    // The upgrade in France: Europe's copy goes away. A partial outage that says where.
    eu_target.kill();
    eventually(WAIT, "a partial outage", || async {
        (server.status("workplace").await == "partial_outage").then_some(())
    })
    .await;
    let open = server.public("/api/v2/incidents/unresolved.json").await;
    let incidents = open["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{open}");
    assert_eq!(incidents[0]["name"], "Partial outage of Eptura Workplace");
    let body = incidents[0]["incident_updates"][0]["body"]
        .as_str()
        .unwrap();
    assert!(
        body.contains("failing from Europe (France); Local and US East see it up"),
        "{body}"
    );
    let id = incidents[0]["id"].as_str().unwrap().to_owned();

    // It spreads to the US: the outage, in the same incident.
    us_target.kill();
    eventually(WAIT, "a major outage", || async {
        (server.status("workplace").await == "major_outage").then_some(())
    })
    .await;
    let open = server.public("/api/v2/incidents/unresolved.json").await;
    let incidents = open["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{open}");
    assert_eq!(incidents[0]["id"], id.as_str());
    assert_eq!(incidents[0]["impact"], "critical");

    // Both copies come back.
    let _eu_target = target(Some(&eu), target_port, dir.path());
    let _us_target = target(Some(&us), target_port, dir.path());
    eventually(WAIT, "the recovery", || async {
        (server.status("workplace").await == "operational"
            && server.places("workplace").await == all_up)
            .then_some(())
    })
    .await;

    // The US is cut off from the server for 30 s: it keeps checking, and delivers what it
    // checked once it can — in order, once.
    let before = server.us_results().await;
    let cut_at = Instant::now();
    let cut_start = chrono::Utc::now();
    us.link(false);
    // The scenario's length, not a wait for a state: the probe is away this long.
    tokio::time::sleep(Duration::from_secs(30)).await;
    us.link(true);
    let cut_end = chrono::Utc::now();
    let away = cut_at.elapsed().as_secs();
    let after = eventually(WAIT, "the buffered results", || async {
        let n = server.us_results().await;
        (n >= before + away - 5).then_some(n)
    })
    .await;
    // Once: never more results than the seconds that passed (one check a second), with a
    // little room for checks on either side of the cut.
    let elapsed = cut_at.elapsed().as_secs();
    assert!(
        after - before <= elapsed + 3,
        "{} results in {elapsed} s: some counted twice",
        after - before
    );
    // They are stored a moment after they count: newest first, strictly decreasing (so in
    // order, none twice), with the cut's among them.
    let (times, during) = eventually(WAIT, "the cut's results stored", || async {
        let m = server.admin("/api/v1/monitors/api-us").await;
        let times: Vec<chrono::DateTime<chrono::Utc>> = m["recent_results"]
            .as_array()?
            .iter()
            .filter_map(|r| r["started_at"].as_str()?.parse().ok())
            .collect();
        let during = times
            .iter()
            .filter(|t| **t > cut_start && **t < cut_end)
            .count();
        (during >= 15).then_some((times, during))
    })
    .await;
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "results out of order or repeated ({during} from the cut): {times:?}"
    );

    // Europe's probe is killed outright: offline, and never an outage.
    eu_probe.kill();
    let europe_unknown = pairs(&[("local", "up"), ("eu-fr", "unknown"), ("us-east", "up")]);
    eventually(WAIT, "Europe offline, its vote unknown", || async {
        let l = server.admin("/api/v1/locations").await;
        (l[0]["online"] == false && server.places("workplace").await == europe_unknown)
            .then_some(())
    })
    .await;
    assert_eq!(server.status("workplace").await, "operational");
    app.shutdown().await;
}
