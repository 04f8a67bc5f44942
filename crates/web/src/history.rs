//! Incidents and maintenances for people: one page per incident or maintenance
//! (`/incidents/{id}`, as on Statuspage the same path serves both), the month-by-month
//! `/history`, and the 404 page for an unknown id.
//!
//! Both API shapes ([`Incident`] and [`ScheduledMaintenance`]) are first read into one [`Item`]
//! with its updates newest first. Each item is rendered once into a [`Rendered`] (its page, its
//! feed content and its newest update as inline HTML) and kept until its [`Item::key`] changes,
//! so a snapshot rebuild, which happens on every component status change, re-renders only the
//! incidents that changed. Times are written server-side in the page's time zone with the zone's
//! abbreviation, inside `<time datetime="…Z">` elements that the page script rewrites into the
//! viewer's zone; the pages read fine without JavaScript.

use std::hash::{DefaultHasher, Hash, Hasher};

use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use pharos_domain::Indicator;
use pharos_engine::PageInfo;

use crate::brand::BrandView;
use crate::feed;
use crate::markdown::{render_markdown, render_markdown_inline};
use crate::page::TimeView;
use crate::snapshot::{Entry, HTML};
use crate::v2::{Incident, IncidentOf, IncidentUpdateOf, ScheduledMaintenance};

/// At most this many consecutive months are listed on `/history`; older months appear only when
/// they hold something (a bogus date far in the past cannot produce a page of empty months).
const MAX_LISTED_MONTHS: usize = 240;

/// What every page-level rendering depends on, besides the incidents themselves.
pub(crate) struct PageCtx<'a> {
    /// The page's name.
    pub(crate) name: &'a str,
    /// The public base URL, without a trailing slash.
    pub(crate) base_url: &'a str,
    /// The page's time zone.
    pub(crate) tz: Tz,
    /// The page's branding.
    pub(crate) brand: BrandView,
    /// A hash of the four, part of every cache key.
    pub(crate) key: u64,
}

impl<'a> PageCtx<'a> {
    /// The context of `page`.
    pub(crate) fn new(page: &'a PageInfo) -> Self {
        let base_url = page.url.trim_end_matches('/');
        let brand = BrandView::new(page);
        let mut h = DefaultHasher::new();
        (&page.name, base_url, page.time_zone.name()).hash(&mut h);
        brand.hash_into(&mut h);
        Self {
            name: &page.name,
            base_url,
            tz: page.time_zone,
            brand,
            key: h.finish(),
        }
    }
}

/// One public update of an incident or maintenance.
#[derive(Debug)]
pub(crate) struct Update<'a> {
    /// Update id.
    pub(crate) id: &'a str,
    /// The status it set, as a label ("Investigating", "In progress").
    pub(crate) status_label: &'static str,
    /// Markdown or plain text.
    pub(crate) body: &'a str,
    /// The time shown for it.
    pub(crate) display_at: DateTime<Utc>,
    /// When it was last edited.
    pub(crate) updated_at: DateTime<Utc>,
}

/// An incident or a maintenance, read out of its API shape.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    /// Incident id.
    pub(crate) id: &'a str,
    /// Title.
    pub(crate) name: &'a str,
    /// Current status as a label.
    pub(crate) status_label: &'static str,
    /// Whether it is still under way (unresolved incident, maintenance not completed).
    pub(crate) open: bool,
    /// Impact (`maintenance` for maintenances).
    pub(crate) impact: Indicator,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last changed.
    pub(crate) updated_at: DateTime<Utc>,
    /// When it started.
    pub(crate) started_at: DateTime<Utc>,
    /// When it was resolved.
    pub(crate) resolved_at: Option<DateTime<Utc>>,
    /// A maintenance's scheduled window.
    pub(crate) window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Updates, newest first by display time.
    pub(crate) updates: Vec<Update<'a>>,
    /// Names of the affected components.
    pub(crate) affected: Vec<&'a str>,
}

