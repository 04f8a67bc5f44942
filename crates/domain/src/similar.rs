//! Similar incidents: when an incident opens, the earlier ones on the same components whose
//! text reads alike, with their postmortems and the action items still open — so a connection
//! leak that took a service down on Thursday is in front of the responder when it does it
//! again on Monday (seed 003).
//!
//! An earlier incident is a candidate when it shares at least one component with the new one.
//! Its score is the cosine similarity of TF-IDF vectors of words and word pairs (the Rootly
//! approach: 1–2-grams, smoothed IDF) over each incident's name, public update bodies and
//! postmortem root cause; candidates scoring at least [`THRESHOLD`] are kept, best first.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use strum::IntoStaticStr;

use crate::incident::{Incident, IncidentId, IncidentStatus};
use crate::postmortem::{ActionItem, PostmortemEdits};
use crate::ComponentId;

/// The lowest score that counts as similar (Rootly's default).
pub const THRESHOLD: f64 = 0.15;
/// Most similar incidents listed.
pub const LIMIT: usize = 5;

/// Words too common to say anything.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have",
    "he", "her", "his", "how", "if", "in", "into", "is", "it", "its", "it's", "may", "more", "no",
    "not", "now", "of", "on", "or", "our", "out", "over", "so", "some", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "under", "up", "us", "was",
    "we", "were", "what", "when", "which", "while", "who", "will", "with", "would", "you", "your",
];

/// Where a similar incident's postmortem stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PostmortemState {
    /// Edits are saved, not published.
    Draft,
    /// Published.
    Published,
}

impl PostmortemState {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An incident with its postmortem, as the search sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its saved postmortem edits, if any.
    pub postmortem: Option<&'a PostmortemEdits>,
    /// Whether that postmortem is published.
    pub published: bool,
}

/// An earlier incident like the one asked about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarIncident {
    /// Its id.
    pub id: IncidentId,
    /// Its name.
    pub name: String,
    /// Its status now.
    pub status: IncidentStatus,
    /// When its trouble started.
    pub started_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Text similarity, 0 to 1 (three decimals).
    pub score: f64,
    /// The components both incidents touched.
    pub shared_components: Vec<ComponentId>,
    /// Its postmortem: `draft`, `published`, or `null` when none was started.
    pub postmortem: Option<PostmortemState>,
    /// The root cause its postmortem gives, if written.
    pub root_cause: Option<String>,
    /// Its action items not done yet.
    pub open_actions: Vec<ActionItem>,
}

