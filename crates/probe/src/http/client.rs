//! Building the reqwest client for one set of `http` settings: redirects, and a rustls
//! configuration of our own (so that [`phases`](super::phases) can see the handshake start),
//! which therefore has to do what reqwest would: the platform's verifier (plus the monitor's
//! CA), or none for `insecure`; the client certificate; ALPN for HTTP/2 and HTTP/1.1.
//!
//! A PEM that does not load is the monitor's problem, not Pharos's: it comes back as
//! [`BuildError::Settings`] and becomes the check's failure reason. The reasons name what is
//! wrong but never quote the PEM, since a key file may be half right.

use std::sync::Arc;

use pharos_domain::monitor::ClientIdentity;
use reqwest::redirect::Policy;
use reqwest::Client;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::Resumption;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;

use super::phases::{HandshakeClock, TimedConnectLayer, TimedResolver};
use crate::reason::TooManyRedirects;
use crate::trust::{self, provider, AnyCertificate, VerifierError};

/// The settings a client is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings<'a> {
    /// Accept any certificate (the monitor's `insecure`).
    pub(crate) insecure: bool,
    /// Redirects followed before failing.
    pub(crate) max_redirects: usize,
    /// The certificate and key presented to servers that ask for one.
    pub(crate) identity: Option<&'a ClientIdentity>,
    /// An extra trusted root, PEM, on top of the platform's.
    pub(crate) ca_pem: Option<&'a str>,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// The monitor's certificate settings do not load; the text is the check's reason.
    #[error("{0}")]
    Settings(String),
    /// Pharos could not set up TLS or the client.
    #[error("{0}")]
    Internal(String),
}

/// A client for `settings`, with phase timing built in.
pub(crate) fn build(settings: Settings<'_>) -> Result<Client, BuildError> {
    let tls = tls_config(settings)?;
    // reqwest takes the configuration only if it is of the rustls it links (the same 0.23 in
    // Cargo.lock); otherwise `build` fails with "unknown TLS backend", at start-up through
    // `HttpProber::new`, never silently.
    Client::builder()
        .user_agent(concat!("Pharos/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy(settings.max_redirects))
        .tls_backend_preconfigured(tls)
        .dns_resolver(TimedResolver)
        .connector_layer(TimedConnectLayer)
        .build()
        .map_err(|e| BuildError::Internal(e.to_string()))
}

/// Follows up to `max` redirects; one more fails with "too many redirects (max)". With 0 the
/// redirect response itself is the answer, so conditions can check `[STATUS] == 301`.
fn redirect_policy(max: usize) -> Policy {
    if max == 0 {
        return Policy::none();
    }
    Policy::custom(move |attempt| {
        // `previous` holds every URL requested so far, the original included.
        if attempt.previous().len() > max {
            attempt.error(TooManyRedirects(max))
        } else {
            attempt.follow()
        }
    })
}

fn tls_config(settings: Settings<'_>) -> Result<ClientConfig, BuildError> {
    // The monitor's PEMs first: parsing them is cheap, while the platform verifier reads the
    // whole system root store (once per CA: `trust::verifier` keeps them).
    let identity = settings.identity.map(identity).transpose()?;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure {
        Arc::new(AnyCertificate::new())
    } else {
        trust::verifier(settings.ca_pem, ca_roots).map_err(|e| match e {
            VerifierError::Ca(e) => e,
            VerifierError::Build(e) if settings.ca_pem.is_some() => {
                BuildError::Settings(format!("CA certificate could not be loaded: {e}"))
            }
            VerifierError::Build(e) => {
                BuildError::Internal(format!("cannot verify certificates: {e}"))
            }
        })?
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Internal(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        // rustls checks that the key matches the certificate; its errors never carry the key.
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            BuildError::Settings(format!("client certificate could not be loaded: {e}"))
        })?,
    };
    // What reqwest offers by default with its `http2` feature.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = Resumption::store(Arc::new(HandshakeClock::new()));
    Ok(config)
}

/// The CA certificates in `pem` (at least one).
fn ca_roots(pem: &str) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    certificates(pem)
        .map_err(|what| BuildError::Settings(format!("CA certificate could not be loaded: {what}")))
}

