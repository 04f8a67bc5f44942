//! The live incident page: `GET /console/incidents/{id}/events` is a stream of server-sent
//! events. Each `incident` event carries the page's changing part (status line, components,
//! roles, timeline), rendered exactly as on first load; `templates/console/script.html`
//! swaps it in. The part is rendered again whenever the engine publishes a new view and at
//! least every [`RECHECK`] (private notes change the timeline without changing the view),
//! and sent only when it differs from the last one sent. Once the incident is resolved the
//! stream says `closed` and ends; a stream also ends after [`MAX_STREAM`], and the browser
//! reconnects on its own, so no connection is held for ever.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use pharos_domain::IncidentId;
use tokio::time::Instant;

use super::pages::render;
use super::{Ctx, Signed};

/// How often the part is rendered again without a new view.
pub(super) const RECHECK: Duration = Duration::from_secs(5);
/// How long one stream lasts before the browser is asked to reconnect.
pub(super) const MAX_STREAM: Duration = Duration::from_secs(300);

/// Where the stream is.
struct Follow {
    ctx: Ctx,
    id: IncidentId,
    tz: chrono_tz::Tz,
    views: tokio::sync::watch::Receiver<std::sync::Arc<pharos_engine::StatusView>>,
    last: String,
    ends_at: Instant,
    done: bool,
}

/// The next event: the part once it changes, `closed` once resolved, or the end.
async fn next(mut f: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    loop {
        if f.done || Instant::now() >= f.ends_at {
            return None;
        }
        let incident = f
            .ctx
            .control
            .view()
            .incidents
            .iter()
            .find(|i| i.id == f.id)
            .cloned();
        let Some(incident) = incident else {
            f.done = true;
            return Some((Ok(Event::default().event("closed").data("gone")), f));
        };
        if let Ok(part) = super::incidents::live_part(&f.ctx, &incident, f.tz).await {
            let html = render(&part, "");
            if !html.is_empty() && html != f.last {
                f.last = html.clone();
                return Some((Ok(Event::default().event("incident").data(html)), f));
            }
        }
        if !incident.status.is_unresolved() {
            f.done = true;
            return Some((Ok(Event::default().event("closed").data("resolved")), f));
        }
        // Wait for a new view, or the recheck, or the end of the stream.
        let wake = Instant::now() + RECHECK;
        tokio::select! {
            changed = f.views.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            () = tokio::time::sleep_until(wake.min(f.ends_at)) => {}
        }
    }
}

/// `GET /console/incidents/{id}/events`.
pub(super) async fn events(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = IncidentId::new(id.as_str())
        .filter(|iid| ctx.control.view().incidents.iter().any(|i| &i.id == iid))
    else {
        return http::StatusCode::NOT_FOUND.into_response();
    };
    let mut views = ctx.control.watch_view();
    views.mark_unchanged();
    let follow = Follow {
        tz: super::time_zone(&signed),
        ctx,
        id,
        views,
        // The first event is the part as it is now: the page may be older than the stream.
        last: String::new(),
        ends_at: Instant::now() + MAX_STREAM,
        done: false,
    };
    let s: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::unfold(follow, next));
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
