//! Changes: deploys, configuration pushes and other changes to a component, recorded by the
//! pipeline that made them. Records are append-only: a correction is a new record that
//! supersedes the old one, and both stay visible, so a wrong deployment record can be put
//! right without hiding that it was once believed (seed 002).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ComponentId;

/// One recorded change, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Pharos's id for the record, e.g. `chg_k3v9x0q2m7ab`.
    pub id: String,
    /// The component it changed.
    pub component: ComponentId,
    /// What kind of change: `deploy`, `config`, `feature_flag`, `infrastructure`,
    /// `migration`, `rollback` or `other`.
    pub kind: String,
    /// One line saying what changed.
    pub summary: String,
    /// The version released, e.g. `1.4.2`.
    pub version: Option<String>,
    /// The commit released.
    pub commit: Option<String>,
    /// Where it went, e.g. `production`.
    pub environment: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// A link to the pipeline run, pull request or ticket.
    pub url: Option<String>,
    /// When the change started (UTC); the time it was recorded when the sender gave none.
    pub started_at: DateTime<Utc>,
    /// When it finished, if known.
    pub finished_at: Option<DateTime<Utc>>,
    /// The sender's own id for it (a pipeline run id, PagerDuty's dedup key…).
    pub external_id: Option<String>,
    /// The record this one corrects.
    pub supersedes: Option<String>,
    /// Where it came from: `api`, `pagerduty` or `cli`.
    pub source: String,
    /// When Pharos recorded it (UTC).
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it: the admin token's name.
    pub recorded_by: String,
}
