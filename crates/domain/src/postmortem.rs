//! Postmortems: drafted from what Pharos recorded about an incident, completed by people, and
//! checked before they are published.
//!
//! The seeds' postmortems mixed MST, CST, EST and UTC, listed their timeline out of order and
//! published an empty "Preventative Action" section. Here the machine writes what it knows —
//! the timeline (in time order, in one chosen zone with UTC beside each line), the services
//! impacted, the total duration, the detection metrics, the changes that preceded the incident
//! — and people write only what it cannot know: the root cause, the remediation and the action
//! items (each with an owner and a due date). [`missing`] lists every gap, and publishing is
//! refused until it is empty.
//!
//! - [`PostmortemEdits`] is the stored human part; [`parse_edits`] checks a request for it
//!   (every refusal names its field, e.g. `actions[1].due`) and gives new actions ids.
//! - [`draft`] builds the [`Postmortem`] from the incident, its timeline, the changes, the
//!   edits, a time zone and `now`.
//! - [`missing`] is the completeness check; [`render_markdown`] writes the document, for
//!   responders ([`Audience::Internal`]: private notes, gaps and similar incidents included) or
//!   for the public page ([`Audience::Public`]). The public text names no person: not who
//!   declared the incident, posted an update or changed its severity (people are named by
//!   their admin token's name, `alice` or `token-1`), nor who owns an action item, unless the
//!   page opts in (`show_responders`); it never names change authors or record ids. Text
//!   people wrote (root cause, remediation, an edited description) is published as written.
//!
//! Detection metrics are all measured from the start of the trouble (`started_at`: the first
//! failing check for an incident a check opened, else when it was declared):
//! - time to detect: until the incident was declared (`created_at`);
//! - time to acknowledge: until the first thing a person did on it (a timeline entry by a
//!   person at or after its declaration; declaring it counts);
//! - time to first public update: until it first appeared on the public page;
//! - time to mitigate: until it first entered `monitoring`;
//! - time to resolve: until it was resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::change::RelatedChange;
use crate::incident::{
    Actor, Impact, Incident, IncidentId, IncidentStatus, RuleError, Severity, TimelineEntry,
    TimelineKind,
};
use crate::similar::SimilarIncident;
use crate::{ComponentId, ComponentStatus};

/// Longest description, root cause or remediation, in characters.
pub const MAX_TEXT_LEN: usize = 10_000;
/// Longest event type or services-impacted text, in characters.
pub const MAX_SHORT_LEN: usize = 1_000;
/// Most action items one postmortem holds.
pub const MAX_ACTIONS: usize = 50;
/// Longest action description, in characters.
pub const MAX_ACTION_LEN: usize = 1_000;
/// Longest owner name, in characters.
pub const MAX_OWNER_LEN: usize = 100;
/// Longest tracker link, in characters.
pub const MAX_URL_LEN: usize = 2_000;
/// Longest excerpt of an update body or note on a timeline line, in characters.
const EXCERPT_LEN: usize = 280;

/// What an action item is for (the Google SRE template's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Keeps it from happening again.
    #[default]
    Prevent,
    /// Makes it hurt less, or be noticed sooner, next time.
    Mitigate,
    /// Changes how the team works (runbooks, reviews, on-call).
    Process,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 3] = [Self::Prevent, Self::Mitigate, Self::Process];

    /// The wire form, e.g. `"prevent"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prevent => "prevent",
            Self::Mitigate => "mitigate",
            Self::Process => "process",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One follow-up: what will be done, by whom, by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionItem {
    /// Stable id within the postmortem, `A1`, `A2`, … (given by [`parse_edits`]).
    pub id: String,
    /// What will be done.
    pub description: String,
    /// Who owns it (a person or a team); `None` while nobody does, which [`missing`] flags.
    #[serde(default)]
    pub owner: Option<String>,
    /// When it is due; `None` while undecided, which [`missing`] flags.
    #[serde(default)]
    pub due: Option<NaiveDate>,
    /// What it is for.
    #[serde(default)]
    pub kind: ActionKind,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
    /// A link to its ticket.
    #[serde(default)]
    pub url: Option<String>,
}

/// The human part of a postmortem, as stored: everything the record cannot say. `None` for
/// `description`, `event_type` and `services_impacted` keeps the drafted text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostmortemEdits {
    /// Replaces the drafted description.
    pub description: Option<String>,
    /// Replaces the drafted type of event ("Outage", "Degradation", …).
    pub event_type: Option<String>,
    /// Says which services were impacted, beside (or instead of) the recorded components.
    pub services_impacted: Option<String>,
    /// Why it happened (Markdown).
    pub root_cause: String,
    /// What was done to end it (Markdown).
    pub remediation: String,
    /// Follow-ups.
    pub actions: Vec<ActionItem>,
    /// The IANA zone the document is written in, e.g. `America/Denver`; `None` uses the page's.
    pub time_zone: Option<String>,
}

impl PostmortemEdits {
    /// The saved time zone, if it is one chrono-tz knows.
    pub fn tz(&self) -> Option<Tz> {
        self.time_zone.as_deref().and_then(|z| Tz::from_str(z).ok())
    }

    /// Action items not done yet.
    pub fn open_actions(&self) -> impl Iterator<Item = &ActionItem> {
        self.actions.iter().filter(|a| !a.done)
    }
}

/// A request to replace the human part (`PUT …/postmortem`), before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditsInput {
    /// Replaces the drafted description; blank or `None` keeps the draft's.
    pub description: Option<String>,
    /// Replaces the drafted type of event; blank or `None` keeps the draft's.
    pub event_type: Option<String>,
    /// Names the services impacted; blank or `None` uses the recorded components.
    pub services_impacted: Option<String>,
    /// Root cause.
    pub root_cause: Option<String>,
    /// Remediation.
    pub remediation: Option<String>,
    /// Action items, in order.
    pub actions: Vec<ActionInput>,
    /// IANA time zone name.
    pub time_zone: Option<String>,
}

/// One action item in a request, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionInput {
    /// The id of a saved action this one replaces; `None` for a new action.
    pub id: Option<String>,
    /// What will be done.
    pub description: String,
    /// Who owns it; must not be blank when given.
    pub owner: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    pub due: Option<String>,
    /// `prevent` (default), `mitigate` or `process`.
    pub kind: Option<String>,
    /// Whether it is done (default false).
    pub done: Option<bool>,
    /// Ticket link, `http(s)://…`.
    pub url: Option<String>,
}

/// Checks a request for the human part against what is saved (`previous`), and gives new
/// actions the next free ids. Nothing is half-applied: the first fault is returned, naming its
/// field (`root_cause`, `actions[1].owner`, `time_zone`, …).
pub fn parse_edits(
    input: EditsInput,
    previous: &PostmortemEdits,
) -> Result<PostmortemEdits, RuleError> {
    let optional = |field: &str, value: Option<String>, max: usize| {
        let value = value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        match value {
            Some(s) if s.chars().count() > max => Err(RuleError::invalid(
                field,
                format!("must be at most {max} characters"),
            )),
            other => Ok(other),
        }
    };
    let text = |field: &str, value: Option<String>| {
        optional(field, value, MAX_TEXT_LEN).map(Option::unwrap_or_default)
    };
    let description = optional("description", input.description, MAX_TEXT_LEN)?;
    let event_type = optional("event_type", input.event_type, MAX_SHORT_LEN)?;
    let services_impacted = optional("services_impacted", input.services_impacted, MAX_SHORT_LEN)?;
    let root_cause = text("root_cause", input.root_cause)?;
    let remediation = text("remediation", input.remediation)?;
    let time_zone = match input.time_zone.map(|z| z.trim().to_owned()) {
        None => None,
        Some(z) if z.is_empty() => None,
        Some(z) => Some(parse_time_zone("time_zone", &z)?.name().to_owned()),
    };
    if input.actions.len() > MAX_ACTIONS {
        return Err(RuleError::invalid(
            "actions",
            format!("at most {MAX_ACTIONS} action items"),
        ));
    }

    let saved: BTreeSet<&str> = previous.actions.iter().map(|a| a.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut next = previous
        .actions
        .iter()
        .filter_map(|a| action_number(&a.id))
        .max()
        .unwrap_or(0);
    let mut actions = Vec::with_capacity(input.actions.len());
    let mut unnumbered = Vec::new();
    for (i, a) in input.actions.into_iter().enumerate() {
        let field = |name: &str| format!("actions[{i}].{name}");
        let id = match a.id.map(|s| s.trim().to_owned()) {
            Some(id) if !saved.contains(id.as_str()) => {
                return Err(RuleError::invalid(
                    field("id"),
                    format!("no saved action has id {id:?}; leave id out for a new action"),
                ))
            }
            Some(id) if !seen.insert(id.clone()) => {
                return Err(RuleError::invalid(
                    field("id"),
                    format!("action {id} is listed twice"),
                ))
            }
            other => other,
        };
        let description = a.description.trim().to_owned();
        if description.is_empty() {
            return Err(RuleError::invalid(
                field("description"),
                "must not be empty",
            ));
        }
        if description.chars().count() > MAX_ACTION_LEN {
            return Err(RuleError::invalid(
                field("description"),
                format!("must be at most {MAX_ACTION_LEN} characters"),
            ));
        }
        let owner = match a.owner.map(|o| o.trim().to_owned()) {
            Some(o) if o.is_empty() => {
                return Err(RuleError::invalid(
                    field("owner"),
                    "must not be empty; leave it out (or null) while nobody owns the action",
                ))
            }
            Some(o) if o.chars().count() > MAX_OWNER_LEN => {
                return Err(RuleError::invalid(
                    field("owner"),
                    format!("must be at most {MAX_OWNER_LEN} characters"),
                ))
            }
            other => other,
        };
        let due = match a.due {
            None => None,
            Some(d) => Some(
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    RuleError::invalid(
                        field("due"),
                        format!("{d:?} is not a date; expected YYYY-MM-DD, like 2026-04-30"),
                    )
                })?,
            ),
        };
        let kind = match a.kind {
            None => ActionKind::default(),
            Some(k) => ActionKind::parse(k.trim()).ok_or_else(|| {
                RuleError::invalid(
                    field("kind"),
                    format!("unknown kind {k:?}; expected prevent, mitigate or process"),
                )
            })?,
        };
        let url = match a.url.map(|u| u.trim().to_owned()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u)
                if !(u.starts_with("https://") || u.starts_with("http://"))
                    || u.chars().count() > MAX_URL_LEN =>
            {
                return Err(RuleError::invalid(
                    field("url"),
                    format!(
                        "must be an http:// or https:// link of at most {MAX_URL_LEN} characters"
                    ),
                ))
            }
            other => other,
        };
        if id.is_none() {
            unnumbered.push(actions.len());
        }
        actions.push(ActionItem {
            id: id.unwrap_or_default(),
            description,
            owner,
            due,
            kind,
            done: a.done.unwrap_or(false),
            url,
        });
    }
    for i in unnumbered {
        next += 1;
        actions[i].id = format!("A{next}");
    }
    Ok(PostmortemEdits {
        description,
        event_type,
        services_impacted,
        root_cause,
        remediation,
        actions,
        time_zone,
    })
}

