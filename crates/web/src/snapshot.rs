//! The in-memory snapshot every public read is served from: each response body rendered once
//! per change, with its validators (ETag, Last-Modified) and header values built ahead of time,
//! so a request costs a pointer load, a few reference-count increments and no database access.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use http::HeaderValue;
use pharos_engine::StatusView;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::feed::{self, FeedEntry};
use crate::history::{self, Item, PageCtx, Rendered};
use crate::page;
use crate::v2::{
    self, ComponentsResponse, Incident, IncidentsResponse, Lists, MaintenancesResponse,
    ScheduledMaintenance, StatusResponse, SummaryResponse, LIST_LIMIT,
};

/// Content type of the HTML pages.
pub const HTML: &str = "text/html; charset=utf-8";
/// Content type of the JSON API.
pub const JSON: &str = "application/json";
/// Content type of `/history.atom`.
pub const ATOM: &str = "application/atom+xml; charset=utf-8";
/// Content type of `/history.rss`.
pub const RSS: &str = "application/rss+xml; charset=utf-8";
/// Content type of `/theme.css`.
pub const CSS: &str = "text/css; charset=utf-8";

/// A pre-rendered public resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `/`, the HTML status page.
    Page,
    /// `/api/v2/summary.json`.
    Summary,
    /// `/api/v2/status.json`.
    Status,
    /// `/api/v2/components.json`.
    Components,
    /// `/api/v2/incidents.json`.
    Incidents,
    /// `/api/v2/incidents/unresolved.json`.
    IncidentsUnresolved,
    /// `/api/v2/scheduled-maintenances.json`.
    Maintenances,
    /// `/api/v2/scheduled-maintenances/upcoming.json`.
    MaintenancesUpcoming,
    /// `/api/v2/scheduled-maintenances/active.json`.
    MaintenancesActive,
    /// `/history`, every incident and maintenance by month (HTML).
    History,
    /// `/history.atom`, the newest incidents and maintenances as an Atom feed.
    HistoryAtom,
    /// `/history.rss`, the same as RSS 2.0.
    HistoryRss,
    /// `/theme.css`, the configured accent colour as a CSS custom property.
    Theme,
}

impl Resource {
    /// Every resource, in route order.
    pub const ALL: [Resource; 13] = [
        Self::Page,
        Self::Summary,
        Self::Status,
        Self::Components,
        Self::Incidents,
        Self::IncidentsUnresolved,
        Self::Maintenances,
        Self::MaintenancesUpcoming,
        Self::MaintenancesActive,
        Self::History,
        Self::HistoryAtom,
        Self::HistoryRss,
        Self::Theme,
    ];

    /// The URL path it is served at.
    pub fn path(self) -> &'static str {
        match self {
            Self::Page => "/",
            Self::Summary => "/api/v2/summary.json",
            Self::Status => "/api/v2/status.json",
            Self::Components => "/api/v2/components.json",
            Self::Incidents => "/api/v2/incidents.json",
            Self::IncidentsUnresolved => "/api/v2/incidents/unresolved.json",
            Self::Maintenances => "/api/v2/scheduled-maintenances.json",
            Self::MaintenancesUpcoming => "/api/v2/scheduled-maintenances/upcoming.json",
            Self::MaintenancesActive => "/api/v2/scheduled-maintenances/active.json",
            Self::History => "/history",
            Self::HistoryAtom => "/history.atom",
            Self::HistoryRss => "/history.rss",
            Self::Theme => "/theme.css",
        }
    }

    /// Whether it is part of the JSON API (`/api/v2/…`).
    pub fn is_api(self) -> bool {
        !matches!(
            self,
            Self::Page | Self::History | Self::HistoryAtom | Self::HistoryRss | Self::Theme
        )
    }

    /// Whether any origin may read it (`Access-Control-Allow-Origin: *` and an `OPTIONS`
    /// preflight): the JSON API and the two feeds.
    pub fn allows_any_origin(self) -> bool {
        self.is_api() || matches!(self, Self::HistoryAtom | Self::HistoryRss)
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Page | Self::History => HTML,
            Self::HistoryAtom => ATOM,
            Self::HistoryRss => RSS,
            Self::Theme => CSS,
            _ => JSON,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One pre-rendered response: body and ready-made header values, with the body's compressed
/// forms. The snapshot builder compresses every body before the snapshot is served
/// ([`Snapshot::precompress`]), so a request never compresses anything; a snapshot built
/// without that step (in tests) compresses a body on its first request.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The response body.
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// Strong `ETag`: a quoted hash of the body.
    pub etag: HeaderValue,
    /// `Last-Modified` as an HTTP date.
    pub last_modified: HeaderValue,
    /// The same instant, whole seconds, for `If-Modified-Since` comparisons.
    pub last_modified_at: DateTime<Utc>,
    /// The body gzip- and brotli-compressed (when that makes it smaller), made once; shared
    /// with the entries of later snapshots whose body is the same.
    encoded: Arc<OnceLock<Encoded>>,
}

