//! The engine's in-memory model of everything live: monitor states, component statuses and
//! their recent timelines. Applying a check result here is pure (no I/O, `now` passed in); it
//! reports what must be written, and the view is built from it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use pharos_domain::location::LOCAL_NAME;
use pharos_domain::monitor::contribution;
use pharos_domain::uptime::{self, StatusChange};
use pharos_domain::{
    CheckResult, ComponentId, ComponentStatus, ComponentTransition, Health, LocationId, MonitorId,
    MonitorSpec, MonitorState, Thresholds, Transition,
};

mod places;

use places::Places;
pub use places::{FailureReach, ReachChange};

use crate::catalog::CatalogEntry;
use crate::view::{ComponentView, MonitorView, PageInfo, StatusView};

/// Days of uptime history shown on the page.
pub const UPTIME_DAYS: u32 = 90;

/// What applying one result changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// The monitor's health transition, if any.
    pub transition: Option<Transition>,
    /// Component status changes it caused.
    pub component_changes: Vec<ComponentTransition>,
    /// Whether the monitor started or stopped flapping.
    pub flap: Option<Flap>,
    /// For a monitor checked from several locations: where it fails changed. The desk acts
    /// on this rather than on `transition` for such a monitor.
    pub reach: Option<ReachChange>,
    /// For a monitor checked from several locations: some location's say changed (up,
    /// down, unknown), which the view shows even when the monitor's health did not change.
    pub votes_changed: bool,
}

/// A monitor starting or stopping to flap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flap {
    /// It changed state `changes` times within its flap window.
    Started {
        /// Changes into or out of down counted in the window.
        changes: usize,
    },
    /// A whole window passed without a change: its status shows its health again.
    Ended,
}

/// What besides a monitor may ask a component to show a status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Contributor {
    /// A firing alert, by its dedup key.
    Alert(String),
    /// A change judged suspect (a release regression), by the change's id.
    Regression(String),
}

struct ComponentSlot {
    entry: CatalogEntry,
    position: u32,
    status: ComponentStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    timeline: Vec<StatusChange>,
    drivers: Vec<usize>,
    /// A person's (or an incident's) status, shown instead of what the monitors say.
    override_status: Option<ComponentStatus>,
    /// How many active maintenance windows cover it; any → `under_maintenance`.
    maintenances: u32,
    /// What besides its monitors asks it to show a status (firing alerts, suspect changes);
    /// they count like its monitors: the worst of them all is shown.
    contributions: BTreeMap<Contributor, ComponentStatus>,
}

struct MonitorSlot {
    spec: Arc<MonitorSpec>,
    state: MonitorState,
    /// When the current streak of failing checks began (not persisted: after a restart the
    /// last check time stands in for it).
    failing_since: Option<DateTime<Utc>>,
    /// When the monitor recently went down or came back from down, oldest first, for flap
    /// detection (not persisted: a restart starts counting afresh).
    changes: VecDeque<DateTime<Utc>>,
    /// Set while the monitor is flapping: its components are held at its failure status.
    flapping_since: Option<DateTime<Utc>>,
    /// For a monitor checked from more than the server alone: each location's own state
    /// (not persisted: after a restart each location starts from the monitor's stored
    /// health). `None` for a local-only monitor, whose `state` is its checks' own.
    places: Option<Places>,
    /// Whether it fails somewhere short of its quorum: its components show its
    /// `on_regional_failure`.
    regional: bool,
}

impl MonitorSlot {
    /// Counts changes into or out of down over the monitor's flap window: reaching the
    /// threshold starts flapping; a whole window without a change ends it.
    fn watch_flapping(
        &mut self,
        transition: Option<Transition>,
        at: DateTime<Utc>,
    ) -> Option<Flap> {
        let rules = self.spec.quiet;
        if rules.flap_threshold == 0 {
            return None;
        }
        let window = ChronoDuration::from_std(rules.flap_window).unwrap_or(ChronoDuration::MAX);
        if let Some(t) = transition {
            if t.from == pharos_domain::Health::Down || t.to == pharos_domain::Health::Down {
                self.changes.push_back(t.at);
            }
        }
        while self.changes.front().is_some_and(|&c| c <= at - window) {
            self.changes.pop_front();
        }
        let count = self.changes.len();
        match self.flapping_since {
            None if count >= rules.flap_threshold as usize => {
                self.flapping_since = Some(at);
                Some(Flap::Started { changes: count })
            }
            Some(_) if count == 0 => {
                self.flapping_since = None;
                Some(Flap::Ended)
            }
            _ => None,
        }
    }
}

/// One location's view of a monitor checked from several (part of the published view, so it
/// has a JSON form for the followers of a cluster).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocationState {
    /// Where.
    pub location: LocationId,
    /// Its confirmed health there; `Unknown` while it has no fresh say.
    pub health: Health,
    /// When its last result there was taken.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why its last check there failed, if it did.
    pub last_error: Option<String>,
    /// How long its last check there took, in milliseconds: the response time from there.
    /// (Absent from views published by an older leader.)
    #[serde(default)]
    pub last_duration_ms: Option<u64>,
    /// Whether the location's probes are online.
    pub online: bool,
    /// The location's display name.
    pub name: String,
}

