//! The Node.js side of the tests (`tests/browser`): finding Node.js and the harness's pinned
//! packages, skipping visibly without them, and running the real OpenID provider
//! (`oidc-server.mjs`, the npm `oidc-provider`) as a child process.
//!
//! Needs Node.js 20.19 or later (`node` on the PATH, or `PHAROS_TEST_NODE`) and the harness's
//! packages (`npm ci` in `tests/browser`, which `.ci/run` does before exporting
//! `PHAROS_TEST_NODE_MODULES`). Without them a test prints `SKIPPED …` with what is missing
//! and passes, except under CI (`CI` set) or when `PHAROS_TEST_NODE_MODULES` says the harness
//! was installed, where a missing piece fails it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The oldest Node.js the pinned packages run on (`engines` in tests/browser/package.json).
pub const NODE_MIN: (u32, u32) = (20, 19);
/// Longest the provider may take to print its ready line.
const PROVIDER_START: Duration = Duration::from_secs(30);

/// The harness's folder, `tests/browser`.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// A path from the environment; set but empty counts as not set.
pub fn given(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The first of `names` found on the PATH.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// `Some(reason)` when `node` is missing or older than [`NODE_MIN`].
pub fn node_problem(node: &Path) -> Option<String> {
    let out = match Command::new(node).arg("--version").output() {
        Ok(out) if out.status.success() => out,
        _ => return Some(format!("Node.js ({} does not run)", node.display())),
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (found < NODE_MIN).then(|| {
        format!(
            "Node.js {}.{} or later ({} is {version})",
            NODE_MIN.0,
            NODE_MIN.1,
            node.display()
        )
    })
}

/// `Some(reason)` when the packages pinned in package.json are not installed at their pins
/// (never installed, or installed before the pins changed).
pub fn packages_problem(dir: &Path) -> Option<String> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("package.json")).unwrap()).unwrap();
    let mut stale = Vec::new();
    for (name, pinned) in manifest["dependencies"].as_object().unwrap() {
        let installed = std::fs::read(dir.join("node_modules").join(name).join("package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if installed.as_deref() != pinned.as_str() {
            stale.push(format!(
                "{name} {} (installed: {})",
                pinned.as_str().unwrap_or("?"),
                installed.as_deref().unwrap_or("none")
            ));
        }
    }
    (!stale.is_empty()).then(|| {
        format!(
            "the harness's packages (`npm ci` in tests/browser): {}",
            stale.join(", ")
        )
    })
}

/// Whether a missing piece of the harness must fail the test (under CI, or when `.ci/run`
/// said the harness is installed) rather than skip it; checks that
/// `PHAROS_TEST_NODE_MODULES`, when set, names the harness's own packages.
pub fn harness_required(dir: &Path) -> bool {
    let installed = given("PHAROS_TEST_NODE_MODULES");
    if let Some(modules) = &installed {
        // The scripts load their packages from beside them; any other folder is not theirs.
        assert_eq!(
            modules.canonicalize().ok(),
            Some(dir.join("node_modules")),
            "PHAROS_TEST_NODE_MODULES names {} but the harness loads {}",
            modules.display(),
            dir.join("node_modules").display()
        );
    }
    std::env::var_os("CI").is_some() || installed.is_some()
}

/// Node.js with the harness's packages, for a test that needs no browser.
pub struct NodeHarness {
    /// `tests/browser`.
    pub dir: PathBuf,
    /// The `node` to run.
    pub node: PathBuf,
}

/// Node.js and the harness's packages, or `None` after saying `area::test` is skipped and
/// why (failing instead where [`harness_required`]).
pub fn node_or_skip(area: &str, test: &str) -> Option<NodeHarness> {
    let dir = harness_dir().canonicalize().unwrap();
    let node = given("PHAROS_TEST_NODE").or_else(|| on_path(&["node"]));
    let mut missing = Vec::new();
    match &node {
        None => missing.push("Node.js (`node` on the PATH or PHAROS_TEST_NODE)".to_owned()),
        Some(node) => missing.extend(node_problem(node)),
    }
    missing.extend(packages_problem(&dir));
    let required = harness_required(&dir);
    if missing.is_empty() {
        return Some(NodeHarness {
            dir,
            node: node.unwrap(),
        });
    }
    assert!(
        !required,
        "{test}: the Node.js harness is incomplete under CI: needs {}; .ci/run installs it all",
        missing.join("; ")
    );
    eprintln!(
        "SKIPPED {area}::{test}: needs {} (README, For developers: the browser tests)",
        missing.join("; ")
    );
    None
}

/// The real OpenID provider, running until dropped (then killed; it also exits when its
/// stdin, a pipe from this process, closes).
pub struct OidcProvider {
    child: Child,
    /// Its issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
    /// Its port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts `oidc-server.mjs` with `config` (the shape of `DEFAULT_CONFIG` in
    /// `tests/browser/lib/oidc.mjs`) and waits for its ready line.
    pub fn start(harness: &NodeHarness, config: &Value) -> OidcProvider {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oidc.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let mut child = Command::new(&harness.node)
            .arg(harness.dir.join("oidc-server.mjs"))
            .arg("--config")
            .arg(&file)
            .current_dir(&harness.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut provider = OidcProvider {
            child,
            issuer: String::new(),
            port: 0,
            _dir: dir,
        };
        let line = rx.recv_timeout(PROVIDER_START).unwrap_or_else(|_| {
            panic!("oidc-server.mjs printed no ready line in {PROVIDER_START:?}")
        });
        let ready: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|_| panic!("oidc-server.mjs did not start: {line:?}"));
        provider.issuer = ready["issuer"].as_str().unwrap().to_owned();
        provider.port = u16::try_from(ready["port"].as_u64().unwrap()).unwrap();
        provider
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
