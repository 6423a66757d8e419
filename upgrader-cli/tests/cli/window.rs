//! `run --max-duration`: a run stops cleanly before an upgrade its window has no room for, says
//! what remains and exits 7; a malformed window is refused before anything is applied.

use crate::EXAMPLE_ORDER;
use crate::before::{
    BACKENDS, VERSIONED, applied_count, applied_count_unconfigured, assert_refused, stderr, text,
    timings_file,
};
use crate::support::Demo;

#[test]
fn run_stops_at_the_window_and_the_next_run_continues() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        timings_file(&demo, "t.json", &[(VERSIONED, Some(7_200_000))]);
        let out = demo
            .cmd(&[
                "--timings",
                "t.json",
                "run",
                "--yes-i-know",
                "--max-duration",
                "1h",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{backend}: {}", text(&out));
        let applied: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
            .collect();
        assert_eq!(applied, EXAMPLE_ORDER[..3], "{backend}");
        let err = stderr(&out);
        for expected in [
            "window 1h 00m: if each upgrade takes as long as expected, the run stops before `records_2024_03_05_add_version_id` (after 3 of 8)",
            "stopped at the window (1h 00m) after ",
            ": 3 upgrade(s) applied and recorded; `records_2024_03_05_add_version_id` is expected to take 2h 00m (measured), more than the time left\n",
            "the post-run checks did not run",
            "remaining: 5 upgrade(s), expected about 2 hours (2h 00m; 1 measured; 4 without an estimate count 1s each):\n",
            "\nhint: run again in the next window: it continues with `records_2024_03_05_add_version_id`\n",
        ] {
            assert!(err.contains(expected), "{backend}: {expected:?} in {err}");
        }
        let remaining = &err[err.find("remaining: ").unwrap()..];
        for id in &EXAMPLE_ORDER[3..] {
            assert!(
                remaining.contains(&format!("\n  {id} ")),
                "{backend}: {id} is listed as remaining: {err}"
            );
        }
        assert!(!remaining.contains(EXAMPLE_ORDER[2]), "{remaining}");
        assert!(!err.contains("upgrade(s) applied\n"), "{err}");
        assert_eq!(applied_count(&demo), 3, "{backend}");
        // Nothing half done: nothing is interrupted, the rest is simply pending.
        demo.cmd(&["status"]).assert().code(3);

        // The next run, without a window, continues.
        let out = demo.cmd(&["run", "--yes-i-know"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            5,
            "{backend}"
        );
        assert_eq!(applied_count(&demo), 8);
    }
}

// `--to` and `-p` choose the subset; the window then stops within it, and what remains is the
// rest of the subset, not of the whole plan.
#[test]
fn a_window_stops_within_the_chosen_subset() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        timings_file(&demo, "t.json", &[(VERSIONED, Some(7_200_000))]);
        for choice in [["-p", "records"], ["--to", VERSIONED]] {
            let out = demo
                .cmd(&[
                    "--timings",
                    "t.json",
                    "run",
                    "--yes-i-know",
                    "--max-duration",
                    "1h",
                ])
                .args(choice)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(7), "{backend} {choice:?}: {}", text(&out));
            let err = stderr(&out);
            let remaining = &err[err.find("remaining: ").unwrap()..];
            assert!(
                remaining.starts_with("remaining: 1 upgrade(s)") && remaining.contains(VERSIONED),
                "{backend} {choice:?}: {err}"
            );
            assert!(!remaining.contains("search_2024_04_01_initial"), "{remaining}");
            // What the subset needs before it: `accounts_2024_01_10_initial` and
            // `records_2024_01_15_initial`, nothing else (the first round applies them).
            assert_eq!(applied_count(&demo), 2, "{backend} {choice:?}");
        }
        // Without the window, the subset finishes, and the rest of the plan stays pending.
        demo.cmd(&["run", "--yes-i-know", "-p", "records"])
            .assert()
            .success();
        assert_eq!(applied_count(&demo), 3, "{backend}");
        demo.cmd(&["status"]).assert().code(3);
    }
}

#[test]
fn a_window_shorter_than_the_first_upgrade_applies_nothing_and_asks_nothing() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        demo.cmd(&["run", "--yes-i-know"]).assert().success();
        demo.cmd(&[
            "mark",
            "accounts_2024_02_01_add_display_name",
            "--pending",
            "--with-dependents",
            "--yes-i-know",
        ])
        .assert()
        .success();
        timings_file(
            &demo,
            "t.json",
            &[("accounts_2024_02_01_add_display_name", Some(2_700_000))],
        );
        let before = demo.snapshot();
        let out = demo
            .cmd(&[
                "--timings",
                "t.json",
                "run",
                "--yes-i-know",
                "--max-duration",
                "30m",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{backend}: {}", text(&out));
        assert_eq!(out.stdout, b"", "{backend}");
        let err = stderr(&out);
        assert!(
            err.contains("stopped at the window: `accounts_2024_02_01_add_display_name` alone is expected to take 45m 00s (measured), longer than the whole window (30m 00s); nothing was applied\n")
                && err.contains("\nhint: give the run a window of at least 45m 00s (--max-duration), or run it without one\n"),
            "{backend}: {err}"
        );
        assert!(!err.contains("[1/"), "{err}");
        assert_eq!(
            demo.snapshot(),
            before,
            "{backend}: a run with no room for anything changed the database"
        );
    }
}

#[test]
fn max_duration_in_the_configuration_file_and_the_flag_wins() {
    let demo = Demo::sqlite();
    timings_file(&demo, "t.json", &[(VERSIONED, Some(7_200_000))]);
    std::fs::write(
        demo.dir.path().join("upgrader.toml"),
        "timings = \"t.json\"\nmax_duration = \"1h\"\n",
    )
    .unwrap();
    demo.cmd(&["run", "--yes-i-know"]).assert().code(7);
    assert_eq!(applied_count(&demo), 3);
    demo.cmd(&["run", "--yes-i-know", "--max-duration", "3h"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "window 3h 00m: the estimates fit all 5 upgrade(s)",
        ));
    assert_eq!(applied_count(&demo), 8);
}

#[test]
fn a_malformed_window_is_refused_before_anything_is_applied() {
    for backend in BACKENDS {
        let Some(demo) = Demo::new(backend) else { continue };
        demo.cmd(&["mark", "accounts_2024_01_10_initial", "--applied", "--yes-i-know"])
            .assert()
            .success();
        for (window, why) in [
            ("30", "`30` has no unit"),
            ("5d", "`5d` has an unknown unit"),
            ("1.5h", "unknown unit"),
            ("-5m", "is not a duration"),
            ("30m1h", "puts a smaller one first"),
            ("", "empty duration"),
            ("0s", "`0s` is no time"),
            ("99999999999999999999h", "too long"),
        ] {
            // `--max-duration=-5m`: a value starting with `-` is not taken for a flag.
            let flag = format!("--max-duration={window}");
            assert_refused(&demo, &["run", "--yes-i-know", &flag], 2, why);
        }
        std::fs::write(
            demo.dir.path().join("upgrader.toml"),
            "max_duration = \"half an hour\"\n",
        )
        .unwrap();
        assert_refused(
            &demo,
            &["run", "--yes-i-know"],
            1,
            "invalid configuration upgrader.toml: `max_duration`: `half an hour` is not a duration",
        );
        assert_eq!(applied_count_unconfigured(&demo), 1);
    }
}
