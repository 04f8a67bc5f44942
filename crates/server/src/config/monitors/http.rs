//! `type = "http"`: a request to `url` (any method, headers, body, authentication, client
//! certificate), judged by its status, headers, body and timing. Its settings are shared
//! with `prometheus`, whose scrape is an http `GET`.

use pharos_domain::monitor::{ClientIdentity, HttpAuth};
use pharos_domain::{HttpSpec, MonitorKind, Secret, StatusRange};

use super::{Entry, Read, Type, DEFAULT_THRESHOLDS};
use crate::config::values::{check_http_url, is_http_token, parse_byte_size};
use crate::config::walk::{describe, describe_kind, Cx, Field, Section};

/// The http monitor type.
pub(super) const TYPE: Type = Type {
    name: "http",
    a_name: "an http",
    keys: &[
        "method",
        "headers",
        "body",
        "insecure",
        "max_redirects",
        "max_body_size",
        "basic_auth",
        "bearer_token",
        "accepted_status_codes",
        "client_certificate",
        "client_key",
        "ca_certificate",
    ],
    refuses: &[],
    refusal: "",
    default_condition: Some("[STATUS] < 400"),
    thresholds: DEFAULT_THRESHOLDS,
    read,
};

/// Reads the http settings, then the `url` (an absolute `http(s)://` URL).
fn read(cx: &mut Cx<'_>, s: &Section<'_>, e: &mut Entry<'_>) -> Option<Read> {
    let settings = settings(cx, s);
    let url = e.target(cx, |url| check_http_url(url).map(|()| url.to_owned()))?;
    Some(MonitorKind::Http(HttpSpec { url, ..settings }).into())
}

/// The http keys, with defaults; the URL is filled in by the caller. Also the settings of a
/// prometheus scrape, and the best guess for a monitor of missing or unknown type.
pub(super) fn settings(cx: &mut Cx<'_>, s: &Section<'_>) -> HttpSpec {
    let mut spec = HttpSpec::get(String::new());
    if let Some(v) = s.field("method").and_then(|f| cx.string(&f)) {
        let method = v.text.to_ascii_uppercase();
        if is_http_token(&method) {
            spec.method = method;
        } else {
            cx.error(
                v.at,
                format!(
                    "`method` must be an HTTP method like \"GET\" or \"POST\", found {:?}",
                    v.text
                ),
            );
        }
    }
    if let Some(headers) = s.field("headers").and_then(|f| cx.string_map(&f)) {
        for (name, name_at, value) in headers {
            if !is_http_token(&name) {
                cx.error(name_at, format!("{name:?} is not a valid HTTP header name"));
            } else if value.text.contains(['\r', '\n', '\0']) {
                cx.error(
                    value.at,
                    format!("header `{name}` must not contain line breaks or NUL"),
                );
            } else {
                spec.headers.push((name, value.text));
            }
        }
    }
    if let Some(v) = s.field("body").and_then(|f| cx.string(&f)) {
        spec.body = Some(v.text);
    }
    if let Some(b) = s.field("insecure").and_then(|f| cx.boolean(&f)) {
        spec.insecure = b;
    }
    if let Some(n) = s
        .field("max_redirects")
        .and_then(|f| cx.integer_at_least::<usize>(&f, 0))
    {
        spec.max_redirects = n;
    }
    if let Some(n) = s.field("max_body_size").and_then(|f| max_body_size(cx, &f)) {
        spec.max_body_bytes = n;
    }
    spec.auth = http_auth(cx, s);
    if let Some(codes) = s
        .field("accepted_status_codes")
        .and_then(|f| status_codes(cx, &f))
    {
        spec.accepted_status_codes = codes;
    }
    spec.client_identity = client_identity(cx, s);
    spec.ca_certificate_pem = ca_certificate(cx, s);
    spec
}

