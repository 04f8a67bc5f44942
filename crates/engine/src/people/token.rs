//! API tokens: `pht_<id>_<secret>`, shown once, stored as the SHA-256 of the secret.
//!
//! - `pht_` says what it is, so a leaked token is recognised by people and by secret
//!   scanners ([`TOKEN_PATTERN`] is the expression to register).
//! - `<id>` is [`TOKEN_ID_LEN`] characters of lowercase base32 (`a`–`z`, `2`–`7`): the
//!   token's row, looked up directly, and safe to show and log (the console lists tokens by
//!   it; the audit log names it).
//! - `<secret>` is 32 random bytes in base64url without padding (43 characters). Only its
//!   hash is stored ([`secret_hash`]); a lookup by id followed by [`verify_secret`], constant
//!   time, decides.
//!
//! The id has a fixed length, so the `_` that base64url may put in the secret never makes
//! the form ambiguous.

use std::fmt;

use rand::RngExt as _;

use super::{base64url, ct_eq, is_base64url_of, random_bytes, sha256_hex};

/// What every API token starts with.
pub const TOKEN_PREFIX: &str = "pht_";
/// Characters of a token's id.
pub const TOKEN_ID_LEN: usize = 12;
/// Random bytes of a token's secret.
pub const TOKEN_SECRET_BYTES: usize = 32;
/// Characters of a token's secret (32 bytes in unpadded base64url).
pub const TOKEN_SECRET_LEN: usize = 43;
/// A regular expression that matches a whole token and nothing shorter, for secret scanners
/// (GitHub's secret scanning partner programme, a pre-commit hook).
pub const TOKEN_PATTERN: &str = r"pht_[a-z2-7]{12}_[A-Za-z0-9_-]{43}";

/// The alphabet of ids: RFC 4648 base32, lowercase. 32 symbols, so a random byte's low five
/// bits pick one uniformly.
const ID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new token: what to store, and what to show its creator once.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// The token's id (the `<id>` part), safe to show and log.
    pub id: String,
    /// The SHA-256 of the secret, lowercase hex: what is stored.
    pub secret_hash: String,
    /// The whole token, `pht_<id>_<secret>`: shown to its creator once, never stored or
    /// logged.
    pub shown_once: String,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("secret_hash", &self.secret_hash)
            .field("shown_once", &"[redacted]")
            .finish()
    }
}

/// A new token with a random id and secret.
pub fn mint_token() -> MintedToken {
    let mut rng = rand::rng();
    let id: String = (0..TOKEN_ID_LEN)
        .map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())]))
        .collect();
    let secret = base64url(&random_bytes::<TOKEN_SECRET_BYTES>());
    MintedToken {
        secret_hash: secret_hash(&secret),
        shown_once: format!("{TOKEN_PREFIX}{id}_{secret}"),
        id,
    }
}

/// The id and secret of a token in exactly the form [`mint_token`] makes, else `None`: the
/// prefix, [`TOKEN_ID_LEN`] characters of the id alphabet, `_`, and the canonical base64url
/// of [`TOKEN_SECRET_BYTES`] bytes. Nothing is trimmed or case-folded (strip `Bearer `
/// first).
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let id = rest.get(..TOKEN_ID_LEN)?;
    let secret = rest.get(TOKEN_ID_LEN..)?.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| ID_ALPHABET.contains(&b));
    (id_ok && is_base64url_of(secret, TOKEN_SECRET_BYTES)).then_some((id, secret))
}

/// What is stored of a token's secret: its SHA-256, lowercase hex. A plain hash is enough:
/// 256 random bits cannot be searched for.
pub fn secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Whether `secret` is the one whose hash is `stored_hash`, compared in constant time.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    ct_eq(&secret_hash(secret), stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_reads_back_and_verifies() {
        let minted = mint_token();
        let (id, secret) = parse_token(&minted.shown_once).expect("its own form");
        assert_eq!(id, minted.id);
        assert_eq!(minted.shown_once.len(), 4 + 12 + 1 + 43);
        assert_eq!(secret.len(), TOKEN_SECRET_LEN);
        assert!(verify_secret(secret, &minted.secret_hash));
        assert_eq!(minted.secret_hash, secret_hash(secret));
        assert_eq!(minted.secret_hash.len(), 64);
        assert!(!minted.secret_hash.contains(secret));
        // Never twice the same.
        let other = mint_token();
        assert_ne!(other.id, minted.id);
        assert_ne!(other.shown_once, minted.shown_once);
        assert!(!verify_secret(
            parse_token(&other.shown_once).unwrap().1,
            &minted.secret_hash
        ));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let minted = mint_token();
        let debug = format!("{minted:?}");
        assert!(!debug.contains(&minted.shown_once), "{debug}");
        assert!(
            debug.contains(&minted.id) && debug.contains("[redacted]"),
            "{debug}"
        );
    }

    #[test]
    fn the_scanners_pattern_matches_tokens() {
        let pattern = regex::Regex::new(&format!("^{TOKEN_PATTERN}$")).unwrap();
        for _ in 0..200 {
            let minted = mint_token();
            assert!(
                pattern.is_match(&minted.shown_once),
                "{}",
                minted.shown_once
            );
            assert!(minted.id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn parsing_is_strict() {
        let secret = base64url(&[7u8; 32]);
        let good = format!("pht_abcdefgh2345_{secret}");
        assert_eq!(parse_token(&good), Some(("abcdefgh2345", secret.as_str())));
        // A secret may itself start with `_` or `-`: the id's length decides.
        let mut odd = [0xffu8; 32];
        odd[0] = 0xfc;
        let underscore = base64url(&odd);
        assert!(underscore.starts_with('_'), "{underscore}");
        let t = format!("pht_abcdefgh2345_{underscore}");
        assert_eq!(parse_token(&t), Some(("abcdefgh2345", underscore.as_str())));

        for bad in [
            String::new(),
            "pht_".into(),
            secret.clone(),
            format!("PHT_abcdefgh2345_{secret}"),
            format!("ghp_abcdefgh2345_{secret}"),
            format!("pht_ABCDEFGH2345_{secret}"),
            format!("pht_abcdefgh2340_{secret}"), // 0 is not base32
            format!("pht_abcdefgh234_{secret}"),
            format!("pht_abcdefgh23456_{secret}"),
            format!("pht_abcdefgh2345-{secret}"),
            format!("pht_abcdefgh2345{secret}"),
            format!("pht_abcdefgh2345_{}", &secret[1..]),
            format!("pht_abcdefgh2345_{secret}A"),
            format!("pht_abcdefgh2345_{secret}="),
            format!(" pht_abcdefgh2345_{secret}"),
            format!("pht_abcdefgh2345_{secret} "),
            format!("pht_abcdefgh2345_{}+", &secret[..42]),
            format!("pht_abcdéfgh2345_{secret}"),
        ] {
            assert_eq!(parse_token(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_wrong_secret_or_hash_does_not_verify() {
        let minted = mint_token();
        let (_, secret) = parse_token(&minted.shown_once).unwrap();
        assert!(!verify_secret(secret, &minted.secret_hash.to_uppercase()));
        assert!(!verify_secret(secret, ""));
        assert!(!verify_secret("", &minted.secret_hash));
        assert!(!verify_secret(&minted.shown_once, &minted.secret_hash));
    }
}
