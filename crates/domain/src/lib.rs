//! The pure core of Pharos: what a monitor is, what a check observed, how a condition is
//! judged, how monitor health moves, how component statuses roll up into the page status, how
//! uptime is weighed, and who may do what (`access`: roles, permissions, token scopes).
//! Nothing here does I/O or reads the clock: callers pass `now`.

pub mod access;
pub mod address;
pub mod alert;
pub mod change;
pub mod check;
pub mod condition;
pub mod duration;
pub mod fingerprint;
pub mod health;
pub mod heartbeat;
pub mod ids;
pub mod incident;
pub mod link;
pub mod location;
pub mod monitor;
pub mod postmortem;
pub mod prometheus;
pub mod report;
pub mod request;
pub mod similar;
pub mod status;
pub mod uptime;

pub use access::{Permission, Role, Scope, UnknownRole, UnknownScope};
pub use change::{Change, ChangeEntry, NewChange, Regression};
pub use check::{CheckOutcome, CheckResult, Observation, PhaseTimings};
pub use condition::{Condition, ConditionError, ConditionResult};
pub use health::{Health, MonitorState, Thresholds, Transition};
pub use ids::{ComponentId, IdError, LocationId, MonitorId};
pub use incident::{
    Actor, Impact, Incident, IncidentId, IncidentStatus, Maintenance, MaintenanceStatus, RuleError,
    Severity,
};
pub use monitor::{
    DnsSpec, HttpSpec, IcmpSpec, MonitorKind, MonitorSpec, QuietRules, Secret, StatusRange,
    TcpSpec, TlsSpec,
};
pub use status::{ComponentStatus, ComponentTransition, Indicator, PageStatus};
