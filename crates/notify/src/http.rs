//! One POST of a [`RenderedRequest`], and what the answer means: 2xx is sent; anything else,
//! a timeout or a broken connection is a failure with a reason a person can act on. Reasons
//! never carry a URL (chat webhook URLs are secrets) and every configured secret is scrubbed
//! from them, even from a receiver's echoed answer.

use std::error::Error as _;
use std::io;
use std::time::Duration;

use pharos_domain::duration::format_duration;
use tokio::time::{timeout_at, Instant};

use crate::guard::Refusal;
use crate::notifier::Outcome;
use crate::render::RenderedRequest;

/// Most characters of a receiver's answer quoted in a failure reason.
const EXCERPT_CHARS: usize = 200;
/// Most bytes of a receiver's answer read for the excerpt.
const EXCERPT_READ_BYTES: usize = 4096;

/// POSTs `req` once, within `timeout` from start to the end of reading the answer.
///
/// `client` must not follow redirects (`redirect::Policy::none()`); if it does, a request
/// that ended at another URL is reported as failed all the same.
pub(crate) async fn post(
    client: &reqwest::Client,
    req: &RenderedRequest,
    timeout: Duration,
    secrets: &[&str],
) -> Outcome {
    post_or_refuse(client, req, timeout, secrets)
        .await
        .unwrap_or_else(|refusal| Outcome::Failed {
            reason: redact(&format!("refused: {refusal}"), secrets),
        })
}

/// [`post`], telling apart a request that the client's resolver refused to connect
/// anywhere ([`Refusal`], see [`crate::guard`]): nothing was sent then.
pub(crate) async fn post_or_refuse(
    client: &reqwest::Client,
    req: &RenderedRequest,
    timeout: Duration,
    secrets: &[&str],
) -> Result<Outcome, Refusal> {
    let failed = |reason: String| {
        Ok(Outcome::Failed {
            reason: redact(&reason, secrets),
        })
    };
    let url = match reqwest::Url::parse(&req.url) {
        Ok(u) => u,
        Err(e) => return failed(format!("the configured URL is not valid: {e}")),
    };
    let host = host_of(&url);
    let deadline = Instant::now() + timeout;
    let mut builder = client
        .post(url.clone())
        .timeout(timeout)
        .body(req.body.clone());
    for (name, value) in &req.headers {
        builder = builder.header(*name, value.as_str());
    }
    let mut response = match timeout_at(deadline, builder.send()).await {
        Err(_) => return failed(timed_out(timeout)),
        Ok(Err(e)) => {
            if let Some(refusal) = refusal_in(&e) {
                return Err(refusal);
            }
            return failed(describe(&e, &host, timeout));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if response.url() != &url {
        return failed(format!(
            "the request to {host} was redirected (HTTP client follows redirects); \
             Pharos does not follow redirects: configure the final URL"
        ));
    }
    if status.is_success() {
        return Ok(Outcome::Sent);
    }
    let mut body = Vec::new();
    while body.len() < EXCERPT_READ_BYTES {
        match timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let mut reason = format!(
        "HTTP {} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned();
    if status.is_redirection() {
        reason.push_str(" (redirects are not followed: configure the final URL)");
    }
    let excerpt = excerpt(&body);
    if !excerpt.is_empty() {
        reason.push_str(": ");
        reason.push_str(&excerpt);
    }
    failed(reason)
}

/// The guard's refusal somewhere in an error's causes.
fn refusal_in(e: &reqwest::Error) -> Option<Refusal> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(refusal) = err.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        source = err.source();
    }
    None
}

/// `timed out after 10s`.
fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", format_duration(timeout))
}

/// `host` or `host:port`, never a path or query.
fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("the receiver");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The first [`EXCERPT_CHARS`] characters of an answer, whitespace collapsed.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::message::truncate(&collapsed, EXCERPT_CHARS)
}

/// Why a request got no answer, in words, without the URL reqwest puts in its messages.
fn describe(e: &reqwest::Error, host: &str, timeout: Duration) -> String {
    if e.is_timeout() {
        return timed_out(timeout);
    }
    let chain = chain(e);
    if e.is_builder() {
        return format!("the request could not be built: {chain}");
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return format!("connection refused by {host}"),
                io::ErrorKind::ConnectionReset => return format!("connection reset by {host}"),
                io::ErrorKind::ConnectionAborted => return format!("connection aborted by {host}"),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => {
                    return format!("connection closed by {host} before it answered")
                }
                io::ErrorKind::TimedOut => return timed_out(timeout),
                _ => {}
            }
        }
        source = err.source();
    }
    if chain.contains("connection closed before message completed")
        || chain.contains("connection closed")
    {
        return format!("connection closed by {host} before it answered");
    }
    if e.is_dns() {
        return format!("could not resolve {host}: {}", innermost(e));
    }
    if e.is_connect() {
        return format!("could not connect to {host}: {}", innermost(e));
    }
    if chain.is_empty() {
        format!("the request to {host} failed")
    } else {
        format!("the request to {host} failed: {chain}")
    }
}

/// The messages of an error's causes, joined with `: `, skipping reqwest's own (they may
/// carry the URL).
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(err) = source {
        if err.downcast_ref::<reqwest::Error>().is_none() {
            let msg = err.to_string();
            if !msg.is_empty() && parts.last() != Some(&msg) {
                parts.push(msg);
            }
        }
        source = err.source();
    }
    if parts.is_empty() {
        e.to_string()
            .split(" for url (")
            .next()
            .unwrap_or_default()
            .to_owned()
    } else {
        parts.join(": ")
    }
}

/// The deepest cause's message (`Name or service not known`, `invalid peer certificate: …`),
/// without the wrappers' noise.
fn innermost(e: &reqwest::Error) -> String {
    let mut last = None;
    let mut source = e.source();
    while let Some(err) = source {
        if err.downcast_ref::<reqwest::Error>().is_none() {
            last = Some(err.to_string());
        }
        source = err.source();
    }
    last.unwrap_or_else(|| chain(e))
}

/// `text` with every secret (at least 6 characters long) replaced by `[redacted]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 6) {
        out = out.replace(*s, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt(b"  not\r\n found  "), "not found");
        let long = "x".repeat(500);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), EXCERPT_CHARS);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(
            redact("bad key R0UTINGKEY in body", &["R0UTINGKEY", "abc"]),
            "bad key [redacted] in body"
        );
        assert_eq!(redact("abc stays", &["abc"]), "abc stays");
    }
}
