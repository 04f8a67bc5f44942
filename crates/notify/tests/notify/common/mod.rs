//! Shared by the notify tests: events with fixed times and ids, notifiers for every channel
//! with recognisable secrets, and a real local HTTP receiver.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use pharos_domain::incident::{AffectedChange, PublicUpdate};
use pharos_domain::{
    Actor, ComponentId, ComponentStatus, Impact, Incident, IncidentId, IncidentStatus, Indicator,
    Maintenance, MaintenanceStatus, Severity,
};
use pharos_notify::{Channel, ComponentContext, Event, EventKind, Notifier, PageContext, Route};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cid(s: &str) -> ComponentId {
    ComponentId::new(s).unwrap()
}

fn iid(s: &str) -> IncidentId {
    IncidentId::new(s).unwrap()
}

pub fn page(indicator: Indicator, description: &str) -> PageContext {
    PageContext {
        id: "example".into(),
        name: "Example Inc.".into(),
        url: "https://status.example.com".into(),
        time_zone: "America/Denver".into(),
        status_indicator: indicator,
        status_description: description.into(),
    }
}

pub fn api(status: ComponentStatus) -> ComponentContext {
    ComponentContext {
        id: cid("api"),
        name: "API".into(),
        group: Some("Core services".into()),
        status,
        created_at: t("2025-06-01T12:00:00Z"),
    }
}

pub fn db(status: ComponentStatus) -> ComponentContext {
    ComponentContext {
        id: cid("db"),
        name: "Database".into(),
        group: None,
        status,
        created_at: t("2025-06-01T12:00:00Z"),
    }
}

fn opened_incident() -> Incident {
    Incident {
        id: iid("k3v9x0q2m7ab"),
        name: "Major outage of API".into(),
        status: IncidentStatus::Investigating,
        impact_override: None,
        computed_impact: Impact::Critical,
        severity: Some(Severity::S2),
        components: BTreeMap::from([(cid("api"), ComponentStatus::MajorOutage)]),
        pending_components: BTreeMap::new(),
        monitors: BTreeMap::new(),
        public: true,
        automated: true,
        human_owned: false,
        roles: BTreeMap::new(),
        created_at: t("2026-01-05T21:03:00.123Z"),
        updated_at: t("2026-01-05T21:03:00.123Z"),
        started_at: t("2026-01-05T21:02:30Z"),
        monitoring_at: None,
        resolved_at: None,
        first_failure_at: Some(t("2026-01-05T21:02:30Z")),
        published_at: Some(t("2026-01-05T21:03:00.123Z")),
        healthy_since: None,
        alerts: Default::default(),
        acknowledged: None,
        updates: vec![PublicUpdate {
            id: iid("u1opened"),
            status: IncidentStatus::Investigating,
            body: "We are investigating a major outage of API: 3 consecutive checks failed: connection refused".into(),
            created_at: t("2026-01-05T21:03:00.123Z"),
            actor: Actor::Automation,
            affected: vec![AffectedChange {
                component_id: cid("api"),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            }],
        }],
    }
}

pub fn incident_opened() -> Event {
    Event {
        id: "ev1x1".into(),
        kind: EventKind::IncidentOpened,
        at: t("2026-01-05T21:03:00.123Z"),
        page: page(Indicator::Critical, "Major System Outage"),
        incident: Some(opened_incident()),
        maintenance: None,
        component_change: None,
        components: vec![api(ComponentStatus::MajorOutage)],
        location: None,
    }
}

pub fn incident_resolved() -> Event {
    let mut i = opened_incident();
    i.status = IncidentStatus::Resolved;
    i.components
        .insert(cid("api"), ComponentStatus::Operational);
    i.updated_at = t("2026-01-05T21:41:07.500Z");
    i.resolved_at = Some(t("2026-01-05T21:41:07.500Z"));
    i.monitoring_at = Some(t("2026-01-05T21:30:00Z"));
    i.healthy_since = Some(t("2026-01-05T21:31:07Z"));
    i.updates.push(PublicUpdate {
        id: iid("u2resolved"),
        status: IncidentStatus::Resolved,
        body: "This incident has been resolved.".into(),
        created_at: t("2026-01-05T21:41:07.500Z"),
        actor: Actor::Person("alice".into()),
        affected: vec![AffectedChange {
            component_id: cid("api"),
            old_status: ComponentStatus::MajorOutage,
            new_status: ComponentStatus::Operational,
        }],
    });
    Event {
        id: "ev1x2".into(),
        kind: EventKind::IncidentResolved,
        at: t("2026-01-05T21:41:07.500Z"),
        page: page(Indicator::None, "All Systems Operational"),
        incident: Some(i),
        maintenance: None,
        component_change: None,
        components: vec![api(ComponentStatus::Operational)],
        location: None,
    }
}

