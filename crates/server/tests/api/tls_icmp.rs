//! `tls` and `icmp` monitors end to end through the real app: a TLS server on 127.0.0.1 whose
//! certificate an internal CA (trusted through `ca_certificate`) issued keeps its component
//! operational; one whose certificate expires in 10 days takes its component down under
//! `[CERTIFICATE_EXPIRATION] > 336h`, with the time left in the reason; and a ping of
//! 127.0.0.1 keeps a component operational. (Storage plays no part beyond what every check
//! does, so this runs on SQLite only.)

use std::sync::Arc;
use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, TestApp};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// Serves, on 127.0.0.1, a certificate for localhost that `ca` issued, expiring in `days`.
/// Returns the port.
async fn tls_server(ca: &CertifiedIssuer<'static, KeyPair>, days: i64) -> u16 {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), ca.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { drop(acceptor.accept(stream).await) });
        }
    });
    port
}

async fn wait_for_health(app: &TestApp, id: &str, want: &str) {
    eventually(WAIT, &format!("{id} to be {want}"), || async {
        (app.monitor_health(id, ADMIN).await == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn tls_monitors_judge_certificates_from_an_internal_ca() {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Acme internal CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let good = tls_server(&ca, 90).await;
    let soon = tls_server(&ca, 10).await;

    let checks = format!(
        r#"ca_certificate = "{}"
conditions = ["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 336h"]"#,
        ca_file.display()
    );
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("api", "api")
        .monitor("cert-api", "tls", "api")
        .with(&format!("url = \"tls://localhost:{good}\""))
        .with(&checks)
        .thresholds(1, 1)
        .component("billing", "billing")
        .monitor("cert-billing", "tls", "billing")
        .with(&format!("url = \"tls://localhost:{soon}\""))
        .with(&checks)
        .thresholds(1, 1)
        .build();
    let app = spawn_app(&config).await;

    wait_for_health(&app, "cert-api", "up").await;
    app.wait_for_component("api", "operational", WAIT).await;
    assert_eq!(app.monitor_last_error("cert-api", ADMIN).await, "");

    wait_for_health(&app, "cert-billing", "down").await;
    app.wait_for_component("billing", "major_outage", WAIT)
        .await;
    let reason = app.monitor_last_error("cert-billing", ADMIN).await;
    assert!(
        reason.starts_with("condition failed: [CERTIFICATE_EXPIRATION] (239h")
            && reason.ends_with("> 336h"),
        "{reason}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_icmp_monitor_of_the_loopback_address_keeps_its_component_up() {
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("gateway", "Gateway")
        .monitor("gw-ping", "icmp", "gateway")
        .with(r#"url = "icmp://127.0.0.1""#)
        .thresholds(1, 1)
        .build();
    let app = spawn_app(&config).await;

    wait_for_health(&app, "gw-ping", "up").await;
    app.wait_for_component("gateway", "operational", WAIT).await;
    assert_eq!(app.monitor_last_error("gw-ping", ADMIN).await, "");
    app.stop().await;
}
