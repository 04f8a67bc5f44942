//! An ntfy notification, sent with ntfy's documented JSON publish: `POST` to the server root
//! with `{"topic", "title", "message", "tags", "priority", "click", "actions"}`. The configured
//! topic URL (`https://ntfy.sh/acme-status`) is split into the server (`https://ntfy.sh/`) and
//! the topic (`acme-status`); a server under a path prefix works too
//! (`https://example.com/ntfy/acme` → `https://example.com/ntfy/` and `acme`).
//!
//! Priority: 5 (max) for a full outage (impact critical, a component in major outage), 4
//! (high) for a partial one (impact major, partial outage), 3 (default) otherwise. Tags: an
//! emoji by tone, then `pharos` and the event kind. The access token, when set, is sent as
//! `Authorization: Bearer <token>`.

use serde_json::{json, Value};

use crate::event::Event;
use crate::message::{truncate, truncate_bytes, Message, Tone};
use crate::render::RenderError;

/// The server root and the topic of a topic URL.
pub fn split_topic_url(url: &str) -> Result<(String, String), RenderError> {
    let bad = |why: &str| RenderError::Config(format!("the ntfy URL {why}"));
    let mut parsed = reqwest::Url::parse(url).map_err(|_| bad("is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be http or https"));
    }
    let path = parsed.path().trim_end_matches('/').to_owned();
    let (prefix, topic) = path.rsplit_once('/').unwrap_or(("", ""));
    let valid = !topic.is_empty()
        && topic.len() <= 64
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(bad(
            "must end in a topic of letters, digits, - or _ (e.g. https://ntfy.sh/acme-status)",
        ));
    }
    let topic = topic.to_owned();
    parsed.set_path(&format!("{prefix}/"));
    parsed.set_fragment(None);
    Ok((parsed.to_string(), topic))
}

/// The publish body for `event` on `topic`.
pub fn payload(event: &Event, topic: &str) -> Result<Value, RenderError> {
    let m = Message::of(event)?;
    let mut lines = Vec::new();
    if let Some(detail) = m.detail() {
        lines.push(detail);
    }
    if !m.components.is_empty() {
        lines.push(format!("Affected: {}", m.components.join(", ")));
    }
    lines.push(format!("{} · {}", event.page.name, m.when));
    Ok(json!({
        "topic": topic,
        "title": truncate(&m.title, 250),
        // ntfy turns messages over 4096 bytes into attachments.
        "message": truncate_bytes(&lines.join("\n\n"), 4000),
        "tags": [emoji(m.tone), "pharos", event.kind.as_str()],
        "priority": priority(m.tone),
        "click": m.link,
        "actions": [{"action": "view", "label": m.link_text, "url": m.link, "clear": false}],
    }))
}

/// 5 for a full outage, 4 for a partial one, 3 otherwise.
pub fn priority(tone: Tone) -> u8 {
    match tone {
        Tone::Critical => 5,
        Tone::Major => 4,
        _ => 3,
    }
}

fn emoji(tone: Tone) -> &'static str {
    match tone {
        Tone::Critical => "rotating_light",
        Tone::Major => "warning",
        Tone::Minor => "yellow_circle",
        Tone::Maintenance => "wrench",
        Tone::Good => "white_check_mark",
        Tone::Neutral => "information_source",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_urls_split_into_server_and_topic() {
        assert_eq!(
            split_topic_url("https://ntfy.sh/acme-status").unwrap(),
            ("https://ntfy.sh/".to_owned(), "acme-status".to_owned())
        );
        assert_eq!(
            split_topic_url("https://example.com/ntfy/acme_1/").unwrap(),
            ("https://example.com/ntfy/".to_owned(), "acme_1".to_owned())
        );
        assert_eq!(
            split_topic_url("http://127.0.0.1:8080/t?auth=x").unwrap(),
            ("http://127.0.0.1:8080/?auth=x".to_owned(), "t".to_owned())
        );
        for bad in [
            "https://push.example.org/",
            "https://push.example.org",
            "ftp://push.example.org/t",
            "nope",
            "https://push.example.org/a%20b",
        ] {
            let e = split_topic_url(bad).unwrap_err().to_string();
            assert!(e.starts_with("the ntfy URL"), "{bad}: {e}");
            assert!(!e.contains(bad), "{e} must not name the URL");
        }
    }
}