/// Stored facts about a component, as loaded at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentHistory {
    /// Last persisted status.
    pub status: ComponentStatus,
    /// When it was first configured.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// Status changes over the uptime window, oldest first.
    pub timeline: Vec<StatusChange>,
}

/// Everything live.
pub struct World {
    page: PageInfo,
    components: Vec<ComponentSlot>,
    component_index: HashMap<ComponentId, usize>,
    monitors: Vec<MonitorSlot>,
    monitor_index: HashMap<MonitorId, usize>,
    /// Display names of the locations, for saying where a monitor fails.
    location_names: HashMap<LocationId, String>,
}

impl World {
    /// Builds the world from the catalog, the monitor specs, what storage remembers about
    /// each component (missing entries start operational at `now`) and each monitor's state.
    pub fn new(
        page: PageInfo,
        catalog: Vec<CatalogEntry>,
        specs: Vec<Arc<MonitorSpec>>,
        mut histories: HashMap<ComponentId, ComponentHistory>,
        mut states: HashMap<MonitorId, MonitorState>,
        now: DateTime<Utc>,
    ) -> World {
        let components: Vec<ComponentSlot> = catalog
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let h = histories.remove(&entry.id).unwrap_or(ComponentHistory {
                    status: ComponentStatus::Operational,
                    created_at: now,
                    updated_at: now,
                    timeline: vec![StatusChange {
                        at: now,
                        status: ComponentStatus::Operational,
                    }],
                });
                ComponentSlot {
                    entry,
                    position: u32::try_from(i).unwrap_or(u32::MAX),
                    status: h.status,
                    created_at: h.created_at,
                    updated_at: h.updated_at,
                    timeline: h.timeline,
                    drivers: Vec::new(),
                    override_status: None,
                    maintenances: 0,
                    contributions: BTreeMap::new(),
                }
            })
            .collect();
        let component_index: HashMap<ComponentId, usize> = components
            .iter()
            .enumerate()
            .map(|(i, c)| (c.entry.id.clone(), i))
            .collect();
        let monitors: Vec<MonitorSlot> = specs
            .into_iter()
            .map(|spec| {
                let state = states.remove(&spec.id).unwrap_or_default();
                let failing_since = (state.down_streak > 0)
                    .then_some(state.last_check_at)
                    .flatten();
                let places = (!spec.placement.is_local_only())
                    .then(|| Places::new(&spec.placement, &state, spec.interval, spec.timeout));
                MonitorSlot {
                    state,
                    spec,
                    failing_since,
                    changes: VecDeque::new(),
                    flapping_since: None,
                    places,
                    regional: false,
                }
            })
            .collect();
        let monitor_index = monitors
            .iter()
            .enumerate()
            .map(|(i, m)| (m.spec.id.clone(), i))
            .collect();
        let mut world = World {
            page,
            components,
            component_index,
            monitors,
            monitor_index,
            location_names: HashMap::new(),
        };
        for (mi, m) in world.monitors.iter().enumerate() {
            for cid in &m.spec.components {
                if let Some(&ci) = world.component_index.get(cid) {
                    world.components[ci].drivers.push(mi);
                }
            }
        }
        world
    }

    /// Re-derives every component's status from its monitors (after a configuration change
    /// while Pharos was stopped, the stored status may be stale) and returns the changes.
    pub fn rederive_all(&mut self, now: DateTime<Utc>) -> Vec<ComponentTransition> {
        (0..self.components.len())
            .filter_map(|ci| self.rederive(ci, now))
            .collect()
    }

    /// Names the locations (`[[locations]]`), for saying where a monitor fails; `local` is
    /// named [`LOCAL_NAME`] unless given.
    pub fn name_locations(&mut self, names: impl IntoIterator<Item = (LocationId, String)>) {
        self.location_names = names.into_iter().collect();
    }

    /// A location's display name (its id when it has none).
    pub fn location_name(&self, id: &LocationId) -> String {
        match self.location_names.get(id) {
            Some(name) => name.clone(),
            None if id.is_local() => LOCAL_NAME.to_owned(),
            None => id.to_string(),
        }
    }

    /// Applies one judged check result.
    pub fn apply(&mut self, result: &CheckResult) -> Applied {
        let Some(&mi) = self.monitor_index.get(&result.monitor_id) else {
            return Applied::default();
        };
        if self.monitors[mi].places.is_some() {
            return self.apply_at_location(mi, result);
        }
        let slot = &mut self.monitors[mi];
        let thresholds = Thresholds {
            failure: slot.spec.failure_threshold,
            success: slot.spec.success_threshold,
        };
        let (state, transition) = slot.state.step(
            result.outcome,
            result.error.as_deref(),
            thresholds,
            result.started_at,
        );
        slot.state = state;
        if result.outcome == pharos_domain::CheckOutcome::Down {
            slot.failing_since.get_or_insert(result.started_at);
        } else {
            slot.failing_since = None;
        }
        let flap = slot.watch_flapping(transition, result.started_at);
        let mut applied = Applied {
            transition,
            component_changes: Vec::new(),
            flap,
            reach: None,
            votes_changed: false,
        };
        if transition.is_some() || flap.is_some() {
            applied.component_changes = self.rederive_driven(mi, result.started_at);
        }
        applied
    }

    /// Re-derives the components monitor `mi` drives and returns their changes.
    fn rederive_driven(&mut self, mi: usize, at: DateTime<Utc>) -> Vec<ComponentTransition> {
        let targets: Vec<usize> = self.monitors[mi]
            .spec
            .components
            .iter()
            .filter_map(|cid| self.component_index.get(cid).copied())
            .collect();
        targets
            .into_iter()
            .filter_map(|ci| self.rederive(ci, at))
            .collect()
    }

    /// Applies a result of a monitor checked from several locations: it counts at its
    /// location, then the locations' votes decide the monitor's health and reach.
    fn apply_at_location(&mut self, mi: usize, result: &CheckResult) -> Applied {
        let slot = &mut self.monitors[mi];
        let thresholds = Thresholds {
            failure: slot.spec.failure_threshold,
            success: slot.spec.success_threshold,
        };
        let Some(places) = slot.places.as_mut() else {
            return Applied::default();
        };
        if !places.record(result, thresholds) {
            return Applied::default();
        }
        let state = &mut slot.state;
        state.last_check_at = Some(
            state
                .last_check_at
                .map_or(result.started_at, |t| t.max(result.started_at)),
        );
        state.last_outcome = Some(result.outcome);
        if let Some(error) = &result.error {
            let name = self
                .location_names
                .get(&result.location)
                .cloned()
                .unwrap_or_else(|| {
                    if result.location.is_local() {
                        LOCAL_NAME.to_owned()
                    } else {
                        result.location.to_string()
                    }
                });
            state.last_error = Some(format!("{name}: {error}"));
        }
        self.rejudge(mi, result.started_at)
    }

    /// Asks monitor `mi`'s locations again at `at` (after a result, a location going
    /// offline or a result growing stale) and applies what they say.
    fn rejudge(&mut self, mi: usize, at: DateTime<Utc>) -> Applied {
        let slot = &mut self.monitors[mi];
        let Some(places) = slot.places.as_mut() else {
            return Applied::default();
        };
        let verdict = places.judge(at);
        let mut reach = FailureReach::of(&verdict);
        // Failing at places not yet known (restored from storage): it is over only once
        // every place has had its say. A place whose checks fail again since the restart,
        // short of its threshold, has not said it passes: each place starts from the
        // monitor's stored health (up), so without this its first failure would end the
        // incident and its next one open it again.
        let assumed = places.reach == FailureReach::Regional && places.failing.is_empty();
        if assumed
            && reach == FailureReach::Clear
            && (!verdict.unknown.is_empty() || places.failing_unconfirmed(at))
        {
            reach = FailureReach::Regional;
        }
        // Where it fails was not known (restored from storage): finding out is no news.
        let learned = assumed && reach == FailureReach::Regional;
        let reach_change = (reach != places.reach
            || (reach != FailureReach::Clear && verdict.failing != places.failing && !learned))
            .then(|| ReachChange {
                from: places.reach,
                to: reach,
                verdict: verdict.clone(),
            });
        let votes = (
            verdict.failing.clone(),
            verdict.passing.clone(),
            verdict.unknown.clone(),
        );
        let votes_changed = places.votes != votes;
        places.votes = votes;
        places.reach = reach;
        places.failing = verdict.failing.clone();
        slot.failing_since = places.failing_since(&verdict.failing);
        let state = &mut slot.state;
        state.down_streak = places.down_streak(&verdict.failing);
        if verdict.failing.is_empty() && verdict.health != Health::Unknown {
            state.last_error = None;
        }
        // Nobody has a fresh say: nothing is known that was not before.
        let health = if verdict.health == Health::Unknown {
            state.health
        } else {
            verdict.health
        };
        let transition = (health != state.health).then_some(Transition {
            from: state.health,
            to: health,
            at,
        });
        if transition.is_some() {
            state.health = health;
            state.since = Some(at);
        }
        // The components show the regional status while the failure is regional, also when
        // that is assumed (restored from storage, where not yet known), not only while the
        // votes say where: else they would read operational while its incident is open.
        let regional = reach == FailureReach::Regional;
        let regional_changed = slot.regional != regional;
        slot.regional = regional;
        let flap = slot.watch_flapping(transition, at);
        let mut applied = Applied {
            transition,
            component_changes: Vec::new(),
            flap,
            reach: reach_change,
            votes_changed,
        };
        if transition.is_some() || flap.is_some() || regional_changed {
            applied.component_changes = self.rederive_driven(mi, at);
        }
        applied
    }

    /// Takes a monitor checked from several locations, restored from storage while an
    /// incident holds it failing but not down, as failing regionally at places not yet known:
    /// the first verdict that finds it failing nowhere ends that incident, and one that finds
    /// where is no news. Until then its components show its `on_regional_failure`, as they
    /// did before the restart (re-derived by the caller).
    pub fn assume_regional(&mut self, id: &MonitorId) {
        let Some(&mi) = self.monitor_index.get(id) else {
            return;
        };
        let slot = &mut self.monitors[mi];
        if let Some(places) = slot.places.as_mut() {
            if slot.state.health != Health::Down {
                places.reach = FailureReach::Regional;
                // Each place's state is not stored, so no verdict says "regional" yet: without
                // this the start's re-derivation would show the components operational while
                // the incident is open.
                slot.regional = true;
            }
        }
    }

    /// Where a monitor checked from several locations fails, in words ("failing from …;
    /// … sees it up"), while it fails at some of them, short of its quorum, as its
    /// locations last said; `None` for any other monitor (checked by the server alone,
    /// failing nowhere, down, or failing at places not yet known after a restart).
    pub fn regional_words(&self, id: &MonitorId) -> Option<String> {
        let &mi = self.monitor_index.get(id)?;
        let places = self.monitors[mi].places.as_ref()?;
        if places.reach != FailureReach::Regional || places.failing.is_empty() {
            return None;
        }
        let (failing, passing, unknown) = places.votes.clone();
        let verdict = pharos_domain::location::Verdict {
            health: self.monitors[mi].state.health,
            regional: true,
            failing,
            passing,
            unknown,
        };
        Some(verdict.where_words(|l| self.location_name(l)))
    }

    /// Marks a location's probes online or offline at `now`: offline, its votes turn
    /// unknown. Returns what that changed, per monitor checked there.
    pub fn set_location_online(
        &mut self,
        location: &LocationId,
        online: bool,
        now: DateTime<Utc>,
    ) -> Vec<(MonitorId, Applied)> {
        let touched: Vec<usize> = (0..self.monitors.len())
            .filter(|&mi| {
                self.monitors[mi]
                    .places
                    .as_mut()
                    .is_some_and(|p| p.set_online(location, online))
            })
            .collect();
        self.rejudge_each(touched, now)
    }

    /// Asks again every monitor whose location's last result grew stale since `last`
    /// (a probe that stopped checking one monitor while still online). Returns what that
    /// changed, per monitor.
    pub fn expire_votes(
        &mut self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(MonitorId, Applied)> {
        let stale: Vec<usize> = (0..self.monitors.len())
            .filter(|&mi| {
                self.monitors[mi]
                    .places
                    .as_ref()
                    .is_some_and(|p| p.any_went_stale(last, now))
            })
            .collect();
        self.rejudge_each(stale, now)
    }

    /// Asks the monitors in slots `which` again at `now`; what changed, per monitor.
    fn rejudge_each(&mut self, which: Vec<usize>, now: DateTime<Utc>) -> Vec<(MonitorId, Applied)> {
        which
            .into_iter()
            .map(|mi| (self.monitors[mi].spec.id.clone(), self.rejudge(mi, now)))
            .filter(|(_, a)| *a != Applied::default())
            .collect()
    }

    /// Each location's own state of a monitor checked from several, in its `locations`
    /// order, with when it last reported and whether its say counts; empty for a
    /// local-only monitor.
    pub fn location_states(&self, id: &MonitorId) -> Vec<LocationState> {
        let Some(&mi) = self.monitor_index.get(id) else {
            return Vec::new();
        };
        let Some(places) = &self.monitors[mi].places else {
            return Vec::new();
        };
        self.place_states(places, crate::clock::now())
    }

    /// Monitor `id` as it is now, read live rather than from the last published view (which
    /// is rebuilt only when something visible changes, or every minute).
    pub fn monitor_view(&self, id: &MonitorId, now: DateTime<Utc>) -> Option<MonitorView> {
        let &mi = self.monitor_index.get(id)?;
        Some(self.monitor_view_at(&self.monitors[mi], now))
    }

    fn monitor_view_at(&self, m: &MonitorSlot, now: DateTime<Utc>) -> MonitorView {
        MonitorView {
            id: m.spec.id.clone(),
            type_name: m.spec.type_name(),
            health: m.state.health,
            last_check_at: m.state.last_check_at,
            last_error: m.state.last_error.clone(),
            components: m.spec.components.clone(),
            flapping_since: m.flapping_since,
            locations: m
                .places
                .as_ref()
                .map(|p| self.place_states(p, now))
                .unwrap_or_default(),
        }
    }

    fn place_states(&self, places: &Places, now: DateTime<Utc>) -> Vec<LocationState> {
        let verdict = places.judge(now);
        places
            .at
            .iter()
            .map(|p| LocationState {
                location: p.location.clone(),
                health: if verdict.unknown.contains(&p.location) {
                    Health::Unknown
                } else {
                    p.state.health
                },
                last_check_at: p.last_at,
                last_error: p.state.last_error.clone(),
                last_duration_ms: p.last_duration_ms,
                online: p.online,
                name: self.location_name(&p.location),
            })
            .collect()
    }

    /// Whether the monitor is flapping (changing state too often to be reported change by
    /// change).
    pub fn is_flapping(&self, id: &MonitorId) -> bool {
        self.monitor_index
            .get(id)
            .is_some_and(|&i| self.monitors[i].flapping_since.is_some())
    }

    /// The monitor's own health at `location`, for a monitor checked from several; `None`
    /// for one checked by the server alone or not from there.
    pub fn location_health(&self, id: &MonitorId, location: &LocationId) -> Option<Health> {
        let &mi = self.monitor_index.get(id)?;
        let places = self.monitors[mi].places.as_ref()?;
        places
            .at
            .iter()
            .find(|p| &p.location == location)
            .map(|p| p.state.health)
    }

    /// The names of the locations where any of `drivers` (monitor slots) fails, in the
    /// order the monitors list them, each once.
    fn failing_from(&self, drivers: &[usize]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &mi in drivers {
            let Some(places) = &self.monitors[mi].places else {
                continue;
            };
            for l in &places.failing {
                let name = self.location_name(l);
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Whether the monitor is checked from more than the server alone.
    pub fn is_checked_from_several(&self, id: &MonitorId) -> bool {
        self.monitor_index
            .get(id)
            .is_some_and(|&i| self.monitors[i].places.is_some())
    }

    /// The monitor's current state.
    pub fn monitor_state(&self, id: &MonitorId) -> Option<&MonitorState> {
        self.monitor_index.get(id).map(|&i| &self.monitors[i].state)
    }

    /// The monitor's spec.
    pub fn monitor_spec(&self, id: &MonitorId) -> Option<&Arc<MonitorSpec>> {
        self.monitor_index.get(id).map(|&i| &self.monitors[i].spec)
    }

    /// When the monitor's current streak of failing checks began.
    pub fn failing_since(&self, id: &MonitorId) -> Option<DateTime<Utc>> {
        self.monitor_index
            .get(id)
            .and_then(|&i| self.monitors[i].failing_since)
    }

    /// Monitors, in configuration order, with their state.
    pub fn monitors(&self) -> impl Iterator<Item = (&Arc<MonitorSpec>, &MonitorState)> {
        self.monitors.iter().map(|m| (&m.spec, &m.state))
    }

    /// A component's (or group's) name and whether it is a group row.
    pub fn component(&self, id: &ComponentId) -> Option<(&str, bool)> {
        self.component_index.get(id).map(|&i| {
            let c = &self.components[i];
            (c.entry.name.as_str(), c.entry.is_group)
        })
    }

    /// What a notification shows of a component: name, group name, status, creation time.
    pub fn component_context(&self, id: &ComponentId) -> Option<pharos_notify::ComponentContext> {
        let &i = self.component_index.get(id)?;
        let c = &self.components[i];
        let group = c
            .entry
            .group_id
            .as_ref()
            .and_then(|g| self.component_index.get(g))
            .map(|&gi| self.components[gi].entry.name.clone());
        Some(pharos_notify::ComponentContext {
            id: id.clone(),
            name: c.entry.name.clone(),
            group,
            status: c.status,
            created_at: c.created_at,
        })
    }

    /// Statuses of leaf components (never groups), the input of the page rollup.
    pub fn leaf_statuses(&self) -> Vec<ComponentStatus> {
        self.components
            .iter()
            .filter(|c| !c.entry.is_group)
            .map(|c| c.status)
            .collect()
    }

    /// A component's current status.
    pub fn component_status(&self, id: &ComponentId) -> Option<ComponentStatus> {
        self.component_index
            .get(id)
            .map(|&i| self.components[i].status)
    }

    /// Whether an active maintenance window covers the component.
    pub fn in_maintenance(&self, id: &ComponentId) -> bool {
        self.component_index
            .get(id)
            .is_some_and(|&i| self.components[i].maintenances > 0)
    }

    /// Sets (or with `None` clears) the status shown for a component regardless of its
    /// monitors, and returns the change it made.
    pub fn set_override(
        &mut self,
        id: &ComponentId,
        status: Option<ComponentStatus>,
        at: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        let &ci = self.component_index.get(id)?;
        self.components[ci].override_status = status;
        self.rederive(ci, at)
    }

    /// Sets (or with `None` clears) what a firing alert asks a component to show, and returns
    /// the change it made. Alerts count like monitors: the worst of them all is shown.
    pub fn set_alert(
        &mut self,
        id: &ComponentId,
        key: &str,
        status: Option<ComponentStatus>,
        at: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        self.set_contribution(id, Contributor::Alert(key.to_owned()), status, at)
    }

    /// Sets (or with `None` clears) what suspect change `change_id` asks a component to show
    /// (a release regression), and returns the change it made. Like an alert it counts as a
    /// monitor does; maintenance and people's overrides beat it.
    pub fn set_regression(
        &mut self,
        id: &ComponentId,
        change_id: &str,
        status: Option<ComponentStatus>,
        at: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        self.set_contribution(
            id,
            Contributor::Regression(change_id.to_owned()),
            status,
            at,
        )
    }

    fn set_contribution(
        &mut self,
        id: &ComponentId,
        by: Contributor,
        status: Option<ComponentStatus>,
        at: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        let &ci = self.component_index.get(id)?;
        let slot = &mut self.components[ci];
        match status {
            Some(s) => slot.contributions.insert(by, s),
            None => slot.contributions.remove(&by),
        };
        self.rederive(ci, at)
    }

    /// Enters (or leaves) one maintenance window for a component, and returns the change it
    /// made. Windows may overlap: the component stays under maintenance until the last ends.
    pub fn set_maintenance(
        &mut self,
        id: &ComponentId,
        active: bool,
        at: DateTime<Utc>,
    ) -> Option<ComponentTransition> {
        let &ci = self.component_index.get(id)?;
        let slot = &mut self.components[ci];
        slot.maintenances = if active {
            slot.maintenances.saturating_add(1)
        } else {
            slot.maintenances.saturating_sub(1)
        };
        self.rederive(ci, at)
    }

    fn rederive(&mut self, ci: usize, at: DateTime<Utc>) -> Option<ComponentTransition> {
        let slot = &self.components[ci];
        if slot.entry.is_group {
            return None;
        }
        // A person's word beats the maintenance window, which beats the monitors: failed
        // checks during planned work are expected and recorded, not shown as an outage.
        let derived = if let Some(status) = slot.override_status {
            status
        } else if slot.maintenances > 0 {
            ComponentStatus::UnderMaintenance
        } else {
            let monitors = slot.drivers.iter().map(|&mi| {
                let m = &self.monitors[mi];
                // A flapping monitor holds its components at its failure status until it
                // settles, rather than toggling them (and their subscribers) every few minutes.
                let health = if m.flapping_since.is_some() {
                    pharos_domain::Health::Down
                } else {
                    m.state.health
                };
                let own = contribution(health, m.spec.on_failure);
                if m.regional {
                    ComponentStatus::worst_of([own, m.spec.placement.on_regional_failure])
                } else {
                    own
                }
            });
            ComponentStatus::worst_of(monitors.chain(slot.contributions.values().copied()))
        };
        let slot = &mut self.components[ci];
        if derived == slot.status {
            return None;
        }
        let change = ComponentTransition {
            component_id: slot.entry.id.clone(),
            from: slot.status,
            to: derived,
            at,
        };
        slot.status = derived;
        slot.updated_at = at;
        slot.timeline.push(StatusChange {
            at,
            status: derived,
        });
        Some(change)
    }

    /// Drops timeline entries that can no longer affect the uptime window, keeping the one in
    /// force at its start.
    pub fn trim(&mut self, now: DateTime<Utc>) {
        let cutoff = now - ChronoDuration::days(i64::from(UPTIME_DAYS) + 1);
        for c in &mut self.components {
            let first_kept = c.timeline.iter().rposition(|s| s.at <= cutoff).unwrap_or(0);
            if first_kept > 0 {
                c.timeline.drain(..first_kept);
            }
        }
    }

    /// Builds the public view at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> StatusView {
        let tz = self.page.time_zone;
        let mut components: Vec<ComponentView> = self
            .components
            .iter()
            .map(|c| {
                let (uptime_days, uptime_ratio, start_date) = if c.entry.is_group {
                    (Vec::new(), None, None)
                } else {
                    let days = uptime::daily(&c.timeline, now, tz, UPTIME_DAYS);
                    let ratio = uptime::overall_ratio(&days);
                    let start = c
                        .timeline
                        .first()
                        .map(|s| s.at.max(c.created_at).with_timezone(&tz).date_naive());
                    (days, ratio, start)
                };
                let failing_from = if c.override_status.is_some() || c.maintenances > 0 {
                    Vec::new()
                } else {
                    self.failing_from(&c.drivers)
                };
                ComponentView {
                    failing_from,
                    id: c.entry.id.clone(),
                    name: c.entry.name.clone(),
                    description: c.entry.description.clone(),
                    position: c.position,
                    status: c.status,
                    created_at: c.created_at,
                    updated_at: c.updated_at,
                    group_id: c.entry.group_id.clone(),
                    is_group: c.entry.is_group,
                    children: c.entry.children.clone(),
                    uptime_days,
                    uptime_ratio,
                    start_date,
                }
            })
            .collect();
        // A group shows the worst of its children and changed when they last did.
        for i in 0..components.len() {
            if !components[i].is_group {
                continue;
            }
            let kids: Vec<&ComponentView> = components
                .iter()
                .filter(|k| k.group_id.as_ref() == Some(&components[i].id))
                .collect();
            let status = ComponentStatus::worst_of(kids.iter().map(|k| k.status));
            let updated = kids
                .iter()
                .map(|k| k.updated_at)
                .max()
                .unwrap_or(components[i].updated_at);
            components[i].status = status;
            components[i].updated_at = components[i].updated_at.max(updated);
        }
        let updated_at = components.iter().map(|c| c.updated_at).max().unwrap_or(now);
        let monitors = self
            .monitors
            .iter()
            .map(|m| self.monitor_view_at(m, now))
            .collect();
        StatusView {
            page: self.page.clone(),
            generated_at: now,
            updated_at,
            components,
            monitors,
            incidents: Arc::from(Vec::new()),
            maintenances: Arc::from(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use pharos_domain::{CheckOutcome, Health};

    use super::*;
    use crate::catalog::{build, ComponentDef};
    use crate::test_support::t;

    /// Monitors here are down after two failures.
    fn spec(id: &str, components: &[&str], on_failure: ComponentStatus) -> Arc<MonitorSpec> {
        crate::test_support::spec(id, components, on_failure, 2)
    }

    fn world() -> World {
        let defs = [
            ComponentDef {
                id: ComponentId::new("api").unwrap(),
                name: "API".into(),
                description: None,
                group: Some("Core".into()),
            },
            ComponentDef {
                id: ComponentId::new("db").unwrap(),
                name: "Database".into(),
                description: None,
                group: Some("Core".into()),
            },
        ];
        let page = PageInfo {
            id: "p".into(),
            name: "P".into(),
            url: "http://x".into(),
            time_zone: chrono_tz::UTC,
            email_subscriptions: false,
            branding: Default::default(),
        };
        World::new(
            page,
            build(&defs).unwrap(),
            vec![
                spec("api-health", &["api"], ComponentStatus::MajorOutage),
                spec("api-latency", &["api"], ComponentStatus::PartialOutage),
                spec("db-port", &["db"], ComponentStatus::PartialOutage),
            ],
            HashMap::new(),
            HashMap::new(),
            t(0),
        )
    }

    fn result(monitor: &str, outcome: CheckOutcome, at: i64) -> CheckResult {
        CheckResult {
            monitor_id: MonitorId::new(monitor).unwrap(),
            started_at: t(at),
            duration_ms: 5,
            outcome,
            status_code: None,
            error: None,
            timings: None,
            location: pharos_domain::LocationId::local(),
        }
    }

    #[test]
    fn a_confirmed_failure_changes_the_component_and_the_group() {
        let mut w = world();
        assert!(w
            .apply(&result("db-port", CheckOutcome::Down, 1))
            .component_changes
            .is_empty());
        let applied = w.apply(&result("db-port", CheckOutcome::Down, 31));
        assert_eq!(applied.transition.map(|t| t.to), Some(Health::Down));
        assert_eq!(
            applied.component_changes,
            [ComponentTransition {
                component_id: ComponentId::new("db").unwrap(),
                from: ComponentStatus::Operational,
                to: ComponentStatus::PartialOutage,
                at: t(31),
            }]
        );
        let view = w.view(t(60));
        let status = |id: &str| {
            view.components
                .iter()
                .find(|c| c.id.as_str() == id)
                .unwrap()
                .status
        };
        assert_eq!(status("db"), ComponentStatus::PartialOutage);
        assert_eq!(status("core"), ComponentStatus::PartialOutage);
        assert_eq!(status("api"), ComponentStatus::Operational);
        assert_eq!(view.updated_at, t(31));
    }

    #[test]
    fn the_worst_monitor_wins() {
        let mut w = world();
        for at in [1, 2] {
            w.apply(&result("api-latency", CheckOutcome::Down, at));
        }
        assert_eq!(
            w.view(t(3)).components[1].status,
            ComponentStatus::PartialOutage
        );
        for at in [4, 5] {
            w.apply(&result("api-health", CheckOutcome::Down, at));
        }
        assert_eq!(
            w.view(t(6)).components[1].status,
            ComponentStatus::MajorOutage
        );
        w.apply(&result("api-health", CheckOutcome::Up, 7));
        assert_eq!(
            w.view(t(8)).components[1].status,
            ComponentStatus::PartialOutage
        );
    }

    #[test]
    fn degraded_monitors_degrade_the_component() {
        let mut w = world();
        for at in [1, 2] {
            w.apply(&result("db-port", CheckOutcome::Degraded, at));
        }
        let view = w.view(t(3));
        assert_eq!(
            view.components[2].status,
            ComponentStatus::DegradedPerformance
        );
        assert_eq!(view.components[2].uptime_days.len(), UPTIME_DAYS as usize);
    }

    #[test]
    fn todays_bar_and_uptime_show_a_change_in_the_view_built_right_after_it() {
        let mut w = world();
        // Operational for a whole minute, then down at 60 s; the view is built 200 ms later
        // (and even in the same millisecond), not a whole second or a refresh later.
        w.apply(&result("api-health", CheckOutcome::Down, 59));
        w.apply(&result("api-health", CheckOutcome::Down, 60));
        for now in [t(60) + ChronoDuration::milliseconds(200), t(60)] {
            let view = w.view(now);
            let api = &view.components[1];
            assert_eq!(api.status, ComponentStatus::MajorOutage);
            let today = api.uptime_days.last().unwrap();
            assert_eq!(today.worst(), Some(ComponentStatus::MajorOutage), "{now}");
            let ratio = api.uptime_ratio.unwrap();
            assert!(ratio < 1.0, "{now}: the uptime still reads {ratio}");
        }
    }

    #[test]
    fn results_of_unknown_monitors_are_ignored() {
        let mut w = world();
        assert_eq!(
            w.apply(&result("gone", CheckOutcome::Down, 1)),
            Applied::default()
        );
    }

    /// A world with one monitor, `app` on `api`, checked from `local` and `eu-fr` (quorum 2),
    /// down at the first failure; `stored` is its stored state.
    fn placed(stored: Option<pharos_domain::MonitorState>) -> World {
        placed_with(1, stored, None)
    }

    /// [`placed`] with the monitor down at a place after `failures` failures there, and
    /// `api` stored as showing `shown` (operational when `None`).
    fn placed_with(
        failures: u32,
        stored: Option<pharos_domain::MonitorState>,
        shown: Option<ComponentStatus>,
    ) -> World {
        let defs = [ComponentDef {
            id: ComponentId::new("api").unwrap(),
            name: "API".into(),
            description: None,
            group: None,
        }];
        let mut spec =
            (*crate::test_support::spec("app", &["api"], ComponentStatus::MajorOutage, failures))
                .clone();
        spec.placement = pharos_domain::location::Placement {
            locations: vec![LocationId::local(), LocationId::new("eu-fr").unwrap()],
            quorum: pharos_domain::location::Quorum::new(2, None).unwrap(),
            on_regional_failure: ComponentStatus::PartialOutage,
        };
        let states: HashMap<MonitorId, pharos_domain::MonitorState> = stored
            .into_iter()
            .map(|s| (MonitorId::new("app").unwrap(), s))
            .collect();
        let page = PageInfo {
            id: "p".into(),
            name: "P".into(),
            url: "http://x".into(),
            time_zone: chrono_tz::UTC,
            email_subscriptions: false,
            branding: Default::default(),
        };
        World::new(
            page,
            build(&defs).unwrap(),
            vec![Arc::new(spec)],
            shown
                .map(|status| {
                    let history = ComponentHistory {
                        status,
                        created_at: t(-100),
                        updated_at: t(-10),
                        timeline: vec![StatusChange { at: t(-10), status }],
                    };
                    (ComponentId::new("api").unwrap(), history)
                })
                .into_iter()
                .collect(),
            states,
            t(0),
        )
    }

    fn at(location: &str, outcome: CheckOutcome, secs: i64) -> CheckResult {
        CheckResult {
            location: LocationId::new(location).unwrap(),
            ..result("app", outcome, secs)
        }
    }

    #[test]
    fn a_regional_failure_is_the_locations_own_and_shows_as_the_regional_status() {
        let mut w = placed(None);
        w.apply(&at("local", CheckOutcome::Up, 1));
        let a = w.apply(&at("eu-fr", CheckOutcome::Down, 1));
        let reach = a.reach.expect("a change of reach");
        assert_eq!(
            (reach.from, reach.to),
            (FailureReach::Clear, FailureReach::Regional)
        );
        assert_eq!(reach.verdict.failing, [LocationId::new("eu-fr").unwrap()]);
        assert_eq!(
            w.component_status(&ComponentId::new("api").unwrap()),
            Some(ComponentStatus::PartialOutage)
        );
        assert_eq!(
            w.monitor_state(&MonitorId::new("app").unwrap())
                .unwrap()
                .health,
            Health::Up
        );
        // Down at both: the quorum, the outage.
        let a = w.apply(&at("local", CheckOutcome::Down, 2));
        let reach = a.reach.unwrap();
        assert_eq!(
            (reach.from, reach.to),
            (FailureReach::Regional, FailureReach::Down)
        );
        assert_eq!(
            w.component_status(&ComponentId::new("api").unwrap()),
            Some(ComponentStatus::MajorOutage)
        );
    }

    #[test]
    fn a_monitor_restored_while_failing_somewhere_ends_its_incident_once_every_place_passes() {
        let stored = pharos_domain::MonitorState {
            health: Health::Up,
            ..Default::default()
        };
        // Still failing in Europe after the restart: finding out where is no news.
        let mut w = placed(Some(stored.clone()));
        w.assume_regional(&MonitorId::new("app").unwrap());
        w.apply(&at("local", CheckOutcome::Up, 1));
        let a = w.apply(&at("eu-fr", CheckOutcome::Down, 1));
        assert_eq!(a.reach, None, "{a:?}");
        // Fine everywhere after the restart: the regional failure is over.
        let mut w = placed(Some(stored));
        w.assume_regional(&MonitorId::new("app").unwrap());
        w.apply(&at("local", CheckOutcome::Up, 1));
        let a = w.apply(&at("eu-fr", CheckOutcome::Up, 1));
        let reach = a.reach.expect("the end of the regional failure");
        assert_eq!(
            (reach.from, reach.to),
            (FailureReach::Regional, FailureReach::Clear)
        );
    }

    #[test]
    fn a_monitor_restored_while_failing_somewhere_keeps_showing_it_until_every_place_passes() {
        let app = MonitorId::new("app").unwrap();
        let api = ComponentId::new("api").unwrap();
        let stored = pharos_domain::MonitorState {
            health: Health::Up,
            ..Default::default()
        };
        // Stopped during a regional failure: the monitor up, `api` at the partial outage it
        // showed, an open incident holding the monitor failing (so it is assumed regional).
        // Down at a place after two failures there, so a place's first failure after the
        // restart is not yet a confirmed one.
        let mut w = placed_with(2, Some(stored), Some(ComponentStatus::PartialOutage));
        w.assume_regional(&app);
        assert_eq!(w.rederive_all(t(0)), [], "the start keeps what was shown");
        assert_eq!(
            w.component_status(&api),
            Some(ComponentStatus::PartialOutage)
        );
        // The server's own check passes; Europe has not said anything yet.
        let a = w.apply(&at("local", CheckOutcome::Up, 1));
        assert_eq!((a.reach, a.component_changes), (None, vec![]));
        // Europe's first failure since the restart is not a vote that it passes.
        let a = w.apply(&at("eu-fr", CheckOutcome::Down, 2));
        assert_eq!((a.reach, a.component_changes), (None, vec![]));
        assert_eq!(
            w.component_status(&api),
            Some(ComponentStatus::PartialOutage)
        );
        // Its second confirms where it fails: no news.
        let a = w.apply(&at("eu-fr", CheckOutcome::Down, 3));
        assert_eq!((a.reach, a.component_changes), (None, vec![]));
        assert_eq!(
            w.component_status(&api),
            Some(ComponentStatus::PartialOutage)
        );
        assert_eq!(w.monitor_state(&app).unwrap().health, Health::Up);
        // Europe passes: the regional failure is over, and the component shows it.
        let a = w.apply(&at("eu-fr", CheckOutcome::Up, 4));
        let reach = a.reach.expect("the end of the regional failure");
        assert_eq!(
            (reach.from, reach.to),
            (FailureReach::Regional, FailureReach::Clear)
        );
        assert_eq!(w.component_status(&api), Some(ComponentStatus::Operational));
    }
}
