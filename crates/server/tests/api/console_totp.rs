//! Two-step sign-in through the real app, on every backend: setting TOTP up from the account
//! page (codes computed from the secret the page shows), signing in with the password and
//! then a code, a replayed code and a wrong one refused and audited, a recovery code good
//! once, turning it off; the account page's time zone; setup refused without a sealing key;
//! and a changed key refusing app codes (never letting anyone in) while recovery codes still
//! work.

use chrono::Utc;
use pharos_engine::people::TotpSecret;
use pharos_server::people::{add_user, NewUser};
use pharos_store::{Store, UserKind};
use pharos_testkit::{backends, spawn_app_on, spawn_app_with_db, Backend, TestApp};

use crate::support::config::Config;
use crate::support::console::audit;
use crate::support::console::{browser, get, sign_in, submit, submit_from, Page};

const EMAIL: &str = "ada@acme.test";
const PASSWORD: &str = "correct horse battery staple";
const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const CODE_PATH: &str = "/console/sign-in/code";

/// The configuration, with `[console] secret_key_file` naming a file of `key` in `dir`.
fn config(dir: &tempfile::TempDir, key: Option<&str>) -> String {
    let mut config = Config::acme().component("api", "Public API");
    if let Some(key) = key {
        let path = dir.path().join(format!("{}.key", &key[..2]));
        std::fs::write(&path, format!("{key}\n")).unwrap();
        config = config.section(&format!(
            "[console]\nsecret_key_file = \"{}\"",
            path.display()
        ));
    }
    config.build()
}

