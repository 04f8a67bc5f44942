//! Sealing secrets kept at rest that must be read back (a person's TOTP secret), so a copy
//! of the database alone does not give them away: XChaCha20-Poly1305 (the `chacha20poly1305`
//! crate) under a 32-byte key kept outside the database, with a random 24-byte nonce per
//! seal (192 bits: random nonces never repeat in practice, so no counter needs storing).
//!
//! The sealed form is text, `v1:` + base64url(nonce ‖ ciphertext ‖ tag), so it fits a TEXT
//! column and a later form (another cipher, a key id) can be told apart by its prefix. The
//! tag authenticates the version too, so `v1` cannot be swapped for another. Opening with the
//! wrong key, or text altered in any way, is [`SealError::Rejected`]; never garbage.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::{base64url, random_bytes};

/// What every sealed value starts with.
pub const SEAL_PREFIX: &str = "v1:";
/// Bytes of the nonce.
const NONCE_BYTES: usize = 24;
/// Bytes of the authentication tag.
const TAG_BYTES: usize = 16;
/// Authenticated with every sealed value: the form's version.
const AAD: &[u8] = b"pharos seal v1";

/// Why a sealed value cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not the sealed form at all (another prefix, not base64url, too short).
    #[error("not a sealed value: {0}")]
    Malformed(&'static str),
    /// The form is right but it does not open: another key sealed it, or it was altered.
    #[error("the sealed value does not open: sealed with another key, or altered")]
    Rejected,
}

/// The cipher under `key`.
fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// `plaintext` sealed under `key` with a fresh random nonce: `v1:` + base64url(nonce ‖
/// ciphertext ‖ tag). Sealing the same plaintext twice gives two different texts.
pub fn seal(key: &[u8; 32], plaintext: &[u8]) -> String {
    let nonce = XNonce::from(random_bytes::<NONCE_BYTES>());
    let sealed = cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: AAD,
            },
        )
        // XChaCha20-Poly1305 refuses only a message longer than 256 GiB (its 32-bit block
        // counter); the secrets sealed here are tens of bytes.
        .expect("a secret is far shorter than XChaCha20's 256 GiB limit");
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    format!("{SEAL_PREFIX}{}", base64url(&out))
}

/// The plaintext of a value [`seal`] made under `key`.
pub fn open(key: &[u8; 32], sealed: &str) -> Result<Vec<u8>, SealError> {
    let body = sealed
        .strip_prefix(SEAL_PREFIX)
        .ok_or(SealError::Malformed("it does not start with \"v1:\""))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed("it is not base64url"))?;
    if bytes.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SealError::Malformed("it is too short"));
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Malformed("bad nonce"))?;
    cipher(key)
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: AAD,
            },
        )
        .map_err(|_| SealError::Rejected)
}

/// The key secrets are sealed under: 32 bytes kept outside the database (`[console]
/// secret_key_file` or `PHAROS_SECRET_KEY`). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

/// Why a key's text or file is not a key. Never repeats what it read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither 32 bytes, nor 64 hex digits, nor 44 base64 characters.
    #[error(
        "a sealing key is 32 random bytes, or 64 hex digits, or 44 base64 characters; this \
         has {0} bytes (make one with `openssl rand -hex 32`)"
    )]
    Shape(usize),
    /// 64 characters that are not all hex digits, or 44 that are not base64 of 32 bytes.
    #[error("a sealing key of {0} characters must be all {1}")]
    Alphabet(usize, &'static str),
}