/// The incidents among `others` that started before `target` was declared, share a component
/// with it and read alike (score ≥ `threshold`), best first (newest first on a tie), at most
/// `limit`.
pub fn find(
    target: Candidate<'_>,
    others: &[Candidate<'_>],
    threshold: f64,
    limit: usize,
) -> Vec<SimilarIncident> {
    let t = target.incident;
    let pool: Vec<(&Candidate<'_>, Vec<ComponentId>)> = others
        .iter()
        .filter(|c| c.incident.id != t.id && c.incident.created_at < t.created_at)
        .filter_map(|c| {
            let shared: Vec<ComponentId> = c
                .incident
                .components
                .keys()
                .filter(|k| t.components.contains_key(*k))
                .cloned()
                .collect();
            (!shared.is_empty()).then_some((c, shared))
        })
        .collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let mut docs = vec![terms(&text_of(target))];
    docs.extend(pool.iter().map(|(c, _)| terms(&text_of(**c))));
    let vectors = tf_idf(&docs);
    let mut out: Vec<SimilarIncident> = pool
        .into_iter()
        .zip(vectors.iter().skip(1))
        .filter_map(|((c, shared), v)| {
            let score = cosine(&vectors[0], v);
            (score >= threshold).then(|| {
                let i = c.incident;
                SimilarIncident {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    status: i.status,
                    started_at: i.started_at,
                    resolved_at: i.resolved_at,
                    score: (score * 1000.0).round() / 1000.0,
                    shared_components: shared,
                    postmortem: c.postmortem.map(|_| {
                        if c.published {
                            PostmortemState::Published
                        } else {
                            PostmortemState::Draft
                        }
                    }),
                    root_cause: c
                        .postmortem
                        .map(|p| p.root_cause.trim().to_owned())
                        .filter(|r| !r.is_empty()),
                    open_actions: c
                        .postmortem
                        .map(|p| p.open_actions().cloned().collect())
                        .unwrap_or_default(),
                }
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.started_at.cmp(&a.started_at))
    });
    out.truncate(limit);
    out
}

/// The words an incident is compared on: its name, its public updates, its root cause. A
/// published postmortem's update is left out: it repeats the timeline, and its root cause is
/// taken from the postmortem itself.
fn text_of(c: Candidate<'_>) -> String {
    let mut text = c.incident.name.clone();
    for u in c
        .incident
        .updates
        .iter()
        .filter(|u| u.status != IncidentStatus::Postmortem)
    {
        text.push('\n');
        text.push_str(&u.body);
    }
    if let Some(p) = c.postmortem {
        text.push('\n');
        text.push_str(&p.root_cause);
    }
    text
}

/// Lower-cased words (letters and digits) without stop words, then every pair of neighbours.
fn terms(text: &str) -> Vec<String> {
    let stop: HashSet<&str> = STOPWORDS.iter().copied().collect();
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 2 && !stop.contains(w.as_str()))
        .collect();
    let pairs: Vec<String> = words
        .windows(2)
        .map(|w| format!("{} {}", w[0], w[1]))
        .collect();
    words.into_iter().chain(pairs).collect()
}

/// L2-normalised TF-IDF vectors, IDF smoothed as scikit-learn does
/// (`ln((1 + n) / (1 + df)) + 1`), so a term every document shares still counts a little.
fn tf_idf(docs: &[Vec<String>]) -> Vec<BTreeMap<&str, f64>> {
    let mut df: HashMap<&str, usize> = HashMap::new();
    for d in docs {
        let unique: HashSet<&str> = d.iter().map(String::as_str).collect();
        for t in unique {
            *df.entry(t).or_default() += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let n = docs.len() as f64;
    docs.iter()
        .map(|d| {
            let mut v: BTreeMap<&str, f64> = BTreeMap::new();
            for t in d {
                *v.entry(t.as_str()).or_default() += 1.0;
            }
            for (t, w) in v.iter_mut() {
                #[allow(clippy::cast_precision_loss)]
                let df = df.get(t).copied().unwrap_or(1) as f64;
                *w *= ((1.0 + n) / (1.0 + df)).ln() + 1.0;
            }
            let norm = v.values().map(|w| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                for w in v.values_mut() {
                    *w /= norm;
                }
            }
            v
        })
        .collect()
}

fn cosine(a: &BTreeMap<&str, f64>, b: &BTreeMap<&str, f64>) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter_map(|(t, w)| large.get(t).map(|x| w * x))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Actor, PublicUpdate};
    use crate::postmortem::fixtures::{incident, t};
    use crate::postmortem::{parse_edits, ActionInput, EditsInput};

    fn with_body(mut i: Incident, body: &str) -> Incident {
        i.updates.push(PublicUpdate {
            id: IncidentId::new(format!("u{}", i.updates.len())).unwrap(),
            status: IncidentStatus::Investigating,
            body: body.to_owned(),
            created_at: i.created_at,
            actor: Actor::Automation,
            affected: vec![],
        });
        i
    }

    fn candidate<'a>(i: &'a Incident, pm: Option<&'a PostmortemEdits>) -> Candidate<'a> {
        Candidate {
            incident: i,
            postmortem: pm,
            published: true,
        }
    }

    #[test]
    fn earlier_incidents_on_the_same_component_with_similar_text_are_found_best_first() {
        let at = |d: u32| format!("2024-01-{d:02}T14:33:00Z");
        let thursday = with_body(
            incident(
                "thu",
                "Booking service slow",
                &at(25),
                &at(25),
                Some(&at(26)),
                &[("booking", "major_outage")],
            ),
            "Open connections on the booking service grew until it stopped answering.",
        );
        let other_text = with_body(
            incident(
                "tls",
                "Certificate expired",
                &at(20),
                &at(20),
                Some(&at(20)),
                &[("booking", "major_outage")],
            ),
            "The TLS certificate expired on the edge.",
        );
        let other_component = with_body(
            incident(
                "web",
                "Booking service slow",
                &at(27),
                &at(27),
                Some(&at(27)),
                &[("web", "major_outage")],
            ),
            "Open connections on the booking service grew.",
        );
        let later = with_body(
            incident(
                "later",
                "Booking service slow",
                &at(30),
                &at(30),
                None,
                &[("booking", "major_outage")],
            ),
            "Open connections grew.",
        );
        let monday = with_body(
            incident(
                "mon",
                "Booking service not accessible",
                &at(29),
                &at(29),
                None,
                &[("booking", "partial_outage")],
            ),
            "Customers report errors; open connections on the booking service are growing.",
        );
        let pm = parse_edits(
            EditsInput {
                root_cause: Some("An ever-growing list of open connections.".into()),
                actions: vec![
                    ActionInput {
                        description: "Alert on open connections".into(),
                        ..ActionInput::default()
                    },
                    ActionInput {
                        description: "Scale the database".into(),
                        done: Some(true),
                        ..ActionInput::default()
                    },
                ],
                ..EditsInput::default()
            },
            &PostmortemEdits::default(),
        )
        .unwrap();
        let others = [
            candidate(&thursday, Some(&pm)),
            candidate(&other_text, None),
            candidate(&other_component, None),
            candidate(&later, None),
            candidate(&monday, None),
        ];
        let found = find(candidate(&monday, None), &others, THRESHOLD, LIMIT);
        let ids: Vec<&str> = found.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["thu"], "{found:#?}");
        let s = &found[0];
        assert!(s.score >= THRESHOLD && s.score <= 1.0, "{}", s.score);
        assert_eq!(
            s.shared_components,
            vec![ComponentId::new("booking").unwrap()]
        );
        assert_eq!(s.postmortem, Some(PostmortemState::Published));
        assert_eq!(
            s.root_cause.as_deref(),
            Some("An ever-growing list of open connections.")
        );
        let open: Vec<&str> = s.open_actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(open, ["A1"], "done actions are left out");

        // The certificate incident shares the component but not the story.
        let all = find(candidate(&monday, None), &others, 0.0, LIMIT);
        let tls = all.iter().find(|s| s.id.as_str() == "tls").unwrap();
        assert!(tls.score < THRESHOLD, "{}", tls.score);
        assert!(all[0].score >= all[all.len() - 1].score);
        assert!(!all
            .iter()
            .any(|s| s.id.as_str() == "later" || s.id.as_str() == "web"));
    }

    #[test]
    fn identical_text_scores_one_and_nothing_shared_scores_nothing() {
        let a = incident(
            "a",
            "Disk full on db",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            None,
            &[("db", "major_outage")],
        );
        let b = incident(
            "b",
            "Disk full on db",
            "2026-01-02T00:00:00Z",
            "2026-01-02T00:00:00Z",
            None,
            &[("db", "major_outage")],
        );
        let found = find(
            candidate(&b, None),
            &[candidate(&a, None)],
            THRESHOLD,
            LIMIT,
        );
        assert_eq!(found.len(), 1);
        assert!((found[0].score - 1.0).abs() < 1e-9, "{}", found[0].score);
        assert_eq!(found[0].postmortem, None);
        // A published postmortem's update (a whole document) does not dilute the comparison.
        let mut published = a.clone();
        published.status = IncidentStatus::Postmortem;
        published.updates.push(PublicUpdate {
            id: IncidentId::new("pm").unwrap(),
            status: IncidentStatus::Postmortem,
            body: "#### Timeline\n\n- lots of unrelated words about everything else".into(),
            created_at: t("2026-01-01T01:00:00Z"),
            actor: Actor::Person("alice".into()),
            affected: vec![],
        });
        let found = find(
            candidate(&b, None),
            &[candidate(&published, None)],
            THRESHOLD,
            LIMIT,
        );
        assert!((found[0].score - 1.0).abs() < 1e-9, "{}", found[0].score);
        let c = incident(
            "c",
            "Certificate expired",
            "2026-01-03T00:00:00Z",
            "2026-01-03T00:00:00Z",
            None,
            &[("db", "major_outage")],
        );
        assert!(find(
            candidate(&c, None),
            &[candidate(&a, None)],
            THRESHOLD,
            LIMIT
        )
        .is_empty());
        assert_eq!(terms("The API is DOWN"), ["api", "down", "api down"]);
    }
}
