//! An e-mail to a responder: one message per recipient, with the words every channel shows
//! ([`Message`]) as a plain-text part and an HTML part.
//!
//! - Subject: the title and the page, `[Investigating] Major outage of API — Acme status`.
//! - Both parts: the title, the page and time, status and impact (or the maintenance window),
//!   the latest public update, the affected components, and the link to the incident,
//!   maintenance or page; a footer says who is written to and why.
//! - The HTML is the `templates/email.html` card, escaped throughout by askama (with
//!   [`escape`]'s entities): update bodies and names are text a person typed, so they are
//!   shown as text (line breaks kept), never interpreted as markup. The link is only made a
//!   link when it is `http(s)`.
//! - Headers: `Auto-Submitted: auto-generated` (RFC 3834, so auto-responders stay quiet),
//!   `X-Pharos-Event` with the event kind, and a `Message-ID` derived from the delivery id and
//!   the recipient, the same on every retry, so a mailbox can recognise a repeat.

use askama::filters::Escaper;
use askama::Template;
use sha2::{Digest, Sha256};

use crate::email::Email;
use crate::event::Event;
use crate::message::{truncate, Message};
use crate::render::RenderError;

/// The event-kind header.
pub const EVENT_HEADER: &str = "X-Pharos-Event";

/// The e-mails for `event`, one per address in `to`, from notifier `notifier_id` sending as
/// `from` (`[smtp] from`); `delivery_id` makes each `Message-ID`.
pub fn emails(
    event: &Event,
    to: &[String],
    from: &str,
    notifier_id: &str,
    delivery_id: &str,
) -> Result<Vec<Email>, RenderError> {
    let m = Message::of(event)?;
    let subject = subject(event, &m);
    let domain = crate::email::mailbox_domain(from).unwrap_or_else(|| "pharos.invalid".into());
    Ok(to
        .iter()
        .map(|address| Email {
            to: address.clone(),
            subject: subject.clone(),
            text: text(event, &m, address, notifier_id),
            html: html(event, &m, address, notifier_id),
            headers: vec![
                ("Auto-Submitted".to_owned(), "auto-generated".to_owned()),
                (EVENT_HEADER.to_owned(), event.kind.as_str().to_owned()),
                (
                    "Message-ID".to_owned(),
                    message_id(delivery_id, address, &domain),
                ),
            ],
        })
        .collect())
}

/// `[Investigating] Major outage of API — Acme status`.
pub fn subject(event: &Event, m: &Message) -> String {
    truncate(&format!("{} — {} status", m.title, event.page.name), 250)
}

/// `<delivery-id.hash-of-recipient@domain>`: stable across retries, different per recipient.
fn message_id(delivery_id: &str, recipient: &str, domain: &str) -> String {
    let local: String = delivery_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let digest = Sha256::digest(recipient.to_ascii_lowercase().as_bytes());
    let hash = hex::encode(&digest[..6]);
    format!("<{local}.{hash}@{domain}>")
}

/// The rows under the title: status and impact, or the maintenance window.
fn facts(m: &Message) -> Vec<(&'static str, String)> {
    let mut rows = vec![("Status", m.status.clone())];
    if let Some(impact) = &m.impact {
        rows.push(("Impact", impact.clone()));
    }
    if let Some(window) = &m.window {
        rows.push(("Window", window.clone()));
    }
    rows
}

fn footer(event: &Event, address: &str, notifier_id: &str) -> String {
    format!(
        "Sent by Pharos for {} to {address}, a recipient of notifier \"{notifier_id}\". \
         To stop these e-mails, remove the address from that notifier's `to` list.",
        event.page.name
    )
}