/// An app whose owner Ada signs in with [`PASSWORD`].
async fn app(backend: Backend, dir: &tempfile::TempDir, key: Option<&str>) -> TestApp {
    let app = spawn_app_on(backend, &config(dir, key)).await;
    let store = Store::connect(&app.db.url).await.unwrap();
    add_user(
        &store,
        NewUser {
            kind: UserKind::Person,
            email: Some(EMAIL.into()),
            name: Some("Ada <Lovelace>".into()),
            role: "owner".into(),
            time_zone: None,
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .unwrap();
    app
}

/// The text between `start` and the next `end` in `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {page}"))
        + start.len();
    let len = page[from..].find(end).unwrap();
    &page[from..from + len]
}

/// A code of `secret` that is none of those accepted around now.
fn wrong_code(secret: &TotpSecret) -> String {
    let now = Utc::now();
    let near: Vec<String> = (-2..=2)
        .map(|k| secret.code_at(now + chrono::Duration::seconds(30 * k)))
        .collect();
    (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Signs in with the password, and answers the code form (which must be where it leads).
async fn password_step(app: &TestApp, client: &reqwest::Client) -> Page {
    let signed = sign_in(app, client, EMAIL, PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.header("location"), CODE_PATH);
    let pending = signed.set_cookie("pharos_pending").unwrap();
    assert!(
        pending.contains("HttpOnly") && pending.contains("Max-Age=300"),
        "{pending}"
    );
    // No session yet: the console still sends to the sign-in form.
    let home = get(app, client, "/console").await;
    assert_eq!(home.status, 303);
    let form = get(app, client, CODE_PATH).await;
    assert_eq!(form.status, 200, "{}", form.text);
    form
}

/// Sends `code` on the code form `form`.
async fn send_code(app: &TestApp, client: &reqwest::Client, form: &Page, code: &str) -> Page {
    submit(
        app,
        client,
        CODE_PATH,
        &[("csrf", &form.csrf()), ("code", code)],
    )
    .await
}

async fn sign_out(app: &TestApp, client: &reqwest::Client) {
    let home = get(app, client, "/console").await;
    assert_eq!(home.status, 200, "{}", home.text);
    let out = submit(app, client, "/console/sign-out", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.status, 303);
}

/// Signs Ada in (no second factor yet), sets TOTP up, and answers the secret and the ten
/// recovery codes shown.
async fn enrol(app: &TestApp, client: &reqwest::Client) -> (TotpSecret, Vec<String>) {
    let signed = sign_in(app, client, EMAIL, PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    assert_eq!(signed.header("location"), "/console");
    let account = get(app, client, "/console/account").await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert!(account.text.contains("Ada &#60;Lovelace&#62;"), "escaped");
    assert!(account.text.contains(EMAIL));
    assert!(account.text.contains("Set up two-step sign-in"));
    let csrf = account.csrf();
    let started = submit(
        app,
        client,
        "/console/account/totp/start",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(started.status, 303, "{}", started.text);
    assert_eq!(started.header("location"), "/console/account");
    let setup = get(app, client, "/console/account").await;
    let base32 = between(&setup.text, "Key: <span class=\"secret\">", "</span>").to_owned();
    let uri = between(
        &setup.text,
        "Setup link: <span class=\"secret\">",
        "</span>",
    );
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={base32}")), "{uri}");
    assert!(setup
        .text
        .contains("<img class=\"qr\" src=\"data:image/svg+xml;base64,"));
    let secret = TotpSecret::from_base32(&base32).unwrap();
    // The secret being set up is kept sealed, never in clear.
    let sealed = one(app, "totp_pending", "sessions").await;
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(&base32),
        "{sealed}"
    );
    // A wrong code turns nothing on.
    let wrong = submit(
        app,
        client,
        "/console/account/totp/confirm",
        &[("csrf", &csrf), ("code", &wrong_code(&secret))],
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text);
    assert!(
        wrong.text.contains("that code does not match"),
        "{}",
        wrong.text
    );
    assert!(audit(app, "totp.enable").await.is_empty());
    // The right one does, and shows the recovery codes once.
    let confirmed = submit(
        app,
        client,
        "/console/account/totp/confirm",
        &[("csrf", &csrf), ("code", &secret.code_at(Utc::now()))],
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let codes: Vec<String> = confirmed
        .text
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{}", confirmed.text);
    let again = get(app, client, "/console/account").await;
    assert!(!again.text.contains(&codes[0]), "shown once");
    assert!(
        again.text.contains("10 unused recovery codes left"),
        "{}",
        again.text
    );
    let stored = one(app, "totp_secret", "users").await;
    assert!(
        stored.starts_with("v1:") && !stored.contains(&base32),
        "{stored}"
    );
    assert_eq!(count(app, "SELECT COUNT(*) FROM recovery_codes").await, 10);
    assert_eq!(
        one(app, "code_hash", "recovery_codes").await.len(),
        64,
        "hashed"
    );
    let enabled = audit(app, "totp.enable").await;
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0].record.actor_name, "Ada <Lovelace>");
    assert!(enabled[0]
        .record
        .after
        .as_deref()
        .unwrap()
        .contains("\"totp\":true"));
    assert_eq!(
        one(app, "totp_pending", "sessions").await,
        "",
        "the setup is over"
    );
    (secret, codes)
}

/// A count from `sql`.
async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.query_i64(sql).await
}

/// The largest value of `column` in `table` (`""` when none).
async fn one(app: &TestApp, column: &str, table: &str) -> String {
    app.db
        .query_string(&format!("SELECT COALESCE(MAX({column}), '') FROM {table}"))
        .await
}

#[tokio::test]
async fn a_person_sets_up_totp_and_signs_in_with_codes_once_each() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, Some(KEY_A)).await;
        let client = browser();
        let (secret, codes) = enrol(&app, &client).await;
        sign_out(&app, &client).await;
        let signins = audit(&app, "signin").await.len();

        // The password alone gives no session; a wrong code is refused and audited.
        let form = password_step(&app, &client).await;
        assert_eq!(audit(&app, "signin").await.len(), signins);
        let wrong = send_code(&app, &client, &form, &wrong_code(&secret)).await;
        assert_eq!(wrong.status, 401, "{}", wrong.text);
        assert!(wrong.text.contains("That code is not right"));
        let failed = audit(&app, "signin.failed").await;
        assert_eq!(failed.len(), 1);
        let after = failed[0].record.after.as_deref().unwrap();
        assert!(after.contains("\"reason\":\"totp\""), "{after}");
        assert_eq!(failed[0].record.actor_name, EMAIL);

        // The next step's code signs in (the one that confirmed the setup is spent).
        let code = secret.code_at(Utc::now() + chrono::Duration::seconds(30));
        let signed = send_code(&app, &client, &form, &code).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        assert_eq!(signed.header("location"), "/console");
        assert!(signed
            .set_cookie("pharos_pending")
            .unwrap()
            .contains("Max-Age=0"));
        let home = get(&app, &client, "/console").await;
        assert_eq!(home.status, 200);
        let signin = &audit(&app, "signin").await[0];
        assert!(signin
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("\"second_factor\":\"totp\""));
        sign_out(&app, &client).await;

        // The same code again is a replay.
        let form = password_step(&app, &client).await;
        let replay = send_code(&app, &client, &form, &code).await;
        assert_eq!(replay.status, 401, "{}", replay.text);
        let failed = audit(&app, "signin.failed").await;
        assert_eq!(failed.len(), 2);
        assert!(failed[0]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("replayed"));

        // A recovery code works (dashes and case do not matter), once.
        let recovery = codes[3].to_uppercase();
        let signed = send_code(&app, &client, &form, &recovery).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        let signin = &audit(&app, "signin").await[0];
        assert!(signin
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("\"second_factor\":\"recovery\""));
        let account = get(&app, &client, "/console/account").await;
        assert!(
            account.text.contains("9 unused recovery codes left"),
            "{}",
            account.text
        );
        sign_out(&app, &client).await;
        let form = password_step(&app, &client).await;
        let used = send_code(&app, &client, &form, &codes[3]).await;
        assert_eq!(used.status, 401, "{}", used.text);
        assert_eq!(audit(&app, "signin.failed").await.len(), 3);

        // A form without its CSRF token, or from elsewhere, is refused.
        let no_csrf = submit(&app, &client, CODE_PATH, &[("code", &codes[4])]).await;
        assert_eq!(no_csrf.status, 403);
        let elsewhere = submit_from(
            &app,
            &client,
            CODE_PATH,
            &[("csrf", &form.csrf()), ("code", &codes[4])],
            Some("https://evil.example"),
        )
        .await;
        assert_eq!(elsewhere.status, 403);

        // Signed in with another recovery code: new codes, then turning it off, each proven.
        let signed = send_code(&app, &client, &form, &codes[4]).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        let account = get(&app, &client, "/console/account").await;
        let csrf = account.csrf();
        let refused = submit(
            &app,
            &client,
            "/console/account/recovery",
            &[("csrf", &csrf), ("proof", "not my password")],
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(audit(&app, "recovery.regenerate").await.is_empty());
        let fresh = submit(
            &app,
            &client,
            "/console/account/recovery",
            &[("csrf", &csrf), ("proof", PASSWORD)],
        )
        .await;
        assert_eq!(fresh.status, 200, "{}", fresh.text);
        assert_eq!(fresh.text.matches("<li><code>").count(), 10);
        assert!(!fresh.text.contains(&codes[0]));
        assert_eq!(audit(&app, "recovery.regenerate").await.len(), 1);
        // (A wrong proof for turning it off: see the limit test below; this account has
        // spent its budget of wrong guesses but one.)
        let off = submit(
            &app,
            &client,
            "/console/account/totp/disable",
            &[("csrf", &csrf), ("proof", PASSWORD)],
        )
        .await;
        assert_eq!(off.status, 303, "{}", off.text);
        assert_eq!(audit(&app, "totp.disable").await.len(), 1);
        assert_eq!(one(&app, "totp_secret", "users").await, "");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM recovery_codes").await, 0);
        sign_out(&app, &client).await;
        // The password alone signs in again.
        let signed = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(signed.header("location"), "/console");
    }
}

