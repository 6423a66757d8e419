//! `show graph` and `explain` through the real binary: the DOT output read back by a DOT parser,
//! the Mermaid output against the syntax rules it relies on, the JSON against the registry, on
//! every backend where reading the states differs.

// Only `upgrader()` of it: these tests need the test database's snapshot, which `Demo` keeps.
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use assert_cmd::Command;
use upgrader_core::{Backend, Plan, Registry};
use upgrader_tests::TestDb;

// The registry the tests compare with is the one the demo binary links.
use example_modules as _;

const LEAF: &str = "accounts_2024_06_01_add_last_login";
const RELEASE: &str = "examples_release_1_0_0";

/// The example modules' plan, as the binary orders it.
fn plan() -> Plan {
    Registry::linked()
        .plan(None)
        .expect("the examples form a valid graph")
}

/// A fresh database on `backend` with a working directory; `None` when that server is not
/// configured (outside CI).
struct Case {
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Case {
    fn new(backend: Backend) -> Option<Case> {
        Some(Case {
            db: TestDb::new(backend)?,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = support::upgrader();
        cmd.current_dir(self.dir.path())
            .env("UPGRADER_DATABASE_URL", &self.db.url)
            .args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("stdout is JSON")
    }

    /// Every example applied, then the leaf taken back: some applied, one pending.
    fn some_applied(&self) {
        self.ok(&["run", "--yes-i-know"]);
        self.ok(&["mark", LEAF, "--pending", "--yes-i-know"]);
    }

    fn execute(&self, sql: &str) {
        self.db.connect().execute(sql).unwrap();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---- a DOT graph read back with a real parser (graphviz-rust's grammar of the DOT language) ----

#[derive(Debug, Default)]
struct Dot {
    /// Each `subgraph`'s name, with its label and the nodes declared in it, in order.
    clusters: BTreeMap<String, (String, Vec<String>)>,
    /// Nodes declared outside every subgraph.
    outside: Vec<String>,
    /// Each node's attributes, decoded.
    attrs: BTreeMap<String, BTreeMap<String, String>>,
    edges: Vec<(String, String)>,
}

/// The text of a DOT id: a quoted string's quotes removed and `\"` read as `"` (the only escape
/// the DOT language itself has); with `label`, also Graphviz's label escapes `\\` and `\n`.
fn unquote(id: &graphviz_rust::dot_structures::Id, label: bool) -> String {
    use graphviz_rust::dot_structures::Id;
    match id {
        Id::Escaped(quoted) => {
            let inner = &quoted[1..quoted.len() - 1];
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') if label => out.push('\\'),
                    Some('n') if label => out.push('\n'),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                }
            }
            out
        }
        Id::Plain(plain) => plain.clone(),
        other => panic!("unexpected id {other:?}"),
    }
}

fn parse_dot(text: &str) -> Dot {
    use graphviz_rust::dot_structures::{EdgeTy, Graph, Stmt, Vertex};
    let graph = graphviz_rust::parse(text).unwrap_or_else(|e| panic!("not DOT: {e}\n{text}"));
    let Graph::DiGraph { stmts, .. } = graph else {
        panic!("not a digraph: {text}")
    };
    fn walk(dot: &mut Dot, stmts: &[Stmt], cluster: Option<&str>) {
        for stmt in stmts {
            match stmt {
                Stmt::Node(node) => {
                    let id = unquote(&node.id.0, false);
                    match cluster {
                        Some(c) => dot.clusters.get_mut(c).unwrap().1.push(id.clone()),
                        None => dot.outside.push(id.clone()),
                    }
                    let attrs = node
                        .attributes
                        .iter()
                        .map(|a| (unquote(&a.0, false), unquote(&a.1, true)))
                        .collect();
                    assert!(
                        dot.attrs.insert(id.clone(), attrs).is_none(),
                        "`{id}` declared twice"
                    );
                }
                Stmt::Subgraph(sub) => {
                    assert!(cluster.is_none(), "nested subgraph");
                    let name = unquote(&sub.id, false);
                    dot.clusters.insert(name.clone(), (String::new(), Vec::new()));
                    walk(dot, &sub.stmts, Some(&name));
                }
                Stmt::Attribute(attr) => {
                    let c = cluster.expect("a graph attribute outside a subgraph");
                    assert_eq!(unquote(&attr.0, false), "label");
                    dot.clusters.get_mut(c).unwrap().0 = unquote(&attr.1, true);
                }
                Stmt::Edge(edge) => {
                    let EdgeTy::Pair(Vertex::N(from), Vertex::N(to)) = &edge.ty else {
                        panic!("unexpected edge {edge:?}")
                    };
                    dot.edges.push((unquote(&from.0, false), unquote(&to.0, false)));
                }
                Stmt::GAttribute(_) => {}
            }
        }
    }
    let mut dot = Dot::default();
    walk(&mut dot, &stmts, None);
    for (from, to) in &dot.edges {
        assert!(
            dot.attrs.contains_key(from) && dot.attrs.contains_key(to),
            "edge to an undeclared node: {from} -> {to}"
        );
    }
    dot
}

/// `(dependency, dependent)` for every dependency of the plan.
fn plan_edges(plan: &Plan) -> BTreeSet<(String, String)> {
    plan.upgrades()
        .iter()
        .flat_map(|u| u.depends_on().iter().map(|d| (d.to_string(), u.id().to_owned())))
        .collect()
}

#[test]
fn dot_of_the_whole_graph_has_every_upgrade_in_its_module_and_every_dependency() {
    let case = Case::new(Backend::Sqlite).unwrap();
    let text = case.ok(&["show", "graph"]);
    // `--format dot` is the default.
    assert_eq!(case.ok(&["show", "graph", "--format", "dot"]), text);
    let dot = parse_dot(&text);
    let plan = plan();
    let mut expected: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for upgrade in plan.upgrades() {
        expected
            .entry(format!("cluster_{}", upgrade.module()))
            .or_insert_with(|| (upgrade.module().to_owned(), Vec::new()))
            .1
            .push(upgrade.id().to_owned());
    }
    assert_eq!(dot.clusters, expected);
    assert!(dot.outside.is_empty(), "{:?}", dot.outside);
    let edges: BTreeSet<_> = dot.edges.iter().cloned().collect();
    assert_eq!(edges.len(), dot.edges.len(), "an edge drawn twice");
    assert_eq!(edges, plan_edges(&plan));
    for upgrade in plan.upgrades() {
        let attrs = &dot.attrs[upgrade.id()];
        assert_eq!(attrs["label"], format!("{}\npending", upgrade.id()));
        assert_eq!(
            attrs.get("shape").map(String::as_str),
            upgrade.is_release().then_some("hexagon"),
            "{}",
            upgrade.id()
        );
    }
    // Looking created nothing: no SQLite file.
    assert_eq!(case.db.snapshot(), "<no database file>");
    insta::assert_snapshot!(text);
}

#[test]
fn dot_of_one_module_shows_the_edges_that_enter_and_leave_it() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(case) = Case::new(backend) else { continue };
        case.some_applied();
        let dot = parse_dot(&case.ok(&["show", "graph", "-p", "accounts"]));
        let accounts: Vec<String> = plan()
            .upgrades()
            .iter()
            .filter(|u| u.module() == "accounts")
            .map(|u| u.id().to_owned())
            .collect();
        assert_eq!(
            dot.clusters,
            BTreeMap::from([(
                "cluster_accounts".to_owned(),
                ("accounts".to_owned(), accounts.clone())
            )]),
            "{backend}"
        );
        // The other ends of the edges that cross the border, outside the cluster.
        assert_eq!(dot.outside, ["records_2024_01_15_initial", RELEASE], "{backend}");
        let expected: BTreeSet<_> = plan_edges(&plan())
            .into_iter()
            .filter(|(from, to)| accounts.contains(from) || accounts.contains(to))
            .collect();
        assert_eq!(
            dot.edges.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{backend}"
        );
        for (id, attrs) in &dot.attrs {
            let state = if id == LEAF { "pending" } else { "applied" };
            assert_eq!(attrs["label"], format!("{id}\n{state}"), "{backend}");
        }
    }
}

#[test]
fn several_modules_are_one_view() {
    let case = Case::new(Backend::Sqlite).unwrap();
    let dot = parse_dot(&case.ok(&["show", "graph", "-p", "search", "--package", "records"]));
    // In the plan's order, whatever the order given.
    assert_eq!(
        dot.clusters.keys().collect::<Vec<_>>(),
        ["cluster_records", "cluster_search"]
    );
    assert_eq!(
        dot.outside,
        ["accounts_2024_01_10_initial", RELEASE],
        "{:?}",
        dot.clusters
    );
}

// ---- every state, on every backend ----------------------------------------------------------

/// applied, edited (another checksum recorded), implied (its row deleted under a recorded
/// dependent), interrupted (a start mark), pending, and a history row no upgrade has.
#[test]
fn json_marks_every_state_on_every_backend() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(case) = Case::new(backend) else { continue };
        case.some_applied();
        case.execute(
            "UPDATE upgrade SET checksum = 'elsewhere' WHERE upgrade = 'accounts_2024_01_10_initial'",
        );
        case.execute("DELETE FROM upgrade WHERE upgrade = 'records_2024_01_15_initial'");
        case.execute(
            "INSERT INTO upgrade_in_progress (upgrade, started, runner) VALUES ('search_2024_05_10_rebuild_index', CURRENT_TIMESTAMP, 'pid 1 on elsewhere')",
        );
        case.execute("DELETE FROM upgrade WHERE upgrade = 'search_2024_05_10_rebuild_index'");
        case.execute(
            "INSERT INTO upgrade (upgrade, applied, method) VALUES ('old_2019_01_01_removed', '2019-01-01 00:00:00', 'run')",
        );
        let before = case.db.snapshot();
        let out = case.cmd(&["show", "graph", "--format", "json"]).output().unwrap();
        assert!(out.status.success(), "{backend}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "warning: `old_2019_01_01_removed` is in the history but no linked upgrade has that id"
            ),
            "{backend}: {}",
            stderr(&out)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let states: Vec<(&str, &str)> = value["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["id"].as_str().unwrap(), n["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [
                ("accounts_2024_01_10_initial", "edited"),
                ("accounts_2024_02_01_add_display_name", "applied"),
                ("records_2024_01_15_initial", "implied"),
                ("records_2024_03_05_add_version_id", "applied"),
                ("search_2024_04_01_initial", "applied"),
                ("search_2024_05_10_rebuild_index", "interrupted"),
                (RELEASE, "applied"),
                (LEAF, "pending"),
                ("old_2019_01_01_removed", "not_linked"),
            ],
            "{backend}"
        );
        let ghost = &value["nodes"][8];
        assert_eq!(ghost["module"], "old", "{backend}");
        assert_eq!(ghost["release"], false, "{backend}");
        assert_eq!(
            value["modules"],
            serde_json::json!(["accounts", "records", "search", "examples", "old"]),
            "{backend}"
        );
        let edges: BTreeSet<(String, String)> = value["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap().to_owned(),
                    e["to"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(edges, plan_edges(&plan()), "{backend}");
        for node in value["nodes"].as_array().unwrap() {
            assert_eq!(node["release"], node["id"] == RELEASE, "{backend}: {node}");
        }
        // Each format marks the same states.
        let dot = parse_dot(&case.ok(&["show", "graph"]));
        for (id, state) in &states {
            let state = state.replace('_', " ");
            assert_eq!(dot.attrs[*id]["label"], format!("{id}\n{state}"), "{backend}");
        }
        assert!(
            dot.attrs["old_2019_01_01_removed"]["style"].contains("dashed"),
            "{backend}"
        );
        assert_eq!(
            case.db.snapshot(),
            before,
            "{backend}: looking changed the database"
        );
    }
}

#[test]
fn an_unreadable_history_is_an_error_not_a_graph_of_pending_upgrades() {
    let case = Case::new(Backend::Sqlite).unwrap();
    std::fs::write(&case.db.url, vec![0x5a_u8; 4096]).unwrap();
    for args in [
        &["show", "graph"][..],
        &["show", "graph", "--format", "json"],
        &["explain", LEAF],
    ] {
        let out = case.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr(&out).starts_with("error: "), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("\nhint: "), "{args:?}: {}", stderr(&out));
    }
}

// ---- hostile ids: escaped for each syntax ----------------------------------------------------

#[test]
fn a_history_row_with_quotes_backslashes_and_brackets_still_gives_valid_graphs() {
    let case = Case::new(Backend::Sqlite).unwrap();
    case.ok(&["run", "--yes-i-know"]);
    let hostile = r#"x"] -> evil [label="\N" \\ {{end}} #35; <b>&amp;</b> subgraph"#;
    case.execute(&format!(
        "INSERT INTO upgrade (upgrade, applied, method) VALUES ('{}', '2019-01-01 00:00:00', 'run')",
        hostile.replace('\'', "''")
    ));
    let dot = parse_dot(&case.ok(&["show", "graph"]));
    let ghost = dot
        .attrs
        .values()
        .find(|attrs| attrs["label"].ends_with("\nnot linked"))
        .expect("the row is drawn");
    assert_eq!(ghost["label"], format!("{hostile}\nnot linked"));
    assert_eq!(
        dot.outside.len(),
        1,
        "an id that is not an upgrade id has no module"
    );
    assert_eq!(dot.edges.len(), plan_edges(&plan()).len());

    let mermaid = case.ok(&["show", "graph", "--format", "mermaid"]);
    check_mermaid(&mermaid);
    assert!(
        mermaid.contains("x#34;#93; -#62; evil #91;label#61;#34;#92;N#34; #92;#92; #123;#123;end#125;#125; #35;35#59; #60;b#62;#38;amp#59;#60;/b#62; subgraph<br>not linked"),
        "{mermaid}"
    );

    let value = case.json(&["show", "graph", "--format", "json"]);
    let node = &value["nodes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(node["id"], hostile);
    assert_eq!(node["module"], serde_json::Value::Null);
    assert_eq!(node["state"], "not_linked");
}

// ---- Mermaid -------------------------------------------------------------------------------

/// The Mermaid rules the output relies on: a `flowchart TD` header; `subgraph <id>["<title>"]`
/// closed by `end`, never nested; nodes `n<i>["<label>"]` (hexagons `n<i>{{"<label>"}}`) whose
/// labels hold no `"`, bracket or brace (everything else is an entity code `#<n>;`); edges
/// `n<i> --> n<j>` between declared nodes; `classDef` and `class` lines naming declared nodes; no
/// node or subgraph named `end`, and no id starting with `o` or `x` after an arrow.
fn check_mermaid(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart TD"));
    let mut declared = BTreeSet::new();
    let mut subgraphs = BTreeSet::new();
    let mut open = false;
    let label_ok = |label: &str| {
        !label.contains(['"', '[', ']', '{', '}', '(', ')', '|', '`'])
            && label.split('#').skip(1).all(|entity| {
                entity
                    .split_once(';')
                    .is_some_and(|(code, _)| !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()))
            })
    };
    let mut edges = Vec::new();
    let mut classes = Vec::new();
    for line in lines {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("subgraph ") {
            assert!(!open, "nested subgraph: {line}");
            let (id, title) = rest.split_once("[\"").expect(line);
            let title = title.strip_suffix("\"]").expect(line);
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric()) && id != "end",
                "{line}"
            );
            assert!(label_ok(title), "{line}");
            assert!(subgraphs.insert(id.to_owned()), "{line}");
            open = true;
        } else if trimmed == "end" {
            assert!(open, "`end` without a subgraph");
            open = false;
        } else if let Some(rest) = trimmed.strip_prefix("classDef ") {
            let (name, style) = rest.split_once(' ').expect(line);
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{line}");
            assert!(style.starts_with("fill:#"), "{line}");
        } else if let Some(rest) = trimmed.strip_prefix("class ") {
            let (members, _) = rest.split_once(' ').expect(line);
            classes.extend(members.split(',').map(str::to_owned));
        } else if let Some((from, to)) = trimmed.split_once(" --> ") {
            edges.push((from.to_owned(), to.to_owned()));
        } else {
            let open_at = trimmed.find(['[', '{']).expect(line);
            let (id, shape) = trimmed.split_at(open_at);
            assert!(
                id.starts_with('n') && id[1..].chars().all(|c| c.is_ascii_digit()),
                "{line}"
            );
            let label = shape
                .strip_prefix("[\"")
                .and_then(|l| l.strip_suffix("\"]"))
                .or_else(|| shape.strip_prefix("{{\"").and_then(|l| l.strip_suffix("\"}}")))
                .expect(line);
            assert!(label_ok(label), "{line}");
            assert!(declared.insert(id.to_owned()), "declared twice: {line}");
        }
    }
    assert!(!open, "a subgraph is not closed");
    for (from, to) in &edges {
        assert!(
            declared.contains(from) && declared.contains(to),
            "{from} --> {to}"
        );
    }
    for member in &classes {
        assert!(declared.contains(member), "class of an undeclared node {member}");
    }
}