/// The plain-text part.
pub fn text(event: &Event, m: &Message, address: &str, notifier_id: &str) -> String {
    let mut out = format!("{}\n{} · {}\n\n", m.title, event.page.name, m.when);
    for (label, value) in facts(m) {
        out.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(body) = &m.body {
        out.push('\n');
        out.push_str(body);
        out.push('\n');
    }
    if !m.components.is_empty() {
        out.push_str("\nAffected components:\n");
        for c in &m.components {
            out.push_str(&format!("- {c}\n"));
        }
    }
    out.push_str(&format!("\n{}: {}\n", m.link_text, m.link));
    out.push_str(&format!("\n-- \n{}\n", footer(event, address, notifier_id)));
    out
}

/// The HTML part: one card, inline styles (mail clients drop style sheets), every piece of
/// text escaped. The card is `templates/email.html`.
pub fn html(event: &Event, m: &Message, address: &str, notifier_id: &str) -> String {
    let card = Card {
        m,
        page: &event.page.name,
        facts: facts(m),
        linked: m.link.starts_with("https://") || m.link.starts_with("http://"),
        footer: footer(event, address, notifier_id),
    };
    let mut out = String::new();
    // Writing to a String cannot fail, and no value in the template does.
    let _ = card.render_into(&mut out);
    // askama drops the template file's last line break; the part has always ended with one.
    out.push('\n');
    out
}

/// What `templates/email.html` is rendered from. Every value is escaped by [`EmailHtml`].
#[derive(Template)]
#[template(path = "email.html")]
struct Card<'a> {
    /// The words of the message.
    m: &'a Message,
    /// The status page's name.
    page: &'a str,
    /// The rows under the title.
    facts: Vec<(&'static str, String)>,
    /// Whether the link is `http(s)` and so shown as a button; otherwise it is text.
    linked: bool,
    /// Who is written to and why.
    footer: String,
}

/// The HTML part of a subscriber's e-mail about `m` (`templates/subscriber_event.html`):
/// lighter than the responders' card, with the `unsubscribe` link at the foot.
pub fn subscriber_html(page: &str, m: &Message, facts: &str, unsubscribe: &str) -> String {
    render(&SubscriberEvent {
        m,
        page,
        facts,
        unsubscribe,
    })
}

/// The HTML part of the double opt-in e-mail (`templates/subscriber_confirm.html`): `what`
/// the address asked for on `page` (at `page_url`), and the `confirm` link, good until
/// `expires`.
pub fn confirmation_html(
    page: &str,
    page_url: &str,
    what: &str,
    confirm: &str,
    expires: &str,
) -> String {
    render(&SubscriberConfirm {
        page,
        page_url,
        what,
        confirm,
        expires,
    })
}

fn render(t: &impl Template) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, and no value in these templates does.
    let _ = t.render_into(&mut out);
    out
}

/// What `templates/subscriber_event.html` is rendered from, escaped by [`EmailHtml`].
#[derive(Template)]
#[template(path = "subscriber_event.html")]
struct SubscriberEvent<'a> {
    m: &'a Message,
    page: &'a str,
    /// "Status: … · Impact: …".
    facts: &'a str,
    unsubscribe: &'a str,
}

/// What `templates/subscriber_confirm.html` is rendered from, escaped by [`EmailHtml`].
#[derive(Template)]
#[template(path = "subscriber_confirm.html")]
struct SubscriberConfirm<'a> {
    page: &'a str,
    page_url: &'a str,
    what: &'a str,
    confirm: &'a str,
    expires: &'a str,
}

/// The e-mails' HTML escaping (`askama.toml` makes it the escaper of this crate's `.html`
/// templates): `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&#39;`. askama's own escaper means the
/// same but writes numeric entities (`&#60;`); these named ones are what the e-mails have
/// always carried and what tests and mail filters may look for; the subscriber e-mails'
/// templates use it too, so every e-mail Pharos sends escapes alike.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EmailHtml;

