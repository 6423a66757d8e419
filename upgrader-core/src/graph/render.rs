//! [`GraphView`] as text: Graphviz's DOT and Mermaid's flowchart syntax. Pure functions of the
//! view; every id and label is escaped for the syntax it goes into, so a history row with quotes,
//! backslashes or brackets in its id still gives a graph that renders.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::state::UpgradeState;
use super::view::{GraphNode, GraphView};

/// Fill colours by state (the label also says the state, for readers without colour).
fn colour(state: UpgradeState) -> &'static str {
    match state {
        UpgradeState::Applied => "#c8e6c9",
        UpgradeState::Edited => "#ffe0b2",
        UpgradeState::Implied => "#e6ee9c",
        UpgradeState::Pending => "#ffffff",
        UpgradeState::Interrupted => "#ffcdd2",
        UpgradeState::Running => "#bbdefb",
        UpgradeState::NotLinked => "#eeeeee",
    }
}

/// Every state, in the order the Mermaid class definitions are written.
const STATES: [UpgradeState; 7] = [
    UpgradeState::Applied,
    UpgradeState::Edited,
    UpgradeState::Implied,
    UpgradeState::Pending,
    UpgradeState::Interrupted,
    UpgradeState::Running,
    UpgradeState::NotLinked,
];

impl GraphView {
    /// The view in Graphviz's DOT language (`dot -Tsvg` draws it): a `digraph` with one
    /// `subgraph cluster_<module>` per module, each upgrade a node named by its id and labelled
    /// with its id and state, releases as hexagons, history rows no linked upgrade has dashed, and
    /// an edge from each dependency to what depends on it.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph upgrades {\n");
        out.push_str("    graph [fontname=\"Helvetica\"];\n");
        out.push_str("    node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
        out.push_str("    edge [color=\"#555555\"];\n");
        for module in &self.modules {
            let _ = writeln!(out, "    subgraph {} {{", dot_id(&format!("cluster_{module}")));
            let _ = writeln!(out, "        label={};", dot_string(module));
            for node in self
                .nodes
                .iter()
                .filter(|n| n.module.as_deref() == Some(module.as_str()))
            {
                dot_node(&mut out, "        ", node);
            }
            out.push_str("    }\n");
        }
        for node in self.nodes.iter().filter(|n| !self.in_group(n)) {
            dot_node(&mut out, "    ", node);
        }
        for edge in &self.edges {
            let _ = writeln!(out, "    {} -> {};", dot_id(&edge.from), dot_id(&edge.to));
        }
        out.push_str("}\n");
        out
    }

    /// The view as a Mermaid flowchart (top down): one `subgraph` per module, each upgrade a node
    /// `n<index>` labelled with its id and state, releases as hexagons (`{{…}}`), a class per
    /// state (`classDef`) with history rows no linked upgrade has dashed, and an edge from each
    /// dependency to what depends on it.
    pub fn to_mermaid(&self) -> String {
        let keys: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let mut out = String::from("flowchart TD\n");
        for (m, module) in self.modules.iter().enumerate() {
            let _ = writeln!(out, "    subgraph module{m}[\"{}\"]", mermaid_text(module));
            for (i, node) in self.nodes.iter().enumerate() {
                if node.module.as_deref() == Some(module.as_str()) {
                    mermaid_node(&mut out, "        ", i, node);
                }
            }
            out.push_str("    end\n");
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.in_group(node) {
                mermaid_node(&mut out, "    ", i, node);
            }
        }
        for edge in &self.edges {
            // Both ends are nodes of the view ([`GraphView::only`] keeps them).
            if let (Some(from), Some(to)) = (keys.get(edge.from.as_str()), keys.get(edge.to.as_str())) {
                let _ = writeln!(out, "    n{from} --> n{to}");
            }
        }
        for state in STATES {
            let members: Vec<String> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].state == state)
                .map(|i| format!("n{i}"))
                .collect();
            if members.is_empty() {
                continue;
            }
            let dashed = if state == UpgradeState::NotLinked {
                ",stroke-dasharray:5 5"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    classDef {} fill:{},stroke:#333333{dashed}",
                state.as_str(),
                colour(state)
            );
            let _ = writeln!(out, "    class {} {}", members.join(","), state.as_str());
        }
        out
    }

    fn in_group(&self, node: &GraphNode) -> bool {
        node.module
            .as_deref()
            .is_some_and(|m| self.modules.iter().any(|g| g == m))
    }
}

fn dot_node(out: &mut String, indent: &str, node: &GraphNode) {
    let label = format!("{}\n{}", node.id, node.state);
    let mut attrs = vec![
        format!("label={}", dot_string(&label)),
        format!("fillcolor={}", dot_string(colour(node.state))),
    ];
    if node.release {
        attrs.push("shape=hexagon".to_owned());
    }
    if node.state == UpgradeState::NotLinked {
        attrs.push("style=\"rounded,filled,dashed\"".to_owned());
    }
    if !node.summary.is_empty() {
        attrs.push(format!("tooltip={}", dot_string(&node.summary)));
    }
    let _ = writeln!(out, "{indent}{} [{}];", dot_id(&node.id), attrs.join(", "));
}

fn mermaid_node(out: &mut String, indent: &str, index: usize, node: &GraphNode) {
    let label = format!(
        "{}<br>{}",
        mermaid_text(&node.id),
        mermaid_text(&node.state.to_string())
    );
    let (open, close) = if node.release { ("{{", "}}") } else { ("[", "]") };
    let _ = writeln!(out, "{indent}n{index}{open}\"{label}\"{close}");
}

/// A DOT identifier: as it is when it is a plain one (letters, digits and `_`, not starting with
/// a digit, not a keyword), else a quoted string.
pub(crate) fn dot_id(text: &str) -> String {
    const KEYWORDS: [&str; 6] = ["node", "edge", "graph", "digraph", "subgraph", "strict"];
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text));
    if plain { text.to_owned() } else { dot_string(text) }
}

/// A DOT quoted string whose text, read as a label, is `text`: `"` and `\` escaped (so a `\`
/// never starts one of Graphviz's label escapes), line breaks as `\n`.
pub(crate) fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for inside a Mermaid quoted label: letters, digits, spaces and `_ . , : - /` as they
/// are; every other character (quotes, brackets, `#`, `<`, `&`, line breaks) as Mermaid's
/// entity code `#<decimal>;`, which Mermaid shows as the character itself.
pub(crate) fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | ',' | ':' | '-' | '/') {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_ids_are_plain_when_they_can_be() {
        assert_eq!(
            dot_id("accounts_2024_01_10_initial"),
            "accounts_2024_01_10_initial"
        );
        assert_eq!(dot_id("cluster_accounts"), "cluster_accounts");
        assert_eq!(dot_id("1abc"), "\"1abc\"");
        assert_eq!(dot_id("Node"), "\"Node\"");
        assert_eq!(dot_id("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(dot_id(""), "\"\"");
    }

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_newlines() {
        assert_eq!(dot_string("say \"hi\"\\n\nnext"), r#""say \"hi\"\\n\nnext""#);
    }

    #[test]
    fn mermaid_text_keeps_only_safe_characters() {
        assert_eq!(
            mermaid_text("accounts_2024_01_10_initial"),
            "accounts_2024_01_10_initial"
        );
        assert_eq!(mermaid_text("a\"b[c]#<d>"), "a#34;b#91;c#93;#35;#60;d#62;");
        assert_eq!(mermaid_text("not linked"), "not linked");
    }
}