/// A body's compressed forms, each with its own strong ETag (RFC 9110 §8.8.3: a validator
/// names one representation; the content hash is shared, the suffix names the coding).
#[derive(Debug, Default)]
pub struct Encoded {
    /// `Content-Encoding: br`, and its ETag.
    pub brotli: Option<(Bytes, HeaderValue)>,
    /// `Content-Encoding: gzip`, and its ETag.
    pub gzip: Option<(Bytes, HeaderValue)>,
}

/// Bodies shorter than this are sent as they are: compressing them saves less than the
/// `Content-Encoding` header costs.
const MIN_COMPRESS_BYTES: usize = 512;
/// Brotli quality 10 and a 4 MiB window: bodies are compressed once per change, not per
/// request. Measured on the 124 KB page of 20 components: quality 11 gives 3,685 B in 75 ms,
/// 10 gives 3,752 B in 19 ms, 9 gives 4,062 B in 10 ms; 10 is within 2 % of the best for a
/// quarter of its time, which matters when checks change the page several times a second.
const BROTLI_QUALITY: u32 = 10;
const BROTLI_WINDOW_BITS: u32 = 22;

impl Encoded {
    /// Compresses `body` with both codings, keeping each only when it is smaller. `hash` is
    /// the body's ETag text without quotes.
    fn of(body: &[u8], hash: &str) -> Encoded {
        if body.len() < MIN_COMPRESS_BYTES {
            return Encoded::default();
        }
        let tag = |suffix: &str| {
            // Hex digits, a dash and letters: always a valid header value.
            HeaderValue::from_str(&format!("\"{hash}-{suffix}\""))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        };
        let smaller = |compressed: Vec<u8>| (compressed.len() < body.len()).then_some(compressed);
        let brotli = smaller(brotli_compress(body)).map(|b| (Bytes::from(b), tag("br")));
        let gzip = smaller(gzip_compress(body)).map(|b| (Bytes::from(b), tag("gz")));
        Encoded { brotli, gzip }
    }
}

/// `body` brotli-compressed at [`BROTLI_QUALITY`].
fn brotli_compress(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4);
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY as i32,
        lgwin: BROTLI_WINDOW_BITS as i32,
        ..Default::default()
    };
    let mut input = body;
    // Writing into a Vec cannot fail, and neither can reading a slice.
    match brotli::BrotliCompress(&mut input, &mut out, &params) {
        Ok(_) => out,
        Err(error) => {
            tracing::error!(%error, "brotli compression failed; serving the body uncompressed");
            body.to_vec()
        }
    }
}

/// `body` gzip-compressed at the best level.
fn gzip_compress(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::best(),
    );
    // Writing into a Vec cannot fail.
    match encoder.write_all(body).and_then(|()| encoder.finish()) {
        Ok(out) => out,
        Err(error) => {
            tracing::error!(%error, "gzip compression failed; serving the body uncompressed");
            body.to_vec()
        }
    }
}

impl Entry {
    /// `body` with its validators and compressed forms; `updated_at` becomes Last-Modified
    /// (whole seconds).
    pub(crate) fn new(
        body: Vec<u8>,
        content_type: &'static str,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self::reusing(body, content_type, updated_at, None)
    }

