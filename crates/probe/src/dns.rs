//! The `dns` check: one query for (`query_name`, `query_type`) to the configured server over
//! UDP with recursion desired, asked again over TCP when the answer comes back truncated.
//! The answer's rcode becomes `[DNS_RCODE]` and its records of the asked type become
//! `[BODY]`, one per line, written as Gatus writes them, so that Gatus conditions work
//! unchanged. The caller bounds the whole check with the monitor's timeout, so a server that
//! never answers reads "timed out after …".

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Header, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use pharos_domain::{DnsSpec, Observation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::reason;

/// The largest DNS message: its length is a 16-bit field over TCP, and a UDP datagram
/// cannot be longer. A smaller receive buffer would silently cut an oversized answer.
const MAX_MESSAGE: usize = 65_535;

/// Asks the server and reports what it answered.
pub(crate) async fn check(spec: &DnsSpec, started: Instant) -> Observation {
    let request = match Request::new(spec) {
        Ok(request) => request,
        Err(reason) => return Observation::failed(reason, started.elapsed()),
    };
    let server = spec.server;
    let answer = match udp_exchange(server, &request).await {
        Ok(Udp::Answer(answer)) => Ok(answer),
        Ok(Udp::Truncated(rcode)) => {
            tracing::debug!(%server, "DNS answer truncated over UDP; asking again over TCP");
            tcp_exchange(server, &request).await.map_err(|failure| {
                // The truncated answer did arrive: keep its rcode, and say why it was not
                // enough.
                let mut obs = answered(server, started);
                obs.dns_rcode = Some(rcode_name(rcode));
                obs.error = Some(format!(
                    "answer truncated over UDP, and {}",
                    failure.reason()
                ));
                obs
            })
        }
        Err(failure) => Err(failure.observation(server, started)),
    };
    match answer {
        Ok(answer) => observe(&answer, &request, server, started),
        Err(obs) => obs,
    }
}

/// The query we send, and what an answer to it must repeat.
struct Request {
    /// The random id the answer must carry.
    id: u16,
    /// The question the answer must repeat.
    query: Query,
    /// The query as sent on the wire.
    bytes: Vec<u8>,
}

impl Request {
    fn new(spec: &DnsSpec) -> Result<Request, String> {
        // The configuration only accepts the types in `DNS_QUERY_TYPES`, which all parse.
        let record_type: RecordType = spec
            .query_type
            .parse()
            .map_err(|_| format!("unsupported DNS query type {}", spec.query_type))?;
        let name = query_name(&spec.query_name, record_type)?;
        let query = Query::query(name, record_type);
        // `Message::query` draws a random id, so a stray or forged datagram is unlikely to
        // pass for the answer.
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(query.clone());
        let bytes = message
            .to_vec()
            .map_err(|e| format!("could not encode the DNS query: {e}"))?;
        Ok(Request {
            id: message.metadata.id,
            query,
            bytes,
        })
    }

    /// Checks that `answer` answers our question. A server may leave the question out of an
    /// error answer (FORMERR, for one), so an empty question section is accepted.
    fn verify(&self, answer: &Message) -> Result<(), Failure> {
        match answer.queries.as_slice() {
            [] => Ok(()),
            [q] if q.name() == self.query.name()
                && q.query_type() == self.query.query_type()
                && q.query_class() == self.query.query_class() =>
            {
                Ok(())
            }
            other => {
                let asked: Vec<String> = other.iter().map(describe).collect();
                Err(Failure::Malformed(format!(
                    "it answers {} instead of {}",
                    asked.join(", "),
                    describe(&self.query)
                )))
            }
        }
    }
}

/// The name to look up. Like Gatus, a PTR query for a bare address asks for its reverse
/// name (`1.2.3.4` → `4.3.2.1.in-addr.arpa.`).
fn query_name(text: &str, record_type: RecordType) -> Result<Name, String> {
    let mut name = match text.parse::<IpAddr>() {
        Ok(ip) if record_type == RecordType::PTR => Name::from(ip),
        _ => Name::from_ascii(text).map_err(|e| format!("invalid DNS query name {text:?}: {e}"))?,
    };
    // The configured name is always absolute: no search domains are appended.
    name.set_fqdn(true);
    Ok(name)
}

/// "example.com. A", as dig shows a question.
fn describe(query: &Query) -> String {
    format!("{} {}", query.name().to_ascii(), query.query_type())
}

/// Why an exchange produced no usable answer.
#[derive(Debug)]
enum Failure {
    /// Nothing came back; the reason says why ("no answer from … (connection refused)").
    NoAnswer(String),
    /// Something came back, but not a usable answer to our query.
    Malformed(String),
}

impl Failure {
    /// "no answer from 10.0.0.53:53 (connection refused)"; `over` names the transport when
    /// it is not the usual UDP.
    fn no_answer(server: SocketAddr, over: &str, err: &io::Error) -> Failure {
        Failure::NoAnswer(format!(
            "no answer from {server}{over} ({})",
            reason::io_error(err)
        ))
    }

    fn reason(&self) -> String {
        match self {
            Failure::NoAnswer(reason) => reason.clone(),
            Failure::Malformed(cause) => format!("DNS answer malformed: {cause}"),
        }
    }

    fn observation(&self, server: SocketAddr, started: Instant) -> Observation {
        match self {
            Failure::NoAnswer(reason) => Observation::failed(reason.clone(), started.elapsed()),
            // Something did answer: say so, and where from.
            Failure::Malformed(_) => Observation {
                error: Some(self.reason()),
                ..answered(server, started)
            },
        }
    }
}

/// What came back over UDP.
enum Udp {
    /// A whole answer to our query.
    Answer(Message),
    /// An answer with the TC bit set, and its rcode: ask again over TCP.
    Truncated(ResponseCode),
}

/// Sends the query in one datagram and waits for the datagram that answers it.
async fn udp_exchange(server: SocketAddr, request: &Request) -> Result<Udp, Failure> {
    let no_answer = |err: io::Error| Failure::no_answer(server, "", &err);
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(no_answer)?;
    // Connected, so the kernel drops datagrams from anyone else, and an ICMP port
    // unreachable from the server surfaces as `ConnectionRefused` on the next receive.
    socket.connect(server).await.map_err(no_answer)?;
    socket.send(&request.bytes).await.map_err(no_answer)?;
    let mut buf = vec![0; MAX_MESSAGE];
    loop {
        let n = socket.recv(&mut buf).await.map_err(no_answer)?;
        // `recv` never reports more bytes than the buffer holds.
        let datagram = &buf[..n];
        let header = Header::read(&mut BinDecoder::new(datagram))
            .map_err(|e| Failure::Malformed(e.to_string()))?;
        let meta = header.metadata;
        if meta.id != request.id || meta.message_type != MessageType::Response {
            // A late answer to someone else's query, or an echo: not ours, keep waiting.
            tracing::trace!(%server, id = meta.id, "ignoring a DNS message that does not answer our query");
            continue;
        }
        // Checked on the header alone: a server may cut a truncated answer anywhere, so the
        // rest need not parse.
        if meta.truncation {
            return Ok(Udp::Truncated(meta.response_code));
        }
        let answer = Message::from_vec(datagram).map_err(|e| Failure::Malformed(e.to_string()))?;
        request.verify(&answer)?;
        return Ok(Udp::Answer(answer));
    }
}

/// Sends the query over a fresh TCP connection (RFC 1035 §4.2.2: each message behind its
/// two-byte length) and reads the one answer.
async fn tcp_exchange(server: SocketAddr, request: &Request) -> Result<Message, Failure> {
    let no_answer = |err: io::Error| Failure::no_answer(server, " over TCP", &err);
    let mut stream = TcpStream::connect(server).await.map_err(no_answer)?;
    let len = u16::try_from(request.bytes.len())
        .map_err(|_| Failure::NoAnswer("the DNS query is too long for TCP".to_owned()))?;
    let mut framed = Vec::with_capacity(request.bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&request.bytes);
    stream.write_all(&framed).await.map_err(no_answer)?;
    let len = stream.read_u16().await.map_err(no_answer)?;
    let mut buf = vec![0; usize::from(len)];
    stream.read_exact(&mut buf).await.map_err(no_answer)?;
    let answer = Message::from_vec(&buf).map_err(|e| Failure::Malformed(e.to_string()))?;
    // The connection is ours alone, so an answer with another id is a broken server.
    if answer.metadata.id != request.id {
        return Err(Failure::Malformed(format!(
            "its id {} is not the query's {}",
            answer.metadata.id, request.id
        )));
    }
    request.verify(&answer)?;
    Ok(answer)
}

/// An observation of an answer from `server`, so far without its content.
fn answered(server: SocketAddr, started: Instant) -> Observation {
    Observation {
        connected: true,
        response_time: started.elapsed(),
        ip: Some(server.ip()),
        ..Observation::default()
    }
}

/// What the conditions see of an answer: its rcode, and its records of the asked type as
/// `[BODY]`. Records of other types (the CNAME chain ahead of the A records, say) are left
/// out, so that `[BODY] == 1.2.3.4` holds for a name behind a CNAME, as in Gatus. The lines
/// are sorted because servers rotate the order of a record set, and a set has none.
fn observe(
    answer: &Message,
    request: &Request,
    server: SocketAddr,
    started: Instant,
) -> Observation {
    let mut lines: Vec<String> = answer
        .answers
        .iter()
        .filter(|record| record.record_type() == request.query.query_type())
        .map(|record| record_text(&record.data))
        .collect();
    lines.sort();
    Observation {
        dns_rcode: Some(rcode_name(answer.metadata.response_code)),
        body: Some(lines.join("\n")),
        ..answered(server, started)
    }
}

/// One record as Gatus shows it in `[BODY]`: an address for A and AAAA; the target name,
/// with its final dot, for CNAME, NS and PTR; only the exchange for MX; `target:port` for
/// SRV. Gatus has no text for the other types; we use the text of the record's data:
/// a TXT record's strings joined, SOA and CAA as in a zone file.
fn record_text(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(aaaa) => aaaa.0.to_string(),
        RData::CNAME(name) => name.0.to_ascii(),
        RData::NS(name) => name.0.to_ascii(),
        RData::PTR(name) => name.0.to_ascii(),
        RData::MX(mx) => mx.exchange.to_ascii(),
        RData::SRV(srv) => format!("{}:{}", srv.target.to_ascii(), srv.port),
        // Long TXT values (SPF, DKIM) are split into 255-byte strings that mean one value.
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part))
            .collect(),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            soa.mname.to_ascii(),
            soa.rname.to_ascii(),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        other => other.to_string(),
    }
}

