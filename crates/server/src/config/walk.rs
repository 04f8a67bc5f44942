//! The hand-written walk over the `toml_edit` tree: typed readers that report a located
//! diagnostic and carry on, so one pass finds every problem in the file.

use std::time::Duration;

use pharos_domain::duration::{format_duration, parse_duration};
use pharos_domain::Condition;
use toml_edit::{Item, TableLike, Value};

use super::diagnostic::{Diagnostic, LineIndex, Severity};
use super::source::{interpolate, locate_chars, Str};

/// The walk's context: the source, the environment, and the diagnostics found so far.
pub(super) struct Cx<'a> {
    file: &'a str,
    src: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    found: Vec<(usize, Severity, String)>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(
        file: &'a str,
        src: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Self {
            file,
            src,
            env,
            found: Vec::new(),
        }
    }

    /// A path from the configuration, relative to the configuration file's folder unless it
    /// is absolute.
    pub(super) fn relative_path(&self, path: &str) -> std::path::PathBuf {
        let path = std::path::Path::new(path);
        match std::path::Path::new(self.file).parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The environment variable `name`, read as `${…}` references are.
    pub(super) fn env_var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// Records an error at byte offset `at`.
    pub(super) fn error(&mut self, at: usize, message: impl Into<String>) {
        self.found.push((at, Severity::Error, message.into()));
    }

    /// Records a warning at byte offset `at`.
    pub(super) fn warn(&mut self, at: usize, message: impl Into<String>) {
        self.found.push((at, Severity::Warning, message.into()));
    }

    /// How many errors have been reported so far; a step that adds none succeeded.
    pub(super) fn error_count(&self) -> usize {
        self.found
            .iter()
            .filter(|(_, severity, _)| *severity == Severity::Error)
            .count()
    }

    /// "at line 12", for messages that refer to another place in the file.
    pub(super) fn describe_position(&self, at: usize) -> String {
        let (line, _) = LineIndex::new(self.src).locate(at);
        format!("at line {line}")
    }

    /// Every diagnostic, located and in file order (errors before warnings at one spot).
    pub(super) fn finish(self) -> Vec<Diagnostic> {
        let lines = LineIndex::new(self.src);
        let mut found = self.found;
        found.sort_by_key(|(at, severity, _)| (*at, *severity));
        found
            .into_iter()
            .map(|(at, severity, message)| {
                let (line, column) = lines.locate(at);
                Diagnostic {
                    file: self.file.to_owned(),
                    line,
                    column,
                    severity,
                    message,
                }
            })
            .collect()
    }

    /// Reads a string field, interpolating `${ENV_VAR}`s.
    pub(super) fn string(&mut self, f: &Field<'_>) -> Option<Str> {
        match f.item.as_value() {
            Some(v @ Value::String(_)) => self.string_value(v, f.at),
            _ => {
                self.type_error(f, "a string");
                None
            }
        }
    }

    /// Reads a string field that holds a secret: like [`Cx::string`], but a value of the
    /// wrong type is described by its kind only ("an integer"), never by its value, and an
    /// empty one is refused.
    pub(super) fn secret_string(&mut self, f: &Field<'_>) -> Option<Str> {
        if !f.item.is_str() {
            self.error(
                f.at,
                format!(
                    "`{}` must be a string, found {}",
                    f.name,
                    describe_kind(f.item)
                ),
            );
            return None;
        }
        let s = self.string(f)?;
        if s.text.trim().is_empty() {
            self.error(s.at, format!("`{}` must not be empty", f.name));
            return None;
        }
        Some(s)
    }

    /// Decodes and interpolates a string value (the caller has checked it is one);
    /// `fallback_at` is where to point if the value has no span.
    pub(super) fn string_value(&mut self, v: &Value, fallback_at: usize) -> Option<Str> {
        let text = v.as_str()?;
        let (at, offsets, end) = match v.span() {
            Some(span) => {
                let raw = self.src.get(span.clone()).unwrap_or_default();
                let (offsets, end) = locate_chars(raw, span.start, text);
                (span.start, offsets, end)
            }
            None => (
                fallback_at,
                vec![fallback_at; text.chars().count()],
                fallback_at,
            ),
        };
        match interpolate(text, offsets, at, end, self.env) {
            Ok(s) => Some(s),
            Err(errors) => {
                for e in errors {
                    self.error(e.at, e.message);
                }
                None
            }
        }
    }

    /// Reads a boolean field.
    pub(super) fn boolean(&mut self, f: &Field<'_>) -> Option<bool> {
        let b = f.item.as_bool();
        if b.is_none() {
            self.type_error(f, "a boolean (true or false)");
        }
        b
    }

    /// Reads an integer field.
    pub(super) fn integer(&mut self, f: &Field<'_>) -> Option<i64> {
        let n = f.item.as_integer();
        if n.is_none() {
            self.type_error(f, "an integer");
        }
        n
    }

    /// Reads an integer field that must be at least `min` and fit a `T`.
    pub(super) fn integer_at_least<T: TryFrom<i64>>(
        &mut self,
        f: &Field<'_>,
        min: i64,
    ) -> Option<T> {
        let n = self.integer(f)?;
        if n < min {
            self.error(
                f.at,
                format!("`{}` must be at least {min}, found {n}", f.name),
            );
            return None;
        }
        let converted = T::try_from(n).ok();
        if converted.is_none() {
            self.error(f.at, format!("`{}` is too large: {n}", f.name));
        }
        converted
    }

    /// Reads a duration string such as `"30s"`.
    pub(super) fn duration(&mut self, f: &Field<'_>) -> Option<Duration> {
        if !f.item.is_str() {
            self.type_error(f, "a duration string like \"30s\"");
            return None;
        }
        let s = self.string(f)?;
        match parse_duration(&s.text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(s.at, format!("`{}`: {e}", f.name));
                None
            }
        }
    }

    /// Reads how long one delivery attempt may take (a notifier's `timeout`, `[smtp] timeout`):
    /// from 1s to 60s.
    pub(super) fn delivery_timeout(&mut self, f: &Field<'_>) -> Option<Duration> {
        const MIN: Duration = Duration::from_secs(1);
        const MAX: Duration = Duration::from_secs(60);
        let d = self.duration(f)?;
        let bound = if d < MIN {
            format!("at least {}", format_duration(MIN))
        } else if d > MAX {
            format!("at most {}s", MAX.as_secs())
        } else {
            return Some(d);
        };
        self.error(
            f.at,
            format!(
                "`{}` must be {bound}, found {:?}",
                f.name,
                format_duration(d)
            ),
        );
        None
    }

    /// Reads an array of strings, reporting each element that is not one.
    pub(super) fn string_array(&mut self, f: &Field<'_>) -> Option<Vec<Str>> {
        let Some(array) = f.item.as_array() else {
            self.type_error(f, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(array.len());
        let mut ok = true;
        for v in array.iter() {
            let at = v.span().map_or(f.at, |s| s.start);
            if !v.is_str() {
                self.error(
                    at,
                    format!(
                        "`{}` must contain only strings, found {}",
                        f.name,
                        describe_value(v)
                    ),
                );
                ok = false;
            } else if let Some(s) = self.string_value(v, at) {
                out.push(s);
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    /// Reads a table of string values (like HTTP headers), in file order, with each key's
    /// position.
    pub(super) fn string_map(&mut self, f: &Field<'_>) -> Option<Vec<(String, usize, Str)>> {
        let Some(table) = f.item.as_table_like() else {
            self.type_error(f, "a table of strings, like { Accept = \"text/html\" }");
            return None;
        };
        let section = Section {
            table,
            at: f.at,
            label: "",
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (name, _) in section.keys() {
            let Some(entry) = section.field(name) else {
                continue;
            };
            if entry.item.is_str() {
                match self.string(&entry) {
                    Some(s) => out.push((name.to_owned(), entry.key_at, s)),
                    None => ok = false,
                }
            } else {
                self.error(
                    entry.at,
                    format!(
                        "`{}.{name}` must be a string, found {}",
                        f.name,
                        describe(entry.item)
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }

    /// Parses a condition, reporting a syntax error at its exact character in the file.
    pub(super) fn condition(&mut self, s: &Str) -> Option<Condition> {
        match Condition::parse(&s.text) {
            Ok(c) => Some(c),
            Err(e) => {
                let at = s.char_at(e.column.saturating_sub(1));
                self.error(at, format!("invalid condition: {}", e.message));
                None
            }
        }
    }

    /// Reads a sub-table (`[server]`, or an inline `server = { … }`).
    pub(super) fn section<'t>(
        &mut self,
        f: &Field<'t>,
        label: &'static str,
    ) -> Option<Section<'t>> {
        match f.item.as_table_like() {
            Some(table) => Some(Section {
                table,
                at: f.at,
                label,
            }),
            None => {
                self.type_error(f, &format!("a table ({label})"));
                None
            }
        }
    }

    /// Reads an array of tables (`[[monitors]]`, or `monitors = [{ … }, { … }]`).
    pub(super) fn section_list<'t>(
        &mut self,
        f: &Field<'t>,
        label: &'static str,
    ) -> Vec<Section<'t>> {
        match f.item {
            Item::ArrayOfTables(tables) => tables
                .iter()
                .map(|t| Section {
                    table: t,
                    at: t.span().map_or(f.key_at, |s| s.start),
                    label,
                })
                .collect(),
            Item::Value(Value::Array(array)) => {
                let mut out = Vec::new();
                for v in array.iter() {
                    let at = v.span().map_or(f.at, |s| s.start);
                    match v.as_inline_table() {
                        Some(t) => out.push(Section {
                            table: t,
                            at,
                            label,
                        }),
                        None => self.error(
                            at,
                            format!(
                                "`{}` must contain only tables, found {}",
                                f.name,
                                describe_value(v)
                            ),
                        ),
                    }
                }
                out
            }
            _ => {
                self.type_error(f, &format!("an array of tables ({label})"));
                Vec::new()
            }
        }
    }

    fn type_error(&mut self, f: &Field<'_>, expected: &str) {
        self.error(
            f.at,
            format!(
                "`{}` must be {expected}, found {}",
                f.name,
                describe(f.item)
            ),
        );
    }
}

/// "an integer (30)", "a string", … for type errors.
pub(super) fn describe(item: &Item) -> String {
    match item {
        Item::None => "nothing".into(),
        Item::Value(v) => describe_value(v),
        Item::Table(_) => "a table".into(),
        Item::ArrayOfTables(_) => "an array of tables".into(),
    }
}

/// "an integer", "a string", … without the value itself, for values that may be secret.
pub(super) fn describe_kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => describe_value_kind(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

/// [`describe_kind`] for a value.
pub(super) fn describe_value_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::String(_) => "a string".into(),
        Value::Integer(n) => format!("an integer ({})", n.value()),
        Value::Float(x) => format!("a float ({})", x.value()),
        Value::Boolean(b) => format!("a boolean ({})", b.value()),
        Value::Datetime(_) => "a date-time".into(),
        Value::Array(_) => "an array".into(),
        Value::InlineTable(_) => "a table".into(),
    }
}

/// A table being read, and where to point when something is missing from it.
#[derive(Clone, Copy)]
pub(super) struct Section<'a> {
    pub table: &'a dyn TableLike,
    /// Byte offset of the table's header (or inline table, or key) in the file.
    pub at: usize,
    /// How messages name it: `[server]`, `[[monitors]]`; empty for the top level.
    pub label: &'static str,
}

/// One key of a [`Section`] with its value.
pub(super) struct Field<'a> {
    /// The key as written.
    pub name: &'a str,
    /// Byte offset of the key.
    pub key_at: usize,
    /// Byte offset of the value (the key's, if the value has no span of its own).
    pub at: usize,
    pub item: &'a Item,
}

impl<'a> Section<'a> {
    /// The field `name`, if present.
    pub(super) fn field(&self, name: &str) -> Option<Field<'a>> {
        let (key, item) = self.table.get_key_value(name)?;
        let key_at = key.span().map_or(self.at, |s| s.start);
        let at = item.span().map_or(key_at, |s| s.start);
        Some(Field {
            name: key.get(),
            key_at,
            at,
            item,
        })
    }

    /// Every key, in file order, with its position.
    pub(super) fn keys(&self) -> Vec<(&'a str, usize)> {
        let table = self.table;
        table
            .iter()
            .map(|(name, _)| {
                let at = table
                    .key(name)
                    .and_then(|k| k.span())
                    .map_or(self.at, |s| s.start);
                (name, at)
            })
            .collect()
    }

    /// Reports every key not in `allowed`, with a suggestion when one is close.
    pub(super) fn check_keys(&self, cx: &mut Cx<'_>, allowed: &[&str]) {
        for (name, at) in self.keys() {
            if !allowed.contains(&name) {
                cx.error(at, unknown_key(name, self.label, allowed));
            }
        }
    }

    /// Reports `name` as missing at the table's header.
    pub(super) fn missing(&self, cx: &mut Cx<'_>, name: &str) {
        cx.error(
            self.at,
            format!("{} is missing required key `{name}`", self.label),
        );
    }
}

/// "unknown key `foo` in [server]; did you mean `bar`?"
pub(super) fn unknown_key(name: &str, label: &str, allowed: &[&str]) -> String {
    let place = if label.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {label}")
    };
    format!(
        "unknown key `{name}` {place}{}",
        did_you_mean(name, allowed)
    )
}