/// The client's certificate chain and private key.
fn identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BuildError> {
    let failed = |what: String| {
        BuildError::Settings(format!("client certificate could not be loaded: {what}"))
    };
    let chain = certificates(&identity.certificate_pem).map_err(failed)?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.expose().as_bytes()).map_err(|e| {
        failed(format!(
            "the private key {}",
            pem_problem(&e, "private key")
        ))
    })?;
    Ok((chain, key))
}

/// Every certificate in `pem`, or what is wrong with it.
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate {}", pem_problem(&e, "certificate")))?;
    if chain.is_empty() {
        return Err(format!(
            "the certificate {}",
            pem_problem(&pem::Error::NoItemsFound, "certificate")
        ));
    }
    Ok(chain)
}

/// What is wrong with a PEM, in our words: pem's own messages quote the offending line,
/// which in a key file could be key material.
fn pem_problem(err: &pem::Error, item: &str) -> String {
    match err {
        pem::Error::NoItemsFound => format!("file holds no PEM {item}"),
        pem::Error::MissingSectionEnd { .. } => {
            "file has a PEM section with no END line".to_owned()
        }
        pem::Error::IllegalSectionStart { .. } => "file has a malformed PEM BEGIN line".to_owned(),
        pem::Error::Base64Decode(_) => "file has a PEM section that is not valid base64".to_owned(),
        pem::Error::SectionTooLarge => "file has a PEM section over 256 MB".to_owned(),
        _ => "file is not valid PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_domain::monitor::Secret;

    const KEY_LINE: &str = "MC4CAQAwBQYDK2VwBCIEIEXAMPLEKEYMATERIALdonotprint0000000000000";

    fn settings<'a>(identity: Option<&'a ClientIdentity>, ca_pem: Option<&'a str>) -> Settings<'a> {
        Settings {
            insecure: false,
            max_redirects: 10,
            identity,
            ca_pem,
        }
    }

    fn settings_error(s: Settings<'_>) -> String {
        match build(s) {
            Err(BuildError::Settings(reason)) => reason,
            Err(BuildError::Internal(e)) => panic!("internal: {e}"),
            Ok(_) => panic!("built a client"),
        }
    }

    #[test]
    fn a_bad_client_key_is_named_without_quoting_it() {
        let cert = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let garbled =
            format!("-----BEGIN PRIVATE KEY-----\n{KEY_LINE}!!\n-----END PRIVATE KEY-----\n");
        let identity = ClientIdentity {
            certificate_pem: cert.cert.pem(),
            key_pem: Secret::new(garbled),
        };
        let reason = settings_error(settings(Some(&identity), None));
        assert!(
            reason.starts_with("client certificate could not be loaded: the private key"),
            "{reason}"
        );
        assert!(!reason.contains(KEY_LINE), "{reason}");

        let no_key = ClientIdentity {
            certificate_pem: cert.cert.pem(),
            key_pem: Secret::new("not a key"),
        };
        assert_eq!(
            settings_error(settings(Some(&no_key), None)),
            "client certificate could not be loaded: the private key file holds no PEM private key"
        );

        // A real key that is not the certificate's.
        let other = rcgen::KeyPair::generate().unwrap();
        let mismatched = ClientIdentity {
            certificate_pem: cert.cert.pem(),
            key_pem: Secret::new(other.serialize_pem()),
        };
        let reason = settings_error(settings(Some(&mismatched), None));
        assert!(
            reason.starts_with("client certificate could not be loaded: "),
            "{reason}"
        );
    }

    #[test]
    fn a_bad_ca_is_named() {
        assert_eq!(
            settings_error(settings(None, Some("nothing here"))),
            "CA certificate could not be loaded: the certificate file holds no PEM certificate"
        );
    }

    #[test]
    fn good_settings_build() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".to_owned()]).unwrap();
        let identity = ClientIdentity {
            certificate_pem: ca.cert.pem(),
            key_pem: Secret::new(ca.signing_key.serialize_pem()),
        };
        assert!(build(settings(Some(&identity), Some(&ca.cert.pem()))).is_ok());
    }
}
