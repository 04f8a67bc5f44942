//! String values with their positions: which source byte each character of a decoded TOML
//! string came from, kept through `${ENV_VAR}` interpolation, so that an error found deep
//! inside a value (a condition's bad placeholder, a missing variable) points at the exact
//! character in the file.
//!
//! Interpolation rules: `${NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`) is replaced by the
//! variable's value; a missing variable is an error. `$${` is a literal `${` (so `$${HOME}`
//! stays `${HOME}`). Any other `$` is kept as it is. Substituted text is not interpolated
//! again.

/// A string value after decoding and interpolation, with the source position of every
/// character.
#[derive(Debug, Clone)]
pub(super) struct Str {
    /// The final text.
    pub text: String,
    /// Byte offset in the file of each character of `text` (substituted characters point at
    /// the `$` of their `${…}`).
    offsets: Vec<usize>,
    /// Byte offset of the value's opening quote.
    pub at: usize,
    /// Byte offset of the closing quote, for "at the end" positions.
    end: usize,
}

impl Str {
    /// Byte offset in the file of the character at 0-based character index `index` of the
    /// final text; one past the last character is the closing quote.
    pub(super) fn char_at(&self, index: usize) -> usize {
        self.offsets.get(index).copied().unwrap_or(self.end)
    }
}

/// Where each decoded character of a TOML string literal sits in the file.
///
/// `raw` is the literal as written (delimiters included), starting at byte `base`;
/// `decoded` is the value toml_edit produced. Returns the offset of each character and of
/// the closing delimiter. Falls back to an approximation if the literal is not recognised or
/// its decoding does not line up (never expected, but a wrong column beats a panic).
pub(super) fn locate_chars(raw: &str, base: usize, decoded: &str) -> (Vec<usize>, usize) {
    if let Some(found) = exact_offsets(raw, base, decoded) {
        return found;
    }
    let last = base + raw.len().saturating_sub(1);
    let offsets = (0..decoded.chars().count())
        .map(|i| (base + 1 + i).min(last))
        .collect();
    (offsets, last)
}

fn exact_offsets(raw: &str, base: usize, decoded: &str) -> Option<(Vec<usize>, usize)> {
    let (delim, basic) = if raw.starts_with("\"\"\"") {
        (3, true)
    } else if raw.starts_with("'''") {
        (3, false)
    } else if raw.starts_with('"') {
        (1, true)
    } else if raw.starts_with('\'') {
        (1, false)
    } else {
        return None;
    };
    if raw.len() < 2 * delim {
        return None;
    }
    let body = raw.get(delim..raw.len() - delim)?;
    let body_base = base + delim;
    let multiline = delim == 3;
    let bytes = body.as_bytes();
    let mut i = 0;
    // "A newline immediately following the opening delimiter will be trimmed."
    if multiline {
        if body.starts_with("\r\n") {
            i = 2;
        } else if body.starts_with('\n') {
            i = 1;
        }
    }
    let mut offsets = Vec::with_capacity(decoded.len());
    while i < body.len() {
        let c = body.get(i..)?.chars().next()?;
        if basic && c == '\\' {
            let next = *bytes.get(i + 1)?;
            let len = match next {
                b'b' | b't' | b'n' | b'f' | b'r' | b'"' | b'\\' | b'e' => 2,
                b'x' => 4,
                b'u' => 6,
                b'U' => 10,
                b' ' | b'\t' | b'\r' | b'\n' if multiline => {
                    // Line-ending backslash: it and all whitespace and newlines after it vanish.
                    i += 1;
                    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
                        i += 1;
                    }
                    continue;
                }
                _ => return None,
            };
            offsets.push(body_base + i);
            i += len;
        } else {
            offsets.push(body_base + i);
            i += c.len_utf8();
        }
    }
    if offsets.len() != decoded.chars().count() {
        return None;
    }
    Some((offsets, body_base + body.len()))
}

/// A problem found while interpolating, at a byte offset in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InterpolationError {
    /// Byte offset of the `$` that starts the bad reference.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

