//! Evaluating parsed comparisons against an [`Observation`], and writing the detail that
//! shows what each placeholder resolved to (`[STATUS] (503) == 200`).
//!
//! A placeholder whose value the observation lacks (`[STATUS]` without a response, `[IP]`
//! without a connection, a missing JSON path, an absent header) resolves to nothing, shown
//! as `(INVALID)` like Gatus does, and any comparison that needs it fails, whatever the
//! operator: `[BODY].error != fatal` does not hold when there is no `error` (Gatus would say
//! it holds). `has()` is the way to test for presence, and always resolves to `true`/`false`.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;

use serde_json::Value;

use super::jsonpath::{self, JsonPath};
use super::number::{format_go_duration_ms, parse_go_int, parse_number, Num};
use super::parse::{Accessor, Comparison, Matcher, Op, Operand, OperandKind};
use crate::check::Observation;

/// Longest resolved value shown in a detail before it is cut; Gatus cuts values compared
/// with a pattern at 25 characters, and we also cut the rest (a whole body) at 100.
const SHOWN_WITH_PATTERN: usize = 25;
const SHOWN: usize = 100;

/// Failing `[*]` elements listed in a detail before "and N more".
const ELEMENTS_SHOWN: usize = 5;

/// What one evaluation reads from: the observation, and its body parsed as JSON at most once
/// however many placeholders (and `||` alternatives and `[*]` elements) need it.
pub(crate) struct Context<'o> {
    obs: &'o Observation,
    json: OnceCell<Option<Value>>,
}

impl<'o> Context<'o> {
    /// A context for one evaluation.
    pub(crate) fn new(obs: &'o Observation) -> Self {
        Context {
            obs,
            json: OnceCell::new(),
        }
    }

    /// The body, trimmed (Gatus trims it too).
    fn body(&self) -> Option<&'o str> {
        self.obs.body.as_deref().map(str::trim)
    }

    /// The body as JSON, parsed on first use; `None` when there is no body or it is not JSON.
    fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| self.body().and_then(|b| serde_json::from_str(b).ok()))
            .as_ref()
    }

    fn header(&self, name: &str) -> Option<&'o str> {
        self.obs
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json_at(&self, path: &JsonPath, element: Option<usize>) -> Option<&Value> {
        path.resolve(self.json()?, element)
    }

    /// A placeholder's value as text, or `None` when the observation lacks it.
    fn value(&self, accessor: &Accessor, element: Option<usize>) -> Option<Cow<'_, str>> {
        let owned = |s: String| Some(Cow::Owned(s));
        match accessor {
            Accessor::Status => owned(self.obs.status?.to_string()),
            Accessor::ResponseTime => owned(self.obs.response_time.as_millis().to_string()),
            Accessor::Ip => owned(self.obs.ip?.to_string()),
            Accessor::Connected => Some(Cow::Borrowed(if self.obs.connected {
                "true"
            } else {
                "false"
            })),
            Accessor::CertificateExpiration => {
                owned(self.obs.certificate_expiration?.as_millis().to_string())
            }
            Accessor::DnsRcode => self.obs.dns_rcode.as_deref().map(Cow::Borrowed),
            Accessor::Header(name) => self.header(name).map(Cow::Borrowed),
            Accessor::Body(path) if path.is_root() => self.body().map(Cow::Borrowed),
            Accessor::Body(path) => jsonpath::render(self.json_at(path, element)?),
        }
    }

    /// `len()`: see [`jsonpath::length`]; for the whole body, the element count when it is
    /// a JSON array, else its character count; for other placeholders, the characters of
    /// their value.
    fn length(&self, accessor: &Accessor, element: Option<usize>) -> Option<usize> {
        match accessor {
            Accessor::Body(path) if path.is_root() => {
                let body = self.body()?;
                if body.starts_with('[') && body.ends_with(']') {
                    if let Some(Value::Array(items)) = self.json() {
                        return Some(items.len());
                    }
                }
                Some(body.chars().count())
            }
            Accessor::Body(path) => jsonpath::length(self.json_at(path, element)?),
            other => Some(self.value(other, element)?.chars().count()),
        }
    }

    /// `has()`: a JSON path exists (and is not `null`), a header is present, the body is not
    /// blank, or another placeholder has a non-empty value.
    fn has(&self, accessor: &Accessor, element: Option<usize>) -> bool {
        match accessor {
            Accessor::Body(path) if !path.is_root() => self.json_at(path, element).is_some(),
            Accessor::Header(name) => self.header(name).is_some(),
            other => self.value(other, element).is_some_and(|v| !v.is_empty()),
        }
    }
}

