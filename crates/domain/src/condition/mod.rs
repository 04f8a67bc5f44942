//! The condition language: Gatus's, so Gatus users can paste their conditions, plus a few
//! Pharos additions. A condition is parsed once, when the configuration is loaded, and then
//! evaluated against every [`Observation`] cheaply: regexes and patterns are compiled at parse
//! time, and the body is parsed as JSON at most once per evaluation.
//!
//! # Grammar
//!
//! ```text
//! condition   := comparison ( " || " comparison )*          -- Pharos: holds if any holds
//! comparison  := operand " " op " " operand                  -- op needs a space each side
//! op          := "==" | "!=" | "<" | "<=" | ">" | ">="
//! operand     := placeholder
//!              | "len(" placeholder ")" | "has(" placeholder ")"
//!              | "pat(" glob ")" | "any(" value ( "," value )* ")"
//!              | "matches(" regex ")"                        -- Pharos
//!              | literal                                     -- any other text, trimmed
//! placeholder := "[STATUS]" | "[RESPONSE_TIME]" | "[IP]" | "[CONNECTED]"
//!              | "[CERTIFICATE_EXPIRATION]" | "[DNS_RCODE]"
//!              | "[BODY]" path?                              -- path: .key  [0]  [*]
//!              | "[HEADER]." name                            -- Pharos, case-insensitive
//! ```
//!
//! Placeholder and function names are case-insensitive. As in Gatus, the operator is found by
//! looking for ` == `, then ` != `, ` <= `, ` >= `, ` > `, ` < `, so a literal may contain
//! spaces and the other operators (`[BODY].title == a < b`). Brackets and parentheses must
//! balance, and splitting only happens outside them; `\` escapes one character from that
//! count (write `matches(\()` for a literal parenthesis).
//!
//! # Semantics
//!
//! - `==` / `!=` compare text, except that two Go integer literals compare as numbers
//!   (`0x1F == 31`). `pat()` (a glob: `*`, `?`, `[a-z]`), `any()` (equal to one of the values)
//!   and `matches()` (a regex, unanchored: use `^…$`) may stand on either side of `==`/`!=`.
//! - `<` `<=` `>` `>=` read each side as a Go duration in milliseconds (`48h`), else a Go
//!   integer, else a float. A literal that is none of these is a parse error; a resolved value
//!   that is none of these fails the comparison (Gatus would silently use 0), and floats are
//!   compared as floats (Gatus truncates them to integers).
//! - `[RESPONSE_TIME]` and `[CERTIFICATE_EXPIRATION]` are milliseconds; `[CONNECTED]` is
//!   `true` or `false`; `[BODY]` is the trimmed body; `[BODY].path` is what the JSON path
//!   points at (see `jsonpath` for how values are written).
//! - `len()` is the element count of an array, else the character count of the value (minified
//!   JSON for an object). `has()` is `true` when a JSON path exists and is not `null`, a header
//!   is present, or another placeholder has a non-empty value.
//! - A `[*]` in a `[BODY]` path makes the comparison hold only if it holds for every element
//!   (an empty or missing array fails), as in Gatus.
//! - A value the observation lacks — `[STATUS]` with no response, a missing JSON path or
//!   header — is shown as `(INVALID)`, and every comparison that needs it fails, even `!=`.
//!
//! The detail of a result shows what each placeholder resolved to, like Gatus:
//! `[STATUS] (503) == 200`, `[BODY].status (DOWN) == UP`, `[CERTIFICATE_EXPIRATION] (24h) > 48h`.
//!
//! Not supported: Gatus's `[DOMAIN_EXPIRATION]`, `[CONTEXT]` (suites) and `age()`, which are
//! parse errors saying so.

mod eval;
mod glob;
mod jsonpath;
mod number;
mod parse;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::check::Observation;

/// A parsed condition such as `[STATUS] == 200`.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    alternatives: Vec<parse::Comparison>,
    needs_body: bool,
}

/// A condition that does not parse, with the 1-based column (in characters) of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// 1-based character column within the condition text.
    pub column: usize,
    /// What is wrong, e.g. "unknown placeholder [STATU]".
    pub message: String,
}

/// The result of evaluating one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionResult {
    /// Whether it held.
    pub success: bool,
    /// The condition with placeholders resolved, e.g. `[STATUS] (503) == 200`.
    pub detail: String,
}

impl Condition {
    /// Parses one condition.
    pub fn parse(source: &str) -> Result<Condition, ConditionError> {
        let alternatives = parse::parse(source).map_err(|e| ConditionError {
            column: parse::column_of(source, e.at),
            message: e.message,
        })?;
        let needs_body = alternatives
            .iter()
            .flat_map(|c| [&c.left, &c.right])
            .any(|side| matches!(side.accessor(), Some(parse::Accessor::Body(_))));
        Ok(Condition {
            source: source.to_owned(),
            alternatives,
            needs_body,
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether evaluating needs the response body (any `[BODY]`, including in `len()`/`has()`).
    pub fn needs_body(&self) -> bool {
        self.needs_body
    }

    /// Evaluates against one observation. Never panics: values the observation lacks make
    /// the comparisons that need them fail.
    pub fn evaluate(&self, obs: &Observation) -> ConditionResult {
        let ctx = eval::Context::new(obs);
        let mut success = false;
        let mut detail = String::new();
        for (i, alternative) in self.alternatives.iter().enumerate() {
            let (holds, text) = eval::evaluate(alternative, &self.source, &ctx);
            success |= holds;
            if i > 0 {
                detail.push_str(" || ");
            }
            detail.push_str(&text);
        }
        ConditionResult { success, detail }
    }
}

/// Two conditions are equal when they were written the same way (the parse is a function of
/// the text).
impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Condition {
    type Err = ConditionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    /// Reads a condition written by its `Serialize` (its source text).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}
