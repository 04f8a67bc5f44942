//! `[admin]`: the bearer tokens of the admin API, each with the name recorded as the author
//! of the changes made with it. A token's value is a secret: no message here repeats it, not
//! even in a type error.

use std::collections::HashMap;

use toml_edit::{Item, Value};

use super::source::Str;
use super::walk::{describe_kind, describe_value_kind, Cx, Section};
use super::{AdminConfig, AdminToken, Secret};

/// Longest token name, like every id, so it fits any author column.
const MAX_NAME_CHARS: usize = 64;
/// Tokens shorter than this are easy to guess: a warning.
const MIN_SECRET_CHARS: usize = 16;
const TOKEN_KEYS: &[&str] = &["name", "token"];
const TOKEN_LABEL: &str = "an [admin] token";

/// One entry of `tokens`, before it is read.
enum Entry<'a> {
    /// `"…"`: the name is `token-N`.
    Plain(&'a Value, usize),
    /// `{ name = "…", token = "…" }` (or a `[[admin.tokens]]` table).
    Named(Section<'a>),
}

/// Reads `[admin]`: `tokens` is an array of plain strings and `{ name, token }` tables (or
/// `[[admin.tokens]]` tables). Only fully valid entries are returned.
pub(super) fn admin(cx: &mut Cx<'_>, s: Section<'_>) -> AdminConfig {
    s.check_keys(cx, &["tokens"]);
    let mut out = AdminConfig::default();
    let Some(f) = s.field("tokens") else {
        return out;
    };
    let entries: Vec<Option<Entry<'_>>> = match f.item {
        Item::ArrayOfTables(tables) => tables
            .iter()
            .map(|t| {
                Some(Entry::Named(Section {
                    table: t,
                    at: t.span().map_or(f.key_at, |s| s.start),
                    label: TOKEN_LABEL,
                }))
            })
            .collect(),
        Item::Value(Value::Array(array)) => array
            .iter()
            .map(|v| {
                let at = v.span().map_or(f.at, |s| s.start);
                if v.is_str() {
                    Some(Entry::Plain(v, at))
                } else if let Some(t) = v.as_inline_table() {
                    Some(Entry::Named(Section {
                        table: t,
                        at,
                        label: TOKEN_LABEL,
                    }))
                } else {
                    cx.error(
                        at,
                        format!(
                            "`tokens` must contain only strings or {{ name = …, token = … }} tables, found {}",
                            describe_value_kind(v)
                        ),
                    );
                    None
                }
            })
            .collect(),
        other => {
            cx.error(
                f.at,
                format!(
                    "`tokens` must be an array of strings or {{ name = …, token = … }} tables, found {}",
                    describe_kind(other)
                ),
            );
            return out;
        }
    };

    let mut names = Names::default();
    // Secret → (name, where), to refuse a token given twice without printing it.
    let mut secrets: HashMap<String, (String, usize)> = HashMap::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let Some(entry) = entry else {
            continue;
        };
        let position = index + 1;
        let (name, secret) = match entry {
            Entry::Plain(v, at) => {
                let name = format!("token-{position}");
                let name = names.default_name(cx, name, at);
                (name, cx.string_value(v, at))
            }
            Entry::Named(t) => {
                t.check_keys(cx, TOKEN_KEYS);
                let name = match t.field("name") {
                    None => {
                        t.missing(cx, "name");
                        None
                    }
                    Some(f) => cx.string(&f).and_then(|v| names.explicit_name(cx, v)),
                };
                let secret = match t.field("token") {
                    None => {
                        t.missing(cx, "token");
                        None
                    }
                    Some(f) if f.item.is_str() => cx.string(&f),
                    Some(f) => {
                        cx.error(
                            f.at,
                            format!("`token` must be a string, found {}", describe_kind(f.item)),
                        );
                        None
                    }
                };
                (name, secret)
            }
        };
        let Some(secret) = secret.and_then(|s| check_secret(cx, s, name.as_deref())) else {
            continue;
        };
        if let Some((first_name, first_at)) = secrets.get(&secret.text) {
            let message = format!(
                "this admin token is the same as the one named `{first_name}` ({}); every entry needs its own token, so that each change has one author",
                cx.describe_position(*first_at)
            );
            cx.error(secret.at, message);
            continue;
        }
        let Some(name) = name else {
            continue;
        };
        secrets.insert(secret.text.clone(), (name.clone(), secret.at));
        out.tokens.push(AdminToken {
            name,
            secret: Secret::new(secret.text),
        });
    }
    out
}

/// Refuses an empty token and warns about a short one, naming it by `name` (if known).
fn check_secret(cx: &mut Cx<'_>, secret: Str, name: Option<&str>) -> Option<Str> {
    if secret.text.trim().is_empty() {
        cx.error(secret.at, "admin token must not be empty");
        return None;
    }
    if secret.text.chars().count() < MIN_SECRET_CHARS {
        let which = name.map_or_else(String::new, |n| format!("`{n}` "));
        cx.warn(
            secret.at,
            format!(
                "short admin token is easy to guess: {which}has fewer than {MIN_SECRET_CHARS} characters; use a long random value, e.g. from `openssl rand -hex 32`"
            ),
        );
    }
    Some(secret)
}

/// The token names given so far, to keep them unique.
#[derive(Default)]
struct Names {
    /// Name → (where it was given, whether it is a plain string's default name).
    first: HashMap<String, (usize, bool)>,
}

impl Names {
    /// Checks a name written in the file.
    fn explicit_name(&mut self, cx: &mut Cx<'_>, v: Str) -> Option<String> {
        let name = v.text;
        if name.trim().is_empty() {
            cx.error(v.at, "admin token `name` must not be empty");
            return None;
        }
        if name.chars().count() > MAX_NAME_CHARS {
            cx.error(
                v.at,
                format!("admin token `name` must be at most {MAX_NAME_CHARS} characters"),
            );
            return None;
        }
        if name.chars().any(char::is_control) {
            cx.error(
                v.at,
                "admin token `name` must not contain control characters such as line breaks",
            );
            return None;
        }
        match self.first.get(&name) {
            Some(&(first_at, false)) => {
                let message = format!(
                    "duplicate admin token name `{name}` (first used {})",
                    cx.describe_position(first_at)
                );
                cx.error(v.at, message);
                None
            }
            Some(&(first_at, true)) => {
                let message = format!(
                    "admin token name `{name}` is already the default name of the plain token {}; choose another name",
                    cx.describe_position(first_at)
                );
                cx.error(v.at, message);
                None
            }
            None => {
                self.first.insert(name.clone(), (v.at, false));
                Some(name)
            }
        }
    }

    /// Checks the `token-N` name given to the plain string at `at`.
    fn default_name(&mut self, cx: &mut Cx<'_>, name: String, at: usize) -> Option<String> {
        if let Some(&(first_at, _)) = self.first.get(&name) {
            let message = format!(
                "this token's default name `{name}` is already used {}; rename that token, or write this one as {{ name = …, token = … }}",
                cx.describe_position(first_at)
            );
            cx.error(at, message);
            return None;
        }
        self.first.insert(name.clone(), (at, true));
        Some(name)
    }
}
