//! The second factor: time-based one-time codes (RFC 6238) as authenticator apps make them —
//! HMAC-SHA-1, 6 digits, 30-second steps — computed by the `totp-rs` crate.
//!
//! - A [`TotpSecret`] is 20 random bytes (RFC 4226 §4 recommends 160 bits). It is shown to
//!   the person once, as base32 and as an `otpauth://` URI for a QR code, and stored sealed
//!   ([`super::seal`]), never in clear.
//! - [`TotpSecret::verify`] accepts the code of the current step or one step either side
//!   (clocks drift; RFC 6238 §5.2 recommends at most one), and returns the step it matched.
//!   The caller stores that step and passes it back as `last_step` next time: a step at or
//!   before it is refused as a replay, so a code read over a shoulder or from a log cannot
//!   be used a second time (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt
//!   of the same OTP").
//! - Steps are whole 30-second periods since the Unix epoch, as RFC 6238 counts them.

use std::fmt;

use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, Builder, Totp};

use super::{ct_eq, random_bytes};

/// The issuer authenticator apps show beside the code.
pub const TOTP_ISSUER: &str = "Pharos";
/// Digits of a code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds of one step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Random bytes of a new secret.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Steps either side of the current one that are accepted.
pub const TOTP_DRIFT_STEPS: u64 = 1;
/// The fewest bytes a secret may have (RFC 4226 §4: at least 128 bits).
const MIN_SECRET_BYTES: usize = 16;

/// A TOTP secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Totp);

/// Why a secret or its URI cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Fewer than 16 bytes (an opened secret that is not one of ours).
    #[error("a TOTP secret needs at least 16 bytes; this one has {bytes}")]
    SecretTooShort {
        /// The bytes it has.
        bytes: usize,
    },
    /// An account name an `otpauth://` URI cannot carry (empty, or with a colon).
    #[error("{account:?} cannot name an account in an authenticator app (empty or with a colon)")]
    Account {
        /// The account name given.
        account: String,
    },
    /// `totp-rs` refused the settings (cannot happen with a secret of 16 bytes or more and
    /// Pharos's constants; kept rather than panicking).
    #[error("cannot use the TOTP settings: {0}")]
    Settings(String),
    /// `totp-rs` could not write the URI.
    #[error("cannot make the TOTP URI: {0}")]
    Uri(String),
}

/// Why a code was not accepted. Say the same to the person for all three (a generic "wrong
/// code"); the difference is for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefused {
    /// Not six digits (spaces aside).
    #[error("the code is not six digits")]
    Malformed,
    /// No step within the drift allowed has this code.
    #[error("the code is wrong or has expired")]
    Wrong,
    /// The code is right, but its step was already used.
    #[error("the code was already used")]
    Replayed,
}

/// Builds the crate's `Totp` for `secret` with Pharos's settings.
fn build(secret: Vec<u8>) -> Result<Totp, TotpError> {
    let bytes = secret.len();
    if bytes < MIN_SECRET_BYTES {
        return Err(TotpError::SecretTooShort { bytes });
    }
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(TOTP_DIGITS as u8)
        .with_step_duration(TOTP_STEP_SECONDS)
        .with_skew(TOTP_DRIFT_STEPS as u16)
        .with_secret(secret)
        .build()
        .map_err(|e| TotpError::Settings(e.to_string()))
}

/// The step `now` falls in, or `None` before 1970.
pub fn step_at(now: DateTime<Utc>) -> Option<u64> {
    u64::try_from(now.timestamp())
        .ok()
        .map(|secs| secs / TOTP_STEP_SECONDS)
}

impl TotpSecret {
    /// A new random secret of [`TOTP_SECRET_BYTES`] bytes.
    pub fn generate() -> Self {
        // `build` refuses only a secret under 16 bytes (this one has 20) or settings outside
        // RFC 6238's (ours are constants, and `rfc_6238_appendix_b` builds with them).
        Self::from_bytes(&random_bytes::<TOTP_SECRET_BYTES>())
            .unwrap_or_else(|_| unreachable!("20 bytes are at least 16"))
    }

