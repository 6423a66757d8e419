//! The property behind "secrets never print": for generated passwords made of letters and every
//! printable ASCII special character, written in every form a user can write a database URL, no
//! command that prints the URL or an error about it prints the password, raw or percent-encoded:
//! against a port where nothing listens, and against the real servers (where `run` succeeds on
//! PostgreSQL, which trusts local connections, and MariaDB refuses the password).

use std::process::{Child, Stdio};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use upgrader_core::Backend;
use upgrader_tests::TestDb;

use crate::support::{text, upgrader};

/// Every printable ASCII character that is not a letter or a digit, space included.
const SPECIALS: &str = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The commands that print the URL (the plan of `run`) or an error about it.
const COMMANDS: [&[&str]; 7] = [
    &["show", "applied"],
    &["show", "applied", "--json"],
    &["show", "pending"],
    &["show", "pending", "--json"],
    &["check"],
    &["check", "--json"],
    &["run", "--yes-i-know"],
];

/// 8 to 16 characters: at least 4 letters and 4 special characters, in any order.
fn password() -> impl Strategy<Value = String> {
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
    let specials: Vec<char> = SPECIALS.chars().collect();
    (
        proptest::collection::vec(proptest::sample::select(letters), 4..8),
        proptest::collection::vec(proptest::sample::select(specials), 4..8),
    )
        .prop_map(|(mut letters, specials)| {
            letters.extend(specials);
            letters
        })
        .prop_shuffle()
        .prop_map(|chars| chars.into_iter().collect())
}

/// Every byte but ASCII letters and digits as `%XX`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The password written in each form of URL for `backend`, to `user@host:port/db`.
fn urls(backend: Backend, password: &str, user: &str, host: &str, port: &str, db: &str) -> Vec<String> {
    let encoded = encode(password);
    match backend {
        Backend::Postgres => vec![
            format!("postgres://{user}:{password}@{host}:{port}/{db}"),
            format!("postgresql://{user}:{encoded}@{host}:{port}/{db}"),
            format!("postgres://{user}@{host}:{port}/{db}?sslmode=disable&password={encoded}"),
            format!(
                "host={host} port={port} user={user} password='{}' dbname={db}",
                password.replace('\\', "\\\\").replace('\'', "\\'")
            ),
        ],
        _ => vec![
            // Raw: most of these do not parse.
            format!("mysql://{user}:{password}@{host}:{port}/{db}"),
            format!("mysql://{user}:{encoded}@{host}:{port}/{db}"),
            format!("mysql://{user}@{host}:{port}/{db}?password={encoded}"),
            format!("mariadb://{user}:{encoded}@{host}:{port}/{db}"),
        ],
    }
}

/// Runs every command on every URL (the commands of one URL at once) and fails when any output
/// holds the password.
fn never_printed(password: &str, urls: &[String]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let forms = [password.to_owned(), encode(password)];
    for url in urls {
        let children: Vec<Child> = COMMANDS
            .iter()
            .map(|command| {
                upgrader(dir.path(), Some(url))
                    .args(["--connect-timeout", "20"])
                    .args(*command)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, command) in children.into_iter().zip(COMMANDS) {
            let out = child.wait_with_output().unwrap();
            let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
            // The command got as far as the database (not a usage error), and a failure says why.
            prop_assert!(
                out.status.success()
                    || (out.status.code() == Some(1) && text(&out.stderr).contains("error: ")),
                "{:?} on {:?}: {:?}\n{}",
                command,
                url,
                out.status,
                printed
            );
            for form in &forms {
                prop_assert!(
                    !printed.contains(form.as_str()),
                    "`{}` printed by {:?} on {:?}:\n{}",
                    form,
                    command,
                    url,
                    printed
                );
            }
        }
    }
    prop_assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no server URL makes an SQLite file"
    );
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Every special character at once, then generated passwords.
fn check(cases: u32, urls_for: impl Fn(&str) -> Vec<String>) {
    let all = format!("Ab{SPECIALS}yZ");
    never_printed(&all, &urls_for(&all)).unwrap();
    runner(cases)
        .run(&password(), |password| {
            never_printed(&password, &urls_for(&password))
        })
        .unwrap();
}

#[test]
fn no_output_holds_the_password_when_nothing_listens() {
    check(16, |password| {
        let mut all = urls(Backend::Postgres, password, "user", "127.0.0.1", "1", "db");
        all.extend(urls(Backend::Mysql, password, "user", "127.0.0.1", "1", "db"));
        all
    });
}

#[test]
fn no_output_holds_the_password_on_the_real_servers() {
    let (Some(postgres), Some(mysql)) = (TestDb::new(Backend::Postgres), TestDb::new(Backend::Mysql)) else {
        return;
    };
    // `<scheme>://<user>@<host>:<port>/<db>`
    let parts = |url: &str| {
        let rest = url.split_once("://").unwrap().1;
        let (user, rest) = rest.split_once('@').unwrap();
        let (host_port, db) = rest.split_once('/').unwrap();
        let (host, port) = host_port.split_once(':').unwrap();
        [user, host, port, db].map(str::to_owned)
    };
    let [pg_user, pg_host, pg_port, pg_db] = parts(&postgres.url);
    let [my_user, my_host, my_port, my_db] = parts(&mysql.url);
    check(12, |password| {
        let mut all = urls(Backend::Postgres, password, &pg_user, &pg_host, &pg_port, &pg_db);
        all.extend(urls(
            Backend::Mysql,
            password,
            &my_user,
            &my_host,
            &my_port,
            &my_db,
        ));
        all
    });
}
