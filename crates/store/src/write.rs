//! The batched writer: one transaction per pipeline flush, carrying check results (into the
//! per-monitor ring and the minute / hour / day rollups), monitor states, component status
//! changes and overrides, incidents with their timeline events, and the notification
//! deliveries those changes cause (the outbox).
//!
//! A batch is prepared in memory first (results grouped per monitor, rollups summed per
//! bucket, states deduplicated) so the transaction issues a handful of multi-row statements
//! whatever the batch size:
//!
//! 1. apply component changes one by one (there are few) and log each as an event;
//! 2. set or clear component overrides one by one, in the order given, then the alerts held
//!    outside incidents;
//! 3. reserve ring sequence numbers: one `UPDATE monitors … FROM (VALUES …) RETURNING`, which
//!    also proves every monitor named in the batch exists;
//! 4. upsert the ring rows on `(monitor_id, slot)`, `slot = seq % RING_SIZE`;
//! 5. upsert the rollup rows, adding counts to what is stored;
//! 6. upsert the monitor states;
//! 7. upsert incidents, then insert their events (ignoring ids already stored), one statement
//!    per row: a batch carries a handful, and one row per statement lets the same incident
//!    be upserted twice in a batch;
//! 8. upsert or remove public subscribers, in order;
//! 9. insert the outbox payloads (each once, however many deliveries name it), then the
//!    deliveries, ignoring ids already stored, so a delivery is durable exactly when the
//!    change that caused it is;
//! 10. append the batch's audit entries, in order, so an entry is durable exactly when the
//!     change it records is.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use pharos_domain::{CheckResult, MonitorState};

use crate::audit::{check_audit, insert_audit};
use crate::error::OpError;
use crate::model::{
    Batch, DeliveryState, Granularity, HeldAlertChange, OutboxPayload, OutboxRecord,
    OverrideChange, SubscriberChange, RING_SIZE,
};
use crate::sql::{exec_rows, fetch_rows, ms, to_i64, Val};
use crate::{Result, Store};

/// Counts for one rollup bucket, summed over the batch.
#[derive(Default)]
struct Counts {
    checks: i64,
    up: i64,
    degraded: i64,
    down: i64,
    sum_ms: i64,
    max_ms: i64,
}

