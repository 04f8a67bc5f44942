//! People's credentials: what the console's sign-in, sessions, API tokens and second factor
//! are made of, as pure functions over bytes (no HTTP, no clock: callers pass `now`), and the
//! [`directory`] that reads stored credentials back; the tables that keep what these functions produce are `pharos_store`'s, and who
//! may do what is `pharos_domain::access`.
//!
//! - [`directory`]: the one place a presented API token becomes a [`Principal`], read from
//!   storage.
//! - [`password`]: argon2id hashes in PHC strings, the length rules, and the dummy hash that
//!   makes a sign-in for a missing account cost what a real one costs.
//! - [`token`]: API tokens `pht_<id>_<secret>`, shown once and stored as a SHA-256 of the
//!   secret.
//! - [`session`]: the console's session cookie (stored as its SHA-256) and the CSRF token
//!   bound to it.
//! - [`signin`]: signing in with an e-mail and a password, the session's two expiries, and
//!   signing out, each audited.
//! - [`external`]: signing in through an identity provider (`[sso]`): the person found,
//!   linked or added, their role following the provider's claim, the same session.
//! - [`totp`]: RFC 6238 codes, the `otpauth://` URI, and refusing a replayed step.
//! - [`recovery`]: one-time recovery codes, stored hashed.
//! - [`seal`]: secrets kept at rest (the TOTP secret) sealed with XChaCha20-Poly1305, under a
//!   [`SealKey`] kept outside the database.
//! - [`second_factor`]: setting TOTP up, turning it off, new recovery codes, and the
//!   sign-in's second step.
//!
//! Every secret here comes from `rand`'s thread generator (a CSPRNG seeded from the
//! operating system; argon2's salts come from the operating system directly), and every
//! comparison of a secret, or of a hash of one, is constant time. Secrets with 256 bits of entropy (tokens, session cookies) are stored as a plain
//! SHA-256: nobody can search such a space, so a slow hash would only slow every request.
//! Only passwords, which people choose, get argon2id.
//!
//! Hashing a password costs tens of milliseconds of CPU and 19 MiB of memory by design: call
//! [`password::hash_password`] and [`password::verify_password`] from
//! `tokio::task::spawn_blocking`, never on the runtime's threads.

pub mod directory;
pub mod external;
pub mod password;
pub mod recovery;
pub mod seal;
pub mod second_factor;
pub mod session;
pub mod signin;
pub mod token;
pub mod totp;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The stored forms the web layer shows and fills in.
pub use pharos_store::{
    ActorKind, ApiTokenRecord, AuditEntry, AuditFilter, AuditRecord, PeopleConflict, StoreError,
    UserKind, UserPatch, UserRecord, AUDIT_PAGE_MAX,
};

pub use directory::{
    new_user_id, normalise_email, Directory, MintRefused, Minted, Principal, Source, TokenRefused,
    LAST_USE_EVERY, TOKEN_NAME_MAX_CHARS,
};
pub use external::{sso_subject, ExternalFailure, ExternalRefused, ExternalSignIn, SSO_ACTOR};
pub use password::{
    check_password, hash_password, needs_rehash, verify_password, verify_sign_in, PasswordError,
};
pub use recovery::{
    find_recovery_code, mint_recovery_codes, normalise_recovery_code, recovery_code_hash,
    RecoveryCodes,
};
pub use seal::{open, seal, KeyError, SealError, SealKey};
pub use second_factor::{
    PendingSignIn, ProofRefused, SecondRefused, SecondStep, SetupRefused, SignInStep, TotpSetup,
    NO_KEY_MESSAGE, PENDING_SIGNIN_LIFETIME,
};
pub use session::{csrf_token, mint_session, session_id_hash, verify_csrf, MintedSession};
pub use signin::{
    LiveSession, SignIn, SignInError, SignInRefused, SignedIn, SESSION_IDLE, SESSION_LIFETIME,
    SESSION_TOUCH_EVERY,
};
pub use token::{mint_token, parse_token, secret_hash, verify_secret, MintedToken};
pub use totp::{step_at, CodeRefused, TotpError, TotpSecret};

/// `N` bytes from the thread's CSPRNG.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes[..]);
    bytes
}

/// URL-safe base64 without padding: how secrets travel in cookies, headers and URLs.
fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `s` is exactly the base64url (no padding) encoding of `n` bytes, in its one
/// canonical spelling (the decoder refuses stray bits in the last character).
fn is_base64url_of(s: &str, n: usize) -> bool {
    s.len() == n.div_ceil(3) * 4 - (3 - n % 3) % 3
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|bytes| bytes.len() == n)
}

/// The SHA-256 of `bytes` in lowercase hex: how tokens, session cookies and recovery codes
/// are stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths, never on where
/// they differ. For secrets and hashes of secrets; lengths are not secret here.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_lengths_are_checked_exactly() {
        for n in [16, 20, 24, 32, 33] {
            let s = base64url(&random_bytes::<64>()[..n]);
            assert!(is_base64url_of(&s, n), "{n}: {s}");
            assert!(!is_base64url_of(&s, n + 1));
            assert!(!is_base64url_of(&format!("{s}A"), n));
            assert!(!is_base64url_of(&s[1..], n));
        }
        // 32 bytes are 43 characters; the last carries two unused bits, which must be zero.
        let s = base64url(&[0u8; 32]);
        assert_eq!(s.len(), 43);
        assert!(is_base64url_of(&s, 32));
        assert!(!is_base64url_of(&format!("{}B", &s[..42]), 32));
        // Padding and the standard alphabet's characters are not base64url.
        assert!(!is_base64url_of(&format!("{}+", &s[..42]), 32));
        assert!(!is_base64url_of(&format!("{s}="), 32));
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
    }
}
