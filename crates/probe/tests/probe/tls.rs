//! The `tls` kind against real TLS servers on 127.0.0.1, with certificates an rcgen CA issues
//! in the test: a good chain, one about to expire, one expired, one for another name, one
//! from a CA nobody trusts, and servers that never finish the handshake.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pharos_domain::{CheckOutcome, CheckResult, Condition, MonitorKind, MonitorSpec, TlsSpec};
use pharos_probe::Prober;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use crate::{monitor, targets, MARGIN};

const FIVE_S: Duration = Duration::from_secs(5);
const DAY: Duration = Duration::from_secs(86_400);

/// A certificate authority made for one test.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate, PEM, as `ca_certificate` names it.
    pub pem: String,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Each its own name: a CA that shares a name is tried as the issuer, and fails on the
        // signature rather than as unknown.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Pharos test CA {n}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Ca { issuer, pem }
    }

    /// A server certificate for `names`, valid from 30 days ago until `expires_in` from now
    /// (in the past when negative), served with its chain by a new server.
    pub async fn serve(&self, names: &[&str], expires_in: time::Duration) -> TlsServer {
        let now = OffsetDateTime::now_utc();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now + expires_in;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap();
        serve(
            vec![leaf.der().clone(), self.issuer.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .await
    }
}

/// A TLS server that completes every handshake and then hangs up; stops when dropped.
pub struct TlsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> TlsServer {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            // A client that refuses the certificate aborts the handshake: nothing to do.
            tokio::spawn(async move { drop(acceptor.accept(stream).await) });
        }
    });
    TlsServer { addr, task }
}

/// A `tls` monitor of `host:port`, trusting `ca` when given, with `conditions`.
fn tls_monitor(host: &str, port: u16, ca: Option<&Ca>, conditions: &[&str]) -> MonitorSpec {
    let mut spec = monitor(
        MonitorKind::Tls(TlsSpec {
            host: host.to_owned(),
            port,
            insecure: false,
            ca_certificate_pem: ca.map(|ca| ca.pem.clone()),
        }),
        FIVE_S,
    );
    spec.conditions = conditions
        .iter()
        .map(|c| Condition::parse(c).unwrap())
        .collect();
    spec
}

fn insecure(mut spec: MonitorSpec) -> MonitorSpec {
    match &mut spec.kind {
        MonitorKind::Tls(tls) => tls.insecure = true,
        other => panic!("not a tls monitor: {other:?}"),
    }
    spec
}

fn judge(spec: &MonitorSpec, obs: &pharos_domain::Observation) -> CheckResult {
    CheckResult::judge(spec, obs, Utc::now())
}

/// Asserts `left` is `want`, give or take the time the test has taken so far.
fn assert_about(left: Option<Duration>, want: Duration) {
    let left = left.expect("the certificate's expiration was read");
    assert!(
        left <= want && left + Duration::from_secs(120) > want,
        "{left:?} left, wanted about {want:?}"
    );
}

#[tokio::test]
async fn a_trusted_certificate_is_up_with_its_time_left() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], time::Duration::days(90)).await;
    let spec = tls_monitor(
        "localhost",
        server.addr.port(),
        Some(&ca),
        &["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 336h"],
    );

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_about(obs.certificate_expiration, 90 * DAY);
    assert!(obs.response_time > Duration::ZERO && obs.response_time < FIVE_S);
    assert_eq!(judge(&spec, &obs).outcome, CheckOutcome::Up);
}

#[tokio::test]
async fn a_certificate_expiring_soon_fails_its_condition_with_the_value() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], time::Duration::days(10)).await;
    let spec = tls_monitor(
        "localhost",
        server.addr.port(),
        Some(&ca),
        &["[CERTIFICATE_EXPIRATION] > 336h"],
    );

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(obs.error, None);
    assert_about(obs.certificate_expiration, 10 * DAY);
    let result = judge(&spec, &obs);
    assert_eq!(result.outcome, CheckOutcome::Down);
    let reason = result.error.unwrap();
    // 240h less the moments the test took.
    assert!(
        reason.starts_with("condition failed: [CERTIFICATE_EXPIRATION] (239h59m"),
        "{reason}"
    );
    assert!(reason.ends_with("> 336h"), "{reason}");
}