/// One side of a comparison, resolved.
enum Side<'s> {
    /// Written as is in the condition.
    Literal {
        text: &'s str,
        int: Option<i64>,
        num: Option<Num>,
    },
    /// A placeholder or function value (`None`: missing).
    Value(Option<Cow<'s, str>>),
    /// `pat()`, `any()` or `matches()`.
    Matcher(&'s Matcher),
}

impl Side<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Side::Literal { text, .. } => Some(text),
            Side::Value(v) => v.as_deref(),
            Side::Matcher(_) => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Side::Literal { int, .. } => *int,
            other => parse_go_int(other.text()?),
        }
    }

    fn num(&self) -> Option<Num> {
        match self {
            Side::Literal { num, .. } => *num,
            other => parse_number(other.text()?),
        }
    }
}

/// Evaluates one `||` alternative: with a `[*]`, once per element of that array (all must
/// hold, and an empty or missing array fails, as in Gatus); otherwise once.
pub(crate) fn evaluate(cmp: &Comparison, source: &str, ctx: &Context<'_>) -> (bool, String) {
    let wildcard_path = [&cmp.left, &cmp.right]
        .into_iter()
        .filter_map(|side| side.accessor()?.body_path())
        .find(|path| path.wildcard.is_some());
    let Some(path) = wildcard_path else {
        return compare(cmp, source, ctx, None);
    };
    let text = &source[cmp.span.start..cmp.span.end];
    let upto = path.wildcard_segment().unwrap_or_default();
    let count = ctx
        .json()
        .and_then(|root| path.lookup(root, upto, None))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if count == 0 {
        return (false, format!("{text} (no elements matched)"));
    }
    let mut failures = Vec::new();
    let mut failed = 0;
    for i in 0..count {
        let (ok, detail) = compare(cmp, source, ctx, Some(i));
        if !ok {
            failed += 1;
            if failures.len() < ELEMENTS_SHOWN {
                failures.push(detail);
            }
        }
    }
    if failed == 0 {
        let unit = if count == 1 { "element" } else { "elements" };
        return (true, format!("{text} ({count} {unit})"));
    }
    let mut detail = failures.join(", ");
    if failed > failures.len() {
        detail.push_str(&format!(" and {} more", failed - failures.len()));
    }
    (false, detail)
}

/// Evaluates a comparison, with `[*]` standing for `element` when given.
fn compare(
    cmp: &Comparison,
    source: &str,
    ctx: &Context<'_>,
    element: Option<usize>,
) -> (bool, String) {
    let left = resolve(&cmp.left, source, ctx, element);
    let right = resolve(&cmp.right, source, ctx, element);
    let holds = match cmp.op {
        Op::Eq | Op::Ne => {
            let equal = match (&left, &right) {
                (Side::Matcher(m), other) | (other, Side::Matcher(m)) => {
                    other.text().map(|v| matches(m, v, other.int()))
                }
                (l, r) => match (l.text(), r.text()) {
                    (Some(a), Some(b)) => Some(equal(a, l.int(), b, r.int())),
                    _ => None,
                },
            };
            // A missing value fails the comparison whichever the operator.
            equal.is_some_and(|e| e == (cmp.op == Op::Eq))
        }
        op => match (left.num(), right.num()) {
            (Some(a), Some(b)) => a.compare(b).is_some_and(|o| ordering_holds(op, o)),
            _ => false,
        },
    };
    let limit_for = |other: &Side<'_>| match other {
        Side::Matcher(Matcher::Pattern(_) | Matcher::Regex(_)) => SHOWN_WITH_PATTERN,
        _ => SHOWN,
    };
    let detail = format!(
        "{} {} {}",
        show(&cmp.left, &left, source, element, limit_for(&right), cmp.op),
        cmp.op.as_str(),
        show(
            &cmp.right,
            &right,
            source,
            element,
            limit_for(&left),
            cmp.op
        ),
    );
    (holds, detail)
}

