//! `/history.atom` and `/history.rss` in Statuspage's feed shape, written by hand.
//!
//! Atom dates carry milliseconds, and the RSS channel names its own address with
//! `<atom:link rel="self">`.
//!
//! Feed readers and scripts written against Statuspage parse these byte for byte: the Atom
//! `tag:HOST,2005:…` ids, the titles "NAME Status - Incident History", and one
//! `<p><small>Jun <var data-var='date'>18</var>, <var data-var='time'>18:09</var> UTC</small><br><strong>Resolved</strong> - BODY</p>`
//! per update, newest first, so that the first `<strong>` of an entry is its current status.
//! The day is space-padded (`> 7<`) and the zone is the page zone's abbreviation, as on real
//! Statuspage feeds. A maintenance's window follows its updates as
//! `<p><strong>THIS IS A SCHEDULED EVENT …</strong></p>` (Statuspage puts it first; here it comes
//! last so the first `<strong>` stays the status). Every text is XML-escaped, and characters XML
//! cannot carry are dropped.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::history::{path_segment, Item, PageCtx};

/// One feed entry: the item and its pre-rendered content HTML.
pub(crate) type FeedEntry<'a> = (&'a Item<'a>, &'a str);

/// The HTML content of `item`'s entry: one paragraph per update, newest first. `bodies` are the
/// updates' bodies as safe inline HTML, in the same order as `item.updates`.
pub(crate) fn content_html(item: &Item<'_>, bodies: &[String], tz: Tz) -> String {
    let mut out = String::new();
    for (u, body) in item.updates.iter().zip(bodies) {
        out.push_str("<p><small>");
        out.push_str(&small_time(u.display_at, tz, true));
        out.push_str("</small><br><strong>");
        out.push_str(u.status_label);
        out.push_str("</strong> - ");
        out.push_str(body);
        out.push_str("</p>");
    }
    if let Some((from, until)) = item.window {
        out.push_str("<p><strong>THIS IS A SCHEDULED EVENT ");
        out.push_str(&small_time(from, tz, false));
        out.push_str(" - ");
        let same_day =
            from.with_timezone(&tz).date_naive() == until.with_timezone(&tz).date_naive();
        if same_day {
            let _ = write!(
                out,
                "<var data-var='time'>{}</var> {}",
                until.with_timezone(&tz).format("%H:%M"),
                until.with_timezone(&tz).format("%Z")
            );
        } else {
            out.push_str(&small_time(until, tz, true));
        }
        out.push_str("</strong></p>");
    }
    out
}

/// `Jun <var data-var='date'> 8</var>, <var data-var='time'>18:09</var> MDT`, in the page's
/// zone; without the zone when `zone` is false.
fn small_time(t: DateTime<Utc>, tz: Tz, zone: bool) -> String {
    let l = t.with_timezone(&tz);
    let mut s = format!(
        "{} <var data-var='date'>{}</var>, <var data-var='time'>{}</var>",
        l.format("%b"),
        l.format("%e"),
        l.format("%H:%M")
    );
    if zone {
        let _ = write!(s, " {}", l.format("%Z"));
    }
    s
}

/// The `tag:` authority: the host of the page's public URL, without port or user.
pub(crate) fn tag_host(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    if host.is_empty() {
        "localhost"
    } else {
        host
    }
}

/// Whether XML 1.0 can carry `c` at all.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes `s` for XML text and attribute values (`&`, `<`, `>`, `"`; `'` too when `apos`),
/// dropping characters XML cannot carry.
fn escape_into(out: &mut String, s: &str, apos: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' if apos => out.push_str("&apos;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    escape_into(&mut out, s, false);
    out
}

/// An Atom date with milliseconds, so two updates within one second still differ (feed
/// readers compare `<updated>` to decide whether an entry changed).
fn atom_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn incident_url(base: &str, id: &str) -> String {
    format!("{base}/incidents/{}", path_segment(id))
}

