//! Tests of the configuration loader, written the way users meet it: a TOML text in, the
//! exact diagnostic lines (or the validated configuration) out.

use std::time::Duration;

use pharos_domain::{ComponentStatus, MonitorKind};
use pharos_notify::{Channel, EventKind, Route};

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "PHAROS_ADMIN_TOKEN" => Some("s3cret-admin-token".into()),
        "API_HOST" => Some("api.example.com".into()),
        "EMPTY" => Some(String::new()),
        "PHAROS_WEBHOOK_SECRET" => Some("whsec-0123456789abcdef".into()),
        "SLACK_WEBHOOK_URL" => {
            Some("https://hooks.slack.com/services/T000/B000/slack-url-secret".into())
        }
        "NTFY_TOKEN" => Some("tk_ntfy-token-secret".into()),
        "PD_ROUTING_KEY" => Some("pd-routing-key-secret".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `text`, failing the test with every diagnostic if it does not load.
fn load(text: &str) -> Loaded {
    match parse_str(text, "pharos.toml", &env) {
        Ok(loaded) => loaded,
        Err(diags) => panic!("expected the file to load, got:\n{}", render(&diags)),
    }
}

/// Every diagnostic line for `text`, whether or not it loaded.
fn lines(text: &str) -> Vec<String> {
    match parse_str(text, "pharos.toml", &env) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

/// The diagnostic lines for a `text` that must be refused.
fn refused(text: &str) -> Vec<String> {
    match parse_str(text, "pharos.toml", &env) {
        Ok(loaded) => panic!(
            "expected errors, the file loaded with warnings {:?}",
            loaded.warnings
        ),
        Err(diags) => {
            assert!(diags.iter().any(Diagnostic::is_error));
            diags.iter().map(ToString::to_string).collect()
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}

/// A minimal valid monitor that drives `c`, to append after component tables.
const DRIVE_C: &str = r#"
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["c"]
"#;

// ---------------------------------------------------------------------------------------------
// The whole file

/// SPEC §2, verbatim (its dns/tls/… types aside, it only has an http monitor).
const SPEC_EXAMPLE: &str = r#"[server]
listen = "127.0.0.1:8080"
public_url = "https://status.example.com"   # absolute links in feeds, e-mails, webhooks

[storage]
url = "sqlite://pharos-data/pharos.db"       # or "postgres://user:pass@host:5432/db"

[page]
id = "example"                 # page.id in the public API
name = "Example Inc."
time_zone = "America/Denver"   # IANA; API timestamps carry this offset

[admin]
tokens = ["${PHAROS_ADMIN_TOKEN}"]   # bearer tokens accepted by the admin API

[incidents]
auto_open = true               # a confirmed failure opens an incident...
auto_publish = true            # ...and shows it on the public page at once
auto_resolve_after = "10m"     # healthy this long while "monitoring" → resolved

[[components]]
id = "api"                     # [a-z0-9_-]+, stable, used in every API
name = "API"
group = "Core services"        # optional; groups appear as group rows
description = "Public REST API"

[[monitors]]
id = "api-health"
type = "http"                  # http | tcp | dns | tls | heartbeat | … (see §6)
url = "https://api.example.com/health"
interval = "30s"               # down to "1s"
timeout = "10s"
failure_threshold = 3          # consecutive failed checks before it is down
success_threshold = 2          # consecutive good checks before it is up again
conditions = ["[STATUS] == 200", "[RESPONSE_TIME] < 2000"]   # all must hold, else down
degraded_conditions = ["[RESPONSE_TIME] < 500"]              # all must hold, else degraded
components = ["api"]           # what it drives on the status page
on_failure = "major_outage"    # component status while down (default major_outage)

[[notifiers]]                  # responders' channels (subscribers are separate, §5)
id = "ops"
type = "webhook"               # webhook | slack | discord | teams | email | pagerduty | ntfy
url = "https://hooks.example.com/pharos"
"#;

#[test]
fn the_spec_example_loads() {
    let loaded = load(SPEC_EXAMPLE);
    let c = &loaded.config;
    assert_eq!(c.server.listen, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(
        c.server.public_url.as_deref(),
        Some("https://status.example.com")
    );
    assert_eq!(
        c.storage.url.as_deref(),
        Some("sqlite://pharos-data/pharos.db")
    );
    assert_eq!(c.page.id, "example");
    assert_eq!(c.page.name, "Example Inc.");
    assert_eq!(c.page.time_zone, chrono_tz::America::Denver);
    assert_eq!(c.admin.tokens.len(), 1);
    assert_eq!(c.admin.tokens[0].name, "token-1");
    assert_eq!(c.admin.tokens[0].secret.expose(), "s3cret-admin-token");
    assert_eq!(
        c.incidents,
        IncidentRules {
            auto_open: true,
            auto_publish: true,
            auto_resolve_after: Duration::from_secs(600),
            group_window: Duration::from_secs(60),
        }
    );
    assert!(c.maintenances.is_empty());

    assert_eq!(
        c.components,
        vec![ComponentConfig {
            id: ComponentId::new("api").unwrap(),
            name: "API".into(),
            group: Some("Core services".into()),
            description: Some("Public REST API".into()),
        }]
    );

    let [m] = c.monitors.as_slice() else {
        panic!("one monitor expected: {:?}", c.monitors)
    };
    assert_eq!(m.id.as_str(), "api-health");
    let MonitorKind::Http(http) = &m.kind else {
        panic!("http expected")
    };
    assert_eq!(http.url, "https://api.example.com/health");
    assert_eq!(http.method, "GET");
    assert_eq!(m.interval, Duration::from_secs(30));
    assert_eq!(m.timeout, Duration::from_secs(10));
    assert_eq!((m.failure_threshold, m.success_threshold), (3, 2));
    let conds: Vec<&str> = m.conditions.iter().map(|c| c.source()).collect();
    assert_eq!(conds, ["[STATUS] == 200", "[RESPONSE_TIME] < 2000"]);
    assert_eq!(m.degraded_conditions[0].source(), "[RESPONSE_TIME] < 500");
    assert_eq!(m.components, vec![ComponentId::new("api").unwrap()]);
    assert_eq!(m.on_failure, ComponentStatus::MajorOutage);

    let [n] = c.notifiers.as_slice() else {
        panic!("one notifier expected: {:?}", c.notifiers)
    };
    assert_eq!(n.id, "ops");
    assert_eq!(
        n.channel,
        Channel::Webhook {
            url: "https://hooks.example.com/pharos".into(),
            secret: None,
        }
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn the_example_file_loads_with_only_its_admin_token_in_the_environment() {
    let text = include_str!("../../../../examples/pharos.toml");
    // Without the token the README asks for, the file names what is missing.
    let missing = parse_str(text, "examples/pharos.toml", &no_env).unwrap_err();
    assert_eq!(missing.len(), 1, "{}", render(&missing));
    assert!(
        missing[0].message.contains("PHAROS_ADMIN_TOKEN"),
        "{}",
        render(&missing)
    );
    let only_the_token = |name: &str| {
        (name == "PHAROS_ADMIN_TOKEN").then(|| "0123456789abcdef0123456789abcdef".to_owned())
    };
    let loaded = parse_str(text, "examples/pharos.toml", &only_the_token)
        .unwrap_or_else(|d| panic!("examples/pharos.toml does not load:\n{}", render(&d)));
    assert!(
        loaded.warnings.is_empty(),
        "examples/pharos.toml has warnings:\n{}",
        render(&loaded.warnings)
    );
    let c = &loaded.config;
    assert!(c.components.len() >= 4);
    let groups: std::collections::BTreeSet<_> = c
        .components
        .iter()
        .filter_map(|c| c.group.as_deref())
        .collect();
    assert_eq!(groups.len(), 2, "two groups: {groups:?}");
    // Everything it watches is local, so it works without internet access.
    for m in &c.monitors {
        match &m.kind {
            MonitorKind::Http(h) => assert!(h.url.starts_with("http://127.0.0.1:"), "{}", h.url),
            MonitorKind::Tcp(t) => assert_eq!(t.host, "127.0.0.1"),
            // Pinged by its job, never reaching out.
            MonitorKind::Heartbeat(_) => {}
            MonitorKind::Prometheus(p) => assert!(p.http.url.starts_with("http://127.0.0.1:")),
            MonitorKind::Dns(d) => assert!(d.server.ip().is_loopback(), "{}", d.server),
            MonitorKind::Tls(t) => assert_eq!(t.host, "127.0.0.1"),
            MonitorKind::Icmp(i) => assert_eq!(i.host, "127.0.0.1"),
        }
    }
    assert!(c.monitors.iter().any(|m| m.id.as_str() == "legacy-billing"));
    assert!(c.monitors.iter().any(|m| !m.degraded_conditions.is_empty()));
    // `[incidents]` spells out the defaults; the maintenance example is commented out.
    assert_eq!(c.incidents, IncidentRules::default());
    assert!(c.maintenances.is_empty());
    // The admin API is on, with the token from the environment.
    assert_eq!(c.admin.tokens.len(), 1);
    assert_eq!(c.admin.tokens[0].name, "token-1");
    assert!(c.notifiers.is_empty());
}

/// The commented-out block of `text` whose first line is `# {first}`, uncommented: it runs up
/// to the first line that does not start with `# ` (a bare `#` or a blank line ends it).
fn uncommented(text: &str, first: &str) -> String {
    let start = format!("# {first}");
    let mut out = String::new();
    for line in text.lines().skip_while(|l| *l != start) {
        let Some(rest) = line.strip_prefix("# ") else {
            break;
        };
        out.push_str(rest);
        out.push('\n');
    }
    assert!(!out.is_empty(), "no commented block starting {start:?}");
    out
}

#[test]
fn the_commented_out_examples_in_the_example_file_are_valid() {
    let text = include_str!("../../../../examples/pharos.toml");

    let heartbeat = uncommented(text, "[[monitors]]");
    let loaded = load(&format!("{text}\n{heartbeat}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = loaded.config.monitors.last().unwrap();
    assert_eq!(
        (m.id.as_str(), m.type_name()),
        ("nightly-invoices", "heartbeat")
    );

    let loaded = load(text);
    let tokens = &loaded.config.admin.tokens;
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        (tokens[0].name.as_str(), tokens[0].secret.expose()),
        ("token-1", "s3cret-admin-token")
    );

    // The named tokens replace the plain one.
    let named = uncommented(text, "tokens = [");
    let plain = "tokens = [\"${PHAROS_ADMIN_TOKEN}\"]\n";
    assert!(text.contains(plain));
    // Every variable but the sealing key, which must be a key.
    let any_env =
        |name: &str| (name != "PHAROS_SECRET_KEY").then(|| format!("{name}-is-long-enough"));
    let loaded = parse_str(&text.replacen(plain, &named, 1), "x.toml", &any_env)
        .unwrap_or_else(|d| panic!("named tokens do not load:\n{}", render(&d)));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let names: Vec<&str> = loaded
        .config
        .admin
        .tokens
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["alice", "deploy-bot"]);

    // The dns, tls and icmp monitors, each its own block.
    for (start, id, kind) in [
        ("# A DNS answer", "dns-www", "dns"),
        ("# A certificate", "tls-api", "tls"),
        ("# A ping", "ping-gateway", "icmp"),
    ] {
        let at = text.find(start).expect(start);
        let block = uncommented(&text[at..], "[[monitors]]");
        let loaded = load(&format!("{text}\n{block}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let m = loaded.config.monitors.last().unwrap();
        assert_eq!((m.id.as_str(), m.type_name()), (id, kind));
    }

    let self_check = uncommented(text, "[self_check]");
    let loaded = load(&format!("{text}\n{self_check}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let targets: Vec<&str> = loaded
        .config
        .self_check
        .as_ref()
        .expect("self_check")
        .targets
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(targets, ["tcp://10.0.0.1:53", "icmp://10.0.0.254"]);

    let subscriptions = uncommented(text, "[subscriptions]");
    let loaded = load(&format!("{text}\n{subscriptions}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let rules = &loaded.config.subscriptions;
    assert!(!rules.addresses.allow_private);
    assert_eq!(rules.addresses.allowed_networks.len(), 2);
    assert_eq!(rules.resolver, Some("10.0.0.2:53".parse().unwrap()));

    let maintenance = uncommented(text, "[[maintenances]]");
    let loaded = load(&format!("{text}\n{maintenance}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let [m] = loaded.config.maintenances.as_slice() else {
        panic!("one maintenance expected: {:?}", loaded.config.maintenances)
    };
    assert_eq!(m.config_id, "db-upgrade-2026-12");
    assert_eq!(m.scheduled_for, utc(2026, 12, 1, 2, 0, 0));
    assert_eq!(m.scheduled_until, utc(2026, 12, 1, 3, 0, 0));
    assert!(m.auto_start && m.auto_complete && !m.body.is_empty());

    // The two notifier tables are separate blocks: the second starts after the first.
    let webhook = uncommented(text, "[[notifiers]]");
    let after_webhook = text.find("# id = \"ops\"").expect("the webhook example");
    let slack = uncommented(&text[after_webhook..], "[[notifiers]]");
    let loaded = load(&format!("{text}\n{webhook}\n{slack}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let [hook, chat] = loaded.config.notifiers.as_slice() else {
        panic!("two notifiers expected: {:?}", loaded.config.notifiers)
    };
    assert_eq!(hook.id, "ops");
    assert_eq!(
        hook.channel,
        Channel::Webhook {
            url: "https://hooks.example.com/pharos".into(),
            secret: Some("whsec-0123456789abcdef".into()),
        }
    );
    assert_eq!(hook.route.events.len(), 4);
    assert_eq!(chat.id, "team-chat");
    assert_eq!(
        chat.channel,
        Channel::Slack {
            url: "https://hooks.slack.com/services/T000/B000/slack-url-secret".into(),
        }
    );
    assert_eq!(chat.route.components.len(), 2);
    assert_eq!(chat.route.min_severity, Some(pharos_domain::Severity::S2));

    // E-mail: the [smtp] block and the third notifier block.
    let smtp = uncommented(text, "[smtp]");
    let after_slack = text
        .find("# id = \"team-chat\"")
        .expect("the slack example");
    let mail = uncommented(&text[after_slack..], "[[notifiers]]");
    let loaded = load_smtp(&format!("{text}\n{smtp}\n{mail}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let settings = loaded.config.smtp.clone().expect("[smtp]");
    assert_eq!(
        (settings.host.as_str(), settings.port, settings.security),
        ("smtp.example.com", 587, SmtpSecurity::StartTls)
    );
    assert_eq!(settings.password.as_deref(), Some("smtp-password-secret"));
    let [oncall] = loaded.config.notifiers.as_slice() else {
        panic!("one notifier expected: {:?}", loaded.config.notifiers)
    };
    assert_eq!(oncall.id, "oncall-mail");
    assert_eq!(
        oncall.channel,
        Channel::Email {
            to: vec!["oncall@example.com".into(), "cto@example.com".into()],
            smtp: settings,
        }
    );
}

#[test]
fn an_empty_file_is_the_default_configuration() {
    let loaded = load("");
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty());
    let d = Config::default();
    assert_eq!(d.page.id, "pharos");
    assert_eq!(d.page.name, "Pharos");
    assert_eq!(d.page.time_zone, chrono_tz::UTC);
    assert_eq!(d.server, ServerConfig::default());
    assert!(d.server.listen.is_none() && d.storage.url.is_none());
    assert!(d.admin.tokens.is_empty() && d.components.is_empty() && d.monitors.is_empty());
    assert!(d.maintenances.is_empty() && d.notifiers.is_empty());
    assert_eq!(
        d.incidents,
        IncidentRules {
            auto_open: true,
            auto_publish: true,
            auto_resolve_after: Duration::from_secs(10 * 60),
            group_window: Duration::from_secs(60),
        }
    );
}

#[test]
fn reports_every_problem_at_once_in_file_order() {
    let text = r#"[server]
listen = "localhost"
public_urll = "https://status.example.com"

[page]
id = "My Page"
time_zone = "Europe/Berln"

[admin]
tokens = ["${ADMIN_TOKEN}"]

[[components]]
id = "api"
name = "API"
group = "Api"

[[components]]
id = "api"
name = "API again"

[[components]]
id = "db"
name = "Database"

[[components]]
id = "cache"
name = "Cache"

[[monitors]]
id = "api-health"
type = "http"
url = "https://api.example.com/health"
interval = "500ms"
timeout = 5
conditions = ["[STATUS] == 200", 200]
components = ["api", "apii"]
on_failure = "down"

[[monitors]]
id = "db-port"
type = "tcp"
url = "tcp://db.internal"
method = "GET"
components = ["db"]

[[monitors]]
id = "resolver"
type = "dns"
server = "1.1.1.1:53"
"#;
    let got = refused(text).join("\n");
    let expected = r#"pharos.toml:2:10: error: `listen` must be an IP address and port like "127.0.0.1:8080" or "[::]:8080", found "localhost"
pharos.toml:3:1: error: unknown key `public_urll` in [server]; did you mean `public_url`?
pharos.toml:6:6: error: page id "My Page" may only contain lowercase letters, digits, '-' and '_'
pharos.toml:7:13: error: unknown time zone "Europe/Berln"; did you mean `Europe/Berlin`?
pharos.toml:10:12: error: environment variable `ADMIN_TOKEN` is not set
pharos.toml:15:9: error: group "Api" would get the id `api`, which component `api` already uses; rename the group or the component
pharos.toml:18:6: error: duplicate component id `api` (first used at line 13)
pharos.toml:26:6: warning: component `cache` is not driven by any monitor; nothing will notice if it goes down
pharos.toml:33:12: error: `interval` must be at least 1s, found "500ms"
pharos.toml:34:11: error: `timeout` must be a duration string like "30s", found an integer (5)
pharos.toml:35:34: error: `conditions` must contain only strings, found an integer (200)
pharos.toml:36:22: error: unknown component `apii`; did you mean `api`? (components are declared with [[components]])
pharos.toml:37:14: error: `on_failure` must be one of partial_outage, major_outage, degraded_performance, found "down"
pharos.toml:42:7: error: invalid tcp monitor `url`: "tcp://db.internal" has no port; expected tcp://host:port
pharos.toml:43:1: error: `method` does not apply to a tcp monitor
pharos.toml:46:1: error: monitor `resolver` is missing required key `query_name` (the name looked up)"#;
    assert_eq!(got, expected);
}

#[test]
fn a_syntax_error_is_one_located_diagnostic() {
    let got = refused("[server]\nlisten = \"127.0.0.1:8080\nname = 1\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("pharos.toml:2:"),
        "points at the unterminated string: {got:?}"
    );
    assert!(got[0].contains(": error: invalid TOML: "), "{got:?}");

    let got = refused("a = 1\na = 2\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("pharos.toml:2:1: error: invalid TOML: "),
        "{got:?}"
    );
}

#[test]
fn an_unreadable_file_is_one_diagnostic_at_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let diags = load_file(&path).unwrap_err();
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!((d.line, d.column, d.severity), (1, 1, Severity::Error));
    assert_eq!(d.file, path.display().to_string());
    assert!(
        d.message
            .starts_with("cannot read the configuration file: "),
        "{d}"
    );
}

#[test]
fn load_file_reads_a_real_file_and_labels_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, "[page]\nid = \"Bad\"\n").unwrap();
    let diags = load_file(&path).unwrap_err();
    assert_eq!(
        diags[0].to_string(),
        format!(
            "{}:2:6: error: page id \"Bad\" may only contain lowercase letters, digits, '-' and '_'",
            path.display()
        )
    );
    std::fs::write(&path, "[page]\nname = \"Acme\"\n").unwrap();
    assert_eq!(load_file(&path).unwrap().config.page.name, "Acme");
}

// ---------------------------------------------------------------------------------------------
// Keys and types

#[test]
fn unknown_keys_are_errors_everywhere_with_suggestions() {
    let text = r#"
colour = "blue"
[storage]
uri = "sqlite:x.db"
[[components]]
id = "c"
name = "C"
descripton = "typo"
[[monitors]]
id = "m"
type = "http"
url = "http://127.0.0.1/"
intervall = "30s"
components = ["c"]
[incidents]
auto_opne = true
[[notifiers]]
id = "ops"
type = "webhook"
url = "https://hooks.example.com/x"
channel = "ops"
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:1: error: unknown key `colour` at the top level",
            "pharos.toml:4:1: error: unknown key `uri` in [storage]; did you mean `url`?",
            "pharos.toml:8:1: error: unknown key `descripton` in [[components]]; did you mean `description`?",
            "pharos.toml:13:1: error: unknown key `intervall` in [[monitors]]; did you mean `interval`?",
            "pharos.toml:16:1: error: unknown key `auto_opne` in [incidents]; did you mean `auto_open`?",
            "pharos.toml:21:1: error: unknown key `channel` in [[notifiers]]",
        ]
    );
}

#[test]
fn wrong_types_name_the_expected_type() {
    let text = r#"
server = "127.0.0.1:8080"
[page]
name = 42
[admin]
tokens = "abc"
[incidents]
auto_open = "yes"
auto_resolve_after = 600
[[components]]
id = "c"
name = "C"
group = ["a"]
[[monitors]]
id = "m"
type = "http"
url = "http://127.0.0.1/"
components = "c"
insecure = "no"
failure_threshold = "3"
headers = ["Accept: */*"]
conditions = "[STATUS] == 200"
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:10: error: `server` must be a table ([server]), found a string",
            "pharos.toml:4:8: error: `name` must be a string, found an integer (42)",
            "pharos.toml:6:10: error: `tokens` must be an array of strings or { name = …, token = … } tables, found a string",
            "pharos.toml:8:13: error: `auto_open` must be a boolean (true or false), found a string",
            "pharos.toml:9:22: error: `auto_resolve_after` must be a duration string like \"30s\", found an integer (600)",
            "pharos.toml:11:6: warning: component `c` is not driven by any monitor; nothing will notice if it goes down",
            "pharos.toml:13:9: error: `group` must be a string, found an array",
            "pharos.toml:18:14: error: `components` must be an array of strings, found a string",
            "pharos.toml:19:12: error: `insecure` must be a boolean (true or false), found a string",
            "pharos.toml:20:21: error: `failure_threshold` must be an integer, found a string",
            "pharos.toml:21:11: error: `headers` must be a table of strings, like { Accept = \"text/html\" }, found an array",
            "pharos.toml:22:14: error: `conditions` must be an array of strings, found a string",
        ]
    );
}

#[test]
fn required_keys_are_reported_at_the_table_header() {
    let text = "[[components]]\nname = \"C\"\n\n[[monitors]]\nid = \"m\"\n";
    assert_eq!(
        refused(text),
        [
            "pharos.toml:1:1: error: [[components]] is missing required key `id`",
            "pharos.toml:4:1: error: monitor `m` is missing required key `type`",
            "pharos.toml:4:1: error: monitor `m` is missing required key `url`",
        ]
    );
}

#[test]
fn inline_tables_and_arrays_of_inline_tables_work_too() {
    let text = r#"
server = { listen = "0.0.0.0:9000" }
components = [{ id = "c", name = "C" }]
monitors = [
  { id = "m", type = "tcp", url = "tcp://127.0.0.1:1", components = ["c"] },
  { id = "n", type = "tcp", url = "tcp://127.0.0.1:1", components = ["nope"] },
]
"#;
    assert_eq!(
        refused(text),
        ["pharos.toml:6:70: error: unknown component `nope` (components are declared with [[components]])"]
    );
    let ok = load(&text.replace("\"nope\"", "\"c\""));
    assert_eq!(
        ok.config.server.listen,
        Some("0.0.0.0:9000".parse().unwrap())
    );
    assert_eq!(ok.config.monitors.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Sections

#[test]
fn server_limits_are_read_and_bounded() {
    let defaults = load("");
    assert_eq!(
        defaults.config.server.header_timeout,
        Duration::from_secs(10)
    );
    assert_eq!(defaults.config.server.max_connections, 10_000);
    let set = load("[server]\nheader_timeout = \"3s\"\nmax_connections = 50\n");
    assert_eq!(set.config.server.header_timeout, Duration::from_secs(3));
    assert_eq!(set.config.server.max_connections, 50);
    assert_eq!(
        lines(
            "[server]\nheader_timeout = \"10m\"\nmax_connections = 0\n\
             [page]\nname = \"x\"\n"
        ),
        [
            "pharos.toml:2:18: error: `header_timeout` must be between 1s and 5m",
            "pharos.toml:3:19: error: `max_connections` must be at least 1, found 0",
        ]
    );
    assert_eq!(
        lines("[server]\nheader_timeout = 5\nmax_connections = 2000000\n"),
        [
            "pharos.toml:2:18: error: `header_timeout` must be a duration string like \"30s\", found an integer (5)",
            "pharos.toml:3:19: error: `max_connections` must be at most 1000000, found 2000000",
        ]
    );
}

#[test]
fn server_and_storage_values_are_checked() {
    let loaded = load(
        "[server]\nlisten = \"[::1]:8080\"\npublic_url = \"https://status.example.com/\"\n\
         [storage]\nurl = \"postgresql://u:p@db/pharos\"\n",
    );
    assert_eq!(
        loaded.config.server.public_url.as_deref(),
        Some("https://status.example.com")
    );
    assert_eq!(
        loaded.config.server.listen,
        Some("[::1]:8080".parse().unwrap())
    );
    assert_eq!(
        loaded.config.storage.url.as_deref(),
        Some("postgresql://u:p@db/pharos")
    );
    assert!(load("[storage]\nurl = \"sqlite::memory:\"\n")
        .config
        .storage
        .url
        .is_some());
    assert!(load("[storage]\nurl = \"postgres://db/x\"\n")
        .config
        .storage
        .url
        .is_some());

    assert_eq!(
        refused("[server]\npublic_url = \"status.example.com\"\n"),
        ["pharos.toml:2:14: error: invalid `public_url`: \"status.example.com\" is not an absolute URL; expected http://… or https://…"]
    );
    assert_eq!(
        refused("[server]\npublic_url = \"https://x.example/?a=1\"\n"),
        ["pharos.toml:2:14: error: `public_url` must not have a query or fragment; links are built by appending paths"]
    );
    // The URL may carry a password, so it is not echoed back.
    assert_eq!(
        refused("[storage]\nurl = \"mysql://root:hunter2@db/x\"\n"),
        ["pharos.toml:2:7: error: `url` must start with `sqlite:`, `postgres://` or `postgresql://`"]
    );
}

#[test]
fn page_values_are_checked() {
    let c = load("[page]\nid = \"acme_status-1\"\nname = \"Acme\"\ntime_zone = \"Asia/Kolkata\"\n")
        .config;
    assert_eq!(c.page.id, "acme_status-1");
    assert_eq!(c.page.time_zone, chrono_tz::Asia::Kolkata);
    // Unset keys keep their defaults: published postmortems name no responder.
    let c = load("[page]\nname = \"Acme\"\n").config;
    assert_eq!(
        (c.page.id.as_str(), c.page.time_zone, c.page.show_responders),
        ("pharos", chrono_tz::UTC, false)
    );
    let c = load("[page]\nshow_responders = true\n").config;
    assert!(c.page.show_responders);
    assert_eq!(
        refused("[page]\nid = \"\"\nname = \" \"\ntime_zone = \"Mars/Olympus\"\nshow_responders = \"yes\"\n"),
        [
            "pharos.toml:2:6: error: page id must not be empty",
            "pharos.toml:3:8: error: `name` must not be empty",
            "pharos.toml:4:13: error: unknown time zone \"Mars/Olympus\"; expected an IANA name like \"Europe/Berlin\" or \"UTC\"",
            "pharos.toml:5:19: error: `show_responders` must be a boolean (true or false), found a string",
        ]
    );
}

#[test]
fn branding_is_checked_and_normalised() {
    let c = load(
        "[page]\nlogo_url = \"https://cdn.example.com/logo.svg\"\nfavicon_url = \"/favicon.png\"\n\
         accent_color = \"#0B6\"\nhome_url = \"https://example.com\"\n\
         support_url = \"mailto:help@example.com\"\n",
    )
    .config;
    let b = &c.page.branding;
    assert_eq!(
        b.logo_url.as_deref(),
        Some("https://cdn.example.com/logo.svg")
    );
    assert_eq!(b.favicon_url.as_deref(), Some("/favicon.png"));
    assert_eq!(b.accent_color.as_deref(), Some("#00bb66"));
    assert_eq!(b.home_url.as_deref(), Some("https://example.com"));
    assert_eq!(b.support_url.as_deref(), Some("mailto:help@example.com"));
    // Unset: no branding at all.
    assert_eq!(
        load("[page]\nname = \"Acme\"\n").config.page.branding,
        pharos_engine::Branding::default()
    );
    assert_eq!(
        refused(
            "[page]\nlogo_url = \"javascript:alert(1)\"\nfavicon_url = \"//evil.example/x.ico\"\n\
             accent_color = \"red\"\nhome_url = \"/home\"\nsupport_url = \"mailto:nobody\"\n\
             colour = \"#fff\"\n"
        ),
        [
            "pharos.toml:2:12: error: invalid `logo_url`: \"javascript:alert(1)\" is neither an http(s):// URL nor a path starting with /",
            "pharos.toml:3:15: error: invalid `favicon_url`: \"//evil.example/x.ico\" is protocol-relative; write https://… or a path starting with a single /",
            "pharos.toml:4:16: error: `accent_color` must be a CSS hex colour like \"#0b62c9\" or \"#08f\", found \"red\"",
            "pharos.toml:5:12: error: invalid `home_url`: \"/home\" is not an absolute URL; expected http://… or https://…",
            "pharos.toml:6:15: error: invalid `support_url`: \"mailto:nobody\" is not mailto:someone@example.com",
            "pharos.toml:7:1: error: unknown key `colour` in [page]",
        ]
    );
    // The page's Content-Security-Policy keeps browsers from loading an http image.
    assert_eq!(
        lines("[page]\nlogo_url = \"http://example.com/l.png\"\n"),
        ["pharos.toml:2:12: warning: `logo_url` is http://; the page's Content-Security-Policy lets browsers load images only over https:// or from the page's own address"]
    );
}

#[test]
fn admin_tokens_are_secrets() {
    let c = load("[admin]\ntokens = [\"${PHAROS_ADMIN_TOKEN}\", \"literal\"]\n").config;
    let exposed: Vec<&str> = c.admin.tokens.iter().map(|t| t.secret.expose()).collect();
    assert_eq!(exposed, ["s3cret-admin-token", "literal"]);
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cret-admin-token") && !debug.contains("literal"));
    assert!(debug.contains("[redacted]"));
    assert_eq!(
        refused("[admin]\ntokens = [\"${EMPTY}\"]\n"),
        ["pharos.toml:2:11: error: admin token must not be empty"]
    );
}

// ---------------------------------------------------------------------------------------------
// Notifiers

/// Two components and a monitor driving both, to put before notifier tables.
const API_AND_DB: &str = r#"
[[components]]
id = "api"
name = "API"
[[components]]
id = "db"
name = "Database"
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["api", "db"]
"#;

#[test]
fn every_notifier_type_becomes_its_channel_with_defaults() {
    let text = r#"
[[notifiers]]
id = "hook"
type = "webhook"
url = "https://hooks.example.com/pharos"
secret = "${PHAROS_WEBHOOK_SECRET}"
[[notifiers]]
id = "plain-hook"
type = "webhook"
url = "http://127.0.0.1:9000/in"
[[notifiers]]
id = "chat"
type = "slack"
url = "${SLACK_WEBHOOK_URL}"
[[notifiers]]
id = "gaming"
type = "discord"
url = "https://discord.com/api/webhooks/1/discord-url-secret"
[[notifiers]]
id = "corp"
type = "teams"
url = "https://example.webhook.office.com/teams-url-secret"
[[notifiers]]
id = "phone"
type = "ntfy"
url = "https://ntfy.sh/acme-status"
token = "${NTFY_TOKEN}"
[[notifiers]]
id = "topic"
type = "ntfy"
url = "https://ntfy.sh/acme-public"
[[notifiers]]
id = "pager"
type = "pagerduty"
routing_key = "${PD_ROUTING_KEY}"
[[notifiers]]
id = "pager-proxy"
type = "pagerduty"
routing_key = "literal-routing-key"
url = "http://127.0.0.1:8081/v2/enqueue"
"#;
    let loaded = load(text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let notifiers = &loaded.config.notifiers;
    let ids: Vec<&str> = notifiers.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "hook",
            "plain-hook",
            "chat",
            "gaming",
            "corp",
            "phone",
            "topic",
            "pager",
            "pager-proxy"
        ]
    );
    let channels: Vec<&Channel> = notifiers.iter().map(|n| &n.channel).collect();
    assert_eq!(
        channels,
        [
            &Channel::Webhook {
                url: "https://hooks.example.com/pharos".into(),
                secret: Some("whsec-0123456789abcdef".into()),
            },
            &Channel::Webhook {
                url: "http://127.0.0.1:9000/in".into(),
                secret: None,
            },
            &Channel::Slack {
                url: "https://hooks.slack.com/services/T000/B000/slack-url-secret".into(),
            },
            &Channel::Discord {
                url: "https://discord.com/api/webhooks/1/discord-url-secret".into(),
            },
            &Channel::Teams {
                url: "https://example.webhook.office.com/teams-url-secret".into(),
            },
            &Channel::Ntfy {
                url: "https://ntfy.sh/acme-status".into(),
                token: Some("tk_ntfy-token-secret".into()),
            },
            &Channel::Ntfy {
                url: "https://ntfy.sh/acme-public".into(),
                token: None,
            },
            &Channel::PagerDuty {
                routing_key: "pd-routing-key-secret".into(),
                url: DEFAULT_PAGERDUTY_URL.into(),
            },
            &Channel::PagerDuty {
                routing_key: "literal-routing-key".into(),
                url: "http://127.0.0.1:8081/v2/enqueue".into(),
            },
        ]
    );
    assert_eq!(
        DEFAULT_PAGERDUTY_URL,
        "https://events.pagerduty.com/v2/enqueue"
    );
    for n in notifiers {
        // Defaults: every incident and maintenance event, about any component, 10s, 4.
        assert_eq!(n.route, Route::default(), "{}", n.id);
        assert_eq!(n.timeout, Duration::from_secs(10), "{}", n.id);
        assert_eq!(n.concurrency, 4, "{}", n.id);
    }
}

#[test]
fn notifier_routes_and_limits_are_read() {
    let text = format!(
        r#"{API_AND_DB}
[[notifiers]]
id = "ops"
type = "webhook"
url = "https://hooks.example.com/x"
events = ["incident_opened", "incident_resolved", "component_status"]
components = ["db"]
min_severity = "s2"
timeout = "1s"
concurrency = 64
[[notifiers]]
id = "maint"
type = "slack"
url = "https://hooks.slack.com/services/x"
events = ["maintenance_scheduled", "maintenance_started", "maintenance_updated", "maintenance_completed", "incident_updated"]
components = ["api", "db"]
timeout = "60s"
concurrency = 1
"#
    );
    let loaded = load(&text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let [ops, maint] = loaded.config.notifiers.as_slice() else {
        panic!("two notifiers expected: {:?}", loaded.config.notifiers)
    };
    assert_eq!(
        ops.route,
        Route {
            events: vec![
                EventKind::IncidentOpened,
                EventKind::IncidentResolved,
                EventKind::ComponentStatus
            ],
            components: vec![ComponentId::new("db").unwrap()],
            min_severity: Some(pharos_domain::Severity::S2),
        }
    );
    assert_eq!((ops.timeout, ops.concurrency), (Duration::from_secs(1), 64));
    assert_eq!(
        maint.route,
        Route {
            events: vec![
                EventKind::MaintenanceScheduled,
                EventKind::MaintenanceStarted,
                EventKind::MaintenanceUpdated,
                EventKind::MaintenanceCompleted,
                EventKind::IncidentUpdated,
            ],
            components: vec![
                ComponentId::new("api").unwrap(),
                ComponentId::new("db").unwrap()
            ],
            min_severity: None,
        }
    );
    assert_eq!(
        (maint.timeout, maint.concurrency),
        (Duration::from_secs(60), 1)
    );
    // A notifier refers to components; it does not drive them.
    assert!(lines(
        "[[components]]\nid = \"c\"\nname = \"C\"\n[[notifiers]]\nid = \"n\"\ntype = \"slack\"\n\
         url = \"https://hooks.slack.com/x\"\ncomponents = [\"c\"]\n"
    )
    .contains(
        &"pharos.toml:2:6: warning: component `c` is not driven by any monitor; nothing will notice if it goes down"
            .to_owned()
    ));
}

#[test]
fn notifier_errors_point_at_the_value() {
    let text = r#"
[[components]]
id = "api"
name = "API"
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["api"]
[[notifiers]]
id = "ops"
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/x"
routing_key = "rk-secret-1"
secret = "s"
timout = "5s"
[[notifiers]]
id = "ops"
type = "webhook"
events = ["incident_open", "incident_resolved", "incident_resolved", "everything"]
components = ["api", "apii"]
min_severity = "S5"
timeout = "500ms"
concurrency = 0
[[notifiers]]
id = "pd"
type = "pagerduty"
timeout = "2m"
concurrency = 65
token = "t"
[[notifiers]]
id = "hook"
type = "webhook"
url = "ftp://hooks.example.com/x"
events = []
components = []
[[notifiers]]
id = "chat"
type = "discord"
url = "discord.com/api/webhooks/1/tok"
[[notifiers]]
id = "Chat"
type = "telegram"
url = 42
chat_id = "1"
[[notifiers]]
id = "mail"
type = "email"
to = ["ops@example.com"]
[[notifiers]]
type = "teams"
url = "https://x.example/"
[[notifiers]]
id = "x"
url = "https://x.example/"
"#;
    let events = "incident_opened, incident_updated, incident_resolved, maintenance_scheduled, maintenance_started, maintenance_updated, maintenance_completed, component_status, probe_offline, probe_online";
    let expected = [
        "pharos.toml:14:1: error: `routing_key` only applies to type = \"pagerduty\"".to_owned(),
        "pharos.toml:15:1: error: `secret` only applies to type = \"webhook\"".to_owned(),
        "pharos.toml:16:1: error: unknown key `timout` in [[notifiers]]; did you mean `timeout`?".to_owned(),
        "pharos.toml:17:1: error: notifier is missing required key `url`".to_owned(),
        "pharos.toml:18:6: error: duplicate notifier id `ops` (first used at line 11)".to_owned(),
        format!("pharos.toml:20:11: error: unknown event \"incident_open\" (expected one of: {events}); did you mean `incident_opened`?"),
        "pharos.toml:20:49: error: event `incident_resolved` is listed twice".to_owned(),
        format!("pharos.toml:20:70: error: unknown event \"everything\" (expected one of: {events})"),
        "pharos.toml:21:22: error: unknown component `apii`; did you mean `api`? (components are declared with [[components]])".to_owned(),
        "pharos.toml:22:16: error: `min_severity` must be one of S1, S2, S3, S4 (S1 is the most severe), found \"S5\"".to_owned(),
        "pharos.toml:23:11: error: `timeout` must be at least 1s, found \"500ms\"".to_owned(),
        "pharos.toml:24:15: error: `concurrency` must be at least 1, found 0".to_owned(),
        "pharos.toml:25:1: error: notifier `pd` is missing required key `routing_key`".to_owned(),
        "pharos.toml:28:11: error: `timeout` must be at most 60s, found \"2m\"".to_owned(),
        "pharos.toml:29:15: error: `concurrency` must be at most 64, found 65".to_owned(),
        "pharos.toml:30:1: error: `token` only applies to type = \"ntfy\"".to_owned(),
        "pharos.toml:34:7: error: invalid notifier `url`: the scheme must be http:// or https://".to_owned(),
        "pharos.toml:35:10: error: `events` must not be empty; leave the key out to receive every incident, maintenance and probe event".to_owned(),
        "pharos.toml:36:14: error: `components` must not be empty; leave the key out for events about every component".to_owned(),
        "pharos.toml:40:7: error: invalid notifier `url`: not an absolute URL; expected http://… or https://…".to_owned(),
        "pharos.toml:42:6: error: notifier id \"Chat\" may only contain lowercase letters, digits, '-' and '_'".to_owned(),
        "pharos.toml:43:8: error: unknown notifier type \"telegram\" (expected one of: webhook, slack, discord, teams, ntfy, pagerduty, email)".to_owned(),
        "pharos.toml:44:7: error: `url` must be a string, found an integer".to_owned(),
        "pharos.toml:45:1: error: unknown key `chat_id` in [[notifiers]]".to_owned(),
        "pharos.toml:48:8: error: type = \"email\" needs an [smtp] table".to_owned(),
        "pharos.toml:50:1: error: [[notifiers]] is missing required key `id`".to_owned(),
        "pharos.toml:53:1: error: notifier `x` is missing required key `type`".to_owned(),
    ];
    assert_eq!(refused(text), expected);
}

#[test]
fn min_severity_without_incident_events_is_a_warning() {
    let text = r#"
[[notifiers]]
id = "maint"
type = "ntfy"
url = "https://ntfy.sh/acme"
events = ["maintenance_started", "component_status"]
min_severity = "S1"
"#;
    assert_eq!(
        lines(text),
        ["pharos.toml:7:16: warning: `min_severity` has no effect: `events` lists no incident event"]
    );
    // With the default events it filters incidents: no warning.
    assert!(lines(
        "[[notifiers]]\nid = \"n\"\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/a\"\nmin_severity = \"S1\"\n"
    )
    .is_empty());
}

#[test]
fn notifier_secrets_never_appear_in_messages() {
    let text = r#"
[[notifiers]]
id = "a"
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/SECRET-1 x"
[[notifiers]]
id = "b"
type = "teams"
url = "ftp://SECRET-2.example/"
[[notifiers]]
id = "c"
type = "discord"
url = "https://SECRET-3:99999/x"
[[notifiers]]
id = "d"
type = "webhook"
url = "https://hooks.example.com/x"
secret = 4444444444
[[notifiers]]
id = "e"
type = "pagerduty"
routing_key = ["SECRET-5"]
[[notifiers]]
id = "f"
type = "slack"
url = "https://hooks.slack.com/services/x"
routing_key = "SECRET-6"
token = "SECRET-7"
secret = "SECRET-8"
[[notifiers]]
id = "g"
type = "ntfy"
url = "https://ntfy.sh/t"
token = "${EMPTY}"
[[notifiers]]
id = "h"
type = "webhook"
url = "SECRET-9"
secret = 'SECRET-10 ${NOPE}'
[[notifiers]]
id = "i"
type = "pagerduty"
routing_key = "${EMPTY}"
url = "https://SECRET-11 .example/"
"#;
    let got = refused(text);
    assert_eq!(
        got,
        [
            "pharos.toml:5:7: error: invalid notifier `url`: it contains a space or control character; encode it (e.g. %20 for a space)",
            "pharos.toml:9:7: error: invalid notifier `url`: the scheme must be http:// or https://",
            "pharos.toml:13:7: error: invalid notifier `url`: the host or port after the scheme is not valid",
            "pharos.toml:18:10: error: `secret` must be a string, found an integer",
            "pharos.toml:22:15: error: `routing_key` must be a string, found an array",
            "pharos.toml:27:1: error: `routing_key` only applies to type = \"pagerduty\"",
            "pharos.toml:28:1: error: `token` only applies to type = \"ntfy\"",
            "pharos.toml:29:1: error: `secret` only applies to type = \"webhook\"",
            "pharos.toml:34:9: error: `token` must not be empty",
            "pharos.toml:38:7: error: invalid notifier `url`: not an absolute URL; expected http://… or https://…",
            "pharos.toml:39:21: error: environment variable `NOPE` is not set",
            "pharos.toml:43:15: error: `routing_key` must not be empty",
            "pharos.toml:44:7: error: invalid notifier `url`: it contains a space or control character; encode it (e.g. %20 for a space)",
        ]
    );
    for line in &got {
        assert!(
            !line.contains("SECRET") && !line.contains("4444"),
            "a secret leaked: {line}"
        );
    }
}

#[test]
fn notifier_secrets_never_appear_in_debug_output() {
    let text = r#"
[[notifiers]]
id = "hook"
type = "webhook"
url = "https://hooks.example.com/pharos"
secret = "${PHAROS_WEBHOOK_SECRET}"
[[notifiers]]
id = "chat"
type = "slack"
url = "${SLACK_WEBHOOK_URL}"
[[notifiers]]
id = "gaming"
type = "discord"
url = "https://discord.com/api/webhooks/1/discord-url-secret"
[[notifiers]]
id = "corp"
type = "teams"
url = "https://example.webhook.office.com/teams-url-secret"
[[notifiers]]
id = "phone"
type = "ntfy"
url = "https://ntfy.sh/acme-status"
token = "${NTFY_TOKEN}"
[[notifiers]]
id = "pager"
type = "pagerduty"
routing_key = "${PD_ROUTING_KEY}"
"#;
    let loaded = load(text);
    let debug = format!("{:?} {:?}", loaded.config, loaded);
    for secret in [
        "whsec-0123456789abcdef",
        "slack-url-secret",
        "discord-url-secret",
        "teams-url-secret",
        "tk_ntfy-token-secret",
        "pd-routing-key-secret",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    for kind in ["webhook", "slack", "discord", "teams", "ntfy", "pagerduty"] {
        assert!(debug.contains(kind), "{kind} missing from {debug}");
    }
}

// ---------------------------------------------------------------------------------------------
// Incidents

#[test]
fn incidents_defaults_fill_what_is_absent() {
    let defaults = IncidentRules {
        auto_open: true,
        auto_publish: true,
        auto_resolve_after: Duration::from_secs(600),
        group_window: Duration::from_secs(60),
    };
    assert_eq!(IncidentRules::default(), defaults);
    assert_eq!(load("").config.incidents, defaults);
    let empty = load("[incidents]\n");
    assert_eq!(empty.config.incidents, defaults);
    // `[incidents]` is built now: no "not implemented" warning.
    assert!(empty.warnings.is_empty(), "{:?}", empty.warnings);
    assert_eq!(
        load("[incidents]\nauto_publish = false\n").config.incidents,
        IncidentRules {
            auto_publish: false,
            ..defaults
        }
    );
    assert_eq!(
        load("[incidents]\nauto_open = false\nauto_publish = false\nauto_resolve_after = \"1h30m\"\n")
            .config
            .incidents,
        IncidentRules {
            auto_open: false,
            auto_publish: false,
            auto_resolve_after: Duration::from_secs(90 * 60),
            group_window: Duration::from_secs(60),
        }
    );
    // The bounds are inclusive; the inline form works too.
    assert_eq!(
        load("incidents = { auto_resolve_after = \"1s\" }\n")
            .config
            .incidents
            .auto_resolve_after,
        Duration::from_secs(1)
    );
    assert_eq!(
        load("[incidents]\nauto_resolve_after = \"30d\"\n")
            .config
            .incidents
            .auto_resolve_after,
        Duration::from_secs(30 * 86_400)
    );
}

#[test]
fn incidents_values_are_checked() {
    let text = r#"[incidents]
auto_open = 1
auto_pubilsh = true
auto_resolve_after = "500ms"
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:13: error: `auto_open` must be a boolean (true or false), found an integer (1)",
            "pharos.toml:3:1: error: unknown key `auto_pubilsh` in [incidents]; did you mean `auto_publish`?",
            "pharos.toml:4:22: error: `auto_resolve_after` must be at least 1s, found \"500ms\"",
        ]
    );
    assert_eq!(
        load("[incidents]\ngroup_window = \"0s\"\n")
            .config
            .incidents
            .group_window,
        Duration::ZERO,
        "0s turns grouping off"
    );
    assert_eq!(
        load("[incidents]\ngroup_window = \"1h\"\n")
            .config
            .incidents
            .group_window,
        Duration::from_secs(3600)
    );
    assert_eq!(
        refused("[incidents]\ngroup_window = \"2h\"\n"),
        ["pharos.toml:2:16: error: `group_window` must be at most 1h, found \"2h\""]
    );
    assert_eq!(
        refused("[incidents]\nauto_resolve_after = \"31d\"\n"),
        ["pharos.toml:2:22: error: `auto_resolve_after` must be at most 30d, found \"31d\""]
    );
    assert_eq!(
        refused("[incidents]\nauto_resolve_after = \"0s\"\n"),
        ["pharos.toml:2:22: error: `auto_resolve_after` must be at least 1s, found \"0s\""]
    );
    assert_eq!(
        refused("[incidents]\nauto_resolve_after = \"ten minutes\"\nauto_publish = \"yes\"\n"),
        [
            "pharos.toml:2:22: error: `auto_resolve_after`: invalid duration \"ten minutes\": expected a number followed by ms, s, m, h or d, like \"30s\"",
            "pharos.toml:3:16: error: `auto_publish` must be a boolean (true or false), found a string",
        ]
    );
    assert_eq!(
        refused("[incidents]\nauto_resolve_after = \"${NO_SUCH}\"\n"),
        ["pharos.toml:2:23: error: environment variable `NO_SUCH` is not set"]
    );
    assert_eq!(
        refused("incidents = true\n"),
        ["pharos.toml:1:13: error: `incidents` must be a table ([incidents]), found a boolean (true)"]
    );
}

#[test]
fn auto_publish_without_auto_open_is_a_warning() {
    let text = "[incidents]\nauto_open = false\nauto_publish = true\n";
    let loaded = load(text);
    assert!(!loaded.config.incidents.auto_open);
    assert_eq!(
        lines(text),
        ["pharos.toml:3:16: warning: `auto_publish` has no effect while `auto_open` is false: no incident is opened automatically"]
    );
    // Only a value the user wrote is worth a warning, not the default.
    assert!(lines("[incidents]\nauto_open = false\n").is_empty());
    assert!(lines("[incidents]\nauto_open = false\nauto_publish = false\n").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Maintenances

/// Two components for maintenances to cover, both driven so that nothing else warns; 11
/// lines, so a maintenance appended after it starts at line 12.
const TWO_COMPONENTS: &str = r#"[[components]]
id = "api"
name = "API"
[[components]]
id = "db"
name = "Database"
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["api", "db"]
"#;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("a valid instant")
}

#[test]
fn maintenances_are_read_and_converted_to_utc() {
    let text = format!(
        r#"{TWO_COMPONENTS}[[maintenances]]
id = "db-upgrade-2026-12"
name = "Database upgrade"
body = """
We are upgrading the **${{API_HOST}}** database."""
components = ["db", "api"]
scheduled_for = "2026-12-01T02:00:00Z"
scheduled_until = "2026-12-01T05:00:00+01:00"
auto_start = false
auto_complete = true

[[maintenances]]
id = "network_2"
name = "Network"
components = ["${{EMPTY}}db"]
scheduled_for = 2026-12-31T23:30:00-05:00
scheduled_until = "2027-01-01T06:00:00.5+01:00"
"#
    );
    let loaded = load(&text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let db = ComponentId::new("db").unwrap();
    let api = ComponentId::new("api").unwrap();
    assert_eq!(
        loaded.config.maintenances,
        vec![
            MaintenanceDef {
                config_id: "db-upgrade-2026-12".into(),
                name: "Database upgrade".into(),
                body: "We are upgrading the **api.example.com** database.".into(),
                components: vec![db.clone(), api],
                scheduled_for: utc(2026, 12, 1, 2, 0, 0),
                scheduled_until: utc(2026, 12, 1, 4, 0, 0),
                auto_start: false,
                auto_complete: true,
            },
            MaintenanceDef {
                config_id: "network_2".into(),
                name: "Network".into(),
                body: String::new(),
                components: vec![db],
                // A TOML date-time (no quotes) is accepted too.
                scheduled_for: utc(2027, 1, 1, 4, 30, 0),
                scheduled_until: utc(2027, 1, 1, 5, 0, 0) + chrono::Duration::milliseconds(500),
                auto_start: true,
                auto_complete: true,
            },
        ]
    );
    // Inline tables work as everywhere else (the key goes before the first table header).
    let inline = format!(
        "maintenances = [{{ id = \"x\", name = \"X\", components = [\"api\"], scheduled_for = \"2026-01-01T00:00:00Z\", scheduled_until = \"2026-01-01T00:00:01Z\" }}]\n{TWO_COMPONENTS}"
    );
    assert_eq!(load(&inline).config.maintenances[0].config_id, "x");
}

#[test]
fn a_maintenance_does_not_drive_its_components() {
    // Covering a component is not watching it: the "not driven" warning stays.
    let text = "[[components]]\nid = \"c\"\nname = \"C\"\n[[maintenances]]\nid = \"w\"\nname = \"W\"\ncomponents = [\"c\"]\nscheduled_for = \"2026-01-01T00:00:00Z\"\nscheduled_until = \"2026-01-01T01:00:00Z\"\n";
    assert_eq!(load(text).config.maintenances.len(), 1);
    assert_eq!(
        lines(text),
        ["pharos.toml:2:6: warning: component `c` is not driven by any monitor; nothing will notice if it goes down"]
    );
}

#[test]
fn maintenance_errors_point_at_the_value() {
    let text = format!(
        r#"{TWO_COMPONENTS}[[maintenances]]
id = "Bad Id"
name = ""
components = []
scheduled_for = "2026-12-01T02:00:00"
scheduled_until = "tomorrow"
auto_start = "yes"
colour = "red"
[[maintenances]]
id = "upgrade"
name = "Upgrade"
components = ["api", "dbb", "api"]
scheduled_for = "2026-12-01T02:00:00Z"
scheduled_until = "2026-12-01T03:00:00+01:00"
[[maintenances]]
id = "upgrade"
name = "Upgrade again"
components = ["db"]
scheduled_for = "2026-12-01"
scheduled_until = 2026-12-01T04:00:00
bdy = "typo"
[[maintenances]]
name = "No id"
auto_complete = 1
"#
    );
    assert_eq!(
        refused(&text),
        [
            "pharos.toml:13:6: error: maintenance id \"Bad Id\" may only contain lowercase letters, digits, '-' and '_'",
            "pharos.toml:14:8: error: `name` must not be empty",
            "pharos.toml:15:14: error: `components` must not be empty: list the components under maintenance",
            "pharos.toml:16:17: error: `scheduled_for`: \"2026-12-01T02:00:00\" has no UTC offset, which is required so the time does not depend on the server's time zone; add `Z` for UTC (\"2026-12-01T02:00:00Z\") or the local offset (like \"2026-12-01T02:00:00+01:00\")",
            "pharos.toml:17:19: error: `scheduled_until`: \"tomorrow\" is not an RFC 3339 timestamp; expected one like \"2026-12-01T02:00:00Z\" or \"2026-12-01T03:00:00+01:00\"",
            "pharos.toml:18:14: error: `auto_start` must be a boolean (true or false), found a string",
            "pharos.toml:19:1: error: unknown key `colour` in [[maintenances]]",
            "pharos.toml:23:22: error: unknown component `dbb`; did you mean `db`? (components are declared with [[components]])",
            "pharos.toml:23:29: error: component `api` is listed twice",
            // 03:00+01:00 is 02:00Z: an empty window.
            "pharos.toml:25:19: error: `scheduled_until` (2026-12-01T02:00:00Z) must be after `scheduled_for` (2026-12-01T02:00:00Z)",
            "pharos.toml:27:6: error: duplicate maintenance id `upgrade` (first used at line 21)",
            "pharos.toml:30:17: error: `scheduled_for`: \"2026-12-01\" has no time of day; write a full timestamp like \"2026-12-01T00:00:00Z\"",
            "pharos.toml:31:19: error: `scheduled_until`: \"2026-12-01T04:00:00\" has no UTC offset, which is required so the time does not depend on the server's time zone; add `Z` for UTC (\"2026-12-01T04:00:00Z\") or the local offset (like \"2026-12-01T04:00:00+01:00\")",
            "pharos.toml:32:1: error: unknown key `bdy` in [[maintenances]]; did you mean `body`?",
            "pharos.toml:33:1: error: [[maintenances]] is missing required key `id`",
            "pharos.toml:33:1: error: [[maintenances]] is missing required key `components`",
            "pharos.toml:33:1: error: [[maintenances]] is missing required key `scheduled_for`",
            "pharos.toml:33:1: error: [[maintenances]] is missing required key `scheduled_until`",
            "pharos.toml:35:17: error: `auto_complete` must be a boolean (true or false), found an integer (1)",
        ]
    );

    let window = "components = [\"db\"]\nscheduled_for = \"2026-12-01T02:00:00Z\"\nscheduled_until = \"2026-12-01T03:00:00Z\"\n";
    assert_eq!(
        refused(&format!(
            "{TWO_COMPONENTS}[[maintenances]]\nid = \"w\"\n{window}"
        )),
        ["pharos.toml:12:1: error: [[maintenances]] is missing required key `name`"]
    );
    assert_eq!(
        refused(&format!(
            "{TWO_COMPONENTS}[[maintenances]]\nid = \"w\"\nname = \"W\"\ncomponents = [\"db\"]\nscheduled_for = 1764554400\nscheduled_until = \"2026-12-01T01:00:00Z\"\n"
        )),
        ["pharos.toml:16:17: error: `scheduled_for` must be an RFC 3339 timestamp like \"2026-12-01T02:00:00Z\" or \"2026-12-01T03:00:00+01:00\", found an integer (1764554400)"]
    );
    // Ending before it starts, and an ${ENV} reference that is not set.
    assert_eq!(
        refused(&format!(
            "{TWO_COMPONENTS}[[maintenances]]\nid = \"w\"\nname = \"${{NO_NAME}}\"\ncomponents = [\"db\"]\nscheduled_for = \"2026-12-01T02:00:00Z\"\nscheduled_until = \"2026-12-01T01:59:59Z\"\n"
        )),
        [
            "pharos.toml:14:9: error: environment variable `NO_NAME` is not set",
            "pharos.toml:17:19: error: `scheduled_until` (2026-12-01T01:59:59Z) must be after `scheduled_for` (2026-12-01T02:00:00Z)",
        ]
    );
    assert_eq!(
        refused("maintenances = \"soon\"\n"),
        ["pharos.toml:1:16: error: `maintenances` must be an array of tables ([[maintenances]]), found a string"]
    );
}

#[test]
fn maintenance_names_and_bodies_have_statuspage_limits() {
    let at_limit = format!(
        "{TWO_COMPONENTS}[[maintenances]]\nid = \"w\"\nname = \"{}\"\nbody = \"{}\"\ncomponents = [\"db\"]\nscheduled_for = \"2026-12-01T02:00:00Z\"\nscheduled_until = \"2026-12-01T03:00:00Z\"\n",
        "é".repeat(255),
        "b".repeat(25_000),
    );
    let m = &load(&at_limit).config.maintenances[0];
    assert_eq!((m.name.chars().count(), m.body.len()), (255, 25_000));
    let over = at_limit
        .replace(&"é".repeat(255), &"é".repeat(256))
        .replace(&"b".repeat(25_000), &"b".repeat(25_001));
    assert_eq!(
        refused(&over),
        [
            "pharos.toml:14:8: error: `name` must be at most 255 characters, found 256",
            "pharos.toml:15:8: error: `body` must be at most 25000 characters, found 25001",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Admin tokens

#[test]
fn admin_tokens_may_be_named() {
    let text = r#"[admin]
tokens = [
  "${PHAROS_ADMIN_TOKEN}",
  { name = "alice", token = "alice-token-0123456789" },
  "plain-token-abcdefghij",
  { name = "${API_HOST}", token = "host-token-0123456789" },
]
"#;
    let loaded = load(text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let tokens = &loaded.config.admin.tokens;
    let got: Vec<(&str, &str)> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.secret.expose()))
        .collect();
    assert_eq!(
        got,
        [
            ("token-1", "s3cret-admin-token"),
            ("alice", "alice-token-0123456789"),
            // Plain strings are named after their position in the whole list.
            ("token-3", "plain-token-abcdefghij"),
            ("api.example.com", "host-token-0123456789"),
        ]
    );
    let debug = format!("{:?}", loaded.config);
    assert!(debug.contains("alice") && debug.contains("[redacted]"));
    for (_, secret) in got {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }

    // `[[admin.tokens]]` tables are the same thing.
    let c = load(
        "[[admin.tokens]]\nname = \"ci\"\ntoken = \"ci-token-0123456789\"\n[[admin.tokens]]\nname = \"bob\"\ntoken = \"bob-token-0123456789\"\n",
    )
    .config;
    let names: Vec<&str> = c.admin.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci", "bob"]);
}

#[test]
fn a_short_admin_token_is_a_warning() {
    let text = "[admin]\ntokens = [\"short\", { name = \"dave\", token = \"fifteen-chars-x\" }, \"sixteen-chars-xx\"]\n";
    let loaded = load(text);
    assert_eq!(loaded.config.admin.tokens.len(), 3);
    assert_eq!(
        lines(text),
        [
            "pharos.toml:2:11: warning: short admin token is easy to guess: `token-1` has fewer than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`",
            "pharos.toml:2:45: warning: short admin token is easy to guess: `dave` has fewer than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`",
        ]
    );
}

#[test]
fn admin_token_names_and_values_are_checked_without_revealing_them() {
    let long_name = "n".repeat(65);
    let text = format!(
        r#"[admin]
tokens = [
  "plain-token-abcdefghij",
  {{ name = "token-1", token = "another-token-0123456" }},
  {{ name = "", token = "token-for-nobody-0123" }},
  {{ name = "alice", token = "alice-token-0123456789" }},
  {{ name = "alice", token = "second-alice-token-01" }},
  {{ name = "token-7", token = "seven-token-0123456789" }},
  "plain-token-for-seven-0",
  {{ tokn = "nameless-token-012345" }},
  {{ name = "bob", token = 12345678901234567 }},
  {{ name = "carol", token = "alice-token-0123456789" }},
  {{ name = "dave", token = "xyzzy" }},
  {{ name = "${{NO_NAME}}", token = "${{NO_TOKEN}}" }},
  42,
  {{ name = "{long_name}", token = "long-name-token-0123456" }},
  {{ name = "line\nbreak", token = "line-break-token-012345" }},
  {{ name = "erin", token = "" }},
]
"#
    );
    let got = refused(&text);
    assert_eq!(
        got,
        [
            "pharos.toml:4:12: error: admin token name `token-1` is already the default name of the plain token at line 3; choose another name",
            "pharos.toml:5:12: error: admin token `name` must not be empty",
            "pharos.toml:7:12: error: duplicate admin token name `alice` (first used at line 6)",
            "pharos.toml:9:3: error: this token's default name `token-7` is already used at line 8; rename that token, or write this one as { name = …, token = … }",
            "pharos.toml:10:3: error: an [admin] token is missing required key `name`",
            "pharos.toml:10:3: error: an [admin] token is missing required key `token`",
            "pharos.toml:10:5: error: unknown key `tokn` in an [admin] token; did you mean `token`?",
            "pharos.toml:11:27: error: `token` must be a string, found an integer",
            "pharos.toml:12:29: error: this admin token is the same as the one named `alice` (at line 6); every entry needs its own token, so that each change has one author",
            "pharos.toml:13:28: warning: short admin token is easy to guess: `dave` has fewer than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`",
            "pharos.toml:14:13: error: environment variable `NO_NAME` is not set",
            "pharos.toml:14:35: error: environment variable `NO_TOKEN` is not set",
            "pharos.toml:15:3: error: `tokens` must contain only strings or { name = …, token = … } tables, found an integer",
            "pharos.toml:16:12: error: admin token `name` must be at most 64 characters",
            "pharos.toml:17:12: error: admin token `name` must not contain control characters such as line breaks",
            "pharos.toml:18:28: error: admin token must not be empty",
        ]
    );
    for secret in [
        "plain-token-abcdefghij",
        "another-token-0123456",
        "alice-token-0123456789",
        "12345678901234567",
        "xyzzy",
    ] {
        assert!(
            got.iter().all(|line| !line.contains(secret)),
            "{secret} leaked: {got:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Components

#[test]
fn duplicate_ids_are_reported_at_the_second_occurrence() {
    let text = r#"
[[components]]
id = "c"
name = "C"
[[components]]
id = "c"
name = "C2"
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:1"
components = ["c"]
[[monitors]]
id = "m"
type = "tcp"
url = "tcp://127.0.0.1:2"
components = ["c"]
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:6:6: error: duplicate component id `c` (first used at line 3)",
            "pharos.toml:14:6: error: duplicate monitor id `m` (first used at line 9)",
        ]
    );
}

#[test]
fn an_undriven_component_is_only_a_warning() {
    let text = format!(
        "[[components]]\nid = \"c\"\nname = \"C\"\n[[components]]\nid = \"lonely\"\nname = \"L\"\n{DRIVE_C}"
    );
    let loaded = load(&text);
    assert_eq!(loaded.config.components.len(), 2);
    assert_eq!(
        lines(&text),
        ["pharos.toml:5:6: warning: component `lonely` is not driven by any monitor; nothing will notice if it goes down"]
    );
}

#[test]
fn warnings_travel_with_errors() {
    let text = "[[components]]\nid = \"lonely\"\nname = \"L\"\n[page]\nid = \"X\"\n";
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:6: warning: component `lonely` is not driven by any monitor; nothing will notice if it goes down",
            "pharos.toml:5:6: error: page id \"X\" may only contain lowercase letters, digits, '-' and '_'",
        ]
    );
}

#[test]
fn group_slugs_must_not_collide() {
    let text = format!(
        r#"
[[components]]
id = "c"
name = "C"
group = "Core services"
[[components]]
id = "core-services"
name = "Core"
[[components]]
id = "d"
name = "D"
group = "EU / West"
[[components]]
id = "e"
name = "E"
group = "eu west"
[[components]]
id = "f"
name = "F"
group = "!!!"
{DRIVE_C}"#
    );
    let got: Vec<String> = refused(&text)
        .into_iter()
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(
        got,
        [
            "pharos.toml:5:9: error: group \"Core services\" would get the id `core-services`, which component `core-services` already uses; rename the group or the component",
            "pharos.toml:16:9: error: group \"eu west\" and group \"EU / West\" (at line 12) both get the id `eu-west`; spell the group the same way everywhere",
            "pharos.toml:20:9: error: group name \"!!!\" must contain a letter or digit",
        ]
    );
    // The same spelling twice is one group, not a collision.
    let text = format!(
        "[[components]]\nid = \"c\"\nname = \"C\"\ngroup = \"Core\"\n[[components]]\nid = \"d\"\nname = \"D\"\ngroup = \"Core\"\n{DRIVE_C}"
    );
    assert_eq!(
        load(&text).config.components[1].group.as_deref(),
        Some("Core")
    );
}

#[test]
fn component_ids_and_names_are_validated() {
    let text = "[[components]]\nid = \"API\"\nname = \"\"\n[[components]]\nid = \"ok\"\n";
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:6: error: component id \"API\" may only contain lowercase letters, digits, '-' and '_'",
            "pharos.toml:3:8: error: `name` must not be empty",
            "pharos.toml:4:1: error: [[components]] is missing required key `name`",
            "pharos.toml:5:6: warning: component `ok` is not driven by any monitor; nothing will notice if it goes down",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Monitors

fn one_monitor(body: &str) -> String {
    format!("[[components]]\nid = \"c\"\nname = \"C\"\n[[monitors]]\nid = \"m\"\ncomponents = [\"c\"]\n{body}")
}

#[test]
fn http_monitor_defaults() {
    let c = load(&one_monitor(
        "type = \"http\"\nurl = \"http://127.0.0.1:8080/healthz\"\n",
    ))
    .config;
    let m = &c.monitors[0];
    assert_eq!(m.interval, Duration::from_secs(60));
    assert_eq!(m.timeout, Duration::from_secs(10));
    assert_eq!((m.failure_threshold, m.success_threshold), (3, 2));
    assert_eq!(m.conditions.len(), 1);
    assert_eq!(m.conditions[0].source(), "[STATUS] < 400");
    assert!(m.degraded_conditions.is_empty());
    assert_eq!(m.on_failure, ComponentStatus::MajorOutage);
    let MonitorKind::Http(h) = &m.kind else {
        panic!("http expected")
    };
    assert_eq!(h.method, "GET");
    assert!(h.headers.is_empty() && h.body.is_none() && !h.insecure);
    assert_eq!(
        h.max_redirects,
        pharos_domain::monitor::DEFAULT_MAX_REDIRECTS
    );
    assert_eq!(
        h.max_body_bytes,
        pharos_domain::monitor::DEFAULT_MAX_BODY_BYTES
    );
    assert_eq!(h.max_body_bytes, 1024 * 1024);
}

#[test]
fn tcp_monitor_defaults() {
    let c = load(&one_monitor(
        "type = \"tcp\"\nurl = \"tcp://db.internal:5432\"\ninterval = \"5s\"\n",
    ))
    .config;
    let m = &c.monitors[0];
    assert_eq!(
        m.kind,
        MonitorKind::Tcp(pharos_domain::TcpSpec {
            host: "db.internal".into(),
            port: 5432
        })
    );
    // The timeout defaults to min(10s, interval).
    assert_eq!(m.timeout, Duration::from_secs(5));
    assert_eq!(m.conditions[0].source(), "[CONNECTED] == true");
}

#[test]
fn http_monitor_settings() {
    let c = load(&one_monitor(
        r#"type = "http"
url = "https://${API_HOST}/v1/ping"
method = "post"
headers = { Authorization = "Bearer ${PHAROS_ADMIN_TOKEN}", Accept = "application/json" }
body = '{"ping": true}'
insecure = true
max_redirects = 0
max_body_size = "512KiB"
interval = "30s"
timeout = "30s"
failure_threshold = 1
success_threshold = 5
degraded_conditions = ["[RESPONSE_TIME] < 300"]
on_failure = "partial_outage"
"#,
    ))
    .config;
    let m = &c.monitors[0];
    let MonitorKind::Http(h) = &m.kind else {
        panic!("http expected")
    };
    assert_eq!(h.url, "https://api.example.com/v1/ping");
    assert_eq!(h.method, "POST");
    assert_eq!(
        h.headers,
        [
            (
                "Authorization".to_owned(),
                "Bearer s3cret-admin-token".to_owned()
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(h.body.as_deref(), Some(r#"{"ping": true}"#));
    assert!(h.insecure);
    assert_eq!(h.max_redirects, 0);
    assert_eq!(h.max_body_bytes, 512 * 1024);
    assert_eq!(
        (m.interval, m.timeout),
        (Duration::from_secs(30), Duration::from_secs(30))
    );
    assert_eq!((m.failure_threshold, m.success_threshold), (1, 5));
    assert_eq!(m.degraded_conditions[0].source(), "[RESPONSE_TIME] < 300");
    assert_eq!(m.on_failure, ComponentStatus::PartialOutage);

    let c = load(&one_monitor(
        "type = \"http\"\nurl = \"http://x/\"\nmax_body_size = 2048\n",
    ))
    .config;
    let MonitorKind::Http(h) = &c.monitors[0].kind else {
        panic!("http expected")
    };
    assert_eq!(h.max_body_bytes, 2048);
}

#[test]
fn monitor_values_are_checked() {
    let text = one_monitor(
        r#"type = "http"
url = "ftp://example.com/"
method = "GET /"
headers = { "Bad Name" = "x", Good = "a\nb" }
interval = "10s"
timeout = "30s"
failure_threshold = 0
success_threshold = 5000000000
max_redirects = -1
max_body_size = "lots"
on_failure = "operational"
conditions = []
"#,
    );
    assert_eq!(
        refused(&text),
        [
            "pharos.toml:8:7: error: invalid http monitor `url`: \"ftp://example.com/\" has scheme \"ftp\"; expected http:// or https://",
            "pharos.toml:9:10: error: `method` must be an HTTP method like \"GET\" or \"POST\", found \"GET /\"",
            "pharos.toml:10:13: error: \"Bad Name\" is not a valid HTTP header name",
            "pharos.toml:10:38: error: header `Good` must not contain line breaks or NUL",
            "pharos.toml:12:11: error: `timeout` (30s) must not be longer than `interval` (10s): checks of one monitor never overlap",
            "pharos.toml:13:21: error: `failure_threshold` must be at least 1, found 0",
            "pharos.toml:14:21: error: `success_threshold` is too large: 5000000000",
            "pharos.toml:15:17: error: `max_redirects` must be at least 0, found -1",
            "pharos.toml:16:17: error: `max_body_size`: \"lots\" is not a size; expected bytes as an integer or a string like \"512KiB\" or \"1MiB\"",
            "pharos.toml:17:14: error: `on_failure` must be one of partial_outage, major_outage, degraded_performance, found \"operational\"",
            "pharos.toml:18:14: error: `conditions` must not be empty; leave the key out to use the default",
        ]
    );
    assert_eq!(
        refused(&one_monitor(
            "type = \"tcp\"\nurl = \"tcp://h:1\"\ntimeout = \"0s\"\n"
        )),
        ["pharos.toml:9:11: error: `timeout` must be longer than 0s"]
    );
}

#[test]
fn keys_of_another_type_are_errors() {
    let text = one_monitor(
        "type = \"tcp\"\nurl = \"tcp://127.0.0.1:5432\"\ninsecure = true\nheaders = { A = \"b\" }\nperiod = \"5m\"\n",
    );
    assert_eq!(
        refused(&text),
        [
            "pharos.toml:9:1: error: `insecure` does not apply to a tcp monitor",
            "pharos.toml:10:1: error: `headers` does not apply to a tcp monitor",
            "pharos.toml:11:1: error: `period` does not apply to a tcp monitor",
        ]
    );
    let text = one_monitor("type = \"http\"\nurl = \"http://x/\"\ngrace = \"1m\"\n");
    assert_eq!(
        refused(&text),
        ["pharos.toml:9:1: error: `grace` does not apply to an http monitor"]
    );
}

#[test]
fn unknown_monitor_types() {
    assert_eq!(
        refused(&one_monitor("type = \"htp\"\nurl = \"http://x/\"\n")),
        ["pharos.toml:7:8: error: unknown monitor type \"htp\" (expected one of: http, tcp, heartbeat, prometheus, dns, tls, icmp); did you mean `http`?"]
    );
}

#[test]
fn dns_tls_and_icmp_monitors() {
    let text = one_monitor(
        "type = \"dns\"\nserver = \"1.1.1.1\"\nquery_name = \"example.com\"\nquery_type = \"mx\"\n",
    );
    let config = load(&text).config;
    let MonitorKind::Dns(dns) = &config.monitors[0].kind else {
        panic!("not dns: {:?}", config.monitors[0].kind)
    };
    assert_eq!(dns.server.to_string(), "1.1.1.1:53");
    assert_eq!(
        (dns.query_name.as_str(), dns.query_type.as_str()),
        ("example.com", "MX")
    );
    assert_eq!(
        config.monitors[0].conditions[0].source(),
        "[DNS_RCODE] == NOERROR"
    );

    let config = load(&one_monitor(
        "type = \"tls\"\nurl = \"tls://example.com\"\n",
    ))
    .config;
    assert_eq!(
        config.monitors[0].kind,
        MonitorKind::Tls(pharos_domain::TlsSpec {
            host: "example.com".into(),
            port: 443,
            insecure: false,
            ca_certificate_pem: None
        })
    );
    let config = load(&one_monitor(
        "type = \"tls\"\nurl = \"tls://[::1]:8443\"\ninsecure = true\n",
    ))
    .config;
    assert_eq!(
        config.monitors[0].kind,
        MonitorKind::Tls(pharos_domain::TlsSpec {
            host: "::1".into(),
            port: 8443,
            insecure: true,
            ca_certificate_pem: None
        })
    );
    let config = load(&one_monitor("type = \"icmp\"\nurl = \"icmp://10.0.0.1\"\n")).config;
    assert_eq!(
        config.monitors[0].kind,
        MonitorKind::Icmp(pharos_domain::IcmpSpec {
            host: "10.0.0.1".into()
        })
    );

    // Each mistake is named.
    let cases: &[(&str, &str)] = &[
        (
            "type = \"dns\"\nurl = \"dns://1.1.1.1\"\nserver = \"1.1.1.1\"\nquery_name = \"a.b\"\n",
            "pharos.toml:8:1: error: `url` does not apply to a dns monitor: set `server` (the resolver, like \"1.1.1.1:53\"), `query_name` and `query_type`",
        ),
        (
            "type = \"dns\"\nquery_name = \"a.b\"\n",
            "pharos.toml:4:1: error: monitor `m` is missing required key `server` (the resolver asked, like \"1.1.1.1:53\")",
        ),
        (
            "type = \"dns\"\nserver = \"dns.google\"\nquery_name = \"a.b\"\n",
            "pharos.toml:8:10: error: `server`: \"dns.google\" is not an IP address (write the resolver's address, like \"1.1.1.1:53\")",
        ),
        (
            "type = \"dns\"\nserver = \"1.1.1.1\"\nquery_name = \"a..b\"\n",
            "pharos.toml:9:14: error: `query_name`: \"a..b\" is not a DNS name (labels of letters, digits, `-` or `_`, each 1-63 characters)",
        ),
        (
            "type = \"dns\"\nserver = \"1.1.1.1\"\nquery_name = \"a.b\"\nquery_type = \"AAA\"\n",
            "pharos.toml:10:14: error: `query_type` must be one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, found \"AAA\"; did you mean `AAAA`?",
        ),
        (
            "type = \"tls\"\nurl = \"https://example.com\"\n",
            "pharos.toml:8:7: error: invalid tls monitor `url`: \"https://example.com\" is not a tls URL; expected tls://host[:port]",
        ),
        (
            "type = \"icmp\"\nurl = \"icmp://10.0.0.1:80\"\n",
            "pharos.toml:8:7: error: invalid icmp monitor `url`: \"icmp://10.0.0.1:80\": icmp has no ports; expected icmp://host",
        ),
        (
            "type = \"icmp\"\nurl = \"icmp://h\"\nmethod = \"GET\"\n",
            "pharos.toml:9:1: error: `method` does not apply to an icmp monitor",
        ),
        (
            "type = \"tcp\"\nurl = \"tcp://h:1\"\nquery_type = \"A\"\n",
            "pharos.toml:9:1: error: `query_type` does not apply to a tcp monitor",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(refused(&one_monitor(body)), [*want], "{body}");
    }
}

#[test]
fn http_credentials_status_codes_and_client_certificates() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("client.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .expect("write cert");
    std::fs::write(
        dir.path().join("client.key"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .expect("write key");
    let text = one_monitor(
        "type = \"http\"\nurl = \"https://x/\"\nbasic_auth = { username = \"probe\", password = \"s3cret-pass\" }\naccepted_status_codes = [200, \"300-399\"]\nclient_certificate = \"client.pem\"\nclient_key = \"client.key\"\n",
    );
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, &text).expect("write config");
    let loaded = load_file(&path).expect("accepted");
    let m = &loaded.config.monitors[0];
    let MonitorKind::Http(http) = &m.kind else {
        panic!("not http")
    };
    assert_eq!(
        http.auth,
        Some(pharos_domain::monitor::HttpAuth::Basic {
            username: "probe".into(),
            password: pharos_domain::Secret::new("s3cret-pass")
        })
    );
    let codes: Vec<String> = http
        .accepted_status_codes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(codes, ["200", "300-399"]);
    let identity = http.client_identity.as_ref().expect("identity");
    assert!(identity.certificate_pem.contains("BEGIN CERTIFICATE"));
    assert!(identity.key_pem.expose().contains("BEGIN PRIVATE KEY"));
    // Secrets never reach a log line or the stored definition.
    let key = pharos_domain::fingerprint::FingerprintKey::derive(b"test database key");
    let shown = format!("{m:?}\n{}", m.definition_json(&key));
    for secret in ["s3cret-pass", "MIIE"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }

    let cases: &[(&str, &str)] = &[
        (
            "type = \"http\"\nurl = \"http://x/\"\nbasic_auth = { username = \"a\", password = \"b\" }\nbearer_token = \"t\"\n",
            "pharos.toml:10:16: error: set `basic_auth` or `bearer_token`, not both: a request carries one Authorization header",
        ),
        (
            "type = \"http\"\nurl = \"http://x/\"\nbasic_auth = { username = \"a\" }\n",
            "pharos.toml:9:14: error: basic_auth is missing required key `password`",
        ),
        (
            "type = \"http\"\nurl = \"http://x/\"\naccepted_status_codes = [200, \"299-200\", 700]\n",
            "pharos.toml:9:31: error: `accepted_status_codes`: \"299-200\" is not a status code (100-599) or a range like \"200-299\"\npharos.toml:9:42: error: `accepted_status_codes`: 700 is not a status code (100-599) or a range like \"200-299\"",
        ),
        (
            "type = \"http\"\nurl = \"http://x/\"\nclient_certificate = \"/nonexistent/c.pem\"\n",
            "pharos.toml:9:22: error: `client_certificate` needs `client_key` (the PEM file of its private key)",
        ),
        (
            "type = \"tcp\"\nurl = \"tcp://h:1\"\nbearer_token = \"t\"\n",
            "pharos.toml:9:1: error: `bearer_token` does not apply to a tcp monitor",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(refused(&one_monitor(body)).join("\n"), *want, "{body}");
    }
    // A missing file is named, and the key's content never quoted.
    let text = one_monitor(
        "type = \"http\"\nurl = \"http://x/\"\nclient_certificate = \"/nonexistent/c.pem\"\nclient_key = \"/nonexistent/c.key\"\n",
    );
    let got = refused(&text).join("\n");
    assert!(
        got.contains("`client_certificate`: cannot read /nonexistent/c.pem"),
        "{got}"
    );
    assert!(
        got.contains("`client_key`: cannot read /nonexistent/c.key"),
        "{got}"
    );
}

#[test]
fn a_ca_certificate_is_trusted_by_tls_and_http_monitors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("ca.pem"), pem).expect("write CA");
    std::fs::write(
        dir.path().join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .expect("write key");
    // Relative to the configuration file's folder, for each kind that makes TLS connections.
    for (body, kind) in [
        ("type = \"tls\"\nurl = \"tls://db.internal:5432\"\nca_certificate = \"ca.pem\"\n", "tls"),
        ("type = \"http\"\nurl = \"https://x/\"\nca_certificate = \"ca.pem\"\n", "http"),
        (
            "type = \"prometheus\"\nurl = \"https://x/metrics\"\nseries = \"up\"\nthreshold = 1\nca_certificate = \"ca.pem\"\n",
            "prometheus",
        ),
    ] {
        let path = dir.path().join("pharos.toml");
        std::fs::write(&path, one_monitor(body)).expect("write config");
        let loaded = load_file(&path).unwrap_or_else(|d| panic!("{kind}: {d:?}"));
        let ca = match &loaded.config.monitors[0].kind {
            MonitorKind::Tls(t) => t.ca_certificate_pem.clone(),
            MonitorKind::Http(h) => h.ca_certificate_pem.clone(),
            MonitorKind::Prometheus(p) => p.http.ca_certificate_pem.clone(),
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(ca.as_deref(), Some(pem), "{kind}");
    }
    // Left out, nothing extra is trusted.
    let config = load(&one_monitor("type = \"tls\"\nurl = \"tls://h\"\n")).config;
    let MonitorKind::Tls(tls) = &config.monitors[0].kind else {
        panic!("not tls")
    };
    assert_eq!(tls.ca_certificate_pem, None);

    let key = dir.path().join("key.pem");
    let cases = [
        (
            "type = \"tls\"\nurl = \"tls://h\"\nca_certificate = \"/nonexistent/ca.pem\"\n"
                .to_owned(),
            "pharos.toml:9:18: error: `ca_certificate`: cannot read /nonexistent/ca.pem".to_owned(),
        ),
        (
            format!(
                "type = \"tls\"\nurl = \"tls://h\"\nca_certificate = {:?}\n",
                key.display().to_string()
            ),
            format!(
                "pharos.toml:9:18: error: `ca_certificate`: {} holds no PEM \"CERTIFICATE\" block",
                key.display()
            ),
        ),
        (
            "type = \"tcp\"\nurl = \"tcp://h:1\"\nca_certificate = \"ca.pem\"\n".to_owned(),
            "pharos.toml:9:1: error: `ca_certificate` does not apply to a tcp monitor".to_owned(),
        ),
    ];
    for (body, want) in cases {
        let got = refused(&one_monitor(&body)).join("\n");
        assert!(got.starts_with(&want), "{body}\n{got}");
    }
}

#[test]
fn component_references_must_exist() {
    let text = "[[components]]\nid = \"api\"\nname = \"API\"\n[[monitors]]\nid = \"m\"\ntype = \"tcp\"\nurl = \"tcp://h:1\"\ncomponents = [\"api\", \"db\", \"api\"]\n";
    assert_eq!(
        refused(text),
        [
            "pharos.toml:8:22: error: unknown component `db` (components are declared with [[components]])",
            "pharos.toml:8:28: error: component `api` is listed twice",
        ]
    );
}

#[test]
fn a_monitor_without_components_is_a_warning() {
    let text = "[[monitors]]\nid = \"m\"\ntype = \"tcp\"\nurl = \"tcp://h:1\"\n";
    assert_eq!(
        lines(text),
        ["pharos.toml:1:1: warning: monitor `m` drives no component, so it does not show on the status page"]
    );
    assert_eq!(load(text).config.monitors.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Environment interpolation

#[test]
fn env_vars_are_interpolated_in_any_string() {
    let c = load(
        r#"
[page]
name = "${API_HOST} status"
[[components]]
id = "c"
name = "C${EMPTY}"
[[monitors]]
id = "m"
type = "http"
url = "https://${API_HOST}/"
headers = { X-Token = "${PHAROS_ADMIN_TOKEN}" }
components = ["${EMPTY}c"]
conditions = ["[BODY] == ${API_HOST}"]
"#,
    )
    .config;
    assert_eq!(c.page.name, "api.example.com status");
    assert_eq!(c.components[0].name, "C");
    let MonitorKind::Http(h) = &c.monitors[0].kind else {
        panic!("http expected")
    };
    assert_eq!(h.url, "https://api.example.com/");
    assert_eq!(h.headers[0].1, "s3cret-admin-token");
    assert_eq!(
        c.monitors[0].conditions[0].source(),
        "[BODY] == api.example.com"
    );
}

#[test]
fn double_dollar_is_a_literal() {
    let c = load("[page]\nname = \"$${NOT_A_VAR} costs $5\"\n").config;
    assert_eq!(c.page.name, "${NOT_A_VAR} costs $5");
}

#[test]
fn missing_env_vars_are_errors_at_the_reference() {
    let text = r#"
[page]
name = "x ${MISSING_ONE} ${MISSING_TWO}"
[admin]
tokens = ["ok", "${NO_TOKEN}"]
[[monitors]]
id = "m"
type = "http"
url = "http://127.0.0.1/"
headers = { Authorization = "Bearer ${NO_SECRET}" }
body = """
${1BAD}"""
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:3:11: error: environment variable `MISSING_ONE` is not set",
            "pharos.toml:3:26: error: environment variable `MISSING_TWO` is not set",
            "pharos.toml:5:11: warning: short admin token is easy to guess: `token-1` has fewer than 16 characters; use a long random value, e.g. from `openssl rand -hex 32`",
            "pharos.toml:5:18: error: environment variable `NO_TOKEN` is not set",
            "pharos.toml:10:37: error: environment variable `NO_SECRET` is not set",
            "pharos.toml:12:1: error: `${1BAD}` is not a valid environment variable reference: names are letters, digits and `_`, not starting with a digit (write `$${` for a literal `${`)",
        ]
    );
    assert_eq!(
        refused("[page]\nname = 'abc ${UNCLOSED'\n"),
        ["pharos.toml:2:13: error: unclosed `${` in string (write `$${` for a literal `${`)"]
    );
}

// ---------------------------------------------------------------------------------------------
// Conditions

#[test]
fn condition_errors_point_at_the_character_in_the_file() {
    // `[STATU]` is not a placeholder: the error is at its `[`, line 9 column 34 (the second
    // condition's opening quote is at column 33).
    let text = one_monitor(
        "type = \"http\"\nurl = \"http://x/\"\nconditions = [\"[STATUS] < 500\", \"[STATU] == 200\"]\n",
    );
    let got = refused(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("pharos.toml:9:34: error: invalid condition: "),
        "{got:?}"
    );
    assert!(got[0].contains("[STATU]"), "{got:?}");

    // Escapes before the problem: `\u0020` is one character of the condition but six
    // columns of the file, so `[` is at column 22, not 17.
    let text = one_monitor(
        "type = \"http\"\nurl = \"http://x/\"\nconditions = [\"\\u0020[STATU] == 200\"]\n",
    );
    let got = refused(&text);
    assert!(
        got[0].starts_with("pharos.toml:9:22: error: invalid condition: "),
        "{got:?}"
    );

    // In a degraded condition, after a `${…}` that interpolated to nothing: positions are
    // those of the file, not of the interpolated text.
    let text = one_monitor(
        "type = \"http\"\nurl = \"http://x/\"\ndegraded_conditions = ['${EMPTY}[STATU] == 1']\n",
    );
    let got = refused(&text);
    assert!(
        got[0].starts_with("pharos.toml:9:33: error: invalid condition: "),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// [smtp] and e-mail notifiers

fn smtp_env(name: &str) -> Option<String> {
    match name {
        "SMTP_PASSWORD" => Some("smtp-password-secret".into()),
        other => env(other),
    }
}

fn load_smtp(text: &str) -> Loaded {
    parse_str(text, "pharos.toml", &smtp_env)
        .unwrap_or_else(|d| panic!("expected the file to load, got:\n{}", render(&d)))
}

fn smtp_lines(text: &str) -> Vec<String> {
    match parse_str(text, "pharos.toml", &smtp_env) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn smtp_and_email_notifiers_are_read() {
    let text = r#"
[smtp]
host = "smtp.example.com"
port = 2525
security = "starttls"
username = "status@example.com"
password = "${SMTP_PASSWORD}"
from = "Acme Status <status@example.com>"
timeout = "20s"

[[notifiers]]
id = "oncall"
type = "email"
to = ["oncall@example.com", "cto@example.com"]
events = ["incident_opened", "incident_resolved"]

[[notifiers]]
id = "quick"
type = "email"
to = ["  pager@example.com  "]
timeout = "5s"
"#;
    let loaded = load_smtp(text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let smtp = SmtpSettings {
        host: "smtp.example.com".into(),
        port: 2525,
        security: SmtpSecurity::StartTls,
        username: Some("status@example.com".into()),
        password: Some("smtp-password-secret".into()),
        from: "Acme Status <status@example.com>".into(),
        timeout: Duration::from_secs(20),
    };
    assert_eq!(loaded.config.smtp.as_ref(), Some(&smtp));
    let [oncall, quick] = loaded.config.notifiers.as_slice() else {
        panic!("two notifiers expected: {:?}", loaded.config.notifiers)
    };
    assert_eq!(
        oncall.channel,
        Channel::Email {
            to: vec!["oncall@example.com".into(), "cto@example.com".into()],
            smtp: smtp.clone(),
        }
    );
    assert_eq!(oncall.channel.type_name(), "email");
    assert_eq!(oncall.route.events.len(), 2);
    // An e-mail notifier's attempt defaults to the server's timeout; its own wins.
    assert_eq!(oncall.timeout, Duration::from_secs(20));
    assert_eq!(quick.timeout, Duration::from_secs(5));
    assert_eq!(
        quick.channel,
        Channel::Email {
            to: vec!["pager@example.com".into()],
            smtp,
        }
    );
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("smtp-password-secret"), "{debug}");
}

#[test]
fn smtp_defaults_follow_the_security() {
    let base = "[smtp]\nhost = \"mail.internal\"\nfrom = \"status@example.com\"\n";
    let smtp = load(base).config.smtp.unwrap();
    assert_eq!(
        (smtp.port, smtp.security, smtp.timeout),
        (587, SmtpSecurity::StartTls, DEFAULT_SMTP_TIMEOUT)
    );
    assert_eq!(DEFAULT_SMTP_TIMEOUT, Duration::from_secs(10));
    assert_eq!((smtp.username, smtp.password), (None, None));
    for (security, port, want) in [
        ("tls", 465, SmtpSecurity::Tls),
        ("none", 25, SmtpSecurity::None),
        ("starttls", 587, SmtpSecurity::StartTls),
    ] {
        let smtp = load(&format!("{base}security = \"{security}\"\n"))
            .config
            .smtp
            .unwrap();
        assert_eq!((smtp.security, smtp.port), (want, port), "{security}");
    }
    for host in ["127.0.0.1", "::1", "[::1]", "localhost"] {
        let text = format!("[smtp]\nhost = \"{host}\"\nfrom = \"status@example.com\"\n");
        let smtp = load(&text).config.smtp.unwrap();
        assert_eq!(smtp.host, host.trim_matches(['[', ']']), "{host}");
    }
    // No [smtp], no settings; an [smtp] table alone is fine.
    assert_eq!(load("").config.smtp, None);
}

#[test]
fn smtp_errors_point_at_the_value() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\nhots = 1\ntls = true\n",
            &[
                "pharos.toml:4:1: error: unknown key `hots` in [smtp]; did you mean `host`?",
                "pharos.toml:5:1: error: unknown key `tls` in [smtp]",
            ],
        ),
        (
            "\n[smtp]\nport = 25\n",
            &[
                "pharos.toml:2:1: error: [smtp] is missing required key `host`",
                "pharos.toml:2:1: error: [smtp] is missing required key `from`",
            ],
        ),
        (
            "[smtp]\nhost = \"smtps://smtp.example.com\"\nfrom = \"Acme <status@example.com\"\n",
            &[
                "pharos.toml:2:8: error: `host` is a host name, not a URL: write just the name, like \"smtp.example.com\", found \"smtps://smtp.example.com\"",
                "pharos.toml:3:8: error: invalid `from` \"Acme <status@example.com\": its angle brackets are unbalanced",
            ],
        ),
        (
            "[smtp]\nhost = \"smtp.example.com:465\"\nfrom = \"status\"\n",
            &[
                "pharos.toml:2:8: error: `host` must not carry the port: write host = \"smtp.example.com\" and port = 465",
                "pharos.toml:3:8: error: invalid `from` \"status\": it needs an @ between a name and a domain, like name@example.com",
            ],
        ),
        (
            "[smtp]\nhost = \"smtp example.com\"\nfrom = \"s@example.com\"\nport = 0\nsecurity = \"ssl\"\n",
            &[
                "pharos.toml:2:8: error: `host` must be a host name or IP address like \"smtp.example.com\", found \"smtp example.com\"",
                "pharos.toml:4:8: error: `port` must be at least 1, found 0",
                "pharos.toml:5:12: error: unknown `security` \"ssl\" (expected one of: starttls, tls, none); use \"tls\" for TLS from the first byte (port 465)",
            ],
        ),
        (
            "[smtp]\nhost = \"\"\nfrom = \"s@example.com\"\nport = 70000\nsecurity = \"startls\"\ntimeout = \"2m\"\n",
            &[
                "pharos.toml:2:8: error: `host` must not be empty",
                "pharos.toml:4:8: error: `port` is too large: 70000",
                "pharos.toml:5:12: error: unknown `security` \"startls\" (expected one of: starttls, tls, none); did you mean `starttls`?",
                "pharos.toml:6:11: error: `timeout` must be at most 60s, found \"2m\"",
            ],
        ),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"s@example.com\"\nsecurity = \"TLS\"\nport = \"587\"\ntimeout = \"500ms\"\n",
            &[
                "pharos.toml:4:12: error: unknown `security` \"TLS\" (expected one of: starttls, tls, none); write it in lowercase",
                "pharos.toml:5:8: error: `port` must be an integer, found a string",
                "pharos.toml:6:11: error: `timeout` must be at least 1s, found \"500ms\"",
            ],
        ),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"s@example.com\"\nusername = \"status\"\n",
            &["pharos.toml:4:12: error: `username` needs a `password`"],
        ),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"s@example.com\"\npassword = \"${SMTP_PASSWORD}\"\n",
            &["pharos.toml:4:1: error: `password` needs a `username`"],
        ),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"s@example.com\"\nusername = \"\"\npassword = \"\"\n",
            &[
                "pharos.toml:4:12: error: `username` must not be empty",
                "pharos.toml:5:12: error: `password` must not be empty",
            ],
        ),
        (
            "smtp = \"smtp.example.com\"\n",
            &["pharos.toml:1:8: error: `smtp` must be a table ([smtp]), found a string"],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(smtp_lines(text), *expected, "{text}");
    }
}

#[test]
fn smtp_warnings_catch_a_port_of_the_other_kind_and_plain_text_passwords() {
    let base = "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\n";
    assert_eq!(
        smtp_lines(&format!("{base}port = 465\n")),
        ["pharos.toml:4:8: warning: port 465 usually wants security = \"tls\", not \"starttls\"; with the wrong one every delivery waits for its timeout"]
    );
    assert_eq!(
        smtp_lines(&format!("{base}port = 587\nsecurity = \"tls\"\n")),
        ["pharos.toml:4:8: warning: port 587 usually wants security = \"starttls\", not \"tls\"; with the wrong one every delivery waits for its timeout"]
    );
    assert_eq!(
        smtp_lines(&format!(
            "{base}security = \"none\"\nusername = \"u\"\npassword = \"${{SMTP_PASSWORD}}\"\n"
        )),
        ["pharos.toml:4:12: warning: with security = \"none\" the password travels unencrypted; use \"starttls\" or \"tls\" unless the server is on this machine"]
    );
    assert!(smtp_lines(&format!("{base}security = \"none\"\nport = 2525\n")).is_empty());
}

#[test]
fn email_notifier_errors_point_at_the_value() {
    let smtp = "[smtp]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\n";
    let text = format!(
        r#"{smtp}[[notifiers]]
id = "a"
type = "email"
[[notifiers]]
id = "b"
type = "email"
to = []
[[notifiers]]
id = "c"
type = "email"
to = ["ok@example.com", "nope", "two@@example.com", "OK@example.com"]
url = "https://hooks.example.com/SECRET-URL"
[[notifiers]]
id = "d"
type = "webhook"
url = "https://hooks.example.com/x"
to = ["ops@example.com"]
[[notifiers]]
id = "e"
type = "email"
to = "oncall@example.com"
[[notifiers]]
id = "f"
type = "email"
to = ["oncall@example.com", 7]
"#
    );
    assert_eq!(
        smtp_lines(&text),
        [
            "pharos.toml:4:1: error: notifier `a` is missing required key `to`",
            "pharos.toml:10:6: error: `to` must list at least one address, like [\"oncall@example.com\"]",
            "pharos.toml:14:25: error: invalid address \"nope\" in `to`: it needs an @ between a name and a domain, like name@example.com",
            "pharos.toml:14:33: error: invalid address \"two@@example.com\" in `to`: the part before the @ is not valid",
            "pharos.toml:14:53: error: address \"OK@example.com\" is listed twice in `to`",
            "pharos.toml:15:1: error: `url` does not apply to type = \"email\": it sends to the addresses in `to` through [smtp]",
            "pharos.toml:20:1: error: `to` only applies to type = \"email\"",
            "pharos.toml:24:6: error: `to` must be an array of strings, found a string",
            "pharos.toml:28:29: error: `to` must contain only strings, found an integer (7)",
        ]
    );
    assert!(smtp_lines(&text).iter().all(|l| !l.contains("SECRET")));
}

#[test]
fn an_email_notifier_needs_the_smtp_table() {
    let notifier = "[[notifiers]]\nid = \"mail\"\ntype = \"email\"\nto = [\"ops@example.com\"]\n";
    assert_eq!(
        smtp_lines(notifier),
        ["pharos.toml:3:8: error: type = \"email\" needs an [smtp] table"]
    );
    // A broken [smtp] table is reported once, where it is broken.
    assert_eq!(
        smtp_lines(&format!("{notifier}[smtp]\nhost = \"smtp.example.com\"\n")),
        ["pharos.toml:5:1: error: [smtp] is missing required key `from`"]
    );
    let loaded = load(&format!(
        "{notifier}[smtp]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\n"
    ));
    assert_eq!(loaded.config.notifiers.len(), 1);
}

#[test]
fn the_smtp_password_never_appears_in_messages() {
    let text = r#"
[smtp]
host = "smtp.example.com"
username = "u"
password = 12345678901
from = "s@example.com"
[[notifiers]]
id = "mail"
type = "email"
to = ["ops@example.com"]
"#;
    let got = smtp_lines(text);
    assert_eq!(
        got,
        ["pharos.toml:5:12: error: `password` must be a string, found an integer"]
    );
    let text = "[smtp]\nhost = \"h\"\nfrom = \"s@example.com\"\npassword = \"SECRET-PW ${NOPE}\"\n";
    let got = smtp_lines(text);
    assert_eq!(
        got,
        ["pharos.toml:4:23: error: environment variable `NOPE` is not set"]
    );
    for line in got {
        assert!(
            !line.contains("SECRET") && !line.contains("12345"),
            "{line}"
        );
    }
}

#[test]
fn heartbeat_monitors_load_with_healthchecks_defaults() {
    let token = "5f0c1c6e-8d3a-4c59-9a57-2b1f2a7e9d10";
    let c = load(&one_monitor(&format!(
        "type = \"heartbeat\"\ntoken = \"{token}\"\nperiod = \"5m\"\n"
    )))
    .config;
    let m = &c.monitors[0];
    let pharos_domain::MonitorKind::Heartbeat(hb) = &m.kind else {
        panic!("not a heartbeat: {:?}", m.kind)
    };
    assert_eq!(hb.token, token);
    assert_eq!(
        hb.expect,
        pharos_domain::heartbeat::Expect::Period(Duration::from_secs(300))
    );
    assert_eq!(
        hb.grace,
        Duration::from_secs(3600),
        "healthchecks.io's default"
    );
    assert_eq!((m.failure_threshold, m.success_threshold), (1, 1));
    assert!(m.conditions.is_empty());
    assert_eq!(m.interval, Duration::from_secs(300));
    let key = pharos_domain::fingerprint::FingerprintKey::derive(b"test database key");
    assert!(
        !m.definition_json(&key).contains(token),
        "the token is a secret: {}",
        m.definition_json(&key)
    );

    let c = load(&one_monitor(&format!(
        "type = \"heartbeat\"\ntoken = \"{token}\"\nschedule = \"30 2 * * *\"\n\
         time_zone = \"Europe/Berlin\"\ngrace = \"10m\"\n"
    )))
    .config;
    let pharos_domain::MonitorKind::Heartbeat(hb) = &c.monitors[0].kind else {
        panic!("not a heartbeat")
    };
    let pharos_domain::heartbeat::Expect::Schedule(s) = &hb.expect else {
        panic!("not a schedule: {:?}", hb.expect)
    };
    assert_eq!(s.expression(), "30 2 * * *");
    assert_eq!(s.time_zone(), chrono_tz::Europe::Berlin);
    assert_eq!(hb.grace, Duration::from_secs(600));
}

#[test]
fn heartbeat_monitor_mistakes_are_named() {
    let token = "5f0c1c6e-8d3a-4c59-9a57-2b1f2a7e9d10";
    let hb = |rest: &str| one_monitor(&format!("type = \"heartbeat\"\n{rest}"));
    assert_eq!(
        refused(&hb(&format!("token = \"{token}\"\n"))),
        ["pharos.toml:4:1: error: monitor `m` needs `period` (e.g. \"5m\") or `schedule` (e.g. \"*/5 * * * *\") to say when its job pings"]
    );
    assert_eq!(
        refused(&hb(&format!(
            "token = \"{token}\"\nperiod = \"5m\"\nschedule = \"* * * * *\"\n"
        ))),
        ["pharos.toml:10:12: error: set `period` or `schedule`, not both: a job is expected either every so often or at set times"]
    );
    assert_eq!(
        refused(&hb("period = \"5m\"\n")),
        ["pharos.toml:4:1: error: monitor `m` is missing required key `token` (the secret in its ping URL /ping/<token>, e.g. a UUID)"]
    );
    assert_eq!(
        refused(&hb("token = \"short\"\nperiod = \"5m\"\n")),
        ["pharos.toml:8:9: error: `token` must be 16 to 128 letters, digits, `-` or `_` (a UUID works), found 5 characters"]
    );
    let got = refused(&hb(&format!(
        "token = \"{token}\"\nschedule = \"61 * * * *\"\n"
    )));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(
            "pharos.toml:9:12: error: `schedule`: \"61 * * * *\" is not a cron schedule: "
        ),
        "{got:?}"
    );
    assert_eq!(
        refused(&hb(&format!(
            "token = \"{token}\"\nschedule = \"* * * *\"\n"
        ))),
        ["pharos.toml:9:12: error: `schedule`: a schedule has five fields (minute hour day-of-month month day-of-week), like \"*/5 * * * *\"; this one has 4"]
    );
    assert_eq!(
        refused(&hb(&format!(
            "token = \"{token}\"\nperiod = \"5m\"\ntime_zone = \"UTC\"\n"
        ))),
        ["pharos.toml:10:13: error: `time_zone` applies only with `schedule`"]
    );
    let got = refused(&hb(&format!(
        "token = \"{token}\"\nperiod = \"5m\"\nurl = \"http://x/\"\ninterval = \"1m\"\n\
         conditions = [\"[STATUS] == 200\"]\n"
    )));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|l| l.contains(
        "does not apply to a heartbeat monitor: the job pings /ping/{token}, and `period` or \
         `schedule` with `grace` say when"
    )));
    // Two monitors cannot share a token: pings would go to one of them at random.
    let two = format!(
        "[[components]]\nid = \"c\"\nname = \"C\"\n\
         [[monitors]]\nid = \"a\"\ntype = \"heartbeat\"\ntoken = \"{token}\"\nperiod = \"5m\"\ncomponents = [\"c\"]\n\
         [[monitors]]\nid = \"b\"\ntype = \"heartbeat\"\ntoken = \"{token}\"\nperiod = \"5m\"\ncomponents = [\"c\"]\n"
    );
    assert_eq!(
        refused(&two),
        ["pharos.toml:13:9: error: this `token` is already used by another heartbeat monitor (at line 7); each needs its own"]
    );
}

#[test]
fn prometheus_monitors_load_and_their_mistakes_are_named() {
    let c = load(&one_monitor(
        "type = \"prometheus\"\nurl = \"http://10.0.0.5:9187/metrics\"\n\
         series = 'db_connections_open{pool=\"booking\"}'\nthreshold = 500\nforecast = \"30m\"\n\
         headers = { Authorization = \"Bearer x\" }\n",
    ))
    .config;
    let m = &c.monitors[0];
    let MonitorKind::Prometheus(p) = &m.kind else {
        panic!("not prometheus: {:?}", m.kind)
    };
    assert_eq!(p.http.url, "http://10.0.0.5:9187/metrics");
    assert_eq!(
        p.series.to_string(),
        "db_connections_open{pool=\"booking\"}"
    );
    assert_eq!(p.threshold, 500.0);
    assert_eq!(p.forecast, Some(Duration::from_secs(1800)));
    assert_eq!(p.http.headers.len(), 1);
    assert_eq!(m.conditions[0].source(), "[STATUS] < 400");

    let prom = |rest: &str| one_monitor(&format!("type = \"prometheus\"\n{rest}"));
    assert_eq!(
        refused(&prom("url = \"http://x/metrics\"\nthreshold = 5\n")),
        ["pharos.toml:4:1: error: monitor `m` is missing required key `series` (the series to watch, like 'db_connections_open{pool=\"booking\"}')"]
    );
    assert_eq!(
        refused(&prom("url = \"http://x/metrics\"\nseries = \"up\"\n")),
        ["pharos.toml:4:1: error: monitor `m` is missing required key `threshold` (at or over it → down)"]
    );
    assert_eq!(
        refused(&prom(
            "url = \"http://x/metrics\"\nseries = \"up{job=x}\"\nthreshold = \"high\"\n"
        )),
        [
            "pharos.toml:9:10: error: `series`: the value of label job must be in double quotes",
            "pharos.toml:10:13: error: `threshold` must be a number, found a string",
        ]
    );
    assert_eq!(
        refused(&prom(
            "url = \"http://x/metrics\"\nseries = \"up\"\nthreshold = 1\nmethod = \"POST\"\n"
        )),
        ["pharos.toml:11:1: error: `method` does not apply to a prometheus monitor"]
    );
}

#[test]
fn depends_on_names_other_monitors_without_cycles() {
    let monitors = |a: &str, b: &str, c: &str| {
        format!(
            "[[components]]\nid = \"c\"\nname = \"C\"\n\
             [[monitors]]\nid = \"a\"\ntype = \"tcp\"\nurl = \"tcp://127.0.0.1:1\"\ncomponents = [\"c\"]\n{a}\n\
             [[monitors]]\nid = \"b\"\ntype = \"tcp\"\nurl = \"tcp://127.0.0.1:2\"\ncomponents = [\"c\"]\n{b}\n\
             [[monitors]]\nid = \"db\"\ntype = \"tcp\"\nurl = \"tcp://127.0.0.1:3\"\ncomponents = [\"c\"]\n{c}\n"
        )
    };
    // Forward references are fine.
    let c = load(&monitors(
        "depends_on = [\"db\"]",
        "depends_on = [\"a\", \"db\"]",
        "",
    ))
    .config;
    let deps: Vec<Vec<&str>> = c
        .monitors
        .iter()
        .map(|m| m.depends_on.iter().map(|d| d.as_str()).collect())
        .collect();
    assert_eq!(deps, [vec!["db"], vec!["a", "db"], vec![]]);

    assert_eq!(
        refused(&monitors(
            "depends_on = [\"dbb\"]",
            "depends_on = [\"b\"]",
            ""
        )),
        [
            "pharos.toml:9:15: error: `depends_on`: unknown monitor `dbb`; did you mean `db`?",
            "pharos.toml:15:15: error: monitor `b` cannot depend on itself",
        ]
    );
    assert_eq!(
        refused(&monitors(
            "depends_on = [\"b\"]",
            "depends_on = [\"db\"]",
            "depends_on = [\"a\"]"
        )),
        ["pharos.toml:9:15: error: `depends_on` makes a cycle: `a` → `b` → `db` → `a`"]
    );
}

#[test]
fn retries_and_flap_detection() {
    let m = &load(&one_monitor(
        "type = \"tcp\"\nurl = \"tcp://h:1\"\nretries = 2\nretry_interval = \"3s\"\nflap_window = \"1h\"\nflap_threshold = 8\n",
    ))
    .config
    .monitors[0];
    assert_eq!(
        m.quiet,
        pharos_domain::QuietRules {
            retries: 2,
            retry_interval: Duration::from_secs(3),
            flap_window: Duration::from_secs(3600),
            flap_threshold: 8,
        }
    );
    let m = &load(&one_monitor("type = \"tcp\"\nurl = \"tcp://h:1\"\n"))
        .config
        .monitors[0];
    assert_eq!(m.quiet, pharos_domain::QuietRules::default());
    assert_eq!((m.quiet.retries, m.quiet.flap_threshold), (0, 5));

    let cases: &[(&str, &str)] = &[
        (
            "retries = 11\n",
            "pharos.toml:9:11: error: `retries` must be at most 10, found 11; raise `failure_threshold` to wait for more failed checks",
        ),
        (
            "retry_interval = \"500ms\"\n",
            "pharos.toml:9:18: error: `retry_interval` must be at least 1s",
        ),
        (
            "flap_threshold = 2\n",
            "pharos.toml:9:18: error: `flap_threshold` must be 0 (off) or at least 3, found 2: going down and coming back is a recovery, not flapping",
        ),
    ];
    for (extra, want) in cases {
        let text = one_monitor(&format!("type = \"tcp\"\nurl = \"tcp://h:1\"\n{extra}"));
        assert_eq!(refused(&text), [*want], "{extra}");
    }
    let text = one_monitor(
        "type = \"heartbeat\"\ntoken = \"0123456789abcdef0\"\nperiod = \"1m\"\nretries = 1\n",
    );
    assert!(
        refused(&text)
            .iter()
            .any(|l| l.contains("`retries` does not apply to a heartbeat monitor")),
        "{:?}",
        refused(&text)
    );
}

#[test]
fn self_check_targets() {
    let c = load("[self_check]\ntargets = [\"tcp://10.0.0.1:53\", \"icmp://10.0.0.254\", \"http://10.0.0.1/\"]\n").config;
    let sc = c.self_check.expect("self_check");
    assert_eq!(sc.interval, Duration::from_secs(10));
    let kinds: Vec<(&str, &str, Duration)> = sc
        .targets
        .iter()
        .map(|(t, m)| (t.as_str(), m.type_name(), m.timeout))
        .collect();
    assert_eq!(
        kinds,
        [
            ("tcp://10.0.0.1:53", "tcp", Duration::from_secs(5)),
            ("icmp://10.0.0.254", "icmp", Duration::from_secs(5)),
            ("http://10.0.0.1/", "http", Duration::from_secs(5)),
        ]
    );
    assert!(load("").config.self_check.is_none());
    assert_eq!(
        refused("[self_check]\ntargets = [\"ftp://x\"]\ninterval = \"2s\"\ntimeout = \"3s\"\n"),
        [
            "pharos.toml:2:12: error: `targets`: \"ftp://x\" is not an http(s)://, tcp://host:port or icmp://host URL",
            "pharos.toml:4:11: error: `timeout` (3s) must not be longer than `interval` (2s)",
        ]
    );
    assert_eq!(
        refused("[self_check]\ntargets = []\n"),
        ["pharos.toml:2:11: error: `targets` must name at least one target, like \"tcp://10.0.0.1:53\" (your gateway or resolver)"]
    );
}

#[test]
fn mirror_dir() {
    let c = load("[mirror]\ndir = \"/var/www/status\"\n").config;
    assert_eq!(c.mirror, Some(std::path::PathBuf::from("/var/www/status")));
    assert!(load("").config.mirror.is_none());
    let missing = refused("[mirror]\n");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].contains("`dir`"), "{missing:?}");
    assert_eq!(
        refused("[mirror]\ndir = \" \"\n"),
        ["pharos.toml:2:7: error: `dir` must name a directory, like \"/var/www/status\""]
    );
    let unknown = refused("[mirror]\ndir = \"x\"\npath = \"y\"\n");
    assert!(unknown.iter().any(|l| l.contains("path")), "{unknown:?}");
}

/// The README's configuration tour is a promise too: it loads as written (with its
/// environment variables set and its CA file present).
#[test]
fn the_readme_configuration_example_loads() {
    let readme = include_str!("../../../../README.md");
    let at = readme.find("### Configuration").expect("the section");
    let start = readme[at..].find("```toml\n").expect("its toml block") + at + "```toml\n".len();
    let end = readme[start..].find("```").expect("its end") + start;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("internal-ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let path = dir.path().join("pharos.toml");
    std::fs::write(&path, &readme[start..end]).unwrap();
    // Every variable but the sealing key, which must be a key.
    let any_env =
        |name: &str| (name != "PHAROS_SECRET_KEY").then(|| format!("{name}-is-long-enough"));
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = parse_str(&text, path.to_str().unwrap(), &any_env)
        .unwrap_or_else(|d| panic!("the README example does not load:\n{}", render(&d)));
    let types: std::collections::BTreeSet<&str> = loaded
        .config
        .monitors
        .iter()
        .map(|m| m.type_name())
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "dns",
            "heartbeat",
            "http",
            "icmp",
            "prometheus",
            "tcp",
            "tls"
        ]
    );
    assert!(loaded.config.self_check.is_some());
}

#[test]
fn alert_routes() {
    let base = "[[components]]\nid = \"api\"\nname = \"API\"\n";
    let loaded = load(&format!(
        "{base}[alerts]\ncomponent_labels = [\"service\"]\n[[alerts.routes]]\nmatch = {{ team = \"blue\" }}\ncomponents = [\"api\"]\nstatus = \"partial_outage\"\n"
    ));
    let routing = &loaded.config.alerts;
    assert_eq!(routing.component_labels, ["service"]);
    assert_eq!(routing.routes.len(), 1);
    assert_eq!(
        routing.routes[0].status,
        Some(pharos_domain::ComponentStatus::PartialOutage)
    );
    assert!(
        loaded.warnings.is_empty(),
        "a component an alert route drives is watched: {:?}",
        loaded.warnings
    );
    assert_eq!(
        load("").config.alerts.component_labels,
        ["component", "service"]
    );
    let errors = refused(&format!(
        "{base}[alerts]\nlabels = []\n[[alerts.routes]]\nmatch = {{}}\ncomponents = [\"api\"]\n[[alerts.routes]]\nmatch = {{ a = \"b\" }}\ncomponents = [\"apx\"]\n[[alerts.routes]]\nmatch = {{ a = \"b\" }}\ncomponents = [\"api\"]\nstatus = \"down\"\n"
    ));
    let text = errors.join("\n");
    assert!(text.contains("unknown key `labels`"), "{text}");
    assert!(
        text.contains("`match` must name at least one label"),
        "{text}"
    );
    assert!(
        text.contains("unknown component `apx`; did you mean `api`?"),
        "{text}"
    );
    assert!(
        text.contains("`status` must be one of partial_outage, major_outage, degraded_performance, found \"down\""),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// [subscriptions]

#[test]
fn subscriptions_allow_public_webhooks_only_unless_told_otherwise() {
    let default = load("").config.subscriptions;
    assert!(!default.addresses.allow_private);
    assert!(default.addresses.allowed_networks.is_empty());
    assert_eq!(default.resolver, None);

    let loaded = load(
        r#"[subscriptions]
allow_private_webhooks = false
allowed_webhook_networks = ["10.20.0.0/16", "fd00::/8", "192.168.7.10"]
resolver = "127.0.0.1:5353"
"#,
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let rules = &loaded.config.subscriptions;
    let nets: Vec<String> = rules
        .addresses
        .allowed_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.20.0.0/16", "fd00::/8", "192.168.7.10/32"]);
    assert_eq!(rules.resolver, Some("127.0.0.1:5353".parse().unwrap()));
    assert_eq!(
        load("[subscriptions]\nresolver = \"10.0.0.2\"\n")
            .config
            .subscriptions
            .resolver,
        Some("10.0.0.2:53".parse().unwrap())
    );
    assert!(
        load("[subscriptions]\nallow_private_webhooks = true\n")
            .config
            .subscriptions
            .addresses
            .allow_private
    );
}

#[test]
fn subscriptions_values_are_checked_each_at_its_place() {
    let text = r#"[subscriptions]
allow_private_webhooks = "yes"
allowed_webhook_networks = ["10.20.0.0/16", "10.20.1.1/16", "intranet", "10.0.0.0/33", "10.20.0.0/16"]
resolver = "dns.example.com:53"
allowed_networks = []
"#;
    assert_eq!(
        refused(text),
        [
            "pharos.toml:2:26: error: `allow_private_webhooks` must be a boolean (true or false), found a string",
            "pharos.toml:3:45: error: `allowed_webhook_networks`: \"10.20.1.1/16\" has host bits set; the network is \"10.20.0.0/16\"",
            "pharos.toml:3:61: error: `allowed_webhook_networks`: \"intranet\" is not a network; write it like \"10.20.0.0/16\" or \"fd00::/8\"",
            "pharos.toml:3:73: error: `allowed_webhook_networks`: \"10.0.0.0/33\" is not a network; write it like \"10.20.0.0/16\" or \"fd00::/8\"",
            "pharos.toml:3:88: error: `allowed_webhook_networks` lists 10.20.0.0/16 twice",
            "pharos.toml:4:12: error: `resolver` must be a DNS server's IP address, with an optional port, like \"10.0.0.2:53\" or \"[fd00::53]:53\"; found \"dns.example.com:53\"",
            "pharos.toml:5:1: error: unknown key `allowed_networks` in [subscriptions]",
        ]
    );
    assert_eq!(
        refused("[subscriptions]\nallowed_webhook_networks = [\"fd00::/8\", 7]\nresolver = 53\n"),
        [
            "pharos.toml:2:41: error: `allowed_webhook_networks` must contain only strings, found an integer (7)",
            "pharos.toml:3:12: error: `resolver` must be a string, found an integer (53)",
        ]
    );
    assert_eq!(
        lines("[subscriptions]\nallow_private_webhooks = true\nallowed_webhook_networks = [\"10.0.0.0/8\"]\n"),
        ["pharos.toml:3:28: warning: `allowed_webhook_networks` has no effect while `allow_private_webhooks` is true: every address is allowed"]
    );
}

const LOCATIONS: &str = r#"
[[components]]
id = "app"
name = "App"

[[locations]]
id = "eu-fr"
name = "Europe (France)"
tokens = ["eu-fr-probe-token-0001"]

[[locations]]
id = "us-east"
name = "US East"
tokens = ["us-east-probe-token-01", "us-east-probe-token-02"]
offline_after = "30s"
"#;

#[test]
fn locations_and_a_monitors_quorum() {
    use pharos_domain::location::Quorum;
    use pharos_domain::LocationId;
    let text = format!(
        "{LOCATIONS}
[[monitors]]
id = \"app\"
type = \"http\"
url = \"https://app.example.com/health\"
components = [\"app\"]
locations = [\"local\", \"eu-fr\", \"us-east\"]
on_regional_failure = \"degraded_performance\"

[[monitors]]
id = \"app-two\"
type = \"http\"
url = \"https://app.example.com/health\"
components = [\"app\"]
locations = [\"eu-fr\", \"us-east\"]
quorum = 1

[[monitors]]
id = \"app-local\"
type = \"tcp\"
url = \"tcp://app.example.com:443\"
components = [\"app\"]
"
    );
    let c = load(&text).config;
    let ids: Vec<&str> = c.locations.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["eu-fr", "us-east"]);
    assert_eq!(c.locations[0].name, "Europe (France)");
    assert_eq!(c.locations[1].tokens.len(), 2);
    assert_eq!(c.locations[0].offline_after, Duration::from_secs(60));
    assert_eq!(c.locations[1].offline_after, Duration::from_secs(30));
    let p = &c.monitors[0].placement;
    let ids: Vec<&str> = p.locations.iter().map(LocationId::as_str).collect();
    assert_eq!(ids, ["local", "eu-fr", "us-east"]);
    assert_eq!(
        p.quorum,
        Quorum {
            locations: 3,
            needed: 2
        }
    );
    assert_eq!(
        p.on_regional_failure,
        pharos_domain::ComponentStatus::DegradedPerformance
    );
    assert_eq!(c.monitors[1].placement.quorum.needed, 1);
    assert_eq!(
        c.monitors[1].placement.on_regional_failure,
        pharos_domain::ComponentStatus::PartialOutage
    );
    assert!(c.monitors[2].placement.is_local_only());
}

#[test]
fn bad_locations_are_refused_by_name() {
    let monitor = |extra: &str| {
        format!(
            "{LOCATIONS}
[[monitors]]
id = \"app\"
type = \"http\"
url = \"https://app.example.com/health\"
components = [\"app\"]
{extra}
"
        )
    };
    let one = |text: &str| {
        let r = refused(text);
        assert_eq!(r.len(), 1, "{r:?}");
        r[0].clone()
    };
    assert!(one(&monitor("locations = [\"eu-frr\"]"))
        .contains("unknown location `eu-frr`; did you mean `eu-fr`?"));
    assert!(one(&monitor("locations = [\"eu-fr\", \"eu-fr\"]"))
        .contains("location `eu-fr` is listed twice"));
    assert!(one(&monitor("locations = []")).contains("must name at least one location"));
    assert!(
        one(&monitor("locations = [\"eu-fr\", \"us-east\"]\nquorum = 3"))
            .contains("`quorum` must be between 1 and the number of locations (2), found 3")
    );
    assert!(one(&monitor("on_regional_failure = \"operational\""))
        .contains("`on_regional_failure` must be one of"));
    // A pinged heartbeat has no locations.
    let heartbeat = format!(
        "{LOCATIONS}
[[monitors]]
id = \"job\"
type = \"heartbeat\"
token = \"job-token-long-enough\"
period = \"1h\"
components = [\"app\"]
locations = [\"eu-fr\"]
"
    );
    assert!(one(&heartbeat).contains("`locations` does not apply to a heartbeat monitor"));
    // The locations themselves.
    let loc = |body: &str| one(&format!("[[locations]]\n{body}\n"));
    assert!(
        loc("id = \"local\"\nname = \"L\"\ntokens = [\"aaaaaaaaaaaaaaaaaaaa\"]")
            .contains("`local` is the server itself")
    );
    assert!(
        loc("id = \"eu\"\nname = \"EU\"\ntokens = [\"short\"]").contains("at least 16 characters")
    );
    assert!(loc("id = \"eu\"\ntokens = [\"aaaaaaaaaaaaaaaaaaaa\"]").contains("`name`"));
    assert!(loc(
        "id = \"eu\"\nname = \"EU\"\ntokens = [\"aaaaaaaaaaaaaaaaaaaa\"]\nofline_after = \"1m\""
    )
    .contains("did you mean `offline_after`?"));
    let shared = refused(
        "[[locations]]\nid = \"a\"\nname = \"A\"\ntokens = [\"aaaaaaaaaaaaaaaaaaaa\"]\n\
         [[locations]]\nid = \"b\"\nname = \"B\"\ntokens = [\"aaaaaaaaaaaaaaaaaaaa\"]\n",
    );
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(
        shared[0].contains("already given to location `a`"),
        "{shared:?}"
    );
    // Without [[locations]], a token never prints in a message.
    assert!(!shared[0].contains("aaaa"), "{shared:?}");
}

/// What a probe receives is the monitor itself: every type, with its secrets, comes back
/// equal from its wire form, and a stored definition never carries a secret.
#[test]
fn a_monitor_survives_its_wire_form_secrets_included() {
    let text = format!(
        "{LOCATIONS}
[[monitors]]
id = \"web\"
type = \"http\"
url = \"https://user:pa55@app.example.com/health\"
method = \"POST\"
body = \"{{\\\"q\\\": 1}}\"
headers = {{ Authorization = \"Bearer abc\", X-Key = \"k\" }}
conditions = [\"[STATUS] == 200\", \"[BODY].ok == true\", \"[RESPONSE_TIME] < 500\"]
degraded_conditions = [\"[RESPONSE_TIME] < 200\"]
components = [\"app\"]
locations = [\"local\", \"eu-fr\", \"us-east\"]
quorum = 2
retries = 2
accepted_status_codes = [200, \"300-399\"]

[[monitors]]
id = \"db\"
type = \"tcp\"
url = \"tcp://db.example.com:5432\"
components = [\"app\"]
locations = [\"eu-fr\"]

[[monitors]]
id = \"dns\"
type = \"dns\"
server = \"1.1.1.1:53\"
query_name = \"example.com\"
query_type = \"A\"
components = [\"app\"]
locations = [\"us-east\"]

[[monitors]]
id = \"cert\"
type = \"tls\"
url = \"tls://app.example.com:443\"
components = [\"app\"]

[[monitors]]
id = \"ping\"
type = \"icmp\"
url = \"icmp://app.example.com\"
components = [\"app\"]

[[monitors]]
id = \"queue\"
type = \"prometheus\"
url = \"https://metrics.example.com/metrics\"
series = 'queue_depth{{queue=\"mail\"}}'
threshold = 1000
forecast = \"10m\"
components = [\"app\"]
"
    );
    let c = load(&text).config;
    assert_eq!(c.monitors.len(), 6);
    for m in &c.monitors {
        let wire = m.wire_json();
        let back: pharos_domain::MonitorSpec = serde_json::from_value(wire.clone())
            .unwrap_or_else(|e| panic!("{}: {e}\n{wire}", m.id));
        assert_eq!(&back, m, "{}", m.id);
    }
    let wire = c.monitors[0].wire_json().to_string();
    assert!(
        wire.contains("pa55") && wire.contains("Bearer abc"),
        "{wire}"
    );
    let key = pharos_domain::fingerprint::FingerprintKey::derive(b"k");
    let stored = c.monitors[0].definition_json(&key);
    assert!(
        !stored.contains("pa55") && !stored.contains("Bearer abc"),
        "{stored}"
    );
    // A monitor checked by the server alone is stored as it was before locations existed.
    assert!(!c.monitors[3].definition_json(&key).contains("placement"));
    assert!(stored.contains("placement"));
}
