//! A browser-like client for the console's tests: keeps cookies, follows no redirect (so each
//! 303 is seen), sends forms from the app's own origin, and signs people in.

use pharos_server::people::{add_user, NewUser};
use pharos_store::{Store, UserKind};
use pharos_testkit::TestApp;
use reqwest::header::HeaderMap;

/// A browser: keeps cookies, follows no redirect.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What a request answered.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// The `Set-Cookie` line for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The hidden CSRF field's value.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.text.find(marker).expect("a CSRF field") + marker.len();
        let end = start + self.text[start..].find('"').unwrap();
        self.text[start..end].to_owned()
    }
}

pub async fn read(r: reqwest::Response) -> Page {
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap(),
    }
}

pub async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Page {
    read(
        client
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// POSTs `fields` as a form from this app's own origin (as a browser on its page does).
pub async fn submit(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    submit_from(app, client, path, fields, Some(&app.base_url)).await
}

/// POSTs `fields` as a form with `Origin: origin` (none when `None`).
pub async fn submit_from(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    origin: Option<&str>,
) -> Page {
    let mut request = client
        .post(format!("{}{path}", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish(),
        );
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    read(request.send().await.unwrap()).await
}

/// Opens the sign-in form and sends it with `email` and `password`.
pub async fn sign_in(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> Page {
    let form = get(app, client, "/console/sign-in").await;
    assert_eq!(form.status, 200, "{}", form.text);
    let csrf = form.csrf();
    submit(
        app,
        client,
        "/console/sign-in",
        &[("csrf", &csrf), ("email", email), ("password", password)],
    )
    .await
}

/// Adds a person with `role` who signs in with `password`.
pub async fn add_person(app: &TestApp, email: &str, name: &str, role: &str, password: &str) {
    let store = Store::connect(&app.db.url).await.unwrap();
    add_user(
        &store,
        NewUser {
            kind: UserKind::Person,
            email: Some(email.into()),
            name: Some(name.into()),
            role: role.into(),
            time_zone: None,
            password: Some(password.into()),
        },
    )
    .await
    .unwrap();
}

/// A browser signed in as a new person with `role` (e-mail `<role>@acme.test`, name
/// `<Role> Person`), and the CSRF token of their session's forms. The first person is an
/// owner, so when there is nobody yet, `owner@acme.test` ("Owner Person") is added first.
pub async fn signed_in_as(app: &TestApp, role: &str) -> (reqwest::Client, String) {
    const PASSWORD: &str = "correct horse battery staple";
    let store = Store::connect(&app.db.url).await.unwrap();
    if role != "owner" && store.users().await.unwrap().is_empty() {
        add_person(app, "owner@acme.test", "Owner Person", "owner", PASSWORD).await;
    }
    let email = format!("{role}@acme.test");
    let mut name = role.to_owned();
    name[..1].make_ascii_uppercase();
    add_person(app, &email, &format!("{name} Person"), role, PASSWORD).await;
    let client = browser();
    let signed = sign_in(app, &client, &email, PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.text);
    let home = get(app, &client, "/console").await;
    assert_eq!(home.status, 200, "{}", home.text);
    let csrf = home.csrf();
    (client, csrf)
}

/// The audit entries of exactly `action`, newest first.
pub async fn audit(app: &TestApp, action: &str) -> Vec<pharos_store::AuditEntry> {
    Store::connect(&app.db.url)
        .await
        .unwrap()
        .audit(&pharos_store::AuditFilter {
            action_prefix: Some(action.into()),
            ..pharos_store::AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == action)
        .collect()
}
