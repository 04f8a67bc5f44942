//! Changes in the running engine: recording one (checked against the configured components,
//! stored append-only), reading them, listing those an incident should show with why, and the
//! release-regression watcher.
//!
//! The watcher is its own task. Every few seconds it reads the recent changes and, for each
//! one not judged yet, compares the checks of the monitors driving its component in the
//! window before the change with the window after it (`[changes] regression_window`). The
//! window before is measured when the watcher first sees the change and kept in the stored
//! verdict, so it survives the ring of raw results moving on; the verdict is made once the
//! window after has passed. A suspect change goes to the pipeline as a command, where the
//! desk degrades the component and names the change in an incident
//! (`desk::regression`). While a suspect change's component is degraded, the watcher keeps
//! comparing the latest window with the one before the change; once it shows no regression
//! the desk is told the component recovered.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_domain::change::{
    self, ComponentKind, Judgement, MonitorLinks, Recording, RegressionRules, RegressionState,
    RelatedChange, WindowStats,
};
use pharos_domain::{
    Change, ChangeEntry, CheckOutcome, ComponentId, Incident, MonitorId, MonitorSpec, NewChange,
    Regression, RuleError,
};
use pharos_store::{ChangeConflict, Store, StoreError};
use tokio::sync::{mpsc, watch};

pub use pharos_store::ChangeFilter;

use crate::control::{Command, CommandError, EngineControl};
use crate::desk::DeskError;
use crate::metrics::Metrics;
use crate::writer::Pending;
use crate::Live;

/// `[changes] lookback` when it is not set.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(6 * 3600);
/// How long after its window ends a change may still be judged (Pharos was down, or the
/// change was recorded late); older ones are left without a verdict.
pub const JUDGE_GRACE: Duration = Duration::from_secs(3600);
/// How long after a suspect change the watcher keeps looking for its component's recovery.
pub const RECOVERY_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// What the engine does with changes (`[changes]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSettings {
    /// How long before an incident started its changes are listed with it.
    pub lookback: Duration,
    /// When a change counts as a release regression; `None` turns the check off.
    pub regression: Option<RegressionRules>,
    /// A suspect change marks its component `degraded_performance` and is named in an
    /// incident (opened for it when `[incidents] auto_open` and none covers the component).
    pub degrade: bool,
}

impl Default for ChangeSettings {
    fn default() -> Self {
        Self {
            lookback: DEFAULT_LOOKBACK,
            regression: Some(RegressionRules::default()),
            degrade: true,
        }
    }
}

/// What recording a change did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Stored now.
    New(ChangeEntry),
    /// Its source sent this `external_id` before: the record stored then.
    Retry(ChangeEntry),
}

impl Recorded {
    /// The stored record.
    pub fn entry(&self) -> &ChangeEntry {
        match self {
            Recorded::New(e) | Recorded::Retry(e) => e,
        }
    }
}

/// What changes need of the configuration, shared by the control handle and the watcher.
#[derive(Debug)]
pub(crate) struct ChangeContext {
    settings: ChangeSettings,
    /// Held while a change is recorded.
    recording: tokio::sync::Mutex<()>,
    /// Every monitor: id, components it drives, monitors it depends on.
    monitors: Vec<(MonitorId, Vec<ComponentId>, Vec<MonitorId>)>,
}

impl ChangeContext {
    pub(crate) fn new(settings: ChangeSettings, specs: &[Arc<MonitorSpec>]) -> Self {
        Self {
            settings,
            recording: tokio::sync::Mutex::new(()),
            monitors: specs
                .iter()
                .map(|s| (s.id.clone(), s.components.clone(), s.depends_on.clone()))
                .collect(),
        }
    }

