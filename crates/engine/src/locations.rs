//! The probes' side of locations (SPEC §7): which probes of each location are alive, what
//! each is assigned, the batches already counted, and the figures `GET /api/v1/locations`
//! shows. Shared between the HTTP handlers (which authenticate probes and hand their
//! results on) and the pipeline (which hears when a location goes offline or comes back).
//!
//! Several probes of one location share its monitors: each live instance takes every n-th
//! monitor, and a probe joining or leaving changes the assignment, which waiting probes hear
//! at once. A location's votes are the location's, not the instance's, so a monitor handed
//! from one instance to another never votes twice.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_domain::location::LocationDef;
use pharos_domain::{LocationId, MonitorId, MonitorSpec};
use pharos_wire::probe::{RefusedResult, ResultBatch};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::stored::{Input, Receipt};

/// Batch keys remembered per location, so a retried batch is never counted twice: at one
/// batch a second this covers more than an hour of retries.
const REMEMBERED_KEYS: usize = 4_096;
/// A probe's clock further off than this is named in the log and in the listing (its
/// results are corrected either way).
pub const CLOCK_WARNING: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// The window results per second are measured over.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Problems remembered per location for the listing.
const PROBLEMS_KEPT: usize = 5;

/// Why a probe's request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeRefusal {
    /// An unknown location, or a token that is not one of its own: the same answer for both,
    /// so nobody learns which locations exist.
    #[error("this token is not accepted for that location")]
    Unauthorized,
    /// More results in one batch than [`pharos_wire::probe::MAX_BATCH`].
    #[error("a batch holds at most {max} results, found {found}")]
    TooLarge {
        /// The limit.
        max: usize,
        /// What was sent.
        found: usize,
    },
    /// The engine cannot take results now; retry with the same key.
    #[error("Pharos cannot take results right now; retry later")]
    Busy,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutcome {
    /// Results handed to the engine.
    pub accepted: usize,
    /// The batch had been counted before.
    pub duplicate: bool,
    /// Results not counted, with why.
    pub refused: Vec<RefusedResult>,
    /// How far the probe's clock is ahead of ours, in milliseconds.
    pub clock_offset_ms: i64,
}

/// A location's probes went offline or came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineChange {
    /// Which.
    pub location: LocationId,
    /// Its name.
    pub name: String,
    /// Online now.
    pub online: bool,
    /// Online again after having been offline (not merely heard from the first time).
    pub was_offline: bool,
    /// When its probes were last heard from.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Monitors checked there.
    pub monitors: usize,
}

/// One location as `GET /api/v1/locations` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocationListing {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether a probe was heard from within its `offline_after`.
    pub online: bool,
    /// When a probe was last heard from.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The last probe's version.
    pub version: Option<String>,
    /// Live probe instances.
    pub probes: Vec<String>,
    /// Monitors checked from here.
    pub monitors: usize,
    /// Results received per second over the last minute.
    pub results_per_second: f64,
    /// Results and batches refused since start (not assigned here, replayed, malformed).
    pub refused: u64,
    /// How far the last batch's clock was from the server's, in milliseconds.
    pub clock_offset_ms: Option<i64>,
    /// Recent problems, newest last: "result for monitor `x`, which is not checked from
    /// here", "clock 93 s ahead, corrected", "wrong token".
    pub problems: Vec<Problem>,
}

/// A problem with a location's probes, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub message: String,
}

struct Instance {
    last_seen: Instant,
}

struct Entry {
    def: LocationDef,
    /// SHA-256 of each token: compared digest to digest, so the comparison's timing says
    /// nothing about a token (finding a prefix of a digest reveals no prefix of a token).
    token_digests: Vec<[u8; 32]>,
    /// The monitors checked here, in configuration order.
    monitors: Vec<Arc<MonitorSpec>>,
    /// Each monitor's digest of its whole definition, in the same order, made once: an
    /// assignment's version is made of them (at 10,000 monitors, serializing them at every
    /// long poll took 80 ms under the lock results wait for).
    digests: Vec<[u8; 32]>,
    instances: BTreeMap<String, Instance>,
    last_seen: Option<Instant>,
    last_seen_at: Option<DateTime<Utc>>,
    version: Option<String>,
    /// Online as last reported to the pipeline.
    reported_online: bool,
    results: VecDeque<(Instant, usize)>,
    /// When this server first took a batch from here: the rate is over the last minute, or
    /// over the time since then when that is shorter, so a new probe's rate is not a
    /// sixtieth of what it sends.
    counting_since: Option<Instant>,
    keys: VecDeque<String>,
    key_set: HashSet<String>,
    refused: u64,
    clock_offset_ms: Option<i64>,
    problems: VecDeque<Problem>,
    /// Bumped when the assignment of any instance changes.
    generation: u64,
    /// Whether it has been offline since it was first heard from: coming back is then news.
    was_offline: bool,
}