/// Parses the time zone a postmortem is written in: an IANA `Area/Location` name such as
/// `America/Denver`, or `UTC`. Abbreviations are refused even where the IANA database keeps a
/// legacy zone of that name (`MST`, `EST`): the seeds' postmortems mixed MST, CST and EST, and
/// an abbreviation does not follow daylight saving time.
pub fn parse_time_zone(field: &str, z: &str) -> Result<Tz, RuleError> {
    let z = z.trim();
    let unknown = || {
        RuleError::invalid(
            field,
            format!("unknown time zone {z:?}; expected an IANA name like America/Denver, or UTC"),
        )
    };
    if z != "UTC" && !z.contains('/') {
        return Err(RuleError::invalid(
            field,
            format!("{z:?} is an abbreviation, not a place; give an IANA name like America/Denver, or UTC"),
        ));
    }
    Tz::from_str(z).map_err(|_| unknown())
}

/// The number of an action id `A<n>`.
fn action_number(id: &str) -> Option<u32> {
    id.strip_prefix('A')?.parse().ok()
}

/// A drafted text and whether a person wrote it (`edited`) or Pharos derived it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    /// The text.
    pub text: String,
    /// Whether it comes from the saved edits rather than the record.
    pub edited: bool,
}

/// One impacted component and the worst status it reached during the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceImpact {
    /// Component id.
    pub component_id: ComponentId,
    /// Display name.
    pub name: String,
    /// The worst status it was seen in while the incident was open.
    pub worst_status: ComponentStatus,
}

/// A length of time, in seconds and as people read it ("1h 28m").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Whole seconds.
    pub seconds: i64,
    /// E.g. `"1h 28m"`.
    pub text: String,
}

impl Span {
    /// The span of `d` (negative spans count as zero).
    pub fn of(d: Duration) -> Span {
        let d = d.max(Duration::zero());
        Span {
            seconds: d.num_seconds(),
            text: format_span(d),
        }
    }
}

/// One detection metric: the instant it measures to, and the time from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metric {
    /// The instant (UTC).
    pub at: DateTime<Utc>,
    /// From the start of the trouble to `at`.
    #[serde(flatten)]
    pub span: Span,
}

/// How the incident was noticed and handled, each metric from the start of the trouble.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// What noticed it, e.g. `the api-health check` or `alice (declared by hand)`.
    pub source: String,
    /// `source` without a person's name (`a responder (declared by hand)`), for the public.
    #[serde(skip)]
    pub anonymous_source: String,
    /// Whether a check noticed it (false: a person did, which often means a monitoring gap).
    pub by_check: bool,
    /// Start → declared.
    pub time_to_detect: Metric,
    /// Start → the first thing a person did on it; `None` when nobody did.
    pub time_to_acknowledge: Option<Metric>,
    /// Start → on the public page; `None` while it was never public.
    pub time_to_first_public_update: Option<Metric>,
    /// Start → first `monitoring`; `None` when it never was.
    pub time_to_mitigate: Option<Metric>,
    /// Start → resolved; `None` while unresolved.
    pub time_to_resolve: Option<Metric>,
}

/// One line of the postmortem's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// When it happened (UTC).
    pub at: DateTime<Utc>,
    /// `at` in the document's zone, e.g. `2026-03-04 09:25 MST`.
    pub local: String,
    /// `at` in UTC, e.g. `16:25 UTC` (with the date when it differs from the local one).
    pub utc: String,
    /// Who did it.
    pub actor: Actor,
    /// What kind of entry: a timeline kind (`public_update`, `monitor_down`, …), or
    /// `first_failure` and `change` for the lines Pharos adds.
    pub kind: String,
    /// What happened, in one line.
    pub text: String,
    /// Responders only (private notes): left out of the published postmortem.
    pub private: bool,
    /// The line as the published postmortem words it, when that differs from `text` (change
    /// records: no author, no record id).
    #[serde(skip)]
    pub public_text: Option<String>,
    /// The line as the published postmortem words it when it names no responder, when that
    /// differs from the public text ("Identified: public update: …" rather than "… by alice").
    #[serde(skip)]
    pub anonymous_text: Option<String>,
}

/// A change that preceded (or happened during) the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    /// The change record's id.
    pub id: String,
    /// The component it changed.
    pub component_id: ComponentId,
    /// That component's name.
    pub component: String,
    /// `deploy`, `config`, `rollback`, …
    pub kind: String,
    /// What changed.
    pub summary: String,
    /// Version released.
    pub version: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// Link to the pipeline run or pull request.
    pub url: Option<String>,
    /// When it started (UTC).
    pub started_at: DateTime<Utc>,
    /// `started_at` in the document's zone.
    pub local: String,
    /// How long before the start of the trouble it started; `None` when it started after.
    pub before_start: Option<Span>,
    /// The record that corrects this one, if any (both stay listed).
    pub superseded_by: Option<String>,
    /// Why it is listed: "a change to the incident's component", or the dependency path.
    pub why: String,
    /// The release-regression verdict's summary when Pharos judged it suspect, e.g. "p95
    /// latency 3.1× higher since deploy 1.4.2 at 09:00 UTC".
    pub regression: Option<String>,
}

/// A postmortem: drafted from the record, with the human part filled in from the edits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Postmortem {
    /// The incident.
    pub incident_id: IncidentId,
    /// The incident's name.
    pub title: String,
    /// The incident's status now.
    pub incident_status: IncidentStatus,
    /// Its severity.
    pub severity: Option<Severity>,
    /// Its impact.
    pub impact: Impact,
    /// The zone every local time is written in, e.g. `America/Denver`.
    pub time_zone: String,
    /// The same zone, for rendering.
    #[serde(skip)]
    pub tz: Tz,
    /// What happened, in a paragraph.
    pub description: Text,
    /// The drafted description without a person's name, for the public, when it differs
    /// (`None` when people wrote the description: their words are published as written).
    #[serde(skip)]
    pub anonymous_description: Option<String>,
    /// Type of event: "Outage", "Partial outage", "Degradation", …
    pub event_type: Text,
    /// Components impacted, worst first.
    pub services_impacted: Vec<ServiceImpact>,
    /// The edits' own words on the services impacted, if any.
    pub services_note: Option<String>,
    /// When the trouble started.
    pub started_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Start → resolved; `None` while unresolved.
    pub total_duration: Option<Span>,
    /// How it was detected, and the response times.
    pub detection: Detection,
    /// Everything that happened, in time order.
    pub timeline: Vec<Line>,
    /// Changes to the impacted components in the look-back window, oldest first.
    pub changes: Vec<ChangeLine>,
    /// Why it happened.
    pub root_cause: String,
    /// What ended it.
    pub remediation: String,
    /// Follow-ups.
    pub actions: Vec<ActionItem>,
    /// Earlier incidents like this one (filled in by the caller; see [`crate::similar`]).
    pub similar_incidents: Vec<SimilarIncident>,
    /// When this draft was built.
    pub generated_at: DateTime<Utc>,
}

/// Everything a draft is built from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its timeline, any order.
    pub timeline: &'a [TimelineEntry],
    /// Changes to its components and to what they depend on, from the look-back window
    /// before its start to its end (the engine's `incident_changes`), any order.
    pub changes: &'a [RelatedChange],
    /// The saved human part.
    pub edits: &'a PostmortemEdits,
    /// Component id → display name.
    pub component_names: &'a BTreeMap<ComponentId, String>,
}

/// Builds the postmortem of `src.incident`, every local time in `tz`.
pub fn draft(src: &Sources<'_>, tz: Tz, now: DateTime<Utc>) -> Postmortem {
    let inc = src.incident;
    let name_of = |c: &ComponentId| {
        src.component_names
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    };
    let mut entries: Vec<&TimelineEntry> = src.timeline.iter().collect();
    entries.sort_by_key(|e| e.occurred_at);

    let services = services_impacted(inc, &entries, &name_of);
    let detection = detection(inc, &entries);
    let total_duration = inc.time_to_resolve().map(Span::of);
    let changes = change_lines(src.changes, inc, tz, &name_of);
    let timeline = timeline(inc, &entries, &changes, tz, &name_of);

    let derived_type = match inc.impact() {
        Impact::Critical => "Outage",
        Impact::Major => "Partial outage",
        Impact::Minor => "Degradation",
        Impact::None => "No customer impact recorded",
    };
    let event_type = match &src.edits.event_type {
        Some(t) => Text {
            text: t.clone(),
            edited: true,
        },
        None => Text {
            text: derived_type.to_owned(),
            edited: false,
        },
    };
    let (description, anonymous_description) = match &src.edits.description {
        Some(t) => (
            Text {
                text: t.clone(),
                edited: true,
            },
            None,
        ),
        None => {
            let named = derived_description(inc, &services, &detection, &detection.source, tz);
            let anonymous =
                derived_description(inc, &services, &detection, &detection.anonymous_source, tz);
            (
                Text {
                    text: named.clone(),
                    edited: false,
                },
                (anonymous != named).then_some(anonymous),
            )
        }
    };
    Postmortem {
        incident_id: inc.id.clone(),
        title: inc.name.clone(),
        incident_status: inc.status,
        severity: inc.severity,
        impact: inc.impact(),
        time_zone: tz.name().to_owned(),
        tz,
        description,
        anonymous_description,
        event_type,
        services_impacted: services,
        services_note: src.edits.services_impacted.clone(),
        started_at: inc.started_at,
        resolved_at: inc.resolved_at,
        total_duration,
        detection,
        timeline,
        changes,
        root_cause: src.edits.root_cause.clone(),
        remediation: src.edits.remediation.clone(),
        actions: src.edits.actions.clone(),
        similar_incidents: Vec::new(),
        generated_at: now,
    }
}

