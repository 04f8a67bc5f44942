//! A `prometheus` monitor end to end, the seed's connection leak in small: a real metrics
//! endpoint whose connection count grows linearly. The component is degraded with a forecast
//! before the count reaches its limit, down when it does, and back when the leak is fixed.
//! (Storage plays no part beyond what every check does, so this runs on SQLite only.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pharos_testkit::{eventually, spawn_app, TestApp};

use crate::support::config::Config;

const ADMIN: &str = "admin-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// Serves `/metrics` with the gauge at `connections`, as postgres_exporter would.
async fn metrics_endpoint(connections: Arc<AtomicI64>) -> String {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let n = connections.load(Ordering::SeqCst);
            async move {
                format!(
                    "# HELP db_connections_open Open connections.\n\
                     # TYPE db_connections_open gauge\n\
                     db_connections_open{{pool=\"booking\",instance=\"db-1\"}} {n}\n\
                     db_connections_open{{pool=\"search\",instance=\"db-1\"}} 3\n"
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn last_error(app: &TestApp) -> String {
    app.monitor_last_error("booking-connections", ADMIN).await
}

#[tokio::test]
async fn a_growing_connection_count_degrades_before_it_hits_the_limit() {
    let connections = Arc::new(AtomicI64::new(100));
    let url = metrics_endpoint(connections.clone()).await;
    let config = Config::acme()
        .admin("ops", ADMIN)
        .component("booking", "Booking")
        .monitor("booking-connections", "prometheus", "booking")
        .with(&format!(
            r#"url = "{url}"
series = 'db_connections_open{{pool="booking"}}'
threshold = 500
forecast = "5s""#
        ))
        .thresholds(1, 1)
        .build();
    let app = spawn_app(&config).await;
    app.wait_for_component("booking", "operational", WAIT).await;

    // The leak: 40 more connections every second.
    let leaking = connections.clone();
    let leak = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            leaking.fetch_add(40, Ordering::SeqCst);
        }
    });

    // Degraded first, with the forecast, while still under the limit.
    app.wait_for_component("booking", "degraded_performance", WAIT)
        .await;
    let reason = last_error(&app).await;
    assert!(
        reason.starts_with(
            "at the current rate db_connections_open{pool=\"booking\"} reaches 500 in "
        ),
        "{reason}"
    );
    assert!(connections.load(Ordering::SeqCst) < 500 + 40, "{reason}");

    // Then down at the limit, saying so.
    app.wait_for_component("booking", "major_outage", WAIT)
        .await;
    let reason = last_error(&app).await;
    assert!(
        reason.ends_with("at or over its threshold 500")
            && reason.starts_with("db_connections_open{pool=\"booking\"} is "),
        "{reason}"
    );

    // The leak is fixed and the pool drains: back to operational.
    leak.abort();
    connections.store(20, Ordering::SeqCst);
    app.wait_for_component("booking", "operational", WAIT).await;
    eventually(WAIT, "the failure reason to clear", || async {
        last_error(&app).await.is_empty().then_some(())
    })
    .await;
    app.stop().await;
}
