//! The sinks, in-process: the webhook receiver counts distinct `Idempotency-Key` values over
//! reused connections, and the SMTP sink accepts several messages on one connection and
//! counts distinct recipients.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::test]
async fn webhook_sink_counts_distinct_keys() {
    let sink = pharos_bench::webhook::start().await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/hook/1", sink.addr());
    for key in ["a", "b", "a", "c"] {
        let r = client
            .post(&url)
            .header("Idempotency-Key", key)
            .body("{\"x\":1}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client.post(&url).body("no key").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let c = sink.tally().counts();
    assert_eq!((c.distinct, c.total, c.messages, c.unkeyed), (3, 4, 5, 1));
    assert_eq!(c.repeats(), 1);
    assert_eq!(c.bytes, 4 * 7 + 6);
    assert!(c.first.unwrap() <= c.last_new.unwrap());
}

/// Sends `line` and reads one whole (possibly multi-line) reply; its last line.
async fn command(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &str,
) -> String {
    if !line.is_empty() {
        writer.write_all(line.as_bytes()).await.unwrap();
    }
    loop {
        let mut reply = String::new();
        tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut reply))
            .await
            .unwrap()
            .unwrap();
        if reply.as_bytes().get(3) != Some(&b'-') {
            return reply;
        }
    }
}

#[tokio::test]
async fn smtp_sink_accepts_many_messages_per_connection() {
    let sink = pharos_bench::smtp::start().await.unwrap();
    let (read, mut write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
    let mut read = BufReader::new(read);
    let w = &mut write;
    assert!(command(&mut read, w, "").await.starts_with("220"));
    assert!(command(&mut read, w, "EHLO me\r\n")
        .await
        .starts_with("250 "));
    assert!(command(&mut read, w, "DATA\r\n").await.starts_with("503"));
    for (i, to) in ["a@x.org", "B@x.org", "a@x.org"].iter().enumerate() {
        let from = "MAIL FROM:<s@x.org> BODY=8BITMIME\r\n";
        assert!(command(&mut read, w, from).await.starts_with("250"));
        let rcpt = format!("RCPT TO:<{to}>\r\n");
        assert!(command(&mut read, w, &rcpt).await.starts_with("250"));
        assert!(command(&mut read, w, "DATA\r\n").await.starts_with("354"));
        let body = format!("Subject: {i}\r\n\r\n..dot-stuffed\r\n.\r\n");
        assert!(command(&mut read, w, &body).await.starts_with("250"));
    }
    assert!(command(&mut read, w, "RSET\r\n").await.starts_with("250"));
    assert!(command(&mut read, w, "NOOP\r\n").await.starts_with("250"));
    assert!(command(&mut read, w, "VRFY x\r\n").await.starts_with("502"));
    assert!(command(&mut read, w, "QUIT\r\n").await.starts_with("221"));
    let c = sink.tally().counts();
    assert_eq!((c.distinct, c.total, c.messages), (2, 3, 3));
    assert_eq!(
        c.bytes,
        3 * "Subject: 0\r\n\r\n..dot-stuffed\r\n".len() as u64
    );
}
