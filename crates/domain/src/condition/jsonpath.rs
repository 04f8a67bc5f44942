//! `[BODY]` paths: Gatus's small JSON path dialect. After `[BODY]` come keys (`.status`),
//! array indexes (`[0]`, also right after `[BODY]` for a body that is an array: `[BODY][0].id`),
//! and at most one `[*]`, which makes the comparison hold only if it holds for every element.
//! Keys are taken literally up to the next `.` or `[`, so `.content-type` and `.@id` work.
//!
//! What a path resolves to follows Gatus: strings as they are, numbers as Go prints them
//! (`1.0` → `1`), booleans as `true`/`false`, objects and arrays as minified JSON (Gatus prints
//! arrays Go-style, `[1 2]`; JSON is clearer). A path that does not exist, that walks through a
//! string, number or array as if it were an object, that indexes past an array's end, or
//! that ends on `null`, is *missing*: `has()` is `false` and every comparison fails.

use std::borrow::Cow;

use serde_json::Value;

use super::number::format_go_float;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// `.name`: an object member.
    Key(String),
    /// `[3]`: an array element.
    Index(usize),
    /// `[*]`: every element, one at a time.
    Wildcard,
}

/// A parsed path (possibly empty: the whole body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath {
    /// The steps, in order.
    pub segments: Vec<Segment>,
    /// Byte span of the `[*]` in the condition, when there is one.
    pub wildcard: Option<(usize, usize)>,
}

/// Why a path does not parse: byte offset within the condition and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    /// Byte offset within the whole condition text.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl JsonPath {
    /// Parses the text after `[BODY]`; `base` is its byte offset in the condition.
    pub(crate) fn parse(text: &str, base: usize) -> Result<JsonPath, PathError> {
        let mut segments = Vec::new();
        let mut wildcard = None;
        let mut rest = text;
        let err = |rest: &str, message: String| PathError {
            at: base + text.len() - rest.len(),
            message,
        };
        while !rest.is_empty() {
            if let Some(after_dot) = rest.strip_prefix('.') {
                if after_dot.starts_with('[') {
                    // `.[0]`: Gatus accepts a dot before an index, so we do too.
                    rest = after_dot;
                    continue;
                }
                let len = after_dot.find(['.', '[', ']']).unwrap_or(after_dot.len());
                let key = &after_dot[..len];
                if key.is_empty() {
                    return Err(err(after_dot, "empty key in JSON path".to_owned()));
                }
                if let Some(space) = key.find(char::is_whitespace) {
                    return Err(err(
                        &after_dot[space..],
                        format!(
                            "unexpected '{}' in JSON path (is an operator missing its spaces?)",
                            after_dot[space..].trim()
                        ),
                    ));
                }
                segments.push(Segment::Key(key.to_owned()));
                rest = &after_dot[len..];
            } else if let Some(inside) = rest.strip_prefix('[') {
                let Some(close) = inside.find(']') else {
                    return Err(err(rest, "unclosed '[' in JSON path".to_owned()));
                };
                let index = &inside[..close];
                if index == "*" {
                    if wildcard.is_some() {
                        return Err(err(
                            rest,
                            "only one [*] is allowed in a JSON path".to_owned(),
                        ));
                    }
                    let start = base + text.len() - rest.len();
                    wildcard = Some((start, start + 3));
                    segments.push(Segment::Wildcard);
                } else if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) {
                    let n = index
                        .parse()
                        .map_err(|_| err(inside, format!("array index {index} is too large")))?;
                    segments.push(Segment::Index(n));
                } else {
                    return Err(err(
                        inside,
                        format!(
                            "invalid array index '{index}': expected a number like [0], or [*]"
                        ),
                    ));
                }
                rest = &inside[close + 1..];
            } else {
                return Err(err(
                    rest,
                    format!("unexpected '{rest}' in JSON path: expected '.key' or '[index]'"),
                ));
            }
        }
        Ok(JsonPath { segments, wildcard })
    }

    /// Whether the path has no steps (plain `[BODY]`).
    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The position of `[*]` among the segments, if any.
    pub(crate) fn wildcard_segment(&self) -> Option<usize> {
        self.segments.iter().position(|s| *s == Segment::Wildcard)
    }

    /// Follows the first `upto` segments from `root`, with `[*]` standing for element
    /// `element`. `None` when the path is missing (see the module docs), including `null`.
    pub(crate) fn lookup<'v>(
        &self,
        root: &'v Value,
        upto: usize,
        element: Option<usize>,
    ) -> Option<&'v Value> {
        let mut current = root;
        for segment in self.segments.iter().take(upto) {
            current = match segment {
                Segment::Key(k) => current.as_object()?.get(k)?,
                Segment::Index(i) => current.as_array()?.get(*i)?,
                Segment::Wildcard => current.as_array()?.get(element?)?,
            };
        }
        (!current.is_null()).then_some(current)
    }

    /// Follows the whole path.
    pub(crate) fn resolve<'v>(&self, root: &'v Value, element: Option<usize>) -> Option<&'v Value> {
        self.lookup(root, self.segments.len(), element)
    }
}