impl Entry {
    fn problem(&mut self, message: String) {
        tracing::warn!(location = %self.def.id, "{message}");
        if self.problems.len() == PROBLEMS_KEPT {
            self.problems.pop_front();
        }
        self.problems.push_back(Problem {
            at: crate::clock::now(),
            message,
        });
    }

    fn online(&self, now: Instant) -> bool {
        self.last_seen
            .is_some_and(|t| now.saturating_duration_since(t) <= self.def.offline_after)
    }

    /// Forgets instances not heard from within `offline_after`; whether any was.
    fn drop_silent(&mut self, now: Instant) -> bool {
        let before = self.instances.len();
        let limit = self.def.offline_after;
        self.instances
            .retain(|_, i| now.saturating_duration_since(i.last_seen) <= limit);
        before != self.instances.len()
    }

    /// The monitors `instance` runs: every n-th of the location's, by its rank among the
    /// live instances.
    fn assigned(&self, instance: &str) -> (Vec<Arc<MonitorSpec>>, Vec<&[u8; 32]>) {
        let n = self.instances.len().max(1);
        let rank = self
            .instances
            .keys()
            .position(|k| k == instance)
            .unwrap_or(0);
        self.monitors
            .iter()
            .zip(&self.digests)
            .enumerate()
            .filter(|(i, _)| i % n == rank)
            .map(|(_, (m, d))| (m.clone(), d))
            .unzip()
    }
}

/// The locations and their probes.
pub struct Registry {
    entries: Mutex<BTreeMap<LocationId, Entry>>,
    /// The locations in configuration order, for the listing.
    order: Vec<LocationId>,
    changed: watch::Sender<u64>,
    /// Where results go: the pipeline.
    results: tokio::sync::mpsc::Sender<Input>,
    /// The last write committed, which settles a batch's [`Receipt`].
    committed: watch::Receiver<u64>,
}

