//! `[console]`: where the responders' console lives, and the key it seals TOTP secrets
//! under, kept outside the database so a copy of the database alone does not give the second
//! factors away.
//!
//! ```toml
//! [console]
//! path = "/console"                            # the default
//! secret_key_file = "/etc/pharos/secret.key"   # relative to this file's folder unless absolute
//! ```
//!
//! The file holds 32 random bytes, or (whitespace around it ignored) 64 hex digits or 44
//! base64 characters: `openssl rand -hex 32 > /etc/pharos/secret.key`. Without the key,
//! the environment variable `PHAROS_SECRET_KEY` (64 hex digits or 44 base64 characters) is
//! read; the file wins when both are set (a warning). Without either, people cannot set up
//! two-step sign-in (password sign-in works as before). The key is read here, so `pharos
//! validate` checks it; no diagnostic ever repeats its content.

use pharos_engine::people::SealKey;

use super::walk::{Cx, Section};

/// First path segments the public page, its API and the other routes use: the console may
/// not take them.
const TAKEN: &[&str] = &[
    "api",
    "incidents",
    "history",
    "history.atom",
    "history.rss",
    "ping",
    "healthz",
    "readyz",
    "metrics",
    "subscribe",
    "subscriptions",
    "unsubscribe",
    "confirm",
    "reports",
    "feed",
    "probe",
    "index.json",
    "favicon.ico",
    "robots.txt",
    "uptime",
    "embed",
    "badge",
    "theme.css",
];

/// Reads `path`: an absolute path of lowercase letters, digits, `-`, `_` and `/`, without a
/// trailing slash, whose first segment no other route uses; `None` when absent or refused.
pub(super) fn path(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<String> {
    let f = s.field("path")?;
    let v = cx.string(&f)?;
    let p = v.text.trim();
    let shape_ok = p.len() >= 2
        && p.len() <= 64
        && p.starts_with('/')
        && !p.ends_with('/')
        && !p.contains("//")
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_/".contains(&b));
    if !shape_ok {
        cx.error(
            v.at,
            format!(
                "`path` {p:?} must be an absolute path of lowercase letters, digits, `-`, `_` \
                 and `/`, without a trailing slash, like \"/console\" or \"/ops/console\""
            ),
        );
        return None;
    }
    let first = p[1..].split('/').next().unwrap_or_default();
    if TAKEN.contains(&first) {
        cx.error(
            v.at,
            format!("`path` {p:?} is taken: the public page uses /{first}; choose another, like \"/console\""),
        );
        return None;
    }
    Some(p.to_owned())
}

/// The environment variable holding the key when the file names no `secret_key_file`.
pub const SECRET_KEY_ENV: &str = "PHAROS_SECRET_KEY";

/// Reads `[console]`: `secret_key_file`, optional.
pub(super) fn console(cx: &mut Cx<'_>, s: Section<'_>) -> Option<SealKey> {
    s.check_keys(cx, &["secret_key_file", "path"]);
    let f = s.field("secret_key_file")?;
    let v = cx.string(&f)?;
    if v.text.trim().is_empty() {
        cx.error(
            v.at,
            "`secret_key_file` must name a file, like \"/etc/pharos/secret.key\"",
        );
        return None;
    }
    let path = cx.relative_path(&v.text);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) => {
            cx.error(
                v.at,
                format!(
                    "cannot read `secret_key_file` {}: {e}; create it with `openssl rand -hex \
                     32 > {}`",
                    path.display(),
                    path.display()
                ),
            );
            return None;
        }
    };
    match SealKey::parse(&raw) {
        Ok(key) => {
            if cx.env_var(SECRET_KEY_ENV).is_some() {
                cx.warn(
                    v.at,
                    format!("`secret_key_file` is used; the environment variable {SECRET_KEY_ENV} is ignored"),
                );
            }
            Some(key)
        }
        Err(e) => {
            cx.error(v.at, format!("`secret_key_file` {}: {e}", path.display()));
            None
        }
    }
}

