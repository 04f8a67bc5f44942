//! The `tcp` kind: connect, note how long it took and to where, hang up.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use pharos_probe::Prober;
use tokio::net::TcpListener;

use crate::{targets, tcp_monitor};

const FIVE_S: Duration = Duration::from_secs(5);

#[tokio::test]
async fn an_open_port_is_connected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let prober = Prober::new().unwrap();

    let obs = prober.check(&tcp_monitor("127.0.0.1", port, FIVE_S)).await;

    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(obs.status, None);
    assert!(obs.response_time < FIVE_S);
}

#[tokio::test]
async fn a_host_name_is_resolved() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let prober = Prober::new().unwrap();

    // "localhost" may also resolve to ::1, where nothing listens: the next address is tried.
    let obs = prober.check(&tcp_monitor("localhost", port, FIVE_S)).await;

    assert_eq!(obs.error, None);
    assert!(obs.connected);
    assert_eq!(obs.ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let addr = targets::refused().await;
    let prober = Prober::new().unwrap();

    let obs = prober
        .check(&tcp_monitor("127.0.0.1", addr.port(), FIVE_S))
        .await;

    assert_eq!(obs.error.as_deref(), Some("connection refused"));
    assert!(!obs.connected);
    assert_eq!(obs.ip, None);
}
