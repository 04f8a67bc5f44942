//! Property tests of the condition language: the parser never panics, whatever it is given;
//! every condition the grammar allows parses, and its written form parses back to the same
//! condition; evaluation never panics, whatever the observation; and the semantics hold for
//! random values (`==` against the status, `||`, `!=` as the negation of `==`, `<` and `>=`
//! as complements, `any()` as a chain of `||`, case-insensitive names, free spacing, the
//! resolved values in a detail).

use std::net::IpAddr;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// Enough cases to find the odd combination, few enough to keep `cargo test` quick.
fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

// ---------------------------------------------------------------------------------------------
// Observations
// ---------------------------------------------------------------------------------------------

/// Keys shared by the generated JSON bodies and the generated `[BODY]` paths, so that paths
/// often find something.
const KEYS: &[&str] = &["status", "data", "items", "id", "name", "a"];

/// Header names shared by the generated observations and `[HEADER]` placeholders.
const HEADERS: &[&str] = &["content-type", "x-version", "x-empty", "etag"];

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("UP".to_owned()),
            Just("DOWN".to_owned()),
            Just(String::new()),
            "[a-z0-9 ]{0,8}",
            any::<String>(),
        ]
        .prop_map(Value::String),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Value::Array),
                vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|members| {
                    Value::Object(
                        members
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
        .boxed()
}

fn body() -> BoxedStrategy<Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => json_value().prop_map(|v| Some(v.to_string())),
        1 => json_value().prop_map(|v| serde_json::to_string_pretty(&v).ok()),
        1 => any::<String>().prop_map(Some),
        1 => "[\\[\\]{}\":,0-9a-z ]{0,24}".prop_map(Some),
    ]
    .boxed()
}

fn ip() -> BoxedStrategy<Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<[u8; 4]>().prop_map(|b| Some(IpAddr::from(b))),
        any::<[u16; 8]>().prop_map(|b| Some(IpAddr::from(b))),
    ]
    .boxed()
}

fn millis() -> BoxedStrategy<Duration> {
    prop_oneof![
        4 => (0u64..100_000).prop_map(Duration::from_millis),
        1 => any::<u64>().prop_map(Duration::from_millis),
        1 => Just(Duration::MAX),
    ]
    .boxed()
}

fn headers() -> BoxedStrategy<Vec<(String, String)>> {
    let name = prop_oneof![
        prop::sample::select(HEADERS).prop_map(str::to_owned),
        // Probes lowercase names, but lookups do not rely on it.
        prop::sample::select(HEADERS).prop_map(str::to_ascii_uppercase),
        "[a-zA-Z-]{1,10}",
    ];
    let value = prop_oneof!["[ -~]{0,12}", any::<String>()];
    vec((name, value), 0..4).boxed()
}

