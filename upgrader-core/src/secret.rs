//! Secrets in connection strings: where they are, how the string prints (`***` in their place),
//! and scrubbing them out of any text a driver sends back.
//!
//! The drivers read one string in different ways. tokio-postgres takes the user and password up
//! to the *first* `@` of the whole string, and also reads `?password=` and libpq `key=value`
//! strings; mysql_async (the `url` crate) ends the authority at the first `/`, `?` or `#`, and the
//! user and password at the *last* `@` in it. A password written without percent-encoding can
//! reach further than either reading, so the span shown as `***` covers every reading, and every
//! form of every candidate (raw, percent-decoded, percent-encoded) is scrubbed from driver text.

use std::ops::Range;

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

const MASK: &str = "***";

/// What the `url` crate percent-encodes in a user name or password.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

/// The keys of a libpq `key=value` connection string (PostgreSQL's documented list): a string that
/// starts with one of them is a PostgreSQL connection string.
pub(crate) const LIBPQ_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// A connection string as it may print, and every form its secrets may take in a driver's text.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secrets {
    /// The string with each secret replaced by `***`.
    shown: String,
    /// Every form of every secret, longest first.
    forms: Vec<String>,
}

impl Secrets {
    /// A string with nothing secret in it (an SQLite path).
    pub(crate) fn none(shown: &str) -> Secrets {
        Secrets {
            shown: shown.to_owned(),
            forms: Vec::new(),
        }
    }

    /// A `scheme://…` URL.
    pub(crate) fn of_url(url: &str) -> Secrets {
        let start = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[start..];
        let mut spans = Vec::new();
        let mut forms = Vec::new();
        // The password, under the widest reading: from the first `:` before the last `@` to that
        // `@`. Both drivers' readings lie inside it; add each of them too, as they are decoded
        // on their own.
        if let Some(at) = rest.rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            spans.push(start + colon + 1..start + at);
            // tokio-postgres: up to the first `@`.
            let first_at = rest.find('@').unwrap_or(at);
            if let Some((_, password)) = rest[..first_at].split_once(':') {
                forms.push(password.to_owned());
            }
            // The `url` crate: up to the last `@` before the first `/`, `?` or `#`.
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                forms.push(password.to_owned());
            }
        }
        // `?password=…`, `&sslpassword=…` and the like, wherever they stand.
        for (i, c) in rest.char_indices() {
            if c != '?' && c != '&' {
                continue;
            }
            // A value runs to the next `&` (a `?` inside it is part of it).
            let pair = &rest[i + 1..];
            let pair = &pair[..pair.find('&').unwrap_or(pair.len())];
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            if is_secret_key(&decode(key)) {
                let value_start = start + i + 1 + key.len() + 1;
                spans.push(value_start..value_start + value.len());
                forms.push(value.replace('+', " "));
            }
        }
        Secrets::from_spans(url, spans, forms)
    }

    /// A string of `key=value` pairs: a libpq connection string (`host=db user=app
    /// password='s e c r e t'`), or another driver's (`Server=db;Password=…`).
    pub(crate) fn of_key_value(text: &str) -> Secrets {
        let mut spans = Vec::new();
        let mut forms = Vec::new();
        for pair in key_values(text) {
            if is_secret_key(pair.key) {
                forms.push(pair.value.clone());
                spans.push(pair.span);
            }
        }
        // Any `key=value` whose key names a secret, whatever separates the pairs: a value runs to
        // whitespace, `;` or `&`, or to its closing quote.
        for (eq, _) in text.match_indices('=') {
            let before = text[..eq].trim_end();
            let key_start = before
                .char_indices()
                .rev()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |(i, c)| i + c.len_utf8());
            if !is_secret_key(&before[key_start..]) {
                continue;
            }
            let after = &text[eq + 1..];
            let start = eq + 1 + (after.len() - after.trim_start().len());
            let value = &text[start..];
            let len = match value.chars().next() {
                Some(quote @ ('\'' | '"')) => value[1..].find(quote).map_or(value.len(), |i| i + 2),
                _ => value
                    .find(|c: char| c.is_whitespace() || c == ';' || c == '&')
                    .unwrap_or(value.len()),
            };
            let written = &value[..len];
            forms.push(written.trim_matches(['\'', '"']).to_owned());
            spans.push(start..start + len);
        }
        Secrets::from_spans(text, spans, forms)
    }

    /// Whether any secret was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    fn from_spans(text: &str, mut spans: Vec<Range<usize>>, mut forms: Vec<String>) -> Secrets {
        spans.retain(|s| !s.is_empty());
        spans.sort_by_key(|s| s.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        let mut shown = String::with_capacity(text.len());
        let mut at = 0;
        for span in &merged {
            shown.push_str(&text[at..span.start]);
            shown.push_str(MASK);
            forms.push(text[span.clone()].to_owned());
            at = span.end;
        }
        shown.push_str(&text[at..]);
        Secrets {
            shown,
            forms: every_form(forms),
        }
    }

    /// The string with its secrets replaced by `***`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` with every form of every secret replaced by `***`. A secret shorter than four
    /// characters is replaced only where it stands alone (not inside a word), so that a short
    /// password does not mangle every word of a message.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for form in &self.forms {
            out = if form.chars().count() >= 4 {
                out.replace(form.as_str(), MASK)
            } else {
                replace_alone(&out, form)
            };
        }
        out
    }
}