/// Every component the incident touched, with the worst status seen, worst first (then by
/// name).
fn services_impacted(
    inc: &Incident,
    entries: &[&TimelineEntry],
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<ServiceImpact> {
    fn see(
        worst: &mut BTreeMap<ComponentId, ComponentStatus>,
        c: &ComponentId,
        s: ComponentStatus,
    ) {
        let slot = worst.entry(c.clone()).or_insert(s);
        *slot = slot.worst(s);
    }
    let mut worst: BTreeMap<ComponentId, ComponentStatus> = BTreeMap::new();
    for (c, s) in &inc.components {
        see(&mut worst, c, *s);
    }
    for u in &inc.updates {
        for a in &u.affected {
            see(&mut worst, &a.component_id, a.new_status);
        }
    }
    for e in entries {
        if let TimelineKind::ComponentStatus {
            component_id, to, ..
        } = &e.kind
        {
            if worst.contains_key(component_id) {
                see(&mut worst, component_id, *to);
            }
        }
    }
    let mut out: Vec<ServiceImpact> = worst
        .into_iter()
        .map(|(c, s)| ServiceImpact {
            name: name_of(&c),
            component_id: c,
            worst_status: s,
        })
        .collect();
    out.sort_by(|a, b| {
        b.worst_status
            .severity()
            .cmp(&a.worst_status.severity())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn metric(start: DateTime<Utc>, at: DateTime<Utc>) -> Metric {
    Metric {
        at,
        span: Span::of(at - start),
    }
}

fn detection(inc: &Incident, entries: &[&TimelineEntry]) -> Detection {
    let start = inc.started_at;
    let first_down = entries.iter().find_map(|e| match &e.kind {
        TimelineKind::MonitorDown { monitor_id, .. } => Some(monitor_id.to_string()),
        _ => None,
    });
    let opener = entries.iter().find_map(|e| match (&e.kind, &e.actor) {
        (TimelineKind::Opened { .. }, Actor::Person(p)) => Some(p.clone()),
        _ => None,
    });
    let (source, by_check) = match (first_down, &opener) {
        (_, Some(person)) => (format!("{person} (declared by hand)"), false),
        (Some(m), None) => (format!("the {m} check"), true),
        (None, None) if inc.automated => ("Pharos automation".to_owned(), true),
        (None, None) => ("a person (declared by hand)".to_owned(), false),
    };
    let anonymous_source = if opener.is_some() {
        "a responder (declared by hand)".to_owned()
    } else {
        source.clone()
    };
    let acknowledged = entries
        .iter()
        .find(|e| e.actor.is_person() && e.occurred_at >= inc.created_at)
        .map(|e| e.occurred_at);
    let mitigated = entries
        .iter()
        .find(|e| match &e.kind {
            TimelineKind::PublicUpdate { status, .. } => status == "monitoring",
            TimelineKind::StatusChanged { to, .. } => to == "monitoring",
            _ => false,
        })
        .map(|e| e.occurred_at)
        .or(inc.monitoring_at);
    Detection {
        source,
        anonymous_source,
        by_check,
        time_to_detect: metric(start, inc.created_at),
        time_to_acknowledge: acknowledged.map(|at| metric(start, at)),
        time_to_first_public_update: inc.published_at.map(|at| metric(start, at)),
        time_to_mitigate: mitigated.map(|at| metric(start, at)),
        time_to_resolve: inc.resolved_at.map(|at| metric(start, at)),
    }
}

fn change_lines(
    changes: &[RelatedChange],
    inc: &Incident,
    tz: Tz,
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<ChangeLine> {
    let mut sorted: Vec<&RelatedChange> = changes.iter().collect();
    sorted.sort_by(|a, b| {
        let (a, b) = (&a.entry.change, &b.entry.change);
        a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id))
    });
    sorted
        .into_iter()
        .map(|r| {
            let c = &r.entry.change;
            ChangeLine {
                id: c.id.clone(),
                component_id: c.component.clone(),
                component: name_of(&c.component),
                kind: c.kind.clone(),
                summary: c.summary.clone(),
                version: c.version.clone(),
                author: c.author.clone(),
                url: c.url.clone(),
                started_at: c.started_at,
                local: stamp(c.started_at, tz).0,
                before_start: (c.started_at <= inc.started_at)
                    .then(|| Span::of(inc.started_at - c.started_at)),
                superseded_by: r.entry.superseded_by.clone(),
                why: r.relation.explain(),
                regression: r
                    .entry
                    .regression
                    .as_ref()
                    .filter(|g| g.suspect)
                    .map(|g| g.summary.clone()),
            }
        })
        .collect()
}

fn timeline(
    inc: &Incident,
    entries: &[&TimelineEntry],
    changes: &[ChangeLine],
    tz: Tz,
    name_of: &dyn Fn(&ComponentId) -> String,
) -> Vec<Line> {
    let line = |at: DateTime<Utc>, actor: Actor, kind: &str, text: String, private: bool| {
        let (local, utc) = stamp(at, tz);
        Line {
            at,
            local,
            utc,
            actor,
            kind: kind.to_owned(),
            text,
            private,
            public_text: None,
            anonymous_text: None,
        }
    };
    let mut lines = Vec::with_capacity(entries.len() + changes.len() + 1);
    for c in changes {
        let mut public = format!("Change to {}: {} — {}", c.component, c.kind, c.summary);
        if let Some(v) = &c.version {
            let _ = write!(public, " (version {v})");
        }
        let mut text = public.clone();
        if let Some(a) = &c.author {
            let _ = write!(text, ", by {a}");
        }
        if let Some(s) = &c.superseded_by {
            let _ = write!(text, " [corrected by {s}]");
            public.push_str(" [record corrected later]");
        }
        let mut l = line(c.started_at, Actor::Automation, "change", text, false);
        l.public_text = Some(public);
        lines.push(l);
    }
    let first_failure = entries
        .iter()
        .filter_map(|e| match &e.kind {
            TimelineKind::MonitorDown {
                monitor_id,
                first_failure_at,
                ..
            } => Some((*first_failure_at, monitor_id)),
            _ => None,
        })
        .min_by_key(|(at, _)| *at);
    match first_failure {
        Some((at, m)) => lines.push(line(
            at,
            Actor::Automation,
            "first_failure",
            format!("First failing check of {m}"),
            false,
        )),
        None if inc.started_at < inc.created_at => lines.push(line(
            inc.started_at,
            Actor::Automation,
            "first_failure",
            "The trouble started".to_owned(),
            false,
        )),
        None => {}
    }
    for e in entries {
        let (text, private) = entry_text(e, name_of, true);
        let (anonymous, _) = entry_text(e, name_of, false);
        let mut l = line(e.occurred_at, e.actor.clone(), e.kind_name(), text, private);
        if anonymous != l.text {
            l.anonymous_text = Some(anonymous);
        }
        lines.push(l);
    }
    // Stable: entries at one instant keep the order they were recorded in.
    lines.sort_by_key(|l| l.at);
    lines
}

fn who(actor: &Actor) -> String {
    match actor {
        Actor::Automation => "Pharos".to_owned(),
        Actor::Person(p) => p.clone(),
    }
}

/// One line for a timeline entry, and whether it is private. `named`: whether the line may
/// name the person who did it (else it says what happened without who; Pharos itself is
/// always named).
fn entry_text(
    e: &TimelineEntry,
    name_of: &dyn Fn(&ComponentId) -> String,
    named: bool,
) -> (String, bool) {
    let hidden = e.actor.is_person() && !named;
    // " by alice", or nothing when the person is not named.
    let by = if hidden {
        String::new()
    } else {
        format!(" by {}", who(&e.actor))
    };
    let status_label =
        |s: &str| IncidentStatus::parse(s).map_or(s.to_owned(), |st| st.label().to_owned());
    let text = match &e.kind {
        TimelineKind::Opened { name } if hidden => {
            format!("A responder declared the incident: {name}")
        }
        TimelineKind::Opened { name } if e.actor.is_person() => {
            format!("{} declared the incident: {name}", who(&e.actor))
        }
        TimelineKind::Opened { name } => format!("Pharos opened the incident: {name}"),
        TimelineKind::PublicUpdate { status, .. } if status == "postmortem" => {
            format!("Postmortem published{by}")
        }
        TimelineKind::PublicUpdate { status, body, .. } => {
            let body = excerpt(body);
            if body.is_empty() {
                format!("{}: public update{by}", status_label(status))
            } else {
                format!("{}: public update{by}: {body}", status_label(status))
            }
        }
        TimelineKind::Note { body } => {
            // Never published: always named.
            return (
                format!("Private note by {}: {}", who(&e.actor), excerpt(body)),
                true,
            );
        }
        TimelineKind::Published => "The incident appeared on the public status page".to_owned(),
        TimelineKind::MonitorDown {
            monitor_id, error, ..
        } => {
            let error = excerpt(error);
            if error.is_empty() {
                format!("Check {monitor_id} confirmed down")
            } else {
                format!("Check {monitor_id} confirmed down: {error}")
            }
        }
        TimelineKind::MonitorUp { monitor_id } => format!("Check {monitor_id} passing again"),
        TimelineKind::MonitorDownInMaintenance { monitor_id, error } => {
            format!(
                "Check {monitor_id} failed during maintenance: {}",
                excerpt(error)
            )
        }
        TimelineKind::ComponentStatus {
            component_id,
            from,
            to,
        } => format!(
            "{}: {} → {}",
            name_of(component_id),
            from.label().to_lowercase(),
            to.label().to_lowercase()
        ),
        TimelineKind::StatusChanged { from, to } => {
            format!(
                "Status changed from {} to {}",
                status_label(from),
                status_label(to)
            )
        }
        TimelineKind::SeverityChanged { from, to } => match (from, to) {
            (_, None) => format!("Severity cleared{by}"),
            (None, Some(s)) => format!("Severity set to {}{by}", s.as_str()),
            (Some(f), Some(s)) => {
                format!("Severity changed from {} to {}{by}", f.as_str(), s.as_str())
            }
        },
        TimelineKind::ImpactChanged { from, to } => {
            format!(
                "Impact changed from {} to {}{by}",
                from.as_str(),
                to.as_str()
            )
        }
        TimelineKind::Renamed { from, to } => format!("Renamed from “{from}” to “{to}”{by}"),
        TimelineKind::RoleAssigned { role, person } => match person {
            // The person given the role is a responder too.
            Some(_) if !named => format!("The {role} role was assigned"),
            Some(p) => format!("{p} is the {role} (set{by})"),
            None => format!("The {role} role was cleared{by}"),
        },
        // Kinds added later (alerts, …) read from their recorded fields.
        #[allow(unreachable_patterns)]
        _ => generic_text(e, &by),
    };
    (text, false)
}

/// A line for a timeline kind this module has no words for: its name and its main fields,
/// and who did it when a person did and may be named (`by`: " by alice" or empty).
fn generic_text(e: &TimelineEntry, by: &str) -> String {
    let mut text = e.kind_name().replace('_', " ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&e.kind) {
        let detail: Vec<String> = ["name", "summary", "key", "body"]
            .iter()
            .filter_map(|k| fields.get(*k).and_then(|v| v.as_str()))
            .filter(|v| !v.is_empty())
            .map(excerpt)
            .collect();
        if !detail.is_empty() {
            let _ = write!(text, ": {}", detail.join(" — "));
        }
    }
    if e.actor.is_person() && !by.is_empty() {
        let _ = write!(text, " ({})", by.trim_start());
    }
    text
}

/// `s` on one line, at most [`EXCERPT_LEN`] characters.
fn excerpt(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= EXCERPT_LEN {
        one_line
    } else {
        let cut: String = one_line.chars().take(EXCERPT_LEN).collect();
        format!("{}…", cut.trim_end())
    }
}

/// The drafted description; `source` is what detected it, named or not (see [`Detection`]).
fn derived_description(
    inc: &Incident,
    services: &[ServiceImpact],
    detection: &Detection,
    source: &str,
    tz: Tz,
) -> String {
    let mut out = format!("{}.", inc.name.trim_end_matches('.'));
    if !services.is_empty() {
        let list: Vec<String> = services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.worst_status.label().to_lowercase()))
            .collect();
        let _ = write!(out, " Affected: {}.", list.join(", "));
    }
    let start = stamp(inc.started_at, tz).0;
    match inc.resolved_at {
        Some(end) => {
            let _ = write!(
                out,
                " It lasted {}, from {start} to {}.",
                format_span(end - inc.started_at),
                until(inc.started_at, end, tz)
            );
        }
        None => {
            let _ = write!(out, " It started {start} and is not resolved yet.");
        }
    }
    if detection.by_check {
        let _ = write!(out, " It was detected by {source}.");
    } else {
        let _ = write!(
            out,
            " It was declared by {}.",
            source.trim_end_matches(" (declared by hand)")
        );
    }
    if let Some(p) = &detection.time_to_first_public_update {
        let _ = write!(
            out,
            " The public status page showed it {} after it started.",
            p.span.text
        );
    }
    out
}

/// `at` in `tz` (`2026-03-04 09:25 MST`) and in UTC (`16:25 UTC`, with the date when it
/// differs from the local date).
pub fn stamp(at: DateTime<Utc>, tz: Tz) -> (String, String) {
    let local = at.with_timezone(&tz);
    let local_text = local.format("%Y-%m-%d %H:%M %Z").to_string();
    let utc_text = if local.date_naive() == at.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    };
    (local_text, utc_text)
}

