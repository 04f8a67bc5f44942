//! The sign-in form's CSRF token, before there is a session: a signed double submit. The
//! cookie holds a random nonce; the form's hidden field holds
//! [`pharos_engine::people::csrf_token`] over `signin:` and the nonce, keyed with the
//! console's key. A `POST` is accepted only when the field is the token of the cookie's nonce:
//! another site can neither read the cookie nor mint a token for it, and a token minted for
//! the attacker's own nonce needs the attacker's cookie in the victim's browser. The prefix
//! keeps these tokens apart from the sessions' (whose subject is a 64-digit hex hash).

use pharos_engine::people::{csrf_token, verify_csrf};

/// A new nonce: 32 random bytes, base64url (43 characters), made as a session cookie is.
pub(super) fn nonce() -> String {
    pharos_engine::people::mint_session().cookie
}

/// Whether `s` has the shape [`nonce`] makes (checked as a session cookie's is).
pub(super) fn is_nonce(s: &str) -> bool {
    pharos_engine::people::session_id_hash(s).is_some()
}

/// The subject the token of `nonce` is computed over.
fn subject(nonce: &str) -> String {
    format!("signin:{nonce}")
}

/// The form's token for `nonce`.
pub(super) fn token(key: &[u8; 32], nonce: &str) -> String {
    csrf_token(key, &subject(nonce))
}

/// Whether `presented` is the token of the cookie's `nonce` (a sound one).
pub(super) fn verify(key: &[u8; 32], nonce: &str, presented: &str) -> bool {
    is_nonce(nonce) && verify_csrf(key, &subject(nonce), presented)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_token_belongs_to_its_nonce_and_key() {
        let key = [7u8; 32];
        let a = nonce();
        let b = nonce();
        assert!(is_nonce(&a));
        assert!(!is_nonce("short"));
        let t = token(&key, &a);
        assert!(verify(&key, &a, &t));
        assert!(!verify(&key, &b, &t));
        assert!(!verify(&[8u8; 32], &a, &t));
        assert!(!verify(&key, "", &token(&key, "")));
        assert!(!verify(&key, &a, ""));
    }
}
