//! Small process and text helpers the bench tools share: a free port, stopping a child
//! politely, waiting for SIGINT or SIGTERM, the tail of its log, TOML-quoting generated config
//! values, rounding figures.

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

/// Waits for SIGINT or SIGTERM; names the one that came.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No signal handling: never interrupted (the default handlers stay).
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// A port free on 127.0.0.1 right now (bound and released).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Stops `child` with SIGTERM, waiting up to `grace` before SIGKILL, and returns its status.
pub fn stop(child: &mut Child, grace: Duration) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "pid {} still running {} s after SIGTERM; SIGKILL",
        child.id(),
        grace.as_secs()
    );
    child.kill()?;
    Ok(child.wait()?)
}

/// Prints the last `lines` lines of the log at `path` to stderr, if there are any.
pub fn print_log_tail(path: &Path, lines: usize) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return;
    }
    eprintln!(
        "--- last {} lines of {} ---",
        lines.min(all.len()),
        path.display()
    );
    for line in &all[all.len().saturating_sub(lines)..] {
        eprintln!("{line}");
    }
    eprintln!("---");
}

/// `s` as a TOML basic string, with `${` escaped so Pharos does not interpolate it.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out.replace("${", "$${")
}

/// `x` rounded to `places` decimals, for figures in JSON lines.
pub fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_string("x${Y}"), r#""x$${Y}""#);
    }
}
