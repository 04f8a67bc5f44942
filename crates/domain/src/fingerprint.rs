//! Secrets in stored monitor definitions, and in what people are shown of a monitor.
//!
//! Pharos stores each monitor's definition so that a changed configuration can be told from an
//! unchanged one at start ([`MonitorSpec::definition_json`](crate::MonitorSpec::definition_json)).
//! The definition must still change when a secret does (a new password is a changed monitor),
//! but the secret itself never reaches the database: credentials (`basic_auth`,
//! `bearer_token`, a client key), every request header value, the request body, the user
//! information of a URL (`user:password@`) and a heartbeat's token are written as
//! `hmac-sha256:<hex>`, HMAC-SHA256 keyed with a [`FingerprintKey`] derived from the database's
//! own key. Not a bare hash: a short or guessable secret is found from its SHA-256 by trying
//! candidates, and the same secret would read alike across installations. Whoever holds the
//! whole database holds the key too, so the key is no substitute for a strong secret; what it
//! buys is that a definition copied out of the database alone (an export, a log, a backup of
//! one table) gives nothing to try guesses against.
//!
//! The key reaches the serializers through [`with_key`], which sets it for the current thread
//! while one definition is written: serde's derive has no other way to pass context, and this
//! way every [`Secret`](crate::Secret) anywhere in a definition is covered without a list to
//! keep in step. Serialized without a key, a secret reads `[redacted]`.
//!
//! [`redact_userinfo`] is the form shown to people (the admin API, logs, diagnostics):
//! `https://user:***@host/`.

use std::borrow::Cow;
use std::cell::RefCell;

use hmac::{Hmac, KeyInit, Mac};
use serde::ser::SerializeSeq;
use serde::Serializer;
use sha2::Sha256;

/// What a secret serializes as when no key is set.
pub const REDACTED: &str = "[redacted]";

/// The key secrets' fingerprints are made with, derived from the database's key.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey([u8; 32]);

impl FingerprintKey {
    /// The fingerprint key of a database whose key is `database_key`. Derived, not the key
    /// itself, so a fingerprint can never stand in for anything else the database's key signs
    /// (subscribers' links).
    pub fn derive(database_key: &[u8]) -> FingerprintKey {
        FingerprintKey(hmac(
            database_key,
            b"pharos: monitor definition fingerprints, v1",
        ))
    }

    /// `hmac-sha256:<hex>` of `value`.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        format!("hmac-sha256:{}", hex::encode(hmac(&self.0, value)))
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey([redacted])")
    }
}

fn hmac(key: &[u8], value: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// How secrets serialize on this thread: fingerprinted (stored definitions) or in clear
/// (a monitor sent to the probe that runs it).
#[derive(Clone)]
enum Mode {
    Keyed(FingerprintKey),
    Clear,
}

thread_local! {
    static ACTIVE: RefCell<Option<Mode>> = const { RefCell::new(None) };
}

/// Runs `f` with `mode` as the way secrets serialize on this thread, and restores the
/// previous one afterwards (even if `f` panics).
fn with_mode<R>(mode: Mode, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Mode>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ACTIVE.with(|a| *a.borrow_mut() = previous);
        }
    }
    let previous = ACTIVE.with(|a| a.borrow_mut().replace(mode));
    let _restore = Restore(previous);
    f()
}

/// Runs `f` with `key` as the key secrets serialize with on this thread, and restores the
/// previous one afterwards (even if `f` panics).
pub fn with_key<R>(key: &FingerprintKey, f: impl FnOnce() -> R) -> R {
    with_mode(Mode::Keyed(key.clone()), f)
}

/// Runs `f` with secrets serializing as themselves on this thread: only for a monitor's
/// definition sent to the probe that must run it, over an authenticated connection.
pub fn in_clear<R>(f: impl FnOnce() -> R) -> R {
    with_mode(Mode::Clear, f)
}

/// How a secret is written: its fingerprint inside [`with_key`], itself inside
/// [`in_clear`], else [`REDACTED`].
pub(crate) fn written(secret: &str) -> String {
    ACTIVE.with(|a| match &*a.borrow() {
        Some(Mode::Keyed(key)) => key.fingerprint(secret.as_bytes()),
        Some(Mode::Clear) => secret.to_owned(),
        None => REDACTED.to_owned(),
    })
}