#[tokio::test]
async fn the_account_page_changes_the_time_zone_only_to_a_known_one() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, None).await;
        let client = browser();
        let signed = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(signed.status, 303);
        let account = get(&app, &client, "/console/account").await;
        assert!(account.text.contains("value=\"UTC\""), "{}", account.text);
        let csrf = account.csrf();
        let bad = submit(
            &app,
            &client,
            "/console/account",
            &[("csrf", &csrf), ("time_zone", "Mars/<Olympus>")],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert!(
            bad.text.contains("Mars/&#60;Olympus&#62;"),
            "escaped: {}",
            bad.text
        );
        assert!(audit(&app, "account.update").await.is_empty());
        let no_csrf = submit(
            &app,
            &client,
            "/console/account",
            &[("time_zone", "Europe/Berlin")],
        )
        .await;
        assert_eq!(no_csrf.status, 403);
        let good = submit(
            &app,
            &client,
            "/console/account",
            &[("csrf", &csrf), ("time_zone", "Europe/Berlin")],
        )
        .await;
        assert_eq!(good.status, 303, "{}", good.text);
        assert_eq!(good.header("location"), "/console/account?done=time_zone");
        let account = get(&app, &client, good.header("location")).await;
        assert!(account.text.contains("value=\"Europe/Berlin\""));
        assert!(account.text.contains("Your time zone is saved."));
        let updated = audit(&app, "account.update").await;
        assert_eq!(updated.len(), 1);
        assert!(updated[0].record.before.as_deref().unwrap().contains("UTC"));
        assert!(updated[0]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("Europe/Berlin"));
    }
}

