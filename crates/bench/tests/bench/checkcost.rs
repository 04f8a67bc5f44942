//! The check-cost benchmark's target and probe driver, in-process.

use std::time::Duration;

use pharos_bench::blackbox::Driver;
use pharos_bench::target::{ProbeTarget, BODY};

#[tokio::test]
async fn target_counts_http_per_monitor_and_tcp_accepts() {
    let target = ProbeTarget::start(3).await.expect("target");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let base = format!("http://{}", target.http_addr());
    for path in ["/m/0", "/m/2", "/m/2", "/m/3", "/other"] {
        let r = http.get(format!("{base}{path}")).send().await.expect("GET");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").as_ref(), BODY);
    }
    for _ in 0..4 {
        drop(
            tokio::net::TcpStream::connect(target.tcp_addr())
                .await
                .expect("connect"),
        );
    }
    // The accepts are counted by the listener's task a moment after connect returns: wait for
    // them (a second was not always enough on a busy machine), then check everything.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while target.snapshot().tcp_accepts < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = target.snapshot();
    assert_eq!(s.per_monitor, vec![1, 0, 2]);
    assert_eq!((s.http_other, s.tcp_accepts), (2, 4));
}

#[tokio::test]
async fn driver_keeps_its_schedule() {
    // The target stands in for an exporter: every answer is complete, none says
    // `probe_success 1`.
    let target = ProbeTarget::start(10).await.expect("target");
    let urls = (0..10)
        .map(|i| reqwest::Url::parse(&format!("http://{}/m/{i}", target.http_addr())).expect("url"))
        .collect();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // 10 URLs every 100 ms: 100 requests a second, the first 50 ms after the start. Counted
    // against the time it really ran (a second's sleep can last longer on a busy machine).
    let began = tokio::time::Instant::now();
    let driver = Driver::start(http, urls, Duration::from_millis(100), 8);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let ran = u64::try_from(began.elapsed().as_millis()).unwrap();
    let c = driver.stop(Duration::from_secs(5)).await;
    let due = ran.saturating_sub(50) / 10 + 1;
    // No more than were due by the stop (one sleeping until its turn may still start), and
    // none of them more than 10 behind.
    assert!(
        (due.saturating_sub(10)..=due + 2).contains(&c.started),
        "{due} due in {ran} ms: {c:?}"
    );
    assert_eq!(c.completed, c.started, "{c:?}");
    assert_eq!((c.success, c.failure, c.errors), (0, c.completed, 0));
    let s = target.snapshot();
    assert_eq!(s.http_total(), c.completed);
    let (lo, hi) = s.per_monitor_range();
    assert!(hi - lo <= 1, "spread evenly: {:?}", s.per_monitor);
}
