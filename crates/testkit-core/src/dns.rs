//! [`FakeDns`]: a real DNS server on 127.0.0.1 for tests, on one port over UDP and TCP. It
//! answers from a table the test changes while it runs ([`FakeDns::set_records`]), and can
//! force an rcode, stay silent, or answer over UDP truncated so that the client must ask
//! again over TCP. It records every query it receives.
//!
//! Names in the table have no origin to be relative to: write them whole, with or without
//! the final dot. A name with no records of any type is answered NXDOMAIN, a known name with
//! none of the asked type NOERROR with no records, as an authoritative server would.
//!
//! It lives in `pharos-testkit-core` rather than `pharos-testkit` so that pharos-probe's and
//! pharos-notify's own tests can use it: the testkit depends on those crates.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Largest answer sent over UDP before it is truncated, as for a client without EDNS.
const UDP_LIMIT: usize = 512;

/// Which way a query reached the [`FakeDns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTransport {
    /// One datagram.
    Udp,
    /// A TCP connection, the message behind its two-byte length.
    Tcp,
}

/// One query the [`FakeDns`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// How it came.
    pub transport: DnsTransport,
    /// The message id.
    pub id: u16,
    /// The name asked for, as sent (with its final dot).
    pub name: String,
    /// The record type asked for (`A`, `MX`).
    pub record_type: String,
    /// Whether the RD (recursion desired) bit was set.
    pub recursion_desired: bool,
}

#[derive(Default)]
struct State {
    /// Records by (lower-case name without the final dot, type).
    records: HashMap<(String, RecordType), Vec<RData>>,
    rcode: Option<ResponseCode>,
    silent: bool,
    truncate_udp: bool,
    queries: Vec<DnsQuery>,
}

/// A running DNS server; stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeDns {
    /// Starts an empty server (every name NXDOMAIN) on a free port of 127.0.0.1, UDP and TCP.
    pub async fn start() -> FakeDns {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let udp_task = tokio::spawn(serve_udp(udp, state.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, state.clone()));
        FakeDns {
            addr,
            state,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// Where it listens (the same port for UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the records of `name` of `record_type` (`"A"`, `"MX"`, …). Each record is its
    /// data as in a zone file (`"10.1.2.3"`, `"10 mail.example.com."`, `"0 5 5060 sip.example.com."`),
    /// except that a TXT record is its text, unquoted. No records removes the set.
    pub fn set_records(&self, name: &str, record_type: &str, records: &[&str]) {
        let record_type: RecordType = record_type.parse().unwrap();
        let data: Vec<RData> = records
            .iter()
            .map(|text| match record_type {
                RecordType::TXT => RData::TXT(TXT::new(vec![(*text).to_owned()])),
                _ => RData::try_from_str(record_type, text)
                    .unwrap_or_else(|e| panic!("bad {record_type} record {text:?}: {e}")),
            })
            .collect();
        let key = (normalize(name), record_type);
        let mut state = self.state.lock().unwrap();
        if data.is_empty() {
            state.records.remove(&key);
        } else {
            state.records.insert(key, data);
        }
    }

    /// Answers every query with `rcode` (`"SERVFAIL"`, `"REFUSED"`, …) and no records, or
    /// from the table again with `None`.
    pub fn set_rcode(&self, rcode: Option<&str>) {
        let rcode = rcode.map(|name| match name {
            "NOERROR" => ResponseCode::NoError,
            "FORMERR" => ResponseCode::FormErr,
            "SERVFAIL" => ResponseCode::ServFail,
            "NXDOMAIN" => ResponseCode::NXDomain,
            "NOTIMP" => ResponseCode::NotImp,
            "REFUSED" => ResponseCode::Refused,
            other => panic!("FakeDns knows no rcode {other:?}"),
        });
        self.state.lock().unwrap().rcode = rcode;
    }

    /// Drops every query without a word (over TCP, holds the connection open), or answers
    /// again.
    pub fn set_silent(&self, silent: bool) {
        self.state.lock().unwrap().silent = silent;
    }

    /// Answers every UDP query with the TC bit set and no records (TCP still answers in
    /// full). Answers over 512 bytes are truncated over UDP regardless.
    pub fn set_truncate_udp(&self, truncate: bool) {
        self.state.lock().unwrap().truncate_udp = truncate;
    }

    /// The queries received so far, oldest first.
    pub fn queries(&self) -> Vec<DnsQuery> {
        self.state.lock().unwrap().queries.clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A UDP socket and a TCP listener on the same free port (retrying when the port that UDP
/// got is taken for TCP).
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no port of 127.0.0.1 was free for both UDP and TCP");
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve_udp(socket: UdpSocket, state: Arc<Mutex<State>>) {
    let mut buf = vec![0; 65_535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let reply = answer(&state, &buf[..n], DnsTransport::Udp);
        if let Some(reply) = reply {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(serve_connection(stream, state.clone()));
    }
}

/// Answers length-prefixed queries on one connection until the client hangs up.
async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        if let Some(reply) = answer(&state, &buf, DnsTransport::Tcp) {
            let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }
}

/// The reply to one query, or `None` to say nothing (silent, or not a DNS query at all).
fn answer(state: &Mutex<State>, request: &[u8], transport: DnsTransport) -> Option<Vec<u8>> {
    let query = Message::from_vec(request).ok()?;
    let mut state = state.lock().unwrap();
    let question = query.queries.first()?.clone();
    state.queries.push(DnsQuery {
        transport,
        id: query.metadata.id,
        name: question.name().to_ascii(),
        record_type: question.query_type().to_string(),
        recursion_desired: query.metadata.recursion_desired,
    });
    if state.silent {
        return None;
    }
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    let name = normalize(&question.name().to_ascii());
    if let Some(rcode) = state.rcode {
        reply.metadata.response_code = rcode;
    } else if let Some(records) = state.records.get(&(name.clone(), question.query_type())) {
        for data in records {
            reply.add_answer(Record::from_rdata(
                question.name().clone(),
                300,
                data.clone(),
            ));
        }
    } else if !state.records.keys().any(|(known, _)| *known == name) {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    let bytes = reply.to_vec().unwrap();
    if transport == DnsTransport::Udp && (state.truncate_udp || bytes.len() > UDP_LIMIT) {
        return Some(reply.truncate().to_vec().unwrap());
    }
    Some(bytes)
}
