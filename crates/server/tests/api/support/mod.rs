//! Helpers more than one area uses: the configuration file ([`config::Config`]), requests
//! ([`http`]), the real OpenID provider's set-up ([`sso`]), the binary under test, a free
//! port for it, and reading the API's values.

pub mod config;
pub mod console;
pub mod http;
pub mod node;
pub mod sso;

use std::net::TcpListener;

use chrono::{DateTime, Utc};
use pharos_testkit::serde_json_value::Value;

/// The `pharos` binary Cargo built for these tests.
pub const PHAROS: &str = env!("CARGO_BIN_EXE_pharos");

/// A port that was free on 127.0.0.1 a moment ago, for a process told where to listen.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An RFC 3339 time from the API, in UTC (panics when `v` is not one).
pub fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The `section` of each entry in a postmortem draft's `missing` list.
pub fn sections(missing: &Value) -> Vec<String> {
    missing
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["section"].as_str().unwrap().to_owned())
        .collect()
}
