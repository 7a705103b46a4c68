//! `tz=` values for `{{date}}`: UTC, `±HH:MM`, `Etc/GMT±N`, and the IANA zones teams use most,
//! with the EU and US daylight-saving rules. Anything else is unknown (the caller warns).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

/// Daylight-saving rule of a zone.
#[derive(Clone, Copy)]
enum Dst {
    /// No daylight saving time.
    Never,
    /// EU: +1h from the last Sunday of March to the last Sunday of October, 01:00 UTC.
    Eu,
    /// US/Canada: +1h from the second Sunday of March to the first Sunday of November, 02:00 local.
    Us,
}

/// Zones by IANA name: standard offset in minutes east of UTC, and DST rule.
const ZONES: &[(&str, i32, Dst)] = &[
    ("UTC", 0, Dst::Never),
    ("Etc/UTC", 0, Dst::Never),
    ("GMT", 0, Dst::Never),
    ("Etc/GMT", 0, Dst::Never),
    ("Z", 0, Dst::Never),
    ("Asia/Tokyo", 540, Dst::Never),
    ("Asia/Seoul", 540, Dst::Never),
    ("Asia/Shanghai", 480, Dst::Never),
    ("Asia/Hong_Kong", 480, Dst::Never),
    ("Asia/Singapore", 480, Dst::Never),
    ("Asia/Taipei", 480, Dst::Never),
    ("Asia/Manila", 480, Dst::Never),
    ("Australia/Perth", 480, Dst::Never),
    ("Australia/Brisbane", 600, Dst::Never),
    ("Asia/Kolkata", 330, Dst::Never),
    ("Asia/Calcutta", 330, Dst::Never),
    ("Asia/Dubai", 240, Dst::Never),
    ("Asia/Bangkok", 420, Dst::Never),
    ("Asia/Jakarta", 420, Dst::Never),
    ("Asia/Ho_Chi_Minh", 420, Dst::Never),
    ("Europe/Moscow", 180, Dst::Never),
    ("Europe/Istanbul", 180, Dst::Never),
    ("Africa/Nairobi", 180, Dst::Never),
    ("Africa/Lagos", 60, Dst::Never),
    ("America/Sao_Paulo", -180, Dst::Never),
    ("America/Argentina/Buenos_Aires", -180, Dst::Never),
    ("America/Bogota", -300, Dst::Never),
    ("America/Lima", -300, Dst::Never),
    ("America/Phoenix", -420, Dst::Never),
    ("Pacific/Honolulu", -600, Dst::Never),
    ("Europe/London", 0, Dst::Eu),
    ("Europe/Dublin", 0, Dst::Eu),
    ("Europe/Lisbon", 0, Dst::Eu),
    ("Europe/Paris", 60, Dst::Eu),
    ("Europe/Berlin", 60, Dst::Eu),
    ("Europe/Amsterdam", 60, Dst::Eu),
    ("Europe/Brussels", 60, Dst::Eu),
    ("Europe/Madrid", 60, Dst::Eu),
    ("Europe/Rome", 60, Dst::Eu),
    ("Europe/Vienna", 60, Dst::Eu),
    ("Europe/Zurich", 60, Dst::Eu),
    ("Europe/Stockholm", 60, Dst::Eu),
    ("Europe/Oslo", 60, Dst::Eu),
    ("Europe/Copenhagen", 60, Dst::Eu),
    ("Europe/Warsaw", 60, Dst::Eu),
    ("Europe/Prague", 60, Dst::Eu),
    ("Europe/Helsinki", 120, Dst::Eu),
    ("Europe/Athens", 120, Dst::Eu),
    ("Europe/Bucharest", 120, Dst::Eu),
    ("Europe/Kyiv", 120, Dst::Eu),
    ("Europe/Kiev", 120, Dst::Eu),
    ("America/New_York", -300, Dst::Us),
    ("America/Toronto", -300, Dst::Us),
    ("America/Chicago", -360, Dst::Us),
    ("America/Denver", -420, Dst::Us),
    ("America/Los_Angeles", -480, Dst::Us),
    ("America/Vancouver", -480, Dst::Us),
];

/// The UTC offset of `tz` at instant `at`; `None` when `tz` is not known.
pub fn offset_at(tz: &str, at: DateTime<Utc>) -> Option<FixedOffset> {
    let minutes = if let Some((_, std, dst)) = ZONES.iter().find(|(name, _, _)| *name == tz) {
        std + if in_dst(*dst, *std, at) { 60 } else { 0 }
    } else if let Some(rest) = tz.strip_prefix("Etc/GMT") {
        // POSIX style: Etc/GMT-9 is nine hours *east* of UTC.
        -rest.parse::<i32>().ok().filter(|h| (-14..=12).contains(h))? * 60
    } else {
        let (sign, rest) = match tz.as_bytes().first()? {
            b'+' => (1, &tz[1..]),
            b'-' => (-1, &tz[1..]),
            _ => return None,
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (h, m) = (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        sign * (h * 60 + m)
    };
    FixedOffset::east_opt(minutes * 60)
}

fn in_dst(rule: Dst, std_minutes: i32, at: DateTime<Utc>) -> bool {
    let year = at.year();
    let utc = |date: Option<NaiveDate>, hour_utc_minutes: i32| {
        date.and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Utc.from_utc_datetime(&d) + chrono::Duration::minutes(hour_utc_minutes as i64))
    };
    let (start, end) = match rule {
        Dst::Never => return false,
        Dst::Eu => (utc(last_sunday(year, 3), 60), utc(last_sunday(year, 10), 60)),
        // 02:00 local standard time, and 02:00 local daylight time.
        Dst::Us => {
            (utc(nth_sunday(year, 3, 2), 120 - std_minutes), utc(nth_sunday(year, 11, 1), 60 - std_minutes))
        }
    };
    matches!((start, end), (Some(s), Some(e)) if s <= at && at < e)
}

fn nth_sunday(year: i32, month: u32, n: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    nth_sunday(year, month, 5).or_else(|| nth_sunday(year, month, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hours(tz: &str, s: &str) -> Option<f32> {
        offset_at(tz, at(s)).map(|o| o.local_minus_utc() as f32 / 3600.0)
    }

    #[test]
    fn fixed_zones_and_offsets() {
        assert_eq!(hours("Asia/Tokyo", "2020-01-10T00:30:00Z"), Some(9.0));
        assert_eq!(hours("Etc/GMT-9", "2020-01-10T00:30:00Z"), Some(9.0));
        assert_eq!(hours("-05:30", "2020-01-10T00:30:00Z"), Some(-5.5));
        assert_eq!(hours("+0200", "2020-01-10T00:30:00Z"), Some(2.0));
        assert_eq!(hours("Mars/Olympus", "2020-01-10T00:30:00Z"), None);
        assert_eq!(hours("+25:00", "2020-01-10T00:30:00Z"), None);
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
}
