//! Table-driven tests of the condition language: every example of Gatus's README, the
//! numeric and string rules, missing values, the Pharos additions, details and error columns.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

/// A healthy HTTPS check: 200 in 120 ms, JSON body, 72 h of certificate left.
fn base() -> Observation {
    Observation {
        connected: true,
        status: Some(200),
        response_time: Duration::from_millis(120),
        body: Some(r#"{"status":"UP"}"#.to_owned()),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-empty".to_owned(), String::new()),
        ],
        ip: Some(IpAddr::from([127, 0, 0, 1])),
        certificate_expiration: Some(Duration::from_secs(72 * 3600)),
        dns_rcode: Some("NOERROR".to_owned()),
        error: None,
        timings: None,
    }
}

fn status(code: u16) -> Observation {
    Observation {
        status: Some(code),
        ..base()
    }
}

fn body(text: &str) -> Observation {
    Observation {
        body: Some(text.to_owned()),
        ..base()
    }
}

fn response_ms(ms: u64) -> Observation {
    Observation {
        response_time: Duration::from_millis(ms),
        ..base()
    }
}

fn cert_secs(secs: u64) -> Observation {
    Observation {
        certificate_expiration: Some(Duration::from_secs(secs)),
        ..base()
    }
}

fn ip(addr: &str) -> Observation {
    Observation {
        ip: Some(addr.parse().unwrap()),
        ..base()
    }
}

fn header(name: &str, value: &str) -> Observation {
    Observation {
        headers: vec![(name.to_owned(), value.to_owned())],
        ..base()
    }
}

/// Nothing at all: no connection, no response.
fn nothing() -> Observation {
    Observation::default()
}

fn eval(condition: &str, obs: &Observation) -> ConditionResult {
    Condition::parse(condition)
        .unwrap_or_else(|e| panic!("{condition:?} should parse, got {e:?}"))
        .evaluate(obs)
}

fn assert_cases(cases: &[(&str, Observation, bool)]) {
    for (condition, obs, want) in cases {
        let result = eval(condition, obs);
        assert_eq!(
            result.success, *want,
            "{condition:?} on {:?} -> {}",
            obs.body, result.detail
        );
    }
}

