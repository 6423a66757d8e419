//! `create recipe -d <id>`: dependencies chosen by the author instead of computed, checked
//! against the linked graph before anything is written.

use upgrader_core::{ParsedId, Plan, Upgrade, parse_id};

use crate::refused::Refused;

/// The upgrades `ids` name, for the new upgrade `new_id` of `module`; or why one cannot be a
/// dependency: not an upgrade id, not linked (`unknown` says so, with the closest id), named
/// twice, or an upgrade of the same module dated after the new one (a module's upgrades depend
/// on earlier ones).
pub(super) fn chosen<'p>(
    plan: &'p Plan,
    module: &str,
    new_id: &str,
    ids: &[String],
    unknown: &dyn Fn(&str) -> Refused,
) -> Result<Vec<&'p Upgrade>, Refused> {
    let new_date = match parse_id(new_id) {
        Ok(ParsedId::Recipe { date, .. }) => Some(date),
        _ => None,
    };
    let mut chosen: Vec<&Upgrade> = Vec::new();
    for id in ids {
        let parsed = parse_id(id).map_err(|reason| {
            Refused::new(
                format!("--depends-on `{id}` is not an upgrade id: {reason}"),
                "an id is `<module>_<yyyy>_<mm>_<dd>_<name>` or `<repository>_release_<x>_<y>_<z>`",
            )
        })?;
        let Some(upgrade) = plan.get(id) else {
            return Err(unknown(id));
        };
        if chosen.iter().any(|c| c.id() == id) {
            return Err(Refused::new(
                format!("--depends-on `{id}` is given twice"),
                "name each dependency once",
            ));
        }
        if let (ParsedId::Recipe { module: m, date, .. }, Some(new_date)) = (parsed, new_date)
            && m == module
            && date > new_date
        {
            return Err(Refused::new(
                format!(
                    "--depends-on `{id}` is an upgrade of `{module}` dated after the new one (`{new_id}`)"
                ),
                "an upgrade depends on earlier upgrades of its module: depend on an earlier one, or let the later one depend on the new upgrade",
            ));
        }
        chosen.push(upgrade);
    }
    Ok(chosen)
}

/// The module's endpoints that `chosen` does not reach (directly or not): with them left out the
/// module gains a second head, which the author should mean.
pub(super) fn heads_left_out(plan: &Plan, module: &str, chosen: &[&Upgrade]) -> Vec<&'static str> {
    let reached: std::collections::BTreeSet<&str> = chosen
        .iter()
        .flat_map(|c| {
            let mut ids = plan.ancestors(c.id());
            ids.insert(c.id());
            ids
        })
        .collect();
    plan.endpoints(module)
        .into_iter()
        .filter(|e| !reached.contains(e))
        .collect()
}
