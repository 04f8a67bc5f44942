//! What a monitor is: one check of one target, on an interval, judged by conditions, driving
//! one or more components. Built from configuration (or later, the admin API) and then
//! treated as immutable.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::condition::Condition;
use crate::fingerprint::{self, FingerprintKey};
use crate::heartbeat::HeartbeatSpec;
use crate::ids::{ComponentId, MonitorId};
use crate::location::Placement;
use crate::prometheus::PrometheusSpec;
use crate::status::ComponentStatus;

/// Largest response body a check reads by default; past it the check fails, so a target
/// that streams 100 MB can never grow our memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Redirects followed before the check fails with "too many redirects".
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// A monitor, fully validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSpec {
    /// Stable id.
    pub id: MonitorId,
    /// What to check and how.
    pub kind: MonitorKind,
    /// Time between the starts of two checks.
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub interval: Duration,
    /// Longest a single check may take, connection to last body byte.
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub timeout: Duration,
    /// Consecutive failed checks before the monitor is down.
    pub failure_threshold: u32,
    /// Consecutive good checks before a down monitor is up again.
    pub success_threshold: u32,
    /// All must hold, else the check is down.
    pub conditions: Vec<Condition>,
    /// All must hold, else the check is degraded.
    pub degraded_conditions: Vec<Condition>,
    /// Components this monitor drives.
    pub components: Vec<ComponentId>,
    /// Component status while this monitor is down.
    pub on_failure: ComponentStatus,
    /// Monitors this one depends on: while one of them is down, this one going down opens
    /// no incident of its own (it joins theirs). Its recovery is never held back.
    pub depends_on: Vec<MonitorId>,
    /// Retries and flap detection: how the monitor keeps from crying wolf.
    pub quiet: QuietRules,
    /// Where it is checked from and how many places must agree it is down. Left out of the
    /// stored definition when it is the server alone, so monitors defined before locations
    /// existed keep their fingerprints.
    #[serde(default, skip_serializing_if = "Placement::is_local_only")]
    pub placement: Placement,
}

/// How a monitor keeps quiet: a failed check is retried before it counts, and a monitor that
/// keeps changing state is marked flapping (one incident update, not one per change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietRules {
    /// Extra attempts after a failed check before the failure counts (0: none). A retry
    /// that passes makes the check pass.
    pub retries: u32,
    /// Pause before each retry.
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub retry_interval: Duration,
    /// The window over which changes of state are counted.
    #[serde(serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub flap_window: Duration,
    /// Changes into or out of down within `flap_window` that mark the monitor flapping;
    /// 0 turns flap detection off. It stops flapping after a whole window without one.
    pub flap_threshold: u32,
}

impl Default for QuietRules {
    /// No retries (5s apart when asked for); flapping at 5 changes within 30 minutes (down
    /// for the third time after two recoveries), so a single relapse still reads as one.
    fn default() -> Self {
        QuietRules {
            retries: 0,
            retry_interval: Duration::from_secs(5),
            flap_window: Duration::from_secs(30 * 60),
            flap_threshold: 5,
        }
    }
}

impl MonitorSpec {
    /// Whether any condition reads `[BODY]`, so the probe knows to keep the body.
    pub fn needs_body(&self) -> bool {
        self.conditions
            .iter()
            .chain(&self.degraded_conditions)
            .any(Condition::needs_body)
    }

    /// The monitor type as written in configuration (`"http"`, `"tcp"`).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// A stable JSON rendering of the whole definition, stored so that a changed
    /// configuration can be told from an unchanged one at start. Secrets, header values, the
    /// request body and URL user information are written as fingerprints keyed with `key`
    /// (see [`fingerprint`](crate::fingerprint)): the same secret gives the same text, a
    /// changed one a changed text, and the secret itself is never in it.
    pub fn definition_json(&self, key: &FingerprintKey) -> String {
        // Serializing plain data with string keys cannot fail.
        fingerprint::with_key(key, || serde_json::to_string(self).unwrap_or_default())
    }

    /// The whole definition as JSON with its secrets in clear, for the probe that runs it
    /// (deserializing it gives this spec back). Never store or log it.
    pub fn wire_json(&self) -> serde_json::Value {
        // Serializing plain data with string keys cannot fail.
        fingerprint::in_clear(|| serde_json::to_value(self).unwrap_or_default())
    }
}

