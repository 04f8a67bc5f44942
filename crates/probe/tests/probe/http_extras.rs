//! The `http` kind's extras against real servers on 127.0.0.1: per-phase timings over plain
//! and TLS connections (new and kept alive), a private CA, mutual TLS with certificates an
//! rcgen CA issues in the test, basic and bearer credentials, and that no secret reaches an
//! error or a log line.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use pharos_domain::monitor::{ClientIdentity, HttpAuth, Secret};
use pharos_domain::{CheckOutcome, CheckResult, Condition, MonitorSpec, Observation, PhaseTimings};
use pharos_probe::Prober;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::PrivateKeyDer;

use crate::{http_monitor, with_http};

const FIVE_S: Duration = Duration::from_secs(5);

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        Ca { issuer, pem }
    }

    /// A certificate for `names` with the purpose `usage`, and its key.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (Certificate, KeyPair) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert, key)
    }

    /// A client certificate this CA signed, as a monitor's `client_certificate` and
    /// `client_key` files hold it.
    fn client_identity(&self) -> ClientIdentity {
        let (cert, key) = self.issue(&["pharos-probe"], ExtendedKeyUsagePurpose::ClientAuth);
        ClientIdentity {
            certificate_pem: cert.pem(),
            key_pem: Secret::new(key.serialize_pem()),
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        roots
    }
}

/// Standard base64 with padding, for the expected `Authorization: Basic` header (the test's
/// own, to keep the dev-dependencies as they are).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a test server lets through.
#[derive(Clone, Default)]
struct Rules {
    /// The `Authorization` header a request must carry, if any; others get 401.
    authorization: Option<String>,
}

/// A keep-alive HTTP/1.1 server, plain or TLS; stops when dropped.
struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// `http(s)://localhost:port/path`: a name, so that the check resolves it.
    fn url(&self, path: &str) -> String {
        format!("{}://localhost:{}{path}", self.scheme, self.addr.port())
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn plain_server(rules: Rules) -> Server {
    start(None, rules).await
}

/// An HTTPS server with a certificate `ca` issued for localhost; when `client_ca` is given it
/// requires a client certificate that CA signed.
async fn tls_server(ca: &Ca, client_ca: Option<&Ca>, rules: Rules) -> Server {
    let (cert, key) = ca.issue(
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(client_ca) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(client_ca.roots()),
                provider,
            )
            .build()
            .unwrap(),
        ),
    };
    let config = builder
        .with_single_cert(
            vec![cert.der().clone(), ca.issuer.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    start(
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        rules,
    )
    .await
}

async fn start(tls: Option<tokio_rustls::TlsAcceptor>, rules: Rules) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let rules = rules.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(stream, rules).await,
                    // A client without an acceptable certificate fails the handshake.
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve(stream, rules).await;
                        }
                    }
                }
            });
        }
    });
    Server {
        addr,
        scheme,
        connections,
        task,
    }
}

/// Answers every request on the connection: 200 "ok", or 401 when `rules` want an
/// `Authorization` header the request lacks.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, rules: Rules) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let authorization = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.trim().to_owned());
        let allowed = rules.authorization.is_none() || rules.authorization == authorization;
        let response: &[u8] = if allowed {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        } else {
            b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"pharos\"\r\ncontent-length: 0\r\n\r\n"
        };
        if io.write_all(response).await.is_err() || io.flush().await.is_err() {
            return;
        }
    }
}

fn https_monitor(server: &Server, ca: &Ca) -> MonitorSpec {
    with_http(http_monitor(&server.url("/"), FIVE_S), |h| {
        h.ca_certificate_pem = Some(ca.pem.clone());
    })
}

fn timings(obs: &Observation) -> PhaseTimings {
    obs.timings.unwrap_or_else(|| panic!("no timings: {obs:?}"))
}

