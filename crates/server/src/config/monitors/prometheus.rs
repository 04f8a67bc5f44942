//! `type = "prometheus"`: a scrape of a Prometheus exposition at `url` (an http `GET` with
//! the http monitor's settings), watching one `series` against its `threshold` and, with
//! `forecast`, where its trend is heading.

use std::time::Duration;

use pharos_domain::prometheus::{PrometheusSpec, SeriesSelector};
use pharos_domain::{HttpSpec, MonitorKind};

use super::{http, Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::check_http_url;
use crate::config::walk::{describe, Cx, Section};

/// The prometheus monitor type.
pub(super) const TYPE: Type = Type {
    name: "prometheus",
    a_name: "a prometheus",
    keys: &[
        // The http keys a scrape also takes (it is a plain `GET`).
        "headers",
        "insecure",
        "max_body_size",
        "ca_certificate",
        "series",
        "threshold",
        "forecast",
    ],
    refuses: &[],
    refusal: "",
    // Until it reads the series, a scrape is an http request.
    default_condition: Some("[STATUS] < 400"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the http settings, the series keys, then the `url` (an absolute `http(s)://` URL).
fn read(cx: &mut Cx<'_>, s: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let settings = http::settings(cx, s);
    let scrape = scrape(cx, s, e.name);
    let url = e.target(cx, |url| check_http_url(url).map(|()| url.to_owned()))?;
    let (series, threshold, forecast) = scrape?;
    Some(
        MonitorKind::Prometheus(PrometheusSpec {
            http: HttpSpec { url, ..settings },
            series,
            threshold,
            forecast,
        })
        .into(),
    )
}

/// The prometheus keys: the `series` to read, its `threshold`, an optional `forecast`.
fn scrape(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    name: &str,
) -> Option<(SeriesSelector, f64, Option<Duration>)> {
    let series = match s.field("series") {
        None => {
            cx.error(
                s.at,
                format!(
                    "{name} is missing required key `series` (the series to watch, like \
                     'db_connections_open{{pool=\"booking\"}}')"
                ),
            );
            None
        }
        Some(f) => cx.string(&f).and_then(|v| {
            SeriesSelector::parse(&v.text)
                .map_err(|e| cx.error(v.at, format!("`series`: {e}")))
                .ok()
        }),
    };
    let threshold = match s.field("threshold") {
        None => {
            cx.error(
                s.at,
                format!("{name} is missing required key `threshold` (at or over it → down)"),
            );
            None
        }
        Some(f) => match f.item.as_float().or(f.item.as_integer().map(|i| i as f64)) {
            Some(t) if t.is_finite() => Some(t),
            _ => {
                cx.error(
                    f.at,
                    format!("`threshold` must be a number, found {}", describe(f.item)),
                );
                None
            }
        },
    };
    let forecast = match s.field("forecast") {
        None => Some(None),
        Some(f) => cx.duration(&f).map(Some),
    };
    Some((series?, threshold?, forecast?))
}
