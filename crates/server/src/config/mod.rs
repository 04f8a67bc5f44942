//! Configuration: the TOML file of SPEC §2, turned into validated domain types.
//!
//! The file is parsed with `toml_edit`, whose document keeps the byte span of every key and
//! value, and then walked by hand rather than deserialized with serde, because serde stops at
//! the first problem while `pharos validate` promises *every* problem at once, each printed
//! as `FILE:LINE:COLUMN: error: message` (or `warning:`) pointing at the offending key or
//! value, with 1-based lines and columns counted in characters.
//!
//! Rules, beyond the shapes in SPEC §2:
//! - Any string value, including inside arrays and inline tables, may contain `${ENV_VAR}`;
//!   a missing variable is an error at that reference. `$${` is a literal `${` (so
//!   `"$${HOME}"` is the text `${HOME}`); any other `$` is kept as written. Keys are never
//!   interpolated, and substituted text is not interpolated again.
//! - Unknown keys are errors (with a "did you mean" when a known key is close); so are keys
//!   that belong to another monitor type.
//! - A component that no monitor drives is a warning; everything else found is an error.
//!
//! Beyond SPEC §2, the file may bound the HTTP server, name its admin tokens, declare planned
//! maintenance windows, and let published postmortems name responders:
//!
//! ```toml
//! [server]
//! header_timeout = "10s"           # request headers must arrive within this, after connecting
//!                                  # or after the previous answer (1s–5m); also the idle timeout
//! max_connections = 10000          # open at once (1–1,000,000); more wait to be accepted
//!
//! [page]
//! show_responders = false          # true: a published postmortem names who declared the
//!                                  # incident, posted updates, owns an action item
//!
//! [admin]
//! # A plain string is named `token-N` after its 1-based position; a table names its token.
//! # The name is recorded as the author of every change made with the token.
//! tokens = ["${CI_TOKEN}", { name = "alice", token = "${ALICE_TOKEN}" }]
//!
//! [incidents]                      # every key optional; these are the defaults
//! auto_open = true                 # a confirmed failure opens an incident...
//! auto_publish = true              # ...and shows it on the public page at once
//! auto_resolve_after = "10m"       # healthy this long while "monitoring" → resolved (1s–30d)
//! group_window = "60s"             # failures this soon after an automated incident join it (0s–1h)
//!
//! [[maintenances]]
//! id = "db-upgrade-2026-12"        # [a-z0-9_-]+, unique among maintenances
//! name = "Database upgrade"        # at most 255 characters
//! body = "We are upgrading the primary database."   # optional Markdown, ≤ 25,000 characters
//! components = ["api", "db"]       # declared component ids, at least one
//! scheduled_for = "2026-12-01T02:00:00Z"            # RFC 3339 with an offset; kept in UTC
//! scheduled_until = "2026-12-01T05:00:00+01:00"     # after scheduled_for (04:00 UTC)
//! auto_start = true                # optional: in progress at scheduled_for (default true)
//! auto_complete = true             # optional: completed at scheduled_until (default true)
//! ```
//!
//! Responders' channels (`[[notifiers]]`, SPEC §2 and §5) take these keys:
//!
//! ```toml
//! [[notifiers]]
//! id = "ops"                       # [a-z0-9_-]+, unique among notifiers
//! type = "webhook"                 # webhook | slack | discord | teams | ntfy | pagerduty | email
//! url = "https://hooks.example.com/pharos"   # http(s); required except for pagerduty, whose
//!                                  # default is the Events API v2 endpoint
//! secret = "${WEBHOOK_SECRET}"     # webhook only, optional: HMAC-SHA256 signing
//! token = "${NTFY_TOKEN}"          # ntfy only, optional: bearer token
//! routing_key = "${PD_ROUTING_KEY}"   # pagerduty only, required
//! to = ["oncall@example.com"]      # email only, required: valid addresses, each once
//! events = ["incident_opened", "component_status"]   # optional; default: every incident
//!                                  # and maintenance event (component_status is opt-in)
//! components = ["api"]             # optional: only events about these declared components
//! min_severity = "S2"              # optional: only incidents at least this severe (S1 worst)
//! timeout = "10s"                  # optional, 1s–60s (default 10s; email: [smtp] timeout)
//! concurrency = 4                  # optional, 1–64 (default 4)
//! ```
//!
//! A key of another notifier type is an error naming the type it belongs to. `events` and
//! `components`, when present, must not be empty. A notifier's `url`, `secret`, `token` and
//! `routing_key` are credentials (a chat webhook's URL is one): no diagnostic repeats them.
//! An `email` notifier takes no `url` and needs the `[smtp]` table (an error on its `type`
//! otherwise):
//!
//! ```toml
//! [smtp]
//! host = "smtp.example.com"        # required: a host name or IP address, no scheme or port
//! port = 587                       # optional; default by security: 587, 465 or 25
//! security = "starttls"            # starttls (required upgrade) | tls (from the first
//!                                  # byte) | none (local relays only); default starttls
//! username = "status@example.com"  # optional; needs password, and password needs it
//! password = "${SMTP_PASSWORD}"    # a credential: never repeated in any message
//! from = "Acme Status <status@example.com>"   # required: the sender, name optional
//! timeout = "10s"                  # optional, 1s–60s (default 10s): one message's delivery
//! ```
//!
//! A port of the other security's usual kind (465 with `starttls`, 587 with `tls`) is a
//! warning, and so is a password with `security = "none"`.
//!
//! Admin token names must be non-empty, at most 64 characters and unique, and no two entries
//! may hold the same token (the author would be ambiguous); a token shorter than 16
//! characters is a warning. Secrets never appear in diagnostics or in `Debug` output.
//! Maintenance timestamps may also be TOML offset date-times (written without quotes); a
//! timestamp without an offset is an error, because its instant would depend on the server's
//! time zone. `auto_publish = true` with `auto_open = false` is a warning: it has no effect.
//!
//! `[console] secret_key_file` (the key TOTP secrets are sealed under, else the environment
//! variable `PHAROS_SECRET_KEY`) is described in `console.rs`.
//!
//! `[changes]` (how far back an incident lists changes, and the release-regression check)
//! is described in `changes.rs`, and `[subscriptions]` (which addresses the public's webhook
//! subscribers may reach: public ones only unless `allow_private_webhooks` or
//! `allowed_webhook_networks` say otherwise; and the DNS `resolver` for their names) in
//! `subscriptions.rs`.
//!
//! `[page]` also takes the page's branding, every key optional:
//!
//! ```toml
//! [page]
//! logo_url = "https://example.com/logo.svg"   # or "/logo.svg" on the page's own origin
//! favicon_url = "/favicon.png"                # same forms as logo_url
//! accent_color = "#0b62c9"                    # #rgb or #rrggbb: links, buttons, focus rings
//! home_url = "https://example.com"            # the logo links here; http(s) only
//! support_url = "mailto:help@example.com"     # http(s) or mailto:, linked from the header
//! ```
//!
//! Pharos serves no image files itself: a path starting with `/` must be served at the same
//! origin by whatever stands in front of Pharos. `//host/…` (protocol-relative) is refused, and
//! an `http://` image is a warning: the page's Content-Security-Policy (`img-src 'self' data:
//! https:`) keeps browsers from loading it.
//!
//! Diagnostics come back sorted by position in the file.

