//! The `tls` check: connect to `host:port`, complete a TLS handshake, and judge the certificate
//! the server presents: its chain and name by the platform's verifier (plus the monitor's
//! `ca_certificate`), unless `insecure`. The leaf is kept even when it is refused, so
//! `[CERTIFICATE_EXPIRATION]` is known for an expired or misnamed certificate too. Nothing is
//! sent after the handshake. The caller bounds the whole check with the monitor's timeout.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pharos_domain::{Observation, TlsSpec};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::{lookup_host, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::reason;

/// Resolves the host, connects to the first address that accepts (as the `tcp` check does),
/// and shakes hands on that connection.
pub(crate) async fn check(spec: &TlsSpec, started: Instant) -> Observation {
    let Ok(server_name) = ServerName::try_from(spec.host.clone()) else {
        return Observation::failed(
            format!("{:?} is not a host name TLS can check", spec.host),
            started.elapsed(),
        );
    };
    let judge = if spec.insecure {
        None
    } else {
        match verifier(spec.ca_certificate_pem.as_deref()) {
            Ok(verifier) => Some(verifier),
            Err(reason) => return Observation::failed(reason, started.elapsed()),
        }
    };
    let (stream, addr) = match connect(&spec.host, spec.port).await {
        Ok(connected) => connected,
        Err(reason) => return Observation::failed(reason, started.elapsed()),
    };

    let capture = Arc::new(Capture {
        judge,
        provider: provider(),
        leaf: Mutex::new(None),
    });
    let config = match client_config(capture.clone()) {
        Ok(config) => config,
        Err(err) => return Observation::failed(reason::tls_error(&err), started.elapsed()),
    };
    let handshake = TlsConnector::from(Arc::new(config))
        .connect(server_name, stream)
        .await;
    let response_time = started.elapsed();
    let certificate_expiration = capture
        .leaf()
        .and_then(|leaf| time_left(&leaf, SystemTime::now()));
    let observation = Observation {
        response_time,
        ip: Some(addr.ip()),
        certificate_expiration,
        ..Observation::default()
    };
    match handshake {
        // Dropping the stream closes the connection: the check has what it came for.
        Ok(_stream) => Observation {
            connected: true,
            ..observation
        },
        Err(err) => Observation {
            error: Some(handshake_error(&err)),
            ..observation
        },
    }
}

/// Opens a TCP connection to the first address of `host` that accepts one.
async fn connect(host: &str, port: u16) -> Result<(TcpStream, std::net::SocketAddr), String> {
    let addrs: Vec<_> = match lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(err) => return Err(reason::dns_failed(host, &err)),
    };
    let mut last_error: Option<io::Error> = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(err) => {
                tracing::trace!(%addr, error = %err, "TCP connect failed; trying the next address.");
                last_error = Some(err);
            }
        }
    }
    Err(match last_error {
        Some(err) => reason::io_error(&err),
        None => reason::dns_failed(host, &"no addresses found"),
    })
}

/// A fresh client configuration per check around `capture`, which holds this check's leaf.
/// Resumption is off: a resumed TLS 1.3 session shows no certificate, and every check must
/// see (and judge) the one the server presents now.
fn client_config(capture: Arc<Capture>) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(capture.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(capture)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// The reason a handshake failed: the TLS error it carries, or the socket's.
fn handshake_error(err: &io::Error) -> String {
    // tokio-rustls hands a TLS failure back as an `io::Error` wrapping the rustls error.
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => reason::tls_error(tls),
        None => reason::io_error(err),
    }
}

/// The cryptography every check uses: aws-lc-rs, as reqwest and lettre do in Pharos.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Verifiers by the extra CA they trust (PEM), `None` for the system's roots alone.
type Verifiers = HashMap<Option<String>, Arc<dyn ServerCertVerifier>>;

/// The platform's verifier, trusting `ca_pem` as well when given. Built once per distinct CA
/// and kept: on Linux, building one reads and parses every root in the system store.
fn verifier(ca_pem: Option<&str>) -> Result<Arc<dyn ServerCertVerifier>, String> {
    static VERIFIERS: OnceLock<Mutex<Verifiers>> = OnceLock::new();
    let cache = VERIFIERS.get_or_init(Mutex::default);
    let key = ca_pem.map(str::to_owned);
    if let Some(verifier) = lock(cache).get(&key) {
        return Ok(verifier.clone());
    }
    let verifier: Arc<dyn ServerCertVerifier> = match ca_pem {
        None => Arc::new(
            rustls_platform_verifier::Verifier::new(provider())
                .map_err(|e| format!("cannot verify certificates: {e}"))?,
        ),
        Some(pem) => {
            let roots = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`ca_certificate` is not a valid PEM certificate: {e}"))?;
            Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider())
                    .map_err(|e| format!("`ca_certificate` cannot be trusted: {e}"))?,
            )
        }
    };
    // Only a verifier that could be built is kept, so a fixed system store is picked up.
    lock(cache).insert(key, verifier.clone());
    Ok(verifier)
}

/// Locks `m`, carrying on after a panic elsewhere: the data (a cache, a captured
/// certificate) is whole after any single insert.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Time left until `leaf`'s notAfter, zero once it has passed; `None` if it cannot be read.
fn time_left(leaf: &CertificateDer<'_>, now: SystemTime) -> Option<Duration> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    // A notAfter before 1970 has long passed.
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0);
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(Duration::from_secs(not_after).saturating_sub(now))
}

/// Wraps the verifier of one check to keep the leaf certificate the server presented, whether
/// or not it is then accepted. `judge` is `None` for an `insecure` monitor: any certificate is
/// accepted, but the handshake's signatures are still checked against it.
#[derive(Debug)]
struct Capture {
    judge: Option<Arc<dyn ServerCertVerifier>>,
    provider: Arc<CryptoProvider>,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl Capture {
    fn leaf(&self) -> Option<CertificateDer<'static>> {
        lock(&self.leaf).clone()
    }
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *lock(&self.leaf) = Some(end_entity.clone().into_owned());
        match &self.judge {
            Some(judge) => {
                judge.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.judge {
            Some(judge) => judge.verify_tls12_signature(message, cert, dss),
            None => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.judge {
            Some(judge) => judge.verify_tls13_signature(message, cert, dss),
            None => rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.judge {
            Some(judge) => judge.supported_verify_schemes(),
            None => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_saturates_once_expired() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let not_after = UNIX_EPOCH + Duration::from_secs(1_893_456_000); // 2030-01-01
        let day = Duration::from_secs(86_400);

        assert_eq!(time_left(cert.der(), not_after - day), Some(day));
        assert_eq!(time_left(cert.der(), not_after + day), Some(Duration::ZERO));
        assert_eq!(
            time_left(&CertificateDer::from(vec![1, 2, 3]), not_after),
            None
        );
    }

    #[test]
    fn a_handshake_error_names_the_tls_problem_inside_it() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = io::Error::new(io::ErrorKind::InvalidData, tls);
        assert_eq!(
            handshake_error(&err),
            "TLS error: invalid peer certificate: unknown issuer"
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(handshake_error(&eof), "connection closed unexpectedly");
    }
}
