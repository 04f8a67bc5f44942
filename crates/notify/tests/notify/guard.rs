//! Subscribers' webhooks reach allowed addresses only, over real sockets: names are answered
//! by a real DNS server on a local port (`FakeDns`), receivers are real HTTP servers on
//! loopback, and every refusal is shown to send nothing at all.

#![allow(missing_docs, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Behavior, Receiver};
use pharos_domain::address::AddressPolicy;
use pharos_notify::guard::{WebhookGuard, WebhookRules};
use pharos_notify::{Outcome, RenderedRequest};
use pharos_testkit_core::FakeDns;

const TIMEOUT: Duration = Duration::from_secs(5);

fn guard(dns: &FakeDns, allowed: &[&str]) -> WebhookGuard {
    WebhookGuard::new(&WebhookRules {
        addresses: AddressPolicy {
            allow_private: false,
            allowed_networks: allowed.iter().map(|n| n.parse().unwrap()).collect(),
        },
        resolver: Some(dns.addr()),
    })
    .unwrap()
}

fn request(url: String) -> RenderedRequest {
    RenderedRequest {
        url,
        headers: vec![("Content-Type", "application/json".to_owned())],
        body: b"{}".to_vec(),
    }
}

/// A TCP listener that counts the connections it accepts (and answers nothing).
struct Counter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Counter {
    async fn on(addr: SocketAddr) -> Counter {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(sock);
            }
        });
        Counter {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_and_nothing_connects() {
    let dns = FakeDns::start().await;
    let receiver = Receiver::start(Behavior::status(200, "ok")).await;
    dns.set_records("hooks.public.test", "A", &["127.0.0.1"]);
    let url = format!("http://hooks.public.test:{}/hook", receiver.addr.port());

    let refusal = guard(&dns, &[])
        .post(&request(url.clone()), TIMEOUT, &[])
        .await
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "hooks.public.test resolves to 127.0.0.1, a loopback address; subscriber webhooks \
         reach public addresses only"
    );
    assert!(receiver.requests().is_empty());
    // The subscribe-time check says the same.
    let early = guard(&dns, &[])
        .check_endpoint(&url, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(early, refusal);

    // Allow-listed, the same name is reached.
    let outcome = guard(&dns, &["127.0.0.0/8"])
        .post(&request(url), TIMEOUT, &[])
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Sent);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(receiver.requests()[0].path, "/hook");
}

#[tokio::test]
async fn ip_literals_in_every_spelling_are_refused_before_sending() {
    let dns = FakeDns::start().await;
    let counter = Counter::on("127.0.0.1:0".parse().unwrap()).await;
    let p = counter.addr.port();
    let guard = guard(&dns, &[]);
    for url in [
        format!("http://127.0.0.1:{p}/"),
        format!("http://2130706433:{p}/"),
        format!("http://0x7f.0.0.1:{p}/"),
        format!("http://017700000001:{p}/"),
        format!("http://127.1:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://0.0.0.0:{p}/"),
        format!("http://[::1]:{p}/"),
    ] {
        let refusal = guard.post(&request(url.clone()), TIMEOUT, &[]).await;
        let refusal = refusal.expect_err(&url);
        assert!(
            refusal
                .to_string()
                .ends_with("; subscriber webhooks reach public addresses only"),
            "{url}: {refusal}"
        );
        assert!(guard.check_endpoint(&url, TIMEOUT).await.is_err(), "{url}");
    }
    assert_eq!(counter.accepted(), 0, "nothing connected");
    assert!(dns.queries().is_empty(), "literals are never looked up");
}

#[tokio::test]
async fn a_name_that_turns_private_after_subscribing_is_refused_at_delivery() {
    let dns = FakeDns::start().await;
    let receiver = Receiver::start(Behavior::status(200, "ok")).await;
    let guard = guard(&dns, &[]);
    let url = format!("http://rebind.public.test:{}/hook", receiver.addr.port());
    // A public address when subscribed (only looked up, never connected to)…
    dns.set_records("rebind.public.test", "A", &["93.184.215.14"]);
    guard.check_endpoint(&url, TIMEOUT).await.unwrap();
    // …and loopback, where the receiver listens, when the delivery goes out.
    dns.set_records("rebind.public.test", "A", &["127.0.0.1"]);
    let asked_before = dns.queries().len();
    let refusal = guard.post(&request(url), TIMEOUT, &[]).await.unwrap_err();
    assert!(
        refusal
            .to_string()
            .starts_with("rebind.public.test resolves to 127.0.0.1, a loopback address"),
        "{refusal}"
    );
    assert!(dns.queries().len() > asked_before, "looked up afresh");
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn only_the_allowed_addresses_of_a_name_are_connected_to() {
    let dns = FakeDns::start().await;
    let receiver = Receiver::start(Behavior::status(200, "ok")).await;
    let port = receiver.addr.port();
    // Another loopback address on the same port, which the allow-list leaves out.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let excluded = Counter::on(SocketAddr::new(other, port)).await;
    dns.set_records("mixed.public.test", "A", &["127.0.0.2", "127.0.0.1"]);
    let guard = guard(&dns, &["127.0.0.1/32"]);
    let url = format!("http://mixed.public.test:{port}/hook");
    for _ in 0..3 {
        let outcome = guard
            .post(&request(url.clone()), TIMEOUT, &[])
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Sent);
    }
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(excluded.accepted(), 0, "127.0.0.2 is never tried");
    guard.check_endpoint(&url, TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn names_that_do_not_resolve_are_accepted_when_subscribing_and_fail_when_sending() {
    let dns = FakeDns::start().await;
    let guard = guard(&dns, &[]);
    let url = "http://nowhere.public.test/hook";
    guard.check_endpoint(url, TIMEOUT).await.unwrap();
    let outcome = guard
        .post(&request(url.into()), TIMEOUT, &[])
        .await
        .unwrap();
    let Outcome::Failed { reason } = outcome else {
        panic!("sent to a name that does not exist");
    };
    assert!(
        reason.starts_with("could not resolve nowhere.public.test"),
        "{reason}"
    );
    // A lookup slower than the subscribe-time limit is accepted too.
    dns.set_silent(true);
    guard
        .check_endpoint(url, Duration::from_millis(200))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_private_name_is_refused_when_subscribing() {
    let dns = FakeDns::start().await;
    dns.set_records("intranet.public.test", "A", &["10.0.0.5"]);
    dns.set_records("metadata.public.test", "AAAA", &["::ffff:169.254.169.254"]);
    let guard = guard(&dns, &[]);
    let refusal = guard
        .check_endpoint("https://intranet.public.test/hook", TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "intranet.public.test resolves to 10.0.0.5, a private network address; subscriber \
         webhooks reach public addresses only"
    );
    let refusal = guard
        .check_endpoint("https://metadata.public.test/hook", TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        refusal.to_string().contains(
            "resolves to ::ffff:169.254.169.254, a link-local address (169.254.169.254 inside \
             an IPv4-mapped IPv6 address)"
        ),
        "{refusal}"
    );
}