impl<'a> Item<'a> {
    /// An incident.
    pub(crate) fn incident(i: &'a Incident) -> Self {
        Self::of(i, |s| s.label(), i.status.is_unresolved(), None)
    }

    /// A scheduled maintenance.
    pub(crate) fn maintenance(m: &'a ScheduledMaintenance) -> Self {
        let status = m.incident.status;
        Self::of(
            &m.incident,
            |s| s.label(),
            status.is_upcoming() || status.is_active(),
            Some((m.scheduled_for.utc(), m.scheduled_until.utc())),
        )
    }

    fn of<S: Copy>(
        i: &'a IncidentOf<S>,
        label: fn(S) -> &'static str,
        open: bool,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        let mut updates: Vec<Update<'a>> = i
            .incident_updates
            .iter()
            .map(|u| Update {
                id: &u.id,
                status_label: label(u.status),
                body: &u.body,
                display_at: u.display_at.utc(),
                updated_at: u.updated_at.utc(),
            })
            .collect();
        // Stable: updates shown at the same instant keep the API's (newest-first) order.
        updates.sort_by_key(|u| std::cmp::Reverse(u.display_at));
        let mut affected: Vec<&'a str> = i.components.iter().map(|c| c.name.as_str()).collect();
        if affected.is_empty() {
            // Without the full component list, fall back to the components the updates moved
            // (skipping Statuspage's "No components were affected" sentinel, which has no code).
            for a in i
                .incident_updates
                .iter()
                .flat_map(|u| u.affected_components.iter().flatten())
                .filter(|a| a.code.is_some())
            {
                if !affected.contains(&a.name.as_str()) {
                    affected.push(&a.name);
                }
            }
        }
        Self {
            id: &i.id,
            name: &i.name,
            status_label: label(i.status),
            open,
            impact: i.impact,
            created_at: i.created_at.utc(),
            updated_at: i.updated_at.utc(),
            started_at: i.started_at.utc(),
            resolved_at: i.resolved_at.map(|t| t.utc()),
            window,
            updates,
            affected,
        }
    }

    /// The instant it is filed under in the history: the window's start for a maintenance,
    /// else when it started.
    pub(crate) fn when(&self) -> DateTime<Utc> {
        self.window.map_or(self.started_at, |(from, _)| from)
    }

    /// The end of its time range: the window's end, the resolution time, or `None` while an
    /// incident is open.
    fn until(&self) -> Option<DateTime<Utc>> {
        match self.window {
            Some((_, until)) => Some(until),
            None if self.open => None,
            None => Some(self.resolved_at.unwrap_or(self.updated_at)),
        }
    }

    /// A hash of everything its renderings show, combined with the page's key: equal keys mean
    /// equal output, so the previous rendering can be reused.
    pub(crate) fn key(&self, page_key: u64) -> u64 {
        let mut h = DefaultHasher::new();
        page_key.hash(&mut h);
        (self.id, self.name, self.status_label, self.open).hash(&mut h);
        self.impact.as_str().hash(&mut h);
        (
            self.created_at,
            self.updated_at,
            self.started_at,
            self.resolved_at,
            self.window,
        )
            .hash(&mut h);
        self.affected.hash(&mut h);
        for u in &self.updates {
            (u.id, u.status_label, u.body, u.display_at, u.updated_at).hash(&mut h);
        }
        h.finish()
    }

    /// The human kind: "Incident" or "Scheduled maintenance".
    fn kind_label(&self) -> &'static str {
        if self.window.is_some() {
            "Scheduled maintenance"
        } else {
            "Incident"
        }
    }
}

/// The newest update (greatest `display_at`; the first such in API order on a tie).
pub(crate) fn newest_update<S>(updates: &[IncidentUpdateOf<S>]) -> Option<&IncidentUpdateOf<S>> {
    updates.iter().fold(None, |best, u| match best {
        Some(b) if b.display_at.utc() >= u.display_at.utc() => Some(b),
        _ => Some(u),
    })
}

