//! What the commands print on stdout: aligned tables, or JSON with `--json`.

use std::fmt::Write as _;
use std::time::Duration;

/// A duration for people: `850ms`, `12s`, `3m 20s`, `1h 05m`.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Columns padded to their widest cell; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first line of an upgrade's doc comment.
pub(crate) fn first_line(info: &str) -> &str {
    info.lines().next().unwrap_or("")
}

/// stdout could not be written: a closed pipe (`| head`) ends the command quietly, anything else
/// (a full disk) is an error. What the command recorded in the database stays recorded.
#[derive(Debug)]
pub(crate) struct StdoutFailed(pub(crate) std::io::Error);

impl std::fmt::Display for StdoutFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot write to stdout")
    }
}

impl std::error::Error for StdoutFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl StdoutFailed {
    /// Whether the reader went away (`| head`): not an error, the command just stops.
    pub(crate) fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// An answer given as an exit code (`status`), once its report was printed: a reader that went
/// away (`| head`) does not change the answer (a closed pipe must not turn "pending" into 0);
/// any other failure to write is the error.
pub(crate) fn answer_stands(printed: anyhow::Result<()>, code: u8) -> anyhow::Result<std::process::ExitCode> {
    match printed {
        Err(err)
            if !err
                .downcast_ref::<StdoutFailed>()
                .is_some_and(StdoutFailed::is_closed_pipe) =>
        {
            Err(err)
        }
        _ => Ok(std::process::ExitCode::from(code)),
    }
}

/// Writes data to stdout and flushes it; control characters are escaped (see [`printable`]).
pub(crate) fn data(text: &str) -> Result<(), StdoutFailed> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(printable(text).as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutFailed)
}

/// Writes one line of data to stdout (see [`data`]).
pub(crate) fn data_line(line: &str) -> Result<(), StdoutFailed> {
    data(&format!("{line}\n"))
}

/// Writes a JSON document to stdout, pretty-printed, with the characters a terminal could take
/// for commands escaped as `\uXXXX` (JSON already escapes the C0 controls; this adds DEL, the C1
/// controls and the bidirectional overrides).
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_json(&text)?;
    Ok(())
}

/// Writes a JSON value to stdout on one line (NDJSON), escaped as [`json`] escapes it.
pub(crate) fn json_line(value: &serde_json::Value) -> Result<(), StdoutFailed> {
    write_json(&value.to_string())
}

fn write_json(text: &str) -> Result<(), StdoutFailed> {
    let mut escaped = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        // Raw newlines are the pretty-printer's own; inside strings JSON has escaped them.
        if is_unsafe(c) && c != '\n' {
            let _ = write!(escaped, "\\u{:04x}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    escaped.push('\n');
    // Already escaped: write as is.
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(escaped.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutFailed)
}

/// A line for the operator on stderr (never data). A stderr that cannot be written is ignored:
/// the line is a courtesy, and the exit code still tells. One `write` per line: stderr is not
/// buffered, and `writeln!` would write each piece of the line on its own.
pub(crate) fn note(message: &str) {
    use std::io::Write as _;
    let mut line = printable(message).into_owned();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Text with every character a terminal could act on (escape sequences, C1 controls,
/// bidirectional overrides) written as a Rust escape (`\u{1b}`), so an id or a message read from a
/// database cannot move the cursor, recolour or hide text. Newlines and tabs stay.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
