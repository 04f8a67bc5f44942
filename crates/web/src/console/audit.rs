//! The console's Audit log (`GET /console/audit`, the `administer` permission): the audit
//! trail newest first, [`PAGE_SIZE`] entries a page, filtered by a plain `GET` form (actor,
//! action prefix, since a date in the viewer's time zone) that maps onto [`AuditFilter`]; the
//! "Older" link carries the filters and `before` = the last entry's `seq`. Each entry shows
//! when (in the viewer's time zone), who (name and kind), what, to what, the request id and
//! address, and what changed: the keys whose values differ, then both JSON documents in a
//! `<details>`.

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Extension;
use chrono::NaiveDate;
use http::StatusCode;
use pharos_engine::people::{AuditEntry, AuditFilter};
use serde_json::Value;

use super::pages::{render, Nav};
use super::people::{local_time, query_field, start_of_day, viewer_tz};
use super::{html, unavailable, Ctx, Signed};
use crate::brand::BrandView;

/// Entries a page.
const PAGE_SIZE: usize = 50;
/// The longest value a diff line shows before cutting it.
const DIFF_VALUE_CHARS: usize = 120;

/// One key that differs between before and after.
struct DiffLine {
    key: String,
    before: Option<String>,
    after: Option<String>,
}

/// One entry on the page.
struct EntryRow {
    seq: i64,
    when: String,
    actor_name: String,
    actor_kind: &'static str,
    actor_id: String,
    action: String,
    subject: String,
    request_id: String,
    address: String,
    diff: Vec<DiffLine>,
    before: Option<String>,
    after: Option<String>,
}

/// The filter form as sent (shown back in it).
#[derive(Default)]
struct FilterForm {
    actor: String,
    kind: String,
    since: String,
}

/// The Audit log page.
#[derive(askama::Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    base: &'a str,
    nav: Option<&'a Nav>,
    page_name: &'a str,
    brand: &'a BrandView,
    rows: Vec<EntryRow>,
    form: FilterForm,
    time_zone: String,
    /// The query string of the next (older) page, when there is one.
    older: Option<String>,
    /// Whether this is a later page (a link back to the newest).
    paged: bool,
    error: Option<String>,
}

/// `text` as JSON, or as a JSON string when it is not JSON.
fn json(text: Option<&str>) -> Option<Value> {
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())))
}

/// `v` on one line, cut to [`DIFF_VALUE_CHARS`].
fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > DIFF_VALUE_CHARS {
        let cut: String = s.chars().take(DIFF_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The keys whose values differ between `before` and `after`, when either is an object (a
/// missing side counts as empty); nothing for two non-objects (their JSON says it all).
fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<DiffLine> {
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned();
    let (b, a) = (object(before), object(after));
    if b.is_none() && a.is_none() {
        return Vec::new();
    }
    let (b, a) = (b.unwrap_or_default(), a.unwrap_or_default());
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        // A `null` on one side and nothing on the other is no change worth a line.
        .filter(|k| {
            !matches!(
                (b.get(*k), a.get(*k)),
                (None | Some(Value::Null), None | Some(Value::Null))
            )
        })
        .map(|k| DiffLine {
            key: k.clone(),
            before: b.get(k).map(compact),
            after: a.get(k).map(compact),
        })
        .collect()
}

/// An entry as the page shows it.
fn row(e: AuditEntry, tz: chrono_tz::Tz) -> EntryRow {
    let r = e.record;
    let before = json(r.before.as_deref());
    let after = json(r.after.as_deref());
    let pretty = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
    };
    EntryRow {
        seq: e.seq,
        when: local_time(tz, r.at),
        actor_name: r.actor_name,
        actor_kind: r.actor_kind.as_str(),
        actor_id: r.actor_id.unwrap_or_default(),
        diff: diff(before.as_ref(), after.as_ref()),
        before: pretty(&before),
        after: pretty(&after),
        action: r.action,
        subject: r.subject.unwrap_or_default(),
        request_id: r.request_id.unwrap_or_default(),
        address: r.address.unwrap_or_default(),
    }
}

/// `GET /console/audit[?actor=&kind=&since=YYYY-MM-DD&before=SEQ]`.
pub(super) async fn page(
    State(ctx): State<Ctx>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query.as_deref();
    let field = |name| {
        query_field(q, name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let form = FilterForm {
        actor: field("actor"),
        kind: field("kind"),
        since: field("since"),
    };
    let tz = viewer_tz(&signed);
    let mut error = None;
    let since = if form.since.is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(&form.since, "%Y-%m-%d") {
            Ok(day) => Some(start_of_day(tz, day)),
            Err(_) => {
                error = Some(format!(
                    "\"since\" is a date (YYYY-MM-DD), not {:?}.",
                    form.since
                ));
                None
            }
        }
    };
    let before = match field("before").as_str() {
        "" => None,
        b => match b.parse::<i64>() {
            Ok(seq) => Some(seq),
            Err(_) => {
                error = Some(format!("\"before\" is an entry's number, not {b:?}."));
                None
            }
        },
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let mut rows = Vec::new();
    let mut older = None;
    if error.is_none() {
        let filter = AuditFilter {
            actor: nonempty(&form.actor),
            action_prefix: nonempty(&form.kind),
            since,
            before_seq: before,
            // One more than shown, to know whether there is an older page.
            limit: Some(PAGE_SIZE + 1),
        };
        let mut entries = match ctx.control.directory().audit(&filter).await {
            Ok(e) => e,
            Err(e) => return unavailable(&ctx, &e),
        };
        if entries.len() > PAGE_SIZE {
            entries.truncate(PAGE_SIZE);
            if let Some(last) = entries.last() {
                let mut next = form_urlencoded::Serializer::new(String::new());
                for (k, v) in [
                    ("actor", &form.actor),
                    ("kind", &form.kind),
                    ("since", &form.since),
                ] {
                    if !v.is_empty() {
                        next.append_pair(k, v);
                    }
                }
                next.append_pair("before", &last.seq.to_string());
                older = Some(next.finish());
            }
        }
        rows = entries.into_iter().map(|e| row(e, tz)).collect();
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let nav = Nav::new(&signed, "/audit");
    let view = ctx.control.view();
    let brand = BrandView::new(&view.page);
    html(
        status,
        render(
            &AuditPage {
                base: &ctx.base,
                nav: Some(&nav),
                page_name: &view.page.name,
                brand: &brand,
                rows,
                form,
                time_zone: tz.name().to_owned(),
                older,
                paged: before.is_some(),
                error,
            },
            "Audit log",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_changed_keys() {
        let b = serde_json::json!({"role": "viewer", "name": "Bo", "x": null});
        let a = serde_json::json!({"role": "admin", "name": "Bo", "disabled": null});
        let d = diff(Some(&b), Some(&a));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].key, "role");
        assert_eq!(d[0].before.as_deref(), Some("\"viewer\""));
        assert_eq!(d[0].after.as_deref(), Some("\"admin\""));
        assert!(diff(None, Some(&Value::String("x".into()))).is_empty());
        assert_eq!(diff(None, Some(&a)).len(), 2);
    }
}
