//! Numbers the way Gatus reads them. The ordering operators (`<`, `<=`, `>`, `>=`) try each
//! side as a Go duration (`48h`, `1h30m`, `250ms`, turned into whole milliseconds), then as a
//! Go integer literal (`300`, `-5`, `0x1F`, `0o17`, `0b101`, `017`, `1_000`), then as a float.
//! `==` and `!=` only use the integer reading, so that `[BODY].id == 0x1` holds for `1`.
//! Durations are also written back the way Gatus shows them (`336h`, `1h30m`, `1m5s`).

use std::cmp::Ordering;

/// A value read as a number for an ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// An integer, or a duration in whole milliseconds.
    Int(i64),
    /// Anything else that reads as a float.
    Float(f64),
}

impl Num {
    /// Orders two numbers; integers compare exactly, anything involving a float as `f64`
    /// (Gatus truncates floats to integers first; we do not, so `0.3 < 0.5` holds).
    pub(crate) fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Precision loss past 2^53 is acceptable for a comparison against a float.
            #[allow(clippy::cast_precision_loss)]
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// Reads `s` as Gatus does for ordering: a non-zero duration (in ms), else an integer, else a
/// float. `None` when it is none of these (Gatus would silently use 0; we fail the comparison).
pub(crate) fn parse_number(s: &str) -> Option<Num> {
    if let Some(ns) = parse_go_duration(s) {
        if ns != 0 {
            // A Go duration fits in i64 nanoseconds, so milliseconds always fit too.
            return Some(Num::Int(i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)));
        }
    }
    if let Some(i) = parse_go_int(s) {
        return Some(Num::Int(i));
    }
    if !looks_like_float(s) {
        return None;
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| !f.is_nan())
        .map(Num::Float)
}

/// Rust's float parser also takes `inf`, `infinity` and `nan`, which Go does too; we keep
/// those out so that words like `Infinity` in a body stay words.
fn looks_like_float(s: &str) -> bool {
    let digits = s.trim_start_matches(['+', '-']);
    digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

/// Parses an integer like Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then a `0x`,
/// `0o`, `0b` or leading-`0` (octal) prefix, and `_` between digits.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits, prefixed) = match lower.as_deref() {
        Some("0x") => (16, &body[2..], true),
        Some("0o") => (8, &body[2..], true),
        Some("0b") => (2, &body[2..], true),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..], true),
        _ => (10, body, false),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    let mut previous_was_digit = prefixed;
    let mut saw_digit = false;
    let mut chars = digits.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' {
            // Go only allows `_` between digits (or right after a base prefix).
            let next_is_digit = chars.peek().is_some_and(|n| n.is_digit(radix));
            if !previous_was_digit || !next_is_digit {
                return None;
            }
            previous_was_digit = false;
            continue;
        }
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
        previous_was_digit = true;
        saw_digit = true;
    }
    if !saw_digit {
        return None;
    }
    if negative {
        if value == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(value).ok().map(|v| -v)
        }
    } else {
        i64::try_from(value).ok()
    }
}

/// Parses a duration like Go's `time.ParseDuration` (`300ms`, `1.5h`, `2h45m`, `-1m`; units
/// `ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`), returning nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let limit: u128 = if negative { 1 << 63 } else { (1 << 63) - 1 };
    let mut total: u128 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return None;
        }
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mut whole: u128 = 0;
        for c in rest[..int_len].chars() {
            whole = whole
                .checked_mul(10)?
                .checked_add(u128::from(c.to_digit(10)?))?;
            if whole > limit {
                return None;
            }
        }
        let mut had_digits = int_len > 0;
        rest = &rest[int_len..];
        let mut fraction: u128 = 0;
        let mut scale: u128 = 1;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            for c in after_dot[..frac_len].chars() {
                // Like Go, digits past what we can hold are dropped rather than overflowing.
                if scale < 10u128.pow(18) {
                    fraction = fraction * 10 + u128::from(c.to_digit(10)?);
                    scale *= 10;
                }
            }
            had_digits |= frac_len > 0;
            rest = &after_dot[frac_len..];
        }
        if !had_digits {
            return None;
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(whole.checked_mul(unit)?)?
            .checked_add(fraction * unit / scale)?;
        if total > limit {
            return None;
        }
    }
    let total = i128::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