/// Lets the pool take the connection back, as it does between two real checks. The pool is
/// inside the prober, so nothing marks the moment; its connection task runs on this test's
/// runtime as soon as the test yields, so the pause is a margin, not a guess.
async fn between_checks() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_private_ca_is_trusted_and_every_phase_of_a_new_connection_is_timed() {
    let ca = Ca::new("Pharos http test CA");
    let server = tls_server(&ca, None, Rules::default()).await;
    let prober = Prober::new().unwrap();
    let spec = https_monitor(&server, &ca);

    let first = prober.check(&spec).await;
    assert_eq!(first.error, None);
    assert_eq!(first.status, Some(200));
    let t = timings(&first);
    assert!(t.dns_ms.is_some(), "{t:?}");
    assert!(t.connect_ms.is_some(), "{t:?}");
    assert!(t.tls_ms.is_some(), "{t:?}");
    assert!(t.first_byte_ms.is_some(), "{t:?}");
    let phases = [t.dns_ms, t.connect_ms, t.tls_ms, t.first_byte_ms];
    let sum: u64 = phases.iter().flatten().sum();
    assert!(
        u128::from(sum) <= first.response_time.as_millis(),
        "{t:?} {:?}",
        first.response_time
    );

    // Again, over the kept-alive connection: nothing to resolve, connect or shake hands.
    between_checks().await;
    let second = prober.check(&spec).await;
    assert_eq!(second.error, None);
    assert_eq!(
        timings(&second),
        PhaseTimings {
            first_byte_ms: timings(&second).first_byte_ms,
            ..PhaseTimings::default()
        }
    );
    assert!(timings(&second).first_byte_ms.is_some());
    assert_eq!(
        server.connections(),
        1,
        "the second check reused the connection"
    );

    // The same server without the CA: not trusted, and the phases before the failure show.
    let untrusted = with_http(spec.clone(), |h| h.ca_certificate_pem = None);
    let obs = prober.check(&untrusted).await;
    assert_eq!(
        obs.error.as_deref(),
        Some("TLS error: invalid peer certificate: unknown issuer")
    );
    let t = timings(&obs);
    assert!(t.dns_ms.is_some() && t.connect_ms.is_some(), "{t:?}");
    assert_eq!((t.tls_ms, t.first_byte_ms), (None, None));
}

#[tokio::test]
async fn plain_http_has_no_tls_phase_and_an_address_no_dns_phase() {
    let server = plain_server(Rules::default()).await;
    let prober = Prober::new().unwrap();

    let by_name = prober.check(&http_monitor(&server.url("/"), FIVE_S)).await;
    assert_eq!(by_name.error, None);
    let t = timings(&by_name);
    assert!(t.dns_ms.is_some() && t.connect_ms.is_some() && t.first_byte_ms.is_some());
    assert_eq!(t.tls_ms, None);

    // An address in the URL: a new client setting is not needed, but a new pool key is, so
    // this opens a connection of its own without asking DNS.
    let by_address = format!("http://{}/", server.addr);
    let obs = prober.check(&http_monitor(&by_address, FIVE_S)).await;
    assert_eq!(obs.error, None);
    let t = timings(&obs);
    assert_eq!((t.dns_ms, t.tls_ms), (None, None), "{t:?}");
    assert!(t.connect_ms.is_some() && t.first_byte_ms.is_some(), "{t:?}");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_keeps_the_dns_phase() {
    let prober = Prober::new().unwrap();
    let obs = prober
        .check(&http_monitor("http://nonexistent.invalid/", FIVE_S))
        .await;
    let reason = obs.error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("DNS lookup failed for nonexistent.invalid"),
        "{reason}"
    );
    let t = timings(&obs);
    assert!(t.dns_ms.is_some(), "{t:?}");
    assert_eq!(
        (t.connect_ms, t.tls_ms, t.first_byte_ms),
        (None, None, None)
    );
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let ca = Ca::new("Pharos mTLS test CA");
    let server = tls_server(&ca, Some(&ca), Rules::default()).await;
    let prober = Prober::new().unwrap();
    let spec = https_monitor(&server, &ca);

    // Without a certificate the server refuses: a failed check with a TLS reason.
    let obs = prober.check(&spec).await;
    let reason = obs.error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("TLS error: received fatal alert: CertificateRequired"),
        "{reason}"
    );
    assert_eq!(obs.status, None);

    // With one from another CA, it refuses it as unknown.
    let stranger = Ca::new("Pharos stranger CA");
    let wrong = with_http(spec.clone(), |h| {
        h.client_identity = Some(stranger.client_identity());
    });
    let reason = prober.check(&wrong).await.error.unwrap_or_default();
    assert!(
        reason.starts_with("TLS error: received fatal alert:"),
        "{reason}"
    );

    // With the right one, it answers.
    let with_identity = with_http(spec, |h| h.client_identity = Some(ca.client_identity()));
    let obs = prober.check(&with_identity).await;
    assert_eq!(obs.error, None);
    assert_eq!(obs.status, Some(200));
    assert!(timings(&obs).tls_ms.is_some());
}

