//! `[cluster]`: several `pharos serve` processes on one PostgreSQL database (SPEC §8). Its
//! presence turns clustering on; every key is optional, and the defaults are
//! [`ClusterConfig::default`]:
//!
//! ```toml
//! [cluster]
//! failover = "10s"                  # another node takes over within this long of the leader
//!                                   # going silent (1s–10m); the lease is renewed every
//!                                   # failover/5 (at most every 2s) and lasts `lease()`
//! node_id = "node-a"                # this node's name (default: node-<8 random characters>,
//!                                   # new at every start); [A-Za-z0-9_.-], at most 64
//! address = "http://10.0.0.5:8080"  # where the other nodes reach this one (default
//!                                   # http://<listen address>); http:// or https://
//! ```
//!
//! SQLite is single-node: `[cluster]` with a `sqlite:` `[storage] url` is an error (and so
//! is one chosen by `--database` or `PHAROS_DATABASE_URL`, when `serve` starts).

use std::time::Duration;

use pharos_domain::duration::format_duration;

use super::values::check_http_url;
use super::walk::{Cx, Section};

/// Shortest `failover`.
const MIN_FAILOVER: Duration = Duration::from_secs(1);
/// Longest `failover`.
const MAX_FAILOVER: Duration = Duration::from_secs(600);
/// Longest `node_id`.
const MAX_NODE_ID: usize = 64;

const KEYS: &[&str] = &["failover", "node_id", "address"];

/// `[cluster]`: this node's part in a cluster of nodes sharing one PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The leader's lease: a node takes over within this long of the leader going silent.
    pub failover: Duration,
    /// This node's id; `None`: a random one at start (`node-<8 characters>`).
    pub node_id: Option<String>,
    /// The URL the other nodes forward requests to; `None`: `http://<listen address>`.
    pub address: Option<String>,
}

/// The default `failover`.
pub const DEFAULT_FAILOVER: Duration = Duration::from_secs(10);

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            failover: DEFAULT_FAILOVER,
            node_id: None,
            address: None,
        }
    }
}

impl ClusterConfig {
    /// How often the lease is renewed and the node's row refreshed: a fifth of the lease, at
    /// most every 2 s.
    pub fn renew_every(&self) -> Duration {
        (self.failover / 5).min(Duration::from_secs(2))
    }

    /// The lease's length: `failover` less one renewal period (a follower tries to take the
    /// lease once a period) and a margin for starting the engine (a tenth of `failover`, at
    /// most 500 ms), so a survivor is checking within `failover` of the leader's last
    /// renewal. Measured: 10.93 s at p99 over 20 kills when the lease was all of `failover`.
    pub fn lease(&self) -> Duration {
        let margin = (self.failover / 10).min(Duration::from_millis(500));
        self.failover
            .saturating_sub(self.renew_every())
            .saturating_sub(margin)
    }
}

/// Reads `[cluster]`.
pub(super) fn cluster(cx: &mut Cx<'_>, s: Section<'_>) -> ClusterConfig {
    s.check_keys(cx, KEYS);
    let mut out = ClusterConfig::default();
    if let Some(f) = s.field("failover") {
        if let Some(d) = cx.duration(&f) {
            if (MIN_FAILOVER..=MAX_FAILOVER).contains(&d) {
                out.failover = d;
            } else {
                cx.error(
                    f.at,
                    format!(
                        "`failover` must be between {} and {}, found {}",
                        format_duration(MIN_FAILOVER),
                        format_duration(MAX_FAILOVER),
                        format_duration(d)
                    ),
                );
            }
        }
    }
    if let Some(v) = s.field("node_id").and_then(|f| cx.string(&f)) {
        let ok = !v.text.is_empty()
            && v.text.len() <= MAX_NODE_ID
            && v.text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            out.node_id = Some(v.text);
        } else {
            cx.error(
                v.at,
                format!(
                    "`node_id` must be 1 to {MAX_NODE_ID} letters, digits, `_`, `.` or `-`, \
                     found {:?}",
                    v.text
                ),
            );
        }
    }
    if let Some(v) = s.field("address").and_then(|f| cx.string(&f)) {
        match check_http_url(&v.text) {
            Err(e) => cx.error(v.at, format!("invalid `address`: {e}")),
            Ok(()) if v.text.contains(['?', '#']) => cx.error(
                v.at,
                "`address` must not have a query or fragment; requests are forwarded to its paths",
            ),
            Ok(()) => out.address = Some(v.text.trim_end_matches('/').to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn cluster(text: &str) -> Option<ClusterConfig> {
        match parse_str(text, "pharos.toml", &|_| None) {
            Ok(loaded) => loaded.config.cluster,
            Err(diags) => panic!("{diags:?}"),
        }
    }

    #[test]
    fn absent_is_a_single_node_and_an_empty_section_takes_the_defaults() {
        assert_eq!(cluster(""), None);
        let c = cluster("[cluster]\n").unwrap();
        assert_eq!(c, ClusterConfig::default());
        assert_eq!(c.failover, Duration::from_secs(10));
        assert_eq!(c.renew_every(), Duration::from_secs(2));
        assert_eq!(c.lease(), Duration::from_millis(7_500));
    }

    #[test]
    fn every_key_is_read() {
        let c = cluster(
            "[storage]\nurl = \"postgres://db/pharos\"\n\n[cluster]\nfailover = \"3s\"\n\
             node_id = \"node-a.1_x\"\naddress = \"https://10.0.0.5:8443/\"\n",
        )
        .unwrap();
        assert_eq!(c.failover, Duration::from_secs(3));
        assert_eq!(c.node_id.as_deref(), Some("node-a.1_x"));
        assert_eq!(c.address.as_deref(), Some("https://10.0.0.5:8443"));
        // A fifth of the lease, and never slower than every 2 s.
        assert_eq!(c.renew_every(), Duration::from_millis(600));
        assert_eq!(c.lease(), Duration::from_millis(2_100));
        let long = cluster("[cluster]\nfailover = \"5m\"\n").unwrap();
        assert_eq!(long.renew_every(), Duration::from_secs(2));
    }

    #[test]
    fn bad_values_are_refused_at_their_position() {
        let diags = parse_str(
            "[cluster]\nfailover = \"11m\"\naddress = \"http://x/?a=b\"\nnode_id = \"\"\n",
            "pharos.toml",
            &|_| None,
        )
        .unwrap_err();
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "pharos.toml:2:12: error: `failover` must be between 1s and 10m, found 11m",
                "pharos.toml:3:11: error: `address` must not have a query or fragment; requests are forwarded to its paths",
                "pharos.toml:4:11: error: `node_id` must be 1 to 64 letters, digits, `_`, `.` or `-`, found \"\"",
            ]
        );
    }
}
