//! Time helpers: Zoom's wire format (`2021-10-08T16:12:04Z`, second precision, UTC) and
//! parsing of the `from`/`to` query bounds Zoom accepts (`yyyy-mm-dd` or a full timestamp).

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, TimeDelta, Utc};

/// Formats a timestamp the way Zoom's REST API does: UTC, seconds, `Z`.
pub(crate) fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Drops sub-second precision so stored times round-trip through the wire format.
pub(crate) fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

/// `n` seconds as a [`TimeDelta`].
pub(crate) fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// Midnight UTC at the start of `day`.
pub(crate) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// Parses a lower bound: a date means its midnight, a timestamp means itself.
pub(crate) fn parse_from(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(day_start(day));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses an inclusive upper bound into an exclusive one: a date covers the whole day,
/// a timestamp covers its own second.
pub(crate) fn parse_to_exclusive(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(day_start(day) + TimeDelta::days(1));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| trunc(t.with_timezone(&Utc)) + secs(1))
}

/// Serde adapter for `DateTime<Utc>` in Zoom's wire format.
pub(crate) mod zoom_ts {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fmt(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for `Option<DateTime<Utc>>` in Zoom's wire format.
pub(crate) mod zoom_ts_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::fmt(*t)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(raw) => DateTime::parse_from_rfc3339(raw)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_second_precision() {
        let t = DateTime::parse_from_rfc3339("2021-10-08T16:12:04.789+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(fmt(t), "2021-10-08T16:12:04Z");
    }

    #[test]
    fn bounds_cover_whole_days() {
        assert_eq!(
            fmt(parse_from("2024-03-01").unwrap()),
            "2024-03-01T00:00:00Z"
        );
        assert_eq!(
            fmt(parse_to_exclusive("2024-03-01").unwrap()),
            "2024-03-02T00:00:00Z"
        );
        assert_eq!(
            fmt(parse_to_exclusive("2024-03-01T10:00:00Z").unwrap()),
            "2024-03-01T10:00:01Z"
        );
        assert!(parse_from("yesterday").is_none());
    }
}