mod admin;
mod alerts;
mod build;
mod changes;
mod cluster;
mod console;
mod diagnostic;
mod locations;
mod maintenances;
mod mirror;
mod monitors;
mod notifiers;
mod secret;
mod self_check;
mod smtp;
mod source;
mod sso;
mod subscriptions;
mod values;
mod walk;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use pharos_domain::{ComponentId, MonitorSpec};
pub use pharos_engine::{IncidentRules, MaintenanceDef};

pub use cluster::{ClusterConfig, DEFAULT_FAILOVER};
pub use diagnostic::{Diagnostic, Severity};
pub use pharos_notify::email::{SmtpSecurity, SmtpSettings};
pub use secret::Secret;
pub use smtp::DEFAULT_SMTP_TIMEOUT;

/// The page id used when `[page] id` is not set.
pub const DEFAULT_PAGE_ID: &str = "pharos";
/// The page name used when `[page] name` is not set.
pub const DEFAULT_PAGE_NAME: &str = "Pharos";
/// The PagerDuty Events API v2 endpoint a `pagerduty` notifier sends to when it sets no `url`.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A whole, validated configuration. [`Config::default`] is the empty configuration used when
/// no file exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `[server]`: where to listen and how the outside world reaches us.
    pub server: ServerConfig,
    /// `[storage]`: which database.
    pub storage: StorageConfig,
    /// `[page]`: the public status page's identity.
    pub page: PageConfig,
    /// `[admin]`: who may use the admin API.
    pub admin: AdminConfig,
    /// `[incidents]`: what automation does when a check confirms an outage.
    pub incidents: IncidentRules,
    /// `[[components]]`, in file order.
    pub components: Vec<ComponentConfig>,
    /// `[[monitors]]`, in file order.
    pub monitors: Vec<MonitorSpec>,
    /// `[[maintenances]]`: planned windows declared in the file, in file order.
    pub maintenances: Vec<MaintenanceDef>,
    /// `[[notifiers]]`: responders' channels with their routes, in file order. Ids are
    /// unique; `Debug` shows each channel's type only, never its URL or keys.
    pub notifiers: Vec<pharos_notify::Notifier>,
    /// `[smtp]`: the outgoing mail server, if the file configures one. `email` notifiers
    /// carry a copy; e-mails to subscribers go through it too. `Debug` masks the password.
    pub smtp: Option<SmtpSettings>,
    /// `[mirror] dir`: where the public page, the v2 JSON and the feeds are written on every
    /// change, for a plain web server to serve when no Pharos is up.
    pub mirror: Option<std::path::PathBuf>,
    /// `[[locations]]`: where probes check from besides the server itself, in file order.
    pub locations: Vec<pharos_domain::location::LocationDef>,
    /// `[self_check]`: targets that answer whenever Pharos's own network works.
    pub self_check: Option<pharos_domain::monitor::SelfCheck>,
    /// `[alerts]`: how ingested alerts find their components.
    pub alerts: pharos_domain::alert::AlertRouting,
    /// `[changes]`: how far back incidents list changes, and the release-regression check.
    pub changes: pharos_engine::ChangeSettings,
    /// `[subscriptions]`: which addresses the public's webhook subscribers may reach (public
    /// ones only, by default) and how their names are resolved.
    pub subscriptions: pharos_notify::guard::WebhookRules,
    /// `[cluster]`, when this node is one of several on one PostgreSQL database.
    pub cluster: Option<ClusterConfig>,
    /// `[sso]`: single sign-on to the console with OpenID Connect (`sso.rs` lists the keys).
    /// `Debug` masks the client secret.
    pub sso: Option<pharos_web::console::SsoSettings>,
    /// `[console]` (and `PHAROS_SECRET_KEY`): the key TOTP secrets are sealed under.
    pub console: ConsoleConfig,
}

