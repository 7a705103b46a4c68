//! moment.js-style date formatting (`YYYYMMDD`, `HH:mm:ss`, `[literal]`) in UTC or a fixed
//! offset, for `{{date}}` and `{{commit_date}}`.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

/// Time zones without daylight saving time, by IANA name, as minutes east of UTC.
const FIXED_ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("Etc/UTC", 0),
    ("GMT", 0),
    ("Etc/GMT", 0),
    ("Z", 0),
    ("Asia/Tokyo", 540),
    ("Asia/Seoul", 540),
    ("Asia/Shanghai", 480),
    ("Asia/Hong_Kong", 480),
    ("Asia/Singapore", 480),
    ("Asia/Taipei", 480),
    ("Asia/Manila", 480),
    ("Australia/Perth", 480),
    ("Australia/Brisbane", 600),
    ("Asia/Kolkata", 330),
    ("Asia/Calcutta", 330),
    ("Asia/Dubai", 240),
    ("Asia/Bangkok", 420),
    ("Asia/Jakarta", 420),
    ("Asia/Ho_Chi_Minh", 420),
    ("Europe/Moscow", 180),
    ("Europe/Istanbul", 180),
    ("Africa/Nairobi", 180),
    ("Africa/Lagos", 60),
    ("America/Sao_Paulo", -180),
    ("America/Argentina/Buenos_Aires", -180),
    ("America/Bogota", -300),
    ("America/Lima", -300),
    ("America/Phoenix", -420),
    ("Pacific/Honolulu", -600),
];

/// Resolves a `tz=` value: a zone without DST from a short list, `Etc/GMT±N`, or `±HH:MM`.
pub fn resolve_tz(tz: &str) -> Option<FixedOffset> {
    let minutes = if let Some((_, m)) = FIXED_ZONES.iter().find(|(name, _)| *name == tz) {
        *m
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

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const TOKENS: &[&str] = &[
    "YYYY", "YY", "MMMM", "MMM", "MM", "M", "DDDD", "DD", "D", "dddd", "ddd", "d", "HH", "H", "hh", "h",
    "mm", "m", "ss", "s", "SSS", "A", "a", "ZZ", "Z", "X", "x",
];

/// Formats `t` in `offset` with a moment.js format string.
pub fn format(t: DateTime<Utc>, offset: FixedOffset, fmt: &str) -> String {
    let d = t.with_timezone(&offset);
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            if let Some(end) = rest.find(']') {
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
                continue;
            }
        }
        let Some(tok) = TOKENS.iter().find(|t| rest.starts_with(**t)) else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let h12 = match d.hour() % 12 {
            0 => 12,
            h => h,
        };
        let off = offset.local_minus_utc() / 60;
        let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
        let s = match *tok {
            "YYYY" => format!("{:04}", d.year()),
            "YY" => format!("{:02}", d.year().rem_euclid(100)),
            "MMMM" => MONTHS[d.month0() as usize].to_owned(),
            "MMM" => MONTHS[d.month0() as usize][..3].to_owned(),
            "MM" => format!("{:02}", d.month()),
            "M" => d.month().to_string(),
            "DDDD" => format!("{:03}", d.ordinal()),
            "DD" => format!("{:02}", d.day()),
            "D" => d.day().to_string(),
            "dddd" => DAYS[d.weekday().num_days_from_sunday() as usize].to_owned(),
            "ddd" => DAYS[d.weekday().num_days_from_sunday() as usize][..3].to_owned(),
            "d" => d.weekday().num_days_from_sunday().to_string(),
            "HH" => format!("{:02}", d.hour()),
            "H" => d.hour().to_string(),
            "hh" => format!("{h12:02}"),
            "h" => h12.to_string(),
            "mm" => format!("{:02}", d.minute()),
            "m" => d.minute().to_string(),
            "ss" => format!("{:02}", d.second()),
            "s" => d.second().to_string(),
            "SSS" => format!("{:03}", d.timestamp_subsec_millis()),
            "A" => if d.hour() < 12 { "AM" } else { "PM" }.to_owned(),
            "a" => if d.hour() < 12 { "am" } else { "pm" }.to_owned(),
            "ZZ" => format!("{sign}{:02}{:02}", off / 60, off % 60),
            "Z" => format!("{sign}{:02}:{:02}", off / 60, off % 60),
            "X" => d.timestamp().to_string(),
            _ => d.timestamp_millis().to_string(),
        };
        out.push_str(&s);
        rest = &rest[tok.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2020-01-10T00:30:00.000Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn formats_moment_tokens() {
        let utc = resolve_tz("UTC").unwrap();
        assert_eq!(format(t(), utc, "YYYYMMDD"), "20200110");
        assert_eq!(format(t(), utc, "YYYY-MM-DD[T]HH:mm:ss.SSSZ"), "2020-01-10T00:30:00.000+00:00");
        assert_eq!(format(t(), utc, "YY.M.D-hhA"), "20.1.10-12AM");
        assert_eq!(format(t(), utc, "ddd MMM"), "Fri Jan");
    }

    #[test]
    fn fixed_zones_and_offsets() {
        let tokyo = resolve_tz("Asia/Tokyo").unwrap();
        assert_eq!(format(t(), tokyo, "YYYYMMDD-HHmm"), "20200110-0930");
        let west = resolve_tz("-05:30").unwrap();
        assert_eq!(format(t(), west, "YYYYMMDD-HHmm ZZ"), "20200109-1900 -0530");
        assert_eq!(resolve_tz("Etc/GMT-9"), Some(tokyo));
        assert_eq!(resolve_tz("Europe/Paris"), None);
        assert_eq!(resolve_tz("+25:00"), None);
    }
}
