//! One book of records kept by id: the list in order of creation (what the page shows), an
//! index to find one by id, and the ids changed since the last write. Incidents and
//! maintenances are each kept in one.

use std::collections::{BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};

use pharos_domain::{Incident, IncidentId, Maintenance};
use pharos_store::{IncidentKind, IncidentRecord};
use serde::Serialize;

/// A record a [`Ledger`] keeps: it knows its own id and how it is stored.
pub trait Keyed {
    /// The record's id; it never changes once the record is in a ledger.
    fn key(&self) -> &IncidentId;
    /// The row that stores it.
    fn to_record(&self) -> IncidentRecord;
}

impl Keyed for Incident {
    fn key(&self) -> &IncidentId {
        &self.id
    }
    fn to_record(&self) -> IncidentRecord {
        IncidentRecord {
            id: self.id.to_string(),
            kind: IncidentKind::Incident,
            status: self.status.as_str().to_owned(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            doc: to_doc(self),
        }
    }
}

impl Keyed for Maintenance {
    fn key(&self) -> &IncidentId {
        &self.id
    }
    fn to_record(&self) -> IncidentRecord {
        IncidentRecord {
            id: self.id.to_string(),
            kind: IncidentKind::Maintenance,
            status: self.status.as_str().to_owned(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            doc: to_doc(self),
        }
    }
}

/// A record as the JSON document the store keeps.
pub(super) fn to_doc(value: &impl Serialize) -> String {
    // Plain structs with string keys: serializing cannot fail; an empty object would be
    // caught by the load path, which skips documents it cannot read.
    serde_json::to_string(value).unwrap_or_else(|error| {
        tracing::error!(%error, "serializing an incident document failed");
        "{}".to_owned()
    })
}

/// Records in order of creation, found by id, with the set changed since the last
/// [`Ledger::take_changed`]. Reads and in-place edits go through the slice it derefs to;
/// an edit is written once it is [`touch`](Ledger::touch)ed.
#[derive(Debug)]
pub struct Ledger<T> {
    items: Vec<T>,
    index: HashMap<IncidentId, usize>,
    changed: BTreeSet<IncidentId>,
}

impl<T> Default for Ledger<T> {
    fn default() -> Self {
        Ledger {
            items: Vec::new(),
            index: HashMap::new(),
            changed: BTreeSet::new(),
        }
    }
}

impl<T: Keyed> Ledger<T> {
    /// Puts back a record storage already holds (not marked changed).
    pub fn restore(&mut self, item: T) -> usize {
        let at = self.items.len();
        self.index.insert(item.key().clone(), at);
        self.items.push(item);
        at
    }

    /// Adds a new record, to be written; returns its position.
    pub fn insert(&mut self, item: T) -> usize {
        self.changed.insert(item.key().clone());
        self.restore(item)
    }

    /// Where the record with this id is.
    pub fn position(&self, id: &IncidentId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The record with this id.
    pub fn get(&self, id: &IncidentId) -> Option<&T> {
        self.position(id).map(|at| &self.items[at])
    }

    /// Whether a record has this id.
    pub fn contains(&self, id: &IncidentId) -> bool {
        self.index.contains_key(id)
    }

    /// Marks a record changed, so that the next write carries it.
    pub fn touch(&mut self, id: &IncidentId) {
        self.changed.insert(id.clone());
    }

    /// The records changed since the last call, in id order, each once.
    pub fn take_changed(&mut self) -> Vec<&T> {
        let changed = std::mem::take(&mut self.changed);
        changed.iter().filter_map(|id| self.get(id)).collect()
    }
}

impl<T> Deref for Ledger<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> DerefMut for Ledger<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rec {
        id: IncidentId,
        name: &'static str,
    }

    impl Keyed for Rec {
        fn key(&self) -> &IncidentId {
            &self.id
        }
        fn to_record(&self) -> IncidentRecord {
            unreachable!("not written in these tests")
        }
    }

    fn id(s: &str) -> IncidentId {
        IncidentId::new(s).expect("a valid id")
    }

    fn rec(s: &str) -> Rec {
        Rec {
            id: id(s),
            name: "x",
        }
    }

    #[test]
    fn keeps_order_finds_by_id_and_writes_each_change_once() {
        let mut ledger = Ledger::default();
        ledger.restore(rec("old"));
        assert!(
            ledger.take_changed().is_empty(),
            "restored records are not rewritten"
        );
        assert_eq!(ledger.insert(rec("new")), 1);
        ledger.touch(&id("old"));
        ledger.touch(&id("old"));
        let ids: Vec<&str> = ledger
            .take_changed()
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["new", "old"]);
        assert!(ledger.take_changed().is_empty());
        assert_eq!(ledger.position(&id("new")), Some(1));
        assert!(ledger.get(&id("gone")).is_none());
        assert!(ledger.contains(&id("old")));
        ledger[0].name = "renamed";
        let names: Vec<&str> = ledger.iter().map(|r| r.name).collect();
        assert_eq!(names, ["renamed", "x"]);
    }
}
