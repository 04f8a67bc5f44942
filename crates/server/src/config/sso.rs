//! `[sso]`: single sign-on to the console with OpenID Connect, turned into
//! `pharos_web::console::SsoSettings`. Needs `[server] public_url`: the redirect URI to
//! register at the provider is `<public_url>/console/sso/callback`.
//!
//! ```toml
//! [sso]
//! issuer = "https://id.example.com/realms/acme"  # required; exactly the provider's issuer
//!                                   # (https://, or http:// on 127.0.0.1, ::1 or localhost)
//! client_id = "pharos"              # required
//! client_secret_file = "/etc/pharos/sso-secret"  # this, or `client_secret` (one of them is
//!                                   # required); the file's first line, relative to this file
//! # client_secret = "${PHAROS_SSO_SECRET}"
//! scopes = ["email", "profile"]     # asked for besides `openid` (default: these two)
//! role_claim = "groups"             # the ID token claim mapped to roles (a string or a list)
//! roles = { "pharos-admins" = "admin", "oncall" = "responder" }  # claim value → role; the
//!                                   # highest role any value maps to wins (default: none)
//! default_role = "viewer"           # for people with no mapped value; unset: they are refused
//! only = false                      # true: a password signs in owners alone (break-glass)
//! button_label = "Acme ID"          # "Sign in with …" (default: "single sign-on")
//! ```
//!
//! The client secret is a credential: no message here repeats it, and `SsoSettings`'s `Debug`
//! masks it.

use pharos_domain::access::Role;
use pharos_web::console::{SsoSettings, DEFAULT_BASE, SSO_CALLBACK_PATH};

use super::values::check_http_url;
use super::walk::{Cx, Section};
use super::Secret;

const KEYS: &[&str] = &[
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_file",
    "scopes",
    "role_claim",
    "roles",
    "default_role",
    "only",
    "button_label",
];

/// `[sso] role_claim` when it is not set.
pub const DEFAULT_ROLE_CLAIM: &str = "groups";
/// `[sso] button_label` when it is not set.
pub const DEFAULT_BUTTON_LABEL: &str = "single sign-on";

