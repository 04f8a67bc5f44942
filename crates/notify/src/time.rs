//! Times as Pharos writes them: Statuspage's API form (RFC 3339, three millisecond digits, in
//! the page's zone) for machine payloads, and a short human form with the zone's abbreviation
//! for messages. The API form is the same as `pharos_web::v2::ApiTime`, kept here because this
//! crate must not depend on the web crate.

use chrono::{DateTime, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::{OffsetName, Tz};

/// The page's time zone, UTC when the name is not a known IANA zone.
pub(crate) fn zone(name: &str) -> Tz {
    name.parse::<Tz>().unwrap_or(chrono_tz::UTC)
}

/// `t` as Statuspage writes it: `2019-06-24T06:07:14.473-07:00`, with `Z` when the zone's
/// abbreviation at that instant is `UTC`.
pub(crate) fn api_time(t: DateTime<Utc>, tz: Tz) -> String {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc());
    let zulu = matches!(offset.abbreviation(), Some("UTC" | "UCT"));
    t.with_timezone(&offset.fix())
        .to_rfc3339_opts(SecondsFormat::Millis, zulu)
}

/// `t` for people: `Jan 5, 2026 14:03 MST`.
pub(crate) fn human(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%b %-d, %Y %H:%M %Z")
        .to_string()
}

/// A window for people: `Jan 6, 2026 02:00 – 04:00 MST` within one local day, else both ends
/// in full.
pub(crate) fn human_window(from: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> String {
    let (a, b) = (from.with_timezone(&tz), until.with_timezone(&tz));
    if a.date_naive() == b.date_naive() && a.format("%Z").to_string() == b.format("%Z").to_string()
    {
        format!(
            "{} – {}",
            a.format("%b %-d, %Y %H:%M"),
            b.format("%H:%M %Z")
        )
    } else {
        format!("{} – {}", human(from, tz), human(until, tz))
    }
}

/// A duration for people: `10s`, `500ms`, `2m`.
pub(crate) fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn api_times_match_statuspage() {
        let t = utc("2019-06-24T13:07:14.473Z");
        assert_eq!(
            api_time(t, chrono_tz::America::Tijuana),
            "2019-06-24T06:07:14.473-07:00"
        );
        assert_eq!(api_time(t, chrono_tz::Etc::UTC), "2019-06-24T13:07:14.473Z");
        assert_eq!(
            api_time(utc("2019-12-30T08:15:33.297Z"), chrono_tz::Europe::London),
            "2019-12-30T08:15:33.297+00:00"
        );
    }

    #[test]
    fn human_times_carry_the_zone_abbreviation() {
        let tz = zone("America/Denver");
        assert_eq!(
            human(utc("2026-01-05T21:03:00Z"), tz),
            "Jan 5, 2026 14:03 MST"
        );
        assert_eq!(
            human_window(utc("2026-01-06T09:00:00Z"), utc("2026-01-06T11:00:00Z"), tz),
            "Jan 6, 2026 02:00 – 04:00 MST"
        );
        assert_eq!(
            human_window(utc("2026-01-06T05:00:00Z"), utc("2026-01-06T09:00:00Z"), tz),
            "Jan 5, 2026 22:00 MST – Jan 6, 2026 02:00 MST"
        );
        assert_eq!(zone("Not/AZone"), chrono_tz::UTC);
    }

    #[test]
    fn durations_read_well() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
    }
}