impl Registry {
    /// The registry of `locations`, with the monitors checked at each; results are handed
    /// to `results`, and a batch is stored once `committed` reaches the write carrying it.
    pub(crate) fn new(
        locations: &[LocationDef],
        monitors: &[Arc<MonitorSpec>],
        results: tokio::sync::mpsc::Sender<Input>,
        committed: watch::Receiver<u64>,
    ) -> Registry {
        let entries = locations
            .iter()
            .map(|def| {
                let monitors: Vec<Arc<MonitorSpec>> = monitors
                    .iter()
                    .filter(|m| m.placement.includes(&def.id))
                    .cloned()
                    .collect();
                let digests = monitors
                    .iter()
                    .map(|m| Sha256::digest(m.wire_json().to_string().as_bytes()).into())
                    .collect();
                let entry = Entry {
                    digests,
                    token_digests: def.tokens.iter().map(|t| digest(t.expose())).collect(),
                    def: def.clone(),
                    monitors,
                    instances: BTreeMap::new(),
                    last_seen: None,
                    last_seen_at: None,
                    version: None,
                    reported_online: false,
                    results: VecDeque::new(),
                    counting_since: None,
                    keys: VecDeque::new(),
                    key_set: HashSet::new(),
                    refused: 0,
                    clock_offset_ms: None,
                    problems: VecDeque::new(),
                    generation: 0,
                    was_offline: false,
                };
                (def.id.clone(), entry)
            })
            .collect();
        Registry {
            entries: Mutex::new(entries),
            order: locations.iter().map(|l| l.id.clone()).collect(),
            changed: watch::channel(0).0,
            results,
            committed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<LocationId, Entry>> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a probe's token for `location` and notes that `instance` is alive. Every
    /// failure is the same [`ProbeRefusal::Unauthorized`]; a wrong token for a known
    /// location is named in its problems.
    pub fn authenticate(
        &self,
        location: &str,
        token: &str,
        instance: &str,
    ) -> Result<LocationId, ProbeRefusal> {
        let presented = digest(token);
        let mut entries = self.lock();
        let Some(entry) = LocationId::new(location)
            .ok()
            .and_then(|id| entries.get_mut(&id))
        else {
            tracing::warn!(location, "a probe asked for an unknown location; refused");
            return Err(ProbeRefusal::Unauthorized);
        };
        if !entry.token_digests.contains(&presented) {
            entry.refused += 1;
            entry.problem("a probe presented a wrong or revoked token; refused".to_owned());
            return Err(ProbeRefusal::Unauthorized);
        }
        let now = Instant::now();
        entry.last_seen = Some(now);
        entry.last_seen_at = Some(crate::clock::now());
        let instance = instance.chars().take(64).collect::<String>();
        let joined = !entry.instances.contains_key(&instance);
        entry
            .instances
            .insert(instance.clone(), Instance { last_seen: now });
        let left = entry.drop_silent(now);
        let id = entry.def.id.clone();
        if joined || left {
            entry.generation += 1;
            if joined {
                tracing::info!(location = %id, probe = %instance, probes = entry.instances.len(), "probe joined");
            }
            drop(entries);
            self.changed.send_modify(|g| *g += 1);
        }
        Ok(id)
    }

    /// What `instance` of `location` runs now, and the version that names it.
    pub fn assignment(
        &self,
        location: &LocationId,
        instance: &str,
    ) -> (String, Vec<Arc<MonitorSpec>>) {
        let entries = self.lock();
        let Some(entry) = entries.get(location) else {
            return (String::new(), Vec::new());
        };
        let (monitors, digests) = entry.assigned(instance);
        let mut h = Sha256::new();
        for d in digests {
            h.update(d);
        }
        // The engine's start is part of the version, so a restarted server's probes fetch
        // again even when the list reads the same.
        h.update(START.get_or_init(crate::clock::now).to_rfc3339().as_bytes());
        let version: String = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (version, monitors)
    }

    /// Waits until the assignments may have changed, or `limit` passes.
    pub async fn wait_for_change(&self, limit: Duration) {
        let mut rx = self.changed.subscribe();
        let _ = tokio::time::timeout(limit, rx.changed()).await;
    }

    /// Counts a batch from `location`: a key seen before counts nothing; results for
    /// monitors not checked here are refused and named; times are corrected by how far the
    /// probe's clock is off; the rest go to the engine, in order.
    /// Takes a probe's batch: its results go to the pipeline, followed by a marker whose
    /// [`Receipt`] says when they are stored; the probe is answered only then, so a batch it
    /// saw acknowledged is never lost with this node. A batch seen before is not counted
    /// again, but its answer still waits for a marker sent now, which stands behind the
    /// first copy's results.
    pub fn accept(
        &self,
        location: &LocationId,
        batch: ResultBatch,
    ) -> Result<(BatchOutcome, Receipt), ProbeRefusal> {
        let max = pharos_wire::probe::MAX_BATCH;
        if batch.results.len() > max {
            return Err(ProbeRefusal::TooLarge {
                max,
                found: batch.results.len(),
            });
        }
        let now = crate::clock::now();
        let offset = batch.sent_at - now;
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(location) else {
            return Err(ProbeRefusal::Unauthorized);
        };
        entry.version = Some(batch.version.chars().take(32).collect());
        entry.clock_offset_ms = Some(offset.num_milliseconds());
        if entry.key_set.contains(&batch.key) {
            entry.refused += 1;
            entry.problem(format!(
                "batch `{}` arrived again; it was counted once already",
                batch.key.chars().take(80).collect::<String>()
            ));
            let permit = self.results.try_reserve().map_err(|_| ProbeRefusal::Busy)?;
            let (marker, answer) = oneshot::channel();
            permit.send(Input::Marker(marker));
            let outcome = BatchOutcome {
                accepted: 0,
                duplicate: true,
                refused: Vec::new(),
                clock_offset_ms: offset.num_milliseconds(),
            };
            return Ok((outcome, Receipt::new(answer, self.committed.clone())));
        }
        if offset.abs() > CLOCK_WARNING {
            entry.problem(format!(
                "the probe's clock is {} s {}; its results' times are corrected",
                offset.num_seconds().abs(),
                if offset > chrono::TimeDelta::zero() {
                    "ahead"
                } else {
                    "behind"
                }
            ));
        }
        let assigned: HashSet<&MonitorId> = entry.monitors.iter().map(|m| &m.id).collect();
        let mut refused = Vec::new();
        let mut good = Vec::with_capacity(batch.results.len());
        for mut r in batch.results {
            if !assigned.contains(&r.monitor_id) {
                refused.push(RefusedResult {
                    monitor_id: r.monitor_id.to_string(),
                    reason: "this monitor is not checked from this location".to_owned(),
                });
                continue;
            }
            r.location = location.clone();
            // Never in the future: a probe's clock is trusted only as far as the gap
            // between its results.
            r.started_at = (r.started_at - offset).min(now);
            good.push(r);
        }
        if !refused.is_empty() {
            entry.refused += refused.len() as u64;
            let names: Vec<&str> = refused
                .iter()
                .map(|r| r.monitor_id.as_str())
                .take(5)
                .collect();
            entry.problem(format!(
                "{} result(s) for monitors not checked from here refused: {}",
                refused.len(),
                names.join(", ")
            ));
        }
        // Reserve room for every result and the marker first: a batch is taken whole or not
        // at all, so a retry never counts half of it twice.
        let mut permits = match self.results.try_reserve_many(good.len() + 1) {
            Ok(p) => p,
            Err(_) => return Err(ProbeRefusal::Busy),
        };
        let accepted = good.len();
        for r in good {
            if let Some(permit) = permits.next() {
                permit.send(Input::Result(r));
            }
        }
        let (marker, answer) = oneshot::channel();
        if let Some(permit) = permits.next() {
            permit.send(Input::Marker(marker));
        }
        entry.keys.push_back(batch.key.clone());
        entry.key_set.insert(batch.key);
        if entry.keys.len() > REMEMBERED_KEYS {
            if let Some(old) = entry.keys.pop_front() {
                entry.key_set.remove(&old);
            }
        }
        let t = Instant::now();
        entry.counting_since.get_or_insert(t);
        entry.results.push_back((t, accepted));
        while entry
            .results
            .front()
            .is_some_and(|(at, _)| t.saturating_duration_since(*at) > RATE_WINDOW)
        {
            entry.results.pop_front();
        }
        let outcome = BatchOutcome {
            accepted,
            duplicate: false,
            refused,
            clock_offset_ms: offset.num_milliseconds(),
        };
        Ok((outcome, Receipt::new(answer, self.committed.clone())))
    }

    /// Locations whose online state changed since last asked: the pipeline turns their
    /// votes unknown (or back) and tells responders.
    pub fn online_changes(&self) -> Vec<OnlineChange> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut reassigned = false;
        for entry in self.lock().values_mut() {
            if entry.drop_silent(now) {
                entry.generation += 1;
                reassigned = true;
            }
            let online = entry.online(now);
            if online != entry.reported_online {
                entry.reported_online = online;
                out.push(OnlineChange {
                    location: entry.def.id.clone(),
                    name: entry.def.name.clone(),
                    online,
                    was_offline: online && entry.was_offline,
                    last_seen_at: entry.last_seen_at,
                    monitors: entry.monitors.len(),
                });
                if !online {
                    entry.was_offline = true;
                }
            }
        }
        if reassigned {
            self.changed.send_modify(|g| *g += 1);
        }
        out
    }

    /// Every location, for `GET /api/v1/locations`.
    pub fn listing(&self) -> Vec<LocationListing> {
        let now = Instant::now();
        let entries = self.lock();
        self.order
            .iter()
            .filter_map(|id| entries.get(id))
            .map(|e| {
                let recent: usize = e
                    .results
                    .iter()
                    .filter(|(at, _)| now.saturating_duration_since(*at) <= RATE_WINDOW)
                    .map(|(_, n)| n)
                    .sum();
                LocationListing {
                    id: e.def.id.to_string(),
                    name: e.def.name.clone(),
                    online: e.online(now),
                    last_seen_at: e.last_seen_at,
                    version: e.version.clone(),
                    probes: e
                        .instances
                        .iter()
                        .filter(|(_, i)| {
                            now.saturating_duration_since(i.last_seen) <= e.def.offline_after
                        })
                        .map(|(k, _)| k.clone())
                        .collect(),
                    monitors: e.monitors.len(),
                    results_per_second: recent as f64
                        / e.counting_since
                            .map_or(RATE_WINDOW, |since| {
                                now.saturating_duration_since(since)
                                    .clamp(Duration::from_secs(1), RATE_WINDOW)
                            })
                            .as_secs_f64(),
                    refused: e.refused,
                    clock_offset_ms: e.clock_offset_ms,
                    problems: e.problems.iter().cloned().collect(),
                }
            })
            .collect()
    }

    /// Display names of the locations, `local` included.
    pub fn names(&self) -> HashMap<LocationId, String> {
        self.lock()
            .values()
            .map(|e| (e.def.id.clone(), e.def.name.clone()))
            .collect()
    }
}

static START: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
