//! The top level of the walk: the small sections and components, handing monitors,
//! maintenances, notifiers and admin tokens to their own modules, and the cross-checks between
//! components and what refers to them.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use pharos_domain::duration::format_duration;
use pharos_domain::ids::slugify;
use pharos_domain::ComponentId;
use toml_edit::Document;

use super::admin::admin;
use super::maintenances::maintenances;
use super::monitors::monitors;
use super::notifiers::notifiers;
use super::smtp::{smtp, SmtpState};
use super::values::{check_http_url, check_image_url, check_support_url, parse_hex_color};
use super::walk::{suggest, Cx, Field, Section};
use super::{ComponentConfig, Config, IncidentRules, PageConfig, ServerConfig, StorageConfig};

/// Longest `[incidents] group_window`: failures an hour apart are not "together".
const MAX_GROUP_WINDOW: Duration = Duration::from_secs(3600);
/// Shortest `[incidents] auto_resolve_after`.
const MIN_AUTO_RESOLVE_AFTER: Duration = Duration::from_secs(1);
/// Longest `[incidents] auto_resolve_after`: 30 days.
const MAX_AUTO_RESOLVE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Shortest and longest `[server] header_timeout`.
const MIN_HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest `[server] max_connections`.
const MAX_CONNECTIONS: usize = 1_000_000;

const ROOT_KEYS: &[&str] = &[
    "server",
    "storage",
    "page",
    "admin",
    "incidents",
    "components",
    "monitors",
    "maintenances",
    "notifiers",
    "smtp",
    "self_check",
    "alerts",
    "changes",
    "subscriptions",
    "mirror",
    "cluster",
    "locations",
    "sso",
    "console",
];

/// Parses and walks the whole file. `None` when the text is not TOML at all (the syntax error
/// is reported); otherwise the configuration built from whatever was valid — the caller
/// refuses it if any error was reported.
pub(super) fn build(cx: &mut Cx<'_>, text: &str) -> Option<Config> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            cx.error(at, format!("invalid TOML: {}", e.message().trim_end()));
            return None;
        }
    };
    let root = Section {
        table: doc.as_table(),
        at: 0,
        label: "",
    };
    root.check_keys(cx, ROOT_KEYS);
    let mut config = Config::default();

    if let Some(s) = sub(cx, &root, "server", "[server]") {
        config.server = server(cx, s);
    }
    if let Some(s) = sub(cx, &root, "sso", "[sso]") {
        config.sso = super::sso::sso(cx, s, config.server.public_url.as_deref());
    }
    if let Some(s) = sub(cx, &root, "storage", "[storage]") {
        config.storage = storage(cx, s);
    }
    if let Some(s) = sub(cx, &root, "page", "[page]") {
        config.page = page(cx, s);
    }
    if let Some(s) = sub(cx, &root, "admin", "[admin]") {
        config.admin = admin(cx, s);
    }
    if let Some(s) = sub(cx, &root, "incidents", "[incidents]") {
        config.incidents = incidents(cx, s);
    }
    if let Some(s) = sub(cx, &root, "changes", "[changes]") {
        config.changes = super::changes::changes(cx, s);
    }
    if let Some(s) = sub(cx, &root, "subscriptions", "[subscriptions]") {
        config.subscriptions = super::subscriptions::subscriptions(cx, s);
    }
    if let Some(s) = sub(cx, &root, "mirror", "[mirror]") {
        config.mirror = super::mirror::mirror(cx, s);
    }
    if let Some(s) = sub(cx, &root, "cluster", "[cluster]") {
        let at = s.at;
        config.cluster = Some(super::cluster::cluster(cx, s));
        let sqlite = config
            .storage
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("sqlite:"));
        if sqlite {
            cx.error(
                at,
                "[cluster] needs PostgreSQL: SQLite is single-node (one process per file), so \
                 several nodes must share a `postgres://` [storage] url",
            );
        }
    }
    if let Some(s) = sub(cx, &root, "self_check", "[self_check]") {
        config.self_check = super::self_check::self_check(cx, s);
    }
    let mut key_file_given = false;
    if let Some(s) = sub(cx, &root, "console", "[console]") {
        key_file_given = s.field("secret_key_file").is_some();
        config.console.path = super::console::path(cx, &s);
        config.console.secret_key = super::console::console(cx, s);
    }
    if !key_file_given {
        config.console.secret_key = super::console::from_env(cx);
    }
    // The provider sends people back under the console's own path.
    if let (Some(sso), Some(url)) = (&mut config.sso, config.server.public_url.as_deref()) {
        sso.redirect_url = format!(
            "{url}{}{}",
            config.console.path(),
            pharos_web::console::SSO_CALLBACK_PATH
        );
    }

    let declared = match root.field("components") {
        Some(f) => {
            let sections = cx.section_list(&f, "[[components]]");
            components(cx, &sections)
        }
        None => Declared::default(),
    };
    if let Some(f) = root.field("locations") {
        let sections = cx.section_list(&f, "[[locations]]");
        config.locations = super::locations::locations(cx, &sections);
    }
    let mut driven = HashSet::new();
    if let Some(f) = root.field("monitors") {
        let sections = cx.section_list(&f, "[[monitors]]");
        config.monitors = monitors(cx, &sections, &declared.ids, &config.locations, &mut driven);
    }
    if let Some(s) = sub(cx, &root, "alerts", "[alerts]") {
        config.alerts = super::alerts::alerts(cx, s, &declared.ids, &mut driven);
    }
    for (id, at) in &declared.id_positions {
        if !driven.contains(id.as_str()) {
            cx.warn(
                *at,
                format!(
                    "component `{id}` is not driven by any monitor; nothing will notice if it goes down"
                ),
            );
        }
    }
    if let Some(f) = root.field("maintenances") {
        let sections = cx.section_list(&f, "[[maintenances]]");
        config.maintenances = maintenances(cx, &sections, &declared.ids);
    }
    let smtp_state = match root.field("smtp") {
        None => SmtpState::Absent,
        Some(f) => match cx.section(&f, "[smtp]").and_then(|s| smtp(cx, s)) {
            Some(settings) => SmtpState::Valid(settings),
            None => SmtpState::Invalid,
        },
    };
    config.smtp = smtp_state.settings().cloned();
    if let Some(f) = root.field("notifiers") {
        let sections = cx.section_list(&f, "[[notifiers]]");
        config.notifiers = notifiers(cx, &sections, &declared.ids, &smtp_state);
    }
    config.components = declared.components;
    Some(config)
}

