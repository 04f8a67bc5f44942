//! E-mail notifications end to end: a real Pharos with `[smtp]` pointing at a real local SMTP
//! server (`FakeSmtp`) and an `email` notifier. A monitor on a target that fails opens an
//! incident whose e-mail arrives within seconds, and the resolution follows after recovery;
//! a recipient the server rejects keeps the delivery pending with the server's words as its
//! reason. On SQLite and (when `PHAROS_TEST_POSTGRES_URL` is set) PostgreSQL.

use std::time::Duration;

use pharos_testkit::{backends, eventually, spawn_app_on, Backend, FakeSmtp, FakeTarget};

use crate::support::config::Config;
use crate::support::http::{get, post};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "email-test-token-0123456789abcdef";

/// One component with a monitor, `[smtp]` for `smtp`, and an `email` notifier to `to`;
/// incidents resolved two seconds after recovery.
fn config(target: &str, smtp: &FakeSmtp, to: &[&str]) -> String {
    let to: Vec<String> = to.iter().map(|a| format!("{a:?}")).collect();
    Config::acme()
        .admin("alice", TOKEN)
        .section("[server]\npublic_url = \"https://status.acme.test\"")
        .section("[incidents]\nauto_resolve_after = \"2s\"")
        .smtp(smtp)
        .component("api", "API")
        .http_monitor("api-health", &format!("{target}/health"), "api")
        .thresholds(2, 1)
        .section(&format!(
            "[[notifiers]]\nid = \"oncall\"\ntype = \"email\"\nto = [{}]",
            to.join(", ")
        ))
        .build()
}

#[tokio::test]
async fn an_outage_and_its_resolution_arrive_by_email() {
    for backend in backends() {
        let target = FakeTarget::start().await;
        let smtp = FakeSmtp::start().await;
        let app = spawn_app_on(
            backend,
            &config(&target.url, &smtp, &["oncall@acme.test", "cto@acme.test"]),
        )
        .await;
        eventually(WAIT, "a first check", || async {
            (target.hits() > 0).then_some(())
        })
        .await;

        target.set_status(503);
        let opened = eventually(WAIT, "the incident e-mail", || async {
            let got = smtp.messages();
            (got.len() >= 2).then_some(got)
        })
        .await;
        let mut recipients: Vec<&str> = opened.iter().map(|m| m.to[0].as_str()).collect();
        recipients.sort();
        assert_eq!(
            recipients,
            ["cto@acme.test", "oncall@acme.test"],
            "{backend:?}"
        );
        for m in &opened {
            assert_eq!(m.from, "status@acme.test");
            assert_eq!(
                m.subject().unwrap(),
                "[Investigating] Major outage of API — Acme status",
                "{backend:?}"
            );
            assert_eq!(m.header("x-pharos-event").unwrap(), "incident_opened");
            let text = m.text().unwrap();
            assert!(text.contains("2 consecutive checks failed"), "{text}");
            assert!(text.contains("- API — Major outage"), "{text}");
            assert!(
                text.contains("View incident: https://status.acme.test/incidents/"),
                "{text}"
            );
            let html = m.html().unwrap();
            assert!(html.contains("Major outage of API"), "{html}");
        }
        // The same delivery, a Message-ID per recipient.
        assert_ne!(
            opened[0].header("message-id"),
            opened[1].header("message-id")
        );

        target.set_status(200);
        let subjects = eventually(WAIT, "the resolution e-mail", || async {
            let subjects: Vec<String> = smtp
                .messages()
                .iter()
                .filter(|m| m.to[0] == "oncall@acme.test")
                .map(|m| m.subject().unwrap())
                .collect();
            subjects
                .iter()
                .any(|s| s.starts_with("[Resolved]"))
                .then_some(subjects)
        })
        .await;
        assert_eq!(
            subjects,
            [
                "[Investigating] Major outage of API — Acme status",
                "[Monitoring] Major outage of API — Acme status",
                "[Resolved] Major outage of API — Acme status",
            ],
            "{backend:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_rejected_recipient_keeps_the_delivery_pending_with_the_servers_words() {
    let target = FakeTarget::start().await;
    let smtp = FakeSmtp::start().await;
    smtp.reject("nobody@acme.test");
    let app = spawn_app_on(
        Backend::Sqlite,
        &config(
            &target.url,
            &smtp,
            &["oncall@acme.test", "nobody@acme.test"],
        ),
    )
    .await;
    let incident = serde_json::json!({"name": "Payments <degraded>", "body": "Looking into it."});
    let created = post(&app, "/api/v1/incidents", Some(TOKEN), &incident).await;
    assert_eq!(created.status, 201, "{created:?}");

    let pending = eventually(WAIT, "a failed attempt on record", || async {
        let deliveries = get(&app, "/api/v1/deliveries?state=pending", Some(TOKEN)).await;
        deliveries
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == "notifier:oncall" && d["last_error"].is_string())
            .cloned()
    })
    .await;
    let error = pending["last_error"].as_str().unwrap();
    assert_eq!(
        error,
        format!(
            "1 of 2 recipients failed: nobody@acme.test: {} rejected the message: 550 5.1.1 \
             <nobody@acme.test>: Recipient address rejected: User unknown in local recipient table",
            smtp.addr
        )
    );
    // The accepted recipient got it, its subject carrying the name as typed.
    let m = &smtp.messages()[0];
    assert_eq!(m.to, ["oncall@acme.test"]);
    assert_eq!(
        m.subject().unwrap(),
        "[Investigating] Payments <degraded> — Acme status"
    );
    assert!(m.html().unwrap().contains("Payments &lt;degraded&gt;"));
    app.stop().await;
}
