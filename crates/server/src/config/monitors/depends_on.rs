//! `depends_on`: the monitors whose failure explains this one's. Each entry is read with its
//! monitor and checked once every monitor is known: it must name another declared monitor,
//! and no chain of them may come back to where it started.

use std::collections::{HashMap, HashSet};

use pharos_domain::MonitorId;

use crate::config::walk::{Cx, Field};

/// One entry of a monitor's `depends_on`, where it was written.
pub(super) struct DependsRef {
    /// The monitor whose `depends_on` this is.
    monitor: String,
    /// The monitor it names.
    on: String,
    /// Byte offset of the entry.
    at: usize,
}

/// Reads the `depends_on` of the monitor `owner` (if its id is valid), remembering each
/// entry in `deps` for [`check`].
pub(super) fn read(
    cx: &mut Cx<'_>,
    f: &Field<'_>,
    owner: Option<&MonitorId>,
    deps: &mut Vec<DependsRef>,
) -> Option<Vec<MonitorId>> {
    let refs = cx.string_array(f)?;
    let mut out: Vec<MonitorId> = Vec::with_capacity(refs.len());
    for r in refs {
        match MonitorId::new(r.text.as_str()) {
            Ok(dep) if out.contains(&dep) => {
                cx.error(r.at, format!("monitor `{dep}` is listed twice"));
            }
            Ok(dep) => {
                if let Some(owner) = owner {
                    deps.push(DependsRef {
                        monitor: owner.to_string(),
                        on: dep.to_string(),
                        at: r.at,
                    });
                }
                out.push(dep);
            }
            Err(e) => cx.error(r.at, format!("`depends_on`: monitor {e}")),
        }
    }
    Some(out)
}

/// Every `depends_on` entry names another declared monitor, and no chain of them comes back
/// to where it started (a cycle would leave a monitor waiting on itself).
pub(super) fn check(cx: &mut Cx<'_>, deps: &[DependsRef], declared: &HashMap<String, usize>) {
    let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
    for d in deps {
        if d.on == d.monitor {
            cx.error(
                d.at,
                format!("monitor `{}` cannot depend on itself", d.monitor),
            );
        } else if !declared.contains_key(&d.on) {
            let hint = crate::config::walk::suggest(&d.on, declared.keys().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            cx.error(
                d.at,
                format!("`depends_on`: unknown monitor `{}`{hint}", d.on),
            );
        } else {
            graph.entry(&d.monitor).or_default().push(&d.on);
        }
    }
    // Depth-first from each monitor, in file order, reporting each cycle once.
    let mut reported: HashSet<&str> = HashSet::new();
    for d in deps {
        let mut path: Vec<&str> = vec![d.monitor.as_str()];
        if let Some(cycle) = find_cycle(&graph, &mut path, &mut HashSet::new()) {
            if cycle.iter().any(|m| reported.contains(m)) {
                continue;
            }
            reported.extend(cycle.iter().copied());
            cx.error(
                d.at,
                format!(
                    "`depends_on` makes a cycle: {}",
                    cycle
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            );
        }
    }
}

/// A cycle through the last monitor of `path`, as the monitors along it (first repeated at
/// the end), if there is one.
fn find_cycle<'a>(
    graph: &HashMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut HashSet<&'a str>,
) -> Option<Vec<&'a str>> {
    let here = *path.last()?;
    for &next in graph.get(here).map(Vec::as_slice).unwrap_or_default() {
        if let Some(i) = path.iter().position(|m| *m == next) {
            let mut cycle = path[i..].to_vec();
            cycle.push(next);
            return Some(cycle);
        }
        if done.contains(next) {
            continue;
        }
        path.push(next);
        if let Some(c) = find_cycle(graph, path, done) {
            return Some(c);
        }
        path.pop();
    }
    done.insert(here);
    None
}
