//! Stable identifiers. A component or monitor id is chosen by the user, appears in every API
//! and URL, and must survive restarts, so it is validated once at the edge and carried as a
//! newtype afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is the empty string.
    #[error("id must not be empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] characters.
    #[error("id must be at most {MAX_ID_LEN} characters")]
    TooLong,
    /// The id holds a character outside `[a-z0-9_-]`.
    #[error("id {0:?} may only contain lowercase letters, digits, '-' and '_'")]
    BadCharacter(String),
}

/// Longest id accepted, so ids stay readable in URLs and fit any index.
pub const MAX_ID_LEN: usize = 64;

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(IdError::BadCharacter(s.to_owned()));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s` as an id: `[a-z0-9_-]+`, at most [`MAX_ID_LEN`] characters.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Identifies a component (or a component group) on the status page.
    ComponentId
);
id_type!(
    /// Identifies a monitor: one check of one target.
    MonitorId
);
id_type!(
    /// Identifies a place monitors are checked from (`[[locations]]`); `local` is the server
    /// itself.
    LocationId
);

impl LocationId {
    /// The id of the server's own location, where monitors are checked by default.
    pub const LOCAL: &'static str = "local";

    /// The server's own location.
    pub fn local() -> Self {
        Self(Self::LOCAL.to_owned())
    }

    /// Whether this is the server's own location.
    pub fn is_local(&self) -> bool {
        self.0 == Self::LOCAL
    }
}

/// Turns a display name into an id-shaped slug ("Core services" → "core-services"), used for
/// group ids derived from group names.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else if !out.is_empty() && !dash {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(MAX_ID_LEN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(ComponentId::new("api_v2-eu").is_ok());
        assert_eq!(ComponentId::new(""), Err(IdError::Empty));
        assert!(matches!(
            MonitorId::new("Api"),
            Err(IdError::BadCharacter(_))
        ));
        assert_eq!(MonitorId::new("x".repeat(65)), Err(IdError::TooLong));
    }

    #[test]
    fn slugs_group_names() {
        assert_eq!(slugify("Core services"), "core-services");
        assert_eq!(slugify("  EU / West!! "), "eu-west");
    }
}
