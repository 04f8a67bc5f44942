//! Passwords: argon2id, stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`),
//! so every stored hash says how it was made and an old one keeps verifying after the
//! parameters change ([`needs_rehash`] tells the caller to store a fresh one at the next
//! successful sign-in).
//!
//! The rules on a new password are length only, as NIST SP 800-63B asks: at least
//! [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_CHARS`] (a bound on the work a
//! stranger can make the server do). No composition rules; no trimming.
//!
//! A sign-in for an account that does not exist (or has no password) must take as long as one
//! that does, or the time of the answer tells a stranger which addresses have accounts:
//! [`verify_sign_in`] verifies against [`DUMMY_PHC`], made with the same parameters, when
//! there is no stored hash.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    ARGON2ID_IDENT,
};

/// Argon2id memory cost in KiB (19 MiB). OWASP's Password Storage Cheat Sheet gives, as the
/// minimum configuration for argon2id, m=19456 KiB, t=2, p=1 (one of its equivalent pairs;
/// m=47104, t=1 is another). They are also the `argon2` crate's defaults today, but are named
/// here so the crate changing its defaults is not a silent change to ours.
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id passes over memory (OWASP minimum configuration; see [`ARGON2_M_COST_KIB`]).
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id lanes (OWASP minimum configuration; see [`ARGON2_M_COST_KIB`]).
pub const ARGON2_P_COST: u32 = 1;
/// Bytes of argon2 output kept in the PHC string.
const OUTPUT_LEN: usize = 32;

/// The fewest characters (Unicode scalar values) a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most characters (Unicode scalar values) a password may have, new or presented.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The parameters above. `Params::new` is checked at compile time here (a `const`), so a
/// bad value is a build error, not a runtime one.
const PARAMS: Params = match Params::new(
    ARGON2_M_COST_KIB,
    ARGON2_T_COST,
    ARGON2_P_COST,
    Some(OUTPUT_LEN),
) {
    Ok(params) => params,
    Err(_) => panic!("the argon2 parameters are out of range"),
};

/// A hash of a password nobody knows (32 random characters, discarded), made with the current
/// parameters. [`verify_sign_in`] verifies against it when there is no account, so a missing
/// account costs the same time as a wrong password. The test
/// `dummy_hash_has_the_current_parameters` fails when the parameters change without it.
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$JYk1Q9bYUqP2SgOwRADmCg$tVJe/OzPJPJy3nCP17XBnBqF7op3HTeelYqbd2DIym0";

/// Why a password cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password is too short: it has {chars} characters and needs at least {MIN_PASSWORD_CHARS}")]
    TooShort {
        /// The characters it has.
        chars: usize,
    },
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("the password is too long: at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// The hasher failed (no randomness for the salt, no memory): Pharos's fault, not the
    /// person's.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The hasher with the current parameters.
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
}

/// Whether `password` may be set as a new password (its length; see the module doc).
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    // Bytes bound characters from above: a string of at most MAX bytes is short enough
    // without counting, and one of more than 4 × MAX bytes is too long without counting.
    if password.len() > 4 * MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort { chars });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Checks `password` ([`check_password`]) and hashes it with a fresh random salt: the PHC
/// string to store. Slow on purpose (run it off the async runtime).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_password(password)?;
    hasher()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from. The comparison is the `argon2`
/// crate's, constant time. A malformed `phc` or an overlong password is `false` (the latter
/// without hashing it). Slow on purpose (run it off the async runtime).
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > 4 * MAX_PASSWORD_CHARS || password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    hasher().verify_password(password.as_bytes(), &hash).is_ok()
}

/// The check at sign-in: `stored` is the account's PHC string, or `None` when there is no
/// such account or it has no password. Without one, the password is verified against
/// [`DUMMY_PHC`] all the same and the answer is `false`, so the two cases take the same time
/// and a stranger cannot tell from it whether an address has an account.
///
/// ```
/// use pharos_engine::people::verify_sign_in;
/// assert!(!verify_sign_in("correct horse battery staple", None));
/// ```
pub fn verify_sign_in(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(phc) => verify_password(password, phc),
        None => {
            // The work is the point; its answer is not (nobody knows DUMMY_PHC's password).
            let _ = verify_password(password, DUMMY_PHC);
            false
        }
    }
}