/// Whether a connection parameter holds a secret: `password`, `sslpassword`, `pass`, `passwd`,
/// `pwd`, `secret`, `token`…
fn is_secret_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    ["pass", "pwd", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Each candidate as written, percent-decoded, and percent-encoded the ways a driver may encode
/// it; without duplicates or empty strings, longest first.
fn every_form(candidates: Vec<String>) -> Vec<String> {
    let mut forms = Vec::new();
    for raw in candidates {
        let decoded = decode(&raw);
        for plain in [&raw, &decoded] {
            forms.push(plain.clone());
            forms.push(crate::connection::one_line(plain));
            forms.push(utf8_percent_encode(plain, NON_ALPHANUMERIC).to_string());
            forms.push(utf8_percent_encode(plain, USERINFO).to_string());
            forms.push(
                utf8_percent_encode(plain, NON_ALPHANUMERIC)
                    .to_string()
                    .replace("%20", "+"),
            );
        }
    }
    forms.retain(|f| !f.is_empty());
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// Replaces `needle` where neither neighbour is a letter or digit.
fn replace_alone(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (i, _) in text.match_indices(needle) {
        if i < at {
            continue;
        }
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
            continue;
        }
        out.push_str(&text[at..i]);
        out.push_str(MASK);
        at = i + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// One `key=value` of a libpq connection string.
pub(crate) struct KeyValue<'a> {
    pub(crate) key: &'a str,
    /// The value as the driver reads it (quotes and backslashes removed).
    pub(crate) value: String,
    /// Where the value is written, quotes included.
    pub(crate) span: Range<usize>,
    /// Where the key starts: the pair is written at `start..span.end`.
    pub(crate) start: usize,
}

/// The pairs of a libpq connection string, read as tokio-postgres reads them: whitespace between
/// pairs and around `=`, values either bare (up to whitespace) or single-quoted, `\` escaping the
/// next character in both. Reading stops at the first thing that is not a pair; an unterminated
/// quote runs to the end.
pub(crate) fn key_values(text: &str) -> Vec<KeyValue<'_>> {
    let mut pairs = Vec::new();
    let mut rest = text.char_indices().peekable();
    let skip_ws = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut rest);
        let Some(&(key_start, _)) = rest.peek() else { break };
        let mut key_end = text.len();
        while let Some(&(i, c)) = rest.peek() {
            if c.is_whitespace() || c == '=' {
                key_end = i;
                break;
            }
            rest.next();
        }
        let key = &text[key_start..key_end];
        skip_ws(&mut rest);
        if rest.next_if(|&(_, c)| c == '=').is_none() || key.is_empty() {
            break;
        }
        skip_ws(&mut rest);
        let Some(&(value_start, first)) = rest.peek() else {
            break;
        };
        let quoted = first == '\'';
        if quoted {
            rest.next();
        }
        let mut value = String::new();
        let mut value_end = text.len();
        while let Some(&(i, c)) = rest.peek() {
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                value_end = if quoted { i + 1 } else { i };
                if quoted {
                    rest.next();
                }
                break;
            }
            rest.next();
            if c == '\\' {
                if let Some((_, escaped)) = rest.next() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        pairs.push(KeyValue {
            key,
            value,
            span: value_start..value_end,
            start: key_start,
        });
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn hides(secrets: &Secrets, password: &str) {
        assert!(!secrets.shown().contains(password), "{}", secrets.shown());
        for text in [
            format!("error near {password}: x"),
            format!("`{}`", decode(password)),
            format!("[{}]", utf8_percent_encode(password, NON_ALPHANUMERIC)),
        ] {
            let scrubbed = secrets.scrub(&text);
            assert!(!scrubbed.contains(password), "{scrubbed}");
        }
    }

    #[test]
    fn userinfo_password_is_masked_under_every_reading() {
        for (url, shown, password) in [
            ("postgres://u:secret@h/db", "postgres://u:***@h/db", "secret"),
            ("postgres://u:pa/ss@h/db", "postgres://u:***@h/db", "pa/ss"),
            ("mysql://u:p@ss@h:3306/db", "mysql://u:***@h:3306/db", "p@ss"),
            ("mysql://u:a#b?c@h/db", "mysql://u:***@h/db", "a#b?c"),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db", "p@ss"),
        ] {
            let secrets = Secrets::of_url(url);
            assert_eq!(secrets.shown(), shown);
            hides(&secrets, password);
        }
        let plain = Secrets::of_url("postgres://u@h:5432/db?sslmode=disable");
        assert_eq!(plain.shown(), "postgres://u@h:5432/db?sslmode=disable");
        assert_eq!(plain.scrub("u@h:5432 disable"), "u@h:5432 disable");
    }

    #[test]
    fn password_parameters_are_masked() {
        let secrets = Secrets::of_url("postgres://u@h/db?sslmode=disable&password=s%26cret&x=1");
        assert_eq!(
            secrets.shown(),
            "postgres://u@h/db?sslmode=disable&password=***&x=1"
        );
        hides(&secrets, "s&cret");
        let secrets = Secrets::of_url("mysql://u@h/db?pass=a+b");
        assert_eq!(secrets.shown(), "mysql://u@h/db?pass=***");
        hides(&secrets, "a b");
    }

    #[test]
    fn key_value_passwords_are_masked() {
        let secrets = Secrets::of_key_value(r"host=h password='it\'s secret' dbname=d");
        assert_eq!(secrets.shown(), "host=h password=*** dbname=d");
        hides(&secrets, "it's secret");
        let secrets = Secrets::of_key_value("host=h  sslpassword = abc:def user=u");
        assert_eq!(secrets.shown(), "host=h  sslpassword = *** user=u");
        hides(&secrets, "abc:def");
        let secrets = Secrets::of_key_value("Data Source=app.db;Password=hunter22;Pooling=true");
        assert_eq!(secrets.shown(), "Data Source=app.db;Password=***;Pooling=true");
        hides(&secrets, "hunter22");
        let secrets = Secrets::of_key_value(r#"Server=db; Pwd = "a b;c"; Uid=u"#);
        assert_eq!(secrets.shown(), "Server=db; Pwd = ***; Uid=u");
        hides(&secrets, "a b;c");
    }

    #[test]
    fn short_secrets_are_scrubbed_only_where_they_stand_alone() {
        let secrets = Secrets::of_url("mysql://root:ab@h/db");
        assert_eq!(
            secrets.scrub("Access denied for ab (ab) to able"),
            "Access denied for *** (***) to able"
        );
    }
}
