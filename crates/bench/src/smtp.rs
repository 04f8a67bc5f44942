//! [`start`]: a lean SMTP server on 127.0.0.1 for throughput: it accepts every message
//! without storing it and counts each accepted recipient in a [`Tally`] (the recipient
//! address, lower-cased, is the distinct key).
//!
//! It speaks the plain RFC 5321 subset a real client (lettre, without TLS or login) needs:
//! the `220` greeting, `EHLO` (multi-line `250`, advertising only `8BITMIME`), `HELO`,
//! `MAIL FROM`, `RCPT TO`, `DATA` (`354`, then lines up to a line that is exactly `.`, then
//! `250`), `RSET`, `NOOP` and `QUIT` (`221`); anything else is `502`. A connection may carry
//! any number of messages, and any number of connections may be open at once.

use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::sink::Sink;
use crate::tally::Tally;

/// Longest command line read at once; a longer command is refused and the connection closed.
/// Inside `DATA`, longer lines are read in pieces of this size.
const MAX_LINE: u64 = 64 * 1024;

/// Starts an SMTP sink on a free port of 127.0.0.1. Its tally counts one delivery per
/// recipient of each completed `DATA`.
pub async fn start() -> std::io::Result<Sink> {
    Sink::start(|sock, tally| async move {
        let _ = session(sock, &tally).await;
    })
    .await
}

/// One connection, until `QUIT` or the client goes away.
async fn session(sock: TcpStream, tally: &Tally) -> std::io::Result<()> {
    let (read, mut write) = sock.into_split();
    let mut read = BufReader::with_capacity(64 * 1024, read);
    let mut line = Vec::with_capacity(1024);
    let mut in_transaction = false;
    let mut recipients: Vec<String> = Vec::new();
    write.write_all(b"220 fanout-sink ESMTP ready\r\n").await?;
    loop {
        line.clear();
        let n = (&mut read)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            write.write_all(b"500 5.5.6 Line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(trim_eol(&line));
        let (verb, rest) = text.split_once(' ').unwrap_or((&*text, ""));
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => b"250-fanout-sink\r\n250 8BITMIME\r\n",
            "HELO" => b"250 fanout-sink\r\n",
            "MAIL" if has_prefix(rest, "FROM:") => {
                in_transaction = true;
                recipients.clear();
                b"250 2.1.0 Ok\r\n"
            }
            "RCPT" if has_prefix(rest, "TO:") => {
                if in_transaction {
                    recipients.push(address(&rest[3..]).to_ascii_lowercase());
                    b"250 2.1.5 Ok\r\n"
                } else {
                    b"503 5.5.1 MAIL first\r\n"
                }
            }
            "MAIL" | "RCPT" => b"501 5.5.4 Syntax error in parameters\r\n",
            "DATA" => {
                if recipients.is_empty() {
                    b"503 5.5.1 RCPT first\r\n"
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(bytes) = read_data(&mut read, &mut line).await? else {
                        return Ok(());
                    };
                    tally.record(recipients.iter().map(String::as_str), bytes, Instant::now());
                    in_transaction = false;
                    recipients.clear();
                    b"250 2.0.0 Ok: queued\r\n"
                }
            }
            "RSET" => {
                in_transaction = false;
                recipients.clear();
                b"250 2.0.0 Ok\r\n"
            }
            "NOOP" => b"250 2.0.0 Ok\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads a message's data up to the line that is exactly `.`; its size in bytes (the end
/// line excluded), or `None` when the client went away first.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<u64>> {
    let mut bytes = 0u64;
    // Whether the next piece starts a line (a long line arrives in several pieces).
    let mut line_start = true;
    loop {
        line.clear();
        let n = (&mut *read).take(MAX_LINE).read_until(b'\n', line).await?;
        if n == 0 {
            return Ok(None);
        }
        if line_start && trim_eol(line) == b"." && line.ends_with(b"\n") {
            return Ok(Some(bytes));
        }
        bytes += n as u64;
        line_start = line.ends_with(b"\n");
    }
}

/// The line without its `\r\n` (or bare `\n`).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether `s` starts with the ASCII `prefix`, ignoring case.
fn has_prefix(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The address in `<a@b> PARAMS` (or a bare `a@b`).
fn address(s: &str) -> &str {
    let s = s.trim_start();
    match s.strip_prefix('<') {
        Some(inner) => inner.split_once('>').map_or(inner, |(a, _)| a),
        None => s.split_whitespace().next().unwrap_or(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(address("<a@b.c>"), "a@b.c");
        assert_eq!(address(" <a@b.c> SIZE=10"), "a@b.c");
        assert_eq!(address("a@b.c BODY=8BITMIME"), "a@b.c");
        assert_eq!(address("<>"), "");
        assert!(has_prefix("from:<x>", "FROM:"));
        assert!(!has_prefix("FRO", "FROM:"));
    }
}