/// The rcode's name as Gatus (miekg/dns) writes it; an unassigned code as `RCODE12`.
fn rcode_name(code: ResponseCode) -> String {
    let name = match u16::from(code) {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        // 16 is BADVERS in EDNS and BADSIG in TSIG; miekg/dns names it BADSIG.
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        other => return format!("RCODE{other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::Record;
    use pharos_domain::{ComponentStatus, Condition, MonitorId, MonitorKind, MonitorSpec};

    use super::*;
    use crate::Prober;
    use pharos_testkit_core::{DnsTransport, FakeDns};

    fn spec(server: SocketAddr, name: &str, query_type: &str) -> DnsSpec {
        DnsSpec {
            server,
            query_name: name.to_owned(),
            query_type: query_type.to_owned(),
        }
    }

    async fn ask(server: SocketAddr, name: &str, query_type: &str) -> Observation {
        check(&spec(server, name, query_type), Instant::now()).await
    }

    /// The body of a successful NOERROR answer.
    async fn body(server: SocketAddr, name: &str, query_type: &str) -> String {
        let obs = ask(server, name, query_type).await;
        assert_eq!(obs.error, None);
        assert_eq!(obs.dns_rcode.as_deref(), Some("NOERROR"));
        obs.body.unwrap()
    }

    fn holds(condition: &str, obs: &Observation) -> bool {
        Condition::parse(condition).unwrap().evaluate(obs).success
    }

    #[tokio::test]
    async fn an_a_record_is_the_body() {
        let dns = FakeDns::start().await;
        dns.set_records("example.com", "A", &["10.1.2.3"]);

        let obs = ask(dns.addr(), "example.com", "A").await;

        assert_eq!(obs.error, None);
        assert!(obs.connected);
        assert_eq!(obs.dns_rcode.as_deref(), Some("NOERROR"));
        assert_eq!(obs.body.as_deref(), Some("10.1.2.3"));
        assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(obs.response_time < Duration::from_secs(5));
        // One query over UDP, for the absolute name, asking for recursion.
        let queries = dns.queries();
        assert_eq!(queries.len(), 1, "{queries:?}");
        assert_eq!(queries[0].transport, DnsTransport::Udp);
        assert_eq!(queries[0].name, "example.com.");
        assert_eq!(queries[0].record_type, "A");
        assert!(queries[0].recursion_desired);
        // The conditions Gatus users write hold as they do there.
        assert!(holds("[DNS_RCODE] == NOERROR", &obs));
        assert!(holds("[BODY] == 10.1.2.3", &obs));
        assert!(holds("[BODY] == pat(10.1.*)", &obs));
        assert!(holds("[CONNECTED] == true", &obs));
    }

    #[tokio::test]
    async fn several_records_are_one_per_line_in_order() {
        let dns = FakeDns::start().await;
        dns.set_records(
            "pool.example.com",
            "A",
            &["10.0.0.9", "10.0.0.1", "10.0.0.5"],
        );

        let obs = ask(dns.addr(), "pool.example.com.", "A").await;

        assert_eq!(obs.body.as_deref(), Some("10.0.0.1\n10.0.0.5\n10.0.0.9"));
        assert!(holds("[BODY] == pat(*10.0.0.5*)", &obs));
        assert!(!holds("[BODY] == pat(*10.0.0.7*)", &obs));
    }

    #[tokio::test]
    async fn an_unknown_name_is_nxdomain_with_an_empty_body() {
        let dns = FakeDns::start().await;
        dns.set_records("example.com", "A", &["10.1.2.3"]);

        let obs = ask(dns.addr(), "missing.example.com", "A").await;

        // An answer, so not an error of the check: the default condition judges it.
        assert_eq!(obs.error, None);
        assert!(obs.connected);
        assert_eq!(obs.dns_rcode.as_deref(), Some("NXDOMAIN"));
        assert_eq!(obs.body.as_deref(), Some(""));
        let failed = Condition::parse("[DNS_RCODE] == NOERROR")
            .unwrap()
            .evaluate(&obs);
        assert!(!failed.success);
        assert_eq!(failed.detail, "[DNS_RCODE] (NXDOMAIN) == NOERROR");
    }

    #[tokio::test]
    async fn other_rcodes_are_named_as_gatus_names_them() {
        let dns = FakeDns::start().await;
        dns.set_records("example.com", "A", &["10.1.2.3"]);
        for rcode in ["SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"] {
            dns.set_rcode(Some(rcode));
            let obs = ask(dns.addr(), "example.com", "A").await;
            assert_eq!(obs.error, None);
            assert_eq!(obs.dns_rcode.as_deref(), Some(rcode));
        }
        assert_eq!(rcode_name(ResponseCode::YXDomain), "YXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::Unknown(12)), "RCODE12");
    }

    #[tokio::test]
    async fn record_types_read_as_in_gatus() {
        let dns = FakeDns::start().await;
        let server = dns.addr();
        dns.set_records("example.com", "AAAA", &["2001:db8::1"]);
        dns.set_records(
            "example.com",
            "MX",
            &["20 mx2.example.com.", "10 mx1.example.com."],
        );
        dns.set_records("example.com", "NS", &["ns1.example.net."]);
        dns.set_records("www.example.com", "CNAME", &["example.com."]);
        dns.set_records(
            "_sip._udp.example.com",
            "SRV",
            &["0 5 5060 sip.example.com."],
        );
        dns.set_records("3.2.1.10.in-addr.arpa", "PTR", &["host.example.com."]);

        assert_eq!(body(server, "example.com", "AAAA").await, "2001:db8::1");
        // Gatus shows only the exchange of an MX record, with its final dot.
        assert_eq!(
            body(server, "example.com", "MX").await,
            "mx1.example.com.\nmx2.example.com."
        );
        assert_eq!(body(server, "example.com", "NS").await, "ns1.example.net.");
        assert_eq!(
            body(server, "www.example.com", "CNAME").await,
            "example.com."
        );
        assert_eq!(
            body(server, "_sip._udp.example.com", "SRV").await,
            "sip.example.com.:5060"
        );
        // A PTR query for a bare address asks for its reverse name, as in Gatus.
        assert_eq!(body(server, "10.1.2.3", "PTR").await, "host.example.com.");
        assert_eq!(dns.queries().last().unwrap().name, "3.2.1.10.in-addr.arpa.");
        // A known name without records of the asked type: NOERROR, nothing in the body.
        assert_eq!(body(server, "example.com", "TXT").await, "");
    }

    #[tokio::test]
    async fn types_gatus_cannot_show_read_as_their_data() {
        let dns = FakeDns::start().await;
        let server = dns.addr();
        dns.set_records(
            "example.com",
            "TXT",
            &["v=spf1 -all", "google-site-verification=abc"],
        );
        dns.set_records(
            "example.com",
            "SOA",
            &["ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"],
        );
        dns.set_records("example.com", "CAA", &["0 issue \"letsencrypt.org\""]);

        let txt = ask(server, "example.com", "TXT").await;
        assert_eq!(
            txt.body.as_deref(),
            Some("google-site-verification=abc\nv=spf1 -all")
        );
        assert!(holds("[BODY] == pat(*v=spf1 -all*)", &txt));
        assert_eq!(
            body(server, "example.com", "SOA").await,
            "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"
        );
        assert_eq!(
            body(server, "example.com", "CAA").await,
            "0 issue \"letsencrypt.org\""
        );
    }

    #[test]
    fn a_long_txt_value_split_into_strings_reads_whole() {
        let txt = hickory_proto::rr::rdata::TXT::new(vec![
            "v=DKIM1; k=rsa; ".to_owned(),
            "p=MIIB".to_owned(),
        ]);
        assert_eq!(record_text(&RData::TXT(txt)), "v=DKIM1; k=rsa; p=MIIB");
    }

    #[test]
    fn records_of_other_types_are_left_out_of_the_body() {
        // A resolver's answer for a name behind a CNAME: the chain, then the addresses.
        let request = Request::new(&spec(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            "www.example.com",
            "A",
        ))
        .unwrap();
        let mut answer = Message::response(request.id, OpCode::Query);
        answer.add_query(request.query.clone());
        let www = Name::from_ascii("www.example.com.").unwrap();
        let cdn = Name::from_ascii("cdn.example.net.").unwrap();
        answer.add_answer(Record::from_rdata(
            www,
            60,
            RData::CNAME(CNAME(cdn.clone())),
        ));
        answer.add_answer(Record::from_rdata(cdn, 60, RData::A(A::new(10, 9, 8, 7))));

        let obs = observe(
            &answer,
            &request,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            Instant::now(),
        );

        assert_eq!(obs.body.as_deref(), Some("10.9.8.7"));
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        let dns = FakeDns::start().await;
        dns.set_records("example.com", "A", &["10.1.2.3"]);
        dns.set_truncate_udp(true);

        let obs = ask(dns.addr(), "example.com", "A").await;

        assert_eq!(obs.error, None);
        assert_eq!(obs.body.as_deref(), Some("10.1.2.3"));
        let transports: Vec<DnsTransport> = dns.queries().iter().map(|q| q.transport).collect();
        assert_eq!(transports, [DnsTransport::Udp, DnsTransport::Tcp]);
        // The same query both times.
        let queries = dns.queries();
        assert_eq!(queries[0].id, queries[1].id);
    }

    #[tokio::test]
    async fn an_answer_too_large_for_udp_comes_over_tcp() {
        let dns = FakeDns::start().await;
        let addresses: Vec<String> = (1..=60).map(|i| format!("10.0.1.{i}")).collect();
        let records: Vec<&str> = addresses.iter().map(String::as_str).collect();
        dns.set_records("big.example.com", "A", &records);

        let obs = ask(dns.addr(), "big.example.com", "A").await;

        assert_eq!(obs.error, None);
        assert_eq!(obs.body.unwrap().lines().count(), 60);
        assert_eq!(dns.queries().last().unwrap().transport, DnsTransport::Tcp);
    }

    #[tokio::test]
    async fn a_silent_server_times_out_within_the_monitor_timeout() {
        let dns = FakeDns::start().await;
        dns.set_records("example.com", "A", &["10.1.2.3"]);
        dns.set_silent(true);
        let timeout = Duration::from_millis(300);
        let monitor = MonitorSpec {
            id: MonitorId::new("dns-test").unwrap(),
            kind: MonitorKind::Dns(spec(dns.addr(), "example.com", "A")),
            interval: Duration::from_secs(30),
            timeout,
            failure_threshold: 1,
            success_threshold: 1,
            conditions: Vec::new(),
            degraded_conditions: Vec::new(),
            components: Vec::new(),
            on_failure: ComponentStatus::MajorOutage,
            depends_on: Vec::new(),
            quiet: Default::default(),
            placement: pharos_domain::location::Placement::default(),
        };
        let prober = Prober::new().unwrap();

        let started = std::time::Instant::now();
        let obs = prober.check(&monitor).await;

        assert_eq!(obs.error.as_deref(), Some("timed out after 300ms"));
        assert!(!obs.connected);
        let took = started.elapsed();
        assert!(took >= timeout, "{took:?}");
        // Generous slack for a loaded 2-core machine.
        assert!(took < timeout + Duration::from_millis(750), "{took:?}");
        assert_eq!(dns.queries().len(), 1);
    }

    #[tokio::test]
    async fn nothing_listening_is_refused() {
        // Bound and released: nothing listens there now, and the kernel answers with an
        // ICMP port unreachable.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();

        let obs = ask(addr, "example.com", "A").await;

        assert_eq!(
            obs.error.as_deref(),
            Some(format!("no answer from {addr} (connection refused)").as_str())
        );
        assert!(!obs.connected);
        assert_eq!(obs.dns_rcode, None);
    }

    /// A UDP server on 127.0.0.1 that answers each query with the datagrams `reply` makes.
    async fn raw_server(reply: fn(&Message) -> Vec<Vec<u8>>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0; MAX_MESSAGE];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let query = Message::from_vec(&buf[..n]).unwrap();
                for datagram in reply(&query) {
                    socket.send_to(&datagram, peer).await.unwrap();
                }
            }
        });
        addr
    }

    /// A NOERROR answer to `query` with one A record.
    fn good_answer(query: &Message) -> Message {
        let mut answer = Message::response(query.metadata.id, OpCode::Query);
        let question = query.queries[0].clone();
        answer.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            RData::A(A::new(10, 1, 2, 3)),
        ));
        answer.add_query(question);
        answer
    }

    #[tokio::test]
    async fn datagrams_with_another_id_are_ignored() {
        let addr = raw_server(|query| {
            let mut stray = good_answer(query);
            stray.metadata.id = query.metadata.id.wrapping_add(1);
            stray.answers.clear();
            vec![
                stray.to_vec().unwrap(),
                good_answer(query).to_vec().unwrap(),
            ]
        })
        .await;

        let obs = ask(addr, "example.com", "A").await;

        assert_eq!(obs.error, None);
        assert_eq!(obs.body.as_deref(), Some("10.1.2.3"));
    }

    #[tokio::test]
    async fn an_answer_that_does_not_parse_is_malformed() {
        let addr = raw_server(|query| {
            // Our id and a header that promises one answer record, then nothing.
            let mut bytes = query.metadata.id.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0]);
            vec![bytes]
        })
        .await;

        let obs = ask(addr, "example.com", "A").await;

        assert_eq!(
            obs.error.as_deref(),
            Some("DNS answer malformed: unexpected end of input reached")
        );
        assert!(obs.connected);
        assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[tokio::test]
    async fn an_answer_to_another_question_is_malformed() {
        let addr = raw_server(|query| {
            let mut answer = good_answer(query);
            answer.queries = vec![Query::query(
                Name::from_ascii("other.example.").unwrap(),
                RecordType::A,
            )];
            vec![answer.to_vec().unwrap()]
        })
        .await;

        let obs = ask(addr, "example.com", "A").await;

        assert_eq!(
            obs.error.as_deref(),
            Some("DNS answer malformed: it answers other.example. A instead of example.com. A")
        );
    }

    #[tokio::test]
    async fn a_truncated_answer_without_tcp_says_both() {
        let addr = raw_server(|query| {
            let mut answer = good_answer(query);
            answer.answers.clear();
            answer.metadata.truncation = true;
            vec![answer.to_vec().unwrap()]
        })
        .await;

        let obs = ask(addr, "example.com", "A").await;

        assert_eq!(
            obs.error.as_deref(),
            Some(
                format!(
                    "answer truncated over UDP, and no answer from {addr} over TCP (connection refused)"
                )
                .as_str()
            )
        );
        assert!(obs.connected);
        assert_eq!(obs.dns_rcode.as_deref(), Some("NOERROR"));
    }
}