fn ordering_holds(op: Op, o: Ordering) -> bool {
    match op {
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
    }
}

/// Gatus's equality: as integers when both sides read as Go integers (`0x1F == 31`), else as
/// exact strings (so `UP` is not `up`, and `1.0` is not `1`).
fn equal(a: &str, a_int: Option<i64>, b: &str, b_int: Option<i64>) -> bool {
    match (a_int, b_int) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn matches(matcher: &Matcher, value: &str, value_int: Option<i64>) -> bool {
    match matcher {
        Matcher::Pattern(glob) => glob.matches(value),
        Matcher::AnyOf(options) => options
            .iter()
            .any(|(option, option_int)| equal(value, value_int, option, *option_int)),
        Matcher::Regex(regex) => regex.is_match(value),
    }
}

fn resolve<'s>(
    operand: &'s Operand,
    source: &'s str,
    ctx: &'s Context<'_>,
    element: Option<usize>,
) -> Side<'s> {
    match &operand.kind {
        OperandKind::Literal { int, num } => Side::Literal {
            text: &source[operand.span.start..operand.span.end],
            int: *int,
            num: *num,
        },
        OperandKind::Value(a) => Side::Value(ctx.value(a, element)),
        OperandKind::Len(a) => {
            Side::Value(ctx.length(a, element).map(|n| Cow::Owned(n.to_string())))
        }
        OperandKind::Has(a) => Side::Value(Some(Cow::Borrowed(if ctx.has(a, element) {
            "true"
        } else {
            "false"
        }))),
        OperandKind::Matcher(m) => Side::Matcher(m),
    }
}

/// A side as shown in the detail: as written, then its resolved value in parentheses.
fn show(
    operand: &Operand,
    side: &Side<'_>,
    source: &str,
    element: Option<usize>,
    limit: usize,
    op: Op,
) -> String {
    let written = &source[operand.span.start..operand.span.end];
    // With `[*]`, show which element this is: `[BODY].items[2].status`.
    let wildcard = operand
        .accessor()
        .and_then(Accessor::body_path)
        .and_then(|p| p.wildcard);
    let written: Cow<'_, str> = match (wildcard, element) {
        (Some((start, end)), Some(i)) => Cow::Owned(format!(
            "{}[{i}]{}",
            &source[operand.span.start..start],
            &source[end..operand.span.end]
        )),
        _ => Cow::Borrowed(written),
    };
    match side {
        Side::Literal { .. } | Side::Matcher(_) => written.into_owned(),
        Side::Value(None) => format!("{written} (INVALID)"),
        Side::Value(Some(value)) => {
            let is_expiry = matches!(
                operand.kind,
                OperandKind::Value(Accessor::CertificateExpiration)
            );
            if is_expiry && op.is_ordering() {
                // Gatus shows the time left as a duration, to read against `48h`.
                if let Ok(ms) = value.parse::<u128>() {
                    return format!("{written} ({})", format_go_duration_ms(ms));
                }
            }
            format!("{written} ({})", truncate(value, limit))
        }
    }
}

fn truncate(value: &str, limit: usize) -> Cow<'_, str> {
    match value.char_indices().nth(limit) {
        Some((cut, _)) => Cow::Owned(format!("{}...(truncated)", &value[..cut])),
        None => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_parsed_once_per_evaluation() {
        let obs = Observation {
            body: Some(r#"{"a": 1}"#.to_owned()),
            ..Observation::default()
        };
        let ctx = Context::new(&obs);
        let first = ctx.json().map(std::ptr::from_ref);
        assert!(first.is_some());
        assert_eq!(ctx.json().map(std::ptr::from_ref), first);
    }
}
