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
//! - [`draft()`] builds the [`Postmortem`] from the incident, its timeline, the changes, the
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
//!
//! Where things are: `edits` (the human part and its checks), `draft` (the document built
//! from the record), `publish` (what keeps it from being published), `render` (Markdown, from
//! the `templates/postmortem.md` template) and `words` (how times, lengths of time and
//! excerpts are written, the same in the draft and in the document). This module holds the
//! document's types; everything is used from here, as `pharos_domain::postmortem::…`.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::incident::{Actor, Impact, IncidentId, IncidentStatus, Severity};
use crate::similar::SimilarIncident;
use crate::{ComponentId, ComponentStatus};

mod draft;
mod edits;
#[cfg(test)]
pub(crate) mod fixtures;
mod publish;
mod render;
mod words;

pub use draft::{draft, timeline_line, Sources};
pub use edits::{
    parse_edits, parse_time_zone, time_zone, ActionInput, ActionItem, ActionKind, EditsInput,
    PostmortemEdits, MAX_ACTIONS, MAX_ACTION_LEN, MAX_OWNER_LEN, MAX_SHORT_LEN, MAX_TEXT_LEN,
    MAX_URL_LEN,
};
pub use publish::{check_publishable_length, missing, Missing};
pub use render::{render_markdown, Audience};
pub use words::{format_span, stamp};

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
