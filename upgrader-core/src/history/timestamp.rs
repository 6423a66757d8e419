//! Reading the `applied` column whatever it holds: the engine reads it as text and interprets
//! what real histories contain. A value it cannot interpret is unknown (`None`); the row still
//! means "applied".

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Date and time layouts, most common first (the zone-less ones are read as UTC).
const DATETIMES: [&str; 8] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y%m%dT%H%M%S",
    "%Y%m%d%H%M%S",
];

/// The same with a UTC offset (`+02`, `+0200`, `+02:00`), with or without a space before it.
const ZONED: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f %#z",
    "%Y-%m-%dT%H:%M:%S%.f %#z",
];

const DATES: [&str; 2] = ["%Y-%m-%d", "%Y/%m/%d"];

/// The UTC time a history's `applied` value stands for, as text: `YYYY-MM-DD HH:MM:SS[.ffffff]`
/// (or with `T`, or with a UTC offset or `Z`, which is converted), a date alone (midnight), or a
/// Unix time as a number (seconds, or milliseconds or microseconds when the number is too large
/// to be seconds). Anything else, an empty text and NULL are unknown.
pub(crate) fn parse(text: Option<&str>) -> Option<NaiveDateTime> {
    let text = text?.trim();
    if text.is_empty() {
        return None;
    }
    // What the engine writes, and most histories hold: read without the layouts' parser.
    if let Some(time) = plain(text) {
        return Some(time);
    }
    if let Some(number) = unix(text) {
        return number;
    }
    // A trailing `Z` or ` UTC` is an offset of zero.
    let zoned = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .or_else(|| text.strip_suffix(" UTC"))
        .map(|rest| format!("{rest}+00:00"));
    let text = zoned.as_deref().unwrap_or(text);
    ZONED
        .iter()
        .find_map(|layout| DateTime::parse_from_str(text, layout).ok())
        .map(|t| t.naive_utc())
        .or_else(|| {
            DATETIMES
                .iter()
                .find_map(|layout| NaiveDateTime::parse_from_str(text, layout).ok())
        })
        .or_else(|| {
            DATES
                .iter()
                .find_map(|layout| NaiveDate::parse_from_str(text, layout).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// `YYYY-MM-DD HH:MM:SS`, with a `T` or a space between, and a fraction of 1 to 9 digits or
/// none: the layout the engine writes, read by hand (a history of 10,000 rows is read at every
/// start). Anything else, or a value that is no time (a month 13, a leap second), is left to
/// [`parse`]'s layouts.
fn plain(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let n = number(20..b.len())?;
            n * 10u32.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if second > 59 {
        return None;
    }
    date.and_hms_nano_opt(hour, minute, second, nanos)
}

/// A number: `Some(time)` when it is a Unix time, `Some(None)` when it is a number that is none
/// (out of range, not finite), `None` when it is not a number at all.
fn unix(text: &str) -> Option<Option<NaiveDateTime>> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // `YYYYMMDDHHMMSS` as an integer is a layout, not a Unix time.
        if digits.len() == 14
            && !text.starts_with('-')
            && let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        {
            return Some(Some(t));
        }
        let Ok(n) = text.parse::<i64>() else {
            return Some(None);
        };
        let micros = match n.unsigned_abs() {
            0..100_000_000_000 => n.checked_mul(1_000_000),
            100_000_000_000..100_000_000_000_000 => n.checked_mul(1_000),
            _ => Some(n),
        };
        return Some(
            micros
                .and_then(DateTime::from_timestamp_micros)
                .map(|t| t.naive_utc()),
        );
    }
    let looks_decimal = text.contains('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'e' || b == b'E' || b == b'+');
    if !looks_decimal {
        return None;
    }
    let seconds = text.parse::<f64>().ok()?;
    if !seconds.is_finite() || seconds.abs() >= 100_000_000_000.0 {
        return Some(None);
    }
    // Whole microseconds, as the backends store them.
    let micros = (seconds * 1_000_000.0).round() as i64;
    Some(DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()))
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn read(text: &str) -> Option<String> {
        parse(Some(text)).map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string())
    }

    /// The hand-read layout reads what the layouts' parser reads, and leaves it everything else.
    #[test]
    fn the_plain_layout_reads_as_the_layouts_do() {
        use chrono::NaiveDateTime;
        for text in [
            "2019-05-01 10:00:00",
            "2019-05-01T10:00:00",
            "2019-05-01 10:00:00.1",
            "2019-05-01 10:00:00.123456",
            "2019-05-01 10:00:00.123456789",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "2019-05-01 10:00:00.1234567891",
            "2019-05-01 10:00:00.",
            "2019-02-30 10:00:00",
            "2019-13-01 10:00:00",
            "2019-05-01 24:00:00",
            "2019-05-01 10:60:00",
            "2019-05-01 23:59:60",
            "2019-05-01 10:00:00Z",
            "2019-05-01 10:00:00+02",
            "2019-05-01 10:0a:00",
            "2019-05-01_10:00:00",
            "+019-05-01 10:00:00",
        ] {
            let by_layouts = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|layout| NaiveDateTime::parse_from_str(text, layout).ok());
            match super::plain(text) {
                // What it reads, the layouts read the same.
                Some(time) => assert_eq!(Some(time), by_layouts, "{text}"),
                // What it leaves, `parse` reads as before (here: the layouts, or nothing).
                None => assert_eq!(
                    parse(Some(text)).is_some(),
                    by_layouts.is_some() || text.ends_with('Z') || text.contains('+'),
                    "{text}"
                ),
            }
        }
        assert!(super::plain("2019-05-01 10:00:00.5").is_some());
        assert!(super::plain("2019-05-01 23:59:60").is_none());
    }

    #[test]
    fn reads_what_real_histories_hold() {
        for (text, expected) in [
            ("2019-05-01 10:00:00", "2019-05-01 10:00:00"),
            ("2019-05-01 10:00:00.123456", "2019-05-01 10:00:00.123456"),
            ("2019-05-01T10:00:00", "2019-05-01 10:00:00"),
            ("2019-05-01T10:00:00.5", "2019-05-01 10:00:00.500"),
            ("2019-05-01 10:00", "2019-05-01 10:00:00"),
            ("  2019-05-01 10:00:00\n", "2019-05-01 10:00:00"),
            ("2019-05-01T10:00:00Z", "2019-05-01 10:00:00"),
            ("2019-05-01 10:00:00 UTC", "2019-05-01 10:00:00"),
            ("2019-05-01 12:00:00+02", "2019-05-01 10:00:00"),
            ("2019-05-01 12:00:00+02:00", "2019-05-01 10:00:00"),
            ("2019-05-01T12:30:00+0230", "2019-05-01 10:00:00"),
            ("2019-05-01 05:00:00.25-05:00", "2019-05-01 10:00:00.250"),
            ("2019-05-01", "2019-05-01 00:00:00"),
            ("2019/05/01 10:00:00", "2019-05-01 10:00:00"),
            ("20190501100000", "2019-05-01 10:00:00"),
            ("1556704800", "2019-05-01 10:00:00"),
            ("1556704800000", "2019-05-01 10:00:00"),
            ("1556704800123", "2019-05-01 10:00:00.123"),
            ("1556704800000000", "2019-05-01 10:00:00"),
            ("1556704800.5", "2019-05-01 10:00:00.500"),
            ("0", "1970-01-01 00:00:00"),
        ] {
            assert_eq!(read(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_unknown() {
        for text in [
            "",
            "   ",
            "yesterday",
            "0000-00-00 00:00:00",
            "0000-00-00",
            "2019-13-01 10:00:00",
            "2019-02-30",
            "01/05/2019",
            "99999999999999999999999",
            "1e400",
            "NaN",
            "inf",
            "2019-05-01 10:00:00 Europe/Paris",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
        assert_eq!(parse(None), None);
    }
}
