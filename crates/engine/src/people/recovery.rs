//! Recovery codes: what signs a person in when their authenticator is lost. Ten at a time,
//! each good once, shown once and stored as the SHA-256 of its normalised form.
//!
//! A code is ten characters shown as `xxxx-xxxx-xx`, from an alphabet with no look-alikes
//! (no `0`/`o`, `1`/`i`/`l`): 31 symbols, about 49.5 bits per code. On entry case, dashes and
//! spaces do not matter. Using a code is the caller's to record (delete its hash), and the
//! caller's to rate-limit, as for passwords.

use std::fmt;

use rand::RngExt as _;

use super::{ct_eq, sha256_hex};

/// Codes in one set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a code, dashes aside.
pub const RECOVERY_CODE_CHARS: usize = 10;
/// The alphabet: digits 2–9 and lowercase letters without `i`, `l` and `o`.
const ALPHABET: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A new set of codes: what to show once, and what to store.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes {
    /// The codes as shown, `xxxx-xxxx-xx`: shown once, never stored or logged.
    pub shown_once: Vec<String>,
    /// Their hashes ([`recovery_code_hash`]), in the same order: what is stored.
    pub hashes: Vec<String>,
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("shown_once", &"[redacted]")
            .field("hashes", &self.hashes)
            .finish()
    }
}

/// A new set of [`RECOVERY_CODE_COUNT`] distinct random codes.
pub fn mint_recovery_codes() -> RecoveryCodes {
    let mut rng = rand::rng();
    let mut normalised: Vec<String> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while normalised.len() < RECOVERY_CODE_COUNT {
        let code: String = (0..RECOVERY_CODE_CHARS)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        if !normalised.contains(&code) {
            normalised.push(code);
        }
    }
    RecoveryCodes {
        shown_once: normalised
            .iter()
            .map(|c| format!("{}-{}-{}", &c[..4], &c[4..8], &c[8..]))
            .collect(),
        hashes: normalised
            .iter()
            .map(|c| sha256_hex(c.as_bytes()))
            .collect(),
    }
}

/// A code as entered, made canonical: lowercase, without dashes or whitespace. `None` when
/// it is not ten characters of the alphabet.
pub fn normalise_recovery_code(entered: &str) -> Option<String> {
    let code: String = entered
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok = code.len() == RECOVERY_CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b));
    ok.then_some(code)
}

/// The stored form of a code as entered: the SHA-256 hex of its normalised form, or `None`
/// when it is not a code at all.
pub fn recovery_code_hash(entered: &str) -> Option<String> {
    normalise_recovery_code(entered).map(|code| sha256_hex(code.as_bytes()))
}

/// Which of `stored` (a person's unused codes' hashes) the entered code is, comparing with
/// every one in constant time.
pub fn find_recovery_code<S: AsRef<str>>(entered: &str, stored: &[S]) -> Option<usize> {
    let hash = recovery_code_hash(entered)?;
    stored
        .iter()
        .enumerate()
        .filter(|(_, s)| ct_eq(&hash, s.as_ref()))
        .map(|(i, _)| i)
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_in_the_shown_form() {
        let set = mint_recovery_codes();
        assert_eq!(set.shown_once.len(), RECOVERY_CODE_COUNT);
        assert_eq!(set.hashes.len(), RECOVERY_CODE_COUNT);
        for (code, hash) in set.shown_once.iter().zip(&set.hashes) {
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [4, 4, 2],
                "{code}"
            );
            assert!(
                code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)),
                "{code}"
            );
            assert_eq!(recovery_code_hash(code).as_ref(), Some(hash));
        }
        let mut unique = set.hashes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
        assert_ne!(mint_recovery_codes().hashes, set.hashes);
        let debug = format!("{set:?}");
        assert!(!debug.contains(&set.shown_once[0]), "{debug}");
    }

    #[test]
    fn the_alphabet_has_no_look_alikes() {
        for c in b"01ilo" {
            assert!(!ALPHABET.contains(c), "{}", char::from(*c));
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn entry_ignores_case_dashes_and_spaces() {
        let canonical = "abcd2345xy";
        let hash = sha256_hex(canonical.as_bytes());
        for entered in [
            "abcd-2345-xy",
            "ABCD-2345-XY",
            "abcd2345xy",
            " abcd 2345 xy ",
            "Ab-cd-23-45-xY",
        ] {
            assert_eq!(
                normalise_recovery_code(entered).as_deref(),
                Some(canonical),
                "{entered}"
            );
            assert_eq!(
                recovery_code_hash(entered).as_ref(),
                Some(&hash),
                "{entered}"
            );
        }
        for bad in [
            "",
            "abcd-2345-x",
            "abcd-2345-xyz",
            "abcd-2345-x0",
            "abcd_2345_xy",
            "abcd-2345-xé",
        ] {
            assert_eq!(normalise_recovery_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_code_is_found_among_the_stored_ones() {
        let set = mint_recovery_codes();
        for (i, code) in set.shown_once.iter().enumerate() {
            assert_eq!(find_recovery_code(code, &set.hashes), Some(i));
            assert_eq!(
                find_recovery_code(&code.to_uppercase().replace('-', " "), &set.hashes),
                Some(i)
            );
        }
        // Once used (its hash deleted), it is no longer found.
        let rest = &set.hashes[1..];
        assert_eq!(find_recovery_code(&set.shown_once[0], rest), None);
        assert_eq!(find_recovery_code("not a code", &set.hashes), None);
        let other = mint_recovery_codes();
        assert_eq!(find_recovery_code(&other.shown_once[0], &set.hashes), None);
    }
}