    fn links(&self) -> Vec<MonitorLinks<'_>> {
        self.monitors
            .iter()
            .map(|(id, components, depends_on)| MonitorLinks {
                id,
                components,
                depends_on,
            })
            .collect()
    }

    /// The monitors that drive `component`, in configuration order.
    fn drivers(&self, component: &ComponentId) -> Vec<MonitorId> {
        self.monitors
            .iter()
            .filter(|(_, components, _)| components.contains(component))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

fn rule(e: RuleError) -> CommandError {
    CommandError::Desk(DeskError::Rule(e))
}

fn reading(what: &str, e: &StoreError) -> CommandError {
    CommandError::Unavailable(format!("reading {what} failed: {e}"))
}

impl EngineControl {
    /// What the engine does with changes.
    pub fn change_settings(&self) -> &ChangeSettings {
        &self.changes.settings
    }

    /// Records a change `recorded_by` (an admin token's name) sent through `source` (`api`,
    /// `pagerduty`, `cli`). Every field is checked first, each refusal naming its field; a
    /// `supersedes` naming no stored change, or one already superseded, is refused too. A
    /// change whose `external_id` the same source already sent is a retry: the record stored
    /// the first time is the answer, and nothing new is stored. The answer comes once the
    /// record is stored.
    pub async fn record_change(
        &self,
        req: NewChange,
        source: &str,
        recorded_by: &str,
    ) -> Result<Recorded, CommandError> {
        // One at a time, so that a retry racing its original finds it.
        let _one_at_a_time = self.changes.recording.lock().await;
        let view = self.view();
        let kind = |c: &ComponentId| match view.components.iter().find(|v| &v.id == c) {
            Some(v) if v.is_group => ComponentKind::Group,
            Some(_) => ComponentKind::Component,
            None => ComponentKind::Unknown,
        };
        let recording = Recording {
            id: format!("{}{}", change::ID_PREFIX, crate::random_string(12)),
            source: source.to_owned(),
            recorded_by: recorded_by.to_owned(),
            // Stored in milliseconds: the answer shows what a later read will.
            at: chrono::SubsecRound::trunc_subsecs(crate::clock::now(), 3),
        };
        let change = req.validate(recording, kind).map_err(rule)?;
        match self.store.insert_change(&change).await {
            Ok(Ok(())) => {}
            Ok(Err(ChangeConflict::DuplicateId(_))) => {
                // Twelve random characters: practically never. Retrying is safe.
                return Err(CommandError::Unavailable(
                    "the change could not be recorded; try again".into(),
                ));
            }
            Ok(Err(ChangeConflict::AlreadyRecorded { id, .. })) => {
                let first = self.change(&id).await?.ok_or_else(|| {
                    CommandError::Unavailable("the change could not be read back; try again".into())
                })?;
                tracing::info!(change = %id, source, by = recorded_by, "change already recorded: a retry");
                return Ok(Recorded::Retry(first));
            }
            Ok(Err(conflict)) => {
                return Err(rule(RuleError::invalid("supersedes", conflict.to_string())))
            }
            Err(error) => {
                tracing::error!(%error, "recording a change failed");
                return Err(CommandError::Unavailable(
                    "storage is unavailable; the change was not recorded, try again shortly".into(),
                ));
            }
        }
        tracing::info!(
            change = %change.id,
            component = %change.component,
            kind = %change.kind,
            supersedes = change.supersedes.as_deref().unwrap_or(""),
            source,
            by = recorded_by,
            "change recorded"
        );
        Ok(Recorded::New(ChangeEntry {
            change,
            superseded_by: None,
            regression: None,
        }))
    }

    /// The stored changes `filter` selects, newest first.
    pub async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeEntry>, CommandError> {
        self.store
            .changes(filter)
            .await
            .map_err(|e| reading("changes", &e))
    }

    /// One stored change; `None` for an unknown id.
    pub async fn change(&self, id: &str) -> Result<Option<ChangeEntry>, CommandError> {
        self.store
            .change(id)
            .await
            .map_err(|e| reading("changes", &e))
    }

    /// The changes `incident` lists, newest first: those to its components (and to the
    /// monitors of its components, and to components their monitors depend on) from
    /// `[changes] lookback` before it started until it was resolved (or now).
    pub async fn incident_changes(
        &self,
        incident: &Incident,
    ) -> Result<Vec<RelatedChange>, CommandError> {
        let ctx = &self.changes;
        let mut roots: Vec<ComponentId> = incident.components.keys().cloned().collect();
        for (id, components, _) in &ctx.monitors {
            if incident.monitors.contains_key(id) {
                for c in components {
                    if !roots.contains(c) {
                        roots.push(c.clone());
                    }
                }
            }
        }
        let related = change::related_components(&roots, &ctx.links());
        let lookback =
            chrono::Duration::from_std(ctx.settings.lookback).unwrap_or(chrono::Duration::MAX);
        let from = incident.started_at - lookback;
        let until = incident.resolved_at.unwrap_or_else(crate::clock::now);
        let components: Vec<ComponentId> = related.keys().cloned().collect();
        let entries = self
            .store
            .changes_between(&components, from, until)
            .await
            .map_err(|e| reading("changes", &e))?;
        Ok(change::related_changes(
            entries,
            &related,
            incident.started_at,
            from,
            until,
        ))
    }
}

// ---- the regression watcher ------------------------------------------------------------

/// What the watcher tells the pipeline.
#[derive(Debug, Clone)]
pub(crate) enum RegressionEvent {
    /// `change` was judged suspect.
    Suspect {
        change: Change,
        regression: Regression,
        degrade: bool,
    },
    /// The component of suspect `change` shows no regression any more.
    Recovered {
        change: Change,
        regression: Regression,
        recent: WindowStats,
    },
}

/// Applies a watcher event to the desk and queues what it wrote. Returns whether anything
/// visible may have changed.
pub(crate) fn apply(
    event: RegressionEvent,
    live: &mut Live,
    pending: &Pending,
    metrics: &Metrics,
) -> bool {
    let now = crate::clock::now();
    match event {
        RegressionEvent::Suspect {
            change,
            regression,
            degrade,
        } => live
            .desk
            .on_regression(&mut live.world, &change, &regression, degrade, now),
        RegressionEvent::Recovered {
            change,
            regression,
            recent,
        } => live
            .desk
            .on_regression_recovered(&mut live.world, &change, &regression, &recent, now),
    }
    let changed = live.desk.changed();
    live.queue(pending, metrics, Vec::new(), Vec::new(), Vec::new());
    pending.write_soon();
    changed
}

/// The suspect changes of the last [`RECOVERY_HORIZON`] whose component has not recovered
/// (their components show the regression), for start-up.
pub(crate) async fn unrecovered_suspects(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, StoreError> {
    let recent = store
        .changes(&ChangeFilter {
            since: Some(now - chrono(RECOVERY_HORIZON)),
            ..ChangeFilter::default()
        })
        .await?;
    Ok(recent
        .into_iter()
        .filter(|e| {
            e.regression
                .as_ref()
                .is_some_and(|r| r.state == RegressionState::Suspect && r.recovered_at.is_none())
        })
        .map(|e| e.change)
        .collect())
}

/// How often the watcher looks: a thirtieth of the window, between 1 s and 10 s.
fn period(rules: &RegressionRules) -> Duration {
    (rules.window / 30).clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// The watcher task: runs until `stop`.
pub(crate) async fn watch(
    ctx: Arc<ChangeContext>,
    store: Store,
    commands: mpsc::Sender<Command>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(rules) = ctx.settings.regression else {
        return;
    };
    let every = period(&rules);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match look(&ctx, &rules, &store, crate::clock::now()).await {
            Ok(events) => {
                for e in events {
                    if commands
                        .send(Command::Regression(Box::new(e)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the release-regression check could not read storage; retrying");
            }
        }
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One look at the recent changes: judges those whose window has passed, watches the
/// recovery of suspect ones, and returns what the desk must hear.
async fn look(
    ctx: &ChangeContext,
    rules: &RegressionRules,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<RegressionEvent>, StoreError> {
    let window = chrono(rules.window);
    let horizon = (window + chrono(JUDGE_GRACE)).max(chrono(RECOVERY_HORIZON));
    let recent = store
        .changes(&ChangeFilter {
            since: Some(now - horizon),
            ..ChangeFilter::default()
        })
        .await?;
    let mut events = Vec::new();
    for entry in recent {
        let ChangeEntry {
            change,
            superseded_by,
            regression,
        } = entry;
        let state = regression.as_ref().map(|r| r.state);
        match state {
            None | Some(RegressionState::Watching) => {
                if change.started_at + window + chrono(JUDGE_GRACE) < now {
                    continue;
                }
                if let Some(by) = superseded_by {
                    // The correction is judged instead: a wrong record must not blame the
                    // wrong component.
                    let r = Regression {
                        state: RegressionState::Superseded,
                        suspect: false,
                        summary: format!("not judged: superseded by {by}, which is judged instead"),
                        monitors: Vec::new(),
                        before: regression.as_ref().and_then(|r| r.before),
                        after: None,
                        window_seconds: rules.window.as_secs(),
                        evaluated_at: now,
                        recovered_at: None,
                    };
                    store.put_regression(&change.id, &r).await?;
                    continue;
                }
                if let Some(e) = judge_change(ctx, rules, store, &change, regression, now).await? {
                    events.push(e);
                }
            }
            Some(RegressionState::Suspect) => {
                let Some(r) = regression else { continue };
                if r.recovered_at.is_some() || change.started_at + chrono(RECOVERY_HORIZON) < now {
                    continue;
                }
                if let Some(e) = watch_recovery(ctx, rules, store, change, r, now).await? {
                    events.push(e);
                }
            }
            Some(_) => {}
        }
    }
    Ok(events)
}

/// The statistics of every check of `monitors` in `[from, to)`.
async fn stats(
    store: &Store,
    monitors: &[MonitorId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<WindowStats, StoreError> {
    let mut checks = Vec::new();
    for m in monitors {
        for s in store.results_between(m, from, to).await? {
            checks.push((s.duration_ms, s.outcome == CheckOutcome::Down));
        }
    }
    Ok(change::window_stats(&checks))
}

async fn judge_change(
    ctx: &ChangeContext,
    rules: &RegressionRules,
    store: &Store,
    change: &Change,
    previous: Option<Regression>,
    now: DateTime<Utc>,
) -> Result<Option<RegressionEvent>, StoreError> {
    let window = chrono(rules.window);
    let t = change.started_at;
    let monitors = ctx.drivers(&change.component);
    let mut r = previous.unwrap_or_else(|| Regression {
        state: RegressionState::Watching,
        suspect: false,
        summary: String::new(),
        monitors: monitors.clone(),
        before: None,
        after: None,
        window_seconds: rules.window.as_secs(),
        evaluated_at: now,
        recovered_at: None,
    });
    if monitors.is_empty() {
        r.state = RegressionState::InsufficientData;
        r.summary = format!("no monitor checks {}: nothing to compare", change.component);
        r.evaluated_at = now;
        store.put_regression(&change.id, &r).await?;
        return Ok(None);
    }
    let first_look = r.before.is_none();
    if first_look {
        // Measured now, while the ring still holds the checks before the change.
        r.before = Some(stats(store, &monitors, t - window, t).await?);
    }
    let (after, judgement) = if now < t + window {
        // Within the window a regression is named as soon as the checks show it: enough
        // checks on both sides and clearly worse after. A clean verdict waits for the window.
        let so_far = stats(store, &monitors, t, now).await?;
        let early = r
            .before
            .map(|before| change::judge(&before, &so_far, rules));
        match early {
            Some(j @ Judgement::Regressed { .. }) => (so_far, j),
            _ => {
                if first_look {
                    r.summary = format!(
                        "watching the checks for {} after {}",
                        pharos_domain::duration::format_duration(rules.window),
                        change.label()
                    );
                    r.evaluated_at = now;
                    store.put_regression(&change.id, &r).await?;
                }
                return Ok(None);
            }
        }
    } else {
        let after = stats(store, &monitors, t, t + window).await?;
        let before = r.before.unwrap_or(after);
        (after, change::judge(&before, &after, rules))
    };
    let before = r.before.unwrap_or(after);
    r.after = Some(after);
    r.state = match judgement {
        Judgement::InsufficientData => RegressionState::InsufficientData,
        Judgement::Clear => RegressionState::Clear,
        Judgement::Regressed { .. } => RegressionState::Suspect,
    };
    r.suspect = r.state == RegressionState::Suspect;
    r.summary = change::summarize(change, Some(&before), Some(&after), judgement, rules);
    r.evaluated_at = now;
    store.put_regression(&change.id, &r).await?;
    tracing::info!(
        change = %change.id,
        component = %change.component,
        verdict = r.state.as_str(),
        summary = %r.summary,
        "release-regression check done"
    );
    Ok(r.suspect.then(|| RegressionEvent::Suspect {
        change: change.clone(),
        regression: r,
        degrade: ctx.settings.degrade,
    }))
}

async fn watch_recovery(
    ctx: &ChangeContext,
    rules: &RegressionRules,
    store: &Store,
    change: Change,
    mut r: Regression,
    now: DateTime<Utc>,
) -> Result<Option<RegressionEvent>, StoreError> {
    let window = chrono(rules.window);
    // A whole window after the verdict, so the regressed checks are not counted again.
    if now - window < r.evaluated_at {
        return Ok(None);
    }
    let Some(before) = r.before else {
        return Ok(None);
    };
    let monitors = ctx.drivers(&change.component);
    let recent = stats(store, &monitors, now - window, now).await?;
    if change::judge(&before, &recent, rules) != Judgement::Clear {
        return Ok(None);
    }
    r.recovered_at = Some(now);
    store.put_regression(&change.id, &r).await?;
    tracing::info!(change = %change.id, component = %change.component, "component recovered from a release regression");
    Ok(Some(RegressionEvent::Recovered {
        change,
        regression: r,
        recent,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_looks_often_enough_for_the_window() {
        let rules = |secs| RegressionRules {
            window: Duration::from_secs(secs),
            ..RegressionRules::default()
        };
        assert_eq!(period(&rules(900)), Duration::from_secs(10));
        assert_eq!(period(&rules(60)), Duration::from_secs(2));
        assert_eq!(period(&rules(3)), Duration::from_secs(1));
    }
}
