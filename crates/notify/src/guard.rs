//! Subscribers' webhooks reach public addresses only.
//!
//! A public visitor chooses a subscriber webhook's URL, so sending to it as the operator's own
//! notifiers are sent would let anyone make Pharos POST to its own machine, the cloud
//! metadata service or the private network. [`WebhookGuard`] sends subscribers' webhooks
//! instead, with its own HTTP client:
//!
//! - **The address connected to is the address checked.** The client's DNS resolver
//!   ([`reqwest::dns::Resolve`]) looks the name up once and hands reqwest only the addresses
//!   [`AddressPolicy`] allows; reqwest connects to exactly those, so a name that answers a
//!   public address to one lookup and a private one to the next (DNS rebinding) gains
//!   nothing: there is no second lookup. A name with no allowed address is refused.
//! - **IP literals are checked before sending** (reqwest does not ask the resolver for them).
//!   The `url` crate has already turned decimal, hexadecimal and octal IPv4 forms
//!   (`http://2130706433/`, `http://0x7f.0.0.1/`, `http://0177.0.0.1/`) into dotted ones.
//! - **No proxy from the environment, no redirects**: a proxy would connect on our behalf to
//!   an address we never saw, and a redirect could point anywhere.
//! - Names are resolved by the system (`getaddrinfo`, as reqwest does by default), or by
//!   the DNS server `[subscriptions] resolver` names (hickory, no cache, no hosts file), which
//!   lets tests point names wherever they like.
//!
//! A refusal is a [`Refusal`], whose words say what was refused and why; it is permanent
//! (retrying does not make an address public). The operator's `[[notifiers]]` are trusted
//! and do not go through here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use pharos_domain::address::{AddressPolicy, NonPublic};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::notifier::Outcome;
use crate::render::RenderedRequest;

/// How long one lookup through the configured DNS server may take, per attempt.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most addresses named in a refusal.
const NAMED_ADDRESSES: usize = 3;

/// Where subscribers' webhooks may go (`[subscriptions]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRules {
    /// Which addresses are allowed: public ones, plus the operator's exceptions.
    pub addresses: AddressPolicy,
    /// The DNS server to resolve webhook names with (UDP, then TCP); the system's resolver
    /// when `None`.
    pub resolver: Option<SocketAddr>,
}

/// Why a subscriber's webhook may not be reached. Its words end with "subscriber webhooks
/// reach public addresses only".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    host: String,
    /// Every address found, with why it is not allowed; empty never.
    refused: Vec<(IpAddr, NonPublic)>,
    /// Whether the host was the address itself rather than a name.
    literal: bool,
}

impl Refusal {
    /// The host as written in the URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The addresses refused, and why.
    pub fn addresses(&self) -> &[(IpAddr, NonPublic)] {
        &self.refused
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.refused.as_slice() {
            [(ip, why)] if self.literal => write!(f, "{ip} is {why}")?,
            [(ip, why)] => write!(f, "{} resolves to {ip}, {why}", self.host)?,
            many => {
                write!(
                    f,
                    "{} resolves only to addresses that are not public: ",
                    self.host
                )?;
                let named: Vec<String> = many
                    .iter()
                    .take(NAMED_ADDRESSES)
                    .map(|(ip, why)| format!("{ip} ({why})"))
                    .collect();
                f.write_str(&named.join(", "))?;
                if many.len() > NAMED_ADDRESSES {
                    write!(f, " and {} more", many.len() - NAMED_ADDRESSES)?;
                }
            }
        }
        f.write_str("; subscriber webhooks reach public addresses only")
    }
}

impl std::error::Error for Refusal {}

/// Why a [`WebhookGuard`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The HTTP client could not be built (no TLS backend).
    #[error("the subscriber webhook client could not be built: {0}")]
    Client(String),
    /// The resolver for `[subscriptions] resolver` could not be built.
    #[error("the resolver for subscriber webhooks could not be built: {0}")]
    Resolver(String),
}

/// How names are looked up.
enum Lookup {
    /// `getaddrinfo`, through tokio.
    System,
    /// A configured DNS server.
    Server(Box<TokioResolver>),
}

