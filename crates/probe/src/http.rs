//! The `http` check: one request, the response's status, headers, address and (when a
//! condition reads `[BODY]`) body, within the monitor's timeout from connection to last body
//! byte, with the time each phase took (DNS, TCP connect, TLS, first byte; see `phases`).
//!
//! Clients are pooled, not built per check: Pharos runs thousands of monitors, and building a
//! TLS client costs CPU (root store, crypto setup) while a shared client keeps keep-alive
//! connections open across checks. Redirects, certificate checking, the client certificate
//! and extra CA are fixed per client in reqwest, so there is one client per distinct
//! [`ClientKey`], built on first use and kept (see `client`). Credentials (`auth`) are per
//! request and need no client of their own.
//!
//! Phase timings (see `phases`): every client resolves names with a timed resolver, wraps
//! reqwest's connector in a layer that marks when a connection is asked for and ready, and
//! uses a rustls configuration of our own whose session store marks the start of the TLS
//! handshake (i.e. the end of TCP connect). Each check carries its own recorder in a
//! task-local around the request, so shared clients record into the right check. A request
//! over a kept-alive connection only has the wait for the first byte.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use pharos_domain::monitor::{ClientIdentity, HttpAuth, DEFAULT_MAX_REDIRECTS};
use pharos_domain::{HttpSpec, Observation};
use reqwest::{Client, Method, Response};
use sha2::{Digest, Sha256};
use tokio::time::{timeout_at, Instant};

use crate::{reason, timed_out, ProbeError};

mod client;
mod phases;

use client::BuildError;

/// The settings that need a client of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey {
    insecure: bool,
    max_redirects: usize,
    /// The client certificate and key, by fingerprint: the key is a secret, and a map key
    /// must not hold (or ever print) it.
    identity: Option<Fingerprint>,
    /// The extra trusted CA, by fingerprint.
    ca: Option<Fingerprint>,
}

impl ClientKey {
    fn of(spec: &HttpSpec) -> ClientKey {
        ClientKey {
            insecure: spec.insecure,
            max_redirects: spec.max_redirects,
            identity: spec.client_identity.as_ref().map(Fingerprint::of_identity),
            ca: spec
                .ca_certificate_pem
                .as_deref()
                .map(|pem| Fingerprint::of(&[pem.as_bytes()])),
        }
    }
}

/// SHA-256 over PEM texts: hashing a few KiB per check is cheap, and a collision (which would
/// hand one monitor another's certificate) is out of reach, as it would not be for `Hash`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Fingerprint([u8; 32]);

impl Fingerprint {
    fn of(parts: &[&[u8]]) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in parts {
            // Length-prefixed, so that moving bytes from one part to the next changes it.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Fingerprint(hash.finalize().into())
    }

    fn of_identity(identity: &ClientIdentity) -> Fingerprint {
        Fingerprint::of(&[
            identity.certificate_pem.as_bytes(),
            identity.key_pem.expose().as_bytes(),
        ])
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Derived from a secret: nothing of it goes to a log.
        f.write_str("Fingerprint(..)")
    }
}

/// Runs `http` checks over a small cache of shared clients.
#[derive(Debug)]
pub(crate) struct HttpProber {
    clients: RwLock<HashMap<ClientKey, Client>>,
}

impl HttpProber {
    /// Builds the common client (verified TLS, default redirects) at once, so that a broken
    /// TLS setup fails start-up instead of showing up later as failing checks.
    pub(crate) fn new() -> Result<Self, ProbeError> {
        let key = ClientKey {
            insecure: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            identity: None,
            ca: None,
        };
        let client = client::build(client::Settings {
            insecure: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            identity: None,
            ca_pem: None,
        })
        .map_err(|e| ProbeError::HttpClient(Box::new(e)))?;
        Ok(HttpProber {
            clients: RwLock::new(HashMap::from([(key, client)])),
        })
    }

