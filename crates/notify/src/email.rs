//! E-mail over SMTP: the settings of the one outgoing server (`[smtp]`) and sending one
//! message with a plain-text and an HTML part.
//!
//! [`send_email`] opens one connection per message (secured as [`SmtpSecurity`] says: required
//! STARTTLS, implicit TLS, or none for a local relay), logs in when a username is set, sends a
//! `multipart/alternative` message and says how it went; a [`Mailer`] does the same for many
//! messages, keeping connections open between them. Certificates are checked with the
//! platform's verifier (rustls); there is no switch to skip the check.
//!
//! Every failure is an [`Outcome::Failed`] whose reason names the server as `host:port` and
//! says what happened in words: `connection refused by smtp.example.com:587`, `TLS with
//! smtp.example.com:465 failed: invalid peer certificate: UnknownIssuer`,
//! `smtp.example.com:587 rejected the message: 550 5.1.1 <bob@example.com>: Recipient address
//! rejected: User unknown`, `smtp.example.com:587 refused the login: 535 5.7.8 Authentication
//! credentials invalid`, `timed out after 10s`. A reason never contains the password, nor
//! the base64 forms of the credentials a server might echo back.

use std::error::Error as _;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;
use pharos_domain::duration::format_duration;
use tokio::net::TcpStream;

use crate::notifier::Outcome;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587). The upgrade is required: a server
    /// that does not offer it is a failure, never a fallback to plain text.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (local relays and tests only).
    None,
}

impl SmtpSecurity {
    /// The configuration form: `starttls`, `tls` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// Parses the configuration form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::StartTls, Self::Tls, Self::None]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// The usual port: 587 for STARTTLS (submission), 465 for TLS (submissions), 25 without
    /// encryption.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// The outgoing mail server (`[smtp]`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// The `From:` address, e.g. `Acme Status <status@acme.example>`.
    pub from: String,
    /// Longest one delivery may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// `host:port`, as reasons name the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// What must never appear in a reason: the password, and the base64 forms of the
    /// credentials that `AUTH PLAIN` and `AUTH LOGIN` send (a server may echo them back).
    pub(crate) fn secrets(&self) -> Vec<String> {
        let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) else {
            return Vec::new();
        };
        let user = self.username.as_deref().unwrap_or_default();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        vec![
            password.to_owned(),
            b64(&format!("\0{user}\0{password}")),
            b64(password),
        ]
    }
}

/// One e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// Extra headers, e.g. `List-Unsubscribe`. `Message-ID` replaces the generated one;
    /// the headers Pharos writes itself (`From`, `To`, `Subject`, `Date`, `MIME-Version`,
    /// `Content-*`, …) may not be given.
    pub headers: Vec<(String, String)>,
}

/// How long a pooled connection may sit idle before it is closed (servers commonly drop
/// idle clients after a few minutes; closing first avoids a failed first send).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers [`send_email`] writes itself, which [`Email::headers`] may not set.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "sender",
    "subject",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Checks an e-mail address such as `oncall@example.com` (no display name), as the
/// configuration's `to` lists hold them. The error says what is wrong in words.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<Address>()
        .map(|_| ())
        .map_err(|e| address_problem(&e))
}

