//! A Microsoft Teams message for an incoming webhook (Workflows): one Adaptive Card 1.4 with
//! the title, a fact set (status, impact, window, components, time in the page's zone), the
//! latest update, and an `Action.OpenUrl` to the incident.

use serde_json::{json, Value};

use crate::event::Event;
use crate::message::{truncate, Message, Tone};
use crate::render::RenderError;

/// The message body for `event`.
pub fn payload(event: &Event) -> Result<Value, RenderError> {
    let m = Message::of(event)?;
    let mut facts = vec![json!({"title": "Status", "value": m.status})];
    if let Some(impact) = &m.impact {
        facts.push(json!({"title": "Impact", "value": impact}));
    }
    if let Some(window) = &m.window {
        facts.push(json!({"title": "Window", "value": window}));
    }
    if !m.components.is_empty() {
        facts.push(json!({"title": "Components", "value": m.components.join(", ")}));
    }
    facts.push(json!({"title": "Time", "value": m.when}));
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": truncate(&m.title, 500),
            "size": "Large",
            "weight": "Bolder",
            "color": color(m.tone),
            "wrap": true,
        }),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(text) = &m.body {
        body.push(json!({"type": "TextBlock", "text": truncate(text, 10_000), "wrap": true}));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": event.page.name,
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    Ok(json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": [{"type": "Action.OpenUrl", "title": m.link_text, "url": m.link}],
                "msteams": {"width": "Full"},
            },
        }],
    }))
}

/// Adaptive Cards name colours, not RGB.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Critical => "Attention",
        Tone::Major | Tone::Minor => "Warning",
        Tone::Maintenance => "Accent",
        Tone::Good => "Good",
        Tone::Neutral => "Default",
    }
}
