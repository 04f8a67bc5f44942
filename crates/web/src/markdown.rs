//! Safe Markdown for incident update bodies.
//!
//! Update bodies are written by operators (or imported from Statuspage, whose bodies are plain
//! text with `\r\n` line breaks) and shown to everyone, so they are rendered with
//! `pulldown-cmark` and the result is then cleaned with `ammonia` against a short allowlist of
//! the tags Markdown produces. Raw HTML typed into a body is never interpreted: it is turned
//! into text before rendering, so `<script>` shows up literally instead of running. Images
//! become plain links (the page loads nothing from elsewhere), links keep only `http`, `https`
//! and `mailto` URLs and get `rel="noopener noreferrer nofollow"`. A single line break is kept
//! as a line break, as Statuspage shows plain-text bodies.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The tags Markdown renders to, and nothing else.
const TAGS: &[&str] = &[
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// The one cleaner, built once: its allowlists never change.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.tags(TAGS.iter().copied().collect())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href", "title"])),
            ("ol", HashSet::from(["start"])),
        ]))
        .generic_attributes(HashSet::new())
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true);
    b
});

/// Renders an update body (Markdown, or Statuspage's plain text) to safe HTML: block elements
/// (`<p>`, lists, …) as Markdown makes them, raw HTML shown as text, and everything run through
/// an allowlist sanitizer. The result can be embedded in a page as is.
pub fn render_markdown(body: &str) -> String {
    render(body, false)
}

/// Like [`render_markdown`], but without paragraph elements and on one line: paragraphs are
/// separated by two line breaks, so the result fits inside the `<p>` of one feed entry the way
/// Statuspage's plain-text bodies do ("Hello,<br><br>We plan…"). Lists and headings stay block
/// elements.
pub(crate) fn render_markdown_inline(body: &str) -> String {
    render(body, true)
}

fn render(body: &str, inline: bool) -> String {
    let body = normalize_newlines(body);
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    let mut paragraphs = 0usize;
    let events = Parser::new_ext(&body, options).flat_map(|event| -> Vec<Event<'_>> {
        match event {
            // Raw HTML is shown, never interpreted.
            Event::Html(s) | Event::InlineHtml(s) => vec![Event::Text(s)],
            Event::Start(Tag::HtmlBlock | Tag::Paragraph) if inline => {
                paragraphs += 1;
                if paragraphs > 1 {
                    vec![Event::HardBreak, Event::HardBreak]
                } else {
                    vec![]
                }
            }
            Event::End(TagEnd::HtmlBlock | TagEnd::Paragraph) if inline => vec![],
            Event::Start(Tag::HtmlBlock) => vec![Event::Start(Tag::Paragraph)],
            Event::End(TagEnd::HtmlBlock) => vec![Event::End(TagEnd::Paragraph)],
            // Plain-text bodies rely on single line breaks.
            Event::SoftBreak => vec![Event::HardBreak],
            // No remote images on the page: an image becomes a link to it.
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => vec![Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })],
            Event::End(TagEnd::Image) => vec![Event::End(TagEnd::Link)],
            other => vec![other],
        }
    });
    let mut html = String::with_capacity(body.len() + body.len() / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    let clean = CLEANER.clean(&html).to_string();
    if inline {
        // One line, as Statuspage writes its feed entries: "Hello,<br><br>We plan…". Only the
        // line breaks Markdown puts between tags go; those in text are plain whitespace.
        clean.trim_end().replace(">\n", ">").replace("\n<", "<")
    } else {
        // pulldown-cmark ends blocks with a newline; keep the fragment tidy.
        clean.trim_end().to_owned()
    }
}