fn sub<'t>(
    cx: &mut Cx<'_>,
    parent: &Section<'t>,
    key: &str,
    label: &'static str,
) -> Option<Section<'t>> {
    let f = parent.field(key)?;
    cx.section(&f, label)
}

fn server(cx: &mut Cx<'_>, s: Section<'_>) -> ServerConfig {
    s.check_keys(
        cx,
        &["listen", "public_url", "header_timeout", "max_connections"],
    );
    let mut out = ServerConfig::default();
    if let Some(f) = s.field("header_timeout") {
        if let Some(d) = cx.duration(&f) {
            if (MIN_HEADER_TIMEOUT..=MAX_HEADER_TIMEOUT).contains(&d) {
                out.header_timeout = d;
            } else {
                cx.error(f.at, "`header_timeout` must be between 1s and 5m");
            }
        }
    }
    if let Some(f) = s.field("max_connections") {
        if let Some(n) = cx.integer_at_least::<usize>(&f, 1) {
            if n <= MAX_CONNECTIONS {
                out.max_connections = n;
            } else {
                cx.error(
                    f.at,
                    format!("`max_connections` must be at most {MAX_CONNECTIONS}, found {n}"),
                );
            }
        }
    }
    if let Some(v) = s.field("listen").and_then(|f| cx.string(&f)) {
        match v.text.parse() {
            Ok(addr) => out.listen = Some(addr),
            Err(_) => cx.error(
                v.at,
                format!(
                    "`listen` must be an IP address and port like \"127.0.0.1:8080\" or \"[::]:8080\", found {:?}",
                    v.text
                ),
            ),
        }
    }
    if let Some(v) = s.field("public_url").and_then(|f| cx.string(&f)) {
        match check_http_url(&v.text) {
            Err(e) => cx.error(v.at, format!("invalid `public_url`: {e}")),
            Ok(()) if v.text.contains(['?', '#']) => cx.error(
                v.at,
                "`public_url` must not have a query or fragment; links are built by appending paths",
            ),
            Ok(()) => out.public_url = Some(v.text.trim_end_matches('/').to_owned()),
        }
    }
    out
}

fn storage(cx: &mut Cx<'_>, s: Section<'_>) -> StorageConfig {
    s.check_keys(cx, &["url"]);
    let mut out = StorageConfig::default();
    if let Some(v) = s.field("url").and_then(|f| cx.string(&f)) {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|p| v.text.starts_with(p)) {
            out.url = Some(v.text);
        } else {
            // The URL may hold a password, so it is not repeated in the message.
            cx.error(
                v.at,
                "`url` must start with `sqlite:`, `postgres://` or `postgresql://`",
            );
        }
    }
    out
}

