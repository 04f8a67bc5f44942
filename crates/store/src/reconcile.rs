//! Reconciling stored components and monitors with the configuration, in one transaction.
//!
//! Nothing is ever deleted: a row the configuration no longer declares is archived
//! (`archived_at` set), which hides it but keeps its results, rollups and status events; when
//! the id comes back the row is un-archived and its history with it. A monitor whose
//! definition changed keeps its state and results.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use pharos_domain::ComponentStatus;

use crate::error::OpError;
use crate::model::{ComponentRecord, MonitorRecord, ReconcileReport};
use crate::sql::{exec_rows, ms, Val};
use crate::{Result, Store};

/// `(id, name, description, group_id, is_group, position, archived_at)`
type ComponentRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
    i64,
    Option<i64>,
);
/// `(id, type_name, definition_json, archived_at)`
type MonitorRow = (String, String, String, Option<i64>);

impl Store {
    /// Makes the stored components and monitors match the configuration, in one transaction.
    ///
    /// - A new id is inserted (`created_at = now`); a new component also starts with an
    ///   `operational` status event at `now`.
    /// - A live row whose declared fields differ is updated (`updated_at = now`). For a
    ///   monitor, a changed `definition_json` or component list counts; its state, results
    ///   and rollups are kept.
    /// - A stored live row missing from the input is archived (`archived_at = now`).
    /// - An archived row whose id is declared again is un-archived and updated, and reported
    ///   as added; its history comes back with it.
    ///
    /// Fails without writing anything on duplicate ids in the input or when a monitor names a
    /// component that is neither declared nor stored.
    pub async fn reconcile(
        &self,
        components: &[ComponentRecord],
        monitors: &[MonitorRecord],
        now: DateTime<Utc>,
    ) -> Result<ReconcileReport> {
        const OP: &str = "reconcile";
        check_unique(components.iter().map(|c| c.id.as_str()), "component")
            .map_err(|e| e.at(OP))?;
        check_unique(monitors.iter().map(|m| m.id.as_str()), "monitor").map_err(|e| e.at(OP))?;
        let now_ms = ms(now);
        let operational = ComponentStatus::Operational.as_str();

        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            // A node that lost the lease while starting must not rewrite the configuration
            // under the new leader.
            check_fence!(self, tx, d);
            let mut report = ReconcileReport::default();

            // Components.
            let stored: HashMap<String, ComponentRow> = sqlx::query_as::<_, ComponentRow>(
                "SELECT id, name, description, group_id, is_group, position, archived_at \
                 FROM components",
            )
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| (row.0.clone(), row))
            .collect();
            let mut new_rows = Vec::new();
            let mut new_events = Vec::new();
            for c in components {
                let position = i64::from(c.position);
                let group_id = c.group_id.as_ref().map(|g| g.as_str().to_owned());
                let Some(row) = stored.get(c.id.as_str()) else {
                    new_rows.extend([
                        Val::Text(c.id.as_str().to_owned()),
                        Val::Text(c.name.clone()),
                        Val::OptText(c.description.clone()),
                        Val::OptText(group_id),
                        Val::Bool(c.is_group),
                        Val::Int(position),
                        Val::Text(operational.to_owned()),
                        Val::Int(now_ms),
                        Val::Int(now_ms),
                    ]);
                    new_events.extend([
                        Val::Text(c.id.as_str().to_owned()),
                        Val::Int(now_ms),
                        Val::OptText(None),
                        Val::Text(operational.to_owned()),
                    ]);
                    report.added.push(format!("component:{}", c.id));
                    continue;
                };
                let archived = row.6.is_some();
                let differs = row.1 != c.name
                    || row.2 != c.description
                    || row.3 != group_id
                    || row.4 != c.is_group
                    || row.5 != position;
                if !archived && !differs {
                    continue;
                }
                sqlx::query(
                    "UPDATE components SET name = $1, description = $2, group_id = $3, \
                     is_group = $4, position = $5, updated_at = $6, archived_at = NULL \
                     WHERE id = $7",
                )
                .bind(c.name.clone())
                .bind(c.description.clone())
                .bind(group_id)
                .bind(c.is_group)
                .bind(position)
                .bind(now_ms)
                .bind(c.id.as_str().to_owned())
                .execute(&mut *tx)
                .await?;
                if archived {
                    report.added.push(format!("component:{}", c.id));
                } else {
                    report.changed.push(format!("component:{}", c.id));
                }
            }
            exec_rows!(
                tx,
                "INSERT INTO components (id, name, description, group_id, is_group, position, \
                 status, created_at, updated_at)",
                9,
                "",
                new_rows
            );
            exec_rows!(
                tx,
                "INSERT INTO component_events (component_id, at, from_status, status)",
                4,
                "",
                new_events
            );
            let declared: HashSet<&str> = components.iter().map(|c| c.id.as_str()).collect();
            let mut gone: Vec<&str> = stored
                .values()
                .filter(|row| row.6.is_none() && !declared.contains(row.0.as_str()))
                .map(|row| row.0.as_str())
                .collect();
            gone.sort_unstable();
            for id in gone {
                sqlx::query("UPDATE components SET archived_at = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id.to_owned())
                    .execute(&mut *tx)
                    .await?;
                report.archived.push(format!("component:{id}"));
            }

            // Monitors and the components they drive.
            for m in monitors {
                let unknown = m
                    .components
                    .iter()
                    .find(|c| !declared.contains(c.as_str()) && !stored.contains_key(c.as_str()));
                if let Some(c) = unknown {
                    return Err(OpError::Invalid(format!(
                        "monitor {} drives unknown component {c}",
                        m.id
                    )));
                }
            }
            let stored: HashMap<String, MonitorRow> = sqlx::query_as::<_, MonitorRow>(
                "SELECT id, type_name, definition_json, archived_at FROM monitors",
            )
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| (row.0.clone(), row))
            .collect();
            let mut stored_links: HashMap<String, BTreeSet<String>> = HashMap::new();
            for (monitor, component) in sqlx::query_as::<_, (String, String)>(
                "SELECT monitor_id, component_id FROM monitor_components",
            )
            .fetch_all(&mut *tx)
            .await?
            {
                stored_links.entry(monitor).or_default().insert(component);
            }
            let mut new_rows = Vec::new();
            let mut new_links = Vec::new();
            for m in monitors {
                let id = m.id.as_str();
                let links: BTreeSet<String> =
                    m.components.iter().map(|c| c.as_str().to_owned()).collect();
                let link_vals = |links: &BTreeSet<String>| -> Vec<Val> {
                    links
                        .iter()
                        .flat_map(|c| [Val::Text(id.to_owned()), Val::Text(c.clone())])
                        .collect()
                };
                let Some(row) = stored.get(id) else {
                    new_rows.extend([
                        Val::Text(id.to_owned()),
                        Val::Text(m.type_name.clone()),
                        Val::Text(m.definition_json.clone()),
                        Val::Int(now_ms),
                        Val::Int(now_ms),
                    ]);
                    new_links.extend(link_vals(&links));
                    report.added.push(format!("monitor:{id}"));
                    continue;
                };
                let archived = row.3.is_some();
                let links_differ = stored_links
                    .get(id)
                    .map_or(!links.is_empty(), |s| *s != links);
                let differs = row.1 != m.type_name || row.2 != m.definition_json || links_differ;
                if !archived && !differs {
                    continue;
                }
                sqlx::query(
                    "UPDATE monitors SET type_name = $1, definition_json = $2, updated_at = $3, \
                     archived_at = NULL WHERE id = $4",
                )
                .bind(m.type_name.clone())
                .bind(m.definition_json.clone())
                .bind(now_ms)
                .bind(id.to_owned())
                .execute(&mut *tx)
                .await?;
                if links_differ {
                    sqlx::query("DELETE FROM monitor_components WHERE monitor_id = $1")
                        .bind(id.to_owned())
                        .execute(&mut *tx)
                        .await?;
                    new_links.extend(link_vals(&links));
                }
                if archived {
                    report.added.push(format!("monitor:{id}"));
                } else {
                    report.changed.push(format!("monitor:{id}"));
                }
            }
            exec_rows!(
                tx,
                "INSERT INTO monitors (id, type_name, definition_json, created_at, updated_at)",
                5,
                "",
                new_rows
            );
            exec_rows!(
                tx,
                "INSERT INTO monitor_components (monitor_id, component_id)",
                2,
                "",
                new_links
            );
            let declared: HashSet<&str> = monitors.iter().map(|m| m.id.as_str()).collect();
            let mut gone: Vec<&str> = stored
                .values()
                .filter(|row| row.3.is_none() && !declared.contains(row.0.as_str()))
                .map(|row| row.0.as_str())
                .collect();
            gone.sort_unstable();
            for id in gone {
                sqlx::query("UPDATE monitors SET archived_at = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id.to_owned())
                    .execute(&mut *tx)
                    .await?;
                report.archived.push(format!("monitor:{id}"));
            }

            tx.commit().await?;
            Ok::<_, OpError>(report)
        }
        .await)
        // The engine logs the report, with a warning per archived monitor.
        .map_err(|e| e.at(OP))
    }
}

/// Rejects an input listing the same id twice.
fn check_unique<'a>(ids: impl Iterator<Item = &'a str>, kind: &str) -> Result<(), OpError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(OpError::Invalid(format!(
                "{kind} id {id} is declared twice"
            )));
        }
    }
    Ok(())
}