/// Looks names up and keeps the allowed addresses: shared by the client's resolver and the
/// subscribe-time check.
struct Resolution {
    policy: AddressPolicy,
    lookup: Lookup,
}

impl Resolution {
    /// Every address `host` resolves to, each once, in the order given; an error (or no
    /// address at all) says why there is none.
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let found: Vec<IpAddr> = match &self.lookup {
            Lookup::System => tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| e.to_string())?
                .map(|a| a.ip())
                .collect(),
            Lookup::Server(resolver) => resolver
                .lookup_ip(host)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .collect(),
        };
        let mut out: Vec<IpAddr> = Vec::with_capacity(found.len());
        for ip in found {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        if out.is_empty() {
            return Err(format!("{host} has no addresses"));
        }
        Ok(out)
    }

    /// The allowed addresses among `found` (at least one), or the refusal naming them all.
    fn judge(&self, host: &str, found: Vec<IpAddr>) -> Result<Vec<IpAddr>, Refusal> {
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for ip in found {
            match self.policy.check(ip) {
                Ok(()) => allowed.push(ip),
                Err(why) => refused.push((ip, why)),
            }
        }
        if allowed.is_empty() {
            return Err(Refusal {
                host: host.to_owned(),
                refused,
                literal: false,
            });
        }
        if !refused.is_empty() {
            let skipped: Vec<String> = refused.iter().map(|(ip, _)| ip.to_string()).collect();
            tracing::warn!(
                host,
                skipped = %skipped.join(", "),
                "a subscriber webhook's name resolves to addresses that are not public too; only its public ones are used"
            );
        }
        Ok(allowed)
    }
}

/// The resolver handed to reqwest: looks up, keeps the allowed addresses, or refuses.
struct GuardedResolver(Arc<Resolution>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolution = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = resolution.lookup(&host).await?;
            let allowed = resolution.judge(&host, found)?;
            // Port 0: reqwest puts the URL's (or the scheme's) port in.
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Sends subscribers' webhooks to allowed addresses only, and checks an endpoint when it is
/// subscribed. Cheap to clone.
#[derive(Clone)]
pub struct WebhookGuard {
    resolution: Arc<Resolution>,
    client: reqwest::Client,
}

impl fmt::Debug for WebhookGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookGuard")
            .field("policy", &self.resolution.policy)
            .finish_non_exhaustive()
    }
}