#[tokio::test]
async fn an_expired_certificate_is_down_but_its_expiration_is_read() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], -time::Duration::days(1)).await;
    let spec = tls_monitor("localhost", server.addr.port(), Some(&ca), &[]);

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(
        obs.error.as_deref(),
        Some("TLS error: invalid peer certificate: expired")
    );
    assert!(!obs.connected);
    assert_eq!(obs.certificate_expiration, Some(Duration::ZERO));
    assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(judge(&spec, &obs).outcome, CheckOutcome::Down);
}

#[tokio::test]
async fn a_certificate_for_another_name_is_down_naming_both() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], time::Duration::days(90)).await;
    // The same server, asked for by address: its certificate names only "localhost".
    let spec = tls_monitor("127.0.0.1", server.addr.port(), Some(&ca), &[]);

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(
        obs.error.as_deref(),
        Some(
            "TLS error: invalid peer certificate: not valid for name \"127.0.0.1\"; \
             it is valid for localhost"
        )
    );
    assert!(!obs.connected);
    assert_about(obs.certificate_expiration, 90 * DAY);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_down() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], time::Duration::days(90)).await;
    // Neither the system's roots nor a `ca_certificate` vouch for this CA.
    let spec = tls_monitor("localhost", server.addr.port(), None, &[]);

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(
        obs.error.as_deref(),
        Some("TLS error: invalid peer certificate: unknown issuer")
    );
    assert!(!obs.connected);
    assert_about(obs.certificate_expiration, 90 * DAY);

    // Another CA given as `ca_certificate` does not help either.
    let spec = tls_monitor("localhost", server.addr.port(), Some(&Ca::new()), &[]);
    let obs = Prober::new().unwrap().check(&spec).await;
    assert_eq!(
        obs.error.as_deref(),
        Some("TLS error: invalid peer certificate: unknown issuer")
    );
}

#[tokio::test]
async fn insecure_reads_any_certificate() {
    let ca = Ca::new();
    let server = ca.serve(&["localhost"], time::Duration::days(20)).await;
    // Untrusted CA and asked for by address, which the certificate does not name.
    let spec = insecure(tls_monitor(
        "127.0.0.1",
        server.addr.port(),
        None,
        &["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 336h"],
    ));

    let obs = Prober::new().unwrap().check(&spec).await;

    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_about(obs.certificate_expiration, 20 * DAY);
    assert_eq!(judge(&spec, &obs).outcome, CheckOutcome::Up);

    // Even insecure, an expired certificate reads as expired to the conditions.
    let expired = ca.serve(&["localhost"], -time::Duration::days(1)).await;
    let spec = insecure(tls_monitor(
        "localhost",
        expired.addr.port(),
        None,
        &["[CERTIFICATE_EXPIRATION] > 336h"],
    ));
    let obs = Prober::new().unwrap().check(&spec).await;
    assert_eq!(obs.error, None);
    assert_eq!(obs.certificate_expiration, Some(Duration::ZERO));
    assert_eq!(judge(&spec, &obs).outcome, CheckOutcome::Down);
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_times_out() {
    // Accepts the connection and reads nothing: the ClientHello is never answered.
    let hang = targets::hang().await;
    let addr = hang.addr;
    let prober = Prober::new().unwrap();
    for (timeout, reason) in [
        (Duration::from_millis(300), "timed out after 300ms"),
        (Duration::from_secs(1), "timed out after 1s"),
    ] {
        let mut spec = tls_monitor("127.0.0.1", addr.port(), None, &[]);
        spec.timeout = timeout;
        let start = Instant::now();
        let obs = prober.check(&spec).await;
        let took = start.elapsed();
        assert_eq!(obs.error.as_deref(), Some(reason));
        assert!(!obs.connected);
        assert!(took >= timeout, "returned early after {took:?}");
        assert!(took < timeout + MARGIN, "took {took:?}");
    }
}

#[tokio::test]
async fn connection_failures_are_named_as_for_tcp() {
    let prober = Prober::new().unwrap();

    let refused = targets::refused().await;
    let obs = prober
        .check(&tls_monitor("127.0.0.1", refused.port(), None, &[]))
        .await;
    assert_eq!(obs.error.as_deref(), Some("connection refused"));
    assert!(!obs.connected);

    // A server that hangs up instead of answering the ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hang_up = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let obs = prober
        .check(&tls_monitor("127.0.0.1", port, None, &[]))
        .await;
    let reason = obs.error.unwrap();
    assert!(
        ["connection reset", "connection closed unexpectedly"].contains(&reason.as_str()),
        "{reason}"
    );
}
