//! [`FakeSmtp`]: a real SMTP server on 127.0.0.1:0 for tests, speaking just enough of RFC 5321
//! for a real client (lettre) to deliver to it without encryption: the `220` greeting,
//! `EHLO`/`HELO`, `AUTH PLAIN` (when a login is required), `MAIL FROM`, `RCPT TO`,
//! `DATA … .`, `RSET`, `NOOP` and `QUIT`. Every accepted message is recorded with its
//! envelope and raw data, and [`SmtpMessage`] decodes what a test wants to look at (subject,
//! headers, the plain-text and HTML parts).
//!
//! It lives in `pharos-testkit-core` rather than `pharos-testkit` so that pharos-notify's own
//! tests can use it: the testkit depends on that crate.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What a [`FakeSmtp`] does with the next connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpMode {
    /// Accept every message (except to addresses passed to [`FakeSmtp::reject`]).
    Accept,
    /// Answer every `RCPT TO` with `550 5.1.1 … User unknown`.
    RejectRecipients,
    /// Answer every `RCPT TO` with `451 4.3.0 … try again later`.
    DeferRecipients,
    /// Answer the end of `DATA` with `554 5.7.1 Message rejected as spam`.
    RejectData,
    /// Accept the connection and close it at once, without a greeting.
    Close,
    /// Accept the connection and never say anything.
    Hang,
}

/// One message a [`FakeSmtp`] accepted.
#[derive(Debug, Clone)]
pub struct SmtpMessage {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients it accepted (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The user that logged in with `AUTH`, if one did.
    pub login: Option<String>,
    /// The message as transmitted after `DATA`, dot-unstuffed, with CRLF line ends.
    pub data: String,
}

impl SmtpMessage {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("the message parses as RFC 5322")
    }

    /// The decoded `Subject:`.
    pub fn subject(&self) -> Option<String> {
        self.parsed().subject().map(str::to_owned)
    }

    /// A top-level header's value as transmitted (encoded words left as they are), unfolded
    /// and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = self.parsed();
        let raw = parsed.header_raw(name)?;
        Some(raw.replace("\r\n", "").replace('\n', "").trim().to_owned())
    }

    /// Every top-level header name, in order.
    pub fn header_names(&self) -> Vec<String> {
        self.parsed()
            .headers_raw()
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The decoded `text/plain` part, with LF line ends.
    pub fn text(&self) -> Option<String> {
        let parsed = self.parsed();
        let part = parsed
            .parts
            .iter()
            .find(|p| matches!(p.body, mail_parser::PartType::Text(_)))?;
        part.text_contents().map(|t| t.replace("\r\n", "\n"))
    }

    /// The decoded `text/html` part, with LF line ends.
    pub fn html(&self) -> Option<String> {
        let parsed = self.parsed();
        let part = parsed
            .parts
            .iter()
            .find(|p| matches!(p.body, mail_parser::PartType::Html(_)))?;
        part.text_contents().map(|t| t.replace("\r\n", "\n"))
    }
}

#[derive(Default)]
struct State {
    mode: Option<SmtpMode>,
    rejected: HashSet<String>,
    login: Option<(String, String)>,
    messages: Vec<SmtpMessage>,
    commands: Vec<String>,
    connections: usize,
}