    /// The shared client for `spec`'s settings, built on first use. A client that cannot be
    /// built is not kept, so a fixed certificate file is picked up.
    fn client(&self, spec: &HttpSpec) -> Result<Client, BuildError> {
        let key = ClientKey::of(spec);
        // A poisoned lock only means another check panicked mid-insert; the map is still a
        // valid cache, so keep using it.
        if let Some(client) = self
            .clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(client.clone());
        }
        // Build outside the lock (it reads the system's root certificates), so other checks
        // are never held up; if two checks race, the first client stored wins.
        let built = client::build(client::Settings {
            insecure: spec.insecure,
            max_redirects: spec.max_redirects,
            identity: spec.client_identity.as_ref(),
            ca_pem: spec.ca_certificate_pem.as_deref(),
        })?;
        tracing::debug!(
            insecure = key.insecure,
            max_redirects = key.max_redirects,
            client_certificate = key.identity.is_some(),
            extra_ca = key.ca.is_some(),
            "built an HTTP client for new settings"
        );
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        Ok(clients.entry(key).or_insert(built).clone())
    }

    /// Runs one request. `deadline` bounds everything, body included; on running out of time
    /// it keeps what it already saw (status, headers, phases) and says it timed out.
    pub(crate) async fn check(
        &self,
        spec: &HttpSpec,
        keep_body: bool,
        timeout: Duration,
        started: Instant,
        deadline: Instant,
    ) -> Observation {
        let client = match self.client(spec) {
            Ok(client) => client,
            // The monitor's certificate settings: its failure, in its words.
            Err(BuildError::Settings(reason)) => {
                return Observation::failed(reason, started.elapsed())
            }
            Err(BuildError::Internal(err)) => {
                // Pharos's fault, not the target's. `new` built a client with the same TLS
                // setup, so this is not expected; say plainly that it is ours.
                tracing::error!(error = %err, "could not build an HTTP client");
                return Observation::failed(
                    format!("internal error: could not build the HTTP client: {err}"),
                    started.elapsed(),
                );
            }
        };
        let method = match Method::from_bytes(spec.method.as_bytes()) {
            Ok(method) => method,
            Err(_) => {
                return Observation::failed(
                    format!("invalid request: bad method {:?}", spec.method),
                    started.elapsed(),
                )
            }
        };
        let mut request = client.request(method, spec.url.as_str());
        for (name, value) in &spec.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        // reqwest marks these headers sensitive (never shown by `Debug`) and drops them on a
        // redirect to another host.
        match &spec.auth {
            Some(HttpAuth::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password.expose()));
            }
            Some(HttpAuth::Bearer(token)) => request = request.bearer_auth(token.expose()),
            None => {}
        }
        if let Some(body) = &spec.body {
            request = request.body(body.clone());
        }

        let recorder = Arc::new(phases::Recorder::default());
        let sent = Instant::now();
        let sending = phases::record(recorder.clone(), request.send());
        let response = match timeout_at(deadline, sending).await {
            Err(_) => {
                let mut observation = Observation::failed(timed_out(timeout), started.elapsed());
                observation.timings = recorder.finish(sent, None);
                return observation;
            }
            Ok(Err(err)) => {
                let host = reqwest::Url::parse(&spec.url).ok();
                let host = host.as_ref().and_then(|u| u.host_str());
                let mut observation =
                    Observation::failed(reason::http_error(&err, host), started.elapsed());
                // Answers did arrive, they just kept redirecting.
                observation.connected = err.is_redirect();
                observation.timings = recorder.finish(sent, None);
                return observation;
            }
            Ok(Ok(response)) => response,
        };

        let mut observation = Observation {
            connected: true,
            status: Some(response.status().as_u16()),
            headers: response
                .headers()
                .iter()
                .map(|(name, value)| {
                    // `HeaderName` is already lower case.
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            ip: response.remote_addr().map(|addr| addr.ip()),
            timings: recorder.finish(sent, Some(Instant::now())),
            ..Observation::default()
        };
        match read_body(response, spec.max_body_bytes, keep_body, deadline).await {
            Ok(body) => observation.body = body,
            Err(BodyError::TimedOut) => observation.error = Some(timed_out(timeout)),
            Err(BodyError::TooLarge) => {
                observation.error = Some(reason::body_too_large(spec.max_body_bytes));
            }
            Err(BodyError::Read(err)) => {
                observation.error = Some(reason::http_error(&err, None));
            }
        }
        observation.response_time = started.elapsed();
        observation
    }
}

enum BodyError {
    TimedOut,
    TooLarge,
    Read(reqwest::Error),
}

/// Reads the body to its end, so the connection can go back to the pool, but never holds
/// more than `limit` bytes: a declared length over the limit fails before reading, and a
/// streamed body fails at the first chunk that crosses it (dropping the response closes
/// the connection, so the rest is never received).
async fn read_body(
    mut response: Response,
    limit: usize,
    keep: bool,
    deadline: Instant,
) -> Result<Option<String>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    if keep {
        // Trust the declared length for the first allocation only up to the limit.
        let declared = declared.and_then(|len| usize::try_from(len).ok());
        body.reserve(declared.unwrap_or(0).min(limit));
    }
    let mut total: usize = 0;
    loop {
        let chunk = match timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(Err(err)) => return Err(BodyError::Read(err)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        total = total.saturating_add(chunk.len());
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if keep {
            body.extend_from_slice(&chunk);
        }
    }
    Ok(keep.then(|| String::from_utf8_lossy(&body).into_owned()))
}
