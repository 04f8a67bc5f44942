//! The pages in a real browser: headless Chromium loads `/` and `/incidents/{id}` from a real
//! socket, with an update body full of script payloads that would mark the page if any ran.
//! Both are served hardened, under the real Content-Security-Policy. Our own script must run
//! (it rewrites the time-zone note), theirs must not. And the page on a
//! phone: 390 px wide, driven through the DevTools protocol like a person with a keyboard and a
//! finger (30 bars, each day's detail reachable, nothing wider than the screen).
//!
//! Runs when Chromium is found: `PHAROS_TEST_CHROMIUM` (which `.ci/run` sets after installing
//! it), else `chromium`, `chromium-browser` or `google-chrome` on the PATH. Without one the tests
//! say so and pass, like the PostgreSQL suite without its database, except under CI (`CI` set),
//! where a missing browser fails them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pharos_web::{harden, router, Hardening, Snapshot, WebState};
use serde_json::{json, Value};

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

/// The browser, or `None` after saying the test is skipped; under CI a missing browser fails.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no Chromium found under CI: .ci/run installs it and sets PHAROS_TEST_CHROMIUM"
        );
        eprintln!("note: no Chromium found (set PHAROS_TEST_CHROMIUM); browser test skipped");
    }
    found
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
    let Some(browser) = chromium_or_skip() else {
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
    let server = tokio::spawn(async move {
        axum::serve(listener, harden(router(state), Hardening::default())).await
    });

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
            dom.contains("Times in your zone (UTC). </span><button type=\"button\">Use America/Denver</button>"),
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

/// Longest wait for any one answer from the browser.
const CDP_WAIT: Duration = Duration::from_secs(30);

/// Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe`: the
/// browser reads commands on its file descriptor 3 and writes answers on 4, each a JSON text
/// ended by a NUL byte. A shell maps our pipes onto those descriptors, so no unsafe code and
/// no WebSocket client is needed. Commands go to one page (a flattened session).
struct Cdp {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Cdp {
    /// A fresh browser with one blank page.
    fn launch(browser: &Path) -> Cdp {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = buf.drain(..=end).collect();
                    let Ok(value) = serde_json::from_slice(&message[..end]) else {
                        continue;
                    };
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        let mut cdp = Cdp {
            child,
            stdin,
            messages,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = cdp.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        cdp.session = attached["sessionId"].as_str().unwrap().to_owned();
        cdp
    }

    /// Sends `method` (to the page once attached) and returns its result; an error fails.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.stdin.write_all(&bytes).unwrap();
        self.stdin.flush().unwrap();
        let deadline = Instant::now() + CDP_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no answer to {method} within {CDP_WAIT:?}: {e}"));
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page (returned by value).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Loads `url` and waits until it has loaded.
    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + CDP_WAIT;
        while self.eval("location.href") != json!(url)
            || self.eval("document.readyState") != json!("complete")
        {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses and releases one key (`key`, DOM `code`, Windows key code).
    fn press(&mut self, key: &str, code: &str, key_code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": code,
                       "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code}),
            );
        }
    }

    fn tab(&mut self) {
        self.press("Tab", "Tab", 9);
    }

    /// Taps the middle of the element the JavaScript expression `element` gives (touch
    /// emulation must be on).
    fn tap(&mut self, element: &str) {
        let at = self.eval(&format!(
            "(()=>{{const r=({element}).getBoundingClientRect();\
             return [r.x+r.width/2,r.y+r.height/2]}})()"
        ));
        let point = json!([{"x": at[0], "y": at[1]}]);
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": point}),
        );
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        );
    }

    /// The accessible name of the focused element, as a screen reader gets it.
    fn focused_accessible_name(&mut self) -> String {
        let root = self.call("DOM.getDocument", json!({"depth": 0}));
        let node = self.call(
            "DOM.querySelector",
            json!({"nodeId": root["root"]["nodeId"], "selector": ":focus"}),
        );
        let tree = self.call(
            "Accessibility.getPartialAXTree",
            json!({"nodeId": node["nodeId"], "fetchRelatives": false}),
        );
        tree["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ignored"] != json!(true))
            .map(|n| n["name"]["value"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        self.session.clear();
        let _ = self
            .stdin
            .write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the focused element is: `[row, index, visible bars in the row, detail box]` when it is
/// an uptime bar, else `null`. The detail box is `[left, top, width, height]` of its text.
const FOCUSED_BAR: &str = "(()=>{const b=document.activeElement;if(!b||!b.parentElement||\
    !b.parentElement.classList.contains('bars'))return null;\
    const rows=[...document.querySelectorAll('.bars')],row=b.parentElement,\
    all=[...row.children],vis=all.filter(x=>x.offsetParent!==null),\
    r=b.firstElementChild.getBoundingClientRect();\
    return [rows.indexOf(row),all.indexOf(b),vis.length,[r.left,r.top,r.width,r.height]]})()";

/// Presses Tab until an uptime bar has focus; returns [`FOCUSED_BAR`].
fn tab_to_a_bar(cdp: &mut Cdp) -> Value {
    for _ in 0..40 {
        cdp.tab();
        let bar = cdp.eval(FOCUSED_BAR);
        if !bar.is_null() {
            return bar;
        }
    }
    panic!("40 presses of Tab never reached an uptime bar");
}

/// The detail of the focused bar is on screen, whole, and says `starts`.
fn assert_detail_shown(cdp: &mut Cdp, bar: &Value, starts: &str) {
    let [left, top, width, height] = [0, 1, 2, 3].map(|i| bar[3][i].as_f64().unwrap());
    let viewport = cdp.eval("innerWidth").as_f64().unwrap();
    assert!(
        width > 100.0 && height > 10.0,
        "the detail is not shown: {bar}"
    );
    assert!(
        left >= 0.0 && left + width <= viewport && top >= 0.0,
        "the detail leaves the screen: {bar}"
    );
    let text = cdp.eval("document.activeElement.textContent");
    assert!(
        text.as_str().unwrap().starts_with(starts),
        "{text} should start with {starts}"
    );
    // A screen reader reads the same detail as the bar's name.
    assert_eq!(cdp.focused_accessible_name(), text.as_str().unwrap());
}

/// The page of [`common::view`] with long names, so wrapping shows, and an accent colour.
fn phone_view() -> pharos_engine::StatusView {
    let mut view = common::view();
    view.page.branding.accent_color = Some("#6f42c1".into());
    for c in &mut view.components {
        match c.id.as_str() {
            "api" => c.name = "Core API and developer platform services".into(),
            "api-rest" => c.name = "REST API for partners (v1 and v2)".into(),
            "emails" => c.name = "Transactional status notification e-mails".into(),
            _ => {}
        }
    }
    view
}

#[tokio::test]
async fn on_a_phone_thirty_bars_show_and_every_days_detail_is_reachable() {
    let Some(browser) = chromium_or_skip() else {
        return;
    };
    let state = WebState::new(Snapshot::build(&phone_view()), String::new);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, harden(router(state), Hardening::default())).await
    });
    let url = format!("http://{addr}/");

    tokio::task::spawn_blocking(move || {
        for script in [true, false] {
            let mut cdp = Cdp::launch(&browser);
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
            );
            cdp.call(
                "Emulation.setTouchEmulationEnabled",
                json!({"enabled": true, "maxTouchPoints": 1}),
            );
            cdp.call(
                "Emulation.setScriptExecutionDisabled",
                json!({"value": !script}),
            );
            cdp.open(&url);
            let with = if script { "with script" } else { "without script" };
            assert_eq!(cdp.eval("innerWidth"), json!(390), "{with}");

            // Under the real Content-Security-Policy the accent colour arrives from /theme.css.
            assert_eq!(
                cdp.eval("getComputedStyle(document.documentElement).getPropertyValue('--accent')"),
                json!("#6f42c1"),
                "{with}"
            );
            // Nothing is wider than the screen.
            let widths = cdp.eval("[document.documentElement.scrollWidth, innerWidth]");
            assert!(widths[0].as_f64() <= widths[1].as_f64(), "{with}: {widths}");
            // Six components, each showing exactly its newest 30 days, and saying so.
            let shown = cdp.eval(
                "[...document.querySelectorAll('.bars')].map(r=>{const all=[...r.children];\
                 return all.map((b,i)=>b.offsetParent!==null&&b.getBoundingClientRect().width>0?i:-1)\
                 .filter(i=>i>=0)})",
            );
            let rows = shown.as_array().unwrap();
            assert_eq!(rows.len(), 6, "{with}");
            for row in rows {
                let expected: Vec<Value> = (60..90).map(|i| json!(i)).collect();
                assert_eq!(row.as_array().unwrap(), &expected, "{with}");
            }
            let legends = cdp.eval(
                "[...document.querySelectorAll('.legend')].map(l=>l.innerText.replace(/\\s+/g,' '))",
            );
            for legend in legends.as_array().unwrap() {
                let legend = legend.as_str().unwrap();
                assert!(
                    legend.starts_with("30 days ago ") && legend.ends_with(" Today"),
                    "{with}: {legend}"
                );
            }
            // Rows wrap cleanly: each status label sits on one line beside the first line of
            // its name, inside the card; a long name keeps at least 45 % of the row and its
            // lines start at one edge (a group's name does not wrap back under its arrow).
            let heads = cdp.eval(
                "[...document.querySelectorAll('.head')].map(h=>{const name=h.querySelector('.name'),\
                 text=[...name.childNodes].find(x=>x.nodeType===3),range=document.createRange();\
                 range.selectNodeContents(text);const lines=[...range.getClientRects()],\
                 s=h.querySelector('.status'),sr=s.getBoundingClientRect(),\
                 hr=h.getBoundingClientRect(),card=h.closest('.card').getBoundingClientRect();\
                 return [text.textContent,s.getClientRects().length,\
                 Math.abs(sr.top-lines[0].top)<8,sr.left>=Math.max(...lines.map(l=>l.right)),\
                 sr.right<=card.right,lines.every(l=>Math.abs(l.left-lines[0].left)<1),\
                 (sr.left-hr.left)/hr.width>=0.45]})",
            );
            assert_eq!(heads.as_array().unwrap().len(), 7, "{with}");
            for head in heads.as_array().unwrap() {
                assert_eq!(head[1], json!(1), "{with}: status wraps: {head}");
                assert_eq!(head[2], json!(true), "{with}: status not beside the name: {head}");
                assert_eq!(head[3], json!(true), "{with}: overlap: {head}");
                assert_eq!(head[4], json!(true), "{with}: overflow: {head}");
                assert_eq!(head[5], json!(true), "{with}: ragged name lines: {head}");
                assert_eq!(head[6], json!(true), "{with}: the name is squeezed: {head}");
            }

            // The keyboard reaches the bars, and each shows its day.
            let bar = tab_to_a_bar(&mut cdp);
            if script {
                // One stop per row, on today; the arrows walk the visible days.
                assert_eq!((&bar[0], &bar[1], &bar[2]), (&json!(0), &json!(89), &json!(30)));
                assert_detail_shown(&mut cdp, &bar, "Mar 31, 2026");
                for _ in 0..29 {
                    cdp.press("ArrowLeft", "ArrowLeft", 37);
                }
                let bar = cdp.eval(FOCUSED_BAR);
                assert_eq!(bar[1], json!(60), "ArrowLeft walked to the oldest shown day");
                assert_detail_shown(&mut cdp, &bar, "Mar 2, 2026");
                cdp.press("ArrowLeft", "ArrowLeft", 37);
                assert_eq!(cdp.eval(FOCUSED_BAR)[1], json!(60), "a hidden day got focus");
                cdp.press("End", "End", 35);
                assert_eq!(cdp.eval(FOCUSED_BAR)[1], json!(89));
                cdp.press("Home", "Home", 36);
                assert_eq!(cdp.eval(FOCUSED_BAR)[1], json!(60));
                // Tab leaves the row (for the group's summary) and reaches the next row on
                // today again.
                cdp.tab();
                assert!(cdp.eval(FOCUSED_BAR).is_null());
                let next = tab_to_a_bar(&mut cdp);
                assert_eq!((&next[0], &next[1]), (&json!(1), &json!(89)), "{next}");
            } else {
                // Without script every shown day is a stop, oldest first.
                assert_eq!((&bar[0], &bar[1]), (&json!(0), &json!(60)));
                assert_detail_shown(&mut cdp, &bar, "Mar 2, 2026");
                cdp.tab();
                assert_eq!(cdp.eval(FOCUSED_BAR)[1], json!(61));
            }

            // A finger reaches a day too: the fourth row of bars is Search, down today.
            cdp.tap("document.querySelector('.banner')");
            assert!(cdp.eval(FOCUSED_BAR).is_null());
            cdp.tap("document.querySelectorAll('.bars')[3].lastElementChild");
            // The click a tap makes may come a moment after the touch ends.
            let deadline = Instant::now() + CDP_WAIT;
            let bar = loop {
                let bar = cdp.eval(FOCUSED_BAR);
                if !bar.is_null() {
                    break bar;
                }
                assert!(Instant::now() < deadline, "{with}: a tap did not reach the bar");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_detail_shown(&mut cdp, &bar, "Mar 31, 2026: Major outage");
        }
    })
    .await
    .unwrap();
    server.abort();
}
