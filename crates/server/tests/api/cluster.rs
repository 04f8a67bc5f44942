//! Several `pharos serve` processes (the real binary) on one PostgreSQL database (SPEC §8):
//! one leader, checks and deliveries made once, the same page everywhere, writes forwarded to
//! the leader, takeover after SIGKILL within `failover`, a leader paused past its lease
//! (SIGSTOP) that wakes to write nothing, a clean stop handing over at once, and a probe that
//! knows only a follower reaching the leader and then the next one, and the console used
//! through a follower alone (signing in, declaring, the live stream, gzipped pages). Each test has a
//! PostgreSQL schema of its own, and is skipped (with a note) when `PHAROS_TEST_POSTGRES_URL`
//! is not set.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pharos_testkit::{eventually, FakeReceiver, FakeTarget, TestDb};
use reqwest::Method;
use serde_json::Value;

use crate::support::config::Config;
use crate::support::http::{send_from, Body};
use crate::support::{free_port, PHAROS};

const TOKEN: &str = "cluster-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);
/// `[cluster] failover` in these tests.
const FAILOVER: Duration = Duration::from_secs(2);
/// What a takeover may take beyond `failover`: a renewal period (400 ms), starting the engine,
/// and a loaded test machine.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(3);

/// One component checked every second; incidents opened at the first failure; a webhook
/// notifier to `hook` when given; `[cluster] failover = "2s"`.
fn config(target: &str, hook: Option<&str>) -> String {
    let mut c = Config::acme()
        .admin("alice", TOKEN)
        .section("[incidents]\nauto_resolve_after = \"1h\"")
        .section("[cluster]\nfailover = \"2s\"")
        .component("api", "API")
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(1, 1);
    if let Some(hook) = hook {
        c = c.section(&format!(
            "[[notifiers]]\nid = \"ops\"\ntype = \"webhook\"\nurl = \"{hook}/hook\"\n\
             events = [\"incident_opened\"]"
        ));
    }
    c.build()
}