#[test]
fn mermaid_of_the_whole_graph_respects_its_syntax() {
    let case = Case::new(Backend::Sqlite).unwrap();
    case.some_applied();
    let text = case.ok(&["show", "graph", "--format", "mermaid"]);
    check_mermaid(&text);
    // One node per upgrade, one edge per dependency.
    assert_eq!(text.matches("<br>").count(), plan().upgrades().len());
    assert_eq!(text.matches(" --> ").count(), plan_edges(&plan()).len());
    insta::assert_snapshot!(text);
    let one = case.ok(&["show", "graph", "--format", "mermaid", "-p", "search"]);
    check_mermaid(&one);
    assert_eq!(one.matches("subgraph ").count(), 1);
}

// ---- refusals ------------------------------------------------------------------------------

#[test]
fn an_unknown_module_or_format_is_refused_and_changes_nothing() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(case) = Case::new(backend) else { continue };
        case.some_applied();
        let before = case.db.snapshot();
        let out = case.cmd(&["show", "graph", "-p", "acounts"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            stderr(&out),
            "error: no linked upgrade belongs to the module `acounts`\nhint: the modules linked into this binary are: accounts, examples, records, search\n"
        );
        let out = case.cmd(&["show", "graph", "--format", "svg"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(
            stderr(&out).contains("invalid value 'svg' for '--format <FORMAT>'")
                && stderr(&out).contains("[possible values: dot, mermaid, json]"),
            "{}",
            stderr(&out)
        );
        let out = case
            .cmd(&["explain", "accounts_2024_06_01_add_last_logn"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            stderr(&out),
            "error: no linked upgrade has the id `accounts_2024_06_01_add_last_logn`\nhint: did you mean `accounts_2024_06_01_add_last_login`? `upgrader show graph --format json` lists every upgrade\n"
        );
        assert_eq!(
            case.db.snapshot(),
            before,
            "{backend}: a refusal changed the database"
        );
    }
    // Nothing is opened for an id or a module that does not exist: no database file appears.
    let case = Case::new(Backend::Sqlite).unwrap();
    for args in [&["explain", "nope"][..], &["show", "graph", "-p", "nope"]] {
        case.cmd(args).assert().code(1);
    }
    assert_eq!(case.db.snapshot(), "<no database file>");
}

#[test]
fn an_inactive_module_is_refused_with_the_active_ones() {
    let case = Case::new(Backend::Sqlite).unwrap();
    std::fs::write(case.dir.path().join("upgrader.toml"), "packages = [\"search\"]\n").unwrap();
    let out = case.cmd(&["show", "graph", "-p", "accounts"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: the module `accounts` is not active: `packages` in the configuration leaves it out\nhint: the active modules are: search; add `accounts` to `packages` to see it\n"
    );
}

// ---- explain -------------------------------------------------------------------------------

#[test]
fn explain_a_pending_upgrade_lists_its_pending_dependencies() {
    let case = Case::new(Backend::Sqlite).unwrap();
    let text = case.ok(&["explain", LEAF]);
    insta::with_settings!({filters => vec![(r"\(crate example-modules [^)]*\)", "(crate example-modules [VERSION])")]}, {
        insta::assert_snapshot!(text);
    });
    let value = case.json(&["explain", LEAF, "--json"]);
    assert_eq!(value["state"], "pending");
    assert_eq!(value["module"], "accounts");
    assert_eq!(value["applied"], serde_json::Value::Null);
    let pending: Vec<&str> = value["pending_dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let plan = plan();
    let mut expected: Vec<&str> = plan.ancestors(LEAF).into_iter().collect();
    expected.sort_by_key(|id| plan.upgrades().iter().position(|u| u.id() == *id));
    assert_eq!(pending, expected);
    assert_eq!(
        value["depends_on"],
        serde_json::json!([{"id": RELEASE, "state": "pending"}])
    );
    assert_eq!(value["dependents"], serde_json::json!([]));
    assert_eq!(value["all_dependents"], 0);
    assert!(
        value["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{LEAF}.rs"))
    );
    assert_eq!(value["source"]["crate"], "example-modules");
    // An upgrade with an estimate gives it while pending.
    let id = "records_2024_03_05_add_version_id";
    let value = case.json(&["explain", id, "--json"]);
    assert_eq!(value["has_estimate"], true);
    assert_eq!(value["estimate_secs"], 1.0, "{value}");
    assert!(case.ok(&["explain", id]).contains("\nestimate:     1s\n"));
    assert_eq!(case.db.snapshot(), "<no database file>");
}

#[test]
fn explain_an_applied_upgrade_says_when_and_how_long_on_every_backend() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
        let Some(case) = Case::new(backend) else { continue };
        case.some_applied();
        let id = "accounts_2024_02_01_add_display_name";
        let value = case.json(&["explain", id, "--json"]);
        assert_eq!(value["state"], "applied", "{backend}");
        assert_eq!(value["applied"]["method"], "run", "{backend}");
        assert!(value["applied"]["at"].is_string(), "{backend}: {value}");
        assert!(value["applied"]["duration_ms"].is_i64(), "{backend}: {value}");
        assert_eq!(value["applied"]["checksum"], value["checksum"], "{backend}");
        assert_eq!(value["estimate_secs"], serde_json::Value::Null, "{backend}");
        assert_eq!(value["pending_dependencies"], serde_json::json!([]), "{backend}");
        assert_eq!(
            value["dependents"],
            serde_json::json!([{"id": RELEASE, "state": "applied"}]),
            "{backend}"
        );
        assert_eq!(value["all_dependents"], 2, "{backend}");
        // The whole doc comment, not only its first line.
        assert!(
            value["info"].as_str().unwrap().contains("\n\nAsks which name"),
            "{backend}"
        );
        let text = case.ok(&["explain", id]);
        let state = text.lines().find(|l| l.starts_with("state:")).unwrap();
        assert!(
            state.contains(" UTC, took ") && state.ends_with("recorded by run"),
            "{backend}: {state}"
        );
        assert!(text.contains("\n\nAdd `users.display_name`"), "{backend}: {text}");
        // And the pending one on the same database.
        let value = case.json(&["explain", LEAF, "--json"]);
        assert_eq!(value["state"], "pending", "{backend}");
        assert_eq!(value["pending_dependencies"], serde_json::json!([]), "{backend}");
    }
}

#[test]
fn explain_a_release() {
    let case = Case::new(Backend::Sqlite).unwrap();
    case.some_applied();
    let text = case.ok(&["explain", RELEASE]);
    assert!(
        text.starts_with(&format!(
            "upgrade:      {RELEASE} (a release)\nmodule:       examples\n"
        )),
        "{text}"
    );
    let value = case.json(&["explain", RELEASE, "--json"]);
    assert_eq!(value["release"], true);
    assert_eq!(value["depends_on"].as_array().unwrap().len(), 3);
    assert_eq!(
        value["dependents"],
        serde_json::json!([{"id": LEAF, "state": "pending"}])
    );
    assert_eq!(value["all_dependents"], 1);
}

#[test]
fn explain_an_edited_upgrade_gives_both_checksums() {
    let case = Case::new(Backend::Sqlite).unwrap();
    case.some_applied();
    case.execute("UPDATE upgrade SET checksum = 'elsewhere' WHERE upgrade = 'accounts_2024_01_10_initial'");
    let value = case.json(&["explain", "accounts_2024_01_10_initial", "--json"]);
    assert_eq!(value["state"], "edited");
    assert_eq!(value["edited"]["recorded"], "elsewhere");
    assert_eq!(value["edited"]["current"], value["checksum"]);
    let text = case.ok(&["explain", "accounts_2024_01_10_initial"]);
    assert!(
        text.contains("its code changed since (checksum then elsewhere, now "),
        "{text}"
    );
}