/// "; did you mean `x`?" when a candidate is a likely typo of `input`, else "".
pub(super) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c &'c str>,
) -> String {
    suggest(input, candidates.into_iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// The candidate closest to `input` by edit distance, if it is close enough to be a typo.
pub(super) fn suggest<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let input_lower = input.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&input_lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| {
            let len = c.chars().count().max(input.chars().count());
            d <= 1 || (d <= 3 && d * 3 <= len)
        })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Edit distance counting an adjacent transposition ("slakc" → "slack") as one edit, the
/// optimal-string-alignment variant of Damerau–Levenshtein, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// Reads a table's `id` for `what` (e.g. "notifier"): it follows the component-id rules and
/// must not repeat one seen before (`first_at` remembers where each was first used).
pub(super) fn unique_id(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    first_at: &mut std::collections::HashMap<String, usize>,
    what: &str,
) -> Option<String> {
    let Some(f) = s.field("id") else {
        s.missing(cx, "id");
        return None;
    };
    let v = cx.string(&f)?;
    if let Err(e) = pharos_domain::ComponentId::new(v.text.as_str()) {
        cx.error(v.at, format!("{what} {e}"));
        return None;
    }
    if let Some(&prev) = first_at.get(&v.text) {
        let message = format!(
            "duplicate {what} id `{}` (first used {})",
            v.text,
            cx.describe_position(prev)
        );
        cx.error(v.at, message);
        return None;
    }
    first_at.insert(v.text.clone(), v.at);
    Some(v.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["interval", "timeout", "conditions", "url"];
        assert_eq!(suggest("intervall", keys), Some("interval"));
        assert_eq!(suggest("timout", keys), Some("timeout"));
        assert_eq!(suggest("condition", keys), Some("conditions"));
        assert_eq!(suggest("uri", keys), Some("url"));
        assert_eq!(suggest("colour", keys), None);
        assert_eq!(suggest("x", keys), None);
        assert_eq!(suggest("slakc", ["slack", "teams"]), Some("slack"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
