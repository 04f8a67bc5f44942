//! Statuspage's timestamp: [`ApiTime`].

use std::fmt;

use chrono::{DateTime, FixedOffset, Offset, SecondsFormat, TimeZone, Utc};
use chrono_tz::{OffsetName, Tz};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A timestamp as Statuspage writes it: RFC 3339 with exactly three millisecond digits, in the
/// page's time-zone offset, e.g. `2019-06-24T06:07:14.473-07:00`.
///
/// Statuspage (Rails) writes `Z` instead of `+00:00` when the zone's abbreviation at that instant
/// is `UTC` (GitHub's `Etc/UTC` page: `2019-12-30T08:15:33.297Z`), but `+00:00` for zones that
/// merely sit at offset zero, such as `Europe/London` in winter (abbreviation `GMT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTime {
    at: DateTime<FixedOffset>,
    zulu: bool,
}

impl ApiTime {
    /// `t` written in the page's time zone `tz`.
    pub fn in_zone(t: DateTime<Utc>, tz: Tz) -> Self {
        let offset = tz.offset_from_utc_datetime(&t.naive_utc());
        let zulu = matches!(offset.abbreviation(), Some("UTC" | "UCT"));
        Self {
            at: t.with_timezone(&offset.fix()),
            zulu,
        }
    }

    /// The instant with the offset it is written in.
    pub fn datetime(&self) -> DateTime<FixedOffset> {
        self.at
    }

    /// The instant in UTC.
    pub fn utc(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }
}

impl fmt::Display for ApiTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.at.to_rfc3339_opts(SecondsFormat::Millis, self.zulu))
    }
}

impl Serialize for ApiTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let at = DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)?;
        Ok(Self {
            at,
            zulu: s.ends_with(['Z', 'z']),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn times_use_the_page_offset_and_three_millisecond_digits() {
        let t = utc("2019-06-24T13:07:14.473Z");
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::America::Tijuana).to_string(),
            "2019-06-24T06:07:14.473-07:00"
        );
        assert_eq!(
            ApiTime::in_zone(utc("2022-01-20T14:05:42Z"), chrono_tz::Africa::Johannesburg)
                .to_string(),
            "2022-01-20T16:05:42.000+02:00"
        );
    }

    #[test]
    fn utc_zones_write_z_but_gmt_zones_write_an_offset() {
        let t = utc("2019-12-30T08:15:33.297Z");
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::Etc::UTC).to_string(),
            "2019-12-30T08:15:33.297Z"
        );
        assert_eq!(
            ApiTime::in_zone(utc("2019-06-24T13:07:14.473Z"), chrono_tz::Etc::UTC).to_string(),
            "2019-06-24T13:07:14.473Z"
        );
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::UTC).to_string(),
            "2019-12-30T08:15:33.297Z"
        );
        assert_eq!(
            ApiTime::in_zone(t, chrono_tz::Europe::London).to_string(),
            "2019-12-30T08:15:33.297+00:00"
        );
    }

    #[test]
    fn times_round_trip() {
        for s in [
            "2019-12-30T08:15:33.297Z",
            "2016-10-16T16:57:00.000-07:00",
            "2022-01-20T16:05:42.914+02:00",
        ] {
            let t: ApiTime = serde_json::from_value(serde_json::json!(s)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(s));
        }
    }
}
