//! What the loader tells the user: located diagnostics, printed the way compilers print them
//! (`FILE:LINE:COLUMN: error: message`), and the byte-offset → line:column conversion behind
//! them.

use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The file is refused: `pharos validate` exits 1 and `serve` does not start.
    Error,
    /// Worth fixing, but the file is usable as it is.
    Warning,
}

impl Severity {
    /// The word printed in a diagnostic: `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a configuration file, located at the offending key or value.
///
/// Displays as `FILE:LINE:COLUMN: error: message` (or `warning:`), which editors and CI
/// logs turn into links.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {severity}: {message}")]
pub struct Diagnostic {
    /// The file as the user named it (or the label given to [`super::parse_str`]).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence without a trailing period.
    pub message: String,
}

impl Diagnostic {
    /// Whether this diagnostic refuses the file.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Turns byte offsets into 1-based line and character column.
pub(super) struct LineIndex<'a> {
    src: &'a str,
    /// Byte offset at which each line starts; the first is always 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { src, starts }
    }

    /// The 1-based `(line, column)` of byte `offset`; offsets past the end or inside a
    /// multi-byte character are clamped to the nearest character start before them.
    pub(super) fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        // `starts[0] == 0 <= offset`, so the partition point is at least 1.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.src[start..offset].chars().count() + 1;
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_character_columns() {
        let idx = LineIndex::new("ab\nçé = 1\n\nx");
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(2), (1, 3));
        assert_eq!(idx.locate(3), (2, 1));
        // "çé" is four bytes but two characters.
        assert_eq!(idx.locate(7), (2, 3));
        // Inside "ç": clamped to its start.
        assert_eq!(idx.locate(4), (2, 1));
        assert_eq!(idx.locate(12), (3, 1));
        assert_eq!(idx.locate(13), (4, 1));
        assert_eq!(idx.locate(14), (4, 2));
        assert_eq!(idx.locate(999), (4, 2));
        assert_eq!(LineIndex::new("").locate(0), (1, 1));
    }

    #[test]
    fn displays_like_a_compiler() {
        let d = Diagnostic {
            file: "pharos.toml".into(),
            line: 3,
            column: 7,
            severity: Severity::Warning,
            message: "something".into(),
        };
        assert_eq!(d.to_string(), "pharos.toml:3:7: warning: something");
        assert!(!d.is_error());
    }
}
