//! `create recipe` and `create release` on small graphs written into temporary directories.

use std::fs;

use super::*;
use upgrader_core::{Context, Source};

fn noop(_: &mut Context<'_>) -> upgrader_core::Result<()> {
    Ok(())
}

/// An upgrade whose source file is `<root>/<crate>/src/<file>` of crate `crate_name`.
fn at(id: &'static str, deps: &'static [&'static str], root: &Path, krate: &str, file: &str) -> Upgrade {
    let manifest_dir = root.join(krate);
    let path = manifest_dir.join("src").join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "").unwrap();
    fs::write(manifest_dir.join("Cargo.toml"), "[package]\n").unwrap();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    Upgrade::new(id, "test", noop)
        .with_depends_on(deps)
        .with_source(Source {
            file: leak(path.to_string_lossy().into_owned()),
            line: 1,
            crate_name: leak(krate.to_owned()),
            crate_version: "1.2.3",
            manifest_dir: leak(manifest_dir.to_string_lossy().into_owned()),
        })
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()
}

#[test]
fn recipe_depends_on_every_head_and_names_them_by_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = Registry::new(
        [
            at("m_2024_01_01_base", &[], root, "app", "m/m_2024_01_01_base.rs"),
            at(
                "m_2024_02_01_left",
                &["m_2024_01_01_base"],
                root,
                "app",
                "m/m_2024_02_01_left.rs",
            ),
            at(
                "m_2024_03_01_right",
                &["m_2024_01_01_base"],
                root,
                "app",
                "m/more/m_2024_03_01_right.rs",
            ),
            at(
                "m_2024_03_02_inline",
                &["m_2024_01_01_base"],
                root,
                "app",
                "m/helpers.rs",
            ),
            at(
                "m_2024_01_15_other",
                &["m_2024_01_01_base"],
                root,
                "other-crate",
                "m/m_2024_01_15_other.rs",
            ),
        ],
        [],
    );
    fs::write(root.join("app/src/m/mod.rs"), "//! M.\n\nmod m_2024_01_01_base;").unwrap();
    let created = recipe(&registry, "m", "next", None, day()).unwrap();
    assert_eq!(created.id, "m_2025_03_04_next");
    assert_eq!(
        created.file,
        resolve(&root.join("app/src/m/m_2025_03_04_next.rs"))
    );
    let text = fs::read_to_string(&created.file).unwrap();
    assert!(
        text.contains(
            "#[upgrade(depends_on = [\n    other_crate::m::m_2024_01_15_other,\n    super::m_2024_02_01_left,\n    crate::m::more::m_2024_03_01_right,\n    super::helpers::m_2024_03_02_inline,\n])]\npub fn m_2025_03_04_next(_ctx: &mut Context) -> Result<()> {"
        ),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(root.join("app/src/m/mod.rs")).unwrap(),
        "//! M.\n\nmod m_2024_01_01_base;\nmod m_2025_03_04_next;\npub use m_2025_03_04_next::*;\n"
    );
    assert!(!created.module_file_created);
}

#[test]
fn a_new_module_gets_its_first_upgrade_and_a_module_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app/src/billing");
    let registry = Registry::new([], []);
    let created = recipe(&registry, "billing", PLACEHOLDER, Some(&dir), day()).unwrap();
    assert!(created.depends_on.is_empty());
    assert!(created.module_file_created);
    let text = fs::read_to_string(&created.file).unwrap();
    assert!(
        text.contains("#[upgrade(depends_on = [])]\npub fn billing_2025_03_04_rename_me("),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("mod.rs")).unwrap(),
        "//! Upgrades of `billing`.\n\nmod billing_2025_03_04_rename_me;\npub use billing_2025_03_04_rename_me::*;\n"
    );
}

#[test]
fn release_depends_on_what_came_after_the_previous_release() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = Registry::new(
        [
            at("a_2024_01_01_first", &[], root, "app", "a/a_2024_01_01_first.rs"),
            at("b_2024_01_01_first", &[], root, "app", "b/b_2024_01_01_first.rs"),
            at(
                "app_release_1_0_0",
                &["a_2024_01_01_first", "b_2024_01_01_first"],
                root,
                "app",
                "releases/app_release_1_0_0.rs",
            ),
            at(
                "a_2024_02_01_second",
                &["a_2024_01_01_first"],
                root,
                "app",
                "a/a_2024_02_01_second.rs",
            ),
        ],
        [],
    );
    let modules = ["a".to_owned(), "b".to_owned()];
    let created = release(&registry, "app", &modules, None, None).unwrap();
    assert_eq!(created.id, "app_release_1_2_3");
    // `b` has nothing new; `a_2024_02_01_second` does not depend on 1.0.0, so the release does.
    assert_eq!(created.depends_on, ["a_2024_02_01_second", "app_release_1_0_0"]);
    assert_eq!(
        created.file,
        resolve(&root.join("app/src/releases/app_release_1_2_3.rs"))
    );
    let text = fs::read_to_string(&created.file).unwrap();
    assert!(
        text.contains("/// Release 1.2.3 of app: a and b as shipped.\n"),
        "{text}"
    );
    assert!(
        text.contains("[\n    crate::a::a_2024_02_01_second,\n    super::app_release_1_0_0,\n]"),
        "{text}"
    );
    let older = release(&registry, "app", &modules, Some("0.9.0"), None).unwrap_err();
    assert!(
        older.to_string().contains("older than `app_release_1_0_0`"),
        "{older}"
    );
}