pub fn maintenance_started() -> Event {
    let m = Maintenance {
        id: iid("m7maint01"),
        config_id: Some("db-upgrade".into()),
        name: "Database upgrade".into(),
        status: MaintenanceStatus::InProgress,
        components: vec![cid("db")],
        scheduled_for: t("2026-01-06T09:00:00Z"),
        scheduled_until: t("2026-01-06T11:00:00Z"),
        auto_start: true,
        auto_complete: true,
        created_at: t("2026-01-02T16:00:00Z"),
        updated_at: t("2026-01-06T09:00:00.250Z"),
        started_at: Some(t("2026-01-06T09:00:00.250Z")),
        completed_at: None,
        updates: vec![
            PublicUpdate {
                id: iid("u3scheduled"),
                status: MaintenanceStatus::Scheduled,
                body: "We will upgrade the database. Writes may be slow for up to two hours."
                    .into(),
                created_at: t("2026-01-02T16:00:00Z"),
                actor: Actor::Person("bob".into()),
                affected: vec![],
            },
            PublicUpdate {
                id: iid("u4started"),
                status: MaintenanceStatus::InProgress,
                body: "Scheduled maintenance is currently in progress.".into(),
                created_at: t("2026-01-06T09:00:00.250Z"),
                actor: Actor::Automation,
                affected: vec![AffectedChange {
                    component_id: cid("db"),
                    old_status: ComponentStatus::Operational,
                    new_status: ComponentStatus::UnderMaintenance,
                }],
            },
        ],
    };
    Event {
        id: "ev1x3".into(),
        kind: EventKind::MaintenanceStarted,
        at: t("2026-01-06T09:00:00.250Z"),
        page: page(Indicator::Maintenance, "Service Under Maintenance"),
        incident: None,
        maintenance: Some(m),
        component_change: None,
        components: vec![db(ComponentStatus::UnderMaintenance)],
        location: None,
    }
}

pub fn component_changed() -> Event {
    Event {
        id: "ev1x4".into(),
        kind: EventKind::ComponentStatus,
        at: t("2026-01-05T21:02:59.900Z"),
        page: page(Indicator::Critical, "Major System Outage"),
        incident: None,
        maintenance: None,
        component_change: Some(AffectedChange {
            component_id: cid("api"),
            old_status: ComponentStatus::Operational,
            new_status: ComponentStatus::MajorOutage,
        }),
        components: vec![api(ComponentStatus::MajorOutage)],
        location: None,
    }
}

/// Every event the tests use, by name.
pub fn events() -> Vec<(&'static str, Event)> {
    vec![
        ("incident_opened", incident_opened()),
        ("incident_resolved", incident_resolved()),
        ("maintenance_started", maintenance_started()),
        ("component_status", component_changed()),
    ]
}

/// Recognisable secrets, none of which may ever leak.
pub const WEBHOOK_SECRET: &str = "whsec-very-secret-signing-key";
pub const SLACK_PATH: &str = "/services/T0SECRET/B0SECRET/slacksecrettoken";
pub const DISCORD_PATH: &str = "/api/webhooks/1234567890/discordsecrettoken";
pub const TEAMS_PATH: &str = "/workflows/teamssecretsignature";
pub const NTFY_TOPIC: &str = "acme-status-secrettopic";
pub const NTFY_TOKEN: &str = "tk_ntfysecrettoken";
pub const ROUTING_KEY: &str = "R0UTINGKEYsecret0123456789abcdef";

/// Every secret configured by [`notifiers`].
pub const SECRETS: [&str; 7] = [
    WEBHOOK_SECRET,
    "slacksecrettoken",
    "discordsecrettoken",
    "teamssecretsignature",
    "secrettopic",
    NTFY_TOKEN,
    ROUTING_KEY,
];