/// The kind of check, with its kind-specific settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MonitorKind {
    /// An HTTP(S) request.
    Http(HttpSpec),
    /// A TCP connection.
    Tcp(TcpSpec),
    /// Pings from a job (see [`heartbeat`](crate::heartbeat)); never probed, so never sent
    /// to a probe either.
    #[serde(skip_deserializing)]
    Heartbeat(HeartbeatSpec),
    /// One series of a Prometheus metrics page against a threshold and its trend (see
    /// [`prometheus`](crate::prometheus)).
    Prometheus(PrometheusSpec),
    /// One DNS query to a chosen resolver.
    Dns(DnsSpec),
    /// A TLS handshake, to read the certificate and judge its chain and name.
    Tls(TlsSpec),
    /// An ICMP echo ("ping").
    Icmp(IcmpSpec),
}

impl MonitorKind {
    /// The type as written in configuration.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Heartbeat(_) => "heartbeat",
            Self::Prometheus(_) => "prometheus",
            Self::Dns(_) => "dns",
            Self::Tls(_) => "tls",
            Self::Icmp(_) => "icmp",
        }
    }
}

/// Settings of an `http` monitor. `Debug` and the stored form hide the URL's user
/// information, header values and the body (see [`fingerprint`](crate::fingerprint)).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// Absolute `http://` or `https://` URL; it may hold `user:password@`.
    #[serde(serialize_with = "fingerprint::url")]
    pub url: String,
    /// Request method, upper case (default `GET`).
    pub method: String,
    /// Extra request headers, in order. Their values are treated as secrets.
    #[serde(serialize_with = "fingerprint::headers")]
    pub headers: Vec<(String, String)>,
    /// Request body, if any (treated as a secret: it may hold credentials).
    #[serde(serialize_with = "fingerprint::opt_secret_str")]
    pub body: Option<String>,
    /// Redirects followed before failing; 0 means redirects are not followed.
    pub max_redirects: usize,
    /// Accept invalid or self-signed certificates (off by default).
    pub insecure: bool,
    /// Largest body read before the check fails.
    pub max_body_bytes: usize,
    /// Credentials sent with the request, if any.
    pub auth: Option<HttpAuth>,
    /// Status codes that count as success; empty means "use the conditions alone" (the
    /// default condition is `[STATUS] < 400`). A status outside them fails the check.
    pub accepted_status_codes: Vec<StatusRange>,
    /// A client certificate presented to servers that ask for one (mutual TLS).
    pub client_identity: Option<ClientIdentity>,
    /// An extra trusted root (PEM, read at start-up from `ca_certificate`), for servers
    /// whose certificates an internal CA issued.
    pub ca_certificate_pem: Option<String>,
}

/// Credentials of an `http` check. The secret parts never print (see [`Secret`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpAuth {
    /// `Authorization: Basic …`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// `Authorization: Bearer …`.
    Bearer(Secret),
}

/// An inclusive range of HTTP status codes, written `200` or `"200-299"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub from: u16,
    /// Highest accepted code.
    pub to: u16,
}

impl StatusRange {
    /// Whether `status` is in the range.
    pub fn contains(self, status: u16) -> bool {
        (self.from..=self.to).contains(&status)
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// A client certificate and its private key, both PEM, read from files at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientIdentity {
    /// The certificate chain, PEM.
    pub certificate_pem: String,
    /// The private key, PEM.
    pub key_pem: Secret,
}

/// A value that must never reach a log or the database: `Debug` and `Display` print
/// `[redacted]` and it serializes (in stored monitor definitions) as a fingerprint keyed with
/// the database's key (see [`fingerprint`](crate::fingerprint)), so a changed secret still
/// reads as a changed definition.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is sent, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// Reads a secret sent in clear (see [`fingerprint::in_clear`]).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fingerprint::secret_str(&self.0, s)
    }
}

/// Settings of a `dns` monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsSpec {
    /// The resolver asked: an address with a port (`1.1.1.1:53`).
    pub server: std::net::SocketAddr,
    /// The name looked up.
    pub query_name: String,
    /// The record type, upper case (`A`, `AAAA`, `CNAME`, `MX`, `NS`, `TXT`, `SOA`, `PTR`,
    /// `SRV`, `CAA`).
    pub query_type: String,
}

/// Record types a `dns` monitor can ask for.
pub const DNS_QUERY_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT",
];

/// Settings of a `tls` monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSpec {
    /// Host name (also the name the certificate must carry) or address.
    pub host: String,
    /// Port (default 443).
    pub port: u16,
    /// Read the certificate without judging its chain or name (off by default).
    pub insecure: bool,
    /// An extra trusted root (PEM, read at start-up from `ca_certificate`), for servers
    /// whose certificates an internal CA issued.
    pub ca_certificate_pem: Option<String>,
}

/// Settings of an `icmp` monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpSpec {
    /// Host name or address pinged.
    pub host: String,
}

