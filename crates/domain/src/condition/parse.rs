//! Condition text to syntax tree. The text is split the way Gatus splits it, on operators
//! written with a space on each side, so that literal values may hold anything else (spaces,
//! `<`, JSON). Brackets and parentheses must balance (a `\` escapes one character from that
//! count); splits only happen outside them, so `any(a, b)`, `pat(x == y)` and
//! `matches(a || b)` stay whole. Every error carries the byte offset it is about, which
//! [`super::ConditionError`] turns into a character column.

use regex::Regex;

use super::glob::Glob;
use super::jsonpath::JsonPath;
use super::number::{parse_go_int, parse_number, Num};

/// A byte range of the condition text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Operators in the order Gatus looks for them: when several appear, the first kind in this
/// list is the operator and the others are part of a value (`[BODY].expr == a < b`).
const OPERATORS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    (">", Op::Gt),
    ("<", Op::Lt),
];

impl Op {
    /// The operator as written.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether it compares numbers rather than strings.
    pub(crate) fn is_ordering(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }
}

/// One `left op right` comparison; a condition is one or more joined by ` || `.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    /// The comparison's text.
    pub span: Span,
    /// Left-hand side.
    pub left: Operand,
    /// The operator.
    pub op: Op,
    /// Right-hand side.
    pub right: Operand,
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(crate) struct Operand {
    /// The side's text (trimmed), shown in details.
    pub span: Span,
    /// What it is.
    pub kind: OperandKind,
}

/// What a side of a comparison is.
#[derive(Debug, Clone)]
pub(crate) enum OperandKind {
    /// Plain text, compared as is; its readings as a Go integer and as an ordering number
    /// are worked out once here.
    Literal {
        /// The text as a Go integer, for `==`/`!=`.
        int: Option<i64>,
        /// The text as a number or duration, for ordering operators.
        num: Option<Num>,
    },
    /// A placeholder's value.
    Value(Accessor),
    /// `len(placeholder)`.
    Len(Accessor),
    /// `has(placeholder)`.
    Has(Accessor),
    /// `pat()`, `any()` or `matches()`: only with `==`/`!=`.
    Matcher(Matcher),
}

/// The functions that match a value rather than produce one.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// `pat(glob)`.
    Pattern(Glob),
    /// `any(a, b, …)`: each option and its Go integer reading.
    AnyOf(Vec<(String, Option<i64>)>),
    /// `matches(regex)`, a Pharos addition: unanchored, like `Regex::is_match`.
    Regex(Regex),
}

/// A placeholder: where in the observation a value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Accessor {
    /// `[STATUS]`
    Status,
    /// `[RESPONSE_TIME]`, in ms.
    ResponseTime,
    /// `[IP]`
    Ip,
    /// `[CONNECTED]`
    Connected,
    /// `[CERTIFICATE_EXPIRATION]`, in ms.
    CertificateExpiration,
    /// `[DNS_RCODE]`
    DnsRcode,
    /// `[BODY]` with an optional JSON path.
    Body(JsonPath),
    /// `[HEADER].Name`, a Pharos addition; the name is kept lowercased.
    Header(String),
}

impl Accessor {
    /// The JSON path, for `[BODY]` placeholders.
    pub(crate) fn body_path(&self) -> Option<&JsonPath> {
        match self {
            Accessor::Body(path) => Some(path),
            _ => None,
        }
    }
}

impl Operand {
    /// The placeholder the side reads, if it reads one.
    pub(crate) fn accessor(&self) -> Option<&Accessor> {
        match &self.kind {
            OperandKind::Value(a) | OperandKind::Len(a) | OperandKind::Has(a) => Some(a),
            OperandKind::Literal { .. } | OperandKind::Matcher(_) => None,
        }
    }
}

/// A parse error at a byte offset of the condition.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    /// Byte offset (may be the text's length, for "missing at the end").
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

fn fail<T>(at: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        at,
        message: message.into(),
    })
}

/// One character of the condition with its nesting depth.
#[derive(Debug, Clone, Copy)]
struct Tok {
    /// Byte offset.
    at: usize,
    ch: char,
    /// Brackets and parentheses open before this character.
    depth: usize,
    /// Escaped by a preceding `\`: never an operator, separator or bracket.
    escaped: bool,
}

impl Tok {
    /// Outside every bracket and parenthesis, and not escaped.
    fn top(&self) -> bool {
        self.depth == 0 && !self.escaped
    }