/// Serializes a secret string (see [`written`]).
pub(crate) fn secret_str<S: Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&written(value))
}

/// Serializes an optional secret string (`null` when absent).
pub(crate) fn opt_secret_str<S: Serializer>(
    value: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => secret_str(v, s),
        None => s.serialize_none(),
    }
}

/// Serializes request headers as `[name, fingerprint of value]` pairs: a header value is as
/// likely as not a credential (`Authorization`, `X-Api-Key`, a cookie).
pub(crate) fn headers<S: Serializer>(
    headers: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for (name, value) in headers {
        seq.serialize_element(&(name, written(value)))?;
    }
    seq.end()
}

/// Serializes a URL with its user information (`user:password@`) written as a secret.
pub(crate) fn url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    match split_userinfo(url) {
        Some((before, userinfo, after)) => {
            s.serialize_str(&format!("{before}{}@{after}", written(userinfo)))
        }
        None => s.serialize_str(url),
    }
}

/// `url` with the password of its user information replaced by `***` (`user:***@`), or the
/// whole user information when it has no password (a bare token, `***@`): the form people
/// are shown.
pub fn redact_userinfo(url: &str) -> Cow<'_, str> {
    match split_userinfo(url) {
        Some((before, userinfo, after)) => match userinfo.split_once(':') {
            Some((user, _)) if !user.is_empty() => {
                Cow::Owned(format!("{before}{user}:***@{after}"))
            }
            _ => Cow::Owned(format!("{before}***@{after}")),
        },
        None => Cow::Borrowed(url),
    }
}

/// Splits `scheme://userinfo@rest` into `("scheme://", "userinfo", "rest")`; `None` when the
/// URL has no user information. The user information ends at the last `@` before the path.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((&url[..scheme_end], &rest[..at], &rest[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let a = FingerprintKey::derive(b"database one");
        let b = FingerprintKey::derive(b"database two");
        let fa = a.fingerprint(b"hunter2");
        assert!(
            fa.starts_with("hmac-sha256:") && fa.len() == 12 + 64,
            "{fa}"
        );
        assert_eq!(fa, a.fingerprint(b"hunter2"), "the same secret reads alike");
        assert_ne!(
            fa,
            a.fingerprint(b"hunter3"),
            "a changed secret reads changed"
        );
        assert_ne!(
            fa,
            b.fingerprint(b"hunter2"),
            "another database reads otherwise"
        );
        // Not the bare hash the definitions used to hold.
        use sha2::Digest;
        let bare = hex::encode(sha2::Sha256::digest(b"hunter2"));
        assert!(!fa.contains(&bare));
        assert!(!format!("{a:?}").contains(&hex::encode(a.0)));
    }

    #[test]
    fn secrets_are_written_with_the_key_only_inside_with_key() {
        let key = FingerprintKey::derive(b"k");
        assert_eq!(written("s3cret"), REDACTED);
        let inside = with_key(&key, || written("s3cret"));
        assert_eq!(inside, key.fingerprint(b"s3cret"));
        assert_eq!(
            written("s3cret"),
            REDACTED,
            "the key does not outlive the call"
        );
        let caught = std::panic::catch_unwind(|| with_key(&key, || panic!("boom")));
        assert!(caught.is_err());
        assert_eq!(written("s3cret"), REDACTED, "nor a panic inside it");
    }

    #[test]
    fn user_information_is_found_and_redacted() {
        assert_eq!(
            redact_userinfo("https://probe:pa:ss@api.example.com/health?x=a@b"),
            "https://probe:***@api.example.com/health?x=a@b"
        );
        assert_eq!(
            redact_userinfo("https://ghp_token@github.com/"),
            "https://***@github.com/"
        );
        assert_eq!(redact_userinfo("https://:pw@h/"), "https://***@h/");
        assert_eq!(
            redact_userinfo("https://api.example.com/a@b"),
            "https://api.example.com/a@b"
        );
        assert_eq!(redact_userinfo("not a url"), "not a url");
        assert_eq!(
            split_userinfo("http://u:p@w@host:8080"),
            Some(("http://", "u:p@w", "host:8080"))
        );
    }
}
