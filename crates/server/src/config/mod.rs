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
//! - `[incidents]` and `[[notifiers]]` are documented but not built yet: their keys are
//!   type-checked and the sections are ignored with a warning.
//! - A component that no monitor drives is a warning; everything else found is an error.
//!
//! Diagnostics come back sorted by position in the file.

mod build;
mod diagnostic;
mod monitors;
mod secret;
mod source;
mod values;
mod walk;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;

use pharos_domain::{ComponentId, MonitorSpec};

pub use diagnostic::{Diagnostic, Severity};
pub use secret::Secret;

/// The page id used when `[page] id` is not set.
pub const DEFAULT_PAGE_ID: &str = "pharos";
/// The page name used when `[page] name` is not set.
pub const DEFAULT_PAGE_NAME: &str = "Pharos";

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
    /// `[[components]]`, in file order.
    pub components: Vec<ComponentConfig>,
    /// `[[monitors]]`, in file order.
    pub monitors: Vec<MonitorSpec>,
}

/// `[server]`. Unset values fall back to the environment, then to built-in defaults (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// Address to listen on, if set in the file.
    pub listen: Option<SocketAddr>,
    /// Absolute `http(s)://` URL the public reaches the page at, without a trailing slash;
    /// used for absolute links in feeds, e-mails and webhooks.
    pub public_url: Option<String>,
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
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            id: DEFAULT_PAGE_ID.to_owned(),
            name: DEFAULT_PAGE_NAME.to_owned(),
            time_zone: chrono_tz::UTC,
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminConfig {
    /// Bearer tokens accepted by the admin API and the ingest endpoints; none means the admin
    /// API accepts nobody.
    pub tokens: Vec<Secret>,
}

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