pub fn notifier(id: &str, channel: Channel, timeout: Duration) -> Notifier {
    Notifier {
        id: id.into(),
        channel,
        route: Route::default(),
        timeout,
        concurrency: 1,
    }
}

/// One notifier per channel, all sending to `base` (e.g. `http://127.0.0.1:1234`).
pub fn notifiers(base: &str, timeout: Duration) -> Vec<Notifier> {
    vec![
        notifier(
            "hook",
            Channel::Webhook {
                url: format!("{base}/hooks/pharos"),
                secret: Some(WEBHOOK_SECRET.into()),
            },
            timeout,
        ),
        notifier(
            "slack",
            Channel::Slack {
                url: format!("{base}{SLACK_PATH}"),
            },
            timeout,
        ),
        notifier(
            "discord",
            Channel::Discord {
                url: format!("{base}{DISCORD_PATH}"),
            },
            timeout,
        ),
        notifier(
            "teams",
            Channel::Teams {
                url: format!("{base}{TEAMS_PATH}"),
            },
            timeout,
        ),
        notifier(
            "ntfy",
            Channel::Ntfy {
                url: format!("{base}/{NTFY_TOPIC}"),
                token: Some(NTFY_TOKEN.into()),
            },
            timeout,
        ),
        notifier(
            "pd",
            Channel::PagerDuty {
                routing_key: ROUTING_KEY.into(),
                url: format!("{base}/v2/enqueue"),
            },
            timeout,
        ),
    ]
}

/// A client as the engine builds it: redirects are never followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What a receiver does with the next requests.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer `status` with `body` (and `headers`) after `delay`.
    Answer {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
        delay: Duration,
    },
    /// Answer `status` with the request's headers and body echoed back.
    Echo { status: u16 },
    /// Read the request, then close the connection without answering.
    Close,
    /// Answer 302 to `/final` everywhere but at `/final`, which answers 200.
    RedirectToFinal,
}

impl Behavior {
    pub fn status(status: u16, body: &str) -> Behavior {
        Behavior::Answer {
            status,
            body: body.into(),
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A real HTTP/1.1 server on 127.0.0.1:0 (hyper), recording every request.
pub struct Receiver {
    pub addr: SocketAddr,
    behavior: Arc<Mutex<Behavior>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(behavior: Behavior) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let behavior = Arc::new(Mutex::new(behavior));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (b, r) = (behavior.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let current = b.lock().unwrap().clone();
                if let Behavior::Close = current {
                    tokio::spawn(async move {
                        read_request(&mut sock).await;
                        drop(sock);
                    });
                    continue;
                }
                let r = r.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let r = r.clone();
                        let current = current.clone();
                        async move { Ok::<_, hyper::Error>(answer(req, &r, current).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            behavior,
            requests,
            task,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, behavior: Behavior) {
        *self.behavior.lock().unwrap() = behavior;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

async fn answer(
    req: Request<Incoming>,
    log: &Mutex<Vec<Recorded>>,
    behavior: Behavior,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    log.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.to_string()),
        headers: headers.clone(),
        body: body.to_vec(),
    });
    let (status, text, extra) = match behavior {
        Behavior::Answer {
            status,
            body,
            headers,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            (status, body.into_bytes(), headers)
        }
        Behavior::Echo { status } => {
            let mut echo = Vec::new();
            for (n, v) in &headers {
                echo.extend_from_slice(format!("{n}: {v} ").as_bytes());
            }
            echo.extend_from_slice(&body);
            (status, echo, vec![])
        }
        Behavior::RedirectToFinal if parts.uri.path() == "/final" => (200, vec![], vec![]),
        Behavior::RedirectToFinal => (302, vec![], vec![("location".into(), "/final".into())]),
        Behavior::Close => unreachable!("closed before hyper"),
    };
    let mut response = Response::builder().status(status);
    for (n, v) in extra {
        response = response.header(n, v);
    }
    response.body(Full::new(Bytes::from(text))).unwrap()
}

/// Reads one request (headers and a `Content-Length` body) off a raw socket.
async fn read_request(sock: &mut tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return;
            }
        }
    }
}

/// Why a delivery failed (panics when it was sent).
pub fn reason(o: &pharos_notify::Outcome) -> &str {
    match o {
        pharos_notify::Outcome::Failed { reason } => reason,
        pharos_notify::Outcome::Sent => panic!("expected a failure, got Sent"),
    }
}