fn observation() -> BoxedStrategy<Observation> {
    (
        any::<bool>(),
        prop::option::of(any::<u16>()),
        millis(),
        body(),
        headers(),
        ip(),
        prop::option::of(millis()),
        prop::option::of(prop_oneof![
            Just("NOERROR".to_owned()),
            Just("NXDOMAIN".to_owned()),
            any::<String>(),
        ]),
        prop::option::of(any::<String>()),
    )
        .prop_map(
            |(
                connected,
                status,
                response_time,
                body,
                headers,
                ip,
                certificate_expiration,
                dns_rcode,
                error,
            )| {
                // Whatever else an observation carries (phase timings, …) no placeholder reads.
                #[allow(clippy::needless_update)]
                Observation {
                    connected,
                    status,
                    response_time,
                    body,
                    headers,
                    ip,
                    certificate_expiration,
                    dns_rcode,
                    error,
                    ..Observation::default()
                }
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Conditions from the grammar
// ---------------------------------------------------------------------------------------------

/// One step of a generated `[BODY]` path.
#[derive(Debug, Clone)]
enum Step {
    Key(&'static str),
    Index(usize),
    Wildcard,
}

/// A generated placeholder; `case` picks which ASCII letters of its name are lowercased.
#[derive(Debug, Clone)]
enum Placeholder {
    Simple(&'static str),
    Body(Vec<Step>),
    Header(String),
}

/// A generated operand.
#[derive(Debug, Clone)]
enum Operand {
    Value(Placeholder),
    Len(Placeholder),
    Has(Placeholder),
    Literal(String),
    Pat(String),
    Any(Vec<String>),
    Matches(String),
}

/// A generated comparison, written with the given spacing and letter case.
#[derive(Debug, Clone)]
struct Cmp {
    left: Operand,
    op: &'static str,
    right: Operand,
}

/// How a generated condition is written: the canonical form (upper-case placeholders,
/// lower-case functions, single spaces) or a variant with mixed case and extra spacing.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// Bits choosing the case of each letter of placeholder, header and function names.
    case: u64,
    /// Extra whitespace around operators and `||`, chosen per position from this seed.
    spacing: u64,
}

const CANONICAL: Style = Style {
    case: 0,
    spacing: 0,
};

impl Style {
    /// Writes `name` with letters lowercased or not, as the case bits say.
    fn name(self, name: &str, lower_by_default: bool) -> String {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                let flip = (self.case >> (i % 64)) & 1 == 1;
                if flip != lower_by_default {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect()
    }

    /// One or more whitespace characters, for the `n`th gap.
    fn gap(self, n: u32) -> &'static str {
        const GAPS: [&str; 4] = [" ", "  ", " \t", "\n "];
        GAPS[(self.spacing.rotate_right(n * 2) & 3) as usize]
    }
}

impl Placeholder {
    fn write(&self, style: Style) -> String {
        match self {
            Placeholder::Simple(name) => format!("[{}]", style.name(name, false)),
            Placeholder::Body(steps) => {
                let mut s = format!("[{}]", style.name("BODY", false));
                for step in steps {
                    match step {
                        Step::Key(k) => {
                            s.push('.');
                            s.push_str(k);
                        }
                        Step::Index(i) => s.push_str(&format!("[{i}]")),
                        Step::Wildcard => s.push_str("[*]"),
                    }
                }
                s
            }
            Placeholder::Header(name) => {
                format!(
                    "[{}].{}",
                    style.name("HEADER", false),
                    style.name(name, true)
                )
            }
        }
    }

    fn has_wildcard(&self) -> bool {
        matches!(self, Placeholder::Body(steps) if steps.iter().any(|s| matches!(s, Step::Wildcard)))
    }

    fn is_body(&self) -> bool {
        matches!(self, Placeholder::Body(_))
    }
}

impl Operand {
    fn write(&self, style: Style) -> String {
        let call = |name: &str, inner: &str| format!("{}({inner})", style.name(name, true));
        match self {
            Operand::Value(p) => p.write(style),
            Operand::Len(p) => call("len", &p.write(style)),
            Operand::Has(p) => call("has", &p.write(style)),
            Operand::Literal(text) => text.clone(),
            Operand::Pat(glob) => call("pat", glob),
            Operand::Any(values) => call("any", &values.join(", ")),
            Operand::Matches(regex) => call("matches", regex),
        }
    }

    fn placeholder(&self) -> Option<&Placeholder> {
        match self {
            Operand::Value(p) | Operand::Len(p) | Operand::Has(p) => Some(p),
            _ => None,
        }
    }

    fn has_wildcard(&self) -> bool {
        self.placeholder().is_some_and(Placeholder::has_wildcard)
    }
}

impl Cmp {
    fn write(&self, style: Style) -> String {
        format!(
            "{}{}{}{}{}",
            self.left.write(style),
            style.gap(0),
            self.op,
            style.gap(1),
            self.right.write(style)
        )
    }

    fn with_op(&self, op: &'static str) -> Cmp {
        Cmp { op, ..self.clone() }
    }

    fn has_wildcard(&self) -> bool {
        self.left.has_wildcard() || self.right.has_wildcard()
    }

    fn uses_body(&self) -> bool {
        [&self.left, &self.right]
            .into_iter()
            .any(|o| o.placeholder().is_some_and(Placeholder::is_body))
    }
}

/// Writes `||` alternatives.
fn write_all(cmps: &[Cmp], style: Style) -> String {
    let mut s = String::new();
    for (i, cmp) in cmps.iter().enumerate() {
        if i > 0 {
            // Distinct gaps from the ones around the operators.
            let n = u32::try_from(i).unwrap_or(0) + 2;
            s.push_str(style.gap(n));
            s.push_str("||");
            s.push_str(style.gap(n + 1));
        }
        s.push_str(&cmp.write(style));
    }
    s
}

fn body_path(wildcard: bool) -> BoxedStrategy<Vec<Step>> {
    let step = prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(Step::Key),
        1 => (0usize..4).prop_map(Step::Index),
    ];
    (vec(step, 0..4), any::<prop::sample::Index>())
        .prop_map(move |(mut steps, at)| {
            if wildcard {
                let at = at.index(steps.len() + 1);
                steps.insert(at, Step::Wildcard);
            }
            steps
        })
        .boxed()
}

/// A placeholder; with `wildcard`, `[BODY]` paths may hold one `[*]`.
fn placeholder(wildcard: bool) -> BoxedStrategy<Placeholder> {
    let simple = one_of(&[
        "STATUS",
        "RESPONSE_TIME",
        "IP",
        "CONNECTED",
        "CERTIFICATE_EXPIRATION",
        "DNS_RCODE",
    ])
    .prop_map(Placeholder::Simple);
    let header = prop_oneof![
        prop::sample::select(HEADERS).prop_map(str::to_owned),
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
    ]
    .prop_map(Placeholder::Header);
    let body = if wildcard {
        prop_oneof![body_path(false), body_path(true)].boxed()
    } else {
        body_path(false).boxed()
    };
    prop_oneof![
        3 => simple,
        3 => body.prop_map(Placeholder::Body),
        1 => header,
    ]
    .boxed()
}

fn reading(wildcard: bool) -> BoxedStrategy<Operand> {
    prop_oneof![
        4 => placeholder(wildcard).prop_map(Operand::Value),
        1 => placeholder(wildcard).prop_map(Operand::Len),
        1 => placeholder(wildcard).prop_map(Operand::Has),
    ]
    .boxed()
}

/// A Go integer literal for `n`, in a random base.
fn go_int(n: i64) -> BoxedStrategy<String> {
    let sign = if n < 0 { "-" } else { "" };
    let m = n.unsigned_abs();
    prop_oneof![
        Just(n.to_string()),
        Just(format!("{sign}0x{m:X}")),
        Just(format!("{sign}0o{m:o}")),
        Just(format!("{sign}0b{m:b}")),
        Just(format!("{sign}0{m:o}")),
    ]
    .boxed()
}

/// A literal that reads as a number or a duration, as the ordering operators need.
fn numeric_literal() -> BoxedStrategy<String> {
    let unit = one_of(&["ns", "us", "µs", "ms", "s", "m", "h"]);
    prop_oneof![
        any::<i64>().prop_flat_map(go_int),
        (-100_000i64..100_000).prop_flat_map(go_int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        (-1000.0f64..1000.0).prop_map(|f| format!("{f:.3}")),
        (1u32..10_000, unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (1u32..100, unit.clone(), 0u32..60, unit).prop_map(|(a, u, b, v)| format!("{a}{u}{b}{v}")),
    ]
    .boxed()
}

/// A literal for `==`/`!=`: words, possibly numbers, never a placeholder or function.
fn text_literal() -> BoxedStrategy<String> {
    prop_oneof![
        3 => numeric_literal(),
        3 => vec("[A-Za-z0-9_.:/+-]{1,8}", 1..3).prop_map(|w| w.join(" ")),
        1 => one_of(&["UP", "true", "false", "NOERROR", "127.0.0.1", "\"x\""])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn glob() -> BoxedStrategy<String> {
    let piece = one_of(&[
        "a", "b", "z", "0", "9", "U", "P", "*", "?", "[a-z]", "[^0-9]", "\\*", "-", " ", "/", ".",
    ]);
    vec(piece, 0..6).prop_map(|p| p.concat()).boxed()
}

fn regex() -> BoxedStrategy<String> {
    let piece = one_of(&[
        "^", "$", "a", "U", "P", "[0-9]+", "\\d", "(ab|cd)", ".*", "x?", "\\(", "\\)", "(?i)", " ",
        "\\s*",
    ]);
    vec(piece, 0..6).prop_map(|p| p.concat()).boxed()
}

fn any_values() -> BoxedStrategy<Vec<String>> {
    vec(
        prop_oneof!["[A-Za-z0-9_.-]{1,6}", (0i64..600).prop_flat_map(go_int)],
        1..4,
    )
    .boxed()
}

fn matcher() -> BoxedStrategy<Operand> {
    prop_oneof![
        glob().prop_map(Operand::Pat),
        any_values().prop_map(Operand::Any),
        regex().prop_map(Operand::Matches),
    ]
    .boxed()
}

/// A `==`/`!=` comparison the grammar allows: at most one matcher, and (with `wildcard`) at
/// most one `[*]`, on the side that is not a matcher or literal or, with two placeholders,
/// on the left.
fn equality_comparison(wildcard: bool) -> BoxedStrategy<Cmp> {
    (
        one_of(&["==", "!="]),
        prop_oneof![
            4 => (reading(wildcard), prop_oneof![
                3 => text_literal().prop_map(Operand::Literal),
                2 => reading(false),
                2 => matcher(),
            ]),
            1 => (matcher(), reading(wildcard)),
            1 => (text_literal().prop_map(Operand::Literal), reading(wildcard)),
        ],
    )
        .prop_map(|(op, (left, right))| Cmp { left, op, right })
        .boxed()
}

/// A `<`/`<=`/`>`/`>=` comparison the grammar allows: no matchers, only numbers and
/// durations as literals, and (with `wildcard`) at most one `[*]`.
fn ordering_comparison(wildcard: bool) -> BoxedStrategy<Cmp> {
    (
        one_of(&["<", "<=", ">", ">="]),
        prop_oneof![
            4 => (reading(wildcard), prop_oneof![
                3 => numeric_literal().prop_map(Operand::Literal),
                1 => reading(false),
            ]),
            1 => (numeric_literal().prop_map(Operand::Literal), reading(wildcard)),
        ],
    )
        .prop_map(|(op, (left, right))| Cmp { left, op, right })
        .boxed()
}

/// Any comparison the grammar allows.
fn comparison() -> BoxedStrategy<Cmp> {
    prop_oneof![2 => equality_comparison(true), 1 => ordering_comparison(true)].boxed()
}

fn style() -> BoxedStrategy<Style> {
    (any::<u64>(), any::<u64>())
        .prop_map(|(case, spacing)| Style { case, spacing })
        .boxed()
}

/// Picks one of a fixed list of texts.
fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(items)
}

fn parse_ok(text: &str) -> Condition {
    Condition::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e:?}"))
}

// ---------------------------------------------------------------------------------------------
// Token soup: strings built from the grammar's own pieces, mostly not valid conditions
// ---------------------------------------------------------------------------------------------

const TOKENS: &[&str] = &[
    "[STATUS]",
    "[status]",
    "[RESPONSE_TIME]",
    "[IP]",
    "[CONNECTED]",
    "[CERTIFICATE_EXPIRATION]",
    "[DNS_RCODE]",
    "[DOMAIN_EXPIRATION]",
    "[CONTEXT]",
    "[STATU]",
    "[BODY]",
    "[BODY].a",
    "[BODY][0]",
    "[BODY].items[*].id",
    "[BODY].a[*][*]",
    "[HEADER].X-Id",
    "[HEADER].",
    "[HEADER]",
    "len(",
    "has(",
    "pat(",
    "any(",
    "matches(",
    "age(",
    "foo(",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "||",
    "|",
    "(",
    ")",
    "[",
    "]",
    "[*]",
    "[0]",
    "[99999999999999999999]",
    ".",
    ",",
    "\"",
    "'",
    "\\",
    " ",
    "  ",
    "\t",
    "0",
    "200",
    "-1",
    "0x1F",
    "1.5",
    "1e999",
    "48h",
    "1h30m",
    "0s",
    "9223372036854775808",
    "true",
    "UP",
    "*",
    "?",
    "[a-z]",
    "^",
    "$",
    "é💥\u{0}",
    "µs",
];

fn token_soup() -> BoxedStrategy<String> {
    vec(
        (prop::sample::select(TOKENS), one_of(&["", " ", " ", "  "])),
        0..16,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(t, sep)| format!("{t}{sep}"))
            .collect()
    })
    .boxed()
}

/// A condition from the grammar, or one comparison of it with a character dropped,
/// duplicated or swapped for a token: mostly valid, often not.
fn near_miss() -> BoxedStrategy<String> {
    (
        comparison(),
        any::<prop::sample::Index>(),
        prop::sample::select(TOKENS),
        0u8..4,
    )
        .prop_map(|(cmp, at, token, how)| {
            let text = cmp.write(CANONICAL);
            let chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len().max(1));
            let (before, after) = chars.split_at(i.min(chars.len()));
            let before: String = before.iter().collect();
            let after: String = after.iter().collect();
            match how {
                0 => format!("{before}{}", after.chars().skip(1).collect::<String>()),
                1 => format!("{before}{token}{after}"),
                2 => format!(
                    "{before}{token}{}",
                    after.chars().skip(1).collect::<String>()
                ),
                _ => text,
            }
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Checks what every parse, failed or not, must give: an error column within the text (or
/// just past its end), and a condition that keeps its text and evaluates without panicking.
fn check_any_text(text: &str, obs: &Observation) -> Result<(), TestCaseError> {
    match Condition::parse(text) {
        Ok(c) => {
            prop_assert_eq!(c.source(), text);
            let result = c.evaluate(obs);
            prop_assert!(!result.detail.is_empty());
        }
        Err(e) => {
            let columns = text.chars().count() + 1;
            prop_assert!(
                (1..=columns).contains(&e.column),
                "column {} outside 1..={columns} for {:?}: {}",
                e.column,
                text,
                e.message
            );
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: no panic, a column inside the text.
    #[test]
    fn parse_never_panics_on_any_text(text in any::<String>(), obs in observation()) {
        check_any_text(&text, &obs)?;
    }

    /// Strings of the grammar's own tokens, which reach far deeper into the parser.
    #[test]
    fn parse_never_panics_on_token_soup(text in token_soup(), obs in observation()) {
        check_any_text(&text, &obs)?;
    }

    /// Valid conditions with one character dropped or a token slipped in.
    #[test]
    fn parse_never_panics_on_near_misses(text in near_miss(), obs in observation()) {
        check_any_text(&text, &obs)?;
    }

    /// Every condition the grammar allows parses; its written form (`Display`, `source()`,
    /// serde) is the text, which parses back to an equal condition that evaluates the same.
    #[test]
    fn grammar_conditions_parse_and_round_trip(
        cmps in vec(comparison(), 1..4),
        style in style(),
        obs in observation(),
    ) {
        let text = write_all(&cmps, style);
        let c = parse_ok(&text);
        prop_assert_eq!(c.source(), text.as_str());
        let shown = c.to_string();
        prop_assert_eq!(&shown, &text);
        prop_assert_eq!(serde_json::to_value(&c).ok(), Some(Value::String(text.clone())));
        let again = parse_ok(&shown);
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.needs_body(), c.needs_body());
        prop_assert_eq!(again.evaluate(&obs), c.evaluate(&obs));
        prop_assert_eq!(c.needs_body(), cmps.iter().any(Cmp::uses_body));
    }

    /// Letter case of placeholder, header and function names, and extra whitespace around
    /// operators and `||`, change nothing but the text shown.
    #[test]
    fn case_and_spacing_do_not_change_the_outcome(
        cmps in vec(comparison(), 1..4),
        style in style(),
        obs in observation(),
    ) {
        let canonical = parse_ok(&write_all(&cmps, CANONICAL)).evaluate(&obs);
        let styled = parse_ok(&write_all(&cmps, style)).evaluate(&obs);
        prop_assert_eq!(styled.success, canonical.success);
        // Spacing alone changes nothing but, with `[*]`, the comparison quoted as written in
        // the `(no elements matched)` / `(N elements)` summary.
        let spaced = Style { case: 0, spacing: style.spacing };
        let text = write_all(&cmps, spaced);
        let result = parse_ok(&text).evaluate(&obs);
        prop_assert_eq!(result.success, canonical.success);
        if !cmps.iter().any(Cmp::has_wildcard) {
            prop_assert_eq!(&result.detail, &canonical.detail);
        }
        // Whitespace around the whole condition changes nothing at all.
        let padded = format!("{}{text}{}", spaced.gap(7), spaced.gap(9));
        prop_assert_eq!(parse_ok(&padded).evaluate(&obs), result);
    }

    /// `A || B` holds iff `A` or `B` holds, and its detail is theirs joined by ` || `.
    #[test]
    fn or_holds_iff_either_holds(a in comparison(), b in comparison(), obs in observation()) {
        let (ta, tb) = (a.write(CANONICAL), b.write(CANONICAL));
        let ra = parse_ok(&ta).evaluate(&obs);
        let rb = parse_ok(&tb).evaluate(&obs);
        let both = parse_ok(&format!("{ta} || {tb}")).evaluate(&obs);
        prop_assert_eq!(both.success, ra.success || rb.success);
        prop_assert_eq!(both.detail, format!("{} || {}", ra.detail, rb.detail));
    }

    /// `!=` is the negation of `==` when every value is there; when one is missing
    /// (`(INVALID)`), both fail.
    #[test]
    fn not_equal_negates_equal_for_present_values(
        // Without `[*]`: with it both can fail (some elements equal, some not), as in Gatus.
        cmp in equality_comparison(false),
        obs in observation(),
    ) {
        let eq = parse_ok(&cmp.with_op("==").write(CANONICAL)).evaluate(&obs);
        let ne = parse_ok(&cmp.with_op("!=").write(CANONICAL)).evaluate(&obs);
        if eq.detail.contains("(INVALID)") {
            prop_assert!(!eq.success && !ne.success, "{} / {}", eq.detail, ne.detail);
        } else {
            prop_assert_eq!(ne.success, !eq.success, "{} / {}", eq.detail, ne.detail);
        }
    }

    /// `<` and `>=` (and `>` and `<=`) never both hold; `<=` is `<` or `==` in number terms.
    #[test]
    fn ordering_operators_are_consistent(
        // Without `[*]`, for the same reason.
        cmp in ordering_comparison(false),
        obs in observation(),
    ) {
        let eval = |op| parse_ok(&cmp.with_op(op).write(CANONICAL)).evaluate(&obs).success;
        let (lt, le, gt, ge) = (eval("<"), eval("<="), eval(">"), eval(">="));
        prop_assert!(!(lt && ge), "< and >= both hold");
        prop_assert!(!(gt && le), "> and <= both hold");
        // Both sides numbers: exactly one of each pair holds.
        if lt || ge || gt || le {
            prop_assert!(lt != ge && gt != le, "lt {lt} le {le} gt {gt} ge {ge}");
            prop_assert!(!(lt && gt), "< and > both hold");
        }
    }

    /// For numeric values `<` and `>=` are complements: a response time, or a JSON number,
    /// against any numeric literal.
    #[test]
    fn less_and_at_least_are_complements(
        literal in numeric_literal(),
        ms in millis(),
        n in json_leaf().prop_filter("a number", Value::is_number),
    ) {
        let obs = Observation {
            response_time: ms,
            body: Some(serde_json::json!({ "n": n }).to_string()),
            ..Observation::default()
        };
        for placeholder in ["[RESPONSE_TIME]", "[BODY].n"] {
            let lt = parse_ok(&format!("{placeholder} < {literal}")).evaluate(&obs);
            let ge = parse_ok(&format!("{placeholder} >= {literal}")).evaluate(&obs);
            prop_assert!(lt.success != ge.success, "{} / {}", lt.detail, ge.detail);
        }
    }

    /// `[RESPONSE_TIME] < N` compares milliseconds as integers.
    #[test]
    fn response_time_compares_as_integers(ms in 0u64..10_000_000, n in any::<i64>()) {
        let obs = Observation {
            response_time: Duration::from_millis(ms),
            ..Observation::default()
        };
        let r = parse_ok(&format!("[RESPONSE_TIME] < {n}")).evaluate(&obs);
        prop_assert_eq!(r.success, i128::from(ms) < i128::from(n));
        prop_assert_eq!(r.detail, format!("[RESPONSE_TIME] ({ms}) < {n}"));
    }

    /// `[STATUS] == N` holds iff the status is `N`, in whichever base `N` is written;
    /// `!=` iff there is a status and it is not `N`; the detail shows the status.
    #[test]
    fn status_equals_n_iff_status_is_n(
        (status, n, written) in prop::option::of(prop_oneof![100u16..600, any::<u16>()])
            .prop_flat_map(|status| {
                // Half the time N is the status itself, written in another base.
                let n = match status {
                    Some(s) => prop_oneof![Just(i64::from(s)), 0i64..1000, any::<i64>()].boxed(),
                    None => prop_oneof![0i64..1000, any::<i64>()].boxed(),
                };
                (Just(status), n)
            })
            .prop_flat_map(|(status, n)| (Just(status), Just(n), go_int(n))),
    ) {
        let obs = Observation { status, ..Observation::default() };
        let eq = parse_ok(&format!("[STATUS] == {written}")).evaluate(&obs);
        let ne = parse_ok(&format!("[STATUS] != {written}")).evaluate(&obs);
        let is_n = status.map(i64::from) == Some(n);
        prop_assert_eq!(eq.success, is_n);
        prop_assert_eq!(ne.success, status.is_some() && !is_n);
        let shown = status.map_or_else(|| "INVALID".to_owned(), |s| s.to_string());
        prop_assert_eq!(&eq.detail, &format!("[STATUS] ({shown}) == {written}"));
        if !eq.success {
            let resolved = format!("({shown})");
            prop_assert!(eq.detail.contains(&resolved));
        }
    }

    /// `[BODY].items[*].id == K` holds iff there are items and every one has the id `K`;
    /// `!=` iff there are items and every one has an id that is not `K`.
    #[test]
    fn wildcard_holds_iff_it_holds_for_every_element(
        ids in vec(prop::option::of(0u8..4), 0..6),
        k in 0u8..4,
        as_array in any::<bool>(),
    ) {
        let items: Vec<Value> = ids
            .iter()
            .map(|id| id.map_or_else(|| serde_json::json!({}), |id| serde_json::json!({ "id": id })))
            .collect();
        let body = if as_array {
            serde_json::json!({ "items": items })
        } else {
            // Not an array: no elements, so nothing holds.
            serde_json::json!({ "items": { "id": k } })
        };
        let obs = Observation { body: Some(body.to_string()), ..Observation::default() };
        let eq = parse_ok(&format!("[BODY].items[*].id == {k}")).evaluate(&obs);
        let ne = parse_ok(&format!("[BODY].items[*].id != {k}")).evaluate(&obs);
        let some = as_array && !ids.is_empty();
        prop_assert_eq!(eq.success, some && ids.iter().all(|id| *id == Some(k)), "{}", eq.detail);
        prop_assert_eq!(
            ne.success,
            some && ids.iter().all(|id| id.is_some_and(|id| id != k)),
            "{}",
            ne.detail
        );
        if !some {
            prop_assert!(eq.detail.ends_with("(no elements matched)"), "{}", eq.detail);
        }
    }

    /// `P == any(a, b, …)` holds iff `P == a || P == b || …` does.
    #[test]
    fn any_is_a_chain_of_or(
        p in placeholder(false),
        values in any_values(),
        obs in observation(),
    ) {
        let p = p.write(CANONICAL);
        let with_any = parse_ok(&format!("{p} == any({})", values.join(", "))).evaluate(&obs);
        let chain: Vec<String> = values.iter().map(|v| format!("{p} == {v}")).collect();
        let with_or = parse_ok(&chain.join(" || ")).evaluate(&obs);
        prop_assert_eq!(with_any.success, with_or.success, "{} / {}", with_any.detail, with_or.detail);
    }

    /// A plain word matches `pat(word)` and `matches(^word$)` exactly when it equals it.
    #[test]
    fn plain_patterns_are_equality(
        word in "[a-z]{1,6}",
        // Not `/`, which `pat()` ignores as Gatus does.
        value in prop_oneof!["[a-z]{1,6}", "[^/]{0,8}"],
    ) {
        let obs = Observation {
            headers: vec![("x-v".to_owned(), value.clone())],
            ..Observation::default()
        };
        let eq = parse_ok(&format!("[HEADER].X-V == {word}")).evaluate(&obs);
        let pat = parse_ok(&format!("[HEADER].X-V == pat({word})")).evaluate(&obs);
        let re = parse_ok(&format!("[HEADER].X-V == matches(^{word}$)")).evaluate(&obs);
        prop_assert_eq!(eq.success, value == word);
        prop_assert_eq!(pat.success, eq.success);
        prop_assert_eq!(re.success, eq.success);
    }

    /// `has([HEADER].Name)` holds iff the header is there (any case), and `len()` counts the
    /// characters of its first value.
    #[test]
    fn has_and_len_of_headers(
        headers in headers(),
        name in prop::sample::select(HEADERS),
        upper in any::<bool>(),
    ) {
        let obs = Observation { headers: headers.clone(), ..Observation::default() };
        let written = if upper { name.to_ascii_uppercase() } else { name.to_owned() };
        let first = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        let has = parse_ok(&format!("has([HEADER].{written}) == true")).evaluate(&obs);
        prop_assert_eq!(has.success, first.is_some());
        let count = first.map_or(0, |(_, v)| v.chars().count());
        let len = parse_ok(&format!("len([HEADER].{written}) == {count}")).evaluate(&obs);
        prop_assert_eq!(len.success, first.is_some());
    }
}
