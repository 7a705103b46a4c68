//! moment.js-style date formatting (`YYYYMMDD`, `HH:mm:ss`, `[literal]`) at a UTC offset,
//! for `{{date}}` and `{{commit_date}}`.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

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
pub(super) fn format(t: DateTime<Utc>, offset: FixedOffset, fmt: &str) -> String {
    let d = t.with_timezone(&offset);
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            out.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            continue;
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
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(format(t(), utc, "YYYYMMDD"), "20200110");
        assert_eq!(format(t(), utc, "YYYY-MM-DD[T]HH:mm:ss.SSSZ"), "2020-01-10T00:30:00.000+00:00");
        assert_eq!(format(t(), utc, "YY.M.D-hhA"), "20.1.10-12AM");
        assert_eq!(format(t(), utc, "ddd MMM"), "Fri Jan");
    }

    #[test]
    fn offsets() {
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        assert_eq!(format(t(), tokyo, "YYYYMMDD-HHmm"), "20200110-0930");
        let west = FixedOffset::west_opt(5 * 3600 + 1800).unwrap();
        assert_eq!(format(t(), west, "YYYYMMDD-HHmm ZZ"), "20200109-1900 -0530");
    }
}