    /// [`Entry::new`], taking the compressed forms from `previous` when its body is the same
    /// (same hash and length), so an unchanged body is never compressed twice.
    pub(crate) fn reusing(
        body: Vec<u8>,
        content_type: &'static str,
        updated_at: DateTime<Utc>,
        previous: Option<&Entry>,
    ) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        h.write(&body);
        let etag = format!("\"{:016x}{:x}\"", h.finish(), body.len());
        let last_modified_at =
            DateTime::from_timestamp(updated_at.timestamp(), 0).unwrap_or(updated_at);
        let last_modified = last_modified_at
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        // Hex digits and quotes: always a valid header value.
        let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""));
        let encoded = match previous.filter(|p| p.etag == etag && p.body.len() == body.len()) {
            Some(p) => p.encoded.clone(),
            None => Arc::new(OnceLock::new()),
        };
        Self {
            body: Bytes::from(body),
            content_type: HeaderValue::from_static(content_type),
            etag,
            // An RFC 7231 date: always a valid header value.
            last_modified: HeaderValue::from_str(&last_modified)
                .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
            last_modified_at,
            encoded,
        }
    }

    /// The ETag without its header wrapper, e.g. `"1a2b…"` (quotes included).
    pub fn etag_str(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }

    /// The body's compressed forms, compressing it now if nothing has yet.
    pub fn encoded(&self) -> &Encoded {
        self.encoded
            .get_or_init(|| Encoded::of(&self.body, self.etag_str().trim_matches('"')))
    }
}

/// Every public body, rendered from one [`StatusView`] and the incidents and maintenances.
#[derive(Debug, Clone)]
pub struct Snapshot {
    entries: [Entry; 13],
    /// `/incidents/{id}` and the rest of each incident's renderings, by incident id.
    rendered: HashMap<String, Arc<Rendered>>,
    /// The 404 page of an unknown `/incidents/{id}`.
    incident_not_found: Entry,
    /// The 404 page of any other unknown path, for browsers.
    page_not_found: Entry,
    /// [`PageCtx::key`] the pages were rendered with.
    page_key: u64,
    /// A hash of everything `/history` and the feeds show; equal means reuse them.
    history_key: u64,
    /// The view's `updated_at` (`page.updated_at` in the API).
    pub updated_at: DateTime<Utc>,
}

impl Snapshot {
    /// Renders every resource from `view`, with the public incidents and the maintenances it
    /// carries, and compresses every body: ready to serve.
    pub fn build(view: &StatusView) -> Snapshot {
        let snapshot = Self::build_with(
            view,
            &crate::v2_incidents::incidents(view),
            &crate::v2_incidents::maintenances(view),
        );
        snapshot.precompress();
        snapshot
    }

    /// Compresses every body that is not compressed yet (each incident page included), so that
    /// no request pays for it. Bodies carried over unchanged from an earlier snapshot are
    /// already done.
    pub fn precompress(&self) {
        for entry in self
            .entries
            .iter()
            .chain([&self.incident_not_found, &self.page_not_found])
            .chain(self.rendered.values().map(|r| &r.page))
        {
            entry.encoded();
        }
    }

    /// Renders every resource from `view` plus incidents and maintenances already in their API
    /// shape. They are sorted, filtered and capped here ([`Lists::new`]); unresolved incidents
    /// raise the page indicator ([`v2::page_status`]). Pass all of them: the API lists and the
    /// feeds keep the newest 50, `/history` and `/incidents/{id}` show every one.
    pub fn build_with(
        view: &StatusView,
        incidents: &[Incident],
        maintenances: &[ScheduledMaintenance],
    ) -> Snapshot {
        Self::build_reusing(view, incidents, maintenances, None)
    }