/// A `pharos serve` process of the cluster, killed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    /// Starts a node with `config` on `database`; `env` adds environment variables. Its log
    /// (standard output) goes to `<dir>/<name>.log`.
    fn start(dir: &Path, name: &str, config: &Path, database: &str, env: &[(&str, &str)]) -> Node {
        Node::start_on(free_port(), dir, name, config, database, env)
    }

    /// [`Node::start`] listening on `port` (for a configuration that names the address).
    fn start_on(
        port: u16,
        dir: &Path,
        name: &str,
        config: &Path,
        database: &str,
        env: &[(&str, &str)],
    ) -> Node {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(PHAROS);
        cmd.args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", database])
            .env("PHAROS_LOG", "info,sqlx=warn")
            .stdout(Stdio::from(log))
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Node {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the process.
    fn signal(&self, signal: &str) {
        let done = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid()])
            .status()
            .unwrap();
        assert!(done.success(), "kill -{signal}");
    }

    async fn wait_serving(&mut self) {
        let base = self.base.clone();
        let deadline = Instant::now() + WAIT;
        loop {
            let up = reqwest::get(format!("{base}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return;
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "node {base} did not start ({exited:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /api/v1/cluster`, or `None` when the node does not answer it.
    async fn cluster(&self) -> Option<Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let r = client
            .get(format!("{}/api/v1/cluster", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// This node's id.
    async fn id(&self) -> String {
        let c = eventually(WAIT, "the node's cluster state", || self.cluster()).await;
        c["node"].as_str().unwrap().to_owned()
    }

    /// The leader this node knows, if any.
    async fn leader(&self) -> Option<String> {
        self.cluster().await?["leader"].as_str().map(str::to_owned)
    }

    /// `/api/v2/summary.json`, or `None` when the node does not answer.
    async fn summary(&self) -> Option<Value> {
        let r = reqwest::get(format!("{}/api/v2/summary.json", self.base))
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// The status of component `api` on this node's page.
    async fn api_status(&self) -> Option<String> {
        let s = self.summary().await?;
        s["components"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == "api")
            .and_then(|c| c["status"].as_str())
            .map(str::to_owned)
    }

    async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        admin_at(&self.base, method, path, body).await
    }
}

/// An admin request to the node at `base`, with the test's token: the status and the JSON.
async fn admin_at(base: &str, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let body = body.map_or(Body::None, Body::Json);
    let r = send_from(&client, method, &url, Some(TOKEN), body).await;
    (r.status, r.json)
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nodes whose own view says they lead.
async fn self_declared_leaders(nodes: &[&Node]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        if let Some(c) = n.cluster().await {
            if c["leader"].is_string() && c["leader"] == c["node"] {
                out.push(c["node"].as_str().unwrap().to_owned());
            }
        }
    }
    out
}

/// [`config`] with `n` more monitors of `target`, so that a node always has results on their
/// way to the database.
fn config_with_monitors(target: &str, n: usize) -> String {
    let mut text = config(target, None);
    for i in 0..n {
        text.push_str(&format!(
            "[[monitors]]\nid = \"extra-{i}\"\ntype = \"http\"\nurl = \"{target}/extra/{i}\"\n\
             interval = \"1s\"\ntimeout = \"1s\"\ncomponents = [\"api\"]\n\n"
        ));
    }
    text
}

/// A fresh database for `test`, or `None` (with a note) without PostgreSQL.
async fn database(test: &str) -> Option<TestDb> {
    TestDb::postgres(&format!("cluster::{test}")).await
}

/// Waits until `n` more checks reached `target`, and returns how long that took.
async fn time_for_checks(target: &FakeTarget, n: u64) -> Duration {
    let from = target.hits();
    let started = Instant::now();
    eventually(WAIT, "more checks", || async {
        (target.hits() >= from + n).then_some(())
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn three_nodes_elect_one_leader_check_once_serve_one_page_and_notify_once() {
    let Some(db) = database("three_nodes").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let hook = FakeReceiver::start().await;
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, config(&target.url, Some(&hook.url))).unwrap();
    let mut nodes = vec![
        Node::start(dir.path(), "a", &path, &db.url, &[]),
        Node::start(dir.path(), "b", &path, &db.url, &[]),
        Node::start(dir.path(), "c", &path, &db.url, &[]),
    ];
    for n in &mut nodes {
        n.wait_serving().await;
    }
    let all: Vec<&Node> = nodes.iter().collect();

    // Exactly one leader, and every node names it.
    let leader = eventually(WAIT, "one leader every node agrees on", || async {
        let mut seen = HashSet::new();
        for n in &all {
            seen.insert(n.leader().await?);
        }
        (seen.len() == 1).then(|| seen.into_iter().next().unwrap())
    })
    .await;
    assert_eq!(self_declared_leaders(&all).await, vec![leader.clone()]);
    let state = nodes[0].cluster().await.unwrap();
    let listed = state["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{state}");
    for n in listed {
        let role = if n["id"] == leader.as_str() {
            "leader"
        } else {
            "follower"
        };
        assert_eq!(n["role"], role, "{state}");
        assert!(n["address"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"));
    }

    // Checked once per interval, not once per node: five checks of a one-second monitor take
    // four seconds or more (three nodes each checking would take well under two).
    let took = time_for_checks(&target, 5).await;
    assert!(took >= Duration::from_millis(3500), "5 checks in {took:?}");

    // Every node serves the leader's page; a change reaches them all within two seconds.
    eventually(WAIT, "the component operational everywhere", || async {
        for n in &all {
            if n.api_status().await.as_deref() != Some("operational") {
                return None;
            }
        }
        Some(())
    })
    .await;
    target.set_status(503);
    let first_seen = std::sync::Mutex::new(vec![None::<Instant>; nodes.len()]);
    eventually(WAIT, "the outage on every node's page", || async {
        for (i, n) in nodes.iter().enumerate() {
            let down = n.api_status().await.as_deref() == Some("major_outage");
            let mut seen = first_seen.lock().unwrap();
            if down && seen[i].is_none() {
                seen[i] = Some(Instant::now());
            }
        }
        first_seen
            .lock()
            .unwrap()
            .iter()
            .all(Option::is_some)
            .then_some(())
    })
    .await;
    let seen: Vec<Instant> = first_seen
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let spread = *seen.iter().max().unwrap() - *seen.iter().min().unwrap();
    assert!(
        spread <= Duration::from_secs(2),
        "pages agreed {spread:?} apart"
    );
    eprintln!("the outage reached the last node's page {spread:?} after the first's");
    let summaries: Vec<Value> = {
        let mut out = Vec::new();
        for n in &nodes {
            out.push(n.summary().await.unwrap());
        }
        out
    };
    eventually(WAIT, "the same summary on every node", || async {
        let mut bodies = HashSet::new();
        for n in &nodes {
            let mut s = n.summary().await?;
            // The page's identity is the leader's; only the build time may differ.
            s["page"]["updated_at"] = Value::Null;
            bodies.insert(s.to_string());
        }
        (bodies.len() == 1).then_some(())
    })
    .await;
    assert_eq!(summaries[0]["incidents"].as_array().unwrap().len(), 1);

    // One incident and one message to the responders, though three nodes saw the outage.
    eventually(WAIT, "the responders' message", || async {
        (!hook.accepted().is_empty()).then_some(())
    })
    .await;
    eventually(WAIT, "no delivery left pending", || async {
        let pending = db
            .query_i64("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'")
            .await;
        (pending == 0).then_some(())
    })
    .await;
    let (status, incidents) = nodes[1].admin(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(status, 200, "{incidents}");
    let open = incidents.as_array().map_or(0, Vec::len);
    assert_eq!(open, 1, "{incidents}");
    let messages = hook.accepted();
    assert_eq!(messages.len(), 1, "one message, not one per node");
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM outbox").await,
        1,
        "one delivery stored"
    );

    // A write sent to a follower is forwarded to the leader and answered as it answers.
    let mut follower_node = None;
    for n in &nodes {
        if n.id().await != leader {
            follower_node = Some(n);
            break;
        }
    }
    let follower = follower_node.unwrap();
    let (status, created) = follower
        .admin(
            Method::POST,
            "/api/v1/incidents",
            Some(&serde_json::json!({"name": "Declared on a follower", "body": "Looking."})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "the declared incident on every page", || async {
        for n in &nodes {
            let s = n.summary().await?;
            let shown = s["incidents"]
                .as_array()?
                .iter()
                .any(|i| i["id"] == id.as_str());
            if !shown {
                return None;
            }
        }
        Some(())
    })
    .await;
    // Subscribing is limited per client (10 at once) at the leader, and a follower passes the
    // client's address on: one client's exhausted allowance is not another's.
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let subscribe = |client: reqwest::Client| {
        let url = format!("{}/api/v2/subscribers.json", follower.base);
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"subscriber": {"endpoint": "not-a-url"}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let greedy = from([127, 0, 0, 2]);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(subscribe(greedy.clone()).await);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..10].iter().all(|s| *s != 429), "{statuses:?}");
    assert_ne!(subscribe(from([127, 0, 0, 3])).await, 429, "another client");

    // A bad token is refused the same way through a follower.
    let client = reqwest::Client::new();
    let r = send_from(
        &client,
        Method::POST,
        &format!("{}/api/v1/incidents", follower.base),
        Some("wrong-token"),
        Body::Json(&serde_json::json!({"name": "x", "body": "y"})),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
}

#[tokio::test]
async fn killing_the_leader_hands_over_within_failover() {
    let Some(db) = database("sigkill").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, config(&target.url, None)).unwrap();
    let mut a = Node::start(dir.path(), "a", &path, &db.url, &[]);
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start(dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    let b_id = b.id().await;
    eventually(WAIT, "b to follow a", || async {
        (b.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;

    a.signal("KILL");
    let killed = Instant::now();
    eventually(FAILOVER + TAKEOVER_MARGIN, "b to take over", || async {
        (b.leader().await.as_deref() == Some(b_id.as_str())).then_some(())
    })
    .await;
    let took = killed.elapsed();
    eprintln!("takeover after SIGKILL: {took:?} (failover {FAILOVER:?})");

    // The new leader checks…
    time_for_checks(&target, 2).await;
    // …publishes what it sees…
    target.set_status(503);
    b.wait_for_status("major_outage").await;
    // …and takes admin writes.
    let (status, created) = b
        .admin(
            Method::POST,
            "/api/v1/incidents",
            Some(&serde_json::json!({"name": "After the takeover", "body": "Still here."})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let state = b.cluster().await.unwrap();
    let roles: Vec<(String, String)> = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(b_id.clone(), "leader".to_owned())),
        "{state}"
    );
    assert!(
        !roles.contains(&(a_id.clone(), "leader".to_owned())),
        "{state}"
    );
}

#[tokio::test]
async fn a_leader_stopped_cleanly_hands_over_at_once() {
    let Some(db) = database("sigterm").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    // A long lease: only the leader giving it up explains a quick takeover.
    let text = config(&target.url, None).replace("failover = \"2s\"", "failover = \"30s\"");
    std::fs::write(&path, text).unwrap();
    let mut a = Node::start(dir.path(), "a", &path, &db.url, &[]);
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start(dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    let b_id = b.id().await;

    a.signal("TERM");
    let stopped = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = a.child.wait().unwrap();
        drop(a);
        status
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
    // b tries every 2 s (a fifth of 30 s, at most 2 s): well within the lease.
    eventually(Duration::from_secs(10), "b to take over", || async {
        (b.leader().await.as_deref() == Some(b_id.as_str())).then_some(())
    })
    .await;
    let took = stopped.elapsed();
    eprintln!("takeover after SIGTERM with a 30s lease: {took:?}");
    let state = b.cluster().await.unwrap();
    let a_row = state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == a_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(a_row["role"], "offline", "{state}");
}

impl Node {
    /// Waits until component `api` shows `want` on this node's page.
    async fn wait_for_status(&self, want: &str) {
        eventually(WAIT, &format!("api {want} on {}", self.base), || async {
            (self.api_status().await.as_deref() == Some(want)).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_leader_paused_past_its_lease_wakes_to_write_nothing() {
    let Some(db) = database("sigstop").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, config_with_monitors(&target.url, 20)).unwrap();
    // a's clock runs a day ahead, so every check result it writes is told apart from b's.
    let mut a = Node::start(
        dir.path(),
        "a",
        &path,
        &db.url,
        &[("PHAROS_CLOCK_OFFSET", "1d")],
    );
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start(dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    let b_id = b.id().await;
    let a_results = "SELECT COUNT(*) FROM check_results WHERE started_at > \
                     (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + 43200000";
    // Two rounds of every monitor: a's checks run steadily.
    eventually(WAIT, "a's results stored", || async {
        (db.query_i64(a_results).await >= 42).then_some(())
    })
    .await;

    // Paused just after a few checks, so that their results are still on their way to the
    // database (written every 250 ms), not just after a write.
    let hits = target.hits();
    eventually(WAIT, "a few more checks by a", || async {
        (target.hits() >= hits + 3).then_some(())
    })
    .await;
    a.signal("STOP");
    eventually(FAILOVER + TAKEOVER_MARGIN, "b to take over", || async {
        (b.leader().await.as_deref() == Some(b_id.as_str())).then_some(())
    })
    .await;
    // b leads, so whatever a wrote is stored by now (a transaction a was paused in ended when
    // it idled past the lease, before b could take over).
    let a_wrote = db.query_i64(a_results).await;
    // b checks and writes for a while as the leader.
    let b_results = "SELECT COUNT(*) FROM check_results WHERE started_at < \
                     (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + 43200000";
    let before = db.query_i64(b_results).await;
    eventually(WAIT, "b's results stored", || async {
        (db.query_i64(b_results).await >= before + 2).then_some(())
    })
    .await;

    // a wakes past its lease, with checks and writes due: it must write none of them.
    a.signal("CONT");
    eventually(WAIT, "a to follow b", || async {
        let c = a.cluster().await?;
        (c["leader"] == b_id.as_str()).then_some(())
    })
    .await;
    // a says it follows in its own row only once it has stopped its engine: nothing it held
    // can be written after this.
    let a_role = format!("SELECT role FROM cluster_nodes WHERE id = '{a_id}'");
    eventually(WAIT, "a to have stopped leading", || async {
        (db.query_string(&a_role).await == "follower").then_some(())
    })
    .await;
    // a was paused with results on their way to the database, and checked again as it woke:
    // none of them may be stored.
    assert_eq!(
        db.query_i64(a_results).await,
        a_wrote,
        "a wrote check results after waking"
    );
    let token = db
        .query_i64("SELECT token FROM cluster_lease WHERE name = 'leader'")
        .await;
    let view_token = db
        .query_i64("SELECT token FROM cluster_view WHERE name = 'status'")
        .await;
    assert_eq!(view_token, token, "the view is the new leader's");
    assert_eq!(
        self_declared_leaders(&[&a, &b]).await,
        vec![b_id.clone()],
        "one leader"
    );
    // And b carries on.
    time_for_checks(&target, 2).await;
}

#[test]
fn cluster_on_sqlite_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, "[cluster]\nfailover = \"2s\"\n").unwrap();
    let database = format!("sqlite://{}/pharos.db", dir.path().display());
    let out = Command::new(PHAROS)
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--database", &database])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[cluster] needs PostgreSQL") && stderr.contains("single-node"),
        "{stderr}"
    );
    assert!(!dir.path().join("pharos.db").exists(), "nothing created");

    // In the file itself, `validate` says so at the section.
    std::fs::write(
        &path,
        "[storage]\nurl = \"sqlite://x.db\"\n\n[cluster]\nfailover = \"2s\"\n",
    )
    .unwrap();
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":4:1: error: [cluster] needs PostgreSQL"),
        "{stderr}"
    );
}

#[test]
fn bad_cluster_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pharos.toml");
    std::fs::write(
        &path,
        "[cluster]\nfailover = \"500ms\"\nnode_id = \"a b\"\naddress = \"ftp://x\"\nleader = true\n",
    )
    .unwrap();
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        ":2:12: error: `failover` must be between 1s and 10m, found 500ms",
        ":3:11: error: `node_id` must be 1 to 64 letters",
        ":4:11: error: invalid `address`",
        ":5:1: error: unknown key `leader` in [cluster]",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
    std::fs::write(&path, "[cluster]\nfailover = \"soon\"\n").unwrap();
    let out = Command::new(PHAROS)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":2:12: error: `failover`: invalid duration"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_single_node_says_it_leads_alone() {
    let app = pharos_testkit::spawn_app(&Config::acme().admin("alice", TOKEN).build()).await;
    let r = crate::support::http::get(&app, "/api/v1/cluster", None).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = crate::support::http::get(&app, "/api/v1/cluster", Some(TOKEN)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let node = r.json["node"].as_str().unwrap();
    assert!(node.starts_with("node-"), "{}", r.json);
    assert_eq!(r.json["leader"], node);
    let nodes = r.json["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["role"], "leader");
    assert_eq!(nodes[0]["address"], app.base_url.as_str());
}

#[tokio::test]
async fn a_probe_talking_to_a_follower_reaches_the_leader_and_the_next_one() {
    const PROBE_TOKEN: &str = "cluster-probe-token-5e1b7c";
    let Some(db) = database("probe").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    let text = Config::acme()
        .admin("alice", TOKEN)
        .section("[cluster]\nfailover = \"2s\"")
        .component("db", "Database")
        .section(&format!(
            "[[locations]]\nid = \"eu-fr\"\nname = \"Europe (France)\"\ntokens = [\"{PROBE_TOKEN}\"]"
        ))
        .http_monitor("db", &format!("{}/", target.url), "db")
        .thresholds(1, 1)
        .with("locations = [\"eu-fr\"]")
        .build();
    std::fs::write(&path, text).unwrap();
    let mut a = Node::start(dir.path(), "a", &path, &db.url, &[]);
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start(dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    let b_id = b.id().await;

    // The probe knows only the follower: its long-polls and results pass through b to a.
    let log = std::fs::File::create(dir.path().join("probe.log")).unwrap();
    let _probe = Node {
        child: Command::new(PHAROS)
            .args(["probe", "--server", &b.base, "--location", "eu-fr"])
            .env("PHAROS_PROBE_TOKEN", PROBE_TOKEN)
            .env("PHAROS_LOG", "info")
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: String::new(),
    };
    // `db`'s health as seen from Europe, asked of `node`.
    let europe = |node: &Node| {
        let base = node.base.clone();
        async move {
            let (status, m) = admin_at(&base, Method::GET, "/api/v1/monitors/db", None).await;
            if status != 200 {
                return None;
            }
            m["locations"]
                .as_array()?
                .iter()
                .find(|l| l["id"] == "eu-fr")?["health"]
                .as_str()
                .map(str::to_owned)
        }
    };
    eventually(
        WAIT,
        "Europe to see db up, through the follower",
        || async { (europe(&b).await.as_deref() == Some("up")).then_some(()) },
    )
    .await;

    // The leader dies; the follower leads, and the probe's next requests are its own.
    a.signal("KILL");
    eventually(FAILOVER + TAKEOVER_MARGIN, "b to take over", || async {
        (b.leader().await.as_deref() == Some(b_id.as_str())).then_some(())
    })
    .await;
    target.set_status(503);
    eventually(WAIT, "Europe to see db down, on the new leader", || async {
        (europe(&b).await.as_deref() == Some("down")).then_some(())
    })
    .await;
    eventually(WAIT, "the outage on the new leader's page", || async {
        let s = b.summary().await?;
        let db = s["components"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == "db")?;
        (db["status"] == "major_outage").then_some(())
    })
    .await;
}

/// What a stream of writers saw acknowledged.
#[derive(Default, Debug)]
struct Acknowledged {
    pings: u64,
    probe_results: u64,
    incidents: Vec<String>,
    /// Requests answered otherwise (unavailable, timed out), by status (0: no answer): the
    /// sender keeps what they carried, which may or may not be stored.
    unanswered: std::collections::BTreeMap<u16, u64>,
}

/// What a writer sends, over and over.
#[derive(Clone, Copy)]
enum Write {
    /// A heartbeat ping.
    Ping,
    /// A probe's batch of one result.
    ProbeResult,
    /// A new incident.
    Incident,
}

/// Sends `what` to `base` until `stop`, one request at a time; counts what was acknowledged.
async fn keep_writing(
    base: String,
    what: Write,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Acknowledged {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut seen = Acknowledged::default();
    let mut n = 0u64;
    while !*stop.borrow() {
        n += 1;
        let request = match what {
            Write::Ping => client.post(format!("{base}/ping/{HEARTBEAT}")),
            Write::ProbeResult => {
                let now = chrono::Utc::now().to_rfc3339();
                client
                    .post(format!("{base}/api/v1/probe/results?location=eu&probe=p1"))
                    .bearer_auth(PROBE)
                    .json(
                        &serde_json::json!({"key": format!("batch-{n}"), "version": "test",
                        "sent_at": now, "results": [{"monitor_id": "remote", "started_at": now,
                        "duration_ms": 5, "outcome": "up"}]}),
                    )
            }
            Write::Incident => client
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"name": format!("Write {n}"), "body": "Stored?"})),
        };
        let (status, body) = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        };
        match (what, status) {
            (Write::Ping, 200) => seen.pings += 1,
            (Write::ProbeResult, 200) => {
                seen.probe_results += body["accepted"].as_u64().unwrap();
            }
            (Write::Incident, 201) => {
                seen.incidents.push(body["id"].as_str().unwrap().to_owned());
            }
            (_, status) => *seen.unanswered.entry(status).or_default() += 1,
        }
    }
    seen
}

const HEARTBEAT: &str = "cluster-heartbeat-token-0123456789";
const PROBE: &str = "cluster-probe-token-0123456789";

#[tokio::test]
async fn a_leader_cut_off_from_its_database_steps_down_and_loses_nothing_it_acknowledged() {
    let Some(db) = database("partition").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    let mut text = config(&target.url, None);
    text.push_str(&format!(
        "[[locations]]\nid = \"eu\"\nname = \"Europe\"\ntokens = [\"{PROBE}\"]\n\n\
         [[monitors]]\nid = \"remote\"\ntype = \"http\"\nurl = \"{}/remote\"\n\
         locations = [\"eu\"]\ncomponents = [\"api\"]\n\n\
         [[monitors]]\nid = \"job\"\ntype = \"heartbeat\"\ntoken = \"{HEARTBEAT}\"\n\
         period = \"1h\"\ncomponents = [\"api\"]\n",
        target.url
    ));
    std::fs::write(&path, text).unwrap();
    // a reaches PostgreSQL through a relay the test can cut; b directly.
    let upstream = reqwest::Url::parse(&db.url).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap_or(5432)
    );
    let relay = pharos_testkit::Relay::start(&upstream).await;
    let a_url = db.url.replacen(&upstream, &relay.addr, 1);
    assert_ne!(a_url, db.url, "the relay stands between a and the database");
    let mut a = Node::start(dir.path(), "a", &path, &a_url, &[]);
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start(dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    let b_id = b.id().await;
    eventually(WAIT, "b to follow a", || async {
        (b.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;

    // Writers keep sending to a, before and through the cut.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writers: Vec<_> = [Write::Ping, Write::ProbeResult, Write::Incident]
        .into_iter()
        .map(|what| tokio::spawn(keep_writing(a.base.clone(), what, stopped.clone())))
        .collect();
    eventually(WAIT, "writes acknowledged by a", || async {
        let n = db.query_i64("SELECT COUNT(*) FROM incidents").await;
        (n >= 20).then_some(())
    })
    .await;

    relay.cut();
    eventually(FAILOVER + TAKEOVER_MARGIN, "b to take over", || async {
        (b.leader().await.as_deref() == Some(b_id.as_str())).then_some(())
    })
    .await;
    // a cannot renew, so it stops leading by itself (its own view of the cluster needs the
    // database, so its log says it).
    let log = dir.path().join("a.log");
    eventually(WAIT, "a to stop leading", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("this node stops leading").then_some(())
    })
    .await;
    let _ = stop.send(true);
    let mut seen = Acknowledged::default();
    for w in writers {
        let s = w.await.unwrap();
        seen.pings += s.pings;
        seen.probe_results += s.probe_results;
        seen.incidents.extend(s.incidents);
        for (status, n) in s.unanswered {
            *seen.unanswered.entry(status).or_default() += n;
        }
    }
    eprintln!(
        "a acknowledged {} pings, {} probe results, {} incidents; unanswered by status: {:?}",
        seen.pings,
        seen.probe_results,
        seen.incidents.len(),
        seen.unanswered
    );
    assert!(seen.pings > 0 && seen.probe_results > 0 && !seen.incidents.is_empty());

    // Everything a acknowledged is stored, though a lost the database with writes on their
    // way to it.
    let ids: Vec<String> = seen.incidents.iter().map(|i| format!("'{i}'")).collect();
    let stored = db
        .query_i64(&format!(
            "SELECT COUNT(*) FROM incidents WHERE id IN ({})",
            ids.join(", ")
        ))
        .await;
    assert_eq!(
        stored as usize,
        seen.incidents.len(),
        "acknowledged incidents lost"
    );
    let checks = |monitor: &str| {
        format!(
            "SELECT COALESCE(SUM(checks), 0)::BIGINT FROM rollups \
             WHERE monitor_id = '{monitor}' AND granularity = 'd'"
        )
    };
    let pings = db.query_i64(&checks("job")).await;
    assert!(
        pings as u64 >= seen.pings,
        "{} pings acknowledged, {pings} stored",
        seen.pings
    );
    let results = db.query_i64(&checks("remote")).await;
    assert!(
        results as u64 >= seen.probe_results,
        "{} probe results acknowledged, {results} stored",
        seen.probe_results
    );

    // b leads and takes writes; once the link is back, a follows it.
    let (status, created) = b
        .admin(
            Method::POST,
            "/api/v1/incidents",
            Some(&serde_json::json!({"name": "After the partition", "body": "Still here."})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    relay.heal();
    eventually(WAIT, "a to follow b", || async {
        let c = a.cluster().await?;
        (c["leader"] == b_id.as_str()).then_some(())
    })
    .await;
    assert_eq!(
        self_declared_leaders(&[&a, &b]).await,
        vec![b_id.clone()],
        "one leader"
    );
}

/// Reads `stream` into `seen` until it contains `needle`, failing at `deadline`.
async fn read_until(
    stream: &mut reqwest::Response,
    seen: &mut String,
    needle: &str,
    deadline: tokio::time::Instant,
) {
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in the stream in time; got {seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended without {needle:?}; got {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_console_works_through_a_follower() {
    use crate::support::console::{browser, read, Page};
    const PASSWORD: &str = "correct horse battery staple";
    let Some(db) = database("console_follower").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start().await;
    let path = dir.path().join("pharos.toml");
    // The public URL is the follower's, as a load balancer's would be: the console's origin
    // check compares a form's `Origin` with it (the leader sees its own address as `Host`).
    let b_port = free_port();
    let public = format!("http://127.0.0.1:{b_port}");
    let text = format!(
        "{}\n[server]\npublic_url = \"{public}\"\n",
        config(&target.url, None)
    );
    std::fs::write(&path, text).unwrap();
    let mut a = Node::start(dir.path(), "a", &path, &db.url, &[]);
    a.wait_serving().await;
    let a_id = a.id().await;
    eventually(WAIT, "a to lead", || async {
        (a.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Node::start_on(b_port, dir.path(), "b", &path, &db.url, &[]);
    b.wait_serving().await;
    assert_eq!(b.base, public);
    eventually(WAIT, "b to follow a", || async {
        (b.leader().await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let b_id = b.id().await;
    assert_ne!(b_id, a_id);

    let store = pharos_store::Store::connect(&db.url).await.unwrap();
    pharos_server::people::add_user(
        &store,
        pharos_server::people::NewUser {
            kind: pharos_store::UserKind::Person,
            email: Some("owner@acme.test".into()),
            name: Some("Owner Person".into()),
            role: "owner".into(),
            time_zone: None,
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .unwrap();

    // Everything below goes to the follower only.
    let client = browser();
    let at = |p: &str| format!("{public}{p}");
    let get = |p: String| {
        let request = client.get(p);
        async move { read(request.send().await.unwrap()).await }
    };
    let submit = |p: &str, fields: &[(&str, &str)]| {
        let request = client
            .post(at(p))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", public.as_str())
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish(),
            );
        async move { read(request.send().await.unwrap()).await }
    };

    // Sign-in failures are counted for the client (whose address the follower vouches for),
    // and the refusal's Retry-After comes back.
    let mut refused: Option<Page> = None;
    for _ in 0..10 {
        let form = get(at("/console/sign-in")).await;
        assert_eq!(form.status, 200, "{}", form.text);
        let answer = submit(
            "/console/sign-in",
            &[
                ("csrf", &form.csrf()),
                ("email", "nobody@acme.test"),
                ("password", "wrong"),
            ],
        )
        .await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 401, "{}", answer.text);
    }
    let refused = refused.expect("sign-ins for one e-mail are limited");
    assert!(
        !refused.header("retry-after").is_empty(),
        "{:?}",
        refused.headers
    );

    // Signing in: the form's CSRF cookie and field, `Origin` the public URL; the answer's two
    // cookies (the session, the CSRF cookie cleared) both come back.
    let form = get(at("/console/sign-in")).await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(
        form.set_cookie("pharos_csrf").is_some(),
        "{:?}",
        form.headers
    );
    let signed = submit(
        "/console/sign-in",
        &[
            ("csrf", &form.csrf()),
            ("email", "owner@acme.test"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.header("location"), "/console");
    assert!(
        signed.set_cookie("pharos_session").is_some(),
        "{:?}",
        signed.headers
    );
    assert!(
        signed
            .set_cookie("pharos_csrf")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{:?}",
        signed.headers
    );
    let home = get(at("/console")).await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert!(home.text.contains("Owner Person"), "{}", home.text);
    let csrf = home.csrf();

    // Declaring an incident with the console's form: 303 to its page.
    let declared = submit(
        "/console/incidents",
        &[
            ("csrf", &csrf),
            ("name", "Checkout errors via a follower"),
            ("status", "investigating"),
            ("body", "Looking into it."),
            ("public", "on"),
            ("action", "declare"),
        ],
    )
    .await;
    assert_eq!(declared.status, 303, "{}", declared.text);
    let location = declared.header("location").to_owned();
    let id = location
        .strip_prefix("/console/incidents/")
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    assert!(!id.is_empty() && !id.contains('/'), "{location}");

    // The incident's page, gzipped by the leader for a client that takes gzip, arrives
    // gzipped and whole (this client does not decode: the bytes are the leader's).
    let page = client
        .get(at(&location))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "gzip");
    assert!(
        page.headers().get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")),
        "{:?}",
        page.headers()
    );
    let gz = page.bytes().await.unwrap();
    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut html)
        .expect("a whole gzip body");
    assert!(html.contains("Checkout errors via a follower"), "{html}");
    assert!(html.contains(&format!(r#"data-live="/console/incidents/{id}/events""#)));
    assert!(html.trim_end().ends_with("</html>"), "{html}");

    // The live stream, through the follower: the first event at once, and an update posted
    // meanwhile (through the follower's admin API) within seconds, long before the stream's
    // five minutes are up.
    let mut stream = client
        .get(at(&format!("/console/incidents/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "Looking into it.", deadline()).await;
    assert!(seen.contains("event: incident"), "{seen}");
    let (status, update) = b
        .admin(
            Method::POST,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(&serde_json::json!({"status": "monitoring", "body": "Draining the queue."})),
        )
        .await;
    assert_eq!(status, 201, "{update}");
    let before = seen.len();
    read_until(&mut stream, &mut seen, "Draining the queue.", deadline()).await;
    assert!(seen[before..].contains("event: incident"), "{seen}");
}
