//! A Slack incoming-webhook message: `{"text": <fallback>, "blocks": [...]}` with a header
//! (the title), the status and impact as fields, the latest update, the affected components,
//! the page and time (in the page's zone), and a button to the incident. `text` is what
//! Slack shows in notifications and where blocks cannot be shown; it ends with
//! `<link|View incident>`.
//!
//! Slack's `mrkdwn` treats `&`, `<` and `>` as markup, so text from updates is escaped; text
//! is cut to Slack's limits (header 150 characters, section 3000, field 2000).

use serde_json::{json, Value};

use crate::event::Event;
use crate::message::{truncate, Message};
use crate::render::RenderError;

/// The message body for `event`.
pub fn payload(event: &Event) -> Result<Value, RenderError> {
    let m = Message::of(event)?;
    let mut fields = vec![mrkdwn(&format!("*Status*\n{}", escape(&m.status)))];
    if let Some(impact) = &m.impact {
        fields.push(mrkdwn(&format!("*Impact*\n{}", escape(impact))));
    }
    if let Some(window) = &m.window {
        fields.push(mrkdwn(&format!("*Window*\n{}", escape(window))));
    }
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(&m.title, 150), "emoji": true}
        }),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(body) = &m.body {
        blocks.push(section(&truncate(&escape(body), 3000)));
    }
    if !m.components.is_empty() {
        let list: Vec<String> = m
            .components
            .iter()
            .map(|c| format!("• {}", escape(c)))
            .collect();
        blocks.push(section(&truncate(
            &format!("*Affected components*\n{}", list.join("\n")),
            3000,
        )));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(&format!("{} · {}", escape(&event.page.name), escape(&m.when)))]
    }));
    blocks.push(json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": m.link_text},
            "url": m.link,
        }]
    }));
    let text = format!(
        "{} <{}|{}>",
        truncate(&escape(&m.fallback()), 2900),
        m.link,
        m.link_text
    );
    Ok(json!({"text": text, "blocks": blocks}))
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(text, 2000)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Escapes Slack's three control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::escape("a < b && <!channel>"),
            "a &lt; b &amp;&amp; &lt;!channel&gt;"
        );
    }
}