    fn end(&self) -> usize {
        self.at + self.ch.len_utf8()
    }
}

/// Parses a whole condition into its `||` alternatives.
pub(crate) fn parse(source: &str) -> Result<Vec<Comparison>, SyntaxError> {
    let toks = scan(source)?;
    let toks = trim(&toks);
    if toks.is_empty() {
        return fail(0, "empty condition");
    }
    let mut comparisons = Vec::new();
    for alternative in split_alternatives(toks, source.len())? {
        comparisons.push(parse_comparison(alternative, source)?);
    }
    Ok(comparisons)
}

/// Splits the text into characters with depths, checking that brackets and parentheses
/// balance. Inside `[...]`, parentheses are ordinary characters (as in a glob or regex
/// character class), so `pat([)])` is fine.
fn scan(source: &str) -> Result<Vec<Tok>, SyntaxError> {
    let mut toks = Vec::with_capacity(source.len());
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut escaped = false;
    for (at, ch) in source.char_indices() {
        let tok = Tok {
            at,
            ch,
            depth: open.len(),
            escaped,
        };
        toks.push(tok);
        if escaped {
            escaped = false;
            continue;
        }
        let in_brackets = matches!(open.last(), Some(('[', _)));
        match ch {
            '\\' => escaped = true,
            '[' => open.push(('[', at)),
            '(' if !in_brackets => open.push(('(', at)),
            ']' | ')' if ch == ']' || !in_brackets => {
                let opener = if ch == ']' { '[' } else { '(' };
                match open.pop() {
                    Some((c, _)) if c == opener => {}
                    Some((c, start)) => {
                        let closer = if c == '[' { ']' } else { ')' };
                        return fail(
                            at,
                            format!(
                                "expected '{closer}' to close the '{c}' at column {}, found '{ch}'",
                                column_of(source, start)
                            ),
                        );
                    }
                    None => return fail(at, format!("unmatched '{ch}'")),
                }
            }
            _ => {}
        }
    }
    if let Some((c, start)) = open.last() {
        let closer = if *c == '[' { ']' } else { ')' };
        return fail(*start, format!("unclosed '{c}': missing '{closer}'"));
    }
    Ok(toks)
}

/// The 1-based character column of a byte offset.
pub(crate) fn column_of(source: &str, at: usize) -> usize {
    source
        .get(..at)
        .map_or_else(|| source.chars().count(), |s| s.chars().count())
        + 1
}

fn is_space(t: &Tok) -> bool {
    t.top() && t.ch.is_whitespace()
}

fn trim(toks: &[Tok]) -> &[Tok] {
    let start = toks
        .iter()
        .position(|t| !t.ch.is_whitespace())
        .unwrap_or(toks.len());
    let end = toks
        .iter()
        .rposition(|t| !t.ch.is_whitespace())
        .map_or(start, |i| i + 1);
    &toks[start..end]
}

fn span_of(toks: &[Tok], fallback: usize) -> Span {
    match (toks.first(), toks.last()) {
        (Some(first), Some(last)) => Span {
            start: first.at,
            end: last.end(),
        },
        _ => Span {
            start: fallback,
            end: fallback,
        },
    }
}

/// Whether `word` is written at `toks[i..]` outside brackets with a space (or either end of
/// `toks`) on each side.
fn word_at(toks: &[Tok], i: usize, word: &str) -> bool {
    let n = word.chars().count();
    let Some(window) = toks.get(i..i + n) else {
        return false;
    };
    window
        .iter()
        .zip(word.chars())
        .all(|(t, c)| t.top() && t.ch == c)
        && (i == 0 || is_space(&toks[i - 1]))
        && toks.get(i + n).is_none_or(is_space)
}

/// Whether `word` is written at `toks[i..]` outside brackets, spaces or not.
fn bare_word_at(toks: &[Tok], i: usize, word: &str) -> bool {
    let n = word.chars().count();
    toks.get(i..i + n).is_some_and(|window| {
        window
            .iter()
            .zip(word.chars())
            .all(|(t, c)| t.top() && t.ch == c)
    })
}