impl WebhookGuard {
    /// A guard applying `rules`, with its own HTTP client (no proxy, no redirects, the
    /// guarded resolver). Needs a tokio runtime when `rules.resolver` is set.
    pub fn new(rules: &WebhookRules) -> Result<WebhookGuard, GuardError> {
        let lookup = match rules.resolver {
            None => Lookup::System,
            Some(server) => Lookup::Server(Box::new(server_resolver(server)?)),
        };
        let resolution = Arc::new(Resolution {
            policy: rules.addresses.clone(),
            lookup,
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver(resolution.clone()))
            .user_agent(crate::channels::USER_AGENT)
            .build()
            .map_err(|e| GuardError::Client(e.to_string()))?;
        Ok(WebhookGuard { resolution, client })
    }

    /// The check made when a webhook is subscribed: an IP-literal host that is not allowed,
    /// or a name that resolves only to addresses that are not allowed, is refused. A name
    /// that does not resolve (yet), or whose lookup takes longer than `within`, is not: its
    /// DNS may be published after subscribing, a slow resolver on our side should not turn a
    /// person away, and every delivery checks again. A URL that does not parse is left to
    /// the caller's own check.
    pub async fn check_endpoint(&self, url: &str, within: Duration) -> Result<(), Refusal> {
        let Ok(url) = reqwest::Url::parse(url) else {
            return Ok(());
        };
        let Some(host) = url.host_str() else {
            return Ok(());
        };
        if let Some(ip) = literal_host(&url) {
            return self.check_literal(host, ip);
        }
        match tokio::time::timeout(within, self.resolution.lookup(host)).await {
            Ok(Ok(found)) => self.resolution.judge(host, found).map(drop),
            Ok(Err(reason)) => {
                tracing::debug!(host, %reason, "a subscribed webhook's name does not resolve yet; accepted, each delivery checks again");
                Ok(())
            }
            Err(_) => {
                tracing::debug!(host, "looking up a subscribed webhook's name timed out; accepted, each delivery checks again");
                Ok(())
            }
        }
    }

    fn check_literal(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        self.resolution.policy.check(ip).map_err(|why| Refusal {
            host: host.to_owned(),
            refused: vec![(ip, why)],
            literal: true,
        })
    }

    /// POSTs `req` once within `timeout` like every channel (see [`RenderedRequest::send`]),
    /// to an allowed address only: `Err` when its host is, or resolves only to, addresses
    /// that are not allowed. Nothing is sent then.
    pub async fn post(
        &self,
        req: &RenderedRequest,
        timeout: Duration,
        secrets: &[&str],
    ) -> Result<Outcome, Refusal> {
        if let Ok(url) = reqwest::Url::parse(&req.url) {
            if let (Some(host), Some(ip)) = (url.host_str(), literal_host(&url)) {
                self.check_literal(host, ip)?;
            }
        }
        crate::http::post_or_refuse(&self.client, req, timeout, secrets).await
    }
}

/// A hickory resolver asking only `server`, over UDP and then TCP, caching nothing (each
/// connection asks afresh, as `getaddrinfo` would) and ignoring the hosts file.
fn server_resolver(server: SocketAddr) -> Result<TokioResolver, GuardError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let name_server = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
    let config = ResolverConfig::from_name_servers(vec![name_server]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.use_hosts_file = ResolveHosts::Never;
    options.timeout = LOOKUP_TIMEOUT;
    options.attempts = 2;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    builder
        .build()
        .map_err(|e| GuardError::Resolver(e.to_string()))
}

/// The URL's host when it is an IP address. The `url` crate writes every IPv4 form it
/// accepts (decimal, hexadecimal, octal, shortened) as dotted decimal, so a host that does
/// not parse here is a name.
pub fn literal_host(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_url_crate_writes_every_ipv4_form_as_dotted_decimal() {
        let table = [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.0.0.1/", "127.0.0.1"),
            ("http://0x7f000001/", "127.0.0.1"),
            ("http://017700000001/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://127.0.1/", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://0x0/", "0.0.0.0"),
            ("http://3232235777:8080/x", "192.168.1.1"),
            (
                "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",
                "169.254.169.254",
            ),
            ("http://[::1]:9/", "::1"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
            ("http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:127.0.0.1"),
            ("http://%31%32%37.0.0.1/", "127.0.0.1"),
            ("http://127.0.0.1./", "127.0.0.1"),
        ];
        for (url, want) in table {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert_eq!(
                literal_host(&parsed),
                Some(want.parse().unwrap()),
                "{url} → {:?}",
                parsed.host_str()
            );
        }
        for name in [
            "http://hooks.example.com/",
            "http://localhost/",
            "http://0x7f.example/",
        ] {
            assert_eq!(
                literal_host(&reqwest::Url::parse(name).unwrap()),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn refusals_say_what_and_why() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let why = |s: &str| pharos_domain::address::classify(ip(s)).unwrap();
        let one = Refusal {
            host: "hooks.example.com".into(),
            refused: vec![(ip("10.0.0.5"), why("10.0.0.5"))],
            literal: false,
        };
        assert_eq!(
            one.to_string(),
            "hooks.example.com resolves to 10.0.0.5, a private network address; subscriber \
             webhooks reach public addresses only"
        );
        let literal = Refusal {
            host: "[::1]".into(),
            refused: vec![(ip("::1"), why("::1"))],
            literal: true,
        };
        assert_eq!(
            literal.to_string(),
            "::1 is a loopback address; subscriber webhooks reach public addresses only"
        );
        let many = Refusal {
            host: "h.example".into(),
            refused: ["10.0.0.1", "127.0.0.1", "169.254.169.254", "fd00::1"]
                .iter()
                .map(|s| (ip(s), why(s)))
                .collect(),
            literal: false,
        };
        assert_eq!(
            many.to_string(),
            "h.example resolves only to addresses that are not public: 10.0.0.1 (a private \
             network address), 127.0.0.1 (a loopback address), 169.254.169.254 (a link-local \
             address) and 1 more; subscriber webhooks reach public addresses only"
        );
    }
}