/// `[console]`, see `console.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsoleConfig {
    /// The key TOTP secrets are sealed under: from `secret_key_file`, else from the
    /// environment variable `PHAROS_SECRET_KEY`. `Debug` never shows it.
    pub secret_key: Option<pharos_engine::people::SealKey>,
    /// Where the console lives (`path`): `None` for `/console`.
    pub path: Option<String>,
}

impl ConsoleConfig {
    /// The console's path: `path`, or `/console`.
    pub fn path(&self) -> &str {
        self.path
            .as_deref()
            .unwrap_or(pharos_web::console::DEFAULT_BASE)
    }
}

/// `[server]`. Unset values fall back to the environment, then to built-in defaults (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on, if set in the file.
    pub listen: Option<SocketAddr>,
    /// Absolute `http(s)://` URL the public reaches the page at, without a trailing slash;
    /// used for absolute links in feeds, e-mails and webhooks.
    pub public_url: Option<String>,
    /// How long a client may take to send a request's headers, after connecting or after its
    /// previous answer; also how long an idle keep-alive connection stays open (1s–5m,
    /// default 10s).
    pub header_timeout: Duration,
    /// Most connections open at once (1–1,000,000, default 10,000); more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            public_url: None,
            header_timeout: pharos_web::serve::DEFAULT_HEADER_TIMEOUT,
            max_connections: pharos_web::serve::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageConfig {
    /// Database URL (`sqlite:…`, `postgres://…` or `postgresql://…`), if set in the file.
    /// It may hold a password: do not log it.
    pub url: Option<String>,
}

/// `[page]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageConfig {
    /// `page.id` in the public API, `[a-z0-9_-]+` (default `"pharos"`).
    pub id: String,
    /// Display name (default `"Pharos"`).
    pub name: String,
    /// The page's time zone: API timestamps carry its offset (default UTC).
    pub time_zone: chrono_tz::Tz,
    /// Whether published postmortems name responders (who declared the incident, posted an
    /// update, owns an action item; people are named by their admin token's name). Off by
    /// default: the public text says what was done, not who did it.
    pub show_responders: bool,
    /// `logo_url`, `favicon_url`, `accent_color`, `home_url` and `support_url`, each checked
    /// (see `build.rs`); all unset by default.
    pub branding: pharos_engine::Branding,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            id: DEFAULT_PAGE_ID.to_owned(),
            name: DEFAULT_PAGE_NAME.to_owned(),
            time_zone: chrono_tz::UTC,
            show_responders: false,
            branding: pharos_engine::Branding::default(),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminConfig {
    /// Bearer tokens accepted by the admin API and the ingest endpoints, in file order; none
    /// means the admin API accepts nobody. Names are unique and so are secrets, so a
    /// presented token identifies at most one entry.
    pub tokens: Vec<AdminToken>,
}

/// One `[admin] tokens` entry: the admin API's own type, as the configuration checked it.
pub use pharos_web::admin::AdminToken;

/// One `[[components]]` entry: a row on the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfig {
    /// Stable id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Group name, if the component sits in a group row; the group's id is
    /// `pharos_domain::ids::slugify(group)`, which never collides with a component id.
    pub group: Option<String>,
    /// Optional description shown with the component.
    pub description: Option<String>,
}

/// A configuration that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Warnings to print (they do not stop the program).
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates the file at `path`, interpolating from the process environment.
///
/// On failure the `Err` holds every diagnostic, warnings included, in file order. A file that
/// cannot be read gives one diagnostic at 1:1.
pub fn load_file(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &label, &|name| std::env::var(name).ok()),
        Err(e) => Err(vec![Diagnostic {
            file: label,
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: format!("cannot read the configuration file: {e}"),
        }]),
    }
}

/// Validates configuration `text`, naming it `file_label` in diagnostics and reading
/// `${ENV_VAR}`s through `env`.
///
/// On failure the `Err` holds every diagnostic, warnings included, in file order.
pub fn parse_str(
    text: &str,
    file_label: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut cx = walk::Cx::new(file_label, text, env);
    let config = build::build(&mut cx, text);
    let diagnostics = cx.finish();
    match config {
        Some(config) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            config,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}