/// The end of a range that starts at `start`: the local time alone when it falls on the same
/// local date (`10:53 MST`), else the full local stamp.
fn until(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (s, e) = (start.with_timezone(&tz), end.with_timezone(&tz));
    if s.date_naive() == e.date_naive() {
        e.format("%H:%M %Z").to_string()
    } else {
        stamp(end, tz).0
    }
}

/// A line's time as written in the document: the local time with UTC beside it, or the UTC
/// time alone when the document is written in UTC.
fn when(local: &str, utc: &str) -> String {
    if local.ends_with(" UTC") {
        local.to_owned()
    } else {
        format!("{local} ({utc})")
    }
}

/// A duration as people read it: `45s`, `28m`, `1h 28m`, `2d 3h 0m` (seconds only under a
/// minute; negative counts as zero).
pub fn format_span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 60 {
        return format!("{s}s");
    }
    let (days, hours, minutes) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m")
    }
}

/// One gap that keeps a postmortem from being published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The section or field at fault, as named in `PUT …/postmortem`: `root_cause`,
    /// `remediation`, `actions`, `actions[0].owner`, `services_impacted`, …
    pub section: String,
    /// What to do about it.
    pub message: String,
}

/// Everything that keeps `pm` from being published, in document order; empty when it is
/// complete. An empty section, no action items, no preventative action, and an action
/// without an owner or a due date are each listed.
pub fn missing(pm: &Postmortem) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut gap = |section: String, message: &str| {
        out.push(Missing {
            section,
            message: message.to_owned(),
        })
    };
    if pm.description.text.trim().is_empty() {
        gap("description".into(), "the description is empty");
    }
    if pm.event_type.text.trim().is_empty() {
        gap("event_type".into(), "the type of event is empty");
    }
    if pm.services_impacted.is_empty() && pm.services_note.is_none() {
        gap(
            "services_impacted".into(),
            "no component was recorded on the incident; name the services impacted",
        );
    }
    if pm.timeline.is_empty() {
        gap("timeline".into(), "the timeline is empty");
    }
    if pm.total_duration.is_none() {
        gap(
            "total_duration".into(),
            "the incident is not resolved yet, so its duration is unknown",
        );
    }
    if pm.root_cause.trim().is_empty() {
        gap("root_cause".into(), "write the root cause: why it happened");
    }
    if pm.remediation.trim().is_empty() {
        gap(
            "remediation".into(),
            "write the remediation: what was done to end it",
        );
    }
    if pm.actions.is_empty() {
        gap(
            "actions".into(),
            "add at least one action item, with an owner and a due date",
        );
    } else if !pm.actions.iter().any(|a| a.kind == ActionKind::Prevent) {
        gap(
            "actions".into(),
            "add at least one action of kind \"prevent\": what keeps this from happening again",
        );
    }
    for (i, a) in pm.actions.iter().enumerate() {
        if a.owner.is_none() {
            gap(
                format!("actions[{i}].owner"),
                &format!("action {} has no owner", a.id),
            );
        }
        if a.due.is_none() {
            gap(
                format!("actions[{i}].due"),
                &format!("action {} has no due date", a.id),
            );
        }
    }
    out
}

/// Who a rendering is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Responders: the whole draft, with a banner listing what is missing, private notes and
    /// similar incidents.
    Internal,
    /// The public page: no private notes, no gaps, no similar incidents, no change authors
    /// or record ids; sections start at level 4 because the page shows the text under the
    /// incident's and the update's headings.
    Public {
        /// Whether it may name responders (who declared it, posted updates, owns an action
        /// item): `[page] show_responders`, off by default.
        show_responders: bool,
    },
}