#[test]
fn a_dependency_whose_source_is_elsewhere_is_named_from_its_recorded_path() {
    // A binary built on another machine: `file!()` is all there is.
    let registry = Registry::new(
        [Upgrade::new("m_2024_01_01_a", "test", noop).with_source(Source {
            file: "my-modules/src/m/m_2024_01_01_a.rs",
            line: 3,
            crate_name: "my-modules",
            crate_version: "1.0.0",
            manifest_dir: "/nonexistent/my-modules",
        })],
        [],
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = recipe(&registry, "m", "b", None, day()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the source file of `m_2024_01_01_a` is not on this machine (my-modules/src/m/m_2024_01_01_a.rs:3)"
    );
    let created = recipe(&registry, "m", "b", Some(tmp.path()), day()).unwrap();
    let text = fs::read_to_string(created.file).unwrap();
    assert!(
        text.contains("#[upgrade(depends_on = [my_modules::m::m_2024_01_01_a])]"),
        "{text}"
    );
}

fn refusal(err: anyhow::Error) -> String {
    err.downcast_ref::<Refused>()
        .map_or_else(|| format!("not a refusal: {err:#}"), ToString::to_string)
}

// A module's upgrades depend on earlier ones: an upgrade of the module dated after the new one
// cannot be its dependency; another module's can, whatever its date.
#[test]
fn depends_on_a_later_upgrade_of_the_same_module_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = Registry::new(
        [
            at("m_2024_01_01_base", &[], root, "app", "m/m_2024_01_01_base.rs"),
            at(
                "m_2026_01_01_future",
                &["m_2024_01_01_base"],
                root,
                "app",
                "m/m_2026_01_01_future.rs",
            ),
            at("n_2026_01_01_other", &[], root, "app", "n/n_2026_01_01_other.rs"),
        ],
        [],
    );
    let unknown = |id: &str| Refused::new(format!("no linked upgrade has the id `{id}`"), "");
    let choose = |ids: &[&str]| {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        recipe_with(
            &registry,
            "m",
            "next",
            None,
            day(),
            &Chosen {
                depends_on: &ids,
                unknown: &unknown,
                overwrite: Overwrite::No,
            },
        )
    };
    let err = refusal(choose(&["m_2026_01_01_future"]).unwrap_err());
    assert_eq!(
        err,
        "--depends-on `m_2026_01_01_future` is an upgrade of `m` dated after the new one (`m_2025_03_04_next`)"
    );
    let created = choose(&["n_2026_01_01_other", "m_2024_01_01_base"]).unwrap();
    assert_eq!(created.depends_on, ["n_2026_01_01_other", "m_2024_01_01_base"]);
    // The module's head (the future upgrade) is left out: said.
    assert_eq!(created.warnings.len(), 1, "{:?}", created.warnings);
    assert!(created.warnings[0].starts_with("`m_2026_01_01_future`, a head of module `m`"));
}

// `--overwrite` of a linked upgrade rewrites its own file, computed without its old version (which
// is no head of its module, nor a dependency of itself); never a second file of the same id.
#[test]
fn overwrite_rewrites_a_linked_upgrade_in_its_own_file_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("app/src/m");
    let registry = Registry::new(
        [
            at("m_2024_01_01_base", &[], root, "app", "m/m_2024_01_01_base.rs"),
            at(
                "m_2025_03_04_next",
                &["m_2024_01_01_base"],
                root,
                "app",
                "m/m_2025_03_04_next.rs",
            ),
        ],
        [],
    );
    fs::write(dir.join("mod.rs"), "mod m_2024_01_01_base;\npub use m_2024_01_01_base::*;\nmod m_2025_03_04_next;\npub use m_2025_03_04_next::*;\n").unwrap();
    let module_file = fs::read_to_string(dir.join("mod.rs")).unwrap();
    let asked: std::cell::RefCell<Vec<String>> = Default::default();
    let not_applied = |id: &str| -> anyhow::Result<()> {
        asked.borrow_mut().push(id.to_owned());
        Ok(())
    };
    let unknown = |id: &str| Refused::new(format!("no linked upgrade has the id `{id}`"), "");
    let chosen = Chosen {
        depends_on: &[],
        unknown: &unknown,
        overwrite: Overwrite::IfNotApplied(&not_applied),
    };
    let created = recipe_with(&registry, "m", "next", None, day(), &chosen).unwrap();
    assert_eq!(*asked.borrow(), ["m_2025_03_04_next"]);
    assert!(created.overwritten && created.module_file_declared);
    assert_eq!(created.depends_on, ["m_2024_01_01_base"]);
    assert!(
        fs::read_to_string(&created.file)
            .unwrap()
            .contains("super::m_2024_01_01_base")
    );
    assert_eq!(fs::read_to_string(dir.join("mod.rs")).unwrap(), module_file);

    let elsewhere = root.join("elsewhere");
    let err = refusal(recipe_with(&registry, "m", "next", Some(&elsewhere), day(), &chosen).unwrap_err());
    assert!(
        err.starts_with("upgrade `m_2025_03_04_next` is linked from another file"),
        "{err}"
    );
    assert!(!elsewhere.exists());

    // Applied (the check refuses): nothing is written.
    let applied =
        |id: &str| -> anyhow::Result<()> { Err(Refused::new(format!("`{id}` is applied"), "").into()) };
    let before = fs::read_to_string(&created.file).unwrap();
    let chosen = Chosen {
        depends_on: &[],
        unknown: &unknown,
        overwrite: Overwrite::IfNotApplied(&applied),
    };
    let err = refusal(recipe_with(&registry, "m", "next", None, day(), &chosen).unwrap_err());
    assert_eq!(err, "`m_2025_03_04_next` is applied");
    assert_eq!(fs::read_to_string(&created.file).unwrap(), before);
}