impl SealKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(bytes)
    }

    /// A key as a file or an environment variable holds it: exactly 32 raw bytes, or text
    /// (surrounding whitespace ignored) of 64 hex digits or 44 base64 characters (standard
    /// or URL-safe alphabet, with its padding).
    pub fn parse(raw: &[u8]) -> Result<SealKey, KeyError> {
        if raw.len() == 32 {
            let mut key = [0u8; 32];
            key.copy_from_slice(raw);
            return Ok(SealKey(key));
        }
        let text = raw.trim_ascii();
        let decoded = match text.len() {
            64 => hex::decode(text).map_err(|_| KeyError::Alphabet(64, "hex digits"))?,
            44 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .map_err(|_| KeyError::Alphabet(44, "base64 of 32 bytes"))?,
            n => return Err(KeyError::Shape(n)),
        };
        let key: [u8; 32] = decoded
            .try_into()
            .map_err(|_| KeyError::Alphabet(text.len(), "base64 of 32 bytes"))?;
        Ok(SealKey(key))
    }

    /// The key's bytes, for [`seal`] and [`open`].
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn what_is_sealed_opens_with_its_key() {
        for plaintext in [&b""[..], b"x", &[0u8; 20], &[0xff; 1000]] {
            let sealed = seal(&KEY, plaintext);
            assert!(sealed.starts_with("v1:"), "{sealed}");
            let raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
            assert_eq!(
                raw.len(),
                24 + plaintext.len() + 16,
                "nonce, ciphertext, tag"
            );
            assert_eq!(open(&KEY, &sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn what_was_sealed_before_still_opens() {
        // Sealed once by this module and kept: a stored secret must open after upgrades of
        // the crates, or every person's second factor is lost.
        let stored =
            "v1:mt1zXfRpHDH0ZK6b_bhQABEvdN_lJiHEQvhWod9A0DVUXP7iL-fq-1ri7rD-eK3O_PO2bEUhReivOTbb";
        assert_eq!(open(&KEY, stored).unwrap(), b"12345678901234567890");
    }

    #[test]
    fn sealing_twice_gives_two_texts_and_no_clear_text() {
        let secret = b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let a = seal(&KEY, secret);
        let b = seal(&KEY, secret);
        assert_ne!(a, b);
        assert!(!a.contains("GEZDGNBV"), "{a}");
        assert_eq!(open(&KEY, &a).unwrap(), open(&KEY, &b).unwrap());
    }

    #[test]
    fn a_wrong_key_or_an_altered_text_is_rejected() {
        let sealed = seal(&KEY, b"twenty secret bytes!");
        assert_eq!(open(&[8; 32], &sealed), Err(SealError::Rejected));
        // Every single character changed, in turn, fails (nonce, ciphertext or tag).
        let body = &sealed[3..];
        for i in 0..body.len() {
            let mut altered = body.as_bytes().to_vec();
            altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
            let altered = format!("v1:{}", String::from_utf8(altered).unwrap());
            assert!(open(&KEY, &altered).is_err(), "{i}");
        }
        // Cut short, or with bytes added.
        assert!(open(&KEY, &sealed[..sealed.len() - 4]).is_err());
        assert!(open(&KEY, &format!("{sealed}AAAA")).is_err());
        assert_eq!(
            SealError::Rejected.to_string(),
            "the sealed value does not open: sealed with another key, or altered"
        );
    }

    #[test]
    fn malformed_texts_say_so() {
        let sealed = seal(&KEY, b"x");
        for (bad, why) in [
            ("", "it does not start with \"v1:\""),
            (&sealed[3..], "it does not start with \"v1:\""),
            (
                &format!("v2:{}", &sealed[3..]),
                "it does not start with \"v1:\"",
            ),
            ("v1:not base64!", "it is not base64url"),
            (&format!("{sealed}="), "it is not base64url"),
            ("v1:AAAA", "it is too short"),
        ] {
            assert_eq!(open(&KEY, bad), Err(SealError::Malformed(why)), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_read_as_bytes_hex_or_base64() {
        let raw = [9u8; 32];
        let want = SealKey::from_bytes(raw);
        assert_eq!(SealKey::parse(&raw).unwrap(), want);
        let hex_text = format!("  {}\n", hex::encode(raw));
        assert_eq!(SealKey::parse(hex_text.as_bytes()).unwrap(), want);
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(b64.len(), 44);
        assert_eq!(SealKey::parse(format!("{b64}\n").as_bytes()).unwrap(), want);
        let url = base64::engine::general_purpose::URL_SAFE.encode([0xfb; 32]);
        assert_eq!(
            SealKey::parse(url.as_bytes()).unwrap(),
            SealKey::from_bytes([0xfb; 32])
        );
        assert_eq!(SealKey::parse(b"short"), Err(KeyError::Shape(5)));
        assert_eq!(
            SealKey::parse(&[b'g'; 64]),
            Err(KeyError::Alphabet(64, "hex digits"))
        );
        assert!(SealKey::parse(&[b'!'; 44]).is_err());
        assert_eq!(format!("{want:?}"), "SealKey([redacted])");
        // What it says never repeats the text it read.
        let err = SealKey::parse(b"hunter2hunter2").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