/// The Atom feed of `entries` (already ordered and capped). `updated` is the feed's own
/// `<updated>`: the newest entry's, or a fallback when there is none.
pub(crate) fn atom(ctx: &PageCtx<'_>, entries: &[FeedEntry<'_>], updated: DateTime<Utc>) -> String {
    let base = ctx.base_url;
    let host = esc(tag_host(base));
    let name = esc(ctx.name);
    let mut out = String::with_capacity(
        1024 + entries
            .iter()
            .map(|(_, c)| c.len() * 5 / 4 + 512)
            .sum::<usize>(),
    );
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<feed xml:lang=\"en-US\" xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(out, "  <id>tag:{host},2005:/history</id>");
    let _ = writeln!(
        out,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        esc(base)
    );
    let _ = writeln!(
        out,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        esc(&format!("{base}/history.atom"))
    );
    let _ = writeln!(out, "  <title>{name} Status - Incident History</title>");
    let _ = writeln!(out, "  <updated>{}</updated>", atom_time(updated));
    let _ = writeln!(out, "  <author>\n    <name>{name}</name>\n  </author>");
    for (item, content) in entries {
        out.push_str("  <entry>\n");
        let _ = writeln!(
            out,
            "    <id>tag:{host},2005:Incident/{}</id>",
            esc(item.id)
        );
        let _ = writeln!(
            out,
            "    <published>{}</published>",
            atom_time(item.created_at)
        );
        let _ = writeln!(out, "    <updated>{}</updated>", atom_time(item.updated_at));
        let _ = writeln!(
            out,
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            esc(&incident_url(base, item.id))
        );
        let _ = writeln!(out, "    <title>{}</title>", esc(item.name));
        out.push_str("    <content type=\"html\">");
        escape_into(&mut out, content, false);
        out.push_str("</content>\n  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// The RSS 2.0 feed of `entries` (already ordered and capped). Dates are RFC 2822 in the page's
/// zone; an item's `pubDate` is its last update, the channel's is `updated`.
pub(crate) fn rss(ctx: &PageCtx<'_>, entries: &[FeedEntry<'_>], updated: DateTime<Utc>) -> String {
    let base = ctx.base_url;
    let tz = ctx.tz;
    let rss_esc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        escape_into(&mut out, s, true);
        out
    };
    let name = rss_esc(ctx.name);
    let date = |t: DateTime<Utc>| t.with_timezone(&tz).to_rfc2822();
    let mut out = String::with_capacity(
        1024 + entries
            .iter()
            .map(|(_, c)| c.len() * 5 / 4 + 512)
            .sum::<usize>(),
    );
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n");
    out.push_str("  <channel>\n");
    let _ = writeln!(out, "    <title>{name} Status - Incident History</title>");
    let _ = writeln!(out, "    <link>{}</link>", rss_esc(base));
    // The feed's own address, as the RSS Advisory Board recommends (and validators ask for).
    let _ = writeln!(
        out,
        "    <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>",
        rss_esc(&format!("{base}/history.rss"))
    );
    let _ = writeln!(
        out,
        "    <description>Incident history of {name}</description>"
    );
    let _ = writeln!(out, "    <pubDate>{}</pubDate>", date(updated));
    for (item, content) in entries {
        let url = rss_esc(&incident_url(base, item.id));
        out.push_str("    <item>\n");
        let _ = writeln!(out, "      <title>{}</title>", rss_esc(item.name));
        out.push_str("      <description>");
        escape_into(&mut out, content, true);
        out.push_str("</description>\n");
        let _ = writeln!(out, "      <pubDate>{}</pubDate>", date(item.updated_at));
        let _ = writeln!(out, "      <link>{url}</link>");
        let _ = writeln!(out, "      <guid>{url}</guid>");
        out.push_str("    </item>\n");
    }
    out.push_str("  </channel>\n</rss>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_host_is_the_bare_host() {
        assert_eq!(tag_host("https://status.example.com"), "status.example.com");
        assert_eq!(
            tag_host("https://status.example.com:8443/x"),
            "status.example.com"
        );
        assert_eq!(tag_host("http://u:p@h.example/"), "h.example");
        assert_eq!(tag_host("http://[::1]:8080"), "[::1]");
        assert_eq!(tag_host(""), "localhost");
    }

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&\"c' \u{0}\u{1b}\u{FFFE}é", false);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c' é");
        out.clear();
        escape_into(&mut out, "it's", true);
        assert_eq!(out, "it&apos;s");
    }

    #[test]
    fn small_times_are_space_padded_and_zoned() {
        let t = DateTime::parse_from_rfc3339("2026-06-08T00:09:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            small_time(t, chrono_tz::America::Denver, true),
            "Jun <var data-var='date'> 7</var>, <var data-var='time'>18:09</var> MDT"
        );
        assert_eq!(
            small_time(t, chrono_tz::Etc::UTC, true),
            "Jun <var data-var='date'> 8</var>, <var data-var='time'>00:09</var> UTC"
        );
    }
}