/// Whether `phc` was made otherwise than [`hash_password`] makes hashes now (another
/// algorithm or version, other costs, another output length) or cannot be read: after a
/// successful sign-in, hash the password again and store the new string.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return true;
    };
    hash.algorithm != ARGON2ID_IDENT
        || hash.version != Some(Version::V0x13.into())
        || params.m_cost() != ARGON2_M_COST_KIB
        || params.t_cost() != ARGON2_T_COST
        || params.p_cost() != ARGON2_P_COST
        || hash.hash.as_ref().map(|h| h.len()) != Some(OUTPUT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "correct horse battery staple";

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash_password(GOOD).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(GOOD, &phc));
        assert!(!verify_password("correct horse battery stapl", &phc));
        assert!(!verify_password("Correct horse battery staple", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
        // A fresh salt each time: the same password never hashes the same.
        let again = hash_password(GOOD).unwrap();
        assert_ne!(phc, again);
        assert!(verify_password(GOOD, &again));
        assert!(verify_sign_in(GOOD, Some(&phc)));
        assert!(!verify_sign_in("wrong password!", Some(&phc)));
    }

    #[test]
    fn length_is_the_only_rule() {
        assert_eq!(
            hash_password("elevenchars"),
            Err(PasswordError::TooShort { chars: 11 })
        );
        assert_eq!(
            PasswordError::TooShort { chars: 11 }.to_string(),
            "the password is too short: it has 11 characters and needs at least 12"
        );
        assert_eq!(check_password("twelve chars"), Ok(()));
        assert_eq!(
            check_password("aaaaaaaaaaaa"),
            Ok(()),
            "no composition rules"
        );
        // Characters, not bytes: eleven two-byte characters are still too short.
        assert_eq!(
            check_password(&"é".repeat(11)),
            Err(PasswordError::TooShort { chars: 11 })
        );
        assert_eq!(check_password(&"é".repeat(12)), Ok(()));
        // Spaces count; nothing is trimmed.
        assert_eq!(check_password("  ten chars "), Ok(()));
        assert_eq!(check_password(&"x".repeat(MAX_PASSWORD_CHARS)), Ok(()));
        assert_eq!(check_password(&"é".repeat(MAX_PASSWORD_CHARS)), Ok(()));
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_password(&"😀".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            PasswordError::TooLong.to_string(),
            "the password is too long: at most 1024 characters"
        );
    }

    #[test]
    fn an_overlong_or_malformed_input_is_false_not_an_error() {
        let phc = hash_password(GOOD).unwrap();
        assert!(!verify_password(&"x".repeat(MAX_PASSWORD_CHARS + 1), &phc));
        assert!(!verify_password(GOOD, ""));
        assert!(!verify_password(GOOD, "$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_password(GOOD, "plain text"));
        assert!(needs_rehash(""));
        assert!(needs_rehash("plain text"));
    }

    #[test]
    fn other_parameters_still_verify_and_ask_for_a_rehash() {
        let cheap = Params::new(1024, 1, 1, Some(OUTPUT_LEN)).unwrap();
        for (algorithm, params) in [
            (Algorithm::Argon2id, cheap.clone()),
            (Algorithm::Argon2i, PARAMS),
            (
                Algorithm::Argon2id,
                Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, Some(16)).unwrap(),
            ),
        ] {
            let phc = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(GOOD.as_bytes())
                .unwrap()
                .to_string();
            assert!(verify_password(GOOD, &phc), "{phc}");
            assert!(!verify_password("not the password", &phc), "{phc}");
            assert!(needs_rehash(&phc), "{phc}");
        }
        let old_version = Argon2::new(Algorithm::Argon2id, Version::V0x10, cheap)
            .hash_password(GOOD.as_bytes())
            .unwrap()
            .to_string();
        assert!(verify_password(GOOD, &old_version));
        assert!(needs_rehash(&old_version));
    }

    #[test]
    fn dummy_hash_has_the_current_parameters() {
        // When the parameters change, make a new DUMMY_PHC (hash any random password with
        // `hash_password` and forget it), or a missing account answers faster again.
        assert!(!needs_rehash(DUMMY_PHC), "regenerate DUMMY_PHC");
        assert!(!verify_sign_in(GOOD, None));
        assert!(!verify_sign_in("", None));
        assert!(!verify_password(GOOD, DUMMY_PHC));
    }
}
