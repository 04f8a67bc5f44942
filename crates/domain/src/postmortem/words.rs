//! How a postmortem writes times, lengths of time and quoted text, the same way in the draft
//! and in the rendered document.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// Longest excerpt of an update body or note on a timeline line, in characters.
const EXCERPT_LEN: usize = 280;

/// `at` in `tz` (`2026-03-04 09:25 MST`) and in UTC (`16:25 UTC`, with the date when it
/// differs from the local date).
pub fn stamp(at: DateTime<Utc>, tz: Tz) -> (String, String) {
    let local = at.with_timezone(&tz);
    let local_text = local.format("%Y-%m-%d %H:%M %Z").to_string();
    let utc_text = if local.date_naive() == at.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    };
    (local_text, utc_text)
}

/// The end of a range that starts at `start`: the local time alone when it falls on the same
/// local date (`10:53 MST`), else the full local stamp.
pub(super) fn until(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (s, e) = (start.with_timezone(&tz), end.with_timezone(&tz));
    if s.date_naive() == e.date_naive() {
        e.format("%H:%M %Z").to_string()
    } else {
        stamp(end, tz).0
    }
}

/// A line's time as written in the document: the local time with UTC beside it, or the UTC
/// time alone when the document is written in UTC.
pub(super) fn when(local: &str, utc: &str) -> String {
    if local.ends_with(" UTC") {
        local.to_owned()
    } else {
        format!("{local} ({utc})")
    }
}

/// A duration as people read it: `45s`, `28m`, `1h 28m`, `2d 3h 0m` (seconds only under a
/// minute; negative counts as zero).
pub fn format_span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 60 {
        return format!("{s}s");
    }
    let (days, hours, minutes) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m")
    }
}

/// `s` on one line, at most [`EXCERPT_LEN`] characters.
pub(super) fn excerpt(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= EXCERPT_LEN {
        one_line
    } else {
        let cut: String = one_line.chars().take(EXCERPT_LEN).collect();
        format!("{}…", cut.trim_end())
    }
}

/// `s` trimmed, ending with a full stop (or its own ending punctuation).
pub(super) fn with_stop(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postmortem::fixtures::*;

    #[test]
    fn zones_follow_daylight_saving_and_dates_that_differ_from_utc() {
        // Denver springs forward on 2026-03-08 at 02:00 MST.
        let (local, utc) = stamp(t("2026-03-08T08:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(
            (local.as_str(), utc.as_str()),
            ("2026-03-08 01:30 MST", "08:30 UTC")
        );
        let (local, _) = stamp(t("2026-03-08T09:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(local, "2026-03-08 03:30 MDT");
        let (local, utc) = stamp(t("2026-03-05T06:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(local, "2026-03-04 23:30 MST");
        assert_eq!(
            utc, "2026-03-05 06:30 UTC",
            "the UTC date is given when it differs"
        );
        let (local, utc) = stamp(t("2026-07-10T09:44:00Z"), chrono_tz::Europe::Berlin);
        assert_eq!(
            (local.as_str(), utc.as_str()),
            ("2026-07-10 11:44 CEST", "09:44 UTC")
        );
        assert_eq!(
            when("2026-07-10 09:44 UTC", "09:44 UTC"),
            "2026-07-10 09:44 UTC"
        );
    }
}