impl std::fmt::Debug for HttpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), fingerprint::REDACTED))
            .collect();
        f.debug_struct("HttpSpec")
            .field("url", &fingerprint::redact_userinfo(&self.url))
            .field("method", &self.method)
            .field("headers", &headers)
            .field("body", &self.body.as_ref().map(|_| fingerprint::REDACTED))
            .field("max_redirects", &self.max_redirects)
            .field("insecure", &self.insecure)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("auth", &self.auth)
            .field("accepted_status_codes", &self.accepted_status_codes)
            .field("client_identity", &self.client_identity)
            .field("ca_certificate_pem", &self.ca_certificate_pem)
            .finish()
    }
}

impl HttpSpec {
    /// A plain `GET url` with every default: no extra headers or body, 10 redirects,
    /// certificates verified, 1 MiB body limit.
    pub fn get(url: impl Into<String>) -> HttpSpec {
        HttpSpec {
            url: url.into(),
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            insecure: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            auth: None,
            accepted_status_codes: Vec::new(),
            client_identity: None,
            ca_certificate_pem: None,
        }
    }
}

/// The `[self_check]`: targets that answer whenever Pharos's own network works (a gateway, a
/// resolver). When every one fails in the same round, Pharos is the one cut off, and its
/// failed checks are not counted against the targets.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheck {
    /// The targets, each as written (`tcp://10.0.0.1:53`) with the check run for it.
    pub targets: Vec<(String, MonitorSpec)>,
    /// Time between two rounds.
    pub interval: Duration,
}

/// Settings of a `tcp` monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpSpec {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Serializes a duration as whole milliseconds (the stored monitor definitions' form).
pub(crate) fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Reads a duration written by [`as_millis`].
pub(crate) fn from_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Reads a duration written by [`opt_millis`].
pub(crate) fn opt_from_millis<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    Option::<u64>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
}

/// [`as_millis`] for an optional duration (`null` when absent).
pub(crate) fn opt_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => as_millis(d, s),
        None => s.serialize_none(),
    }
}

/// The status a monitor contributes to each component it drives.
pub fn contribution(health: crate::Health, on_failure: ComponentStatus) -> ComponentStatus {
    match health {
        crate::Health::Down => on_failure,
        crate::Health::Degraded => ComponentStatus::DegradedPerformance,
        crate::Health::Up | crate::Health::Unknown => ComponentStatus::Operational,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(http: HttpSpec) -> MonitorSpec {
        MonitorSpec {
            id: MonitorId::new("api").unwrap(),
            kind: MonitorKind::Http(http),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            failure_threshold: 3,
            success_threshold: 1,
            conditions: Vec::new(),
            degraded_conditions: Vec::new(),
            components: vec![ComponentId::new("api").unwrap()],
            on_failure: ComponentStatus::MajorOutage,
            depends_on: Vec::new(),
            quiet: QuietRules::default(),
            placement: crate::location::Placement::default(),
        }
    }

    fn secretive() -> HttpSpec {
        let mut http = HttpSpec::get("https://probe:pw-1234@api.example.com/health?region=eu");
        http.headers = vec![("X-Api-Key".into(), "key-5678".into())];
        http.body = Some(r#"{"token":"body-9012"}"#.into());
        http.auth = Some(HttpAuth::Bearer(Secret::new("bearer-3456")));
        http
    }

    #[test]
    fn a_stored_definition_holds_no_secret_and_changes_with_each() {
        let key = FingerprintKey::derive(b"database key");
        let stored = spec(secretive()).definition_json(&key);
        for secret in ["pw-1234", "probe", "key-5678", "body-9012", "bearer-3456"] {
            assert!(!stored.contains(secret), "{secret} stored: {stored}");
        }
        assert!(
            stored.contains("api.example.com/health?region=eu"),
            "{stored}"
        );
        assert!(stored.contains("X-Api-Key"), "header names stay: {stored}");
        assert_eq!(stored, spec(secretive()).definition_json(&key), "stable");

        let changes: [fn(&mut HttpSpec); 4] = [
            |h| h.url = "https://probe:pw-9999@api.example.com/health?region=eu".into(),
            |h| h.headers[0].1 = "key-0000".into(),
            |h| h.body = Some(r#"{"token":"body-0000"}"#.into()),
            |h| h.auth = Some(HttpAuth::Bearer(Secret::new("bearer-0000"))),
        ];
        for change in changes {
            let mut http = secretive();
            change(&mut http);
            assert_ne!(spec(http).definition_json(&key), stored);
        }
        // Debug output (logs, panics) shows none of them either.
        let shown = format!("{:?}", spec(secretive()));
        for secret in ["pw-1234", "key-5678", "body-9012", "bearer-3456"] {
            assert!(!shown.contains(secret), "{secret} in Debug: {shown}");
        }
        assert!(shown.contains("probe:***@api.example.com"), "{shown}");
    }
}
