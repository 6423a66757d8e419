//! The timings file: what `show applied --json` printed on a database that ran the upgrades (a
//! staging copy, a rehearsal), whose measured durations the estimates then use. Named by
//! `--timings FILE` or `timings` in upgrader.toml.
//!
//! The file is a JSON array of objects; each needs `upgrade` (a string) and `duration_ms` (whole
//! milliseconds, or `null` when the history did not record how long it took: that row is
//! skipped). Other fields are ignored, and so are upgrades this binary does not link. When an
//! upgrade appears twice, the later row wins.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use upgrader_core::Timings;

use crate::refused::Refused;

const HINT: &str = "a timings file is what `show applied --json` prints on a database that ran the upgrades (a staging copy), saved as it is; check the path (--timings, or `timings` in upgrader.toml)";

/// Reads and checks the timings file at `path`; any problem is a refusal naming the file.
pub(crate) fn load(path: &Path) -> Result<Timings, Refused> {
    let name = path.display();
    let refuse = |reason: String| Refused::new(format!("timings file {name}: {reason}"), HINT);
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(refuse("it does not exist".into())),
        Err(e) => return Err(refuse(format!("cannot look at it: {e}"))),
        Ok(meta) if meta.is_dir() => return Err(refuse("it is a directory, not a file".into())),
        // A FIFO or a device would be read for ever, or as nonsense.
        Ok(meta) if !meta.is_file() => return Err(refuse("it is not a regular file".into())),
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    parse(&text).map_err(refuse)
}

/// The timings in a file's text, or what is wrong with it.
fn parse(text: &str) -> Result<Timings, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?;
    let Value::Array(rows) = value else {
        return Err(format!(
            "it is {}, not a list of applied upgrades (a JSON array of objects with `upgrade` and `duration_ms`)",
            kind(&value)
        ));
    };
    let mut timings = Timings::new();
    for (index, row) in rows.iter().enumerate() {
        let at = format!("entry {} of the list", index + 1);
        let Value::Object(fields) = row else {
            return Err(format!("{at} is {}, not an object", kind(row)));
        };
        let id = match fields.get("upgrade") {
            Some(Value::String(id)) => id,
            Some(other) => return Err(format!("{at}: `upgrade` is {}, not a string", kind(other))),
            None => return Err(format!("{at} has no `upgrade`")),
        };
        let millis = match fields.get("duration_ms") {
            Some(Value::Null) => continue,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                format!("{at} (`{id}`): `duration_ms` is {n}, not a whole number of milliseconds")
            })?,
            Some(other) => {
                return Err(format!(
                    "{at} (`{id}`): `duration_ms` is {}, not a number",
                    kind(other)
                ));
            }
            None => return Err(format!("{at} (`{id}`) has no `duration_ms`")),
        };
        timings.insert(id.clone(), Duration::from_millis(millis));
    }
    Ok(timings)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_applied_json_is_read_as_it_is() {
        let text = r#"[
          {"upgrade": "a_2024_01_01_x", "applied": "2024-01-01 00:00:00", "duration_ms": 1500, "checksum": "ab", "method": "run"},
          {"upgrade": "a_2024_01_02_y", "applied": null, "duration_ms": null, "checksum": null, "method": "adopted"},
          {"upgrade": "a_2024_01_03_z", "duration_ms": 0},
          {"upgrade": "a_2024_01_01_x", "duration_ms": 2000}
        ]"#;
        let timings = parse(text).unwrap();
        assert_eq!(timings.len(), 2);
        assert_eq!(
            timings.get("a_2024_01_01_x"),
            Some(Duration::from_secs(2)),
            "the later row wins"
        );
        assert_eq!(timings.get("a_2024_01_02_y"), None, "no duration: skipped");
        assert_eq!(timings.get("a_2024_01_03_z"), Some(Duration::ZERO));
        assert!(parse("[]").unwrap().is_empty());
    }

    #[test]
    fn a_file_of_another_shape_says_where() {
        for (text, why) in [
            ("", "not JSON"),
            ("upgrade,duration_ms\nx,1\n", "not JSON"),
            ("{\"pending\": []}", "it is an object, not a list"),
            ("[1]", "entry 1 of the list is a number, not an object"),
            ("[{\"duration_ms\": 1}]", "entry 1 of the list has no `upgrade`"),
            ("[{\"upgrade\": 3, \"duration_ms\": 1}]", "`upgrade` is a number"),
            ("[{\"upgrade\": \"x\"}]", "(`x`) has no `duration_ms`"),
            (
                "[{\"upgrade\": \"x\", \"duration_ms\": -5}]",
                "`duration_ms` is -5, not a whole number",
            ),
            (
                "[{\"upgrade\": \"x\", \"duration_ms\": 1.5}]",
                "`duration_ms` is 1.5, not a whole number",
            ),
            (
                "[{\"upgrade\": \"x\", \"duration_ms\": \"12\"}]",
                "`duration_ms` is a string, not a number",
            ),
            (
                "[{\"upgrade\": \"x\", \"duration_ms\": 1}, 7]",
                "entry 2 of the list",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