/// A real SMTP server on 127.0.0.1:0 that records what it is sent (no TLS: point the
/// client at it with `security = "none"`).
pub struct FakeSmtp {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSmtp {
    /// Starts a server that accepts every message.
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mode: Some(SmtpMode::Accept),
            ..State::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = session(sock, &shared).await;
                });
            }
        });
        FakeSmtp { addr, state, task }
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes what later connections get.
    pub fn set_mode(&self, mode: SmtpMode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Answers `RCPT TO:<address>` with `550 5.1.1 <address>: Recipient address rejected:
    /// User unknown` from now on.
    pub fn reject(&self, address: &str) {
        self.state
            .lock()
            .unwrap()
            .rejected
            .insert(address.to_ascii_lowercase());
    }

    /// Advertises `AUTH PLAIN` and requires this login before `MAIL FROM` (`530` without it,
    /// `535` for a wrong one).
    pub fn require_login(&self, username: &str, password: &str) {
        self.state.lock().unwrap().login = Some((username.to_owned(), password.to_owned()));
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<SmtpMessage> {
        self.state.lock().unwrap().messages.clone()
    }

    /// Every command line received so far, in order (`AUTH` payloads included; message
    /// data excluded).
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Forgets the messages and commands received so far.
    pub fn clear(&self) {
        let mut state = self.state.lock().unwrap();
        state.messages.clear();
        state.commands.clear();
    }
}

/// Reads one line (up to and including LF); `None` at the end of the stream.
async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Option<String> {
    let mut buf = Vec::new();
    match reader.read_until(b'\n', &mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
    }
}

/// The address inside `<…>` after `prefix` (case-insensitive), e.g. `MAIL FROM:<a@b> BODY=…`.
fn path_arg(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

async fn session(sock: TcpStream, shared: &Mutex<State>) -> std::io::Result<()> {
    let mode = {
        let mut state = shared.lock().unwrap();
        state.connections += 1;
        state.mode.clone().unwrap_or(SmtpMode::Accept)
    };
    match mode {
        SmtpMode::Close => return Ok(()),
        SmtpMode::Hang => {
            let mut sock = sock;
            let mut sink = Vec::new();
            // Read until the client gives up.
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut sink).await;
            return Ok(());
        }
        _ => {}
    }
    let (read, mut write) = sock.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 fake.smtp.test ESMTP FakeSmtp\r\n")
        .await?;

    let mut logged_in: Option<String> = None;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut reader).await {
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        let (login, rejected) = {
            let mut state = shared.lock().unwrap();
            state.commands.push(line.clone());
            (state.login.clone(), state.rejected.clone())
        };
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let mut r = String::from("250-fake.smtp.test greets you\r\n250-8BITMIME\r\n");
                r.push_str("250-SMTPUTF8\r\n250-PIPELINING\r\n");
                if login.is_some() {
                    r.push_str("250-AUTH PLAIN\r\n");
                }
                r.push_str("250 SIZE 10485760");
                r
            }
            "HELO" => "250 fake.smtp.test".into(),
            "NOOP" => "250 2.0.0 OK".into(),
            "RSET" => {
                from = None;
                to.clear();
                "250 2.0.0 OK".into()
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            "AUTH" => {
                let mut words = line.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
                if mechanism != "PLAIN" {
                    "504 5.5.4 Unrecognized authentication type".into()
                } else {
                    let payload = match words.next() {
                        Some(p) => p.to_owned(),
                        None => {
                            write.write_all(b"334 \r\n").await?;
                            let Some(l) = read_line(&mut reader).await else {
                                return Ok(());
                            };
                            l.trim().to_owned()
                        }
                    };
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(payload.as_bytes())
                        .unwrap_or_default();
                    let fields: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    match (&login, fields.as_slice()) {
                        (Some((u, p)), [_, user, pass]) if user == u && pass == p => {
                            logged_in = Some(user.clone());
                            "235 2.7.0 Authentication successful".into()
                        }
                        _ => "535 5.7.8 Error: authentication failed: bad username or password"
                            .into(),
                    }
                }
            }
            "MAIL" => match path_arg(&line, "MAIL FROM:") {
                None => "501 5.5.4 Syntax: MAIL FROM:<address>".into(),
                Some(_) if login.is_some() && logged_in.is_none() => {
                    "530 5.7.0 Authentication required".into()
                }
                Some(addr) => {
                    from = Some(addr);
                    to.clear();
                    "250 2.1.0 Ok".into()
                }
            },
            "RCPT" => match path_arg(&line, "RCPT TO:") {
                None => "501 5.5.4 Syntax: RCPT TO:<address>".into(),
                Some(_) if from.is_none() => "503 5.5.1 Error: need MAIL command".into(),
                Some(addr)
                    if mode == SmtpMode::RejectRecipients
                        || rejected.contains(&addr.to_ascii_lowercase()) =>
                {
                    format!(
                        "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local recipient table"
                    )
                }
                Some(addr) if mode == SmtpMode::DeferRecipients => {
                    format!("451 4.3.0 <{addr}>: Temporary lookup failure, try again later")
                }
                Some(addr) => {
                    to.push(addr);
                    "250 2.1.5 Ok".into()
                }
            },
            "DATA" if to.is_empty() => "554 5.5.1 Error: no valid recipients".into(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    let Some(l) = read_line(&mut reader).await else {
                        return Ok(());
                    };
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                if mode == SmtpMode::RejectData {
                    from = None;
                    to.clear();
                    "554 5.7.1 Message rejected as spam".into()
                } else {
                    let message = SmtpMessage {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        login: logged_in.clone(),
                        data,
                    };
                    shared.lock().unwrap().messages.push(message);
                    "250 2.0.0 Ok: queued as FAKE".into()
                }
            }
            _ => "500 5.5.2 Error: command not recognized".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
    Ok(())
}