impl Store {
    /// Writes one batch in one transaction: all of it, or (on any error) none of it.
    ///
    /// Results go into the ring (the newest [`RING_SIZE`] per monitor are kept) and are added
    /// to the minute, hour and UTC-day rollups. Monitor states replace the stored ones (the
    /// last entry wins for a monitor listed twice). Component changes, in time order, set the
    /// component's status and `updated_at` and are appended to the status event log.
    ///
    /// Overrides are set (replacing the component's previous one) or cleared in the order
    /// given. Incidents are upserted by id in order: a stored incident keeps its `created_at`
    /// and takes the new kind, status, `updated_at` and document. Incident events are then
    /// inserted, and an event whose id is already stored is skipped, so retrying a batch does
    /// not duplicate them. Documents are stored byte for byte and never interpreted.
    ///
    /// Subscribers are then upserted by id (a stored one keeps its `created_at`) or removed,
    /// in order. Outbox deliveries are inserted last as `pending`, never attempted and unclaimed; one
    /// whose id is already stored (or came earlier in the batch) is skipped, so a retried
    /// batch enqueues each delivery once. Because they share the transaction, a delivery is
    /// stored if and only if the rest of the batch is. Audit entries are appended last, in
    /// order, with the same guarantee.
    ///
    /// Every monitor and component named must have been stored by
    /// [`reconcile`](Store::reconcile) (archived ones are accepted), and every event must
    /// name an incident that is stored or in the batch; otherwise the batch is rejected with
    /// [`StoreError::InvalidInput`](crate::StoreError::InvalidInput). So is any text of an
    /// incident, event, override, subscriber, delivery or audit entry containing a NUL
    /// character, which PostgreSQL cannot store, and an audit entry whose `before` or `after`
    /// is not JSON.
    ///
    /// A store carrying a leader's [`Fence`](crate::Fence) writes only while the lease is its
    /// own, checked in the same transaction; otherwise nothing is written and the batch is
    /// refused with [`StoreError::Fenced`](crate::StoreError::Fenced).
    pub async fn write_batch(&self, batch: &Batch) -> Result<()> {
        const OP: &str = "write_batch";
        if batch.is_empty() {
            return Ok(());
        }
        check_no_nul(batch).map_err(|e| e.at(OP))?;

        // Results per monitor, oldest first, so sequence numbers follow time.
        let mut results: BTreeMap<&str, Vec<&CheckResult>> = BTreeMap::new();
        for r in &batch.results {
            results.entry(r.monitor_id.as_str()).or_default().push(r);
        }
        for list in results.values_mut() {
            list.sort_by_key(|r| r.started_at);
        }
        let mut states: BTreeMap<&str, &MonitorState> = BTreeMap::new();
        for (id, state) in &batch.monitor_states {
            states.insert(id.as_str(), state);
        }
        // Every monitor the batch touches, with how many results it brings.
        let mut touched: BTreeMap<&str, i64> = states.keys().map(|id| (*id, 0)).collect();
        for (id, list) in &results {
            touched.insert(id, to_i64(list.len() as u64));
        }
        let mut rollups: BTreeMap<(&str, Granularity, i64), Counts> = BTreeMap::new();
        for r in &batch.results {
            let started = ms(r.started_at);
            let duration = to_i64(r.duration_ms);
            for g in Granularity::ALL {
                let c = rollups
                    .entry((r.monitor_id.as_str(), g, g.bucket_start_ms(started)))
                    .or_default();
                c.checks += 1;
                match r.outcome {
                    pharos_domain::CheckOutcome::Up => c.up += 1,
                    pharos_domain::CheckOutcome::Degraded => c.degraded += 1,
                    pharos_domain::CheckOutcome::Down => c.down += 1,
                }
                c.sum_ms = c.sum_ms.saturating_add(duration);
                c.max_ms = c.max_ms.max(duration);
            }
        }
        let mut changes: Vec<_> = batch.component_changes.iter().collect();
        changes.sort_by_key(|c| c.at);

        self.fence_locally(OP)?;
        db_run!(self, |pool, d| async {
            let mut tx = pool.begin_with(d.begin_write).await?;
            // 0. A leader's batch is written only while it still leads.
            check_fence!(self, tx, d);

            // 1. Component changes, first: rows are locked table by table in the same order
            // as `reconcile` (components, then monitors), so a reconcile running beside a
            // batch on PostgreSQL cannot deadlock with it across the two tables.
            for c in &changes {
                let at = ms(c.at);
                let updated =
                    sqlx::query("UPDATE components SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(c.to.as_str())
                        .bind(at)
                        .bind(c.component_id.as_str().to_owned())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if updated == 0 {
                    return Err(OpError::Invalid(format!(
                        "unknown component {}",
                        c.component_id
                    )));
                }
                sqlx::query(
                    "INSERT INTO component_events (component_id, at, from_status, status) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(c.component_id.as_str().to_owned())
                .bind(at)
                .bind(c.from.as_str())
                .bind(c.to.as_str())
                .execute(&mut *tx)
                .await?;
            }

            // 2. Overrides, in order, still in the components phase of the lock order (an
            // override row takes a key-share lock on its component on PostgreSQL).
            for o in &batch.overrides {
                match o {
                    OverrideChange::Set(r) => {
                        sqlx::query(
                            "INSERT INTO component_overrides \
                             (component_id, status, until_at, set_at, doc) \
                             VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (component_id) DO UPDATE SET status = excluded.status, \
                             until_at = excluded.until_at, set_at = excluded.set_at, \
                             doc = excluded.doc",
                        )
                        .bind(r.component_id.as_str())
                        .bind(r.status.as_str())
                        .bind(r.until.map(ms))
                        .bind(ms(r.set_at))
                        .bind(r.doc.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| {
                            unknown_reference(e, || {
                                format!("override for unknown component {}", r.component_id)
                            })
                        })?;
                    }
                    OverrideChange::Clear(id) => {
                        sqlx::query("DELETE FROM component_overrides WHERE component_id = $1")
                            .bind(id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }

            // 2b. Alerts held outside incidents, in order.
            for h in &batch.held_alerts {
                match h {
                    HeldAlertChange::Upsert(r) => {
                        sqlx::query(
                            "INSERT INTO held_alerts (alert_key, updated_at, doc) \
                             VALUES ($1, $2, $3) \
                             ON CONFLICT (alert_key) DO UPDATE SET \
                             updated_at = excluded.updated_at, doc = excluded.doc",
                        )
                        .bind(r.key.as_str())
                        .bind(ms(r.updated_at))
                        .bind(r.doc.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    HeldAlertChange::Remove(key) => {
                        sqlx::query("DELETE FROM held_alerts WHERE alert_key = $1")
                            .bind(key.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }

            // 3. Reserve sequence numbers, and check every monitor exists.
            let reserve: Vec<Val> = touched
                .iter()
                .flat_map(|(id, n)| [Val::Text((*id).to_owned()), Val::Int(*n)])
                .collect();
            let seqs: HashMap<String, i64> = fetch_rows!(
                tx,
                (String, i64),
                "UPDATE monitors SET ring_seq = monitors.ring_seq + v.column2 FROM (",
                2,
                ") AS v WHERE monitors.id = v.column1 RETURNING monitors.id, monitors.ring_seq",
                reserve
            )
            .into_iter()
            .collect();
            if seqs.len() != touched.len() {
                let unknown: Vec<&str> = touched
                    .keys()
                    .copied()
                    .filter(|id| !seqs.contains_key(*id))
                    .collect();
                return Err(OpError::Invalid(format!(
                    "unknown monitor(s): {}",
                    unknown.join(", ")
                )));
            }

            // 4. The ring. Only the newest RING_SIZE of a monitor's results can survive, and
            // one statement must not upsert the same slot twice.
            let ring_size = i64::from(RING_SIZE);
            let mut ring = Vec::new();
            for (id, list) in &results {
                let last_seq = seqs.get(*id).copied().unwrap_or_default();
                let first_seq = last_seq - to_i64(list.len() as u64) + 1;
                let skip = list.len().saturating_sub(RING_SIZE as usize);
                for (i, r) in list.iter().enumerate().skip(skip) {
                    let seq = first_seq + to_i64(i as u64);
                    ring.extend([
                        Val::Text((*id).to_owned()),
                        Val::Int(seq.rem_euclid(ring_size)),
                        Val::Int(seq),
                        Val::Int(ms(r.started_at)),
                        Val::Int(to_i64(r.duration_ms)),
                        Val::Text(r.outcome.as_str().to_owned()),
                        Val::OptInt(r.status_code.map(i64::from)),
                        Val::OptText(r.error.clone()),
                    ]);
                    let timings = r.timings.unwrap_or_default();
                    ring.extend(
                        [
                            timings.dns_ms,
                            timings.connect_ms,
                            timings.tls_ms,
                            timings.first_byte_ms,
                        ]
                        .map(|phase| Val::OptInt(phase.map(to_i64))),
                    );
                    ring.push(Val::Text(r.location.as_str().to_owned()));
                }
            }
            exec_rows!(
                tx,
                "INSERT INTO check_results (monitor_id, slot, seq, started_at, duration_ms, \
                 outcome, status_code, error, dns_ms, connect_ms, tls_ms, first_byte_ms, \
                 location)",
                13,
                "ON CONFLICT (monitor_id, slot) DO UPDATE SET seq = excluded.seq, \
                 started_at = excluded.started_at, duration_ms = excluded.duration_ms, \
                 outcome = excluded.outcome, status_code = excluded.status_code, \
                 error = excluded.error, dns_ms = excluded.dns_ms, \
                 connect_ms = excluded.connect_ms, tls_ms = excluded.tls_ms, \
                 first_byte_ms = excluded.first_byte_ms, location = excluded.location",
                ring
            );

            // 5. Rollups.
            let rollup_vals: Vec<Val> = rollups
                .iter()
                .flat_map(|((id, g, bucket), c)| {
                    [
                        Val::Text((*id).to_owned()),
                        Val::Text(g.code().to_owned()),
                        Val::Int(*bucket),
                        Val::Int(c.checks),
                        Val::Int(c.up),
                        Val::Int(c.degraded),
                        Val::Int(c.down),
                        Val::Int(c.sum_ms),
                        Val::Int(c.max_ms),
                    ]
                })
                .collect();
            exec_rows!(
                tx,
                "INSERT INTO rollups (monitor_id, granularity, bucket_start, checks, up_count, \
                 degraded_count, down_count, duration_sum_ms, duration_max_ms)",
                9,
                "ON CONFLICT (monitor_id, granularity, bucket_start) DO UPDATE SET \
                 checks = rollups.checks + excluded.checks, \
                 up_count = rollups.up_count + excluded.up_count, \
                 degraded_count = rollups.degraded_count + excluded.degraded_count, \
                 down_count = rollups.down_count + excluded.down_count, \
                 duration_sum_ms = rollups.duration_sum_ms + excluded.duration_sum_ms, \
                 duration_max_ms = CASE WHEN excluded.duration_max_ms > rollups.duration_max_ms \
                 THEN excluded.duration_max_ms ELSE rollups.duration_max_ms END",
                rollup_vals
            );

            // 6. Monitor states.
            let state_vals: Vec<Val> = states
                .iter()
                .flat_map(|(id, s)| {
                    [
                        Val::Text((*id).to_owned()),
                        Val::Text(s.health.as_str().to_owned()),
                        Val::OptInt(s.since.map(ms)),
                        Val::Int(i64::from(s.down_streak)),
                        Val::Int(i64::from(s.up_streak)),
                        Val::Int(i64::from(s.not_up_streak)),
                        Val::Int(i64::from(s.not_down_streak)),
                        Val::OptInt(s.last_check_at.map(ms)),
                        Val::OptText(s.last_outcome.map(|o| o.as_str().to_owned())),
                        Val::OptText(s.last_error.clone()),
                    ]
                })
                .collect();
            exec_rows!(
                tx,
                "INSERT INTO monitor_states (monitor_id, health, health_since, down_streak, \
                 up_streak, not_up_streak, not_down_streak, last_check_at, last_outcome, \
                 last_error)",
                10,
                "ON CONFLICT (monitor_id) DO UPDATE SET health = excluded.health, \
                 health_since = excluded.health_since, down_streak = excluded.down_streak, \
                 up_streak = excluded.up_streak, not_up_streak = excluded.not_up_streak, \
                 not_down_streak = excluded.not_down_streak, \
                 last_check_at = excluded.last_check_at, last_outcome = excluded.last_outcome, \
                 last_error = excluded.last_error",
                state_vals
            );

            // 7. Incidents, then their events.
            for i in &batch.incidents {
                sqlx::query(
                    "INSERT INTO incidents (id, kind, status, created_at, updated_at, doc) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                     status = excluded.status, updated_at = excluded.updated_at, \
                     doc = excluded.doc",
                )
                .bind(i.id.as_str())
                .bind(i.kind.as_str())
                .bind(i.status.as_str())
                .bind(ms(i.created_at))
                .bind(ms(i.updated_at))
                .bind(i.doc.as_str())
                .execute(&mut *tx)
                .await?;
            }
            for e in &batch.incident_events {
                sqlx::query(
                    "INSERT INTO incident_events \
                     (id, incident_id, seq, occurred_at, recorded_at, kind, doc) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(e.id.as_str())
                .bind(e.incident_id.as_str())
                .bind(e.seq)
                .bind(ms(e.occurred_at))
                .bind(ms(e.recorded_at))
                .bind(e.kind.as_str())
                .bind(e.doc.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|err| {
                    unknown_reference(err, || {
                        format!("event {} names unknown incident {}", e.id, e.incident_id)
                    })
                })?;
            }

            // 8. Subscribers, in order: a confirmation e-mail commits with its subscriber.
            for change in &batch.subscribers {
                match change {
                    SubscriberChange::Upsert(r) => {
                        sqlx::query(
                            "INSERT INTO subscribers (id, kind, address, components, \
                             created_at, confirmed_at, unsubscribed_at, doc) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                             address = excluded.address, components = excluded.components, \
                             confirmed_at = excluded.confirmed_at, \
                             unsubscribed_at = excluded.unsubscribed_at, doc = excluded.doc",
                        )
                        .bind(r.id.as_str())
                        .bind(r.kind.as_str())
                        .bind(r.address.as_str())
                        .bind(crate::subscribers::components_json(r))
                        .bind(ms(r.created_at))
                        .bind(r.confirmed_at.map(ms))
                        .bind(r.unsubscribed_at.map(ms))
                        .bind(r.doc.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    SubscriberChange::Remove(id) => {
                        sqlx::query("DELETE FROM subscribers WHERE id = $1")
                            .bind(id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }

            // 9. The outbox, last: the deliveries commit with the changes that caused them.
            // Each payload once, however many deliveries name it, before the deliveries.
            let payloads = distinct_payloads(&batch.outbox);
            let payload_vals: Vec<Val> = payloads
                .iter()
                .flat_map(|(p, created_at)| {
                    [
                        Val::Text(p.id.clone()),
                        Val::Text(p.body.clone()),
                        Val::Int(ms(*created_at)),
                    ]
                })
                .collect();
            exec_rows!(
                tx,
                "INSERT INTO outbox_payloads (id, body, created_at)",
                3,
                "ON CONFLICT (id) DO NOTHING",
                payload_vals
            );
            let outbox_vals: Vec<Val> = batch
                .outbox
                .iter()
                .flat_map(|o| {
                    [
                        Val::Text(o.id.clone()),
                        Val::Text(o.destination.clone()),
                        Val::Text(o.event_kind.clone()),
                        Val::Text(o.payload.id.clone()),
                        Val::Int(ms(o.created_at)),
                        Val::Int(ms(o.due_at)),
                        Val::Text(DeliveryState::Pending.as_str().to_owned()),
                    ]
                })
                .collect();
            exec_rows!(
                tx,
                "INSERT INTO outbox (id, destination, event_kind, payload_id, created_at, \
                 due_at, state)",
                7,
                "ON CONFLICT (id) DO NOTHING",
                outbox_vals
            );

            // 10. The audit trail: each entry commits with the change it records.
            for record in &batch.audit {
                insert_audit!(tx, record);
            }

            tx.commit().await?;
            Ok::<_, OpError>(())
        }
        .await)
        .map_err(|e| e.at(OP))
    }
}

/// Turns a foreign-key violation into a rejection of the input, described by `message`;
/// any other error stays a database error.
fn unknown_reference(e: sqlx::Error, message: impl FnOnce() -> String) -> OpError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => OpError::Invalid(message()),
        _ => OpError::Sql(e),
    }
}

/// Rejects a NUL character in any text of an incident, event, override, subscriber or outbox
/// delivery: PostgreSQL's TEXT cannot hold one, and both engines must accept the same
/// batches. (A JSON serializer escapes NUL inside strings as `\u0000`, so a real document
/// never has one.)
fn check_no_nul(batch: &Batch) -> Result<(), OpError> {
    let check = |what: &str, id: &str, field: &str, value: &str| {
        if value.contains('\0') {
            Err(OpError::Invalid(format!(
                "{what} {id:?}: {field} contains a NUL character"
            )))
        } else {
            Ok(())
        }
    };
    for i in &batch.incidents {
        check("incident", &i.id, "id", &i.id)?;
        check("incident", &i.id, "status", &i.status)?;
        check("incident", &i.id, "doc", &i.doc)?;
    }
    for e in &batch.incident_events {
        check("incident event", &e.id, "id", &e.id)?;
        check("incident event", &e.id, "incident_id", &e.incident_id)?;
        check("incident event", &e.id, "kind", &e.kind)?;
        check("incident event", &e.id, "doc", &e.doc)?;
    }
    for o in &batch.overrides {
        if let OverrideChange::Set(r) = o {
            check("override", r.component_id.as_str(), "doc", &r.doc)?;
        }
    }
    for h in &batch.held_alerts {
        match h {
            HeldAlertChange::Upsert(r) => {
                check("held alert", &r.key, "key", &r.key)?;
                check("held alert", &r.key, "doc", &r.doc)?;
            }
            HeldAlertChange::Remove(key) => check("held alert", key, "key", key)?,
        }
    }
    for s in &batch.subscribers {
        match s {
            SubscriberChange::Upsert(r) => {
                check("subscriber", &r.id, "id", &r.id)?;
                check("subscriber", &r.id, "address", &r.address)?;
                check("subscriber", &r.id, "doc", &r.doc)?;
            }
            SubscriberChange::Remove(id) => check("subscriber", id, "id", id)?,
        }
    }
    for o in &batch.outbox {
        check("delivery", &o.id, "id", &o.id)?;
        check("delivery", &o.id, "destination", &o.destination)?;
        check("delivery", &o.id, "event_kind", &o.event_kind)?;
        check("delivery", &o.id, "payload id", &o.payload.id)?;
    }
    for (p, _) in distinct_payloads(&batch.outbox) {
        check("payload", &p.id, "body", &p.body)?;
    }
    for record in &batch.audit {
        check_audit(record)?;
    }
    Ok(())
}

/// The payloads `outbox` names, each once (the first delivery naming an id gives its body),
/// with the earliest `created_at` of the deliveries carrying it.
fn distinct_payloads(outbox: &[OutboxRecord]) -> Vec<(&OutboxPayload, DateTime<Utc>)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&OutboxPayload, DateTime<Utc>)> = Vec::new();
    for o in outbox {
        match seen.get(o.payload.id.as_str()) {
            Some(&i) => out[i].1 = out[i].1.min(o.created_at),
            None => {
                seen.insert(o.payload.id.as_str(), out.len());
                out.push((&o.payload, o.created_at));
            }
        }
    }
    out
}
