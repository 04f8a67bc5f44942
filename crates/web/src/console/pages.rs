//! The console's pages, rendered by askama from `templates/console/` (every value escaped;
//! nothing here is `|safe`).

use askama::Template;
use pharos_engine::people::UserRecord;
use pharos_engine::EngineControl;

use crate::brand::BrandView;

/// The sign-in form.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    error: Option<&'a str>,
    email: &'a str,
}

/// A component's row on the landing page.
struct ComponentRow {
    name: String,
    status: &'static str,
    class: &'static str,
    is_group: bool,
}

/// An open incident's row on the landing page.
struct IncidentRow {
    name: String,
    status: &'static str,
    impact: &'static str,
    public: bool,
    started: String,
}

/// The landing page.
#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage<'a> {
    page_name: &'a str,
    brand: &'a BrandView,
    user_name: &'a str,
    role: &'static str,
    csrf: &'a str,
    components: Vec<ComponentRow>,
    incidents: Vec<IncidentRow>,
}

/// A page with a heading and one paragraph.
#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    page_name: &'a str,
    brand: &'a BrandView,
    heading: &'a str,
    text: &'a str,
}

/// The rendered page, or (logged) a plain line when the template fails.
fn render(t: &impl Template, fallback: &str) -> String {
    t.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a console template failed; serving plain text");
        format!("{fallback}\n")
    })
}

/// The sign-in form carrying `csrf`, with `error` above it and `email` filled in.
pub(super) fn sign_in(
    control: &EngineControl,
    csrf: &str,
    error: Option<&str>,
    email: &str,
) -> String {
    let view = control.view();
    let brand = BrandView::new(&view.page);
    render(
        &SignInPage {
            page_name: &view.page.name,
            brand: &brand,
            csrf,
            error,
            email,
        },
        error.unwrap_or("Sign in"),
    )
}

/// The landing page for `user`, whose sign-out form carries `csrf`.
pub(super) fn home(control: &EngineControl, user: &UserRecord, csrf: &str) -> String {
    let view = control.view();
    let brand = BrandView::new(&view.page);
    let components = view
        .components
        .iter()
        .map(|c| ComponentRow {
            name: c.name.clone(),
            status: c.status.label(),
            class: crate::page::status_class(Some(c.status)),
            is_group: c.is_group,
        })
        .collect();
    let incidents = view
        .incidents
        .iter()
        .filter(|i| i.status.is_unresolved())
        .rev()
        .map(|i| IncidentRow {
            name: i.name.clone(),
            status: i.status.label(),
            impact: i.impact_override.unwrap_or(i.computed_impact).as_str(),
            public: i.public,
            started: i.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    render(
        &HomePage {
            page_name: &view.page.name,
            brand: &brand,
            user_name: &user.name,
            role: user.role.as_str(),
            csrf,
            components,
            incidents,
        },
        "Console",
    )
}

/// A page saying `text` under `heading`.
pub(super) fn message(control: &EngineControl, heading: &str, text: &str) -> String {
    let view = control.view();
    let brand = BrandView::new(&view.page);
    render(
        &MessagePage {
            page_name: &view.page.name,
            brand: &brand,
            heading,
            text,
        },
        heading,
    )
}
