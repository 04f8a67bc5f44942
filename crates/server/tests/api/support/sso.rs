//! Single sign-on set-up shared by the tests that use the real OpenID provider
//! (`console_sso`, and `browser_harness` in Chromium): the provider's client and test people,
//! the client secret in a file, and the app's `[sso]` section pointing at the provider.

use std::path::Path;

use serde_json::{json, Value};

/// The client secret the provider and Pharos share (test data).
pub const SECRET: &str = "pharos-sso-test-client-secret-0123456789";
/// What the sign-in page's link says: "Sign in with Test ID".
pub const BUTTON_LABEL: &str = "Test ID";

/// The provider's client (redirecting to `redirect_uri`) and people: alice is a Pharos admin
/// by group (and on call), bob a viewer, carol in no group Pharos knows, olive an admin with
/// the e-mail of acme's owner, mallory an admin whose address is not verified.
pub fn provider_config(redirect_uri: &str) -> Value {
    json!({
        "client": {
            "client_id": "pharos",
            "client_secret": SECRET,
            "redirect_uris": [redirect_uri],
        },
        "accounts": [
            {"username": "alice", "password": "alice-password", "name": "Alice Admin",
             "email": "alice@example.test", "groups": ["pharos-admins", "oncall"]},
            {"username": "bob", "password": "bob-password", "name": "Bob Viewer",
             "email": "bob@example.test", "groups": ["pharos-viewers"]},
            {"username": "carol", "password": "carol-password", "name": "Carol Nobody",
             "email": "carol@example.test", "groups": ["marketing"]},
            {"username": "olive", "password": "olive-password", "name": "Olive O.",
             "email": "owner@acme.test", "groups": ["pharos-admins"]},
            {"username": "mallory", "password": "mallory-password", "name": "Mallory",
             "email": "rita@acme.test", "email_verified": false, "groups": ["pharos-admins"]},
        ],
    })
}

/// A file holding [`SECRET`] (with a newline, as an editor leaves it), removed when dropped.
pub fn secret_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{SECRET}\n")).unwrap();
    file
}

/// The app's `[sso]` section for `issuer`, the secret read from `secret_file`: the provider's
/// `groups` map pharos-admins to admin, oncall to responder and pharos-viewers to viewer;
/// `only` as given.
pub fn section(issuer: &str, secret_file: &Path, only: bool) -> String {
    format!(
        "[sso]\nissuer = \"{issuer}\"\nclient_id = \"pharos\"\n\
         client_secret_file = \"{}\"\nscopes = [\"email\", \"profile\", \"groups\"]\n\
         roles = {{ \"pharos-admins\" = \"admin\", \"oncall\" = \"responder\", \
         \"pharos-viewers\" = \"viewer\" }}\nonly = {only}\nbutton_label = \"{BUTTON_LABEL}\"",
        secret_file.display()
    )
}