/// Builds a [`Str`] from a decoded value and its character positions, replacing every
/// `${NAME}` by `env(NAME)`. Reports every bad reference in the string, not just the first.
pub(super) fn interpolate(
    text: &str,
    offsets: Vec<usize>,
    at: usize,
    end: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Str, Vec<InterpolationError>> {
    if !text.contains('$') {
        return Ok(Str {
            text: text.to_owned(),
            offsets,
            at,
            end,
        });
    }
    let chars: Vec<char> = text.chars().collect();
    let pos = |i: usize| offsets.get(i).copied().unwrap_or(end);
    let mut out = String::with_capacity(text.len());
    let mut out_offsets = Vec::with_capacity(offsets.len());
    let mut errors = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '$' && next == Some('$') && chars.get(i + 2) == Some(&'{') {
            // `$${` is a literal `${`.
            out.push('$');
            out_offsets.push(pos(i + 1));
            out.push('{');
            out_offsets.push(pos(i + 2));
            i += 3;
            continue;
        }
        if c == '$' && next == Some('{') {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                errors.push(InterpolationError {
                    at: pos(i),
                    message: "unclosed `${` in string (write `$${` for a literal `${`)".into(),
                });
                break;
            };
            let name: String = chars[i + 2..i + 2 + close].iter().collect();
            if !is_env_name(&name) {
                errors.push(InterpolationError {
                    at: pos(i),
                    message: format!(
                        "`${{{name}}}` is not a valid environment variable reference: names are \
                         letters, digits and `_`, not starting with a digit (write `$${{` for a \
                         literal `${{`)"
                    ),
                });
            } else if let Some(value) = env(&name) {
                for v in value.chars() {
                    out.push(v);
                    out_offsets.push(pos(i));
                }
            } else {
                errors.push(InterpolationError {
                    at: pos(i),
                    message: format!("environment variable `{name}` is not set"),
                });
            }
            i += close + 3;
            continue;
        }
        out.push(c);
        out_offsets.push(pos(i));
        i += 1;
    }
    if errors.is_empty() {
        Ok(Str {
            text: out,
            offsets: out_offsets,
            at,
            end,
        })
    } else {
        Err(errors)
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(raw: &str, decoded: &str) -> Vec<usize> {
        exact_offsets(raw, 100, decoded).expect("maps exactly").0
    }

    #[test]
    fn maps_plain_and_literal_strings() {
        assert_eq!(offsets(r#""ab""#, "ab"), vec![101, 102]);
        assert_eq!(offsets("'a\\b'", "a\\b"), vec![101, 102, 103]);
        assert_eq!(exact_offsets(r#""ab""#, 100, "ab").map(|f| f.1), Some(103));
    }

    #[test]
    fn maps_escapes_to_their_backslash() {
        // a \n \u00e9 \\ b
        assert_eq!(
            offsets(r#""a\n\u00e9\\b""#, "a\né\\b"),
            vec![101, 102, 104, 110, 112]
        );
        assert_eq!(offsets(r#""\U0001F600x""#, "😀x"), vec![101, 111]);
    }

    #[test]
    fn maps_multibyte_characters_by_byte() {
        assert_eq!(offsets(r#""éa""#, "éa"), vec![101, 103]);
    }

    #[test]
    fn maps_multiline_strings() {
        let raw = "\"\"\"\nab \\\n   c\"\"\"";
        assert_eq!(offsets(raw, "ab c"), vec![104, 105, 106, 112]);
        assert_eq!(offsets("'''\nx'''", "x"), vec![104]);
    }

    #[test]
    fn falls_back_when_decoding_does_not_line_up() {
        let (offs, end) = locate_chars(r#""ab""#, 10, "abc");
        assert_eq!(offs, vec![11, 12, 13]);
        assert_eq!(end, 13);
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn interp(text: &str) -> Result<Str, Vec<InterpolationError>> {
        let offsets = (0..text.chars().count()).collect();
        interpolate(text, offsets, 0, text.chars().count(), &env)
    }

    #[test]
    fn substitutes_and_keeps_positions() {
        let s = interp("x${HOST}:5${EMPTY}").unwrap();
        assert_eq!(s.text, "xdb.internal:5");
        assert_eq!(s.char_at(0), 0);
        // Every substituted character points at the `$`.
        assert_eq!(s.char_at(1), 1);
        assert_eq!(s.char_at(11), 1);
        assert_eq!(s.char_at(12), 8);
        assert_eq!(s.char_at(13), 9);
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(
            interp("$${HOST} costs $5 $$").unwrap().text,
            "${HOST} costs $5 $$"
        );
    }

    #[test]
    fn reports_every_bad_reference() {
        let errs = interp("${NOPE} ${1X} ${HOST} ${ALSO_NOPE}").unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.at, e.message.as_str())).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (0, "environment variable `NOPE` is not set"));
        assert_eq!(got[1].0, 8);
        assert!(got[1].1.starts_with("`${1X}` is not a valid"));
        assert_eq!(got[2], (22, "environment variable `ALSO_NOPE` is not set"));
    }

    #[test]
    fn reports_unclosed_reference() {
        let errs = interp("ab${HOST").unwrap_err();
        assert_eq!(errs[0].at, 2);
        assert!(errs[0].message.starts_with("unclosed `${`"));
    }
}
