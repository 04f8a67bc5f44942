//! The `email` channel and `send_email` against a real SMTP server on a local socket
//! (`FakeSmtp`, shared with the testkit): what counts as sent, how each failure reads, what the
//! messages hold, and that the password never leaks.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use pharos_notify::email::{send_email, Email, Mailer, SmtpSecurity, SmtpSettings};
use pharos_notify::{Channel, Event, Notifier, Outcome};
use pharos_testkit_core::{FakeSmtp, SmtpMode};

const PASSWORD: &str = "smtp-password-very-secret";
const TIMEOUT: Duration = Duration::from_secs(5);

fn settings(server: &FakeSmtp) -> SmtpSettings {
    SmtpSettings {
        host: server.host(),
        port: server.port(),
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Example Status <status@example.com>".into(),
        timeout: TIMEOUT,
    }
}

fn mailer(smtp: SmtpSettings, to: &[&str]) -> Notifier {
    notifier(
        "oncall",
        Channel::Email {
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            smtp,
        },
        TIMEOUT,
    )
}

async fn send(n: &Notifier, event: &Event) -> Outcome {
    let o = n.send(&client(), "dlv-0001", event).await;
    let shown = format!("{o:?} {n:?} {:?}", n.channel);
    assert!(!shown.contains(PASSWORD), "{shown}");
    o
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[tokio::test]
async fn an_accepted_incident_email_has_both_parts_and_the_headers() {
    let server = FakeSmtp::start().await;
    let n = mailer(settings(&server), &["oncall@example.com"]);
    assert_eq!(send(&n, &incident_opened()).await, Outcome::Sent);

    let [m] = server.messages().try_into().unwrap();
    assert_eq!(m.from, "status@example.com");
    assert_eq!(m.to, ["oncall@example.com"]);
    assert_eq!(m.login, None);
    assert_eq!(
        m.subject().unwrap(),
        "[Investigating] Major outage of API — Example Inc. status"
    );
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("multipart/alternative"));
    assert_eq!(m.header("to").unwrap(), "oncall@example.com");
    assert!(m.header("from").unwrap().contains("<status@example.com>"));
    assert_eq!(m.header("auto-submitted").unwrap(), "auto-generated");
    assert_eq!(m.header("x-pharos-event").unwrap(), "incident_opened");
    assert!(m.header("user-agent").unwrap().starts_with("Pharos/"));
    assert!(m.header("date").is_some());
    let id = m.header("message-id").unwrap();
    assert!(
        id.starts_with("<dlv-0001.") && id.ends_with("@example.com>"),
        "{id}"
    );

    let text = m.text().unwrap();
    for needle in [
        "[Investigating] Major outage of API",
        "Example Inc. · Jan 5, 2026 14:03 MST",
        "Status: Investigating",
        "Impact: Critical",
        "3 consecutive checks failed: connection refused",
        "- API — Major outage",
        "View incident: https://status.example.com/incidents/k3v9x0q2m7ab",
        "oncall@example.com",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let html = m.html().unwrap();
    for needle in [
        "<h1 style=\"margin:0 0 16px;font-size:20px;line-height:1.3\">[Investigating] Major outage of API</h1>",
        "<a href=\"https://status.example.com/incidents/k3v9x0q2m7ab\"",
        ">View incident</a>",
        "<li>API — Major outage</li>",
        "border-top:4px solid #E74C3C",
    ] {
        assert!(html.contains(needle), "{needle:?} missing from:\n{html}");
    }
    // The same delivery to the same recipient keeps its Message-ID: a retry is recognisable.
    assert_eq!(send(&n, &incident_opened()).await, Outcome::Sent);
    assert_eq!(server.messages()[1].header("message-id").unwrap(), id);
}

#[tokio::test]
async fn every_recipient_gets_its_own_message() {
    let server = FakeSmtp::start().await;
    let to = [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
        "e@example.com",
    ];
    let n = mailer(settings(&server), &to);
    assert_eq!(send(&n, &incident_resolved()).await, Outcome::Sent);
    let mut got: Vec<String> = server
        .messages()
        .iter()
        .map(|m| {
            assert_eq!(m.to.len(), 1, "one recipient per message");
            assert_eq!(m.header("to").unwrap(), m.to[0]);
            assert!(m
                .subject()
                .unwrap()
                .starts_with("[Resolved] Major outage of API"));
            m.to[0].clone()
        })
        .collect();
    got.sort();
    assert_eq!(got, to);
    let ids: std::collections::HashSet<String> = server
        .messages()
        .iter()
        .map(|m| m.header("message-id").unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "a Message-ID per recipient");
}

#[tokio::test]
async fn maintenance_and_component_events_are_mailed_too() {
    let server = FakeSmtp::start().await;
    let n = mailer(settings(&server), &["oncall@example.com"]);
    assert_eq!(send(&n, &maintenance_started()).await, Outcome::Sent);
    assert_eq!(send(&n, &component_changed()).await, Outcome::Sent);
    let [maint, comp] = server.messages().try_into().unwrap();
    assert_eq!(
        maint.subject().unwrap(),
        "Maintenance started: Database upgrade — Example Inc. status"
    );
    let text = maint.text().unwrap();
    assert!(
        text.contains("Window: Jan 6, 2026 02:00 – 04:00 MST"),
        "{text}"
    );
    assert!(text.contains("Impact: Maintenance"), "{text}");
    assert!(
        text.contains("View maintenance: https://status.example.com/incidents/m7maint01"),
        "{text}"
    );
    assert_eq!(
        maint.header("x-pharos-event").unwrap(),
        "maintenance_started"
    );
    assert_eq!(
        comp.subject().unwrap(),
        "API is now Major outage (was Operational) — Example Inc. status"
    );
    let text = comp.text().unwrap();
    assert!(
        text.contains("View status page: https://status.example.com\n"),
        "{text}"
    );
    assert!(!text.contains("Impact:"), "{text}");
}

#[tokio::test]
async fn user_text_is_escaped_in_the_html_part() {
    let server = FakeSmtp::start().await;
    let n = mailer(settings(&server), &["oncall@example.com"]);
    let mut event = incident_opened();
    let incident = event.incident.as_mut().unwrap();
    incident.name = "Outage <img src=x onerror=alert(1)>".into();
    incident.updates[0].body =
        "Line one <script>alert('x')</script>\nLine two & \"quotes\" <b>bold</b>".into();
    assert_eq!(send(&n, &event).await, Outcome::Sent);
    let m = &server.messages()[0];
    let html = m.html().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        html.contains("Line one &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\nLine two &amp; &quot;quotes&quot; &lt;b&gt;bold&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("Outage &lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    // The text part carries the words as they were typed.
    assert!(m.text().unwrap().contains("<script>alert('x')</script>"));
    assert_eq!(
        m.subject().unwrap(),
        "[Investigating] Outage <img src=x onerror=alert(1)> — Example Inc. status"
    );
}

#[tokio::test]
async fn a_rejected_recipient_fails_the_delivery_with_the_servers_text() {
    let server = FakeSmtp::start().await;
    server.reject("bob@example.com");
    let at = server.addr;

    let one = mailer(settings(&server), &["bob@example.com"]);
    let o = send(&one, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!(
            "bob@example.com: {at} rejected the message: 550 5.1.1 <bob@example.com>: \
             Recipient address rejected: User unknown in local recipient table"
        )
    );

    let two = mailer(settings(&server), &["alice@example.com", "bob@example.com"]);
    let o = send(&two, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!(
            "1 of 2 recipients failed: bob@example.com: {at} rejected the message: 550 5.1.1 \
             <bob@example.com>: Recipient address rejected: User unknown in local recipient table"
        )
    );
    let delivered: Vec<Vec<String>> = server.messages().iter().map(|m| m.to.clone()).collect();
    assert_eq!(delivered, [["alice@example.com"]], "alice still got hers");

    server.set_mode(SmtpMode::RejectRecipients);
    let o = send(&two, &incident_opened()).await;
    let r = reason(&o);
    assert!(
        r.starts_with("2 of 2 recipients failed: alice@example.com: "),
        "{r}"
    );
    assert!(r.contains("; bob@example.com: "), "{r}");

    server.set_mode(SmtpMode::DeferRecipients);
    let carol = mailer(settings(&server), &["carol@example.com"]);
    let o = send(&carol, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!(
            "carol@example.com: {at} refused the message for now: 451 4.3.0 \
             <carol@example.com>: Temporary lookup failure, try again later"
        )
    );

    server.set_mode(SmtpMode::RejectData);
    let o = send(&carol, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!("carol@example.com: {at} rejected the message: 554 5.7.1 Message rejected as spam")
    );
}

#[tokio::test]
async fn a_refused_connection_fails_with_a_reason() {
    let port = closed_port();
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: Some("status".into()),
        password: Some(PASSWORD.into()),
        from: "status@example.com".into(),
        timeout: TIMEOUT,
    };
    let one = mailer(smtp.clone(), &["oncall@example.com"]);
    assert_eq!(
        reason(&send(&one, &incident_opened()).await),
        format!("oncall@example.com: connection refused by 127.0.0.1:{port}")
    );
    let three = mailer(smtp, &["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(
        reason(&send(&three, &incident_opened()).await),
        format!("connection refused by 127.0.0.1:{port} (all 3 recipients)")
    );
}

#[tokio::test]
async fn a_closed_connection_fails_with_a_reason() {
    let server = FakeSmtp::start().await;
    server.set_mode(SmtpMode::Close);
    let n = mailer(settings(&server), &["oncall@example.com"]);
    let o = send(&n, &incident_opened()).await;
    let r = reason(&o);
    assert!(
        r == format!(
            "oncall@example.com: connection closed by {} before it answered",
            server.addr
        ) || r == format!("oncall@example.com: connection reset by {}", server.addr),
        "{r}"
    );
}

#[tokio::test]
async fn a_server_that_hangs_times_out_in_time() {
    let server = FakeSmtp::start().await;
    server.set_mode(SmtpMode::Hang);
    let timeout = Duration::from_millis(400);
    let n = Notifier {
        timeout,
        ..mailer(settings(&server), &["a@example.com", "b@example.com"])
    };
    let started = Instant::now();
    let o = send(&n, &incident_opened()).await;
    let took = started.elapsed();
    assert_eq!(reason(&o), "timed out after 400ms (all 2 recipients)");
    assert!(took >= timeout, "{took:?}");
    assert!(took < timeout + Duration::from_millis(1500), "{took:?}");

    // The server's own timeout applies to each message when it is the shorter one.
    let direct = SmtpSettings {
        timeout: Duration::from_millis(300),
        ..settings(&server)
    };
    let o = send_email(&direct, &plain_email("a@example.com")).await;
    assert_eq!(reason(&o), "timed out after 300ms");
}

#[tokio::test]
async fn logins_are_sent_and_their_failures_explained_without_the_password() {
    let server = FakeSmtp::start().await;
    server.require_login("status", PASSWORD);
    let at = server.addr;
    let with = |user: Option<&str>, password: Option<&str>| SmtpSettings {
        username: user.map(str::to_owned),
        password: password.map(str::to_owned),
        ..settings(&server)
    };

    let good = mailer(
        with(Some("status"), Some(PASSWORD)),
        &["oncall@example.com"],
    );
    assert_eq!(send(&good, &incident_opened()).await, Outcome::Sent);
    assert_eq!(server.messages()[0].login.as_deref(), Some("status"));

    let wrong = mailer(
        with(Some("status"), Some("not-the-password")),
        &["oncall@example.com"],
    );
    let o = send(&wrong, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!(
            "oncall@example.com: {at} refused the login: 535 5.7.8 Error: authentication \
             failed: bad username or password"
        )
    );
    assert!(!reason(&o).contains("not-the-password"));

    let anonymous = mailer(with(None, None), &["oncall@example.com"]);
    let o = send(&anonymous, &incident_opened()).await;
    assert_eq!(
        reason(&o),
        format!(
            "oncall@example.com: {at} requires a login (set `username` and `password` in \
             [smtp]): 530 5.7.0 Authentication required"
        )
    );
    // The password travelled (base64 in AUTH PLAIN) only to the server.
    assert!(server
        .commands()
        .iter()
        .any(|c| c.starts_with("AUTH PLAIN ")));
    let debug = format!("{:?} {:?}", with(Some("status"), Some(PASSWORD)), good);
    assert!(!debug.contains(PASSWORD), "{debug}");
}

#[tokio::test]
async fn starttls_is_required_and_tls_is_spoken_from_the_first_byte() {
    let server = FakeSmtp::start().await;
    let at = server.addr;
    let starttls = SmtpSettings {
        security: SmtpSecurity::StartTls,
        ..settings(&server)
    };
    let o = send_email(&starttls, &plain_email("oncall@example.com")).await;
    assert_eq!(
        reason(&o),
        format!(
            "{at} does not offer STARTTLS, which security = \"starttls\" requires (use \"tls\" \
             for a server that wants TLS from the first byte)"
        )
    );
    let tls = SmtpSettings {
        security: SmtpSecurity::Tls,
        ..settings(&server)
    };
    let o = send_email(&tls, &plain_email("oncall@example.com")).await;
    let r = reason(&o);
    assert!(r.starts_with(&format!("TLS with {at} failed: ")), "{r}");
    assert!(
        server.messages().is_empty(),
        "nothing went out in plain text"
    );
}

fn plain_email(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Confirm your subscription to Example Inc. status".into(),
        text: "Click: https://status.example.com/confirm/abc".into(),
        html: "<p><a href=\"https://status.example.com/confirm/abc\">Confirm</a></p>".into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://status.example.com/unsubscribe/abc>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
    }
}

#[tokio::test]
async fn send_email_carries_extra_headers_and_both_parts() {
    let server = FakeSmtp::start().await;
    let email = plain_email("reader@example.org");
    assert_eq!(send_email(&settings(&server), &email).await, Outcome::Sent);
    let [m] = server.messages().try_into().unwrap();
    assert_eq!(m.to, ["reader@example.org"]);
    assert_eq!(
        m.header("list-unsubscribe").unwrap(),
        "<https://status.example.com/unsubscribe/abc>"
    );
    assert_eq!(
        m.header("list-unsubscribe-post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(m.text().unwrap().trim_end(), email.text);
    assert_eq!(m.html().unwrap().trim_end(), email.html);
    assert!(
        server.commands().iter().any(|c| c == "QUIT"),
        "{:?}",
        server.commands()
    );

    let bad = Email {
        to: "not an address".into(),
        ..email
    };
    let o = send_email(&settings(&server), &bad).await;
    assert!(
        reason(&o).starts_with("the recipient \"not an address\" is not valid"),
        "{o:?}"
    );
}

#[test]
fn e_mail_is_not_an_http_request() {
    let smtp = SmtpSettings {
        host: "smtp.example.com".into(),
        port: 587,
        security: SmtpSecurity::StartTls,
        username: Some("status".into()),
        password: Some(PASSWORD.into()),
        from: "Example Status <status@example.com>".into(),
        timeout: TIMEOUT,
    };
    let n = mailer(smtp, &["a@example.com", "b@example.com"]);
    assert_eq!(n.channel.type_name(), "email");
    assert_eq!(format!("{:?}", n.channel), "email");
    let event = incident_opened();
    assert_eq!(n.render("d", &event, event.at), Ok(None));
    let emails = n.render_emails("d", &event).unwrap().unwrap();
    let to: Vec<&str> = emails.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(to, ["a@example.com", "b@example.com"]);
    assert!(emails.iter().all(|e| !format!("{e:?}").contains(PASSWORD)));
    let hook = &notifiers("http://127.0.0.1:1", TIMEOUT)[0];
    assert_eq!(hook.render_emails("d", &event), Ok(None));
}

/// Many messages through one mailer reuse its connections: ten e-mails sent one after
/// another open one connection (logged in once); ten at once open more, and no more than
/// the mailer keeps stay open for the next.
#[tokio::test]
async fn a_mailer_reuses_its_connections() {
    let server = FakeSmtp::start().await;
    server.require_login("status", PASSWORD);
    let mut smtp = settings(&server);
    smtp.username = Some("status".into());
    smtp.password = Some(PASSWORD.into());
    let mailer = Mailer::new(smtp, 3);
    for i in 0..10 {
        let email = plain_email(&format!("reader{i}@example.org"));
        assert_eq!(mailer.clone().send(&email).await, Outcome::Sent);
    }
    assert_eq!(server.messages().len(), 10);
    assert_eq!(server.connections(), 1, "one connection, kept open");
    let logins = |s: &FakeSmtp| {
        s.commands()
            .iter()
            .filter(|c| c.starts_with("AUTH"))
            .count()
    };
    assert_eq!(logins(&server), 1);
    assert!(!server.commands().iter().any(|c| c == "QUIT"));

    let burst = (0..10).map(|i| {
        let mailer = mailer.clone();
        async move {
            let email = plain_email(&format!("burst{i}@example.org"));
            mailer.send(&email).await
        }
    });
    let outcomes = futures_util::future::join_all(burst).await;
    assert!(outcomes.iter().all(|o| *o == Outcome::Sent), "{outcomes:?}");
    assert_eq!(server.messages().len(), 20);
    let opened = server.connections();
    let quits = server.commands().iter().filter(|c| *c == "QUIT").count();
    assert_eq!(
        opened - quits,
        3,
        "{opened} opened, {quits} closed: three kept"
    );
}