    /// The secret with these bytes (as [`TotpSecret::as_bytes`] gave them, once opened).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        build(bytes.to_vec()).map(Self)
    }

    /// The secret an app was given as base32 ([`TotpSecret::to_base32`]; case and spaces do
    /// not matter), as tests and scripts holding the shown text rebuild it.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let text: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let secret = totp_rs::Secret::try_from_base32(text)
            .map_err(|e| TotpError::Settings(e.to_string()))?;
        Self::from_bytes(secret.as_bytes())
    }

    /// The raw secret: what to seal and store.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.secret().as_bytes()
    }

    /// The secret in base32 (RFC 4648, unpadded), for typing into an app by hand.
    pub fn to_base32(&self) -> String {
        self.0.secret().to_base32()
    }

    /// The `otpauth://totp/…` URI an authenticator app reads from a QR code: issuer
    /// `Pharos (<page name>)` (the page name without colons, which the URI's label cannot
    /// carry), account `account_email`.
    pub fn otpauth_uri(&self, page_name: &str, account_email: &str) -> Result<String, TotpError> {
        let account_email = account_email.trim();
        if account_email.is_empty() || account_email.contains(':') {
            return Err(TotpError::Account {
                account: account_email.to_owned(),
            });
        }
        let page: Vec<&str> = page_name
            .split([':', ' '])
            .filter(|w| !w.is_empty())
            .collect();
        let issuer = if page.is_empty() {
            TOTP_ISSUER.to_owned()
        } else {
            format!("{TOTP_ISSUER} ({})", page.join(" "))
        };
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS as u8)
            .with_step_duration(TOTP_STEP_SECONDS)
            .with_secret(self.as_bytes().to_vec())
            .with_issuer(Some(issuer))
            .with_account_name(account_email)
            .build()
            .and_then(|totp| totp.to_url())
            .map_err(|e| TotpError::Uri(e.to_string()))
    }

    /// The code of the step `now` falls in (for tests and for showing a code while setting up;
    /// sign-in uses [`TotpSecret::verify`]). Before 1970, the code of step 0.
    pub fn code_at(&self, now: DateTime<Utc>) -> String {
        self.code_of_step(step_at(now).unwrap_or(0))
    }

    /// The code of one step.
    fn code_of_step(&self, step: u64) -> String {
        self.0.generate(step * TOTP_STEP_SECONDS).to_string()
    }

    /// Checks `code` (six digits; spaces ignored, as apps show `123 456`) at `now`, against
    /// the current step and [`TOTP_DRIFT_STEPS`] either side, and returns the step it
    /// matched: store it and pass it back as `last_step` next time. A step at or before
    /// `last_step` is refused as [`CodeRefused::Replayed`]. Every step in the window is
    /// compared, each in constant time, whichever matches.
    pub fn verify(
        &self,
        code: &str,
        now: DateTime<Utc>,
        last_step: Option<u64>,
    ) -> Result<u64, CodeRefused> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeRefused::Malformed);
        }
        let now = step_at(now).ok_or(CodeRefused::Wrong)?;
        let window = now.saturating_sub(TOTP_DRIFT_STEPS)..=now + TOTP_DRIFT_STEPS;
        let matched: Vec<u64> = window
            .filter(|&step| ct_eq(&self.code_of_step(step), &code))
            .collect();
        let fresh = matched
            .iter()
            .copied()
            .find(|&step| last_step.is_none_or(|last| step > last));
        match (fresh, matched.is_empty()) {
            (Some(step), _) => Ok(step),
            (None, true) => Err(CodeRefused::Wrong),
            (None, false) => Err(CodeRefused::Replayed),
        }
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 key: the ASCII of "12345678901234567890".
    const RFC_KEY: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B, SHA-1 rows: (Unix time, 8-digit TOTP).
    const RFC_VECTORS: [(i64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn rfc_6238_appendix_b() {
        let secret = TotpSecret::from_bytes(RFC_KEY).unwrap();
        // The crate with the RFC's 8 digits gives the table exactly…
        let eight = Builder::new()
            .with_digits(8)
            .with_secret(RFC_KEY.to_vec())
            .build()
            .unwrap();
        for (time, expected) in RFC_VECTORS {
            assert_eq!(eight.generate(time as u64).to_string(), expected, "{time}");
            // …and a 6-digit code is the same number mod 10^6 (RFC 4226 §5.3).
            let six = &expected[2..];
            assert_eq!(secret.code_at(at(time)), six, "{time}");
            let step = time as u64 / 30;
            assert_eq!(secret.verify(six, at(time), None), Ok(step), "{time}");
            assert_eq!(
                secret.verify(six, at(time), Some(step)),
                Err(CodeRefused::Replayed)
            );
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let secret = TotpSecret::from_bytes(RFC_KEY).unwrap();
        let code = "005924"; // step 41152263 (1234567890 / 30)
        let t = 1_234_567_890;
        let step = 41_152_263;
        assert_eq!(secret.verify(code, at(t), None), Ok(step));
        assert_eq!(
            secret.verify(code, at(t + 30), None),
            Ok(step),
            "a step late"
        );
        assert_eq!(
            secret.verify(code, at(t - 30), None),
            Ok(step),
            "a step early"
        );
        assert_eq!(
            secret.verify(code, at(t + 60), None),
            Err(CodeRefused::Wrong)
        );
        assert_eq!(
            secret.verify(code, at(t - 60), None),
            Err(CodeRefused::Wrong)
        );
        // Within the step the code is the same from its first second to its last.
        assert_eq!(secret.code_at(at(step as i64 * 30)), code);
        assert_eq!(secret.code_at(at(step as i64 * 30 + 29)), code);
    }

    #[test]
    fn a_step_at_or_before_the_last_accepted_one_is_a_replay() {
        let secret = TotpSecret::generate();
        let t = 1_800_000_000;
        let now = step_at(at(t)).unwrap();
        let code = secret.code_at(at(t));
        assert_eq!(secret.verify(&code, at(t), Some(now - 1)), Ok(now));
        assert_eq!(
            secret.verify(&code, at(t), Some(now)),
            Err(CodeRefused::Replayed)
        );
        // A later step's code was used (the clock ran ahead): the earlier one is now refused…
        assert_eq!(
            secret.verify(&code, at(t), Some(now + 1)),
            Err(CodeRefused::Replayed)
        );
        // …and the next step's code is fine after the current one was used.
        let next = secret.code_at(at(t + 30));
        assert_eq!(secret.verify(&next, at(t), Some(now)), Ok(now + 1));
    }

    #[test]
    fn codes_are_six_digits_spaces_aside() {
        let secret = TotpSecret::from_bytes(RFC_KEY).unwrap();
        let t = at(1_234_567_890);
        let step = 41_152_263;
        assert_eq!(secret.verify("005 924", t, None), Ok(step));
        assert_eq!(secret.verify(" 005924\n", t, None), Ok(step));
        for bad in [
            "",
            "05924",
            "0059240",
            "00592a",
            "+05924",
            "005-924",
            "٠٠٥٩٢٤",
        ] {
            assert_eq!(
                secret.verify(bad, t, None),
                Err(CodeRefused::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(secret.verify("005925", t, None), Err(CodeRefused::Wrong));
        assert_eq!(
            secret.verify("005924", at(-1), None),
            Err(CodeRefused::Wrong)
        );
    }

    #[test]
    fn a_new_secret_is_twenty_random_bytes() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a, b);
        assert_eq!(a.to_base32().len(), 32);
        assert_eq!(TotpSecret::from_bytes(a.as_bytes()).unwrap(), a);
        assert_eq!(
            TotpSecret::from_bytes(&[0; 15]),
            Err(TotpError::SecretTooShort { bytes: 15 })
        );
        assert_eq!(format!("{a:?}"), "TotpSecret([redacted])");
        assert_eq!(
            TotpSecret::from_bytes(RFC_KEY).unwrap().to_base32(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            TotpSecret::from_bytes(RFC_KEY).unwrap()
        );
        assert!(TotpSecret::from_base32("not base32!").is_err());
    }

    #[test]
    fn the_uri_names_pharos_the_page_and_the_account() {
        let secret = TotpSecret::from_bytes(RFC_KEY).unwrap();
        assert_eq!(
            secret.otpauth_uri("Acme", "ana@example.com").unwrap(),
            "otpauth://totp/Pharos%20%28Acme%29:ana%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Pharos%20%28Acme%29"
        );
        let uri = secret
            .otpauth_uri(" Acme: Status ", "ana@example.com")
            .unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Pharos%20%28Acme%20Status%29:"),
            "{uri}"
        );
        let uri = secret.otpauth_uri("", "ana@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Pharos:ana%40example.com?"),
            "{uri}"
        );
        // The app's reading of it gives back the same secret and settings.
        let read = Totp::from_url(&uri).unwrap();
        assert_eq!(read.secret().as_bytes(), RFC_KEY);
        assert_eq!(read.issuer(), Some("Pharos"));
        assert_eq!(read.account_name(), "ana@example.com");
        assert_eq!(read.generate(59).to_string(), "287082");
        for bad in ["", "  ", "a:b@example.com"] {
            assert!(matches!(
                secret.otpauth_uri("Acme", bad),
                Err(TotpError::Account { .. })
            ));
        }
    }
}
