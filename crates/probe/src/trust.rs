//! What the TLS-speaking checks (`http` and `tls`) trust: one crypto provider, the platform's
//! verifier (plus a monitor's extra CA) built once per distinct CA, and the verifier of an
//! `insecure` monitor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The cryptography every check uses: aws-lc-rs, as reqwest and lettre do in Pharos.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Why a verifier could not be built.
#[derive(Debug)]
pub(crate) enum VerifierError<E> {
    /// The monitor's CA could not be read (the caller's own parse error).
    Ca(E),
    /// The platform refused the system store (no CA given) or the CA's roots.
    Build(rustls::Error),
}

/// Verifiers by the extra CA they trust (PEM), `None` for the system's roots alone.
type Verifiers = HashMap<Option<String>, Arc<dyn ServerCertVerifier>>;

/// The platform's verifier, trusting the roots `parse` reads from `ca_pem` as well when one
/// is given. Built once per distinct CA and kept: on Linux, building one reads and parses
/// every root in the system store. Only a verifier that could be built is kept, so a fixed
/// store or file is picked up.
pub(crate) fn verifier<E>(
    ca_pem: Option<&str>,
    parse: impl FnOnce(&str) -> Result<Vec<CertificateDer<'static>>, E>,
) -> Result<Arc<dyn ServerCertVerifier>, VerifierError<E>> {
    static VERIFIERS: OnceLock<Mutex<Verifiers>> = OnceLock::new();
    let cache = VERIFIERS.get_or_init(Mutex::default);
    let key = ca_pem.map(str::to_owned);
    if let Some(verifier) = lock(cache).get(&key) {
        return Ok(verifier.clone());
    }
    let verifier: Arc<dyn ServerCertVerifier> = match ca_pem {
        None => Arc::new(
            rustls_platform_verifier::Verifier::new(provider()).map_err(VerifierError::Build)?,
        ),
        Some(pem) => {
            let roots = parse(pem).map_err(VerifierError::Ca)?;
            Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider())
                    .map_err(VerifierError::Build)?,
            )
        }
    };
    lock(cache).insert(key, verifier.clone());
    Ok(verifier)
}

/// Locks `m`, carrying on after a panic elsewhere: the data (a cache, a captured
/// certificate) is whole after any single insert.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The verifier of an `insecure` monitor: any certificate is accepted, but the handshake's
/// signatures are still checked against the one presented.
#[derive(Debug)]
pub(crate) struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl AnyCertificate {
    /// Accepts any certificate, checking signatures with [`provider`].
    pub(crate) fn new() -> Self {
        AnyCertificate {
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
