//! Compatibility with real Statuspage payloads (see `fixtures/README.md`).
//!
//! Every JSON document is parsed into an order-preserving tree, so these tests prove not only
//! the same set of keys and the same JSON kinds (string / number / bool / null / array /
//! object), recursively, but also the same key order as real pages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken fixtures

use crate::common;

use std::fmt::Write as _;

use pharos_web::v2::{
    ComponentsResponse, IncidentsResponse, MaintenancesResponse, StatusResponse, SummaryResponse,
};
use pharos_web::{Resource, Snapshot};
use regex::Regex;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

// ---------------------------------------------------------------------------------------------
// An order-preserving JSON tree.

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Number(_) => "number",
            Node::String(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
        }
    }

    fn get(&self, key: &str) -> &Node {
        match self {
            Node::Object(kv) => kv
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key}")),
            _ => panic!("not an object"),
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Array(items) => items,
            _ => panic!("not an array"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Node::Object(kv) => kv.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object"),
        }
    }

    /// The first element of a list whose `key` is `value` (e.g. a group row).
    fn find(&self, key: &str, value: &Node) -> &Node {
        self.items()
            .iter()
            .find(
                |n| matches!(n, Node::Object(kv) if kv.iter().any(|(k, v)| k == key && v == value)),
            )
            .unwrap_or_else(|| panic!("no element with {key} = {value:?}"))
    }

    /// Removes `key` from every object, recursively.
    fn without(&self, key: &str) -> Node {
        match self {
            Node::Array(items) => Node::Array(items.iter().map(|n| n.without(key)).collect()),
            Node::Object(kv) => Node::Object(
                kv.iter()
                    .filter(|(k, _)| k != key)
                    .map(|(k, v)| (k.clone(), v.without(key)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Every string value reached by `key`, recursively.
    fn strings_at<'a>(&'a self, key: &str, out: &mut Vec<&'a str>) {
        match self {
            Node::Array(items) => items.iter().for_each(|n| n.strings_at(key, out)),
            Node::Object(kv) => {
                for (k, v) in kv {
                    if k == key {
                        if let Node::String(s) = v {
                            out.push(s);
                        }
                    }
                    v.strings_at(key, out);
                }
            }
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
                Ok(Node::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
                Ok(Node::Number(n.to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
                Ok(Node::Number(n.to_string()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
                Ok(Node::Number(n.to_string()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Node, E> {
                Ok(Node::String(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element()? {
                    items.push(n);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut kv = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    kv.push((k, v));
                }
                Ok(Node::Object(kv))
            }
        }
        d.deserialize_any(V)
    }
}

fn tree(bytes: &[u8]) -> Node {
    serde_json::from_slice(bytes).unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ours(resource: Resource) -> Node {
    tree(&Snapshot::build(&common::view()).get(resource).body)
}

// ---------------------------------------------------------------------------------------------
// Shape comparison.

/// Fields Statuspage documents (and real payloads show) as sometimes `null`.
const NULLABLE: &[&str] = &[
    "description",
    "start_date",
    "group_id",
    "monitoring_at",
    "resolved_at",
    "affected_components",
    "custom_tweet",
    "tweet_id",
];

/// Checks that `ours` has the same keys in the same order and the same JSON kinds as `real`,
/// recursively. `null` may stand for any kind only in [`NULLABLE`] fields. `extra` lists keys we
/// may add that an older `real` lacks. In arrays of objects, each of our elements must match at
/// least one real element (lists mix group and leaf rows).
fn shape_diff(ours: &Node, real: &Node, path: &str, extra: &[&str]) -> Result<(), String> {
    let field = path.rsplit(['.', '[']).next().unwrap_or_default();
    match (ours, real) {
        (Node::Null, r) | (r, Node::Null) if r.kind() != "null" => {
            if NULLABLE.contains(&field) {
                Ok(())
            } else {
                Err(format!("{path}: null vs {}", r.kind()))
            }
        }
        (Node::Object(o), Node::Object(r)) => {
            let ok: Vec<&str> = o
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !extra.contains(k) || r.iter().any(|(rk, _)| rk == k))
                .collect();
            let rk: Vec<&str> = r.iter().map(|(k, _)| k.as_str()).collect();
            if ok != rk {
                return Err(format!(
                    "{path}: keys differ\n  ours: {ok:?}\n  real: {rk:?}"
                ));
            }
            for (k, rv) in r {
                let ov = &o.iter().find(|(ok, _)| ok == k).map(|(_, v)| v).ok_or("")?;
                shape_diff(ov, rv, &format!("{path}.{k}"), extra)?;
            }
            Ok(())
        }
        (Node::Array(o), Node::Array(r)) => {
            if r.is_empty() {
                return Ok(());
            }
            for (i, item) in o.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let mut errors = String::new();
                if !r
                    .iter()
                    .any(|real| match shape_diff(item, real, &p, extra) {
                        Ok(()) => true,
                        Err(e) => {
                            let _ = writeln!(errors, "{e}");
                            false
                        }
                    })
                {
                    return Err(format!("{p}: matches no real element:\n{errors}"));
                }
            }
            Ok(())
        }
        (o, r) if o.kind() == r.kind() => Ok(()),
        (o, r) => Err(format!("{path}: {} vs {}", o.kind(), r.kind())),
    }
}

#[track_caller]
fn assert_same_shape(ours: &Node, real: &Node, extra: &[&str]) {
    if let Err(e) = shape_diff(ours, real, "$", extra) {
        panic!("shape mismatch: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Our documents against real ones.

#[test]
fn page_object_matches_real_pages() {
    let page = ours(Resource::Status).get("page").clone();
    assert_same_shape(
        &page,
        tree(fixture("discord-status.json").as_bytes()).get("page"),
        &[],
    );
    assert_same_shape(
        &page,
        tree(fixture("github-summary.json").as_bytes()).get("page"),
        &[],
    );
    assert_same_shape(
        &page,
        tree(fixture("payfast-incidents.json").as_bytes()).get("page"),
        &[],
    );
}

#[test]
fn status_json_matches_real_status_json() {
    assert_same_shape(
        &ours(Resource::Status),
        &tree(fixture("discord-status.json").as_bytes()),
        &[],
    );
}

#[test]
fn leaf_and_group_components_match_real_rows() {
    let comps = ours(Resource::Components);
    let comps = comps.get("components");
    let our_leaf = comps.find("id", &Node::String("api-rest".into()));
    let our_top_leaf = comps.find("id", &Node::String("website".into()));
    let our_group = comps.find("group", &Node::Bool(true));

    let hashi = tree(fixture("hashicorp-components.json").as_bytes());
    let hashi = hashi.get("components");
    let real_child = hashi.find("id", &Node::String("mgv1p2j9x444".into()));
    let real_top = hashi.find("id", &Node::String("1mdm36t0fkx1".into()));
    let real_group = hashi.find("group", &Node::Bool(true));
    assert_same_shape(our_leaf, real_child, &[]);
    assert_same_shape(our_top_leaf, real_top, &[]);
    assert_same_shape(our_group, real_group, &[]);
    // Exactly the same key list, not only the same set.
    assert_eq!(our_group.keys(), real_group.keys());
    assert_eq!(our_leaf.keys(), real_child.keys());

    let github = tree(fixture("github-summary.json").as_bytes());
    for real in github.get("components").items() {
        assert_same_shape(our_top_leaf, real, &[]);
    }
    let payfast = tree(fixture("payfast-incidents.json").as_bytes());
    let payfast_row = &payfast.get("incidents").items()[0]
        .get("components")
        .items()[0];
    assert_same_shape(our_leaf, payfast_row, &[]);

    // Discord's 2019 rows predate `start_date`; otherwise identical.
    let discord = tree(fixture("discord-summary.json").as_bytes());
    let discord = discord.get("components");
    assert_same_shape(
        our_leaf,
        discord.find("id", &Node::String("0cwvg0jp5cbg".into())),
        &["start_date"],
    );
    assert_same_shape(
        our_top_leaf,
        discord.find("id", &Node::String("rhznvxg4v7yh".into())),
        &["start_date"],
    );
    assert_same_shape(
        our_group,
        discord.find("group", &Node::Bool(true)),
        &["start_date"],
    );
}

#[test]
fn whole_documents_match_real_documents() {
    assert_same_shape(
        &ours(Resource::Components),
        &tree(fixture("hashicorp-components.json").as_bytes()),
        &[],
    );
    // GitHub's page has no groups: compare with a page without groups.
    let mut flat = common::view_in(chrono_tz::Etc::UTC);
    flat.components.retain(|c| !c.is_group);
    for c in &mut flat.components {
        c.group_id = None;
    }
    assert_same_shape(
        &tree(&Snapshot::build(&flat).get(Resource::Summary).body),
        &tree(fixture("github-summary.json").as_bytes()),
        &[],
    );
    assert_same_shape(
        &ours(Resource::Summary),
        &tree(fixture("discord-summary.json").as_bytes()),
        &["start_date"],
    );
    assert_same_shape(
        &ours(Resource::IncidentsUnresolved),
        &tree(fixture("discord-unresolved.json").as_bytes()),
        &[],
    );
    assert_same_shape(
        &ours(Resource::Incidents),
        &tree(fixture("payfast-incidents.json").as_bytes()),
        &[],
    );
    for r in [
        Resource::Maintenances,
        Resource::MaintenancesUpcoming,
        Resource::MaintenancesActive,
    ] {
        assert_same_shape(
            &ours(r),
            &tree(fixture("discord-scheduled-maintenances.json").as_bytes()),
            &[],
        );
    }
}

#[test]
fn timestamps_have_milliseconds_and_the_page_offset() {
    let re =
        Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$").unwrap();
    // The real fixtures themselves follow the rule the regex encodes.
    for f in [
        "discord-summary.json",
        "discord-scheduled-maintenances.json",
        "payfast-incidents.json",
        "github-summary.json",
    ] {
        let t = tree(fixture(f).as_bytes());
        let mut stamps = Vec::new();
        for key in ["updated_at", "created_at", "display_at", "scheduled_for"] {
            t.strings_at(key, &mut stamps);
        }
        assert!(!stamps.is_empty());
        assert!(stamps.iter().all(|s| re.is_match(s)), "{f}");
    }

    let denver = ours(Resource::Summary);
    let mut stamps = Vec::new();
    denver.strings_at("updated_at", &mut stamps);
    denver.strings_at("created_at", &mut stamps);
    assert!(stamps.len() > 5);
    for s in &stamps {
        assert!(re.is_match(s), "{s}");
        assert!(s.ends_with("-06:00") || s.ends_with("-07:00"), "{s}");
    }

    // Etc/UTC pages write `Z`, as GitHub's does.
    let utc = Snapshot::build(&common::view_in(chrono_tz::Etc::UTC));
    let utc = tree(&utc.get(Resource::Summary).body);
    assert_eq!(
        utc.get("page").get("updated_at"),
        &Node::String("2026-03-31T17:45:12.345Z".into())
    );
    assert_eq!(
        utc.get("page").get("time_zone"),
        &Node::String("Etc/UTC".into())
    );
}

#[test]
fn status_descriptions_are_the_seven_fixed_strings() {
    use pharos_domain::ComponentStatus::*;
    const SEVEN: [&str; 7] = [
        "All Systems Operational",
        "Major System Outage",
        "Partial System Outage",
        "Minor Service Outage",
        "Degraded System Service",
        "Partially Degraded Service",
        "Service Under Maintenance",
    ];
    for status in [
        Operational,
        DegradedPerformance,
        PartialOutage,
        MajorOutage,
        UnderMaintenance,
    ] {
        let mut view = common::view();
        for c in &mut view.components {
            c.status = status;
        }
        let s = tree(&Snapshot::build(&view).get(Resource::Status).body);
        let Node::String(d) = s.get("status").get("description") else {
            panic!()
        };
        assert!(SEVEN.contains(&d.as_str()), "{d}");
    }
}

// ---------------------------------------------------------------------------------------------
// Real documents through our types and back: byte-level JSON identity (keys, order, values).

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str) -> (Node, Node) {
    let text = fixture(name);
    let parsed: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        tree(&serde_json::to_vec(&parsed).unwrap()),
        tree(text.as_bytes()),
    )
}

#[test]
fn real_incidents_round_trip_through_our_types_unchanged() {
    for f in ["payfast-incidents.json", "discord-unresolved.json"] {
        let (ours, real) = round_trip::<IncidentsResponse>(f);
        assert_eq!(ours, real, "{f}");
    }
}

#[test]
fn real_maintenances_round_trip_through_our_types_unchanged() {
    let (ours, real) = round_trip::<MaintenancesResponse>("discord-scheduled-maintenances.json");
    assert_eq!(ours, real);
}

#[test]
fn real_summaries_statuses_and_components_round_trip() {
    let (ours, real) = round_trip::<SummaryResponse>("github-summary.json");
    assert_eq!(ours, real);
    let (ours, real) = round_trip::<ComponentsResponse>("hashicorp-components.json");
    assert_eq!(ours, real);
    let (ours, real) = round_trip::<StatusResponse>("discord-status.json");
    assert_eq!(ours, real);
    // Discord 2019 lacks `start_date`: we add it as null, and change nothing else.
    let (ours, real) = round_trip::<SummaryResponse>("discord-summary.json");
    assert_ne!(ours, real);
    assert_eq!(ours.without("start_date"), real);
}

// ---------------------------------------------------------------------------------------------
// Real incidents and maintenances served by Pharos: filtering, ordering, the status hook.

fn real_incidents() -> Vec<pharos_web::v2::Incident> {
    let mut all = serde_json::from_str::<IncidentsResponse>(&fixture("payfast-incidents.json"))
        .unwrap()
        .incidents;
    all.extend(
        serde_json::from_str::<IncidentsResponse>(&fixture("discord-unresolved.json"))
            .unwrap()
            .incidents,
    );
    all
}

fn real_maintenances() -> Vec<pharos_web::v2::ScheduledMaintenance> {
    serde_json::from_str::<MaintenancesResponse>(&fixture("discord-scheduled-maintenances.json"))
        .unwrap()
        .scheduled_maintenances
}

fn ids(doc: &Node, key: &str) -> Vec<String> {
    doc.get(key)
        .items()
        .iter()
        .map(|n| match n.get("id") {
            Node::String(s) => s.clone(),
            _ => panic!(),
        })
        .collect()
}

#[test]
fn endpoints_filter_sort_and_serve_real_incidents_unchanged() {
    use pharos_web::v2::MaintenanceStatus;
    let mut maints = real_maintenances();
    maints[1].incident.status = MaintenanceStatus::Scheduled;
    maints[2].incident.status = MaintenanceStatus::InProgress;
    maints[3].incident.status = MaintenanceStatus::Verifying;
    // Reverse the input: the snapshot sorts newest first itself.
    maints.reverse();
    let snap = Snapshot::build_with(&common::view(), &real_incidents(), &maints);
    let doc = |r| tree(&snap.get(r).body);

    assert_eq!(
        ids(&doc(Resource::Incidents), "incidents"),
        ["l0wfwnhd33vx", "2gztsrksff0v"]
    );
    assert_eq!(
        ids(&doc(Resource::IncidentsUnresolved), "incidents"),
        ["2gztsrksff0v"]
    );
    assert_eq!(ids(&doc(Resource::Summary), "incidents"), ["2gztsrksff0v"]);
    let m = "scheduled_maintenances";
    assert_eq!(
        ids(&doc(Resource::Maintenances), m),
        [
            "ymm0202y77k6",
            "lvppt5gxj9js",
            "bclbdmdnhmdn",
            "chkt3cr0jf7b"
        ]
    );
    assert_eq!(
        ids(&doc(Resource::MaintenancesUpcoming), m),
        ["lvppt5gxj9js"]
    );
    assert_eq!(
        ids(&doc(Resource::MaintenancesActive), m),
        ["bclbdmdnhmdn", "chkt3cr0jf7b"]
    );
    assert_eq!(
        ids(&doc(Resource::Summary), m),
        ["lvppt5gxj9js", "bclbdmdnhmdn", "chkt3cr0jf7b"]
    );

    // Served byte-identical to the real objects.
    let payfast = tree(fixture("payfast-incidents.json").as_bytes());
    assert_eq!(
        &doc(Resource::Incidents).get("incidents").items()[0],
        &payfast.get("incidents").items()[0]
    );

    // An open incident with impact `none` does not raise the indicator (Discord, 2019)…
    let mut view = common::view();
    for c in &mut view.components {
        c.status = pharos_domain::ComponentStatus::Operational;
    }
    let status = |incidents: &[pharos_web::v2::Incident]| {
        tree(
            &Snapshot::build_with(&view, incidents, &[])
                .get(Resource::Status)
                .body,
        )
        .get("status")
        .clone()
    };
    let none = status(&real_incidents());
    assert_eq!(none.get("indicator"), &Node::String("none".into()));
    // …one with impact `critical` does; a resolved one does not.
    let mut incidents = real_incidents();
    incidents[1].impact = pharos_domain::Indicator::Critical;
    assert_eq!(
        status(&incidents).get("indicator"),
        &Node::String("critical".into())
    );
    assert_eq!(
        status(&incidents).get("description"),
        &Node::String("All Systems Operational".into())
    );
    incidents[0].impact = pharos_domain::Indicator::Critical;
    incidents.remove(1);
    assert_eq!(
        status(&incidents).get("indicator"),
        &Node::String("none".into())
    );
}

#[test]
fn lists_hold_the_newest_fifty() {
    let base = real_incidents().remove(0);
    let many: Vec<_> = (0..60)
        .map(|i| {
            let mut inc = base.clone();
            inc.id = format!("inc{i:02}");
            inc.created_at = pharos_web::v2::ApiTime::in_zone(
                common::at("2026-01-01T00:00:00Z") + chrono::Duration::hours(i),
                chrono_tz::UTC,
            );
            inc
        })
        .collect();
    let snap = Snapshot::build_with(&common::view(), &many, &[]);
    let got = ids(&tree(&snap.get(Resource::Incidents).body), "incidents");
    assert_eq!(got.len(), 50);
    assert_eq!(got[0], "inc59");
    assert_eq!(got[49], "inc10");
}
