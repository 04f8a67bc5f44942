//! `[[maintenances]]`: planned maintenance windows declared in the file, each checked
//! against the declared components and turned into UTC instants.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use toml_edit::{Datetime, Offset, Value};

use super::build::non_empty;
use super::monitors::component_refs;
use super::walk::{describe, unique_id, Cx, Field, Section};
use super::MaintenanceDef;

/// Longest maintenance name, as on Statuspage.
const MAX_NAME_CHARS: usize = 255;
/// Longest maintenance body, as on Statuspage.
const MAX_BODY_CHARS: usize = 25_000;
const KEYS: &[&str] = &[
    "id",
    "name",
    "body",
    "components",
    "scheduled_for",
    "scheduled_until",
    "auto_start",
    "auto_complete",
];
const EXAMPLE: &str = "\"2026-12-01T02:00:00Z\" or \"2026-12-01T03:00:00+01:00\"";

/// Reads every maintenance. `components` are the declared component ids. Only fully valid
/// maintenances are returned.
pub(super) fn maintenances(
    cx: &mut Cx<'_>,
    sections: &[Section<'_>],
    components: &[String],
) -> Vec<MaintenanceDef> {
    let mut first_at: HashMap<String, usize> = HashMap::new();
    sections
        .iter()
        .filter_map(|s| maintenance(cx, s, components, &mut first_at))
        .collect()
}

fn maintenance(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    components: &[String],
    first_at: &mut HashMap<String, usize>,
) -> Option<MaintenanceDef> {
    s.check_keys(cx, KEYS);
    let errors_before = cx.error_count();
    let id = unique_id(cx, s, first_at, "maintenance");

    let name = match s.field("name") {
        None => {
            s.missing(cx, "name");
            None
        }
        Some(f) => non_empty(cx, &f).and_then(|(name, at)| {
            let chars = name.chars().count();
            if chars > MAX_NAME_CHARS {
                cx.error(
                    at,
                    format!("`name` must be at most {MAX_NAME_CHARS} characters, found {chars}"),
                );
                return None;
            }
            Some(name)
        }),
    };
    let body = s.field("body").and_then(|f| {
        let v = cx.string(&f)?;
        let chars = v.text.chars().count();
        if chars > MAX_BODY_CHARS {
            cx.error(
                v.at,
                format!("`body` must be at most {MAX_BODY_CHARS} characters, found {chars}"),
            );
            return None;
        }
        Some(v.text)
    });
    let covers = match s.field("components") {
        None => {
            s.missing(cx, "components");
            None
        }
        Some(f) => component_refs(cx, &f, components, None).and_then(|ids| {
            if ids.is_empty() {
                cx.error(
                    f.at,
                    "`components` must not be empty: list the components under maintenance",
                );
                return None;
            }
            Some(ids)
        }),
    };

    let scheduled_for = required_timestamp(cx, s, "scheduled_for");
    let until_field = s.field("scheduled_until");
    let scheduled_until = match &until_field {
        None => {
            s.missing(cx, "scheduled_until");
            None
        }
        Some(f) => timestamp(cx, f),
    };
    if let (Some(start), Some(end), Some(f)) = (scheduled_for, scheduled_until, &until_field) {
        if end <= start {
            cx.error(
                f.at,
                format!(
                    "`scheduled_until` ({}) must be after `scheduled_for` ({})",
                    utc_text(end),
                    utc_text(start)
                ),
            );
        }
    }
    let auto_start = s.field("auto_start").and_then(|f| cx.boolean(&f));
    let auto_complete = s.field("auto_complete").and_then(|f| cx.boolean(&f));

    if cx.error_count() > errors_before {
        return None;
    }
    Some(MaintenanceDef {
        config_id: id?,
        name: name?,
        body: body.unwrap_or_default(),
        components: covers?,
        scheduled_for: scheduled_for?,
        scheduled_until: scheduled_until?,
        auto_start: auto_start.unwrap_or(true),
        auto_complete: auto_complete.unwrap_or(true),
    })
}

fn required_timestamp(cx: &mut Cx<'_>, s: &Section<'_>, key: &str) -> Option<DateTime<Utc>> {
    match s.field(key) {
        None => {
            s.missing(cx, key);
            None
        }
        Some(f) => timestamp(cx, &f),
    }
}

/// Reads an RFC 3339 timestamp with an offset: a string, or a TOML offset date-time.
fn timestamp(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<DateTime<Utc>> {
    let parsed = match f.item.as_value() {
        Some(Value::String(_)) => {
            let v = cx.string(f)?;
            parse_timestamp(&v.text).map_err(|e| (v.at, e))
        }
        Some(Value::Datetime(d)) => from_toml_datetime(d.value()).map_err(|e| (f.at, e)),
        _ => {
            cx.error(
                f.at,
                format!(
                    "`{}` must be an RFC 3339 timestamp like {EXAMPLE}, found {}",
                    f.name,
                    describe(f.item)
                ),
            );
            return None;
        }
    };
    match parsed {
        Ok(t) => Some(t),
        Err((at, e)) => {
            cx.error(at, format!("`{}`: {e}", f.name));
            None
        }
    }
}

/// Parses an RFC 3339 timestamp, which must carry an offset, into UTC. The error says what
/// is wrong with `text`.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .any(|format| NaiveDateTime::parse_from_str(text, format).is_ok());
    if local {
        return Err(no_offset(text));
    }
    if NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() {
        return Err(format!(
            "{text:?} has no time of day; write a full timestamp like \"{text}T00:00:00Z\""
        ));
    }
    Err(format!(
        "{text:?} is not an RFC 3339 timestamp; expected one like {EXAMPLE}"
    ))
}

fn no_offset(text: &str) -> String {
    format!(
        "{text:?} has no UTC offset, which is required so the time does not depend on the server's time zone; add `Z` for UTC (\"{text}Z\") or the local offset (like \"{text}+01:00\")"
    )
}

/// Converts a TOML date-time (`scheduled_for = 2026-12-01T02:00:00Z`, no quotes), which must
/// have a date, a time and an offset.
fn from_toml_datetime(d: &Datetime) -> Result<DateTime<Utc>, String> {
    let text = d.to_string();
    let (Some(date), Some(time)) = (d.date, d.time) else {
        return Err(match d.date {
            Some(_) => format!(
                "{text} has no time of day; write a full timestamp like \"{text}T00:00:00Z\""
            ),
            None => format!("{text} is not a timestamp; expected one like {EXAMPLE}"),
        });
    };
    let Some(offset) = d.offset else {
        return Err(no_offset(&text));
    };
    let seconds_east = match offset {
        Offset::Z => 0,
        Offset::Custom { minutes } => i32::from(minutes) * 60,
    };
    let naive = NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
    .zip(NaiveTime::from_hms_nano_opt(
        u32::from(time.hour),
        u32::from(time.minute),
        u32::from(time.second.unwrap_or(0)),
        time.nanosecond.unwrap_or(0),
    ))
    .map(|(date, time)| date.and_time(time));
    FixedOffset::east_opt(seconds_east)
        .zip(naive)
        .and_then(|(offset, naive)| offset.from_local_datetime(&naive).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{text} is not a valid timestamp"))
}

/// `2026-12-01T01:00:00Z`, for messages.
fn utc_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_into_utc() {
        let utc = |s: &str| parse_timestamp(s).map(utc_text);
        assert_eq!(
            utc("2026-12-01T03:00:00+01:00").as_deref(),
            Ok("2026-12-01T02:00:00Z")
        );
        assert_eq!(
            utc("2026-12-01t02:00:00.5z").as_deref(),
            Ok("2026-12-01T02:00:00.500Z")
        );
        assert!(utc("2026-12-01T02:00:00")
            .unwrap_err()
            .contains("has no UTC offset"));
        assert!(utc("2026-12-01T02:00")
            .unwrap_err()
            .contains("has no UTC offset"));
        assert!(utc("2026-12-01").unwrap_err().contains("no time of day"));
        assert!(utc("tomorrow")
            .unwrap_err()
            .contains("is not an RFC 3339 timestamp"));
        assert!(utc("2026-02-30T00:00:00Z")
            .unwrap_err()
            .contains("is not an RFC 3339 timestamp"));
    }

    #[test]
    fn converts_toml_datetimes() {
        let utc = |s: &str| {
            let d: Datetime = s.parse().expect("a TOML date-time");
            from_toml_datetime(&d).map(utc_text)
        };
        assert_eq!(
            utc("2026-12-01T03:00:00-02:30").as_deref(),
            Ok("2026-12-01T05:30:00Z")
        );
        assert_eq!(
            utc("2026-12-01T02:00:00.25Z").as_deref(),
            Ok("2026-12-01T02:00:00.250Z")
        );
        assert!(utc("2026-12-01T02:00:00")
            .unwrap_err()
            .contains("has no UTC offset"));
        assert!(utc("2026-12-01").unwrap_err().contains("no time of day"));
        assert!(utc("02:00:00").unwrap_err().contains("is not a timestamp"));
    }
}