    /// [`Snapshot::build_with`], reusing from `previous` every rendering whose inputs did not
    /// change: an incident's page and feed content while its id, contents and timestamps and the
    /// page's name, URL and time zone are the same, and `/history` and both feeds while that
    /// holds for all of them (and the current month is the same). A rebuild after a component
    /// status change then renders no Markdown and no incident page at all. Reused bodies keep
    /// their ETag and Last-Modified.
    pub fn build_reusing(
        view: &StatusView,
        incidents: &[Incident],
        maintenances: &[ScheduledMaintenance],
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let page = v2::page(view);
        let components = v2::components(view);
        let lists = Lists::new(incidents, maintenances);
        let status = v2::page_status(view, &lists.unresolved);
        // Last-Modified is when a body last changed. The bars and percentages move with the
        // clock even when no status changes, so `view.updated_at` would let an
        // `If-Modified-Since` client keep yesterday's page; a rebuild time is always safe, and
        // [`Snapshot::keep_dates_of_unchanged`] restores the older date where the body is the same.
        let at = view.generated_at.max(view.updated_at);
        // Any previous snapshot can lend the compressed form of an identical body.
        let before = |r: Resource| previous.map(|p| p.get(r));
        let json = |r: Resource, body| Entry::reusing(body, JSON, at, before(r));

        // Incidents and maintenances for people: reuse what did not change.
        let ctx = PageCtx::new(&view.page);
        let previous = previous.filter(|p| p.page_key == ctx.key);
        let mut items: Vec<Item<'_>> = Vec::with_capacity(incidents.len() + maintenances.len());
        let mut seen = HashSet::with_capacity(incidents.len() + maintenances.len());
        for item in incidents
            .iter()
            .map(Item::incident)
            .chain(maintenances.iter().map(Item::maintenance))
        {
            // The same id twice would make one page unreachable; the first one wins.
            if seen.insert(item.id) {
                items.push(item);
            }
        }
        let mut rendered = HashMap::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        for item in &items {
            let key = item.key(ctx.key);
            keys.push(key);
            let reused = previous
                .and_then(|p| p.rendered.get(item.id))
                .filter(|r| r.key == key)
                .cloned();
            let r = reused.unwrap_or_else(|| Arc::new(history::render_item(item, &ctx, at)));
            rendered.insert(item.id.to_owned(), r);
        }

        let html = match page::render(
            view,
            &status,
            &lists.unresolved,
            &lists.summary_maintenances,
            &|id| rendered.get(id).and_then(|r| r.latest_html.clone()),
        ) {
            Ok(html) => html,
            Err(error) => {
                tracing::error!(%error, "status page template failed; serving a plain page");
                format!(
                    "<!doctype html><meta charset=utf-8><title>Status</title><p>{}</p>",
                    status.description
                )
            }
        };

        let history_key = {
            let mut h = std::hash::DefaultHasher::new();
            h.write_u64(ctx.key);
            let month = view.generated_at.with_timezone(&ctx.tz);
            (month.year(), month.month()).hash(&mut h);
            keys.hash(&mut h);
            if items.is_empty() {
                // An empty feed's <updated> falls back to the view's.
                view.updated_at.hash(&mut h);
            }
            h.finish()
        };
        let [history, atom, rss] = match previous.filter(|p| p.history_key == history_key) {
            Some(p) => [
                p.get(Resource::History).clone(),
                p.get(Resource::HistoryAtom).clone(),
                p.get(Resource::HistoryRss).clone(),
            ],
            None => history_entries(&items, &rendered, &ctx, view, at),
        };
        // The theme depends on the configuration only: keep the previous body (and its dates).
        let theme = match previous {
            Some(p) => p.get(Resource::Theme).clone(),
            None => Entry::new(crate::brand::theme_css(&view.page).into_bytes(), CSS, at),
        };
        let (incident_not_found, page_not_found) = match previous {
            Some(p) => (p.incident_not_found.clone(), p.page_not_found.clone()),
            None => (
                Entry::new(history::render_not_found(&ctx).into_bytes(), HTML, at),
                Entry::new(history::render_page_not_found(&ctx).into_bytes(), HTML, at),
            ),
        };

        let incidents_of = |incidents: &Vec<Incident>| IncidentsResponse {
            page: page.clone(),
            incidents: incidents.clone(),
        };
        let maintenances_of = |list: &Vec<ScheduledMaintenance>| MaintenancesResponse {
            page: page.clone(),
            scheduled_maintenances: list.clone(),
        };
        let entries = [
            Entry::reusing(html.into_bytes(), HTML, at, before(Resource::Page)),
            json(
                Resource::Summary,
                to_json(&SummaryResponse {
                    page: page.clone(),
                    components: components.clone(),
                    incidents: lists.unresolved.clone(),
                    scheduled_maintenances: lists.summary_maintenances.clone(),
                    status: status.clone(),
                }),
            ),
            json(
                Resource::Status,
                to_json(&StatusResponse {
                    page: page.clone(),
                    status,
                }),
            ),
            json(
                Resource::Components,
                to_json(&ComponentsResponse {
                    page: page.clone(),
                    components,
                }),
            ),
            json(
                Resource::Incidents,
                to_json(&incidents_of(&lists.incidents)),
            ),
            json(
                Resource::IncidentsUnresolved,
                to_json(&incidents_of(&lists.unresolved)),
            ),
            json(
                Resource::Maintenances,
                to_json(&maintenances_of(&lists.maintenances)),
            ),
            json(
                Resource::MaintenancesUpcoming,
                to_json(&maintenances_of(&lists.upcoming)),
            ),
            json(
                Resource::MaintenancesActive,
                to_json(&maintenances_of(&lists.active)),
            ),
            history,
            atom,
            rss,
            theme,
        ];
        Snapshot {
            entries,
            rendered,
            incident_not_found,
            page_not_found,
            page_key: ctx.key,
            history_key,
            updated_at: view.updated_at,
        }
    }