/// The postmortem as Markdown, section by section: description, type of event, services
/// impacted, timeline (its zone named once in the heading, UTC beside each line), total
/// duration, detection, changes, root cause, remediation, action items (and, for
/// responders, similar incidents). Text people wrote is kept as written.
pub fn render_markdown(pm: &Postmortem, audience: Audience) -> String {
    let (internal, named) = match audience {
        Audience::Internal => (true, true),
        Audience::Public { show_responders } => (false, show_responders),
    };
    let h = if internal { "##" } else { "####" };
    let mut md = String::new();
    let none = "_None recorded._";
    if internal {
        let _ = writeln!(md, "# Postmortem: {}\n", pm.title);
        let gaps = missing(pm);
        if gaps.is_empty() {
            md.push_str("> Complete: ready to publish.\n\n");
        } else {
            md.push_str("> **Draft — incomplete.** Missing before it can be published:\n");
            for g in &gaps {
                let _ = writeln!(md, "> - `{}`: {}", g.section, g.message);
            }
            md.push('\n');
        }
    }

    let description = match &pm.anonymous_description {
        Some(anonymous) if !named => anonymous,
        _ => &pm.description.text,
    };
    let _ = writeln!(md, "{h} Description\n\n{}\n", description.trim());
    let _ = writeln!(md, "{h} Type of event\n\n{}\n", pm.event_type.text.trim());

    let _ = writeln!(md, "{h} Services impacted\n");
    if let Some(note) = &pm.services_note {
        let _ = writeln!(md, "{}\n", note.trim());
    }
    for s in &pm.services_impacted {
        let _ = writeln!(
            md,
            "- {}: {}",
            s.name,
            s.worst_status.label().to_lowercase()
        );
    }
    if pm.services_impacted.is_empty() && pm.services_note.is_none() {
        md.push_str(none);
        md.push('\n');
    }
    md.push('\n');

    let utc_note = if pm.tz.name() == "UTC" || pm.tz.name() == "Etc/UTC" {
        String::new()
    } else {
        ", UTC beside each time".to_owned()
    };
    let _ = writeln!(md, "{h} Timeline (times in {}{utc_note})\n", pm.time_zone);
    let shown: Vec<&Line> = pm
        .timeline
        .iter()
        .filter(|l| internal || !l.private)
        .collect();
    if shown.is_empty() {
        md.push_str(none);
        md.push('\n');
    }
    for l in shown {
        let text = match (&l.anonymous_text, &l.public_text) {
            _ if internal => &l.text,
            (Some(anonymous), _) if !named => anonymous,
            (_, Some(public)) => public,
            _ => &l.text,
        };
        let _ = writeln!(md, "- {} — {}", when(&l.local, &l.utc), text);
    }
    md.push('\n');

    let _ = writeln!(md, "{h} Total duration\n");
    match (&pm.total_duration, pm.resolved_at) {
        (Some(d), Some(end)) => {
            let _ = writeln!(
                md,
                "{}, from {} to {}.\n",
                d.text,
                stamp(pm.started_at, pm.tz).0,
                until(pm.started_at, end, pm.tz)
            );
        }
        _ => {
            let _ = writeln!(
                md,
                "Not resolved yet (started {}).\n",
                stamp(pm.started_at, pm.tz).0
            );
        }
    }

    let d = &pm.detection;
    let _ = writeln!(md, "{h} Detection\n");
    let _ = writeln!(
        md,
        "Detected by {}. Measured from the start of the trouble, {}:\n",
        if named {
            &d.source
        } else {
            &d.anonymous_source
        },
        stamp(pm.started_at, pm.tz).0
    );
    let metric_line = |label: &str, m: &Option<Metric>, otherwise: &str| match m {
        Some(m) => format!("- {label}: {}", m.span.text),
        None => format!("- {label}: {otherwise}"),
    };
    let _ = writeln!(md, "- Time to detect: {}", d.time_to_detect.span.text);
    let _ = writeln!(
        md,
        "{}",
        metric_line(
            "Time to acknowledge",
            &d.time_to_acknowledge,
            "not acknowledged by a person"
        )
    );
    let _ = writeln!(
        md,
        "{}",
        metric_line(
            "Time to first public update",
            &d.time_to_first_public_update,
            "never public"
        )
    );
    let _ = writeln!(
        md,
        "{}",
        metric_line(
            "Time to mitigate",
            &d.time_to_mitigate,
            "never in monitoring"
        )
    );
    let _ = writeln!(
        md,
        "{}",
        metric_line("Time to resolve", &d.time_to_resolve, "not resolved yet")
    );
    md.push('\n');

    let _ = writeln!(md, "{h} Changes before the incident\n");
    if pm.changes.is_empty() {
        let _ = writeln!(
            md,
            "No changes were recorded for the impacted services or what they depend on, from the look-back window before the start to the end.\n"
        );
    } else {
        for c in &pm.changes {
            let relation = match &c.before_start {
                Some(s) => format!("{} before the start", s.text),
                None => "during the incident".to_owned(),
            };
            let mut line = format!("- {} — {} {}: {}", c.local, c.component, c.kind, c.summary);
            if let Some(v) = &c.version {
                let _ = write!(line, " (version {v})");
            }
            if let (Some(a), true) = (&c.author, internal) {
                let _ = write!(line, ", by {a}");
            }
            let _ = write!(line, "; {relation}");
            match (&c.superseded_by, internal) {
                (Some(s), true) => {
                    let _ = write!(line, "; corrected by {s}");
                }
                (Some(_), false) => line.push_str("; this record was corrected later"),
                (None, _) => {}
            }
            if let Some(r) = &c.regression {
                let _ = write!(line, "; suspect: {r}");
            }
            let _ = writeln!(md, "{line}");
        }
        md.push('\n');
    }

    let written = |text: &str| {
        if text.trim().is_empty() {
            "_Not written yet._".to_owned()
        } else {
            text.trim().to_owned()
        }
    };
    let _ = writeln!(md, "{h} Root cause\n\n{}\n", written(&pm.root_cause));
    let _ = writeln!(md, "{h} Remediation\n\n{}\n", written(&pm.remediation));

    let _ = writeln!(md, "{h} Preventative actions\n");
    if pm.actions.is_empty() {
        md.push_str("_None yet._\n");
    }
    for a in &pm.actions {
        let owner = a.owner.as_deref().unwrap_or("**none yet**");
        let due = a
            .due
            .map_or_else(|| "**none yet**".to_owned(), |d| d.to_string());
        // An action's owner is a responder: named only where responders may be.
        let owner = if named {
            format!(" Owner: {owner}.")
        } else {
            String::new()
        };
        let mut line = format!(
            "- {} ({}): {}{owner} Due: {due}.",
            a.id,
            a.kind.as_str(),
            with_stop(&a.description)
        );
        if a.done {
            line.push_str(" Done.");
        }
        if let Some(u) = &a.url {
            let _ = write!(line, " <{u}>");
        }
        let _ = writeln!(md, "{line}");
    }
    md.push('\n');

    if internal {
        let _ = writeln!(md, "{h} Similar incidents\n");
        if pm.similar_incidents.is_empty() {
            md.push_str("_None found._\n");
        }
        for s in &pm.similar_incidents {
            let _ = write!(
                md,
                "- {} ({}), started {}: similarity {:.2}; postmortem {}",
                s.name,
                s.id,
                stamp(s.started_at, pm.tz).0,
                s.score,
                s.postmortem.map_or("none", |p| p.as_str())
            );
            if let Some(rc) = &s.root_cause {
                let _ = write!(md, "; root cause: {}", excerpt(rc));
            }
            md.push('\n');
            for a in &s.open_actions {
                let _ = writeln!(
                    md,
                    "  - still open: {} {} (owner {}, due {})",
                    a.id,
                    excerpt(&a.description),
                    a.owner.as_deref().unwrap_or("none"),
                    a.due.map_or_else(|| "none".to_owned(), |d| d.to_string())
                );
            }
        }
        md.push('\n');
    }
    while md.ends_with("\n\n") {
        md.pop();
    }
    md
}