/// `id` as one URL path segment: unreserved characters kept, everything else percent-encoded.
pub(crate) fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The CSS suffix of an impact (`i-major`, `t-major`).
fn impact_class(i: Indicator) -> &'static str {
    i.as_str()
}

/// Everything rendered from one [`Item`], kept across snapshots while its key holds.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// [`Item::key`] of what was rendered.
    pub(crate) key: u64,
    /// `/incidents/{id}`.
    pub(crate) page: Entry,
    /// The feed entry's HTML content (not yet XML-escaped).
    pub(crate) feed_html: String,
    /// The newest update's body as inline HTML, for the card on `/`.
    pub(crate) latest_html: Option<String>,
}

/// Renders `item`'s page, feed content and newest body; `at` becomes the page's Last-Modified.
pub(crate) fn render_item(item: &Item<'_>, ctx: &PageCtx<'_>, at: DateTime<Utc>) -> Rendered {
    let inline: Vec<String> = item
        .updates
        .iter()
        .map(|u| render_markdown_inline(u.body))
        .collect();
    let html = incident_page(item, ctx).unwrap_or_else(|error| {
        tracing::error!(%error, id = item.id, "incident page template failed; serving a plain page");
        plain_page(item.name)
    });
    Rendered {
        key: item.key(ctx.key),
        page: Entry::new(html.into_bytes(), HTML, at),
        feed_html: feed::content_html(item, &inline, ctx.tz),
        latest_html: inline.into_iter().next(),
    }
}

/// A page that cannot fail, for when a template does.
fn plain_page(title: &str) -> String {
    let mut escaped = String::new();
    for c in title.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            _ => escaped.push(c),
        }
    }
    format!(
        "<!doctype html><meta charset=utf-8><title>{escaped}</title><h1>{escaped}</h1><p><a href=\"/\">Current status</a>"
    )
}

/// A maintenance window.
struct Window {
    from: TimeView,
    until: TimeView,
}

/// One update on an incident page.
struct UpdateView {
    status_label: &'static str,
    body_html: String,
    at: TimeView,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage<'a> {
    brand: &'a BrandView,
    page_name: &'a str,
    time_zone: &'static str,
    name: &'a str,
    kind_label: &'static str,
    impact_class: &'static str,
    impact_label: &'static str,
    status_label: &'static str,
    started: TimeView,
    resolved: Option<TimeView>,
    window: Option<Window>,
    affected: String,
    updates: Vec<UpdateView>,
}

fn incident_page(item: &Item<'_>, ctx: &PageCtx<'_>) -> Result<String, askama::Error> {
    let tz = ctx.tz;
    IncidentPage {
        brand: &ctx.brand,
        page_name: ctx.name,
        time_zone: tz.name(),
        name: item.name,
        kind_label: item.kind_label(),
        impact_class: impact_class(item.impact),
        impact_label: item.impact.label(),
        status_label: item.status_label,
        started: TimeView::new(item.started_at, tz),
        resolved: item
            .resolved_at
            .filter(|_| !item.open)
            .map(|t| TimeView::new(t, tz)),
        window: item.window.map(|(from, until)| Window {
            from: TimeView::new(from, tz),
            until: TimeView::new(until, tz),
        }),
        affected: item.affected.join(", "),
        updates: item
            .updates
            .iter()
            .map(|u| UpdateView {
                status_label: u.status_label,
                body_html: render_markdown(u.body),
                at: TimeView::new(u.display_at, tz),
            })
            .collect(),
    }
    .render()
}

/// One row of `/history`.
struct HistoryRow {
    path: String,
    name: String,
    impact_class: &'static str,
    status_label: &'static str,
    from: TimeView,
    until: Option<TimeView>,
}

/// One month of `/history`.
struct Month {
    /// "March 2026".
    title: String,
    /// "2026-03", for the heading's id.
    anchor: String,
    rows: Vec<HistoryRow>,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage<'a> {
    brand: &'a BrandView,
    page_name: &'a str,
    time_zone: &'static str,
    months: Vec<Month>,
}