    /// Keeps `previous`'s Last-Modified for every body that did not change (incident pages
    /// included), so a rebuild with identical output never invalidates a client's cache.
    pub fn keep_dates_of_unchanged(&mut self, previous: &Snapshot) {
        for (new, old) in self.entries.iter_mut().zip(previous.entries.iter()) {
            keep_date(new, old);
        }
        keep_date(&mut self.incident_not_found, &previous.incident_not_found);
        keep_date(&mut self.page_not_found, &previous.page_not_found);
        for (id, new) in &mut self.rendered {
            let Some(old) = previous.rendered.get(id) else {
                continue;
            };
            if Arc::ptr_eq(new, old)
                || new.page.etag != old.page.etag
                || new.page.last_modified == old.page.last_modified
            {
                continue;
            }
            let mut page = new.page.clone();
            keep_date(&mut page, &old.page);
            *new = Arc::new(Rendered {
                key: new.key,
                page,
                feed_html: new.feed_html.clone(),
                latest_html: new.latest_html.clone(),
            });
        }
    }

    /// The pre-rendered response for `resource`.
    pub fn get(&self, resource: Resource) -> &Entry {
        &self.entries[resource.index()]
    }

    /// The pre-rendered page `/incidents/{id}` of the incident or maintenance `id`.
    pub fn incident(&self, id: &str) -> Option<&Entry> {
        self.rendered.get(id).map(|r| &r.page)
    }

    /// Every pre-rendered `/incidents/{id}` page, by id.
    pub fn incident_pages(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.rendered.iter().map(|(id, r)| (id.as_str(), &r.page))
    }

    /// The 404 page served for an unknown `/incidents/{id}`.
    pub fn incident_not_found(&self) -> &Entry {
        &self.incident_not_found
    }

    /// The 404 page served to browsers for an unknown path.
    pub fn page_not_found(&self) -> &Entry {
        &self.page_not_found
    }

    /// How many incident and maintenance pages the snapshot holds.
    pub fn incident_count(&self) -> usize {
        self.rendered.len()
    }
}

/// Gives `new` the date of `old` when their bodies are the same.
fn keep_date(new: &mut Entry, old: &Entry) {
    if new.etag == old.etag {
        new.last_modified = old.last_modified.clone();
        new.last_modified_at = old.last_modified_at;
    }
}

/// Renders `/history`, `/history.atom` and `/history.rss`.
fn history_entries(
    items: &[Item<'_>],
    rendered: &HashMap<String, Arc<Rendered>>,
    ctx: &PageCtx<'_>,
    view: &StatusView,
    at: DateTime<Utc>,
) -> [Entry; 3] {
    let all: Vec<&Item<'_>> = items.iter().collect();
    let history = history::render_history(&all, ctx, view.generated_at).unwrap_or_else(|error| {
        tracing::error!(%error, "history page template failed; serving a plain page");
        "<!doctype html><meta charset=utf-8><title>Incident history</title><p>Incident history is unavailable.".to_owned()
    });

    // Feeds: the newest entries by last update, then creation.
    let mut newest = all;
    newest.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.created_at.cmp(&a.created_at))
            .then_with(|| a.id.cmp(b.id))
    });
    newest.truncate(LIST_LIMIT);
    let entries: Vec<FeedEntry<'_>> = newest
        .iter()
        .filter_map(|i| rendered.get(i.id).map(|r| (*i, r.feed_html.as_str())))
        .collect();
    let updated = newest.first().map_or(view.updated_at, |i| i.updated_at);
    [
        Entry::new(history.into_bytes(), HTML, at),
        Entry::new(feed::atom(ctx, &entries, updated).into_bytes(), ATOM, at),
        Entry::new(feed::rss(ctx, &entries, updated).into_bytes(), RSS, at),
    ]
}

/// Serializes a response body.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    // The response types hold only strings, numbers, booleans and string-keyed structs, so
    // serializing them cannot fail; an empty object keeps clients parsing if it ever did.
    serde_json::to_vec(value).unwrap_or_else(|error| {
        tracing::error!(%error, "serializing an API response failed");
        b"{}".to_vec()
    })
}