/// The key from [`SECRET_KEY_ENV`], when set; a malformed value is an error at the top of
/// the file (it is not in the file), never repeating the value. Unlike a file, the variable
/// must be text (64 hex digits or 44 base64 characters): 32 characters typed into an
/// environment are a password, not 32 random bytes.
pub(super) fn from_env(cx: &mut Cx<'_>) -> Option<SealKey> {
    let value = cx.env_var(SECRET_KEY_ENV)?;
    let parsed = if value.len() == 32 {
        Err(pharos_engine::people::KeyError::Shape(32))
    } else {
        SealKey::parse(value.as_bytes())
    };
    match parsed {
        Ok(key) => Some(key),
        Err(_) => {
            cx.error(
                0,
                format!(
                    "the environment variable {SECRET_KEY_ENV} must be 64 hex digits or 44 \
                     base64 characters (32 random bytes), like the output of `openssl rand -hex 32`"
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::parse_str;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn env_with(key: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            (name == super::SECRET_KEY_ENV)
                .then(|| key.map(str::to_owned))
                .flatten()
        }
    }

    fn errors(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        parse_str(text, file, env)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn the_path_is_checked_and_moves_the_sso_callback() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pharos.toml");
        let file = file.to_str().unwrap();
        let loaded = parse_str("", file, &env_with(None)).unwrap();
        assert_eq!(loaded.config.console.path(), "/console");
        let text = "[server]\npublic_url = \"https://status.example.com\"\n\n[console]\n\
                    path = \"/ops/console\"\n\n[sso]\nissuer = \"https://id.example.com\"\n\
                    client_id = \"pharos\"\nclient_secret = \"s3cret\"\n\
                    default_role = \"viewer\"\n";
        let loaded = parse_str(text, file, &env_with(None)).unwrap();
        assert_eq!(loaded.config.console.path(), "/ops/console");
        assert_eq!(
            loaded.config.sso.unwrap().redirect_url,
            "https://status.example.com/ops/console/sso/callback"
        );
        for (bad, says) in [
            ("/Console", "must be an absolute path"),
            ("console", "must be an absolute path"),
            ("/console/", "must be an absolute path"),
            ("/", "must be an absolute path"),
            ("/api", "is taken: the public page uses /api"),
            ("/incidents/console", "is taken"),
        ] {
            let found = errors(
                &format!("[console]\npath = \"{bad}\"\n"),
                file,
                &env_with(None),
            );
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert!(found[0].contains(":2:8: error: `path`"), "{bad}: {found:?}");
            assert!(found[0].contains(says), "{bad}: {found:?}");
        }
    }

    #[test]
    fn the_key_comes_from_the_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pharos.toml");
        let file = file.to_str().unwrap();
        std::fs::write(dir.path().join("secret.key"), format!("{HEX}\n")).unwrap();
        let text = "[console]\nsecret_key_file = \"secret.key\"\n";
        let loaded = parse_str(text, file, &env_with(None)).unwrap();
        let key = loaded.config.console.secret_key.unwrap();
        assert_eq!(key.bytes()[31], 0x1f);
        assert_eq!(format!("{key:?}"), "SealKey([redacted])");
        // Raw bytes do too.
        std::fs::write(dir.path().join("raw.key"), [5u8; 32]).unwrap();
        let raw = parse_str(
            "[console]\nsecret_key_file = \"raw.key\"\n",
            file,
            &env_with(None),
        )
        .unwrap();
        assert_eq!(raw.config.console.secret_key.unwrap().bytes(), &[5u8; 32]);
        // The environment, without a file.
        let from_env = parse_str("", file, &env_with(Some(HEX))).unwrap();
        assert_eq!(from_env.config.console.secret_key, Some(key.clone()));
        // Both: the file wins, with a warning.
        std::fs::write(dir.path().join("other.key"), [6u8; 32]).unwrap();
        let both = parse_str(
            "[console]\nsecret_key_file = \"other.key\"\n",
            file,
            &env_with(Some(HEX)),
        )
        .unwrap();
        assert_eq!(both.config.console.secret_key.unwrap().bytes(), &[6u8; 32]);
        assert!(both.warnings[0].to_string().contains("is ignored"));
        // Neither: no key, no complaint.
        let none = parse_str("", file, &env_with(None)).unwrap();
        assert_eq!(none.config.console.secret_key, None);
    }

    #[test]
    fn a_bad_key_is_an_error_naming_the_key_and_line_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pharos.toml");
        let file = file.to_str().unwrap();
        std::fs::write(dir.path().join("short.key"), "hunter2-hunter2\n").unwrap();
        let text = "[page]\nname = \"Acme\"\n\n[console]\nsecret_key_file = \"short.key\"\n";
        let found = errors(text, file, &env_with(None));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains(":5:19: error: `secret_key_file`"),
            "{found:?}"
        );
        assert!(found[0].contains("32 random bytes"), "{found:?}");
        assert!(!found[0].contains("hunter2"), "{found:?}");
        let missing = errors(
            "[console]\nsecret_key_file = \"nope.key\"\n",
            file,
            &env_with(None),
        );
        assert!(
            missing[0].contains(":2:19: error: cannot read `secret_key_file`"),
            "{missing:?}"
        );
        let unknown = errors("[console]\nsecret_key = \"x\"\n", file, &env_with(None));
        assert!(unknown[0].contains("secret_key"), "{unknown:?}");
        for bad in ["hunter2", "0123456789abcdef0123456789abcdef"] {
            let env = move |name: &str| (name == super::SECRET_KEY_ENV).then(|| bad.to_owned());
            let found = errors("", file, &env);
            assert!(
                found[0].contains("PHAROS_SECRET_KEY must be 64 hex digits"),
                "{found:?}"
            );
            assert!(!found[0].contains(bad), "{found:?}");
        }
    }
}
