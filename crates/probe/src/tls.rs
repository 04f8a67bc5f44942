//! The `tls` check: connect to `host:port`, complete a TLS handshake, and judge the certificate
//! the server presents: its chain and name by the platform's verifier (plus the monitor's
//! `ca_certificate`), unless `insecure`. The leaf is kept even when it is refused, so
//! `[CERTIFICATE_EXPIRATION]` is known for an expired or misnamed certificate too. Nothing is
//! sent after the handshake. The caller bounds the whole check with the monitor's timeout.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pharos_domain::{Observation, TlsSpec};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::trust::{self, lock, provider, AnyCertificate, VerifierError};
use crate::{reason, tcp};

/// Resolves the host, connects to the first address that accepts (as the `tcp` check does),
/// and shakes hands on that connection.
pub(crate) async fn check(spec: &TlsSpec, started: Instant) -> Observation {
    let Ok(server_name) = ServerName::try_from(spec.host.clone()) else {
        return Observation::failed(
            format!("{:?} is not a host name TLS can check", spec.host),
            started.elapsed(),
        );
    };
    let judge: Arc<dyn ServerCertVerifier> = if spec.insecure {
        Arc::new(AnyCertificate::new())
    } else {
        match verifier(spec.ca_certificate_pem.as_deref()) {
            Ok(verifier) => verifier,
            Err(reason) => return Observation::failed(reason, started.elapsed()),
        }
    };
    let (stream, addr) = match tcp::connect(&spec.host, spec.port).await {
        Ok(connected) => connected,
        Err(reason) => return Observation::failed(reason, started.elapsed()),
    };

    let capture = Arc::new(Capture {
        judge,
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

/// A fresh client configuration per check around `capture`, which holds this check's leaf.
/// Resumption is off: a resumed TLS 1.3 session shows no certificate, and every check must
/// see (and judge) the one the server presents now.
fn client_config(capture: Arc<Capture>) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
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

/// The platform's verifier, trusting the monitor's `ca_certificate` as well when given.
fn verifier(ca_pem: Option<&str>) -> Result<Arc<dyn ServerCertVerifier>, String> {
    trust::verifier(ca_pem, |pem| {
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>()
    })
    .map_err(|e| match e {
        VerifierError::Ca(e) => format!("`ca_certificate` is not a valid PEM certificate: {e}"),
        VerifierError::Build(e) if ca_pem.is_some() => {
            format!("`ca_certificate` cannot be trusted: {e}")
        }
        VerifierError::Build(e) => format!("cannot verify certificates: {e}"),
    })
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
/// or not `judge` then accepts it (for an `insecure` monitor, `judge` accepts any).
#[derive(Debug)]
struct Capture {
    judge: Arc<dyn ServerCertVerifier>,
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
        self.judge
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.judge.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.judge.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.judge.supported_verify_schemes()
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
