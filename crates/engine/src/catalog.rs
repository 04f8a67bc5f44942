//! The component catalog: configured components plus the group rows derived from their
//! `group` names, in page order. A group takes the position where its first member was
//! declared, and its members follow it, so the flat Statuspage list and the grouped page agree.

use pharos_domain::ids::slugify;
use pharos_domain::ComponentId;

/// A component as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDef {
    /// Stable id.
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Name of the group it belongs to, if any.
    pub group: Option<String>,
}

/// One row of the catalog: a component or a group.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// Stable id (a group's id is the slug of its name).
    pub id: ComponentId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// The group row this component belongs to.
    pub group_id: Option<ComponentId>,
    /// Whether the row is a group.
    pub is_group: bool,
    /// For a group, its members' ids.
    pub children: Vec<ComponentId>,
}

/// Why the catalog could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A group name has no letters or digits to make an id from.
    #[error("group name {0:?} has no letters or digits to derive an id from")]
    EmptyGroupId(String),
    /// Two rows would share an id.
    #[error("id {0:?} is used by more than one component or group")]
    DuplicateId(String),
}

/// Builds the ordered catalog from configured components.
pub fn build(defs: &[ComponentDef]) -> Result<Vec<CatalogEntry>, CatalogError> {
    // Top-level items in order of first appearance: an ungrouped component or a group.
    enum Item<'a> {
        Single(&'a ComponentDef),
        Group(&'a str, Vec<&'a ComponentDef>),
    }
    let mut items: Vec<Item> = Vec::new();
    for def in defs {
        match &def.group {
            None => items.push(Item::Single(def)),
            Some(g) => {
                let existing = items.iter_mut().find_map(|it| match it {
                    Item::Group(name, members) if *name == g.as_str() => Some(members),
                    _ => None,
                });
                match existing {
                    Some(members) => members.push(def),
                    None => items.push(Item::Group(g, vec![def])),
                }
            }
        }
    }
    let mut out = Vec::with_capacity(defs.len() + items.len());
    for item in items {
        match item {
            Item::Single(def) => out.push(entry(def, None)),
            Item::Group(name, members) => {
                let slug = slugify(name);
                let gid = ComponentId::new(slug)
                    .map_err(|_| CatalogError::EmptyGroupId(name.to_owned()))?;
                out.push(CatalogEntry {
                    id: gid.clone(),
                    name: name.to_owned(),
                    description: None,
                    group_id: None,
                    is_group: true,
                    children: members.iter().map(|m| m.id.clone()).collect(),
                });
                out.extend(members.into_iter().map(|m| entry(m, Some(gid.clone()))));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for e in &out {
        if !seen.insert(e.id.as_str()) {
            return Err(CatalogError::DuplicateId(e.id.to_string()));
        }
    }
    Ok(out)
}

fn entry(def: &ComponentDef, group_id: Option<ComponentId>) -> CatalogEntry {
    CatalogEntry {
        id: def.id.clone(),
        name: def.name.clone(),
        description: def.description.clone(),
        group_id,
        is_group: false,
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, group: Option<&str>) -> ComponentDef {
        ComponentDef {
            id: ComponentId::new(id).unwrap(),
            name: id.to_uppercase(),
            description: None,
            group: group.map(str::to_owned),
        }
    }

    #[test]
    fn groups_take_the_place_of_their_first_member() {
        let cat = build(&[
            def("web", None),
            def("api", Some("Core services")),
            def("cdn", None),
            def("db", Some("Core services")),
        ])
        .unwrap();
        let ids: Vec<&str> = cat.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["web", "core-services", "api", "db", "cdn"]);
        assert!(cat[1].is_group);
        assert_eq!(cat[1].children.len(), 2);
        assert_eq!(
            cat[3].group_id.as_ref().map(|g| g.as_str()),
            Some("core-services")
        );
    }

    #[test]
    fn refuses_a_group_that_collides_with_a_component() {
        let err = build(&[def("core", None), def("api", Some("Core"))]).unwrap_err();
        assert_eq!(err, CatalogError::DuplicateId("core".into()));
    }
}