/// `\r\n` and lone `\r` become `\n`.
fn normalize_newlines(body: &str) -> std::borrow::Cow<'_, str> {
    if body.contains('\r') {
        std::borrow::Cow::Owned(body.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No executable markup may survive: no script/iframe/style/svg/img element, no inline
    /// event handler attribute, no `javascript:` URL in an attribute.
    fn assert_inert(html: &str) {
        let lower = html.to_ascii_lowercase();
        for tag in [
            "<script", "<iframe", "<style", "<svg", "<img", "<object", "<embed", "<form",
        ] {
            assert!(!lower.contains(tag), "{tag} survived in {html}");
        }
        // Attributes only exist inside tags; look at each tag's text.
        for tag in lower.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            assert!(
                !tag.split_whitespace().skip(1).any(|a| a.starts_with("on")),
                "event handler survived in <{tag}>"
            );
            assert!(
                !tag.contains("javascript:"),
                "javascript: URL survived in <{tag}>"
            );
            assert!(
                !tag.contains("style="),
                "style attribute survived in <{tag}>"
            );
        }
    }

    #[test]
    fn markdown_is_rendered() {
        let html = render_markdown(
            "We **found** the _cause_.\r\n\r\n- one\r\n- two\r\n\r\nSee [the post](https://example.com/post \"Post\").",
        );
        assert_eq!(
            html,
            "<p>We <strong>found</strong> the <em>cause</em>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n\
             <p>See <a href=\"https://example.com/post\" title=\"Post\" rel=\"noopener noreferrer nofollow\">the post</a>.</p>"
        );
        assert_eq!(
            render_markdown("`code` and ~~old~~\n\n1. a\n2. b"),
            "<p><code>code</code> and <del>old</del></p>\n<ol>\n<li>a</li>\n<li>b</li>\n</ol>"
        );
    }

    #[test]
    fn statuspage_plain_text_keeps_its_line_breaks() {
        assert_eq!(
            render_markdown("Line one\r\nLine two\rLine three"),
            "<p>Line one<br>\nLine two<br>\nLine three</p>"
        );
        assert_eq!(
            render_markdown_inline("Hello,\r\n\r\nWe plan <b>work</b>.\r\nThanks & bye"),
            "Hello,<br><br>We plan &lt;b&gt;work&lt;/b&gt;.<br>Thanks &amp; bye"
        );
    }

    #[test]
    fn script_tags_are_shown_as_text() {
        let html = render_markdown("<script>alert(1)</script>");
        assert_inert(&html);
        assert_eq!(html, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
        let html = render_markdown("Before <script>alert(document.cookie)</script> after");
        assert_inert(&html);
        assert!(html.contains("&lt;script&gt;alert(document.cookie)&lt;/script&gt;"));
    }

    #[test]
    fn event_handlers_never_become_attributes() {
        for payload in [
            "<img src=x onerror=alert(1)>",
            "text <img src=x onerror=alert(1)> text",
            "<svg onload=alert(1)>",
            "<svg/onload=alert(1)>",
            "<body onload=alert(1)>",
            "<div onmouseover=\"alert(1)\">hover</div>",
            "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
            "<details open ontoggle=alert(1)>",
        ] {
            let html = render_markdown(payload);
            assert_inert(&html);
            assert!(html.contains("&lt;"), "{payload} was not escaped: {html}");
        }
    }

    #[test]
    fn javascript_urls_are_dropped() {
        for payload in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](javascript&#58;alert(1))",
            "[x]( javascript:alert(1) )",
            "<javascript:alert(1)>",
            "[x][r]\n\n[r]: javascript:alert(1)",
            "![x](javascript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "[x](vbscript:msgbox(1))",
        ] {
            let html = render_markdown(payload);
            assert_inert(&html);
            assert!(!html.contains("href=\"data:"), "{payload}: {html}");
            assert!(!html.contains("href=\"vbscript:"), "{payload}: {html}");
        }
        assert_eq!(
            render_markdown("[x](javascript:alert(1))"),
            "<p><a rel=\"noopener noreferrer nofollow\">x</a></p>"
        );
    }

    #[test]
    fn raw_html_links_iframes_and_styles_are_text() {
        for payload in [
            "<a href=\"javascript:alert(1)\">click</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<style>body{display:none}</style>",
            "<p style=\"background:url(javascript:alert(1))\">x</p>",
            "<!-- comment --><script>alert(1)</script>",
            "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
        ] {
            let html = render_markdown(payload);
            assert_inert(&html);
            assert!(html.starts_with("<p>&lt;"), "{payload}: {html}");
        }
    }

    #[test]
    fn images_become_links_and_links_get_rel() {
        assert_eq!(
            render_markdown("![graph](https://example.com/g.png)"),
            "<p><a href=\"https://example.com/g.png\" rel=\"noopener noreferrer nofollow\">graph</a></p>"
        );
        assert_eq!(
            render_markdown("<https://example.com>"),
            "<p><a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\">https://example.com</a></p>"
        );
    }

    #[test]
    fn code_blocks_escape_their_content() {
        let html = render_markdown("```html\n<script>alert(1)</script>\n```");
        assert_inert(&html);
        assert_eq!(
            html,
            "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>"
        );
    }
}