#[tokio::test]
async fn a_client_certificate_that_does_not_load_fails_the_check_naming_it() {
    let ca = Ca::new("Pharos bad identity CA");
    let server = tls_server(&ca, Some(&ca), Rules::default()).await;
    let prober = Prober::new().unwrap();
    let spec = with_http(https_monitor(&server, &ca), |h| {
        h.client_identity = Some(ClientIdentity {
            certificate_pem: ca.pem.clone(),
            key_pem: Secret::new("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ\n"),
        });
    });

    let obs = prober.check(&spec).await;

    let reason = obs.error.unwrap_or_default();
    assert!(
        reason.starts_with("client certificate could not be loaded: the private key"),
        "{reason}"
    );
    assert!(!reason.contains("c2VjcmV0LWtleQ"), "{reason}");
    assert_eq!(server.connections(), 0, "nothing was sent");
}

#[tokio::test]
async fn basic_and_bearer_credentials_are_sent() {
    let basic = format!("Basic {}", base64_encode(b"probe:s3cret-pass"));
    let basic_server = plain_server(Rules {
        authorization: Some(basic),
    })
    .await;
    let bearer_server = plain_server(Rules {
        authorization: Some("Bearer t0ken-abc".to_owned()),
    })
    .await;
    let prober = Prober::new().unwrap();
    let basic_auth = |password: &str| HttpAuth::Basic {
        username: "probe".to_owned(),
        password: Secret::new(password),
    };

    let without = prober
        .check(&http_monitor(&basic_server.url("/"), FIVE_S))
        .await;
    assert_eq!(without.status, Some(401));
    let right = with_http(http_monitor(&basic_server.url("/"), FIVE_S), |h| {
        h.auth = Some(basic_auth("s3cret-pass"));
    });
    assert_eq!(prober.check(&right).await.status, Some(200));
    let wrong = with_http(right.clone(), |h| h.auth = Some(basic_auth("guess")));
    assert_eq!(prober.check(&wrong).await.status, Some(401));

    let bearer = with_http(http_monitor(&bearer_server.url("/"), FIVE_S), |h| {
        h.auth = Some(HttpAuth::Bearer(Secret::new("t0ken-abc")));
    });
    assert_eq!(prober.check(&bearer).await.status, Some(200));
    let stale = with_http(bearer, |h| {
        h.auth = Some(HttpAuth::Bearer(Secret::new("t0ken-old")));
    });
    assert_eq!(prober.check(&stale).await.status, Some(401));
}

/// Everything every subscriber in this test binary logs from now on, `log` records included
/// (reqwest, hyper and rustls log through the `log` crate), at TRACE.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init()
            .expect("the only global subscriber in this test binary");
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_reach_neither_errors_nor_logs() {
    const PASSWORD: &str = "pw-Zq81-never-log-me";
    const TOKEN: &str = "tok-Hx55-never-log-me";
    let logs = captured_logs();
    // A server that accepts nothing Pharos sends.
    let server = plain_server(Rules {
        authorization: Some("Bearer something-else".to_owned()),
    })
    .await;
    let prober = Prober::new().unwrap();
    let must_be_200 = |mut spec: MonitorSpec| {
        spec.conditions = vec![Condition::parse("[STATUS] == 200").unwrap()];
        spec
    };
    let basic = must_be_200(with_http(http_monitor(&server.url("/"), FIVE_S), |h| {
        h.auth = Some(HttpAuth::Basic {
            username: "probe".to_owned(),
            password: Secret::new(PASSWORD),
        });
    }));
    let bearer = must_be_200(with_http(http_monitor(&server.url("/"), FIVE_S), |h| {
        h.auth = Some(HttpAuth::Bearer(Secret::new(TOKEN)));
    }));
    // A token no header can carry: the request is refused before it is sent.
    let unsendable = with_http(bearer.clone(), |h| {
        h.auth = Some(HttpAuth::Bearer(Secret::new(format!("{TOKEN}\n"))));
    });

    let mut errors = Vec::new();
    for spec in [&basic, &bearer, &unsendable] {
        let obs = prober.check(spec).await;
        let result = CheckResult::judge(spec, &obs, Utc::now());
        assert_eq!(result.outcome, CheckOutcome::Down, "{result:?}");
        errors.push(result.error.unwrap_or_default());
        errors.push(format!("{obs:?} {spec:?}"));
    }
    assert!(errors[0].contains("[STATUS] (401) == 200"), "{}", errors[0]);
    assert!(errors[4].starts_with("invalid request:"), "{}", errors[4]);

    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    // The capture works: the probe's own events and reqwest's `log` records are in it.
    assert!(logged.contains("check finished"), "{logged}");
    assert!(logged.contains("starting new connection"), "{logged}");
    let encoded = base64_encode(format!("probe:{PASSWORD}").as_bytes());
    for secret in [PASSWORD, TOKEN, encoded.as_str()] {
        for error in &errors {
            assert!(!error.contains(secret), "{secret} in {error}");
        }
        assert!(!logged.contains(secret), "{secret} logged");
    }
}