/// A JSON value as text, the way Gatus shows it (see the module docs). `None` for `null`.
pub(crate) fn render(value: &Value) -> Option<Cow<'_, str>> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Number(n) => Cow::Owned(render_number(n)),
        // Serializing a `Value` to a string cannot fail: its keys are already strings.
        Value::Array(_) | Value::Object(_) => {
            Cow::Owned(serde_json::to_string(value).unwrap_or_default())
        }
    })
}

/// `len()` of a JSON value: the element count of an array, else the number of characters of
/// its text (minified JSON for an object). `None` for `null`.
pub(crate) fn length(value: &Value) -> Option<usize> {
    match value {
        Value::Array(items) => Some(items.len()),
        Value::String(s) => Some(s.chars().count()),
        other => render(other).map(|s| s.chars().count()),
    }
}

fn render_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64()
            .map(format_go_float)
            .unwrap_or_else(|| n.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> JsonPath {
        JsonPath::parse(text, 0).unwrap()
    }

    #[test]
    fn parses_steps() {
        use Segment::*;
        let key = |k: &str| Key(k.to_owned());
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            ("", vec![]),
            (".status", vec![key("status")]),
            (".a.b[0].c", vec![key("a"), key("b"), Index(0), key("c")]),
            ("[0]", vec![Index(0)]),
            ("[3][2]", vec![Index(3), Index(2)]),
            (".[1].id", vec![Index(1), key("id")]),
            (".data[1][1]", vec![key("data"), Index(1), Index(1)]),
            (
                ".items[*].status",
                vec![key("items"), Wildcard, key("status")],
            ),
            (".content-type", vec![key("content-type")]),
            (".@id", vec![key("@id")]),
        ];
        for (text, want) in cases {
            assert_eq!(path(text).segments, want, "{text}");
        }
        assert_eq!(path(".items[*].x").wildcard, Some((6, 9)));
    }

    #[test]
    fn rejects_bad_paths() {
        let cases: &[(&str, usize)] = &[
            (".", 1),
            (".a.", 3),
            ("..a", 1),
            (".a[x]", 3),
            (".a[-1]", 3),
            (".a[]", 3),
            (".a[0", 2),
            ("x", 0),
            (".a[*][*]", 5),
            (".a b", 2),
            (".a[99999999999999999999999]", 3),
        ];
        for (text, at) in cases {
            let err = JsonPath::parse(text, 0).expect_err(text);
            assert_eq!(err.at, *at, "{text}: {err:?}");
        }
    }

    #[test]
    fn resolves_like_gatus() {
        let cases: &[(&str, &str, Option<&str>, Option<usize>)] = &[
            (r#"{"key": "value"}"#, ".key", Some("value"), Some(5)),
            (r#"{}"#, ".key", None, None),
            (
                r#"{"long": {"simple": {"walk": "value"}}}"#,
                ".long.simple.walk",
                Some("value"),
                Some(5),
            ),
            (
                r#"{"ids": [{"id": 1}, {"id": 2}]}"#,
                ".ids[1].id",
                Some("2"),
                Some(1),
            ),
            (r#"{"ids": [1, 2]}"#, ".ids[0]", Some("1"), Some(1)),
            (r#"[1, 2]"#, "", Some("[1,2]"), Some(2)),
            (r#"[1, 2]"#, "[1]", Some("2"), Some(1)),
            (
                r#"[{"id": 1}, {"id": 2}]"#,
                "[0]",
                Some(r#"{"id":1}"#),
                Some(8),
            ),
            (r#"[{"id": 1}, {"id": 2}]"#, "[0].id", Some("1"), Some(1)),
            (r#"[{"id": 1}, {"id": 2}]"#, "[5].id", None, None),
            (
                r#"{"data": {"ids": [{"id": 1}, {"id": 2}, {"id": 3}]}}"#,
                ".data.ids[0].id",
                Some("1"),
                Some(1),
            ),
            (
                r#"[[1, 2], [3, 4], [], [5, 6, 7]]"#,
                "[3][2]",
                Some("7"),
                Some(1),
            ),
            (
                r#"{"data": [["a", "b", "c"], ["d", "eeeee", "f"]]}"#,
                ".data[1][1]",
                Some("eeeee"),
                Some(5),
            ),
            (
                r#"{"data": [{"apps": [{"name":"app1"}, {"name":"app2"}]}]}"#,
                ".data[0].apps[1].name",
                Some("app2"),
                Some(4),
            ),
            (
                r#"{"data": [{"apps": []}]}"#,
                ".data[0].apps[1].name",
                None,
                None,
            ),
            (
                r#"{"data": {"name": "john"}}"#,
                ".data.name.invalid",
                None,
                None,
            ),
            (
                r#"{"balance": "123.40000000000005"}"#,
                ".balance",
                Some("123.40000000000005"),
                Some(18),
            ),
            (
                r#"{"balance": 123.40000000000005}"#,
                ".balance",
                Some("123.40000000000005"),
                Some(18),
            ),
            (r#"{"n": 1.0}"#, ".n", Some("1"), Some(1)),
            (
                r#"{"n": 12345678901234567890}"#,
                ".n",
                Some("12345678901234567890"),
                Some(20),
            ),
            (r#"{"n": -3}"#, ".n", Some("-3"), Some(2)),
            (r#"{"ok": true}"#, ".ok", Some("true"), Some(4)),
            (r#"{"x": null}"#, ".x", None, None),
            (
                r#"{"o": {"b": 2, "a": 1}}"#,
                ".o",
                Some(r#"{"a":1,"b":2}"#),
                Some(13),
            ),
            (r#"{"s": "héllo"}"#, ".s", Some("héllo"), Some(5)),
            (r#"{"a": [1]}"#, ".a.b", None, None),
            (r#"{"a": 5}"#, ".a.b", None, None),
            (r#"{"a": 5}"#, ".a[0]", None, None),
        ];
        for (body, text, want, want_len) in cases {
            let root: Value = serde_json::from_str(body).unwrap();
            let found = path(text).resolve(&root, None);
            assert_eq!(found.and_then(render).as_deref(), *want, "{text} in {body}");
            assert_eq!(found.and_then(length), *want_len, "len {text} in {body}");
        }
    }

    #[test]
    fn wildcard_picks_the_element() {
        let root: Value = serde_json::from_str(r#"{"items": [{"s": "a"}, {"s": "b"}]}"#).unwrap();
        let p = path(".items[*].s");
        assert_eq!(p.wildcard_segment(), Some(1));
        assert_eq!(
            p.resolve(&root, Some(1)).and_then(render).as_deref(),
            Some("b")
        );
        assert_eq!(p.resolve(&root, Some(2)), None);
        assert_eq!(p.resolve(&root, None), None);
        assert_eq!(
            p.lookup(&root, 1, None)
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(2)
        );
    }
}
