//! `pat()` patterns: Go's `filepath.Match` glob as Gatus uses it. `*` matches any run of
//! characters, `?` any one character, `[a-z]` / `[^0-9]` a class, and `\x` the character `x`.
//! Gatus removes `/` from both the pattern and the value before matching (so that `*` can
//! cross path separators); we do the same. A malformed pattern (an unclosed class, a trailing
//! `\`, an empty class) is a parse error here, where Gatus would silently never match.

/// One compiled glob element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
    /// A literal character.
    Char(char),
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled `pat()` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

/// Why a pattern is malformed: the byte offset in the pattern and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobError {
    /// Byte offset within the pattern text.
    pub offset: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl Glob {
    /// Compiles a pattern, ignoring `/` characters as Gatus does.
    pub(crate) fn compile(pattern: &str) -> Result<Glob, GlobError> {
        let mut chars = pattern.char_indices().filter(|&(_, c)| c != '/').peekable();
        let mut tokens = Vec::new();
        while let Some((at, c)) = chars.next() {
            let token = match c {
                '*' => {
                    // Consecutive stars mean the same as one.
                    if tokens.last() == Some(&Token::Star) {
                        continue;
                    }
                    Token::Star
                }
                '?' => Token::One,
                '\\' => match chars.next() {
                    Some((_, escaped)) => Token::Char(escaped),
                    None => {
                        return Err(GlobError {
                            offset: at,
                            message: "a pattern cannot end with '\\'",
                        })
                    }
                },
                '[' => {
                    let negated = chars.next_if(|&(_, c)| c == '^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let Some((item_at, first)) = chars.next() else {
                            return Err(GlobError {
                                offset: at,
                                message: "unclosed '[' in pattern",
                            });
                        };
                        if first == ']' && !ranges.is_empty() {
                            break;
                        }
                        let lo = class_char(first, item_at, &mut chars)?;
                        let hi = if chars.next_if(|&(_, c)| c == '-').is_some() {
                            match chars.next() {
                                Some((hi_at, hi)) => class_char(hi, hi_at, &mut chars)?,
                                None => {
                                    return Err(GlobError {
                                        offset: at,
                                        message: "unclosed '[' in pattern",
                                    })
                                }
                            }
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// Whether `text` (with its `/` characters ignored) matches the whole pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        // Classic linear-time wildcard matching: on a mismatch, let the most recent `*`
        // swallow one more character and retry from just after it.
        let next_char = |from: usize| -> Option<(char, usize)> {
            let mut at = from;
            loop {
                let c = text.get(at..)?.chars().next()?;
                at += c.len_utf8();
                if c != '/' {
                    return Some((c, at));
                }
            }
        };
        let (mut t, mut s) = (0usize, 0usize);
        let mut resume: Option<(usize, usize)> = None;
        loop {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    resume = Some((t + 1, s));
                    t += 1;
                    continue;
                }
                Some(token) => {
                    if let Some((c, next)) = next_char(s) {
                        if token.accepts(c) {
                            t += 1;
                            s = next;
                            continue;
                        }
                    }
                }
                None => {
                    if next_char(s).is_none() {
                        return true;
                    }
                }
            }
            match resume {
                Some((after_star, from)) => match next_char(from) {
                    Some((_, next)) => {
                        resume = Some((after_star, next));
                        t = after_star;
                        s = next;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star => true,
            Token::One => true,
            Token::Char(x) => *x == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// One character of a class: `-` and `]` must be escaped where they would be ambiguous.
fn class_char(
    c: char,
    at: usize,
    chars: &mut impl Iterator<Item = (usize, char)>,
) -> Result<char, GlobError> {
    match c {
        '\\' => chars.next().map(|(_, e)| e).ok_or(GlobError {
            offset: at,
            message: "a pattern cannot end with '\\'",
        }),
        '-' | ']' => Err(GlobError {
            offset: at,
            message: "'-' and ']' must be escaped with '\\' inside a [...] class",
        }),
        c => Ok(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything at all", true),
            ("john*", "john.doe", true),
            ("john*", "bob", false),
            ("2*", "200", true),
            ("2*", "500", false),
            ("192.168.*", "192.168.1.10", true),
            ("192.168.*", "10.0.0.1", false),
            ("*.example.com", "api.example.com", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*ok*", "status: ok!", true),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[^a-c]x", "dx", true),
            ("[^a-c]x", "ax", false),
            ("[]a]", "]", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[\\]]", "]", true),
            ("a/b*", "ab/cd", true),
            ("*/health", "https://x/health", true),
            ("é?", "éa", true),
            ("**", "", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (pattern, text, want) in cases {
            let glob = match Glob::compile(pattern) {
                Ok(g) => g,
                Err(_) if !want => continue,
                Err(e) => panic!("{pattern}: {e:?}"),
            };
            assert_eq!(glob.matches(text), *want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn malformed() {
        let cases: &[(&str, usize)] =
            &[("[abc", 0), ("x\\", 1), ("[]", 1), ("a[-b]", 2), ("[a-", 0)];
        for (pattern, offset) in cases {
            let err = Glob::compile(pattern).expect_err(pattern);
            assert_eq!(err.offset, *offset, "{pattern}: {err:?}");
        }
    }
}
