//! Estimates as the commands show them: each upgrade's (its own, or the default) with the
//! measured duration beside it, and totals in human terms with the exact figure.

use std::time::Duration;

use serde_json::{Value, json};
use upgrader_core::{DEFAULT_ESTIMATE, Estimate};

use crate::output::duration;

/// A total in words, on this scale (the exact figure is shown beside it, and in `--json`):
///
/// | total | words |
/// | --- | --- |
/// | under 10 s | a few seconds |
/// | 10 s to under 1 min | less than a minute |
/// | 1 min to under 1 min 30 s | about a minute |
/// | up to 59 min 29 s | about N minutes (to the nearest minute) |
/// | 59 min 30 s to under 1 h 30 min | about an hour |
/// | up to 23 h 29 min | about N hours (to the nearest hour) |
/// | 23 h 30 min and more | more than a day |
pub(crate) fn about(total: Duration) -> String {
    let secs = total.as_secs();
    match secs {
        0..10 => "a few seconds".into(),
        10..60 => "less than a minute".into(),
        60..90 => "about a minute".into(),
        90..3570 => format!("about {} minutes", (secs + 30) / 60),
        3570..5400 => "about an hour".into(),
        5400..84600 => format!("about {} hours", (secs + 1800) / 3600),
        _ => "more than a day".into(),
    }
}

/// A total as the commands say it: in words, then exactly, and what it counts on:
/// `about 4 minutes (3m 52s; 2 measured; 5 without an estimate count 1s each)`.
pub(crate) fn total(estimates: &[Estimate]) -> String {
    let total = Estimate::total(estimates);
    let mut out = format!("{} ({}", about(total), duration(total));
    let measured = estimates.iter().filter(|e| e.measured.is_some()).count();
    if measured > 0 {
        out.push_str(&format!("; {measured} measured"));
    }
    let defaults = estimates
        .iter()
        .filter(|e| e.measured.is_none() && e.is_default())
        .count();
    if defaults > 0 {
        out.push_str(&format!(
            "; {defaults} without an estimate count {} each",
            duration(DEFAULT_ESTIMATE)
        ));
    }
    out.push(')');
    out
}

/// An upgrade's own estimate, or the default, said so: `12s`, `1s (default)`.
pub(crate) fn own(estimate: &Estimate) -> String {
    if estimate.is_default() {
        format!("{} (default)", duration(estimate.own_or_default()))
    } else {
        duration(estimate.own_or_default())
    }
}

/// The measured duration, or `-`.
pub(crate) fn measured(estimate: &Estimate) -> String {
    estimate.measured.map_or_else(|| "-".to_owned(), duration)
}

/// The estimate fields of one pending upgrade in `--json` (seconds, fractional):
/// `estimate_secs` (its own, or the default), `estimate_default`, `measured_secs` (or `null`) and
/// `expected_secs` (what the total counts: measured, else the estimate).
pub(crate) fn json_fields(estimate: &Estimate) -> [(&'static str, Value); 4] {
    [
        ("estimate_secs", json!(estimate.own_or_default().as_secs_f64())),
        ("estimate_default", json!(estimate.is_default())),
        ("measured_secs", json!(estimate.measured.map(|m| m.as_secs_f64()))),
        ("expected_secs", json!(estimate.expected().as_secs_f64())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_read_in_words_on_a_documented_scale() {
        let s = Duration::from_secs;
        for (secs, words) in [
            (0, "a few seconds"),
            (9, "a few seconds"),
            (10, "less than a minute"),
            (59, "less than a minute"),
            (60, "about a minute"),
            (89, "about a minute"),
            (90, "about 2 minutes"),
            (232, "about 4 minutes"),
            (3569, "about 59 minutes"),
            (3570, "about an hour"),
            (5399, "about an hour"),
            (5400, "about 2 hours"),
            (9000, "about 3 hours"),
            (84599, "about 23 hours"),
            (84600, "more than a day"),
            (u64::MAX, "more than a day"),
        ] {
            assert_eq!(about(s(secs)), words, "{secs}s");
        }
    }

    #[test]
    fn a_total_says_what_it_counts_on() {
        let s = Duration::from_secs;
        let estimates = [
            Estimate::new("a", None, None),
            Estimate::new("b", Some(s(30)), Some(s(200))),
            Estimate::new("c", None, Some(s(20))),
            Estimate::new("d", Some(s(11)), None),
        ];
        assert_eq!(
            total(&estimates),
            "about 4 minutes (3m 52s; 2 measured; 1 without an estimate count 1s each)"
        );
        assert_eq!(total(&[]), "a few seconds (0ms)");
        assert_eq!(own(&estimates[0]), "1s (default)");
        assert_eq!(own(&estimates[1]), "30s");
        assert_eq!(measured(&estimates[0]), "-");
        assert_eq!(measured(&estimates[2]), "20s");
    }
}