#[test]
fn gatus_readme_examples() {
    assert_cases(&[
        ("[STATUS] == 200", status(200), true),
        ("[STATUS] == 200", status(201), false),
        ("[STATUS] != 200", status(201), true),
        ("[STATUS] != 200", status(200), false),
        ("[STATUS] < 300", status(299), true),
        ("[STATUS] < 300", status(301), false),
        ("[STATUS] <= 299", status(299), true),
        ("[STATUS] <= 299", status(301), false),
        ("[STATUS] > 400", status(401), true),
        ("[STATUS] > 400", status(400), false),
        ("[STATUS] == any(200, 429)", status(429), true),
        ("[STATUS] == any(200, 429)", status(201), false),
        ("[CONNECTED] == true", base(), true),
        ("[CONNECTED] == true", nothing(), false),
        ("[RESPONSE_TIME] < 500", response_ms(300), true),
        ("[RESPONSE_TIME] < 500", response_ms(500), false),
        ("[RESPONSE_TIME] < 300", response_ms(299), true),
        ("[IP] == 127.0.0.1", ip("127.0.0.1"), true),
        ("[IP] == 127.0.0.1", ip("0.0.0.0"), false),
        ("[BODY] == 1", body("1"), true),
        ("[BODY] == 1", body("{}"), false),
        ("[BODY] == 1", body("2"), false),
        ("[BODY].status == UP", body(r#"{"status":"UP"}"#), true),
        ("[BODY].status == UP", body(r#"{"status":"DOWN"}"#), false),
        (
            "[BODY].user.name == john",
            body(r#"{"user":{"name":"john"}}"#),
            true,
        ),
        (
            "[BODY].data[0].id == 1",
            body(r#"{"data":[{"id":1}]}"#),
            true,
        ),
        (
            "[BODY].data[0].id == 1",
            body(r#"{"data":[{"id":2}]}"#),
            false,
        ),
        ("[BODY].age == [BODY].id", body(r#"{"age":1,"id":1}"#), true),
        (
            "[BODY].age == [BODY].id",
            body(r#"{"age":2,"id":1}"#),
            false,
        ),
        ("len([BODY].data) < 5", body(r#"{"data":[{"id":1}]}"#), true),
        (
            "len([BODY].data) < 5",
            body(r#"{"data":[1,2,3,4,5]}"#),
            false,
        ),
        (
            "len([BODY].name) == 8",
            body(r#"{"name":"john.doe"}"#),
            true,
        ),
        ("len([BODY].name) == 8", body(r#"{"name":"bob"}"#), false),
        (
            "has([BODY].errors) == false",
            body(r#"{"name":"john.doe"}"#),
            true,
        ),
        (
            "has([BODY].errors) == false",
            body(r#"{"errors":[]}"#),
            false,
        ),
        ("has([BODY].users) == true", body(r#"{"users":[]}"#), true),
        ("has([BODY].users) == true", body("{}"), false),
        (
            "[BODY].name == pat(john*)",
            body(r#"{"name":"john.doe"}"#),
            true,
        ),
        (
            "[BODY].name == pat(john*)",
            body(r#"{"name":"bob"}"#),
            false,
        ),
        ("[BODY].id == any(1, 2)", body(r#"{"id":1}"#), true),
        ("[BODY].id == any(1, 2)", body(r#"{"id":2}"#), true),
        ("[BODY].id == any(1, 2)", body(r#"{"id":3}"#), false),
        (
            "[BODY].ip == any(127.0.0.1, ::1)",
            body(r#"{"ip":"::1"}"#),
            true,
        ),
        ("[IP] == pat(192.168.*)", ip("192.168.0.232"), true),
        ("[IP] == pat(192.168.*)", ip("10.0.0.1"), false),
        ("[CERTIFICATE_EXPIRATION] > 48h", cert_secs(49 * 3600), true),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert_secs(24 * 3600),
            false,
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert_secs(48 * 3600),
            false,
        ),
        ("[DNS_RCODE] == NOERROR", base(), true),
        (
            "[DNS_RCODE] == NOERROR",
            Observation {
                dns_rcode: Some("NXDOMAIN".to_owned()),
                ..base()
            },
            false,
        ),
    ]);
}

#[test]
fn numbers_and_strings() {
    assert_cases(&[
        // `==` is text, except that two Go integers compare as numbers.
        ("[BODY].s == up", body(r#"{"s":"UP"}"#), false),
        ("[BODY].s == UP", body(r#"{"s":"UP"}"#), true),
        ("[BODY].n == 1", body(r#"{"n":1.0}"#), true),
        ("[BODY].n == 0x1", body(r#"{"n":"1"}"#), true),
        ("[BODY].n == 01", body(r#"{"n":1}"#), true),
        ("[BODY].n == 1.0", body(r#"{"n":"1"}"#), false),
        ("[BODY].n == 1.5", body(r#"{"n":1.5}"#), true),
        (
            "[BODY].n == 9007199254740993",
            body(r#"{"n":9007199254740993}"#),
            true,
        ),
        (
            "[BODY].n == 9007199254740992",
            body(r#"{"n":9007199254740993}"#),
            false,
        ),
        ("[BODY].ok == true", body(r#"{"ok":true}"#), true),
        ("[BODY].ok == false", body(r#"{"ok":true}"#), false),
        // Ordering is numeric, never text ("10" > "9" though "10" < "9" as text).
        ("[BODY].n > 9", body(r#"{"n":"10"}"#), true),
        ("[BODY].n > 9", body(r#"{"n":10}"#), true),
        ("[BODY].n < 0.5", body(r#"{"n":0.3}"#), true),
        ("[BODY].n > 1.5", body(r#"{"n":1.7}"#), true),
        ("[BODY].n >= 1.5", body(r#"{"n":1.5}"#), true),
        ("[BODY].n < -1", body(r#"{"n":-2}"#), true),
        ("[BODY].n <= 0x10", body(r#"{"n":16}"#), true),
        ("[BODY].n > 1e3", body(r#"{"n":1001}"#), true),
        ("[BODY].a < [BODY].b", body(r#"{"a":1,"b":2}"#), true),
        ("[BODY].a < [BODY].b", body(r#"{"a":3,"b":2}"#), false),
        // A value that is not a number fails an ordering comparison either way.
        ("[BODY].s > 5", body(r#"{"s":"abc"}"#), false),
        ("[BODY].s <= 5", body(r#"{"s":"abc"}"#), false),
        ("[BODY] < 5", body("not a number"), false),
        // Durations are milliseconds.
        ("[RESPONSE_TIME] < 1s", response_ms(999), true),
        ("[RESPONSE_TIME] < 1s", response_ms(1000), false),
        ("[RESPONSE_TIME] <= 1.5s", response_ms(1500), true),
        ("[RESPONSE_TIME] >= 100ms", response_ms(100), true),
        ("[CERTIFICATE_EXPIRATION] >= 72h", base(), true),
        (
            "[CERTIFICATE_EXPIRATION] > 2h30m",
            cert_secs(3 * 3600),
            true,
        ),
        ("[CERTIFICATE_EXPIRATION] > 259199999", base(), true),
        ("[CERTIFICATE_EXPIRATION] == 259200000", base(), true),
        ("[BODY].uptime > 1h", body(r#"{"uptime":"90m"}"#), true),
        ("[BODY].uptime > 1h", body(r#"{"uptime":"30m"}"#), false),
        ("[BODY].ms < 1m", body(r#"{"ms":59999}"#), true),
        // Literals may hold spaces and the other operators, as in Gatus.
        (
            "[BODY].name == john doe",
            body(r#"{"name":"john doe"}"#),
            true,
        ),
        ("[BODY].expr == a < b", body(r#"{"expr":"a < b"}"#), true),
        ("[BODY] == {\"a\":1}", body("{\"a\":1}\n"), true),
        (
            "[BODY].o == {\"a\":1,\"b\":2}",
            body(r#"{"o":{"b":2,"a":1}}"#),
            true,
        ),
        ("[BODY].list == [1,2]", body(r#"{"list":[1, 2]}"#), true),
        ("1 == 1", nothing(), true),
        ("1 == 2", nothing(), false),
        ("[CONNECTED] == false", nothing(), true),
    ]);
}

#[test]
fn missing_values_fail_whatever_the_operator() {
    assert_cases(&[
        ("[STATUS] == 200", nothing(), false),
        ("[STATUS] != 200", nothing(), false),
        ("[STATUS] < 300", nothing(), false),
        ("[STATUS] >= 0", nothing(), false),
        ("[STATUS] == any(0, 200)", nothing(), false),
        ("[STATUS] != any(500, 503)", nothing(), false),
        ("[IP] == pat(*)", nothing(), false),
        ("[IP] != pat(10.*)", nothing(), false),
        ("[DNS_RCODE] == NOERROR", nothing(), false),
        ("[CERTIFICATE_EXPIRATION] > 0", nothing(), false),
        ("[CERTIFICATE_EXPIRATION] < 48h", nothing(), false),
        ("[BODY] == ok", nothing(), false),
        ("[BODY] != ok", nothing(), false),
        ("[BODY].x == 1", nothing(), false),
        ("len([BODY]) >= 0", nothing(), false),
        ("len([BODY].x) >= 0", body("{}"), false),
        ("[BODY].x != y", body("{}"), false),
        ("[BODY].x == 1", body("not json"), false),
        ("[BODY].x == matches(.*)", body("{}"), false),
        ("[BODY].a.b == 1", body(r#"{"a":"str"}"#), false),
        ("[BODY].a[3] == 1", body(r#"{"a":[1]}"#), false),
        ("[BODY].x == null", body(r#"{"x":null}"#), false),
        ("[HEADER].X-Missing == a", base(), false),
        ("[HEADER].X-Missing != a", base(), false),
        ("[BODY].x == [BODY].y", body(r#"{"x":1}"#), false),
        // has() is how to test presence, and never misses.
        ("has([BODY]) == false", nothing(), true),
        ("has([BODY]) == false", body("  \n"), true),
        ("has([BODY]) == true", body("x"), true),
        ("has([BODY].x) == false", body("not json"), true),
        ("has([BODY].x) == false", body(r#"{"x":null}"#), true),
        ("has([BODY].x) == true", body(r#"{"x":""}"#), true),
        ("has([BODY].x) == true", body(r#"{"x":false}"#), true),
        ("has([STATUS]) == false", nothing(), true),
        ("has([STATUS]) == true", base(), true),
        ("has([HEADER].X-Missing) == false", base(), true),
        ("has([HEADER].x-empty) == true", base(), true),
        ("has([IP]) == false", nothing(), true),
    ]);
}

#[test]
fn functions() {
    assert_cases(&[
        // len()
        ("len([BODY]) == 3", body("[1, 2, 3]"), true),
        ("len([BODY]) == 5", body("hello"), true),
        ("len([BODY]) == 5", body("  hello\n"), true),
        ("len([BODY].o) == 13", body(r#"{"o":{"b":2,"a":1}}"#), true),
        ("len([BODY].s) == 5", body(r#"{"s":"héllo"}"#), true),
        ("len([BODY].n) == 3", body(r#"{"n":1.5}"#), true),
        ("len([BODY].data) == 0", body(r#"{"data":[]}"#), true),
        ("len([HEADER].content-type) == 16", base(), true),
        ("len([STATUS]) == 3", base(), true),
        // pat()
        ("[STATUS] == pat(2*)", status(204), true),
        ("[STATUS] == pat(2*)", status(500), false),
        ("[STATUS] != pat(5*)", status(204), true),
        ("[STATUS] != pat(5*)", status(503), false),
        ("pat(2??) == [STATUS]", status(201), true),
        ("[BODY] == pat(*\"status\":\"UP\"*)", base(), true),
        (
            "[BODY].v == pat(v1.[0-9].*)",
            body(r#"{"v":"v1.4.2"}"#),
            true,
        ),
        (
            "[BODY].v == pat(v1.[0-9].*)",
            body(r#"{"v":"v1.x.2"}"#),
            false,
        ),
        (
            "[BODY].url == pat(https://*/health)",
            body(r#"{"url":"https://a.example/health"}"#),
            true,
        ),
        ("[BODY].s == pat(*)", body(r#"{"s":""}"#), true),
        // any()
        ("[STATUS] != any(500, 503)", status(200), true),
        ("[STATUS] != any(500, 503)", status(503), false),
        (
            "any(UP, DEGRADED) == [BODY].s",
            body(r#"{"s":"DEGRADED"}"#),
            true,
        ),
        ("[BODY].s == any(UP,DEGRADED)", body(r#"{"s":"UP"}"#), true),
        ("[BODY].s == any(UP)", body(r#"{"s":"up"}"#), false),
        (
            "[BODY].s == any(john doe, jane)",
            body(r#"{"s":"john doe"}"#),
            true,
        ),
        // matches() (Pharos): unanchored, case-sensitive unless (?i).
        ("[BODY].msg == matches(^ok$)", body(r#"{"msg":"ok"}"#), true),
        (
            "[BODY].msg == matches(^ok$)",
            body(r#"{"msg":"not ok"}"#),
            false,
        ),
        (
            "[BODY].msg == matches(ok)",
            body(r#"{"msg":"not ok"}"#),
            true,
        ),
        ("[BODY].msg == matches(OK)", body(r#"{"msg":"ok"}"#), false),
        (
            "[BODY].msg == matches((?i)OK)",
            body(r#"{"msg":"ok"}"#),
            true,
        ),
        (
            "[BODY].msg != matches(error|fatal)",
            body(r#"{"msg":"all good"}"#),
            true,
        ),
        (
            "[BODY].msg != matches(error|fatal)",
            body(r#"{"msg":"fatal: x"}"#),
            false,
        ),
        ("[STATUS] == matches(^2\\d\\d$)", status(204), true),
        ("[STATUS] == matches(^2\\d\\d$)", status(404), false),
        (
            "[BODY].v == matches(^v(\\d+)\\.(\\d+)$)",
            body(r#"{"v":"v10.2"}"#),
            true,
        ),
        ("[BODY].v == matches([^)]+)", body(r#"{"v":"abc"}"#), true),
        ("[BODY].v == matches(a || b)", body(r#"{"v":"a "}"#), true),
        (
            "[BODY] == matches(\"status\":\\s*\"UP\")",
            body(r#"{"status": "UP"}"#),
            true,
        ),
        ("matches(^2) == [STATUS]", status(200), true),
    ]);
}

#[test]
fn placeholders_headers_and_paths() {
    assert_cases(&[
        // Placeholder names are case-insensitive; JSON keys are not.
        ("[status] == 200", base(), true),
        ("[Body].Status == UP", body(r#"{"Status":"UP"}"#), true),
        ("[BODY].Status == UP", body(r#"{"status":"UP"}"#), false),
        ("LEN([BODY].a) == 1", body(r#"{"a":[1]}"#), true),
        // [HEADER] (Pharos): case-insensitive names, first value wins.
        ("[HEADER].Content-Type == application/json", base(), true),
        ("[HEADER].CONTENT-TYPE == pat(application/*)", base(), true),
        ("[header].content-type != text/html", base(), true),
        (
            "[HEADER].Content-Type == application/json",
            header("Content-Type", "application/json"),
            true,
        ),
        (
            "[HEADER].Set-Cookie == a=1",
            Observation {
                headers: vec![
                    ("set-cookie".to_owned(), "a=1".to_owned()),
                    ("set-cookie".to_owned(), "b=2".to_owned()),
                ],
                ..base()
            },
            true,
        ),
        (
            "[HEADER].Retry-After < 60",
            header("retry-after", "30"),
            true,
        ),
        // [IP] and IPv6.
        ("[IP] == ::1", ip("::1"), true),
        ("[IP] == pat(fd00:*)", ip("fd00::5"), true),
        // Arrays at the root and nested arrays.
        ("[BODY][0].id == 1", body(r#"[{"id":1},{"id":2}]"#), true),
        ("[BODY].[1] == 2", body("[1, 2]"), true),
        (
            "[BODY][3][2] == 7",
            body("[[1, 2], [3, 4], [], [5, 6, 7]]"),
            true,
        ),
        (
            "[BODY].data[1][1] == eeeee",
            body(r#"{"data":[["a","b","c"],["d","eeeee","f"]]}"#),
            true,
        ),
        (
            "[BODY].data[0].apps[1].name == app2",
            body(r#"{"data":[{"apps":[{"name":"app1"},{"name":"app2"}]}]}"#),
            true,
        ),
        ("[BODY].a-b.c_d == 1", body(r#"{"a-b":{"c_d":1}}"#), true),
        (
            "[BODY].status == UP",
            body("  {\"status\": \"UP\"}  \n"),
            true,
        ),
        // [*]: every element must hold; none at all fails.
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[{"status":"UP"},{"status":"UP"}]}"#),
            true,
        ),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[{"status":"UP"},{"status":"DOWN"}]}"#),
            false,
        ),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[]}"#),
            false,
        ),
        ("[BODY].items[*].status == UP", body("{}"), false),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":"x"}"#),
            false,
        ),
        ("[BODY][*] > 0", body("[1, 2, 3]"), true),
        ("[BODY][*] > 1", body("[1, 2, 3]"), false),
        (
            "len([BODY].groups[*].members) > 0",
            body(r#"{"groups":[{"members":[1]},{"members":[2,3]}]}"#),
            true,
        ),
        (
            "has([BODY].items[*].id) == true",
            body(r#"{"items":[{"id":1},{"name":"x"}]}"#),
            false,
        ),
        (
            "[BODY].items[*].n < [BODY].max",
            body(r#"{"items":[{"n":1},{"n":2}],"max":3}"#),
            true,
        ),
        (
            "[BODY].items[*].status == UP || [STATUS] == 200",
            body(r#"{"items":[]}"#),
            true,
        ),
    ]);
}

#[test]
fn alternatives() {
    assert_cases(&[
        ("[STATUS] == 200 || [STATUS] == 204", status(204), true),
        ("[STATUS] == 200 || [STATUS] == 204", status(200), true),
        ("[STATUS] == 200 || [STATUS] == 204", status(500), false),
        (
            "[BODY].status == UP || [BODY].status == DEGRADED",
            body(r#"{"status":"DEGRADED"}"#),
            true,
        ),
        ("[STATUS] == 200 || [BODY].x == 1", nothing(), false),
        ("[STATUS] == 200 || has([BODY]) == false", nothing(), true),
        (
            "[STATUS] < 300 || [STATUS] == 404 || [STATUS] == 410",
            status(410),
            true,
        ),
        ("[BODY] == a||b", body("a||b"), true),
    ]);
}

#[test]
fn details_show_resolved_values() {
    let long = format!(r#"{{"status":"DOWN","details":"{}"}}"#, "x".repeat(300));
    let cases: Vec<(&str, Observation, &str)> = vec![
        ("[STATUS] == 200", status(503), "[STATUS] (503) == 200"),
        ("[STATUS] == 200", status(200), "[STATUS] (200) == 200"),
        ("[STATUS] == 200", nothing(), "[STATUS] (INVALID) == 200"),
        (
            "[BODY].status == UP",
            body(r#"{"status":"DOWN"}"#),
            "[BODY].status (DOWN) == UP",
        ),
        (
            "[BODY].status == UP",
            body("{}"),
            "[BODY].status (INVALID) == UP",
        ),
        (
            "[BODY].age == [BODY].id",
            body(r#"{"age":1,"id":2}"#),
            "[BODY].age (1) == [BODY].id (2)",
        ),
        (
            "[RESPONSE_TIME] < 300",
            response_ms(350),
            "[RESPONSE_TIME] (350) < 300",
        ),
        (
            "[RESPONSE_TIME] < 1s",
            response_ms(1200),
            "[RESPONSE_TIME] (1200) < 1s",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert_secs(24 * 3600),
            "[CERTIFICATE_EXPIRATION] (24h) > 48h",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            cert_secs(5430),
            "[CERTIFICATE_EXPIRATION] (1h30m30s) > 48h",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 48h",
            nothing(),
            "[CERTIFICATE_EXPIRATION] (INVALID) > 48h",
        ),
        (
            "[CONNECTED] == true",
            nothing(),
            "[CONNECTED] (false) == true",
        ),
        ("[IP] == 10.0.0.1", base(), "[IP] (127.0.0.1) == 10.0.0.1"),
        (
            "[DNS_RCODE] == NOERROR",
            nothing(),
            "[DNS_RCODE] (INVALID) == NOERROR",
        ),
        (
            "len([BODY].data) < 5",
            body(r#"{"data":[1,2,3,4,5,6,7]}"#),
            "len([BODY].data) (7) < 5",
        ),
        (
            "has([BODY].errors) == false",
            body(r#"{"errors":[]}"#),
            "has([BODY].errors) (true) == false",
        ),
        (
            "[BODY].name == pat(john*)",
            body(r#"{"name":"bob"}"#),
            "[BODY].name (bob) == pat(john*)",
        ),
        (
            "[STATUS] == any(200, 429)",
            status(503),
            "[STATUS] (503) == any(200, 429)",
        ),
        (
            "[BODY].msg == matches(^ok$)",
            body(r#"{"msg":"not ok"}"#),
            "[BODY].msg (not ok) == matches(^ok$)",
        ),
        (
            "[BODY] == pat(*UP*)",
            body(&long),
            r#"[BODY] ({"status":"DOWN","details...(truncated)) == pat(*UP*)"#,
        ),
        (
            "[HEADER].Content-Type == text/html",
            base(),
            "[HEADER].Content-Type (application/json) == text/html",
        ),
        (
            "[HEADER].X-Missing == a",
            base(),
            "[HEADER].X-Missing (INVALID) == a",
        ),
        (
            "[STATUS] == 200 || [STATUS] == 204",
            status(503),
            "[STATUS] (503) == 200 || [STATUS] (503) == 204",
        ),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[{"status":"UP"},{"status":"DOWN"},{}]}"#),
            "[BODY].items[1].status (DOWN) == UP, [BODY].items[2].status (INVALID) == UP",
        ),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[{"status":"UP"},{"status":"UP"}]}"#),
            "[BODY].items[*].status == UP (2 elements)",
        ),
        (
            "[BODY].items[*].status == UP",
            body(r#"{"items":[]}"#),
            "[BODY].items[*].status == UP (no elements matched)",
        ),
        (
            "[BODY][*] == 0",
            body("[1, 2, 3, 4, 5, 6, 7]"),
            "[BODY][0] (1) == 0, [BODY][1] (2) == 0, [BODY][2] (3) == 0, [BODY][3] (4) == 0, \
             [BODY][4] (5) == 0 and 2 more",
        ),
        (
            "  [STATUS]   ==   200  ",
            status(500),
            "[STATUS] (500) == 200",
        ),
        ("1 == 2", nothing(), "1 == 2"),
    ];
    for (condition, obs, want) in cases {
        assert_eq!(eval(condition, &obs).detail, want, "{condition:?}");
    }
    // A whole body compared without a pattern is cut at 100 characters.
    let detail = eval("[BODY] == x", &body(&long)).detail;
    assert!(detail.ends_with("...(truncated)) == x"), "{detail}");
    assert!(detail.len() < 140, "{detail}");
}

#[test]
fn errors_name_the_problem_and_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty condition"),
        ("   ", 1, "empty condition"),
        (
            "[STATU] == 200",
            1,
            "unknown placeholder [STATU] (did you mean [STATUS]?)",
        ),
        (
            "[STATUS] == [RESPONSE_TIMES]",
            13,
            "unknown placeholder [RESPONSE_TIMES] (did you mean [RESPONSE_TIME]?)",
        ),
        ("[FOO] == 1", 1, "unknown placeholder [FOO]"),
        ("[BODY].naïve == [STATU]", 17, "unknown placeholder [STATU]"),
        ("[STATUS] 200", 9, "missing operator"),
        ("[STATUS]", 9, "missing operator"),
        (
            "[STATUS]==200",
            9,
            "operator '==' needs a space on each side",
        ),
        (
            "[STATUS] >=200",
            10,
            "operator '>=' needs a space on each side",
        ),
        ("[STATUS] = 200", 10, "'=' is not an operator: use '=='"),
        ("[STATUS] ==", 12, "nothing after '=='"),
        ("[STATUS] == ", 12, "nothing after '=='"),
        ("== 200", 1, "nothing before '=='"),
        ("[STATUS] == 200 == 201", 17, "a second '=='"),
        ("len([BODY].data < 5", 4, "unclosed '(': missing ')'"),
        ("[BODY].data[0 == 1", 12, "unclosed '[': missing ']'"),
        ("[STATUS]) == 200", 9, "unmatched ')'"),
        ("[STATUS] == 200]", 16, "unmatched ']'"),
        (
            "len([BODY].data]) < 5",
            16,
            "expected ')' to close the '(' at column 4, found ']'",
        ),
        ("[BODY].name == pat([a)", 20, "unclosed '['"),
        ("foo([STATUS]) == 1", 1, "unknown function foo()"),
        ("[STATUS] == bar(1)", 13, "unknown function bar()"),
        ("age([HEADER].Date) < 1h", 1, "age() is not supported"),
        (
            "[DOMAIN_EXPIRATION] > 720h",
            1,
            "[DOMAIN_EXPIRATION] is not supported",
        ),
        ("[CONTEXT].user == 1", 1, "not supported"),
        ("len(200) > 1", 5, "len() takes a placeholder"),
        ("has( foo ) == true", 6, "has() takes a placeholder"),
        ("len([STATU]) > 1", 5, "unknown placeholder [STATU]"),
        ("len([BODY].a)x > 1", 14, "unexpected 'x' after len(...)"),
        ("[BODY].name == f(x) y", 16, "unknown function f()"),
        ("[BODY].a..b == 1", 10, "empty key in JSON path"),
        ("[BODY]. == 1", 8, "empty key in JSON path"),
        ("[BODY].a[x] == 1", 10, "invalid array index 'x'"),
        ("[BODY].a[-1] == 1", 10, "invalid array index '-1'"),
        ("[BODY]x == 1", 7, "unexpected 'x' in JSON path"),
        ("[BODY].a[*][*] == 1", 12, "only one [*]"),
        (
            "[BODY].a[*].b == [BODY].c[*].d",
            26,
            "only one [*] is allowed per comparison",
        ),
        ("[STATUS].x == 1", 9, "unexpected '.x' after [STATUS]"),
        ("[HEADER] == x", 9, "expected a header name"),
        ("[HEADER]. == x", 10, "expected a header name"),
        (
            "[HEADER].Bad Name == x",
            13,
            "' ' cannot appear in a header name",
        ),
        (
            "[RESPONSE_TIME] < fast",
            19,
            "'<' compares numbers, but 'fast' is not a number",
        ),
        (
            "slow > [RESPONSE_TIME]",
            1,
            "'>' compares numbers, but 'slow' is not a number",
        ),
        (
            "[CERTIFICATE_EXPIRATION] > 2d",
            28,
            "is not a number or a duration",
        ),
        (
            "[STATUS] < pat(2*)",
            12,
            "pat() can only be used with == or !=",
        ),
        (
            "[STATUS] >= any(1, 2)",
            13,
            "any() can only be used with == or !=",
        ),
        (
            "[BODY] > matches(x)",
            10,
            "matches() can only be used with == or !=",
        ),
        (
            "pat(a*) == pat(b*)",
            12,
            "only one side of a comparison can be",
        ),
        ("[STATUS] == any()", 17, "any() needs at least one value"),
        ("[STATUS] == any(1,,2)", 19, "empty value in any()"),
        ("[STATUS] == any(1, )", 19, "empty value in any()"),
        ("[BODY] == pat([-a])", 16, "invalid pattern"),
        ("[BODY] == pat(a\\)", 14, "unclosed '('"),
        ("[BODY].msg == matches([z-a])", 24, "invalid regex"),
        ("[BODY] == [ok]", 11, "unknown placeholder [ok]"),
        ("[BODY].msg == matches(x{2,1})", 24, "invalid regex"),
        ("[BODY].msg == matches(\\p{Nope})", 23, "invalid regex"),
        ("[STATUS] == 200 ||", 19, "nothing after '||'"),
        ("|| [STATUS] == 200", 1, "nothing before '||'"),
        (
            "[STATUS] == 200 || || [STATUS] == 201",
            20,
            "nothing before '||'",
        ),
        (
            "[STATUS] == 200||[STATUS] == 201",
            16,
            "'||' needs a space on each side",
        ),
        (
            "[STATUS] == 200 || [STATU] == 201",
            20,
            "unknown placeholder [STATU]",
        ),
        ("[STATUS] == 200 || oops", 24, "missing operator"),
    ];
    for (condition, column, message) in cases {
        let err = Condition::parse(condition).expect_err(condition);
        assert!(
            err.message.contains(message),
            "{condition:?}: message {:?} should contain {message:?}",
            err.message
        );
        assert_eq!(err.column, *column, "{condition:?}: {}", err.message);
        assert_eq!(err.to_string(), err.message);
    }
}

#[test]
fn parses_what_gatus_users_write() {
    // Accepted as is, including odd spacing and values that look like syntax.
    for condition in [
        "[STATUS] == 200",
        "[STATUS]  ==\t200",
        "[BODY] == [1,2]",
        "[BODY] == []",
        "[BODY].html == <b>hi</b>",
        "[BODY] == ",
        "[BODY].a == \\)",
        "[BODY].text == x, y",
        "[BODY].path == /a/b(c)",
        "[STATUS] == -1",
        "[BODY].v >= -1.5e3",
        "[RESPONSE_TIME] < 0x1F4",
        "[RESPONSE_TIME] < 1_000",
        "[RESPONSE_TIME] < 300 || [BODY].cached == true",
    ] {
        if condition == "[BODY] == " {
            assert!(Condition::parse(condition).is_err());
            continue;
        }
        assert!(
            Condition::parse(condition).is_ok(),
            "{condition:?}: {:?}",
            Condition::parse(condition)
        );
    }
    assert_cases(&[
        (
            "[BODY].html == <b>hi</b>",
            body(r#"{"html":"<b>hi</b>"}"#),
            true,
        ),
        ("[BODY].a == \\)", body(r#"{"a":"\\)"}"#), true),
        ("[BODY].text == x, y", body(r#"{"text":"x, y"}"#), true),
        ("[RESPONSE_TIME] < 0x1F4", response_ms(499), true),
        ("[RESPONSE_TIME] < 1_000", response_ms(999), true),
        ("[BODY].v >= -1.5e3", body(r#"{"v":-1500}"#), true),
    ]);
}

#[test]
fn needs_body() {
    let cases = [
        ("[BODY] == x", true),
        ("[BODY].a.b == 1", true),
        ("[body][0] == 1", true),
        ("len([BODY].a) > 1", true),
        ("has([BODY]) == true", true),
        ("[STATUS] == 200 || [BODY].a == 1", true),
        ("[STATUS] == [BODY].code", true),
        ("[STATUS] == 200", false),
        ("[HEADER].X-Body == BODY", false),
        ("[RESPONSE_TIME] < 300 || [CONNECTED] == true", false),
    ];
    for (condition, want) in cases {
        if let Ok(c) = Condition::parse(condition) {
            assert_eq!(c.needs_body(), want, "{condition:?}");
        } else {
            assert!(!want, "{condition:?} should parse");
        }
    }
}

#[test]
fn api() {
    let c = Condition::parse("[STATUS] == 200").unwrap();
    assert_eq!(c.source(), "[STATUS] == 200");
    assert_eq!(c.to_string(), "[STATUS] == 200");
    assert_eq!(serde_json::to_string(&c).unwrap(), r#""[STATUS] == 200""#);
    assert_eq!(c.clone(), c);
    assert_ne!(c, Condition::parse("[STATUS] == 201").unwrap());
    assert_eq!("[STATUS] == 200".parse::<Condition>(), Ok(c));
    // The source is kept exactly as written.
    assert_eq!(
        Condition::parse(" [STATUS] == 200 ").unwrap().source(),
        " [STATUS] == 200 "
    );
    let err = Condition::parse("[STATU] == 200").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown placeholder [STATU] (did you mean [STATUS]?)"
    );
}

#[test]
fn never_panics_on_odd_observations() {
    let conditions = [
        "[STATUS] == 200",
        "[STATUS] < 300",
        "[RESPONSE_TIME] < 1s",
        "[IP] == pat(10.*)",
        "[CONNECTED] == true",
        "[CERTIFICATE_EXPIRATION] > 48h",
        "[DNS_RCODE] == any(NOERROR, NXDOMAIN)",
        "[BODY] == matches(ok)",
        "[BODY].a[0].b == 1",
        "[BODY][*].x >= 2",
        "len([BODY]) > 0",
        "len([BODY].a) < 1",
        "has([BODY].a) == true",
        "[HEADER].X == y || [BODY].a == [BODY].b",
    ];
    let observations = [
        nothing(),
        base(),
        body(""),
        body("["),
        body("null"),
        body("[]"),
        body("[null, 1, \"x\"]"),
        body("\"just a string\""),
        body("1e400"),
        body(r#"{"a": {"b": 1}}"#),
        body("\u{0}\u{ffff}é"),
        Observation {
            response_time: Duration::MAX,
            certificate_expiration: Some(Duration::MAX),
            ..base()
        },
    ];
    for condition in conditions {
        let c = Condition::parse(condition).unwrap();
        for obs in &observations {
            let result = c.evaluate(obs);
            assert!(!result.detail.is_empty(), "{condition:?}");
        }
    }
}
