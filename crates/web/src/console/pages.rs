//! The console's pages, rendered by askama from `templates/console/` (every value escaped;
//! nothing here is `|safe`).

use askama::Template;
use pharos_domain::access::Permission;

use super::Signed;
use crate::brand::BrandView;

/// A link in the console's navigation.
pub(crate) struct NavLink {
    /// Path under the console's base.
    pub(crate) path: &'static str,
    /// Its text.
    pub(crate) label: &'static str,
    /// Whether it is the page shown (`aria-current="page"`).
    pub(crate) current: bool,
}

/// What every signed-in page shows around its content: who is signed in, the sign-out form
/// and the navigation (only the pages their role may open).
pub(crate) struct Nav {
    /// The person's name.
    pub(crate) user_name: String,
    /// Their role.
    pub(crate) role: &'static str,
    /// The session's CSRF token, for the sign-out form.
    pub(crate) csrf: String,
    /// The console's pages.
    pub(crate) links: Vec<NavLink>,
}

/// The console's sections: path under the base, label, and what it takes to open.
const SECTIONS: &[(&str, &str, Permission)] = &[
    ("", "Overview", Permission::Read),
    ("/incidents", "Incidents", Permission::Read),
    ("/maintenances", "Maintenances", Permission::Read),
    ("/changes", "Changes", Permission::Read),
    ("/subscribers", "Subscribers", Permission::Read),
    ("/deliveries", "Deliveries", Permission::Read),
    ("/reports", "Reports", Permission::Read),
    ("/users", "People", Permission::Read),
    ("/tokens", "Tokens", Permission::Read),
    ("/audit", "Audit log", Permission::Administer),
    ("/account", "Your account", Permission::Read),
];

impl Nav {
    /// The chrome for `signed`, on the section at `current` (a path under the base). A
    /// section whose route does not exist yet is left out.
    pub(crate) fn new(signed: &Signed, current: &str) -> Nav {
        let user = &signed.session.user;
        let links = SECTIONS
            .iter()
            .filter(|(path, _, permission)| {
                signed.may(*permission) && super::required(&http::Method::GET, path).is_some()
            })
            .map(|(path, label, _)| NavLink {
                path,
                label,
                current: *path == current,
            })
            .collect();
        Nav {
            user_name: user.name.clone(),
            role: user.role.as_str(),
            csrf: signed.csrf.clone(),
            links,
        }
    }
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    csrf: &'a str,
    error: Option<&'a str>,
    email: &'a str,
    /// `[sso] button_label`, when single sign-on is configured.
    sso_label: Option<&'a str>,
    /// `[sso] only`: the password form is for the break-glass owner.
    sso_only: bool,
}

/// A page with a heading and one paragraph.
#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    heading: &'a str,
    text: &'a str,
}

/// The rendered page, or (logged) a plain line when the template fails.
pub(crate) fn render(t: &impl Template, fallback: &str) -> String {
    t.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a console template failed; serving plain text");
        format!("{fallback}\n")
    })
}

/// The sign-in form carrying `csrf`, with `error` above it and `email` filled in; with `sso`
/// (its label, and whether it is "SSO only") the single sign-on link too.
pub(super) fn sign_in(
    ctx: &super::Ctx,
    csrf: &str,
    error: Option<&str>,
    email: &str,
    sso: Option<(&str, bool)>,
) -> String {
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    render(
        &SignInPage {
            base: &ctx.base,
            nav: None,
            page_name: &view.page.name,
            brand: &brand,
            csrf,
            error,
            email,
            sso_label: sso.map(|(label, _)| label),
            sso_only: sso.is_some_and(|(_, only)| only),
        },
        error.unwrap_or("Sign in"),
    )
}

/// A page saying `text` under `heading`.
pub(super) fn message(ctx: &super::Ctx, heading: &str, text: &str) -> String {
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    render(
        &MessagePage {
            base: &ctx.base,
            nav: None,
            page_name: &view.page.name,
            brand: &brand,
            heading,
            text,
        },
        heading,
    )
}