/// Checks a sender such as `status@acme.example` or `Acme Status <status@acme.example>`, as
/// `[smtp] from` holds it. The error says what is wrong in words.
pub fn check_mailbox(mailbox: &str) -> Result<(), String> {
    if mailbox.parse::<Mailbox>().is_ok() {
        return Ok(());
    }
    // Say what is wrong with the address itself where possible.
    let address = match (mailbox.find('<'), mailbox.rfind('>')) {
        (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
        (None, None) => mailbox.trim(),
        _ => return Err("its angle brackets are unbalanced".to_owned()),
    };
    match address.parse::<Address>() {
        Err(e) => Err(address_problem(&e)),
        Ok(_) => Err(
            "it is not a sender like status@example.com or Name <status@example.com>".to_owned(),
        ),
    }
}

/// The domain of a sender such as `Acme Status <status@acme.example>` (`acme.example`).
pub(crate) fn mailbox_domain(mailbox: &str) -> Option<String> {
    mailbox
        .parse::<Mailbox>()
        .ok()
        .map(|m| m.email.domain().to_owned())
}

fn address_problem(e: &lettre::address::AddressError) -> String {
    use lettre::address::AddressError as E;
    match e {
        E::MissingParts => "it needs an @ between a name and a domain, like name@example.com",
        E::Unbalanced => "its angle brackets are unbalanced",
        E::InvalidUser => "the part before the @ is not valid",
        E::InvalidDomain => "the domain after the @ is not valid",
        _ => "it is not an e-mail address",
    }
    .to_owned()
}

/// Sends one e-mail; never panics, classifies every failure as [`Outcome::Failed`].
///
/// One connection to [`SmtpSettings::server`], given at most [`SmtpSettings::timeout`] from
/// connecting to the server's answer to the message, and closed with `QUIT` after it. The
/// message is `multipart/alternative` (the text part first, then the HTML part), with `From`,
/// `To`, `Subject`, `Date`, a `Message-ID` (generated unless [`Email::headers`] gives one),
/// `User-Agent: Pharos/<version>` and the extra headers. Only the server's acceptance of the
/// whole message is [`Outcome::Sent`].
pub async fn send_email(smtp: &SmtpSettings, email: &Email) -> Outcome {
    Mailer::new(smtp.clone(), 0).send(email).await
}

/// Sends many e-mails through one mail server, keeping up to a set number of connections
/// open between messages instead of opening one per message. Cheap to clone: clones share
/// the connections.
///
/// Connections are opened with `TCP_NODELAY` (except implicit TLS, which lettre opens):
/// lettre writes a message's end (`.`) apart from its body, and with Nagle's algorithm that
/// small write waits for the server's delayed acknowledgement, about 40 ms per message.
#[derive(Clone)]
pub struct Mailer {
    smtp: Arc<SmtpSettings>,
    hello: ClientId,
    idle: Arc<Mutex<Vec<Idle>>>,
    keep: usize,
}

/// An open connection waiting for the next message.
struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &self.smtp)
            .field("keep", &self.keep)
            .finish()
    }
}

impl Mailer {
    /// A mailer for `smtp` keeping at most `keep` connections open between messages (none:
    /// each is closed with `QUIT` after its message). It does not limit sends in flight:
    /// each opens a connection when none is free, so the caller bounds concurrency to
    /// `keep`.
    pub fn new(smtp: SmtpSettings, keep: usize) -> Mailer {
        Mailer {
            smtp: Arc::new(smtp),
            hello: ClientId::default(),
            idle: Arc::new(Mutex::new(Vec::new())),
            keep,
        }
    }

    /// The settings it sends with.
    pub fn settings(&self) -> &SmtpSettings {
        &self.smtp
    }

    /// Sends one e-mail as [`send_email`] does, on an open connection when one is free.
    pub async fn send(&self, email: &Email) -> Outcome {
        let smtp = &*self.smtp;
        let secrets = smtp.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let failed = |reason: String| Outcome::Failed {
            reason: crate::http::redact(&reason, &secrets),
        };
        let message = match build_message(smtp, email) {
            Ok(m) => m,
            Err(reason) => return failed(reason),
        };
        let attempt = async {
            let mut connection = self.connection().await?;
            let sent = connection
                .send(message.envelope(), &message.formatted())
                .await
                .map_err(|e| describe(&e, smtp));
            match &sent {
                Ok(_) if !connection.has_broken() => self.put_back(connection).await,
                _ => connection.abort().await,
            }
            sent
        };
        match tokio::time::timeout(smtp.timeout, attempt).await {
            Err(_) => failed(timed_out(smtp.timeout)),
            Ok(Ok(_)) => Outcome::Sent,
            Ok(Err(reason)) => failed(reason),
        }
    }

