//! The configuration file a test starts Pharos with, built from the parts most tests share so
//! that each test spells out only what is special about its own.
//!
//! ```ignore
//! let toml = Config::acme()
//!     .admin("alice", TOKEN)
//!     .auto_incidents("2s")
//!     .component("api", "API")
//!     .with(r#"group = "Core services""#)
//!     .http_monitor("api-health", &format!("{target}/health"), "api")
//!     .thresholds(2, 1)
//!     .section(r#"[[notifiers]]
//! id = "ops"
//! type = "webhook"
//! url = "http://127.0.0.1:9/hook""#)
//!     .build();
//! ```
//!
//! The parts are written in the order they are added, `[page]` and `[admin]` first.

/// A Pharos configuration file under construction; [`Config::build`] gives its text.
#[derive(Debug, Clone, Default)]
pub struct Config {
    page: Option<String>,
    tokens: Vec<String>,
    parts: Vec<String>,
}

impl Config {
    /// Nothing yet (no `[page]`: Pharos's defaults).
    pub fn new() -> Config {
        Config::default()
    }

    /// `[page]` with `id = "acme"` and `name = "Acme"`, the page of most tests.
    pub fn acme() -> Config {
        Config::new().page("acme", "Acme")
    }

    /// `[page]` with `id` and `name` (more keys with [`Config::with`]).
    pub fn page(mut self, id: &str, name: &str) -> Config {
        self.page = Some(format!("[page]\nid = \"{id}\"\nname = \"{name}\"\n"));
        self
    }

    /// An admin token named `name` (`{ name = "…", token = "…" }` in `[admin] tokens`).
    pub fn admin(mut self, name: &str, token: &str) -> Config {
        self.tokens
            .push(format!("{{ name = \"{name}\", token = \"{token}\" }}"));
        self
    }

    /// An admin token without a name (a bare string in `[admin] tokens`).
    pub fn admin_unnamed(mut self, token: &str) -> Config {
        self.tokens.push(format!("\"{token}\""));
        self
    }

    /// `[[components]]` with `id` and `name` (more keys with [`Config::with`]).
    pub fn component(self, id: &str, name: &str) -> Config {
        self.section(&format!("[[components]]\nid = \"{id}\"\nname = \"{name}\""))
    }

    /// A monitor of type `kind` checked every second with a one-second timeout, for
    /// `component`; what it checks (`url`, `server`, …) with [`Config::with`].
    pub fn monitor(self, id: &str, kind: &str, component: &str) -> Config {
        self.section(&format!(
            "[[monitors]]\nid = \"{id}\"\ntype = \"{kind}\"\ninterval = \"1s\"\n\
             timeout = \"1s\"\ncomponents = [\"{component}\"]"
        ))
    }

    /// An `http` [`monitor`](Config::monitor) of `url`.
    pub fn http_monitor(self, id: &str, url: &str, component: &str) -> Config {
        self.monitor(id, "http", component)
            .with(&format!("url = \"{url}\""))
    }

    /// `failure_threshold` and `success_threshold` for the monitor added last.
    pub fn thresholds(self, failure: u32, success: u32) -> Config {
        self.with(&format!(
            "failure_threshold = {failure}\nsuccess_threshold = {success}"
        ))
    }

    /// `[incidents]` opening and publishing incidents by themselves and resolving them
    /// `resolve_after` (e.g. `"2s"`) after recovery; more keys with [`Config::with`].
    pub fn auto_incidents(self, resolve_after: &str) -> Config {
        self.section(&format!(
            "[incidents]\nauto_open = true\nauto_publish = true\n\
             auto_resolve_after = \"{resolve_after}\""
        ))
    }

    /// `[smtp]` for a [`FakeSmtp`](pharos_testkit::FakeSmtp): no TLS, a five-second timeout,
    /// from `Acme Status <status@acme.test>`.
    pub fn smtp(self, smtp: &pharos_testkit::FakeSmtp) -> Config {
        self.section(&format!(
            "[smtp]\nhost = \"{}\"\nport = {}\nsecurity = \"none\"\n\
             from = \"Acme Status <status@acme.test>\"\ntimeout = \"5s\"",
            smtp.host(),
            smtp.port()
        ))
    }

    /// Any TOML, as written: a table or array-of-tables header and its keys, or several.
    pub fn section(mut self, toml: &str) -> Config {
        let mut part = toml.trim().to_owned();
        part.push('\n');
        self.parts.push(part);
        self
    }

    /// More keys (`key = value` lines) for the part added last: the page, a component, a
    /// monitor or a section.
    pub fn with(mut self, lines: &str) -> Config {
        let last = match self.parts.last_mut() {
            Some(part) => part,
            None => self.page.as_mut().expect("`with` needs a part to add to"),
        };
        last.push_str(lines.trim());
        last.push('\n');
        self
    }

    /// `key = value` (`value` as TOML: `"2s"` with its quotes) in the part added last,
    /// instead of the line it has for `key`, or added when it has none.
    pub fn set(mut self, key: &str, value: &str) -> Config {
        let last = self.parts.last_mut().expect("`set` needs a part to change");
        let line = format!("{key} = {value}");
        let prefix = format!("{key} = ");
        let mut lines: Vec<String> = last.lines().map(str::to_owned).collect();
        match lines.iter_mut().find(|l| l.starts_with(&prefix)) {
            Some(l) => *l = line,
            None => lines.push(line),
        }
        *last = lines.join("\n") + "\n";
        self
    }

    /// The file's text.
    pub fn build(&self) -> String {
        let mut out = String::new();
        if let Some(page) = &self.page {
            out.push_str(page);
            out.push('\n');
        }
        if !self.tokens.is_empty() {
            out.push_str(&format!(
                "[admin]\ntokens = [{}]\n\n",
                self.tokens.join(", ")
            ));
        }
        for part in &self.parts {
            out.push_str(part);
            out.push('\n');
        }
        out
    }
}
