//! Fuzzes the condition parser: any UTF-8 text either fails to parse with an error column
//! inside the text, or parses to a condition that evaluates (against one fixed, full
//! observation and against an empty one) without panicking, and whose written form parses
//! back to an equal condition that evaluates the same.

#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pharos_domain::{Condition, Observation};

/// A healthy HTTPS check with a JSON body that paths, `len()`, `has()` and `[*]` can find.
fn full() -> &'static Observation {
    static OBS: OnceLock<Observation> = OnceLock::new();
    OBS.get_or_init(|| Observation {
        connected: true,
        status: Some(200),
        response_time: Duration::from_millis(120),
        body: Some(
            r#"{"status":"UP","data":[{"id":1,"name":"a"},{"id":2.5,"name":null}],"items":[],"n":-3}"#
                .to_owned(),
        ),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-empty".to_owned(), String::new()),
        ],
        ip: Some(IpAddr::from([127, 0, 0, 1])),
        certificate_expiration: Some(Duration::from_secs(72 * 3600)),
        dns_rcode: Some("NOERROR".to_owned()),
        ..Observation::default()
    })
}

fuzz_target!(|text: &str| {
    let condition = match Condition::parse(text) {
        Ok(c) => c,
        Err(e) => {
            let columns = text.chars().count() + 1;
            assert!(
                (1..=columns).contains(&e.column),
                "column {} outside 1..={columns}: {}",
                e.column,
                e.message
            );
            return;
        }
    };
    let empty = Observation::default();
    let results = [condition.evaluate(full()), condition.evaluate(&empty)];
    let shown = condition.to_string();
    let again = match Condition::parse(&shown) {
        Ok(c) => c,
        Err(e) => panic!("{shown:?} parsed, but its written form does not: {e}"),
    };
    assert_eq!(again, condition);
    assert_eq!(again.needs_body(), condition.needs_body());
    assert_eq!([again.evaluate(full()), again.evaluate(&empty)], results);
});