    /// An open connection that still answers, or a new one, logged in when a username is
    /// set.
    async fn connection(&self) -> Result<AsyncSmtpConnection, String> {
        loop {
            let idle = self.lock().pop();
            let Some(mut idle) = idle else { break };
            if idle.since.elapsed() < POOL_IDLE_TIMEOUT && idle.connection.test_connected().await {
                return Ok(idle.connection);
            }
            idle.connection.abort().await;
        }
        let smtp = &*self.smtp;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| {
                format!(
                    "TLS for {} could not be set up: {}",
                    smtp.host,
                    innermost(&e)
                )
            })
        };
        let mut connection = match smtp.security {
            // lettre opens implicit TLS itself: the handshake comes before the greeting.
            SmtpSecurity::Tls => AsyncSmtpConnection::connect_tokio1(
                (smtp.host.as_str(), smtp.port),
                Some(smtp.timeout),
                &self.hello,
                Some(tls(&smtp.host)?),
                None,
            )
            .await
            .map_err(|e| describe(&e, smtp))?,
            SmtpSecurity::StartTls | SmtpSecurity::None => {
                let stream = TcpStream::connect((smtp.host.as_str(), smtp.port))
                    .await
                    .map_err(|e| describe_connect(&e, smtp))?;
                // See the type's doc: without it every message waits ~40 ms for an ACK.
                stream
                    .set_nodelay(true)
                    .map_err(|e| describe_connect(&e, smtp))?;
                let mut c =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(|e| describe(&e, smtp))?;
                if smtp.security == SmtpSecurity::StartTls {
                    if !c.can_starttls() {
                        c.abort().await;
                        return Err(no_starttls(smtp));
                    }
                    c.starttls(tls(&smtp.host)?, &self.hello)
                        .await
                        .map_err(|e| describe(&e, smtp))?;
                }
                c
            }
        };
        if let Some(user) = &smtp.username {
            let credentials =
                Credentials::new(user.clone(), smtp.password.clone().unwrap_or_default());
            if let Err(e) = connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
            {
                connection.abort().await;
                return Err(describe(&e, smtp));
            }
        }
        Ok(connection)
    }

    /// Keeps `connection` for the next message, or closes it when enough are kept.
    async fn put_back(&self, mut connection: AsyncSmtpConnection) {
        {
            let mut idle = self.lock();
            if idle.len() < self.keep {
                idle.push(Idle {
                    connection,
                    since: Instant::now(),
                });
                return;
            }
        }
        if connection.quit().await.is_err() {
            connection.abort().await;
        }
    }

    /// The idle connections. A panic while the lock was held cannot leave the list
    /// inconsistent (it is only pushed to and popped from), so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why opening the TCP connection failed, in the words [`describe`] uses.
fn describe_connect(e: &io::Error, smtp: &SmtpSettings) -> String {
    describe_io(Some(e.kind()), &e.to_string(), smtp)
        .unwrap_or_else(|| format!("could not connect to {}: {e}", smtp.server()))
}

/// The words for a network failure of kind `kind` whose deepest message is `cause`, when it
/// is one of those with words of their own (refused, reset, closed, timed out, TLS, name
/// resolution).
fn describe_io(kind: Option<io::ErrorKind>, cause: &str, smtp: &SmtpSettings) -> Option<String> {
    let at = smtp.server();
    match kind {
        Some(io::ErrorKind::ConnectionRefused) => {
            return Some(format!("connection refused by {at}"))
        }
        Some(io::ErrorKind::ConnectionReset) => return Some(format!("connection reset by {at}")),
        Some(io::ErrorKind::ConnectionAborted) => {
            return Some(format!("connection aborted by {at}"))
        }
        Some(io::ErrorKind::TimedOut) => return Some(timed_out(smtp.timeout)),
        Some(io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe) => {
            return Some(format!("connection closed by {at}"))
        }
        // tokio-rustls reports every handshake failure as invalid data.
        Some(io::ErrorKind::InvalidData) if smtp.security != SmtpSecurity::None => {
            let hint = match smtp.security {
                SmtpSecurity::Tls if cause.contains("corrupt message") => {
                    " (security = \"tls\" wants TLS from the first byte, usually on port \
                     465; port 587 wants \"starttls\")"
                }
                _ => "",
            };
            return Some(format!("TLS with {at} failed: {cause}{hint}"));
        }
        _ => {}
    }
    (cause.contains("lookup address") || cause.contains("resolve"))
        .then(|| format!("could not resolve {}: {cause}", smtp.host))
}

