//! Every channel's request for an incident opened and resolved, a maintenance started and a
//! component change, rendered without a network and pinned with insta snapshots; and the
//! words messages use.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use pharos_notify::{Message, RenderedRequest};
use serde_json::{json, Value};

const BASE: &str = "https://hooks.example.net";

fn view(r: &Option<RenderedRequest>) -> Value {
    match r {
        None => Value::Null,
        Some(r) => json!({
            "url": r.url,
            "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
            "body": r.json().unwrap(),
        }),
    }
}

#[test]
fn payload_snapshots() {
    let now = t("2026-01-05T21:03:01Z");
    for n in notifiers(BASE, Duration::from_secs(10)) {
        for (name, event) in events() {
            let rendered = n.render("ev1-delivery", &event, now).unwrap();
            insta::assert_json_snapshot!(
                format!("{}__{name}", n.channel.type_name()),
                view(&rendered)
            );
        }
    }
}

#[test]
fn messages_read_well() {
    let m = Message::of(&incident_opened()).unwrap();
    assert_eq!(
        m.fallback(),
        "[Investigating] Major outage of API — We are investigating a major outage of API: 3 consecutive checks failed: connection refused"
    );
    assert_eq!(m.when, "Jan 5, 2026 14:03 MST");
    assert_eq!(m.components, ["API — Major outage"]);
    assert_eq!(m.link, "https://status.example.com/incidents/k3v9x0q2m7ab");

    let m = Message::of(&incident_resolved()).unwrap();
    assert_eq!(
        m.fallback(),
        "[Resolved] Major outage of API — This incident has been resolved."
    );

    let m = Message::of(&maintenance_started()).unwrap();
    assert_eq!(m.title, "Maintenance started: Database upgrade");
    assert_eq!(m.window.as_deref(), Some("Jan 6, 2026 02:00 – 04:00 MST"));

    let m = Message::of(&component_changed()).unwrap();
    assert_eq!(m.title, "API is now Major outage (was Operational)");
    assert_eq!(m.link, "https://status.example.com");
}

#[test]
fn an_incomplete_event_is_an_error_not_a_panic() {
    let mut e = incident_opened();
    e.incident = None;
    for n in notifiers(BASE, Duration::from_secs(10)) {
        let err = n.render("d", &e, t("2026-01-05T21:03:01Z")).unwrap_err();
        assert_eq!(err.to_string(), "incident_opened event carries no incident");
    }
}

#[test]
fn webhook_signature_covers_the_exact_body() {
    use hmac::{Hmac, KeyInit, Mac};
    let n = &notifiers(BASE, Duration::from_secs(10))[0];
    let r = n
        .render("d1", &incident_opened(), t("2026-01-05T21:03:01Z"))
        .unwrap()
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-pharos-signature"), Some(expected.as_str()));
    assert_eq!(r.header("X-Pharos-Timestamp"), Some("1767646981"));
}

#[test]
fn rendered_requests_hide_secrets_in_debug() {
    let now = t("2026-01-05T21:03:01Z");
    for n in notifiers(BASE, Duration::from_secs(10)) {
        let r = n.render("d1", &incident_opened(), now).unwrap().unwrap();
        let debug = format!("{r:?} {n:?}");
        for s in SECRETS {
            assert!(!debug.contains(s), "{debug} shows {s}");
        }
        assert!(debug.contains("hooks.example.net"), "{debug}");
    }
}
