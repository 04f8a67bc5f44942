//! The page's branding as every public HTML page prints it (logo, favicon, accent colour, home
//! and support links), and `/theme.css`, the small stylesheet that carries the accent colour.
//!
//! The accent colour never goes into the page's own `<style>` element or a `style` attribute:
//! that element's content is hashed for the Content-Security-Policy and must be the same on
//! every installation. It is a custom property in `/theme.css` (same origin, so the policy's
//! `style-src 'self'` admits it), linked only when a colour is configured, plus a
//! `<meta name="theme-color">` for the browser's own chrome.
//!
//! The configuration has already checked every value; they are checked again here because
//! [`Branding`] is plain data anyone can build, and whatever does not pass is left out.

use std::hash::{Hash, Hasher};

use pharos_engine::{Branding, PageInfo};

/// The branding, ready to print into the layout and index templates (askama escapes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrandView {
    /// The page's name: the logo's alternative text, or the header's text without a logo.
    pub(crate) name: String,
    /// Where the logo or name links: the configured home page, else the status page itself.
    pub(crate) home_href: String,
    /// The logo's address.
    pub(crate) logo: Option<String>,
    /// The favicon's address.
    pub(crate) favicon: Option<String>,
    /// The accent colour, `#rrggbb`: `<meta name="theme-color">` and the `/theme.css` link.
    pub(crate) accent: Option<String>,
    /// The support link.
    pub(crate) support: Option<String>,
}

impl BrandView {
    /// The branding of `page`.
    pub(crate) fn new(page: &PageInfo) -> Self {
        let b = &page.branding;
        Self {
            name: page.name.clone(),
            home_href: b
                .home_url
                .clone()
                .filter(|u| is_http_url(u))
                .unwrap_or_else(|| "/".to_owned()),
            logo: b.logo_url.clone().filter(|u| is_image_url(u)),
            favicon: b.favicon_url.clone().filter(|u| is_image_url(u)),
            accent: accent(b),
            support: b
                .support_url
                .clone()
                .filter(|u| is_http_url(u) || has_prefix(u, "mailto:")),
        }
    }

    /// A hash of what the pages show of it, part of their cache keys.
    pub(crate) fn hash_into(&self, h: &mut impl Hasher) {
        self.hash(h);
    }
}

impl Hash for BrandView {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (
            &self.name,
            &self.home_href,
            &self.logo,
            &self.favicon,
            &self.accent,
            &self.support,
        )
            .hash(h);
    }
}

fn has_prefix(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn is_http_url(u: &str) -> bool {
    has_prefix(u, "https://") || has_prefix(u, "http://")
}

fn is_image_url(u: &str) -> bool {
    is_http_url(u) || (u.starts_with('/') && !u.starts_with("//"))
}

/// The accent colour when it is exactly `#rrggbb` (lower-cased): anything else could break out
/// of the CSS it is printed into.
fn accent(b: &Branding) -> Option<String> {
    let c = b.accent_color.as_deref()?;
    let hex = c.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|x| x.is_ascii_hexdigit())).then(|| c.to_ascii_lowercase())
}

/// The body of `/theme.css`: the accent colour and a text colour readable on it, or a comment
/// when no colour is configured (the page's built-in accent applies).
pub(crate) fn theme_css(page: &PageInfo) -> String {
    match accent(&page.branding) {
        Some(c) => format!(":root{{--accent:{c};--on-accent:{}}}\n", on_accent(&c)),
        None => "/* No accent colour is configured; the built-in one applies. */\n".to_owned(),
    }
}

/// Black or white, whichever contrasts more with `#rrggbb` (WCAG relative luminance).
fn on_accent(c: &str) -> &'static str {
    let channel = |i: usize| {
        let v =
            f64::from(u8::from_str_radix(c.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0)) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white is 1.05 / (l + 0.05), with black (l + 0.05) / 0.05.
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#fff"
    } else {
        "#000"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(b: Branding) -> PageInfo {
        PageInfo {
            id: "p".into(),
            name: "Acme".into(),
            url: "https://status.acme.test".into(),
            time_zone: chrono_tz::UTC,
            email_subscriptions: false,
            branding: b,
        }
    }

    #[test]
    fn only_safe_values_reach_the_page() {
        let v = BrandView::new(&page(Branding {
            logo_url: Some("javascript:alert(1)".into()),
            favicon_url: Some("//evil.example/f.ico".into()),
            accent_color: Some("#fff;}body{display:none".into()),
            home_url: Some("data:text/html,x".into()),
            support_url: Some("javascript:x".into()),
        }));
        assert_eq!(
            v,
            BrandView {
                name: "Acme".into(),
                home_href: "/".into(),
                logo: None,
                favicon: None,
                accent: None,
                support: None,
            }
        );
        let v = BrandView::new(&page(Branding {
            logo_url: Some("/logo.svg".into()),
            favicon_url: Some("https://cdn.example.com/f.png".into()),
            accent_color: Some("#0B62C9".into()),
            home_url: Some("https://acme.test".into()),
            support_url: Some("mailto:help@acme.test".into()),
        }));
        assert_eq!(v.logo.as_deref(), Some("/logo.svg"));
        assert_eq!(v.accent.as_deref(), Some("#0b62c9"));
        assert_eq!(v.home_href, "https://acme.test");
        assert_eq!(v.support.as_deref(), Some("mailto:help@acme.test"));
    }

    #[test]
    fn the_theme_carries_the_accent_and_a_readable_text_colour() {
        let css = |c: &str| {
            theme_css(&page(Branding {
                accent_color: Some(c.into()),
                ..Branding::default()
            }))
        };
        assert_eq!(css("#0b62c9"), ":root{--accent:#0b62c9;--on-accent:#fff}\n");
        assert_eq!(css("#f2c230"), ":root{--accent:#f2c230;--on-accent:#000}\n");
        assert!(theme_css(&page(Branding::default())).starts_with("/*"));
        assert!(css("red").starts_with("/*"));
    }
}