/// The server does not offer STARTTLS, which the settings require.
fn no_starttls(smtp: &SmtpSettings) -> String {
    format!(
        "{} does not offer STARTTLS, which security = \"starttls\" requires (use \"tls\" \
         for a server that wants TLS from the first byte)",
        smtp.server()
    )
}

/// The message, or why it cannot be built.
fn build_message(smtp: &SmtpSettings, email: &Email) -> Result<lettre::Message, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("the sender `from` is not valid: {}", address_problem(&e)))?;
    let to: Mailbox = email.to.parse().map_err(|e| {
        format!(
            "the recipient {:?} is not valid: {}",
            email.to,
            address_problem(&e)
        )
    })?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&email.subject))
        .user_agent(crate::channels::USER_AGENT.to_owned());
    let mut message_id = None;
    for (name, value) in &email.headers {
        let valid_name = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && name.len() <= 76;
        if !valid_name {
            return Err(format!("{name:?} is not a valid header name"));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("the {name} header is written by Pharos itself"));
        }
        if value.chars().any(char::is_control) {
            return Err(format!(
                "the {name} header contains a line break or control character"
            ));
        }
        if name.eq_ignore_ascii_case("message-id") {
            message_id = Some(value.clone());
            continue;
        }
        let header = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| format!("{name:?} is not a valid header name"))?;
        builder = builder.raw_header(HeaderValue::new(header, value.clone()));
    }
    builder
        .message_id(message_id)
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| format!("the message could not be built: {e}"))
}

/// `s` with line breaks and other control characters turned into spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `timed out after 10s`.
fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", format_duration(timeout))
}

/// SMTP reply codes that answer a login (or its absence).
const AUTH_CODES: &[&str] = &["530", "534", "535", "538"];