impl Escaper for EmailHtml {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, s: &str) -> std::fmt::Result {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&s[plain..i])?;
            dest.write_str(entity)?;
            plain = i + 1;
        }
        dest.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(s: &str) -> String {
        let mut out = String::new();
        EmailHtml.write_escaped_str(&mut out, s).unwrap();
        out
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    /// A message with every part, and text that needs escaping everywhere it can appear.
    fn card() -> (Event, Message) {
        let page = crate::event::PageContext {
            id: "acme".into(),
            name: "Acme & <Co>'s".into(),
            url: "https://status.acme.example".into(),
            time_zone: "America/Denver".into(),
            status_indicator: pharos_domain::Indicator::None,
            status_description: "All Systems Operational".into(),
        };
        let event = Event::test(page, chrono::DateTime::UNIX_EPOCH);
        let m = Message {
            title: "[Investigating] Outage <img src=x onerror=alert(1)>".into(),
            status: "Investigating".into(),
            impact: Some("Critical & \"loud\"".into()),
            body: Some("Line one <script>alert('x')</script>\nLine two & \"quotes\"".into()),
            window: Some("Jan 6, 2026 02:00 – 04:00 MST".into()),
            components: vec!["API — Major outage".into(), "<b>db</b> — Degraded".into()],
            when: "Jan 5, 2026 14:03 MST".into(),
            link: "https://status.acme.example/incidents/x?a=1&b=\"2\"".into(),
            link_text: "View incident",
            tone: crate::message::Tone::Critical,
        };
        (event, m)
    }

    #[test]
    fn subscriber_e_mails_are_escaped_throughout() {
        // Byte for byte what the subscriber e-mails carried before they had templates.
        let (_, m) = card();
        let facts = "Status: Investigating · Impact: Critical & \"loud\"";
        let part = subscriber_html("Acme & <Co>'s", &m, facts, "https://s.example/u?t=a&b");
        let expected = concat!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">",
            "<h2 style=\"margin:0 0 8px\">[Investigating] Outage &lt;img src=x onerror=alert(1)&gt;</h2>",
            "<p style=\"color:#555;margin:0 0 12px\">Status: Investigating · Impact: Critical &amp; &quot;loud&quot;</p>",
            "<p>Scheduled for Jan 6, 2026 02:00 – 04:00 MST</p>",
            "<p style=\"white-space:pre-wrap\">Line one &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\nLine two &amp; &quot;quotes&quot;</p>",
            "<p>Affected components:</p><ul><li>API — Major outage</li><li>&lt;b&gt;db&lt;/b&gt; — Degraded</li></ul>",
            "<p style=\"color:#555\">Jan 5, 2026 14:03 MST</p>",
            "<p><a href=\"https://status.acme.example/incidents/x?a=1&amp;b=&quot;2&quot;\">View incident</a></p>",
            "<hr><p style=\"color:#777;font-size:13px\">You receive this because you subscribed to updates from Acme &amp; &lt;Co&gt;&#39;s. ",
            "<a href=\"https://s.example/u?t=a&amp;b\">Unsubscribe</a></p></body></html>",
        );
        assert_eq!(part, expected);
        let bare = Message {
            body: None,
            window: None,
            components: vec![],
            ..m
        };
        let part = subscriber_html("Acme", &bare, "Status: Investigating", "u");
        assert!(
            !part.contains("Scheduled for") && !part.contains("<ul>") && !part.contains("pre-wrap"),
            "{part}"
        );

        let part = confirmation_html(
            "Acme & <Co>'s",
            "https://status.acme.example/?a=1&b=2",
            "incidents and maintenances of API, <b>DB</b>",
            "https://status.acme.example/subscriptions/confirm?token=x&y=\"z\"",
            "Jan 6, 2026 02:00 UTC",
        );
        let expected = concat!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">",
            "<h2>Confirm your subscription to Acme &amp; &lt;Co&gt;&#39;s</h2>",
            "<p>Someone, hopefully you, asked to receive e-mail about incidents and maintenances of API, &lt;b&gt;DB&lt;/b&gt; on ",
            "<a href=\"https://status.acme.example/?a=1&amp;b=2\">Acme &amp; &lt;Co&gt;&#39;s's status page</a>.</p>",
            "<p><a href=\"https://status.acme.example/subscriptions/confirm?token=x&amp;y=&quot;z&quot;\" style=\"display:inline-block;padding:8px 16px;",
            "background:#2e7d32;color:#fff;text-decoration:none;border-radius:4px\">Confirm subscription</a></p>",
            "<p style=\"color:#555\">The link works until Jan 6, 2026 02:00 UTC.</p>",
            "<p style=\"color:#777;font-size:13px\">If you did not ask for this, ignore this e-mail: nothing more will be sent.</p></body></html>",
        );
        assert_eq!(part, expected);
    }

    #[test]
    fn the_html_part_is_one_escaped_card() {
        let (event, m) = card();
        let part = html(&event, &m, "on'call@example.com", "ops\"team");
        assert_eq!(part, CARD, "{part}");
        let bare = Message {
            impact: None,
            body: None,
            window: None,
            components: vec![],
            link: "javascript:alert(1)".into(),
            tone: crate::message::Tone::Good,
            ..m
        };
        let part = html(&event, &bare, "oncall@example.com", "ops");
        assert_eq!(part, BARE_CARD, "{part}");
    }

    /// [`card`]'s HTML part, as e-mails have always been written.
    const CARD: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>[Investigating] Outage &lt;img src=x onerror=alert(1)&gt;</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328">