/// `s` trimmed, ending with a full stop (or its own ending punctuation).
fn with_stop(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

/// Checks that a rendered postmortem fits in one public update.
pub fn check_publishable_length(markdown: &str) -> Result<(), RuleError> {
    let len = markdown.chars().count();
    if len > crate::incident::MAX_BODY_LEN {
        return Err(RuleError::invalid(
            "postmortem",
            format!(
                "the published postmortem would be {len} characters; a public update holds at most {}",
                crate::incident::MAX_BODY_LEN
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::incident::PublicUpdate;

    pub(crate) fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn id(s: &str) -> IncidentId {
        IncidentId::new(s).unwrap()
    }

    pub(crate) fn cid(s: &str) -> ComponentId {
        ComponentId::new(s).unwrap()
    }

    /// A resolved incident on `components`, built through serde so fields added to
    /// `Incident` later (with defaults) need no change here.
    pub(crate) fn incident(
        iid: &str,
        name: &str,
        started: &str,
        created: &str,
        resolved: Option<&str>,
        components: &[(&str, &str)],
    ) -> Incident {
        let components: serde_json::Map<String, serde_json::Value> = components
            .iter()
            .map(|(c, s)| ((*c).to_owned(), serde_json::Value::from(*s)))
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": iid,
            "name": name,
            "status": if resolved.is_some() { "resolved" } else { "investigating" },
            "impact_override": null,
            "computed_impact": "critical",
            "severity": null,
            "components": components,
            "monitors": {},
            "public": true,
            "automated": true,
            "human_owned": false,
            "roles": {},
            "created_at": created,
            "updated_at": created,
            "started_at": started,
            "monitoring_at": null,
            "resolved_at": resolved,
            "first_failure_at": started,
            "published_at": created,
            "healthy_since": null,
            "updates": [],
        }))
        .unwrap()
    }

    fn entry(n: u32, at: &str, actor: Actor, kind: TimelineKind) -> TimelineEntry {
        TimelineEntry {
            id: id(&format!("e{n}")),
            incident_id: id("inc1"),
            occurred_at: t(at),
            recorded_at: t(at),
            actor,
            kind,
        }
    }

    fn update(n: u32, at: &str, actor: Actor, status: &str, body: &str) -> TimelineEntry {
        entry(
            n,
            at,
            actor,
            TimelineKind::PublicUpdate {
                update_id: id(&format!("u{n}")),
                status: status.to_owned(),
                body: body.to_owned(),
            },
        )
    }

    fn alice() -> Actor {
        Actor::Person("alice".into())
    }

    /// Seed 002's shape, in UTC: failing at 09:25, declared and public at 09:27, alice on it
    /// at 09:31, monitoring at 10:39, resolved at 10:53. The timeline is given out of order.
    fn outage() -> (Incident, Vec<TimelineEntry>) {
        let mut inc = incident(
            "inc1",
            "Major outage of API",
            "2026-03-04T16:25:00Z",
            "2026-03-04T16:27:00Z",
            Some("2026-03-04T17:53:00Z"),
            &[("api", "operational")],
        );
        inc.updates.push(PublicUpdate {
            id: id("u1"),
            status: IncidentStatus::Investigating,
            body: "We are investigating a major outage of API".into(),
            created_at: t("2026-03-04T16:27:00Z"),
            actor: Actor::Automation,
            affected: vec![crate::incident::AffectedChange {
                component_id: cid("api"),
                old_status: ComponentStatus::Operational,
                new_status: ComponentStatus::MajorOutage,
            }],
        });
        let timeline = vec![
            update(5, "2026-03-04T17:53:00Z", alice(), "resolved", "All good."),
            entry(
                1,
                "2026-03-04T16:27:00Z",
                Actor::Automation,
                TimelineKind::Opened {
                    name: "Major outage of API".into(),
                },
            ),
            entry(
                2,
                "2026-03-04T16:27:00Z",
                Actor::Automation,
                TimelineKind::MonitorDown {
                    monitor_id: crate::MonitorId::new("api-health").unwrap(),
                    error: "HTTP 503".into(),
                    first_failure_at: t("2026-03-04T16:25:00Z"),
                },
            ),
            update(
                3,
                "2026-03-04T16:27:00Z",
                Actor::Automation,
                "investigating",
                "We are investigating\na major outage of API",
            ),
            entry(
                4,
                "2026-03-04T16:31:00Z",
                alice(),
                TimelineKind::Note {
                    body: "Paged the database on-call.".into(),
                },
            ),
            update(
                6,
                "2026-03-04T17:39:00Z",
                alice(),
                "monitoring",
                "Rolled back; watching.",
            ),
        ];
        (inc, timeline)
    }

    fn names() -> BTreeMap<ComponentId, String> {
        BTreeMap::from([(cid("api"), "API".to_owned())])
    }

    fn build(
        inc: &Incident,
        timeline: &[TimelineEntry],
        edits: &PostmortemEdits,
        tz: Tz,
    ) -> Postmortem {
        let names = names();
        draft(
            &Sources {
                incident: inc,
                timeline,
                changes: &[],
                edits,
                component_names: &names,
            },
            tz,
            t("2026-03-05T00:00:00Z"),
        )
    }

    fn complete_edits() -> PostmortemEdits {
        parse_edits(
            EditsInput {
                root_cause: Some("A connection leak.".into()),
                remediation: Some("Restarted the pool.".into()),
                actions: vec![ActionInput {
                    description: "Alert on open connections".into(),
                    owner: Some("alice".into()),
                    due: Some("2026-04-30".into()),
                    ..ActionInput::default()
                }],
                ..EditsInput::default()
            },
            &PostmortemEdits::default(),
        )
        .unwrap()
    }

    #[test]
    fn the_timeline_is_in_time_order_in_one_zone_with_utc_beside() {
        let (inc, timeline) = outage();
        let pm = build(
            &inc,
            &timeline,
            &PostmortemEdits::default(),
            chrono_tz::America::Denver,
        );
        let at: Vec<DateTime<Utc>> = pm.timeline.iter().map(|l| l.at).collect();
        let mut sorted = at.clone();
        sorted.sort();
        assert_eq!(at, sorted);
        let kinds: Vec<&str> = pm.timeline.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "first_failure",
                "opened",
                "monitor_down",
                "public_update",
                "note",
                "public_update",
                "public_update"
            ],
            "entries at one instant keep their recorded order"
        );
        let first = &pm.timeline[0];
        assert_eq!(first.local, "2026-03-04 09:25 MST");
        assert_eq!(first.utc, "16:25 UTC");
        assert_eq!(first.text, "First failing check of api-health");
        assert_eq!(
            pm.timeline[3].text,
            "Investigating: public update by Pharos: We are investigating a major outage of API",
            "bodies are on one line"
        );
        assert!(pm.timeline[4].private);
        let md = render_markdown(&pm, Audience::Internal);
        assert!(
            md.contains("## Timeline (times in America/Denver, UTC beside each time)"),
            "{md}"
        );
        assert!(
            md.contains("- 2026-03-04 09:25 MST (16:25 UTC) — First failing check of api-health"),
            "{md}"
        );
        assert_eq!(
            md.matches("America/Denver").count(),
            1,
            "the zone is named once: {md}"
        );
    }

    #[test]
    fn zones_follow_daylight_saving_and_dates_that_differ_from_utc() {
        // Denver springs forward on 2026-03-08 at 02:00 MST.
        let (local, utc) = stamp(t("2026-03-08T08:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(
            (local.as_str(), utc.as_str()),
            ("2026-03-08 01:30 MST", "08:30 UTC")
        );
        let (local, _) = stamp(t("2026-03-08T09:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(local, "2026-03-08 03:30 MDT");
        let (local, utc) = stamp(t("2026-03-05T06:30:00Z"), chrono_tz::America::Denver);
        assert_eq!(local, "2026-03-04 23:30 MST");
        assert_eq!(
            utc, "2026-03-05 06:30 UTC",
            "the UTC date is given when it differs"
        );
        let (local, utc) = stamp(t("2026-07-10T09:44:00Z"), chrono_tz::Europe::Berlin);
        assert_eq!(
            (local.as_str(), utc.as_str()),
            ("2026-07-10 11:44 CEST", "09:44 UTC")
        );
        assert_eq!(
            when("2026-07-10 09:44 UTC", "09:44 UTC"),
            "2026-07-10 09:44 UTC"
        );
    }

    #[test]
    fn durations_and_detection_metrics_are_computed_from_the_start() {
        assert_eq!(format_span(Duration::seconds(45)), "45s");
        assert_eq!(format_span(Duration::minutes(28)), "28m");
        assert_eq!(format_span(Duration::minutes(88)), "1h 28m");
        assert_eq!(format_span(Duration::minutes(60)), "1h 0m");
        assert_eq!(format_span(Duration::minutes(2 * 1440 + 61)), "2d 1h 1m");
        assert_eq!(format_span(Duration::seconds(-5)), "0s");

        let (inc, timeline) = outage();
        let pm = build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC);
        assert_eq!(
            pm.total_duration,
            Some(Span {
                seconds: 88 * 60,
                text: "1h 28m".into()
            })
        );
        let d = &pm.detection;
        assert_eq!(d.source, "the api-health check");
        assert!(d.by_check);
        assert_eq!(d.time_to_detect.span.text, "2m");
        assert_eq!(
            d.time_to_acknowledge.as_ref().unwrap().span.text,
            "6m",
            "alice's note"
        );
        assert_eq!(
            d.time_to_first_public_update.as_ref().unwrap().span.text,
            "2m"
        );
        assert_eq!(d.time_to_mitigate.as_ref().unwrap().span.text, "1h 14m");
        assert_eq!(d.time_to_resolve.as_ref().unwrap().span.text, "1h 28m");
        assert_eq!(pm.event_type.text, "Outage");
        assert!(!pm.event_type.edited);
        assert_eq!(
            pm.services_impacted,
            vec![ServiceImpact {
                component_id: cid("api"),
                name: "API".into(),
                worst_status: ComponentStatus::MajorOutage
            }],
            "the worst status seen, not the last"
        );
        assert!(
            pm.description.text.contains("It lasted 1h 28m"),
            "{}",
            pm.description.text
        );

        // Nobody acknowledged, never in monitoring, never public: each is said, not guessed.
        let mut quiet = inc.clone();
        quiet.published_at = None;
        let automation_only: Vec<TimelineEntry> = timeline
            .iter()
            .filter(|e| !e.actor.is_person())
            .cloned()
            .collect();
        let pm = build(
            &quiet,
            &automation_only,
            &PostmortemEdits::default(),
            chrono_tz::UTC,
        );
        assert_eq!(pm.detection.time_to_acknowledge, None);
        assert_eq!(pm.detection.time_to_mitigate, None);
        assert_eq!(pm.detection.time_to_first_public_update, None);
        let md = render_markdown(&pm, Audience::Internal);
        assert!(
            md.contains("- Time to acknowledge: not acknowledged by a person"),
            "{md}"
        );
        assert!(
            md.contains("- Time to mitigate: never in monitoring"),
            "{md}"
        );
    }

    #[test]
    fn a_person_declaring_it_is_the_detection_and_the_acknowledgement() {
        let inc = incident(
            "inc1",
            "Calendar sync removed",
            "2026-07-10T20:34:00Z",
            "2026-07-10T20:34:00Z",
            Some("2026-07-10T23:05:00Z"),
            &[],
        );
        let timeline = vec![entry(
            1,
            "2026-07-10T20:34:00Z",
            alice(),
            TimelineKind::Opened {
                name: "Calendar sync removed".into(),
            },
        )];
        let pm = build(
            &inc,
            &timeline,
            &PostmortemEdits::default(),
            chrono_tz::America::Chicago,
        );
        assert_eq!(pm.detection.source, "alice (declared by hand)");
        assert!(!pm.detection.by_check);
        assert_eq!(
            pm.detection
                .time_to_acknowledge
                .as_ref()
                .unwrap()
                .span
                .seconds,
            0
        );
        assert_eq!(
            pm.timeline[0].text,
            "alice declared the incident: Calendar sync removed"
        );
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert!(gaps.contains(&"services_impacted".to_owned()), "{gaps:?}");
    }

    #[test]
    fn the_public_text_names_no_responder_unless_the_page_says_so() {
        let inc = incident(
            "inc1",
            "Payments failing",
            "2026-07-10T20:34:00Z",
            "2026-07-10T20:34:00Z",
            Some("2026-07-10T23:05:00Z"),
            &[("api", "partial_outage")],
        );
        let token = || Actor::Person("token-1".into());
        let timeline = vec![
            entry(
                1,
                "2026-07-10T20:34:00Z",
                alice(),
                TimelineKind::Opened {
                    name: "Payments failing".into(),
                },
            ),
            entry(
                2,
                "2026-07-10T20:35:00Z",
                alice(),
                TimelineKind::SeverityChanged {
                    from: None,
                    to: Some(Severity::S2),
                },
            ),
            entry(
                3,
                "2026-07-10T20:36:00Z",
                token(),
                TimelineKind::RoleAssigned {
                    role: "commander".into(),
                    person: Some("bob".into()),
                },
            ),
            entry(
                4,
                "2026-07-10T20:37:00Z",
                token(),
                TimelineKind::Renamed {
                    from: "Payments failing".into(),
                    to: "Payments failing in EU".into(),
                },
            ),
            update(
                5,
                "2026-07-10T21:00:00Z",
                token(),
                "identified",
                "Found it.",
            ),
            update(6, "2026-07-10T23:05:00Z", alice(), "resolved", "Fixed."),
            update(7, "2026-07-11T09:00:00Z", alice(), "postmortem", "…"),
        ];
        let pm = build(&inc, &timeline, &complete_edits(), chrono_tz::UTC);
        // Responders' draft: complete, with names.
        let internal = render_markdown(&pm, Audience::Internal);
        for name in ["alice", "token-1", "bob"] {
            assert!(internal.contains(name), "{name} missing from:\n{internal}");
        }
        assert_eq!(pm.detection.source, "alice (declared by hand)");

        let public = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        for name in ["alice", "token-1", "bob"] {
            assert!(!public.contains(name), "{name} named in:\n{public}");
        }
        for line in [
            "It was declared by a responder.",
            "Detected by a responder (declared by hand).",
            "— A responder declared the incident: Payments failing",
            "— Severity set to S2\n",
            "— The commander role was assigned\n",
            "— Renamed from “Payments failing” to “Payments failing in EU”\n",
            "— Identified: public update: Found it.",
            "— Postmortem published\n",
            "- A1 (prevent): Alert on open connections. Due: 2026-04-30.",
        ] {
            assert!(public.contains(line), "{line:?} missing from:\n{public}");
        }

        let named = render_markdown(
            &pm,
            Audience::Public {
                show_responders: true,
            },
        );
        for line in [
            "It was declared by alice.",
            "— alice declared the incident",
            "— bob is the commander (set by token-1)",
            "— Identified: public update by token-1: Found it.",
            "Owner: alice.",
        ] {
            assert!(named.contains(line), "{line:?} missing from:\n{named}");
        }
        assert!(!named.contains("Private note"), "{named}");
    }

    #[test]
    fn a_fresh_draft_needs_only_the_human_parts() {
        let (inc, timeline) = outage();
        let pm = build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC);
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert_eq!(gaps, ["root_cause", "remediation", "actions"]);

        let pm = build(&inc, &timeline, &complete_edits(), chrono_tz::UTC);
        assert_eq!(missing(&pm), vec![]);

        let mut open = inc.clone();
        open.resolved_at = None;
        open.status = IncidentStatus::Identified;
        let pm = build(&open, &timeline, &complete_edits(), chrono_tz::UTC);
        let gaps: Vec<String> = missing(&pm).into_iter().map(|m| m.section).collect();
        assert_eq!(gaps, ["total_duration"]);
    }

    #[test]
    fn actions_without_owner_or_due_date_or_prevention_are_flagged() {
        let (inc, timeline) = outage();
        let edits = parse_edits(
            EditsInput {
                root_cause: Some("x".into()),
                remediation: Some("y".into()),
                actions: vec![
                    ActionInput {
                        description: "Runbook for the pool".into(),
                        kind: Some("process".into()),
                        owner: Some("sre".into()),
                        ..ActionInput::default()
                    },
                    ActionInput {
                        description: "Review alerts".into(),
                        kind: Some("mitigate".into()),
                        due: Some("2026-05-01".into()),
                        ..ActionInput::default()
                    },
                ],
                ..EditsInput::default()
            },
            &PostmortemEdits::default(),
        )
        .unwrap();
        let pm = build(&inc, &timeline, &edits, chrono_tz::UTC);
        let gaps = missing(&pm);
        let sections: Vec<&str> = gaps.iter().map(|m| m.section.as_str()).collect();
        assert_eq!(sections, ["actions", "actions[0].due", "actions[1].owner"]);
        assert!(gaps[0].message.contains("prevent"), "{gaps:?}");
        assert_eq!(gaps[2].message, "action A2 has no owner");
        let md = render_markdown(&pm, Audience::Internal);
        assert!(md.contains("> **Draft — incomplete.**"), "{md}");
        assert!(
            md.contains("> - `actions[1].owner`: action A2 has no owner"),
            "{md}"
        );
        assert!(
            md.contains("- A2 (mitigate): Review alerts. Owner: **none yet**. Due: 2026-05-01."),
            "{md}"
        );
    }

    #[test]
    fn edits_are_checked_field_by_field_and_actions_get_stable_ids() {
        let none = PostmortemEdits::default();
        let action = |d: &str| ActionInput {
            description: d.into(),
            ..ActionInput::default()
        };
        let refuse = |input: EditsInput, previous: &PostmortemEdits| {
            parse_edits(input, previous).unwrap_err().field().to_owned()
        };
        let with_actions = |actions| EditsInput {
            actions,
            ..EditsInput::default()
        };
        assert_eq!(
            refuse(
                with_actions(vec![
                    action("a"),
                    ActionInput {
                        due: Some("30/04/2026".into()),
                        ..action("b")
                    }
                ]),
                &none
            ),
            "actions[1].due"
        );
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    owner: Some("  ".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].owner"
        );
        assert_eq!(
            refuse(with_actions(vec![action(" ")]), &none),
            "actions[0].description"
        );
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    kind: Some("fix".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].kind"
        );
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    url: Some("javascript:alert(1)".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].url"
        );
        assert_eq!(
            refuse(
                with_actions(vec![ActionInput {
                    id: Some("A9".into()),
                    ..action("a")
                }]),
                &none
            ),
            "actions[0].id"
        );
        assert_eq!(
            refuse(
                EditsInput {
                    time_zone: Some("Mars/Olympus".into()),
                    ..EditsInput::default()
                },
                &none
            ),
            "time_zone"
        );
        for abbreviation in ["MST", "EST", "CST6CDT"] {
            assert_eq!(
                refuse(
                    EditsInput {
                        time_zone: Some(abbreviation.into()),
                        ..EditsInput::default()
                    },
                    &none
                ),
                "time_zone",
                "{abbreviation}"
            );
        }
        assert_eq!(parse_time_zone("tz", "UTC"), Ok(chrono_tz::UTC));
        assert_eq!(parse_time_zone("tz", " Etc/UTC "), Ok(chrono_tz::Etc::UTC));
        assert_eq!(
            refuse(
                EditsInput {
                    root_cause: Some("x".repeat(MAX_TEXT_LEN + 1)),
                    ..EditsInput::default()
                },
                &none
            ),
            "root_cause"
        );

        let first = parse_edits(
            EditsInput {
                description: Some("   ".into()),
                time_zone: Some("America/Denver".into()),
                actions: vec![action("one"), action("two")],
                ..EditsInput::default()
            },
            &none,
        )
        .unwrap();
        assert_eq!(first.description, None, "blank keeps the drafted text");
        assert_eq!(first.tz(), Some(chrono_tz::America::Denver));
        let ids: Vec<&str> = first.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["A1", "A2"]);
        assert_eq!(first.actions[0].kind, ActionKind::Prevent);

        // Keep A2 (now done), drop A1, add one: the new one does not take a used number.
        let second = parse_edits(
            with_actions(vec![
                ActionInput {
                    id: Some("A2".into()),
                    done: Some(true),
                    ..action("two")
                },
                action("three"),
            ]),
            &first,
        )
        .unwrap();
        let ids: Vec<(&str, bool)> = second
            .actions
            .iter()
            .map(|a| (a.id.as_str(), a.done))
            .collect();
        assert_eq!(ids, [("A2", true), ("A3", false)]);
        assert_eq!(
            refuse(
                with_actions(vec![
                    ActionInput {
                        id: Some("A2".into()),
                        ..action("x")
                    },
                    ActionInput {
                        id: Some("A2".into()),
                        ..action("y")
                    }
                ]),
                &first
            ),
            "actions[1].id"
        );
    }

    #[test]
    fn edits_round_trip_as_stored_json() {
        let edits = complete_edits();
        let json = serde_json::to_string(&edits).unwrap();
        assert!(json.contains("\"due\":\"2026-04-30\""), "{json}");
        assert!(json.contains("\"kind\":\"prevent\""), "{json}");
        assert_eq!(
            serde_json::from_str::<PostmortemEdits>(&json).unwrap(),
            edits
        );
        // An older, smaller document still loads.
        let old: PostmortemEdits = serde_json::from_str(r#"{"root_cause":"x"}"#).unwrap();
        assert_eq!(old.root_cause, "x");
        assert!(old.actions.is_empty());
    }

    #[test]
    fn markdown_has_every_section_in_order_and_the_public_text_hides_private_parts() {
        let (inc, timeline) = outage();
        let mut edits = complete_edits();
        edits.event_type = Some("Service disruption".into());
        let mut pm = build(&inc, &timeline, &edits, chrono_tz::America::Denver);
        pm.similar_incidents.push(SimilarIncident {
            id: id("old1"),
            name: "Major outage of API".into(),
            status: IncidentStatus::Postmortem,
            started_at: t("2026-02-01T10:00:00Z"),
            resolved_at: None,
            score: 0.5,
            shared_components: vec![cid("api")],
            postmortem: Some(crate::similar::PostmortemState::Published),
            root_cause: Some("Leak".into()),
            open_actions: vec![],
        });
        let md = render_markdown(&pm, Audience::Internal);
        let order = [
            "# Postmortem: Major outage of API",
            "> Complete: ready to publish.",
            "## Description",
            "## Type of event\n\nService disruption",
            "## Services impacted\n\n- API: major outage",
            "## Timeline",
            "## Total duration\n\n1h 28m, from 2026-03-04 09:25 MST to 10:53 MST.",
            "## Detection\n\nDetected by the api-health check.",
            "- Time to resolve: 1h 28m",
            "## Changes before the incident\n\nNo changes were recorded",
            "## Root cause\n\nA connection leak.",
            "## Remediation\n\nRestarted the pool.",
            "## Preventative actions\n\n- A1 (prevent): Alert on open connections. Owner: alice. Due: 2026-04-30.",
            "## Similar incidents\n\n- Major outage of API (old1)",
        ];
        let mut from = 0;
        for part in order {
            let at = md[from..]
                .find(part)
                .unwrap_or_else(|| panic!("{part:?} missing or out of order in:\n{md}"));
            from += at + part.len();
        }
        assert!(md.contains("Private note by alice: Paged the database on-call."));

        let public = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        assert!(public.starts_with("#### Description\n"), "{public}");
        assert!(!public.contains("Paged the database"), "{public}");
        assert!(!public.contains("Similar incidents"), "{public}");
        assert!(!public.contains("Postmortem:"), "{public}");
        assert!(!public.contains("Draft"), "{public}");
        assert!(public.contains("#### Preventative actions"), "{public}");
        assert!(check_publishable_length(&public).is_ok());
        assert_eq!(
            check_publishable_length(&"x".repeat(crate::incident::MAX_BODY_LEN + 1))
                .unwrap_err()
                .field(),
            "postmortem"
        );
    }

    #[test]
    fn changes_before_the_start_are_listed_and_on_the_timeline() {
        let (inc, timeline) = outage();
        use crate::change::Change;
        let change = |cid_: &str, at: &str, supersedes: Option<&str>| Change {
            id: cid_.to_owned(),
            component: cid("api"),
            kind: "deploy".into(),
            summary: "Auth update".into(),
            version: Some("1.4.2".into()),
            commit: None,
            environment: None,
            author: Some("ci".into()),
            url: None,
            started_at: t(at),
            finished_at: None,
            external_id: None,
            supersedes: supersedes.map(str::to_owned),
            source: "api".into(),
            recorded_at: t(at),
            recorded_by: "ci".into(),
        };
        let related = |change: Change, superseded_by: Option<&str>| RelatedChange {
            before_incident: change.started_at <= inc.started_at,
            entry: crate::change::ChangeEntry {
                change,
                superseded_by: superseded_by.map(str::to_owned),
                regression: None,
            },
            relation: crate::change::Relation::SameComponent,
        };
        let changes = vec![
            related(change("chg_b", "2026-03-04T16:00:00Z", Some("chg_a")), None),
            related(change("chg_a", "2026-03-03T16:00:00Z", None), Some("chg_b")),
        ];
        let names = names();
        let pm = draft(
            &Sources {
                incident: &inc,
                timeline: &timeline,
                changes: &changes,
                edits: &PostmortemEdits::default(),
                component_names: &names,
            },
            chrono_tz::UTC,
            t("2026-03-05T00:00:00Z"),
        );
        let ids: Vec<&str> = pm.changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["chg_a", "chg_b"], "oldest first");
        assert_eq!(pm.changes[0].superseded_by.as_deref(), Some("chg_b"));
        assert_eq!(pm.changes[1].before_start.as_ref().unwrap().text, "25m");
        assert_eq!(pm.timeline[1].kind, "change");
        assert_eq!(
            pm.timeline[1].text,
            "Change to API: deploy — Auth update (version 1.4.2), by ci"
        );
        let md = render_markdown(
            &pm,
            Audience::Public {
                show_responders: false,
            },
        );
        assert!(
            md.contains("- 2026-03-04 16:00 UTC — API deploy: Auth update (version 1.4.2); 25m before the start"),
            "{md}"
        );
        assert_eq!(pm.changes[0].why, "a change to the incident's component");
        // The published text names no record ids and no authors; responders see both.
        assert!(!md.contains("chg_") && !md.contains("by ci"), "{md}");
        assert!(md.contains("this record was corrected later"), "{md}");
        assert!(md.contains("[record corrected later]"), "{md}");
        let internal = render_markdown(&pm, Audience::Internal);
        assert!(internal.contains("; corrected by chg_b"), "{internal}");
        assert!(internal.contains("by ci"), "{internal}");
    }

    /// A postmortem that reaches every branch of the renderer: a zone with UTC beside, changes
    /// (corrected, suspect, during the incident, by a named author), actions (done, linked,
    /// without owner or due date), similar incidents (with and without a postmortem, a long
    /// root cause, open actions), a private note and a person's updates.
    fn everything() -> Postmortem {
        use crate::change::{Change, ChangeEntry, Regression, RegressionState, Relation};
        let (mut inc, mut timeline) = outage();
        inc.components.insert(cid("db"), ComponentStatus::DegradedPerformance);
        timeline.push(entry(
            7,
            "2026-03-04T16:40:00Z",
            alice(),
            TimelineKind::SeverityChanged {
                from: None,
                to: Some(Severity::S1),
            },
        ));
        timeline.push(entry(
            8,
            "2026-03-04T16:41:00Z",
            Actor::Person("token-1".into()),
            TimelineKind::RoleAssigned {
                role: "commander".into(),
                person: Some("bob".into()),
            },
        ));
        let change = |id_: &str, component: &str, at: &str| Change {
            id: id_.to_owned(),
            component: cid(component),
            kind: "deploy".into(),
            summary: "Pool settings".into(),
            version: None,
            commit: None,
            environment: None,
            author: None,
            url: None,
            started_at: t(at),
            finished_at: None,
            external_id: None,
            supersedes: None,
            source: "api".into(),
            recorded_at: t(at),
            recorded_by: "ci".into(),
        };
        let related = |change: Change, superseded_by: Option<&str>, suspect: Option<&str>| {
            RelatedChange {
                before_incident: change.started_at <= inc.started_at,
                entry: ChangeEntry {
                    superseded_by: superseded_by.map(str::to_owned),
                    regression: suspect.map(|summary| Regression {
                        state: RegressionState::Suspect,
                        suspect: true,
                        summary: summary.to_owned(),
                        monitors: vec![],
                        before: None,
                        after: None,
                        window_seconds: 900,
                        evaluated_at: change.started_at,
                        recovered_at: None,
                    }),
                    change,
                },
                relation: Relation::SameComponent,
            }
        };
        let released = Change {
            version: Some("1.4.2".into()),
            author: Some("carol".into()),
            ..change("chg_b", "api", "2026-03-04T15:00:00Z")
        };
        let changes = vec![
            related(
                released,
                None,
                Some("p95 latency 3.1× higher since deploy 1.4.2 at 15:00 UTC"),
            ),
            related(
                change("chg_a", "db", "2026-03-03T15:00:00Z"),
                Some("chg_c"),
                None,
            ),
            related(change("chg_d", "db", "2026-03-04T17:00:00Z"), None, None),
        ];
        let mut edits = complete_edits();
        edits.actions.push(ActionItem {
            id: "A2".into(),
            description: "Runbook for the pool!".into(),
            owner: None,
            due: None,
            kind: ActionKind::Process,
            done: true,
            url: Some("https://tracker.example.com/T-1".into()),
        });
        let names = names();
        let mut pm = draft(
            &Sources {
                incident: &inc,
                timeline: &timeline,
                changes: &changes,
                edits: &edits,
                component_names: &names,
            },
            chrono_tz::America::Denver,
            t("2026-03-05T00:00:00Z"),
        );
        pm.similar_incidents = vec![
            SimilarIncident {
                id: id("old1"),
                name: "Major outage of API".into(),
                status: IncidentStatus::Postmortem,
                started_at: t("2026-02-01T10:00:00Z"),
                resolved_at: None,
                score: 0.456,
                shared_components: vec![cid("api")],
                postmortem: Some(crate::similar::PostmortemState::Published),
                root_cause: Some(format!("A leak\nin the pool. {}", "Long words. ".repeat(30))),
                open_actions: vec![
                    ActionItem {
                        due: None,
                        owner: None,
                        ..edits.actions[1].clone()
                    },
                    edits.actions[0].clone(),
                ],
            },
            SimilarIncident {
                id: id("old2"),
                name: "Slow API".into(),
                status: IncidentStatus::Resolved,
                started_at: t("2026-01-01T10:00:00Z"),
                resolved_at: None,
                score: 0.3,
                shared_components: vec![cid("api")],
                postmortem: None,
                root_cause: None,
                open_actions: vec![],
            },
        ];
        pm
    }

    /// An incident still open, with nothing written yet, no component and no timeline, in
    /// `Etc/UTC`: every "not yet" wording.
    fn bare() -> Postmortem {
        let mut inc = incident(
            "inc2",
            "Calendar sync removed",
            "2026-07-10T20:30:00Z",
            "2026-07-10T20:34:00Z",
            None,
            &[],
        );
        inc.published_at = None;
        let mut pm = build(&inc, &[], &PostmortemEdits::default(), chrono_tz::Etc::UTC);
        assert_eq!(pm.timeline.len(), 1, "only the start of the trouble");
        pm.timeline.clear();
        pm
    }

    /// Every rendering, byte for byte, against the documents in `golden/` (set
    /// `PHAROS_BLESS_GOLDEN=1` to rewrite them after a deliberate change in wording).
    #[test]
    fn renderings_match_the_golden_documents() {
        let (inc, timeline) = outage();
        let bare_with_note = build(
            &incident(
                "inc2",
                "Calendar sync removed",
                "2026-07-10T20:30:00Z",
                "2026-07-10T20:34:00Z",
                None,
                &[],
            ),
            &[],
            &PostmortemEdits {
                services_impacted: Some("Calendar sync, for every customer.".into()),
                ..PostmortemEdits::default()
            },
            chrono_tz::UTC,
        );
        let public = Audience::Public {
            show_responders: false,
        };
        let named = Audience::Public {
            show_responders: true,
        };
        let cases = [
            ("everything_internal", everything(), Audience::Internal),
            ("everything_public", everything(), public),
            ("everything_public_named", everything(), named),
            ("bare_internal", bare(), Audience::Internal),
            ("bare_public", bare(), public),
            ("note_internal", bare_with_note, Audience::Internal),
            (
                "outage_internal",
                build(&inc, &timeline, &PostmortemEdits::default(), chrono_tz::UTC),
                Audience::Internal,
            ),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/postmortem/golden");
        let bless = std::env::var_os("PHAROS_BLESS_GOLDEN").is_some();
        for (name, pm, audience) in cases {
            let md = render_markdown(&pm, audience);
            let path = dir.join(format!("{name}.md"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &md).unwrap();
            }
            let golden = std::fs::read_to_string(&path).unwrap();
            assert_eq!(md, golden, "{name} differs from {}", path.display());
        }
    }
}