/// Why a delivery failed, in words, naming the server as `host:port`.
fn describe(e: &lettre::transport::smtp::Error, smtp: &SmtpSettings) -> String {
    let at = smtp.server();
    if e.is_timeout() {
        return timed_out(smtp.timeout);
    }
    if let Some(code) = e.status() {
        let code = code.to_string();
        let text = e.source().map(|s| s.to_string()).unwrap_or_default();
        let reply = crate::message::truncate(
            &format!(
                "{code} {}",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            200,
        )
        .trim_end()
        .to_owned();
        if e.is_transient() {
            return format!("{at} refused the message for now: {reply}");
        }
        if AUTH_CODES.contains(&code.as_str()) {
            return match smtp.username {
                Some(_) => format!("{at} refused the login: {reply}"),
                None => format!(
                    "{at} requires a login (set `username` and `password` in [smtp]): {reply}"
                ),
            };
        }
        return format!("{at} rejected the message: {reply}");
    }
    let cause = innermost(e);
    if let Some(reason) = describe_io(io_kind(e), &cause, smtp) {
        return reason;
    }
    if e.is_response() && cause.contains("incomplete response") {
        return format!("connection closed by {at} before it answered");
    }
    if e.is_response() {
        return format!("{at} did not answer in SMTP: {cause}");
    }
    if e.is_client() && cause.contains("STARTTLS") {
        return no_starttls(smtp);
    }
    if e.is_client() && cause.contains("authentication mechanism") {
        return format!("{at} offers no login method Pharos can use (PLAIN or LOGIN)");
    }
    if e.is_tls() {
        return format!("TLS with {at} failed: {cause}");
    }
    if cause.is_empty() {
        format!("sending through {at} failed: {e}")
    } else {
        format!("sending through {at} failed: {cause}")
    }
}

/// The kind of the first I/O error among an error's causes.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// The deepest cause's message (`invalid peer certificate: UnknownIssuer`), without the
/// wrappers' noise.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = None;
    let mut source = e.source();
    while let Some(err) = source {
        let msg = err.to_string();
        if !msg.is_empty() {
            last = Some(msg);
        }
        source = err.source();
    }
    last.unwrap_or_else(|| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: SmtpSecurity::StartTls,
            username: Some("status@acme.example".into()),
            password: Some("hunter2-but-longer".into()),
            from: "Acme Status <status@acme.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn security_forms_and_ports() {
        for s in [
            SmtpSecurity::StartTls,
            SmtpSecurity::Tls,
            SmtpSecurity::None,
        ] {
            assert_eq!(SmtpSecurity::parse(s.as_str()), Some(s));
        }
        assert_eq!(SmtpSecurity::parse("ssl"), None);
        assert_eq!(SmtpSecurity::StartTls.default_port(), 587);
        assert_eq!(SmtpSecurity::Tls.default_port(), 465);
        assert_eq!(SmtpSecurity::None.default_port(), 25);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = settings();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***") && debug.contains("smtp.example.com"));
        assert_eq!(s.server(), "smtp.example.com:587");
        let v6 = SmtpSettings {
            host: "::1".into(),
            ..s
        };
        assert_eq!(v6.server(), "[::1]:587");
    }

    #[test]
    fn secrets_include_the_encoded_credentials() {
        let s = settings();
        let secrets = s.secrets();
        assert!(secrets.contains(&"hunter2-but-longer".to_owned()));
        // AUTH PLAIN's initial response for this user and password.
        let plain = base64::engine::general_purpose::STANDARD
            .encode("\0status@acme.example\0hunter2-but-longer");
        assert!(secrets.contains(&plain));
        let none = SmtpSettings {
            password: None,
            ..settings()
        };
        assert!(none.secrets().is_empty());
    }

    #[test]
    fn addresses_are_checked_with_words() {
        assert_eq!(check_address("oncall@example.com"), Ok(()));
        assert_eq!(check_mailbox("Acme Status <status@acme.example>"), Ok(()));
        assert_eq!(check_mailbox("status@acme.example"), Ok(()));
        assert!(check_address("Acme <status@acme.example>").is_err());
        let e = check_address("oncall").unwrap_err();
        assert!(e.contains("like name@example.com"), "{e}");
        let e = check_mailbox("Acme <status@acme.example").unwrap_err();
        assert!(e.contains("angle brackets"), "{e}");
        let e = check_mailbox("Acme <status>").unwrap_err();
        assert!(e.contains("an @ between"), "{e}");
        let e = check_mailbox("Acme, Inc. <status@acme.example>").unwrap_err();
        assert!(e.contains("not a sender like"), "{e}");
        let e = check_address("on call@example.com").unwrap_err();
        assert!(e.contains("before the @"), "{e}");
        let e = check_address("oncall@exa mple.com").unwrap_err();
        assert!(e.contains("domain"), "{e}");
        assert_eq!(
            mailbox_domain("Acme Status <status@acme.example>").as_deref(),
            Some("acme.example")
        );
    }

    fn email() -> Email {
        Email {
            to: "oncall@example.com".into(),
            subject: "Hello\r\nBcc: everyone@example.com".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
            headers: vec![],
        }
    }

    #[test]
    fn messages_have_both_parts_and_no_header_injection() {
        let m = build_message(&settings(), &email()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("Message-ID: <"), "{raw}");
        assert!(raw.contains("User-Agent: Pharos/"), "{raw}");
    }

    #[test]
    fn bad_headers_are_refused_with_a_reason() {
        for (name, value, why) in [
            ("Subject", "x", "written by Pharos"),
            ("content-type", "x", "written by Pharos"),
            ("X-Ok", "a\r\nBcc: x@example.com", "line break"),
            ("Bad Name", "x", "not a valid header name"),
            ("", "x", "not a valid header name"),
        ] {
            let mut e = email();
            e.headers = vec![(name.into(), value.into())];
            let err = build_message(&settings(), &e).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
        }
        let mut e = email();
        e.headers = vec![("Message-ID".into(), "<fixed@acme.example>".into())];
        let raw = String::from_utf8(build_message(&settings(), &e).unwrap().formatted()).unwrap();
        assert_eq!(raw.matches("Message-ID:").count(), 1, "{raw}");
        assert!(raw.contains("Message-ID: <fixed@acme.example>"), "{raw}");
        e.to = "not an address".into();
        let err = build_message(&settings(), &e).unwrap_err();
        assert!(
            err.starts_with("the recipient \"not an address\" is not valid"),
            "{err}"
        );
    }
}