/// Splits on ` || ` (a Pharos addition).
fn split_alternatives(toks: &[Tok], text_len: usize) -> Result<Vec<&[Tok]>, SyntaxError> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < toks.len() {
        if word_at(toks, i, "||") {
            let part = trim(&toks[start..i]);
            if part.is_empty() {
                return fail(toks[i].at, "nothing before '||': expected a comparison");
            }
            parts.push(part);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    let last = trim(&toks[start..]);
    if last.is_empty() {
        let at = toks.last().map_or(text_len, Tok::end);
        return fail(at, "nothing after '||': expected a comparison");
    }
    parts.push(last);
    Ok(parts)
}

fn parse_comparison(toks: &[Tok], source: &str) -> Result<Comparison, SyntaxError> {
    let span = span_of(toks, 0);
    let found = OPERATORS.iter().find_map(|&(word, op)| {
        let positions: Vec<usize> = (0..toks.len())
            .filter(|&i| word_at(toks, i, word))
            .collect();
        (!positions.is_empty()).then_some((word, op, positions))
    });
    let Some((word, op, positions)) = found else {
        return Err(missing_operator(toks));
    };
    if let Some(&second) = positions.get(1) {
        // `a == 1||b == 2`: an unspaced `||` is text (as in Gatus), but here it was surely
        // meant to join two comparisons.
        if let Some(i) = (0..second).find(|&i| bare_word_at(toks, i, "||")) {
            return fail(toks[i].at, "'||' needs a space on each side");
        }
        return fail(
            toks[second].at,
            format!(
                "a second '{word}': a comparison has one operator (join alternatives with ' || ')"
            ),
        );
    }
    let at = positions[0];
    let op_len = word.len();
    let left = trim(&toks[..at]);
    let right = trim(&toks[at + op_len..]);
    if left.is_empty() {
        return fail(
            toks[at].at,
            format!("nothing before '{word}': expected a value to compare"),
        );
    }
    if right.is_empty() {
        return fail(
            toks[at + op_len - 1].end(),
            format!("nothing after '{word}': expected a value to compare with"),
        );
    }
    let left = parse_operand(left, source, op)?;
    let right = parse_operand(right, source, op)?;
    check_comparison(&left, op, &right, source)?;
    Ok(Comparison {
        span,
        left,
        op,
        right,
    })
}

/// The error for a comparison without a (properly spaced) operator.
fn missing_operator(toks: &[Tok]) -> SyntaxError {
    for i in 0..toks.len() {
        for (word, _) in OPERATORS {
            if bare_word_at(toks, i, word)
                && !(word.len() == 1 && bare_word_at(toks, i, &format!("{word}=")))
            {
                return SyntaxError {
                    at: toks[i].at,
                    message: format!("operator '{word}' needs a space on each side"),
                };
            }
        }
    }
    if let Some(i) = (0..toks.len()).find(|&i| word_at(toks, i, "=")) {
        return SyntaxError {
            at: toks[i].at,
            message: "'=' is not an operator: use '=='".to_owned(),
        };
    }
    // Point just after the first value: that is where the operator belongs.
    let first_gap = toks.iter().position(is_space);
    let at = match first_gap {
        Some(i) => toks[i].at,
        None => toks.last().map_or(0, Tok::end),
    };
    SyntaxError {
        at,
        message: "missing operator: expected ==, !=, <, <=, > or >= between two values".to_owned(),
    }
}

/// Rules that involve both sides.
fn check_comparison(
    left: &Operand,
    op: Op,
    right: &Operand,
    source: &str,
) -> Result<(), SyntaxError> {
    if matches!(left.kind, OperandKind::Matcher(_)) && matches!(right.kind, OperandKind::Matcher(_))
    {
        return fail(
            right.span.start,
            "only one side of a comparison can be pat(), any() or matches()",
        );
    }
    if op.is_ordering() {
        for side in [left, right] {
            if let OperandKind::Literal { num: None, .. } = side.kind {
                return fail(
                    side.span.start,
                    format!(
                        "'{}' compares numbers, but '{}' is not a number or a duration (like 300 or 48h)",
                        op.as_str(),
                        &source[side.span.start..side.span.end]
                    ),
                );
            }
        }
    }
    let mut wildcards = [left, right]
        .into_iter()
        .filter_map(|side| side.accessor()?.body_path()?.wildcard);
    if let Some((second, _)) = wildcards.nth(1) {
        return fail(second, "only one [*] is allowed per comparison");
    }
    Ok(())
}

/// Placeholder names we know but do not support, with why.
const UNSUPPORTED: [(&str, &str); 2] = [
    (
        "DOMAIN_EXPIRATION",
        "[DOMAIN_EXPIRATION] is not supported by Pharos",
    ),
    (
        "CONTEXT",
        "[CONTEXT] (Gatus suites) is not supported by Pharos",
    ),
];

const PLACEHOLDERS: [&str; 8] = [
    "STATUS",
    "RESPONSE_TIME",
    "IP",
    "CONNECTED",
    "CERTIFICATE_EXPIRATION",
    "DNS_RCODE",
    "BODY",
    "HEADER",
];

fn parse_operand(toks: &[Tok], source: &str, op: Op) -> Result<Operand, SyntaxError> {
    let span = span_of(toks, 0);
    let text = &source[span.start..span.end];
    if let Some(name) = placeholder_name(text) {
        let accessor = parse_accessor(text, span.start, name)?;
        return Ok(Operand {
            span,
            kind: OperandKind::Value(accessor),
        });
    }
    if let Some(open) = function_name_len(text) {
        let kind = parse_function(toks, source, span, open, op)?;
        return Ok(Operand { span, kind });
    }
    Ok(Operand {
        span,
        kind: OperandKind::Literal {
            int: parse_go_int(text),
            num: parse_number(text),
        },
    })
}

/// `STATUS` for `[STATUS]...`: text starting with `[` and a name (a letter, then letters,
/// digits and `_`) and `]`. Anything else in brackets (`[1, 2]`, `["a"]`) is a literal.
fn placeholder_name(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('[')?;
    let close = inner.find(']')?;
    let name = &inner[..close];
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// The length of `name` in `name(...)` when the text starts like a function call.
fn function_name_len(text: &str) -> Option<usize> {
    let len = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let first = text.chars().next()?;
    (len > 0 && first.is_ascii_alphabetic() && text[len..].starts_with('(')).then_some(len)
}

fn parse_accessor(text: &str, base: usize, name: &str) -> Result<Accessor, SyntaxError> {
    let upper = name.to_ascii_uppercase();
    let rest_at = base + name.len() + 2;
    let rest = &text[name.len() + 2..];
    let simple = match upper.as_str() {
        "STATUS" => Some(Accessor::Status),
        "RESPONSE_TIME" => Some(Accessor::ResponseTime),
        "IP" => Some(Accessor::Ip),
        "CONNECTED" => Some(Accessor::Connected),
        "CERTIFICATE_EXPIRATION" => Some(Accessor::CertificateExpiration),
        "DNS_RCODE" => Some(Accessor::DnsRcode),
        _ => None,
    };
    if let Some(accessor) = simple {
        if !rest.is_empty() {
            return fail(
                rest_at,
                format!("unexpected '{rest}' after [{upper}] (is an operator missing its spaces?)"),
            );
        }
        return Ok(accessor);
    }
    match upper.as_str() {
        "BODY" => JsonPath::parse(rest, rest_at)
            .map(Accessor::Body)
            .map_err(|e| SyntaxError {
                at: e.at,
                message: e.message,
            }),
        "HEADER" => {
            let Some(header) = rest.strip_prefix('.') else {
                return fail(
                    rest_at,
                    "expected a header name after [HEADER], like [HEADER].Content-Type",
                );
            };
            if header.is_empty() {
                return fail(rest_at + 1, "expected a header name after [HEADER].");
            }
            if let Some(bad) = header.find(|c: char| !is_header_char(c)) {
                return fail(
                    rest_at + 1 + bad,
                    format!(
                        "'{}' cannot appear in a header name",
                        &header[bad..].chars().next().unwrap_or(' ')
                    ),
                );
            }
            Ok(Accessor::Header(header.to_ascii_lowercase()))
        }
        _ => {
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == upper) {
                return fail(base, *why);
            }
            let hint = PLACEHOLDERS
                .iter()
                .filter(|known| {
                    let d = edit_distance(known, &upper);
                    d <= 2 && d * 3 <= known.len()
                })
                .min_by_key(|known| edit_distance(known, &upper))
                .map(|known| format!(" (did you mean [{known}]?)"))
                .unwrap_or_default();
            fail(base, format!("unknown placeholder [{name}]{hint}"))
        }
    }
}

/// An HTTP token character (RFC 9110).
fn is_header_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Levenshtein distance, for "did you mean" hints on short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn parse_function(
    toks: &[Tok],
    source: &str,
    span: Span,
    name_len: usize,
    op: Op,
) -> Result<OperandKind, SyntaxError> {
    let name = &source[span.start..span.start + name_len];
    let lower = name.to_ascii_lowercase();
    if lower == "age" {
        return fail(span.start, "age() is not supported by Pharos");
    }
    if !matches!(lower.as_str(), "len" | "has" | "pat" | "any" | "matches") {
        return fail(
            span.start,
            format!("unknown function {name}(): expected len, has, pat, any or matches"),
        );
    }
    // The operand starts at depth 0, so the matching ')' is the first one back at depth 1.
    let open_index = toks
        .iter()
        .position(|t| t.at == span.start + name_len)
        .unwrap_or_default();
    let close = toks
        .iter()
        .skip(open_index + 1)
        .find(|t| t.ch == ')' && t.depth == 1 && !t.escaped);
    let Some(close) = close else {
        return fail(span.start + name_len, format!("unclosed '(' after {name}"));
    };
    if close.end() != span.end {
        return fail(
            close.end(),
            format!(
                "unexpected '{}' after {name}(...)",
                &source[close.end()..span.end]
            ),
        );
    }
    let inner = Span {
        start: span.start + name_len + 1,
        end: close.at,
    };
    let inner_text = &source[inner.start..inner.end];
    let is_matcher = matches!(lower.as_str(), "pat" | "any" | "matches");
    if is_matcher && op.is_ordering() {
        return fail(
            span.start,
            format!(
                "{lower}() can only be used with == or !=, not '{}'",
                op.as_str()
            ),
        );
    }
    match lower.as_str() {
        "len" | "has" => {
            let trimmed = inner_text.trim_start();
            let at = inner.end - trimmed.len();
            let trimmed = trimmed.trim_end();
            let Some(placeholder) = placeholder_name(trimmed) else {
                return fail(
                    at,
                    format!("{lower}() takes a placeholder, like {lower}([BODY].items)"),
                );
            };
            let accessor = parse_accessor(trimmed, at, placeholder)?;
            Ok(if lower == "len" {
                OperandKind::Len(accessor)
            } else {
                OperandKind::Has(accessor)
            })
        }
        "pat" => Glob::compile(inner_text)
            .map(|g| OperandKind::Matcher(Matcher::Pattern(g)))
            .map_err(|e| SyntaxError {
                at: inner.start + e.offset,
                message: format!("invalid pattern: {}", e.message),
            }),
        "any" => {
            if inner_text.trim().is_empty() {
                return fail(
                    inner.start,
                    "any() needs at least one value, like any(200, 204)",
                );
            }
            let mut options = Vec::new();
            let mut at = inner.start;
            for option in inner_text.split(',') {
                let value = option.trim();
                if value.is_empty() {
                    return fail(at, "empty value in any()");
                }
                options.push((value.to_owned(), parse_go_int(value)));
                at += option.len() + 1;
            }
            Ok(OperandKind::Matcher(Matcher::AnyOf(options)))
        }
        "matches" => Regex::new(inner_text)
            .map(|r| OperandKind::Matcher(Matcher::Regex(r)))
            .map_err(|e| regex_error(&e, inner_text, inner.start)),
        // Checked above: only the five known names get here.
        _ => fail(span.start, format!("unknown function {name}()")),
    }
}

/// Turns a regex error into ours: the last line of the regex crate's message names the
/// problem, and its `^` marker (for one-line patterns) the exact character.
fn regex_error(error: &regex::Error, pattern: &str, start: usize) -> SyntaxError {
    let full = error.to_string();
    let message = full
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(full.as_str());
    let mut at = start;
    if !pattern.contains('\n') {
        // The message shows the pattern indented by four spaces and, below it, carets under
        // the offending characters.
        let caret = full.lines().find_map(|l| {
            let marks = l.strip_prefix("    ")?;
            let offset = marks.find('^')?;
            marks
                .trim_end()
                .chars()
                .all(|c| c == ' ' || c == '^')
                .then_some(offset)
        });
        if let Some(offset) = caret {
            at = start
                + pattern
                    .char_indices()
                    .nth(offset)
                    .map_or(pattern.len(), |(b, _)| b);
        }
    }
    SyntaxError {
        at,
        message: format!("invalid regex: {message}"),
    }
}
