//! A `dns` monitor end to end: the real app asks a real DNS server (the testkit's
//! `FakeDns`) on an interval. The right answer keeps the component operational; NXDOMAIN or
//! a different address takes it to major_outage, naming the failed condition with the value
//! it saw, and the right answer again brings it back; a silent server times out. (Storage
//! plays no part beyond what every check does, so this runs on SQLite only.)

use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, FakeDns, TestApp};

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(15);
const NAME: &str = "api.example.com";

fn config(dns: &FakeDns) -> String {
    Config::acme()
        .admin("ops", ADMIN)
        .component("api", "API")
        .monitor("api-dns", "dns", "api")
        .with(&format!(
            r#"server = "{}"
query_name = "{NAME}"
query_type = "A"
conditions = ["[DNS_RCODE] == NOERROR", "[BODY] == 10.1.2.3"]"#,
            dns.addr()
        ))
        .thresholds(1, 1)
        .build()
}

async fn last_error(app: &TestApp) -> String {
    app.monitor_last_error("api-dns", ADMIN).await
}

/// Waits until the monitor's last failure reason is `want`.
async fn wait_for_error(app: &TestApp, want: &str) {
    eventually(WAIT, &format!("the failure reason {want:?}"), || async {
        (last_error(app).await == want).then_some(())
    })
    .await;
}

/// Puts the right answer back and waits for the component to recover and the reason to clear.
async fn recover(app: &TestApp, dns: &FakeDns) {
    dns.set_records(NAME, "A", &["10.1.2.3"]);
    app.wait_for_component("api", "operational", WAIT).await;
    wait_for_error(app, "").await;
}

#[tokio::test]
async fn a_wrong_dns_answer_takes_the_component_down_until_it_is_right_again() {
    let dns = FakeDns::start().await;
    dns.set_records(NAME, "A", &["10.1.2.3"]);
    let app = spawn_app(&config(&dns)).await;

    // Checked and found up (the component starts operational before any check).
    eventually(WAIT, "the first check to pass", || async {
        (app.monitor_health("api-dns", ADMIN).await == "up").then_some(())
    })
    .await;
    assert_eq!(app.component_status("api").await, "operational");
    assert_eq!(last_error(&app).await, "");
    let asked = dns.queries();
    assert!(!asked.is_empty());
    assert!(asked
        .iter()
        .all(|q| q.name == "api.example.com." && q.record_type == "A" && q.recursion_desired));

    // The name disappears: NXDOMAIN, and nothing in the body.
    dns.set_records(NAME, "A", &[]);
    app.wait_for_component("api", "major_outage", WAIT).await;
    wait_for_error(
        &app,
        "condition failed: [DNS_RCODE] (NXDOMAIN) == NOERROR; [BODY] () == 10.1.2.3",
    )
    .await;
    recover(&app, &dns).await;

    // The name points somewhere else.
    dns.set_records(NAME, "A", &["10.9.9.9"]);
    app.wait_for_component("api", "major_outage", WAIT).await;
    wait_for_error(&app, "condition failed: [BODY] (10.9.9.9) == 10.1.2.3").await;
    recover(&app, &dns).await;

    // The server stops answering: each check runs out of its 1s. (Not recovered after: a
    // sixth change of state within the flap window would mark the monitor flapping, which
    // holds the component down.)
    dns.set_silent(true);
    app.wait_for_component("api", "major_outage", WAIT).await;
    wait_for_error(&app, "timed out after 1s").await;

    app.stop().await;
}
