//! The console's sessions: a random cookie value, stored only as its SHA-256 (so a copy of
//! the database signs nobody in), and the CSRF token bound to the session.
//!
//! The CSRF token is HMAC-SHA256 over the session's stored id hash, keyed with a server key,
//! so it needs no storage of its own, changes with every session, and is worthless with any
//! other session: a form carries it, and a state-changing request is refused unless
//! [`verify_csrf`] accepts it for the session its cookie names. The message is prefixed with
//! a label, so the key could serve another purpose without one MAC standing for the other.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{base64url, is_base64url_of, random_bytes, sha256_hex};

/// Random bytes of a session cookie.
pub const SESSION_BYTES: usize = 32;
/// What the CSRF MAC is computed over, before the session's id hash.
const CSRF_LABEL: &[u8] = b"pharos csrf v1\0";

/// A new session: the cookie to set, and the hash to store.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedSession {
    /// The cookie's value: 32 random bytes, base64url. Sent to the browser, never stored or
    /// logged.
    pub cookie: String,
    /// Its SHA-256, lowercase hex: the session's key in storage.
    pub id_hash: String,
}

impl fmt::Debug for MintedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedSession")
            .field("cookie", &"[redacted]")
            .field("id_hash", &self.id_hash)
            .finish()
    }
}

/// A new session with a random cookie.
pub fn mint_session() -> MintedSession {
    let cookie = base64url(&random_bytes::<SESSION_BYTES>());
    MintedSession {
        id_hash: sha256_hex(cookie.as_bytes()),
        cookie,
    }
}

/// The stored id hash of the session a cookie names, or `None` when the value is not the
/// shape [`mint_session`] makes (so junk is refused before any lookup).
pub fn session_id_hash(cookie: &str) -> Option<String> {
    is_base64url_of(cookie, SESSION_BYTES).then(|| sha256_hex(cookie.as_bytes()))
}

/// The MAC over the session's id hash.
fn csrf_mac(key: &[u8; 32], id_hash: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length (RFC 2104 §2: longer keys are hashed, shorter padded),
    // so `new_from_slice` cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(CSRF_LABEL);
    mac.update(id_hash.as_bytes());
    mac
}

/// The CSRF token of the session whose stored hash is `id_hash`: HMAC-SHA256 keyed with
/// `key`, in base64url (43 characters). The same for the session's whole life.
pub fn csrf_token(key: &[u8; 32], id_hash: &str) -> String {
    base64url(&csrf_mac(key, id_hash).finalize().into_bytes())
}

/// Whether `presented` is the CSRF token of the session whose stored hash is `id_hash`,
/// compared in constant time (`hmac`'s `verify_slice`).
pub fn verify_csrf(key: &[u8; 32], id_hash: &str, presented: &str) -> bool {
    if !is_base64url_of(presented, 32) {
        return false;
    }
    let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    csrf_mac(key, id_hash).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [42; 32];

    #[test]
    fn a_session_is_found_by_the_hash_of_its_cookie() {
        let session = mint_session();
        assert_eq!(session.cookie.len(), 43);
        assert_eq!(
            session_id_hash(&session.cookie),
            Some(session.id_hash.clone())
        );
        assert_eq!(session.id_hash, sha256_hex(session.cookie.as_bytes()));
        assert_ne!(mint_session().cookie, session.cookie);
        let debug = format!("{session:?}");
        assert!(!debug.contains(&session.cookie), "{debug}");
    }

    #[test]
    fn junk_cookies_are_refused_before_any_lookup() {
        let session = mint_session();
        for bad in [
            "",
            "x",
            &session.cookie[1..],
            &format!("{}A", session.cookie),
            &format!("{}=", session.cookie),
            &session.id_hash,
            &format!(" {}", &session.cookie[1..]),
        ] {
            assert_eq!(session_id_hash(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session_and_key() {
        let a = mint_session();
        let b = mint_session();
        let token = csrf_token(&KEY, &a.id_hash);
        assert_eq!(token.len(), 43);
        assert_eq!(
            token,
            csrf_token(&KEY, &a.id_hash),
            "stable for the session"
        );
        assert!(verify_csrf(&KEY, &a.id_hash, &token));
        assert!(!verify_csrf(&KEY, &b.id_hash, &token), "another session's");
        assert!(!verify_csrf(&[43; 32], &a.id_hash, &token), "another key's");
        assert!(!verify_csrf(&KEY, &a.id_hash, ""));
        assert!(!verify_csrf(&KEY, &a.id_hash, &token[1..]));
        assert!(!verify_csrf(&KEY, &a.id_hash, &format!("{token}A")));
        assert!(!verify_csrf(&KEY, &a.id_hash, &a.cookie));
        let mut flipped = token.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert!(!verify_csrf(
            &KEY,
            &a.id_hash,
            &String::from_utf8(flipped).unwrap()
        ));
    }

    #[test]
    fn the_csrf_token_is_hmac_sha256_over_the_label_and_id_hash() {
        // Pinned (computed apart, with Python's hmac), so the form cannot change by accident:
        // pages already open would send tokens that no longer verify.
        assert_eq!(
            csrf_token(&KEY, "abc"),
            "PAxZ3MzT0nH2aBL24WDonEFtqlJsyRb-JRQmFjq6lU8"
        );
    }
}
