//! A Discord webhook message with one embed: title (linking to the incident), the latest
//! update as description, a colour by impact or status (red, orange, yellow, blue for
//! maintenance, green when over, grey without impact), fields for status, impact, window and
//! components, the page as footer and the event time as timestamp.
//!
//! `allowed_mentions` is empty, so an `@everyone` in an update body pings nobody. Text is cut
//! to Discord's limits (title 256, description 2048 here to stay under the 6000 total, field
//! value 1024).

use serde_json::{json, Value};

use crate::event::Event;
use crate::message::{truncate, Message};
use crate::render::RenderError;

/// The message body for `event`.
pub fn payload(event: &Event) -> Result<Value, RenderError> {
    let m = Message::of(event)?;
    let mut fields = vec![json!({"name": "Status", "value": m.status, "inline": true})];
    if let Some(impact) = &m.impact {
        fields.push(json!({"name": "Impact", "value": impact, "inline": true}));
    }
    if let Some(window) = &m.window {
        fields.push(json!({"name": "Window", "value": window, "inline": false}));
    }
    if !m.components.is_empty() {
        fields.push(json!({
            "name": "Affected components",
            "value": truncate(&m.components.join("\n"), 1024),
            "inline": false,
        }));
    }
    let mut embed = json!({
        "title": truncate(&m.title, 256),
        "url": m.link,
        "color": m.tone.rgb(),
        "fields": fields,
        "footer": {"text": truncate(&format!("{} · {}", event.page.name, m.when), 2048)},
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let Some(detail) = m.detail() {
        embed["description"] = Value::String(truncate(&detail, 2048));
    }
    Ok(json!({
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }))
}