<div style="max-width:600px;margin:0 auto;padding:24px">
<div style="background:#ffffff;border-radius:6px;border-top:4px solid #E74C3C;padding:24px">
<p style="margin:0 0 8px;font-size:13px;color:#57606a">Acme &amp; &lt;Co&gt;&#39;s · Jan 5, 2026 14:03 MST</p>
<h1 style="margin:0 0 16px;font-size:20px;line-height:1.3">[Investigating] Outage &lt;img src=x onerror=alert(1)&gt;</h1>
<table role="presentation" style="border-collapse:collapse;font-size:14px;margin:0 0 16px">
<tr><td style="padding:2px 16px 2px 0;color:#57606a">Status</td><td style="padding:2px 0">Investigating</td></tr>
<tr><td style="padding:2px 16px 2px 0;color:#57606a">Impact</td><td style="padding:2px 0">Critical &amp; &quot;loud&quot;</td></tr>
<tr><td style="padding:2px 16px 2px 0;color:#57606a">Window</td><td style="padding:2px 0">Jan 6, 2026 02:00 – 04:00 MST</td></tr>
</table>
<div style="white-space:pre-wrap;font-size:15px;line-height:1.5;margin:0 0 16px">Line one &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;
Line two &amp; &quot;quotes&quot;</div>
<p style="margin:0 0 4px;font-weight:600;font-size:14px">Affected components</p>
<ul style="margin:0 0 16px;padding-left:20px;font-size:14px"><li>API — Major outage</li><li>&lt;b&gt;db&lt;/b&gt; — Degraded</li></ul>
<p style="margin:8px 0 0"><a href="https://status.acme.example/incidents/x?a=1&amp;b=&quot;2&quot;" style="display:inline-block;background:#0969da;color:#ffffff;text-decoration:none;padding:10px 16px;border-radius:6px;font-weight:600">View incident</a></p>
</div>
<p style="margin:16px 0 0;font-size:12px;color:#57606a">Sent by Pharos for Acme &amp; &lt;Co&gt;&#39;s to on&#39;call@example.com, a recipient of notifier &quot;ops&quot;team&quot;. To stop these e-mails, remove the address from that notifier&#39;s `to` list.</p>
</div>
</body>
</html>
"##;

    /// [`card`] without an impact, a window, a body or components, and with a link that is
    /// not `http(s)` (shown as text).
    const BARE_CARD: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>[Investigating] Outage &lt;img src=x onerror=alert(1)&gt;</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328">
<div style="max-width:600px;margin:0 auto;padding:24px">
<div style="background:#ffffff;border-radius:6px;border-top:4px solid #2ECC71;padding:24px">
<p style="margin:0 0 8px;font-size:13px;color:#57606a">Acme &amp; &lt;Co&gt;&#39;s · Jan 5, 2026 14:03 MST</p>
<h1 style="margin:0 0 16px;font-size:20px;line-height:1.3">[Investigating] Outage &lt;img src=x onerror=alert(1)&gt;</h1>
<table role="presentation" style="border-collapse:collapse;font-size:14px;margin:0 0 16px">
<tr><td style="padding:2px 16px 2px 0;color:#57606a">Status</td><td style="padding:2px 0">Investigating</td></tr>
</table>
<p style="margin:8px 0 0">View incident: javascript:alert(1)</p>
</div>
<p style="margin:16px 0 0;font-size:12px;color:#57606a">Sent by Pharos for Acme &amp; &lt;Co&gt;&#39;s to oncall@example.com, a recipient of notifier &quot;ops&quot;. To stop these e-mails, remove the address from that notifier&#39;s `to` list.</p>
</div>
</body>
</html>
"##;

    #[test]
    fn message_ids_are_stable_per_delivery_and_recipient() {
        let a = message_id("d-1", "a@example.com", "acme.example");
        assert_eq!(a, message_id("d-1", "A@example.com", "acme.example"));
        assert_ne!(a, message_id("d-1", "b@example.com", "acme.example"));
        assert_ne!(a, message_id("d-2", "a@example.com", "acme.example"));
        assert!(
            a.starts_with("<d-1.") && a.ends_with("@acme.example>"),
            "{a}"
        );
        let odd = message_id("x y@z<>", "a@example.com", "acme.example");
        assert!(odd.starts_with("<x-y-z--."), "{odd}");
    }
}