/// `ca_certificate`: a PEM file of an extra trusted root (an internal CA), read now so a
/// missing file stops start-up rather than failing every check.
pub(super) fn ca_certificate(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<String> {
    s.field("ca_certificate")
        .and_then(|f| pem_file(cx, &f, "CERTIFICATE"))
}

/// `basic_auth = { username, password }` or `bearer_token`, not both.
fn http_auth(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<HttpAuth> {
    let basic = s.field("basic_auth");
    let bearer = s.field("bearer_token");
    if let (Some(_), Some(b)) = (&basic, &bearer) {
        cx.error(
            b.at,
            "set `basic_auth` or `bearer_token`, not both: a request carries one Authorization header",
        );
        return None;
    }
    if s.field("headers")
        .and_then(|h| {
            h.item.as_table_like().map(|t| {
                t.iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            })
        })
        .unwrap_or(false)
        && (basic.is_some() || bearer.is_some())
    {
        cx.error(
            basic.as_ref().or(bearer.as_ref()).map_or(s.at, |f| f.at),
            "`headers` already sets Authorization; drop it or the `basic_auth`/`bearer_token` key",
        );
        return None;
    }
    if let Some(b) = bearer {
        return cx
            .secret_string(&b)
            .map(|v| HttpAuth::Bearer(Secret::new(v.text)));
    }
    let f = basic?;
    let Some(table) = f.item.as_table_like() else {
        cx.error(
            f.at,
            format!(
                "`basic_auth` must be a table like {{ username = \"…\", password = \"${{PASSWORD}}\" }}, found {}",
                describe_kind(f.item)
            ),
        );
        return None;
    };
    let section = Section {
        table,
        at: f.at,
        label: "basic_auth",
    };
    section.check_keys(cx, &["username", "password"]);
    let username = match section.field("username") {
        None => {
            section.missing(cx, "username");
            None
        }
        Some(u) => cx.string(&u).and_then(|v| {
            if v.text.contains(':') {
                cx.error(v.at, "`username` must not contain `:` (Basic auth joins it to the password with one)");
                None
            } else {
                Some(v.text)
            }
        }),
    };
    let password = match section.field("password") {
        None => {
            section.missing(cx, "password");
            None
        }
        Some(p) => cx.secret_string(&p).map(|v| Secret::new(v.text)),
    };
    Some(HttpAuth::Basic {
        username: username?,
        password: password?,
    })
}

/// `accepted_status_codes = [200, 204, "300-399"]`: codes and inclusive ranges, 100-599.
fn status_codes(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<Vec<StatusRange>> {
    let Some(array) = f.item.as_array() else {
        cx.error(
            f.at,
            format!(
                "`accepted_status_codes` must be a list like [200, \"300-399\"], found {}",
                describe(f.item)
            ),
        );
        return None;
    };
    let valid = |n: i64| u16::try_from(n).ok().filter(|c| (100..=599).contains(c));
    let mut out = Vec::new();
    let mut ok = true;
    for v in array.iter() {
        let at = v.span().map_or(f.at, |s| s.start);
        let range = match v {
            toml_edit::Value::Integer(n) => {
                valid(*n.value()).map(|c| StatusRange { from: c, to: c })
            }
            toml_edit::Value::String(text) => {
                let text = text.value().trim();
                let (a, b) = text.split_once('-').unwrap_or((text, text));
                match (
                    a.trim().parse::<i64>().ok().and_then(valid),
                    b.trim().parse::<i64>().ok().and_then(valid),
                ) {
                    (Some(from), Some(to)) if from <= to => Some(StatusRange { from, to }),
                    _ => None,
                }
            }
            _ => None,
        };
        match range {
            Some(r) => out.push(r),
            None => {
                ok = false;
                cx.error(
                    at,
                    format!(
                        "`accepted_status_codes`: {} is not a status code (100-599) or a range like \"200-299\"",
                        v.to_string().trim()
                    ),
                );
            }
        }
    }
    if ok && out.is_empty() {
        cx.error(f.at, "`accepted_status_codes` must not be empty; leave the key out to use the conditions alone");
        return None;
    }
    ok.then_some(out)
}

/// `client_certificate` and `client_key`: PEM files, both or neither, read now so a missing
/// or unreadable file stops start-up rather than failing every check.
fn client_identity(cx: &mut Cx<'_>, s: &Section<'_>) -> Option<ClientIdentity> {
    let cert = s.field("client_certificate");
    let key = s.field("client_key");
    match (&cert, &key) {
        (None, None) => return None,
        (Some(f), None) => {
            cx.error(
                f.at,
                "`client_certificate` needs `client_key` (the PEM file of its private key)",
            );
            return None;
        }
        (None, Some(f)) => {
            cx.error(
                f.at,
                "`client_key` needs `client_certificate` (the PEM file of the certificate)",
            );
            return None;
        }
        _ => {}
    }
    let certificate_pem = cert.and_then(|f| pem_file(cx, &f, "CERTIFICATE"));
    let key_pem = key.and_then(|f| pem_file(cx, &f, "PRIVATE KEY"));
    Some(ClientIdentity {
        certificate_pem: certificate_pem?,
        key_pem: Secret::new(key_pem?),
    })
}

/// Reads a PEM file named by `f` (relative paths from the configuration file's folder) and
/// checks it holds a block whose label ends with `label`. Never quotes the file's content.
fn pem_file(cx: &mut Cx<'_>, f: &Field<'_>, label: &str) -> Option<String> {
    let v = cx.string(f)?;
    let path = cx.relative_path(&v.text);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            cx.error(
                v.at,
                format!("`{}`: cannot read {}: {e}", f.name, path.display()),
            );
            return None;
        }
    };
    let has_block = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !has_block {
        cx.error(
            v.at,
            format!(
                "`{}`: {} holds no PEM \"{label}\" block",
                f.name,
                path.display()
            ),
        );
        return None;
    }
    Some(text)
}

/// `max_body_size`: bytes as an integer, or a size like "1MiB".
fn max_body_size(cx: &mut Cx<'_>, f: &Field<'_>) -> Option<usize> {
    let bytes = if f.item.is_integer() {
        cx.integer_at_least::<u64>(f, 1)?
    } else if f.item.is_str() {
        let v = cx.string(f)?;
        match parse_byte_size(&v.text) {
            Ok(0) => {
                cx.error(v.at, "`max_body_size` must be at least 1 byte");
                return None;
            }
            Ok(n) => n,
            Err(e) => {
                cx.error(v.at, format!("`max_body_size`: {e}"));
                return None;
            }
        }
    } else {
        cx.error(
            f.at,
            format!(
                "`max_body_size` must be an integer (bytes) or a string like \"1MiB\", found {}",
                describe(f.item)
            ),
        );
        return None;
    };
    let n = usize::try_from(bytes).ok();
    if n.is_none() {
        cx.error(f.at, "`max_body_size` is too large for this machine");
    }
    n
}
