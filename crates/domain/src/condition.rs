//! The Gatus condition language (placeholder for the real parser; see the interface).

use serde::{Serialize, Serializer};

use crate::check::Observation;

/// A parsed condition such as `[STATUS] == 200`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
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
        Ok(Condition {
            source: source.to_owned(),
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether evaluating needs the response body.
    pub fn needs_body(&self) -> bool {
        self.source.contains("[BODY]")
    }

    /// Evaluates against one observation.
    pub fn evaluate(&self, _obs: &Observation) -> ConditionResult {
        ConditionResult {
            success: true,
            detail: self.source.clone(),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}
