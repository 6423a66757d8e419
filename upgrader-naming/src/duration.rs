//! Durations as people write them: `300ms`, `45s`, `30m`, `2h`, or a sum such as `1h30m`.
//!
//! Shared by the attribute (`lock_timeout = "5s"`, checked at compile time) and the command line
//! and configuration file (`--max-duration 30m`), so a duration that one accepts the other does.

use std::time::Duration;

/// The units, longest suffix first so `ms` is not read as `m` followed by `s`.
const UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Parses `300ms`, `45s`, `30m`, `2h` or a sum of them in decreasing units (`1h30m`, `2m30s`),
/// or says in one lowercase phrase what is wrong with it.
///
/// A number needs its unit (a bare `30` could be seconds or minutes), each unit appears once and
/// in decreasing order, and the total must fit in a `u64` of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as `300ms`, `45s`, `30m`, `2h` or `1h30m`";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration: {expected}"));
    }
    let mut rest = trimmed;
    let mut total: u64 = 0;
    // The previous unit's size, for "decreasing units, each once".
    let mut previous = u64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{trimmed}` is not a duration: {expected}"));
        }
        let (number, after) = rest.split_at(digits);
        let Some((unit, millis)) = UNITS.iter().find(|(unit, _)| after.starts_with(unit)) else {
            return Err(if after.is_empty() {
                format!("`{trimmed}` has no unit: {expected}")
            } else {
                format!("`{trimmed}` has an unknown unit: {expected}")
            });
        };
        if *millis >= previous {
            return Err(format!(
                "`{trimmed}` repeats a unit or puts a smaller one first: {expected}"
            ));
        }
        previous = *millis;
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*millis))
            .and_then(|n| total.checked_add(n));
        total = part.ok_or_else(|| format!("`{trimmed}` is too long a duration"))?;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_and_sums_of_them() {
        for (text, millis) in [
            ("300ms", 300),
            ("45s", 45_000),
            ("30m", 1_800_000),
            ("2h", 7_200_000),
            ("1h30m", 5_400_000),
            ("2m30s", 150_000),
            ("1s500ms", 1_500),
            ("0s", 0),
            (" 5s ", 5_000),
        ] {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(millis)), "{text}");
        }
    }

    #[test]
    fn malformed_durations_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("30", "no unit"),
            ("5 s", "unknown unit"),
            ("5d", "unknown unit"),
            ("5S", "unknown unit"),
            ("s", "not a duration"),
            ("-5s", "not a duration"),
            ("1.5h", "unknown unit"),
            ("30m1h", "smaller one first"),
            ("5s5s", "repeats a unit"),
            ("99999999999999999999h", "too long"),
            ("6000000000000h", "too long"),
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.contains("expected") || why == "too long", "{text}: {error}");
        }
    }
}
