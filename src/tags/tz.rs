//! `tz=` values for `{{date}}`: any IANA zone (`Asia/Tokyo`, `Etc/GMT-9`, `UTC`), with its
//! offset at that instant as history had it, from the tz database bundled into the binary
//! (jiff's `tzdb-bundle-always`: the same answer in a scratch image without
//! `/usr/share/zoneinfo` as on any runner); and the fixed forms `Z`, `±HH:MM`, `±HHMM`.

use chrono::{DateTime, FixedOffset, Utc};

/// The UTC offset of `tz` at instant `at`, or why `tz` is not a zone.
pub(super) fn offset_at(tz: &str, at: DateTime<Utc>) -> Result<FixedOffset, String> {
    if let Some(fixed) = fixed_offset(tz) {
        return fixed.ok_or_else(|| format!("{tz:?} is not an offset from -14:00 to +14:00"));
    }
    let zone = jiff::tz::TimeZone::get(tz).map_err(|_| {
        format!("{tz:?} is not a time zone of the tz database (IANA names such as Europe/Paris, UTC, Etc/GMT-9) nor an offset ±HH:MM")
    })?;
    let instant = jiff::Timestamp::new(at.timestamp(), 0).map_err(|e| format!("{at}: {e}"))?;
    let seconds = zone.to_offset(instant).seconds();
    FixedOffset::east_opt(seconds).ok_or_else(|| format!("{tz:?} has offset {seconds}s at {at}"))
}

/// `Z`, `±HH:MM` or `±HHMM`: `Some(None)` when it has that shape but is out of range,
/// `None` when it is not of that shape.
fn fixed_offset(tz: &str) -> Option<Option<FixedOffset>> {
    if tz == "Z" {
        return Some(FixedOffset::east_opt(0));
    }
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits = match rest.as_bytes() {
        [_, _, b':', _, _] => format!("{}{}", &rest[..2], &rest[3..]),
        _ => rest.to_owned(),
    };
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?);
    if h > 14 || m > 59 || (h == 14 && m > 0) {
        return Some(None);
    }
    Some(FixedOffset::east_opt(sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(tz: &str, s: &str) -> Option<f32> {
        offset_at(tz, at(s)).ok().map(|o| o.local_minus_utc() as f32 / 3600.0)
    }

    #[test]
    fn fixed_zones_and_offsets() {
        assert_eq!(hours("Asia/Tokyo", "2020-01-10T00:30:00Z"), Some(9.0));
        assert_eq!(hours("asia/tokyo", "2020-01-10T00:30:00Z"), Some(9.0), "names ignore case");
        assert_eq!(hours("Etc/GMT-9", "2020-01-10T00:30:00Z"), Some(9.0), "POSIX sign: east");
        assert_eq!(hours("Etc/GMT+5", "2020-01-10T00:30:00Z"), Some(-5.0));
        assert_eq!(hours("UTC", "2020-01-10T00:30:00Z"), Some(0.0));
        assert_eq!(hours("Z", "2020-01-10T00:30:00Z"), Some(0.0));
        assert_eq!(hours("-05:30", "2020-01-10T00:30:00Z"), Some(-5.5));
        assert_eq!(hours("+0200", "2020-01-10T00:30:00Z"), Some(2.0));
        assert_eq!(hours("Asia/Kathmandu", "2020-01-10T00:30:00Z"), Some(5.75));
    }

    #[test]
    fn unknown_zones_say_what_is_accepted() {
        let err = offset_at("Mars/Olympus", at("2020-01-10T00:30:00Z")).unwrap_err();
        assert!(err.contains("\"Mars/Olympus\" is not a time zone of the tz database"), "{err}");
        assert!(err.contains("Europe/Paris") && err.contains("±HH:MM"), "{err}");
        let err = offset_at("+25:00", at("2020-01-10T00:30:00Z")).unwrap_err();
        assert_eq!(err, "\"+25:00\" is not an offset from -14:00 to +14:00");
        assert!(offset_at("+0:530", at("2020-01-10T00:30:00Z")).is_err());
        assert!(offset_at("Etc/GMT-15", at("2020-01-10T00:30:00Z")).is_err());
        assert!(offset_at("", at("2020-01-10T00:30:00Z")).is_err());
    }

    #[test]
    fn eu_daylight_saving() {
        // 2024: from 31 March 01:00 UTC to 27 October 01:00 UTC.
        assert_eq!(hours("Europe/Paris", "2024-01-15T12:00:00Z"), Some(1.0));
        assert_eq!(hours("Europe/Paris", "2024-03-31T00:59:59Z"), Some(1.0));
        assert_eq!(hours("Europe/Paris", "2024-03-31T01:00:00Z"), Some(2.0));
        assert_eq!(hours("Europe/London", "2024-07-01T00:00:00Z"), Some(1.0));
        assert_eq!(hours("Europe/Berlin", "2024-10-27T00:59:59Z"), Some(2.0));
        assert_eq!(hours("Europe/Berlin", "2024-10-27T01:00:00Z"), Some(1.0));
    }

    #[test]
    fn us_daylight_saving() {
        // 2024: from 10 March 02:00 EST (07:00 UTC) to 3 November 02:00 EDT (06:00 UTC).
        assert_eq!(hours("America/New_York", "2024-03-10T06:59:59Z"), Some(-5.0));
        assert_eq!(hours("America/New_York", "2024-03-10T07:00:00Z"), Some(-4.0));
        assert_eq!(hours("America/New_York", "2024-11-03T05:59:59Z"), Some(-4.0));
        assert_eq!(hours("America/New_York", "2024-11-03T06:00:00Z"), Some(-5.0));
        assert_eq!(hours("America/Los_Angeles", "2024-07-01T00:00:00Z"), Some(-7.0));
    }

    /// Offsets as they were then, which a table of today's rules gets wrong.
    #[test]
    fn historical_offsets() {
        // Moscow kept summer time all year from March 2011 to October 2014: +04, not today's +03.
        assert_eq!(hours("Europe/Moscow", "2012-07-01T12:00:00Z"), Some(4.0));
        assert_eq!(hours("Europe/Moscow", "2012-01-01T12:00:00Z"), Some(4.0));
        assert_eq!(hours("Europe/Moscow", "2015-01-01T12:00:00Z"), Some(3.0));
        // Before 2007 US daylight saving began on the first Sunday of April: 20 March 2006 was EST.
        assert_eq!(hours("America/New_York", "2006-03-20T12:00:00Z"), Some(-5.0));
        // Istanbul was +02/+03 until September 2016.
        assert_eq!(hours("Europe/Istanbul", "2015-01-15T12:00:00Z"), Some(2.0));
        // Southern-hemisphere daylight saving (no rule of its own in the old table).
        assert_eq!(hours("Australia/Sydney", "2024-01-15T12:00:00Z"), Some(11.0));
        assert_eq!(hours("Australia/Sydney", "2024-07-15T12:00:00Z"), Some(10.0));
    }
}
