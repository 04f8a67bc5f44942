//! Times for people, with the zone's abbreviation, as messages show them. Machine payloads
//! write Statuspage's form instead, `pharos_wire::ApiTime`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The page's time zone, UTC when the name is not a known IANA zone.
pub(crate) fn zone(name: &str) -> Tz {
    name.parse::<Tz>().unwrap_or(chrono_tz::UTC)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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
}
