//! `[alerts]`: how alerts ingested from Alertmanager, Grafana and PagerDuty find their
//! components. Explicit `[[alerts.routes]]` are tried in file order (every `match` label must
//! be equal); without a match, the first of `component_labels` whose value names a component
//! routes the alert there.

use std::collections::{BTreeMap, HashSet};

use pharos_domain::alert::{AlertRoute, AlertRouting};

use super::monitors::{component_refs, ON_FAILURE};
use super::walk::{Cx, Section};

/// Reads `[alerts]`. Components named by a route count as watched (no "not driven" warning).
pub(super) fn alerts(
    cx: &mut Cx<'_>,
    s: Section<'_>,
    components: &[String],
    driven: &mut HashSet<String>,
) -> AlertRouting {
    s.check_keys(cx, &["component_labels", "routes"]);
    let mut routing = AlertRouting::default();
    if let Some(f) = s.field("component_labels") {
        if let Some(labels) = cx.string_array(&f) {
            let mut out = Vec::new();
            for l in labels {
                if l.text.trim().is_empty() {
                    cx.error(l.at, "a label name must not be empty");
                } else {
                    out.push(l.text);
                }
            }
            routing.component_labels = out;
        }
    }
    if let Some(f) = s.field("routes") {
        for r in cx.section_list(&f, "[[alerts.routes]]") {
            if let Some(route) = route(cx, &r, components, driven) {
                routing.routes.push(route);
            }
        }
    }
    routing
}

fn route(
    cx: &mut Cx<'_>,
    s: &Section<'_>,
    components: &[String],
    driven: &mut HashSet<String>,
) -> Option<AlertRoute> {
    s.check_keys(cx, &["match", "components", "status"]);
    let matchers = match s.field("match") {
        Some(f) => {
            let pairs = cx.string_map(&f)?;
            if pairs.is_empty() {
                cx.error(
                    f.at,
                    "`match` must name at least one label, like { alertname = \"HighErrorRate\" }",
                );
                return None;
            }
            pairs
                .into_iter()
                .map(|(k, _, v)| (k, v.text))
                .collect::<BTreeMap<_, _>>()
        }
        None => {
            s.missing(cx, "match");
            return None;
        }
    };
    let Some(f) = s.field("components") else {
        s.missing(cx, "components");
        return None;
    };
    let list = component_refs(cx, &f, components, Some(driven))?;
    if list.is_empty() {
        cx.error(f.at, "`components` must name at least one component");
        return None;
    }
    let status = match s.field("status") {
        None => None,
        Some(f) => {
            let v = cx.string(&f)?;
            match ON_FAILURE.iter().copied().find(|st| st.as_str() == v.text) {
                Some(st) => Some(st),
                None => {
                    let names: Vec<&str> = ON_FAILURE.iter().map(|st| st.as_str()).collect();
                    cx.error(
                        v.at,
                        format!(
                            "`status` must be one of {}, found {:?}",
                            names.join(", "),
                            v.text
                        ),
                    );
                    return None;
                }
            }
        }
    };
    Some(AlertRoute {
        matchers,
        components: list,
        status,
    })
}