fn page(cx: &mut Cx<'_>, s: Section<'_>) -> PageConfig {
    s.check_keys(
        cx,
        &[
            "id",
            "name",
            "time_zone",
            "logo_url",
            "favicon_url",
            "accent_color",
            "home_url",
            "support_url",
            "show_responders",
        ],
    );
    let mut out = PageConfig::default();
    if let Some(v) = s.field("id").and_then(|f| cx.string(&f)) {
        // Page ids follow the same rules as component ids.
        match ComponentId::new(v.text.as_str()) {
            Ok(_) => out.id = v.text,
            Err(e) => cx.error(v.at, format!("page {e}")),
        }
    }
    if let Some(v) = s.field("name").and_then(|f| cx.string(&f)) {
        if v.text.trim().is_empty() {
            cx.error(v.at, "`name` must not be empty");
        } else {
            out.name = v.text;
        }
    }
    if let Some(tz) = s.field("time_zone").and_then(|f| time_zone(cx, &f)) {
        out.time_zone = tz;
    }
    if let Some(b) = s.field("show_responders").and_then(|f| cx.boolean(&f)) {
        out.show_responders = b;
    }
    let b = &mut out.branding;
    for (key, slot) in [
        ("logo_url", &mut b.logo_url),
        ("favicon_url", &mut b.favicon_url),
    ] {
        let Some(v) = s.field(key).and_then(|f| cx.string(&f)) else {
            continue;
        };
        match check_image_url(&v.text) {
            Err(e) => cx.error(v.at, format!("invalid `{key}`: {e}")),
            Ok(()) => {
                if v.text
                    .get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
                {
                    cx.warn(
                        v.at,
                        format!("`{key}` is http://; the page's Content-Security-Policy lets browsers load images only over https:// or from the page's own address"),
                    );
                }
                *slot = Some(v.text);
            }
        }
    }
    if let Some(v) = s.field("accent_color").and_then(|f| cx.string(&f)) {
        match parse_hex_color(&v.text) {
            Some(c) => b.accent_color = Some(c),
            None => cx.error(
                v.at,
                format!(
                    "`accent_color` must be a CSS hex colour like \"#0b62c9\" or \"#08f\", found {:?}",
                    v.text
                ),
            ),
        }
    }
    if let Some(v) = s.field("home_url").and_then(|f| cx.string(&f)) {
        match check_http_url(&v.text) {
            Err(e) => cx.error(v.at, format!("invalid `home_url`: {e}")),
            Ok(()) => b.home_url = Some(v.text),
        }
    }
    if let Some(v) = s.field("support_url").and_then(|f| cx.string(&f)) {
        match check_support_url(&v.text) {
            Err(e) => cx.error(v.at, format!("invalid `support_url`: {e}")),
            Ok(()) => b.support_url = Some(v.text),
        }
    }
    out
}

/// A `time_zone` key: an IANA name, or an error suggesting the nearest one.
pub(super) fn time_zone(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<chrono_tz::Tz> {
    let v = cx.string(f)?;
    match chrono_tz::Tz::from_str(&v.text) {
        Ok(tz) => Some(tz),
        Err(_) => {
            let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
            let hint = suggest(&v.text, names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    "; expected an IANA name like \"Europe/Berlin\" or \"UTC\"".into()
                });
            cx.error(v.at, format!("unknown time zone {:?}{hint}", v.text));
            None
        }
    }
}

/// `[incidents]`: every key optional, defaults from [`IncidentRules::default`].
fn incidents(cx: &mut Cx<'_>, s: Section<'_>) -> IncidentRules {
    s.check_keys(
        cx,
        &[
            "auto_open",
            "auto_publish",
            "auto_resolve_after",
            "group_window",
        ],
    );
    let mut out = IncidentRules::default();
    let auto_open = s.field("auto_open").and_then(|f| cx.boolean(&f));
    let publish = s.field("auto_publish");
    let auto_publish = publish.as_ref().and_then(|f| cx.boolean(f));
    if let Some(f) = s.field("auto_resolve_after") {
        if let Some(d) = cx.duration(&f) {
            if d < MIN_AUTO_RESOLVE_AFTER {
                cx.error(
                    f.at,
                    format!(
                        "`auto_resolve_after` must be at least 1s, found {:?}",
                        format_duration(d)
                    ),
                );
            } else if d > MAX_AUTO_RESOLVE_AFTER {
                cx.error(
                    f.at,
                    format!(
                        "`auto_resolve_after` must be at most 30d, found {:?}",
                        format_duration(d)
                    ),
                );
            } else {
                out.auto_resolve_after = d;
            }
        }
    }
    if let Some(f) = s.field("group_window") {
        if let Some(d) = cx.duration(&f) {
            if d > MAX_GROUP_WINDOW {
                cx.error(
                    f.at,
                    format!(
                        "`group_window` must be at most 1h, found {:?}",
                        format_duration(d)
                    ),
                );
            } else {
                out.group_window = d;
            }
        }
    }
    if let (Some(false), Some(true), Some(f)) = (auto_open, auto_publish, &publish) {
        cx.warn(
            f.at,
            "`auto_publish` has no effect while `auto_open` is false: no incident is opened automatically",
        );
    }
    out.auto_open = auto_open.unwrap_or(out.auto_open);
    out.auto_publish = auto_publish.unwrap_or(out.auto_publish);
    out
}