/// Reads `[sso]`; `None` (every problem reported) unless it is fully valid. `public_url` is
/// `[server] public_url`, which the redirect URI is built on.
pub(super) fn sso(
    cx: &mut Cx<'_>,
    s: Section<'_>,
    public_url: Option<&str>,
) -> Option<SsoSettings> {
    s.check_keys(cx, KEYS);
    let errors_before = cx.error_count();

    let issuer = match s.field("issuer") {
        None => {
            s.missing(cx, "issuer");
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let text = v.text.trim().to_owned();
            match check_issuer(&text) {
                Ok(()) => Some(text),
                Err(e) => {
                    cx.error(v.at, format!("invalid `issuer`: {e}"));
                    None
                }
            }
        }),
    };
    let client_id = match s.field("client_id") {
        None => {
            s.missing(cx, "client_id");
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            let text = v.text.trim().to_owned();
            if text.is_empty() {
                cx.error(v.at, "`client_id` must not be empty");
                return None;
            }
            Some(text)
        }),
    };
    let secret = match (s.field("client_secret"), s.field("client_secret_file")) {
        (Some(_), Some(f)) => {
            cx.error(
                f.key_at,
                "set `client_secret_file` or `client_secret`, not both",
            );
            None
        }
        (Some(f), None) => cx.secret_string(&f).map(|v| Secret::new(v.text)),
        (None, Some(f)) => cx.string(&f).and_then(|v| {
            let path = cx.relative_path(v.text.trim());
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let first = text.lines().next().unwrap_or_default().trim().to_owned();
                    if first.is_empty() {
                        cx.error(
                            v.at,
                            format!("`client_secret_file`: {} is empty", path.display()),
                        );
                        None
                    } else {
                        Some(Secret::new(first))
                    }
                }
                Err(e) => {
                    cx.error(
                        v.at,
                        format!("`client_secret_file`: cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }),
        (None, None) => {
            cx.error(
                s.at,
                "[sso] is missing required key `client_secret_file` (or `client_secret`)",
            );
            None
        }
    };
    let scopes = match s.field("scopes") {
        None => Some(vec!["email".to_owned(), "profile".to_owned()]),
        Some(f) => cx.string_array(&f).and_then(|items| {
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let scope = item.text.trim();
                if scope.is_empty() || scope.contains(char::is_whitespace) {
                    cx.error(
                        item.at,
                        format!("`scopes`: {scope:?} is not a scope (one word each)"),
                    );
                    return None;
                }
                // `openid` is always asked for.
                if scope != "openid" && !out.iter().any(|s| s == scope) {
                    out.push(scope.to_owned());
                }
            }
            Some(out)
        }),
    };
    let role_claim = match s.field("role_claim") {
        None => Some(DEFAULT_ROLE_CLAIM.to_owned()),
        Some(f) => cx.string(&f).and_then(|v| {
            let text = v.text.trim().to_owned();
            if text.is_empty() {
                cx.error(v.at, "`role_claim` must not be empty");
                return None;
            }
            Some(text)
        }),
    };
    let roles = match s.field("roles") {
        None => Some(Vec::new()),
        Some(f) => cx.string_map(&f).and_then(|entries| {
            let mut out = Vec::new();
            let mut ok = true;
            for (value, _, role) in entries {
                match role.text.trim().parse::<Role>() {
                    Ok(r) => out.push((value, r)),
                    Err(e) => {
                        cx.error(role.at, format!("`roles.{value:?}`: {e}"));
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }),
    };
    let default_role = match s.field("default_role") {
        None => Some(None),
        Some(f) => cx
            .string(&f)
            .and_then(|v| match v.text.trim().parse::<Role>() {
                Ok(r) => Some(Some(r)),
                Err(e) => {
                    cx.error(v.at, format!("`default_role`: {e}"));
                    None
                }
            }),
    };
    let only = match s.field("only") {
        None => Some(false),
        Some(f) => cx.boolean(&f),
    };
    let button_label = match s.field("button_label") {
        None => Some(DEFAULT_BUTTON_LABEL.to_owned()),
        Some(f) => cx.string(&f).and_then(|v| {
            let text = v.text.trim().to_owned();
            if text.is_empty() {
                cx.error(v.at, "`button_label` must not be empty");
                return None;
            }
            Some(text)
        }),
    };
    if let (Some(roles), Some(None)) = (&roles, &default_role) {
        if roles.is_empty() {
            cx.error(
                s.at,
                "[sso] maps no claim value to a role and sets no `default_role`: nobody could \
                 sign in; add `roles = { \"<group>\" = \"viewer\" }` or `default_role`",
            );
        }
    }
    let redirect_url = match public_url {
        // Under the default path; `[console] path` moves it (build.rs).
        Some(base) => Some(format!("{base}{DEFAULT_BASE}{SSO_CALLBACK_PATH}")),
        None => {
            cx.error(
                s.at,
                "[sso] needs `[server] public_url`: the provider sends people back to \
                 <public_url>/console/sso/callback",
            );
            None
        }
    };

    if cx.error_count() > errors_before {
        return None;
    }
    Some(SsoSettings {
        issuer: issuer?,
        client_id: client_id?,
        client_secret: secret?,
        redirect_url: redirect_url?,
        scopes: scopes?,
        role_claim: role_claim?,
        roles: roles?,
        default_role: default_role?,
        only: only?,
        button_label: button_label?,
    })
}

/// An issuer: an absolute `https://` URL, or `http://` on this machine (a provider in a test
/// or beside Pharos), without a query or fragment.
fn check_issuer(url: &str) -> Result<(), String> {
    check_http_url(url)?;
    if url.contains(['?', '#']) {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if !matches!(
            host.to_ascii_lowercase().as_str(),
            "127.0.0.1" | "localhost" | "::1"
        ) {
            return Err(format!(
                "{url:?} must be https:// (http:// only for a provider on this machine: \
                 127.0.0.1, ::1 or localhost)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The diagnostics of `text`, one `line:column: message` each.
    fn errors(text: &str) -> Vec<String> {
        let diags = super::super::parse_str(text, "t.toml", &|_| None).unwrap_err();
        diags
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    }

    const SERVER: &str = "[server]\npublic_url = \"https://status.acme.test/\"\n";

    #[test]
    fn a_full_section_is_read_with_its_defaults() {
        let text = format!(
            "{SERVER}[sso]\nissuer = \"https://id.acme.test\"\nclient_id = \"pharos\"\n\
             client_secret = \"${{SSO_SECRET}}\"\nroles = {{ \"ops\" = \"responder\", \"admins\" = \"admin\" }}\n"
        );
        let env = |k: &str| (k == "SSO_SECRET").then(|| "hush".to_owned());
        let sso = super::super::parse_str(&text, "t.toml", &env)
            .unwrap()
            .config
            .sso
            .unwrap();
        assert_eq!(
            sso.redirect_url,
            "https://status.acme.test/console/sso/callback"
        );
        assert_eq!(sso.client_secret.expose(), "hush");
        assert_eq!(sso.role_claim, "groups");
        assert_eq!(sso.scopes, ["email", "profile"]);
        assert_eq!(
            sso.roles,
            [
                ("ops".to_owned(), Role::Responder),
                ("admins".to_owned(), Role::Admin)
            ]
        );
        assert_eq!(sso.default_role, None);
        assert!(!sso.only);
        assert_eq!(sso.button_label, "single sign-on");
    }

    #[test]
    fn the_secret_comes_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\nignored\n").unwrap();
        let text = format!(
            "{SERVER}[sso]\nissuer = \"https://id.acme.test\"\nclient_id = \"pharos\"\n\
             client_secret_file = \"{}\"\ndefault_role = \"viewer\"\nonly = true\n",
            file.display()
        );
        let sso = super::super::parse_str(&text, "t.toml", &|_| None)
            .unwrap()
            .config
            .sso
            .unwrap();
        assert_eq!(sso.client_secret.expose(), "from-file");
        assert_eq!(sso.default_role, Some(Role::Viewer));
        assert!(sso.only);
        let missing = format!(
            "{SERVER}[sso]\nissuer = \"https://id.acme.test\"\nclient_id = \"pharos\"\n\
             client_secret_file = \"{}/nope\"\ndefault_role = \"viewer\"\n",
            dir.path().display()
        );
        let e = errors(&missing);
        assert!(
            e[0].starts_with("6:22: `client_secret_file`: cannot read"),
            "{e:?}"
        );
    }

    #[test]
    fn errors_name_the_key_and_its_line() {
        let e = errors(
            "[sso]\nissuer = \"http://id.acme.test\"\nclient_id = \"\"\nclient_secret = \"x\"\n\
             roles = { \"ops\" = \"boss\" }\ndefault_role = \"nobody\"\nonly = \"yes\"\nbuton_label = \"X\"\n",
        );
        let joined = e.join("\n");
        for expected in [
            "1:1: [sso] needs `[server] public_url`",
            "2:10: invalid `issuer`: \"http://id.acme.test\" must be https://",
            "3:13: `client_id` must not be empty",
            "5:19: `roles.\"ops\"`: unknown role \"boss\"",
            "6:16: `default_role`: unknown role \"nobody\"",
            "8:1: unknown key `buton_label` in [sso]",
        ] {
            assert!(joined.contains(expected), "{expected}\nin\n{joined}");
        }
        assert!(joined.contains("7:8: "), "{joined}");
        let e = errors(&format!(
            "{SERVER}[sso]\nissuer = \"https://id.acme.test\"\nclient_id = \"pharos\"\n"
        ));
        assert!(
            e.join("\n")
                .contains("[sso] is missing required key `client_secret_file`"),
            "{e:?}"
        );
        let e = errors(&format!(
            "{SERVER}[sso]\nissuer = \"https://id.acme.test\"\nclient_id = \"pharos\"\nclient_secret = \"x\"\n"
        ));
        assert!(e.join("\n").contains("nobody could sign in"), "{e:?}");
    }

    #[test]
    fn issuers_are_https_or_this_machine() {
        assert!(check_issuer("https://id.example.com/realms/acme").is_ok());
        assert!(check_issuer("http://127.0.0.1:9000").is_ok());
        assert!(check_issuer("http://localhost:9000/x").is_ok());
        assert!(check_issuer("http://[::1]:9000").is_ok());
        assert!(check_issuer("http://id.example.com")
            .unwrap_err()
            .contains("must be https://"));
        assert!(check_issuer("https://id.example.com/?x=1").is_err());
        assert!(check_issuer("id.example.com").is_err());
    }
}