/// A month as (year, month 1–12).
type YearMonth = (i32, u32);

fn year_month(t: DateTime<Utc>, tz: Tz) -> YearMonth {
    let local = t.with_timezone(&tz);
    (local.year(), local.month())
}

fn previous_month((y, m): YearMonth) -> YearMonth {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

/// Renders `/history`: every item filed under the month (in the page's zone) of [`Item::when`],
/// newest month first and newest first within a month, from the later of this month and the
/// newest item down to the oldest item. Months without anything say "No incidents reported.";
/// this month is always listed.
pub(crate) fn render_history(
    items: &[&Item<'_>],
    ctx: &PageCtx<'_>,
    now: DateTime<Utc>,
) -> Result<String, askama::Error> {
    let tz = ctx.tz;
    let mut sorted: Vec<(YearMonth, &Item<'_>)> = items
        .iter()
        .map(|i| (year_month(i.when(), tz), *i))
        .collect();
    sorted.sort_by(|(_, a), (_, b)| b.when().cmp(&a.when()).then_with(|| a.id.cmp(b.id)));

    let current = year_month(now, tz);
    let newest = sorted.first().map_or(current, |(m, _)| (*m).max(current));
    let oldest = sorted.last().map_or(current, |(m, _)| (*m).min(current));

    let mut months = Vec::new();
    let mut rows = sorted.into_iter().peekable();
    let mut month = newest;
    loop {
        let mut here = Vec::new();
        while let Some((_, item)) = rows.next_if(|(m, _)| *m == month) {
            here.push(HistoryRow {
                path: path_segment(item.id),
                name: item.name.to_owned(),
                impact_class: impact_class(item.impact),
                status_label: item.status_label,
                from: TimeView::new(item.when(), tz),
                until: item.until().map(|t| TimeView::new(t, tz)),
            });
        }
        if !here.is_empty() || months.len() < MAX_LISTED_MONTHS || month == current {
            let first = NaiveDate::from_ymd_opt(month.0, month.1, 1);
            months.push(Month {
                title: first.map_or_else(
                    || format!("{}-{:02}", month.0, month.1),
                    |d| d.format("%B %Y").to_string(),
                ),
                anchor: format!("{}-{:02}", month.0, month.1),
                rows: here,
            });
        }
        if month <= oldest {
            break;
        }
        month = previous_month(month);
    }
    HistoryPage {
        brand: &ctx.brand,
        page_name: ctx.name,
        time_zone: tz.name(),
        months,
    }
    .render()
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    brand: &'a BrandView,
    page_name: &'a str,
    time_zone: &'static str,
    heading: &'a str,
    text: &'a str,
}

/// The 404 page for an unknown `/incidents/{id}`.
pub(crate) fn render_not_found(ctx: &PageCtx<'_>) -> String {
    render_missing(
        ctx,
        "Incident not found",
        "There is no incident or maintenance with this address. It may have been removed, or \
         the link is mistyped.",
    )
}

/// The 404 page for any other unknown address a browser asks for.
pub(crate) fn render_page_not_found(ctx: &PageCtx<'_>) -> String {
    render_missing(
        ctx,
        "Page not found",
        "There is no page at this address. The link may be mistyped.",
    )
}

fn render_missing(ctx: &PageCtx<'_>, heading: &str, text: &str) -> String {
    NotFoundPage {
        brand: &ctx.brand,
        page_name: ctx.name,
        time_zone: ctx.tz.name(),
        heading,
        text,
    }
    .render()
    .unwrap_or_else(|_| plain_page(heading))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_safe_path_segments() {
        assert_eq!(path_segment("2gztsrksff0v"), "2gztsrksff0v");
        assert_eq!(path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn months_step_back_across_years() {
        assert_eq!(previous_month((2026, 1)), (2025, 12));
        assert_eq!(previous_month((2026, 3)), (2026, 2));
    }
}