/// What `[[components]]` declared.
#[derive(Default)]
struct Declared {
    /// The fully valid components, in file order.
    components: Vec<ComponentConfig>,
    /// Every well-formed component id (even of a component with other errors), so monitors
    /// referring to it get no second, misleading error.
    ids: Vec<String>,
    /// Where each declared id is, for the "not driven" warning.
    id_positions: Vec<(String, usize)>,
}

fn components(cx: &mut Cx<'_>, sections: &[Section<'_>]) -> Declared {
    let mut out = Declared::default();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    // Group slug → (group name as first written, where).
    let mut groups: Vec<(String, String, usize)> = Vec::new();
    let mut group_refs = Vec::new();

    for s in sections {
        s.check_keys(cx, &["id", "name", "group", "description"]);
        let errors_before = cx.error_count();
        let id = match s.field("id").map(|f| cx.string(&f)) {
            None => {
                s.missing(cx, "id");
                None
            }
            Some(None) => None,
            Some(Some(v)) => match ComponentId::new(v.text.as_str()) {
                Err(e) => {
                    cx.error(v.at, format!("component {e}"));
                    None
                }
                Ok(id) => {
                    if let Some(&prev) = first_at.get(id.as_str()) {
                        cx.error(
                            v.at,
                            format!(
                                "duplicate component id `{id}` (first used {})",
                                cx.describe_position(prev)
                            ),
                        );
                    } else {
                        first_at.insert(id.to_string(), v.at);
                        out.ids.push(id.to_string());
                        out.id_positions.push((id.to_string(), v.at));
                    }
                    Some(id)
                }
            },
        };
        let name = required_text(cx, s, "name");
        let group = optional_text(cx, s, "group");
        if let Some((g, at)) = &group {
            group_refs.push((g.clone(), *at));
        }
        let description = optional_text(cx, s, "description");
        let ok = cx.error_count() == errors_before;
        if let (true, Some(id), Some(name)) = (ok, id, name) {
            out.components.push(ComponentConfig {
                id,
                name,
                group: group.map(|(g, _)| g),
                description: description.map(|(d, _)| d),
            });
        }
    }

    // Group rows take `slugify(group)` as their id, so it must be free and well-formed.
    for (group, at) in group_refs {
        let slug = slugify(&group);
        if ComponentId::new(slug.as_str()).is_err() {
            cx.error(
                at,
                format!("group name {group:?} must contain a letter or digit"),
            );
        } else if out.ids.contains(&slug) {
            cx.error(
                at,
                format!(
                    "group {group:?} would get the id `{slug}`, which component `{slug}` already uses; rename the group or the component"
                ),
            );
        } else if let Some((_, first, first_pos)) = groups.iter().find(|(s, _, _)| *s == slug) {
            if *first != group {
                let message = format!(
                    "group {group:?} and group {first:?} ({}) both get the id `{slug}`; spell the group the same way everywhere",
                    cx.describe_position(*first_pos)
                );
                cx.error(at, message);
            }
        } else {
            groups.push((slug, group, at));
        }
    }
    out
}

/// A required non-empty string; reports it missing at the table's header.
fn required_text(cx: &mut Cx<'_>, s: &Section<'_>, key: &str) -> Option<String> {
    match s.field(key) {
        None => {
            s.missing(cx, key);
            None
        }
        Some(f) => non_empty(cx, &f).map(|(t, _)| t),
    }
}

/// An optional non-empty string, with the value's position.
fn optional_text(cx: &mut Cx<'_>, s: &Section<'_>, key: &str) -> Option<(String, usize)> {
    s.field(key).and_then(|f| non_empty(cx, &f))
}

/// A non-empty string (after trimming) and its position; reports an empty one.
pub(super) fn non_empty(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<(String, usize)> {
    let v = cx.string(f)?;
    if v.text.trim().is_empty() {
        cx.error(v.at, format!("`{}` must not be empty", f.name));
        return None;
    }
    Some((v.text, v.at))
}