#[tokio::test]
async fn without_a_sealing_key_setup_is_refused_and_says_how_to_set_one() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, None).await;
        let client = browser();
        let signed = sign_in(&app, &client, EMAIL, PASSWORD).await;
        assert_eq!(signed.status, 303);
        let account = get(&app, &client, "/console/account").await;
        assert!(account.text.contains("secret_key_file"), "{}", account.text);
        assert!(account.text.contains("PHAROS_SECRET_KEY"));
        let refused = submit(
            &app,
            &client,
            "/console/account/totp/start",
            &[("csrf", &account.csrf())],
        )
        .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(refused.text.contains("no sealing key"), "{}", refused.text);
        assert_eq!(one(&app, "totp_pending", "sessions").await, "");
    }
}

#[tokio::test]
async fn with_another_key_app_codes_are_refused_and_recovery_codes_still_work() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, Some(KEY_A)).await;
        let client = browser();
        let (secret, codes) = enrol(&app, &client).await;
        let db = app.stop().await;
        let app = spawn_app_with_db(db, &config(&dir, Some(KEY_B))).await;
        let client = browser();
        let form = password_step(&app, &client).await;
        let code = secret.code_at(Utc::now() + chrono::Duration::seconds(30));
        let refused = send_code(&app, &client, &form, &code).await;
        assert_eq!(refused.status, 503, "{}", refused.text);
        assert!(refused.text.contains("recovery codes"), "{}", refused.text);
        assert_eq!(
            get(&app, &client, "/console").await.status,
            303,
            "not signed in"
        );
        let failed = audit(&app, "signin.failed").await;
        assert!(failed[0]
            .record
            .after
            .as_deref()
            .unwrap()
            .contains("unavailable"));
        let signed = send_code(&app, &client, &form, &codes[0]).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        assert_eq!(get(&app, &client, "/console").await.status, 200);
    }
}

#[tokio::test]
async fn wrong_codes_are_limited_per_account_like_passwords() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, Some(KEY_A)).await;
        let client = browser();
        let (secret, codes) = enrol(&app, &client).await;
        sign_out(&app, &client).await;
        let form = password_step(&app, &client).await;
        // The account's bucket holds five failures (passwords and codes alike).
        for _ in 0..5 {
            let wrong = send_code(&app, &client, &form, &wrong_code(&secret)).await;
            assert_eq!(wrong.status, 401, "{}", wrong.text);
        }
        let limited = send_code(&app, &client, &form, &codes[0]).await;
        assert_eq!(limited.status, 429, "{}", limited.text);
        assert!(!limited.header("retry-after").is_empty());
        assert!(limited.text.contains("Too many wrong codes"));
        assert_eq!(
            get(&app, &client, "/console").await.status,
            303,
            "not signed in"
        );
        assert_eq!(
            audit(&app, "signin.failed").await.len(),
            5,
            "the limit is not a try"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL"
            )
            .await,
            0
        );
    }
}

#[tokio::test]
async fn guessing_the_proof_to_turn_it_off_is_limited_too() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(backend, &dir, Some(KEY_A)).await;
        let client = browser();
        enrol(&app, &client).await;
        let account = get(&app, &client, "/console/account").await;
        assert!(!account.text.contains(" style="), "no inline style");
        let csrf = account.csrf();
        for _ in 0..5 {
            let wrong = submit(
                &app,
                &client,
                "/console/account/totp/disable",
                &[("csrf", &csrf), ("proof", "a guess")],
            )
            .await;
            assert_eq!(wrong.status, 422, "{}", wrong.text);
        }
        let limited = submit(
            &app,
            &client,
            "/console/account/totp/disable",
            &[("csrf", &csrf), ("proof", PASSWORD)],
        )
        .await;
        assert_eq!(limited.status, 429, "{}", limited.text);
        assert!(!limited.header("retry-after").is_empty());
        assert!(audit(&app, "totp.disable").await.is_empty());
        assert!(one(&app, "totp_secret", "users").await.starts_with("v1:"));
    }
}