/// Rebuilds `target` from every new [`StatusView`] published on `rx`, starting with the
/// current one. Views published while a build runs are coalesced: the next build takes only the
/// latest. Builds run on the blocking pool so a large page never stalls request handling. Each
/// new snapshot is also written to `mirror`, when there is one. The task ends when the sender
/// is dropped.
pub fn spawn_snapshot_builder(
    mut rx: watch::Receiver<Arc<StatusView>>,
    target: Arc<ArcSwap<Snapshot>>,
    mirror: Option<crate::mirror::Mirror>,
) -> JoinHandle<()> {
    let mirror = mirror.map(|m| Arc::new(std::sync::Mutex::new(m)));
    tokio::spawn(async move {
        loop {
            let view = rx.borrow_and_update().clone();
            let started = std::time::Instant::now();
            let previous = target.load_full();
            let built = tokio::task::spawn_blocking(move || {
                let incidents = crate::v2_incidents::incidents(&view);
                let maintenances = crate::v2_incidents::maintenances(&view);
                let mut snapshot =
                    Snapshot::build_reusing(&view, &incidents, &maintenances, Some(&previous));
                snapshot.keep_dates_of_unchanged(&previous);
                snapshot.precompress();
                snapshot
            })
            .await;
            match built {
                Ok(snapshot) => {
                    let summary_bytes = snapshot.get(Resource::Summary).body.len();
                    let page_bytes = snapshot.get(Resource::Page).body.len();
                    let snapshot = Arc::new(snapshot);
                    target.store(snapshot.clone());
                    if let Some(mirror) = &mirror {
                        let mirror = mirror.clone();
                        let written = tokio::task::spawn_blocking(move || {
                            let mut m = mirror
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            m.write(&snapshot)
                        })
                        .await;
                        match written {
                            Ok(Ok(files)) => tracing::debug!(files, "mirror updated"),
                            Ok(Err(error)) => {
                                tracing::error!(%error, "writing the mirror failed; it is written again at the next change")
                            }
                            Err(error) => tracing::error!(%error, "writing the mirror failed"),
                        }
                    }
                    tracing::debug!(
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        page_bytes,
                        summary_bytes,
                        "public snapshot rebuilt"
                    );
                }
                Err(error) => {
                    tracing::error!(%error, "building the public snapshot failed; keeping the previous one");
                }
            }
            if rx.changed().await.is_err() {
                tracing::info!("status view publisher gone; snapshot builder stopping");
                return;
            }
        }
    })
}

#[cfg(test)]
mod last_modified_tests {
    use super::*;

    #[test]
    fn an_identical_rebuild_keeps_last_modified_and_a_changed_body_moves_it() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = |n: u32| pharos_domain::uptime::DayUptime {
            date: chrono::NaiveDate::from_ymd_opt(2026, 3, n).unwrap(),
            observed_ms: 86_400_000,
            major_ms: 0,
            partial_ms: 0,
            degraded_ms: 0,
            maintenance_ms: 0,
        };
        let component = pharos_engine::ComponentView {
            id: pharos_domain::ComponentId::new("api").unwrap(),
            name: "API".into(),
            description: None,
            position: 0,
            status: pharos_domain::ComponentStatus::Operational,
            created_at: at,
            updated_at: at,
            group_id: None,
            is_group: false,
            children: vec![],
            uptime_days: vec![day(1), day(2)],
            uptime_ratio: Some(1.0),
            start_date: None,
            failing_from: Vec::new(),
        };
        let mut view = StatusView {
            page: pharos_engine::PageInfo {
                id: "p".into(),
                name: "P".into(),
                url: "http://x".into(),
                time_zone: chrono_tz::UTC,
                email_subscriptions: false,
                branding: Default::default(),
            },
            generated_at: at,
            updated_at: at,
            components: vec![component],
            monitors: vec![],
            incidents: Default::default(),
            maintenances: Default::default(),
        };
        let first = Snapshot::build(&view);
        view.generated_at += chrono::Duration::hours(1);
        let mut same = Snapshot::build(&view);
        same.keep_dates_of_unchanged(&first);
        let status = Resource::Status;
        assert_eq!(
            same.get(status).last_modified,
            first.get(status).last_modified
        );

        // Same status change time, but the clock moved past midnight: bars differ, so the
        // page must not look unmodified to an If-Modified-Since client.
        view.generated_at += chrono::Duration::days(1);
        view.components[0].uptime_days.remove(0);
        let mut later = Snapshot::build(&view);
        later.keep_dates_of_unchanged(&first);
        assert!(
            later.get(Resource::Page).last_modified_at > first.get(Resource::Page).last_modified_at
        );
    }
}