/// Writes whole seconds the way Gatus shows a certificate's remaining time: Go's
/// `Duration.String()` without trailing zero units (`336h`, `1h30m`, `1h0m15s`, `90s` → `1m30s`).
pub(crate) fn format_go_duration_ms(ms: u128) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Writes a JSON float as Go's `fmt` `%v` does, since Gatus renders every JSON number through
/// a Go `float64`: integral values without a fraction (`1.0` → `1`), and exponent form only
/// below 1e-4 or from 1e21 on (`1e+21`, `1e-05`).
pub(crate) fn format_go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_owned()
        } else if f > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..21).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("200", Some(200)),
            ("+7", Some(7)),
            ("-7", Some(-7)),
            ("0x1F", Some(31)),
            ("0X1f", Some(31)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0b101", Some(5)),
            ("1_000", Some(1000)),
            ("0x_1F", Some(31)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("08", None),
            ("", None),
            ("-", None),
            ("0x", None),
            ("1.5", None),
            ("abc", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("+-1", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_int(input), *want, "{input}");
        }
    }

    #[test]
    fn go_durations() {
        let ms = |n: i128| Some(n * 1_000_000);
        let cases: &[(&str, Option<i128>)] = &[
            ("48h", ms(48 * 3_600_000)),
            ("1h30m", ms(5_400_000)),
            ("1.5h", ms(5_400_000)),
            ("300ms", ms(300)),
            ("-1m", ms(-60_000)),
            ("+2s", ms(2000)),
            (".5s", ms(500)),
            ("5.s", ms(5000)),
            ("1us", Some(1000)),
            ("1µs", Some(1000)),
            ("1μs", Some(1000)),
            ("3ns", Some(3)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("200", None),
            ("1d", None),
            ("h", None),
            (".s", None),
            ("", None),
            ("1h 30m", None),
            ("9999999999h", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), *want, "{input}");
        }
    }

    #[test]
    fn numbers_for_ordering() {
        let cases: &[(&str, Option<Num>)] = &[
            ("48h", Some(Num::Int(172_800_000))),
            ("300", Some(Num::Int(300))),
            ("0x10", Some(Num::Int(16))),
            ("1.5", Some(Num::Float(1.5))),
            ("1e3", Some(Num::Float(1000.0))),
            ("08", Some(Num::Float(8.0))),
            ("-0.25", Some(Num::Float(-0.25))),
            ("0s", None),
            ("500us", Some(Num::Int(0))),
            ("abc", None),
            ("inf", None),
            ("NaN", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_number(input), *want, "{input}");
        }
        assert_eq!(Num::Int(1).compare(Num::Float(1.5)), Some(Ordering::Less));
        assert_eq!(Num::Int(3).compare(Num::Int(3)), Some(Ordering::Equal));
    }

    #[test]
    fn go_duration_format() {
        let cases: &[(u128, &str)] = &[
            (0, "0s"),
            (999, "0s"),
            (10_000, "10s"),
            (90_000, "1m30s"),
            (60_000, "1m"),
            (3_600_000, "1h"),
            (5_400_000, "1h30m"),
            (3_615_000, "1h0m15s"),
            (1_209_600_000, "336h"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_go_duration_ms(*ms), *want, "{ms}");
        }
    }

    #[test]
    fn go_float_format() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (123.400_000_000_000_05, "123.40000000000005"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.0, "0"),
        ];
        for (f, want) in cases {
            assert_eq!(format_go_float(*f), *want, "{f}");
        }
    }
}
