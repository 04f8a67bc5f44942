//! One node of several on one PostgreSQL database (`[cluster]`, SPEC §8).
//!
//! Every renewal period (`failover`/5, at most 2 s) the node refreshes its row in
//! `cluster_nodes` and tries to take or renew the leader's lease
//! ([`Store::acquire_lease`]). Then:
//!
//! - **Leader**: on winning the lease it starts the engine (`pharos_engine::start`, which
//!   restores everything from storage) over a store carrying the lease's [`Fence`], so every
//!   batch write and outbox claim is refused once another node leads, and no notification
//!   leaves once the lease has gone unrenewed for `failover`. The engine's router answers
//!   the admin API, ingestion, pings and subscriptions ([`ClusterRouting::lead`]); every view
//!   the engine publishes is served here and stored in `cluster_view` for the followers.
//! - **Follower**: serves the view the leader stored (read every [`VIEW_POLL_EVERY`]) through
//!   the same snapshot path, and forwards what needs the engine to the leader's address
//!   ([`ClusterRouting::follow`]).
//! - **Demotion**: a leader whose renewal finds the lease taken, or that cannot reach the
//!   database for `failover`, stops its engine and follows. A leader paused past its lease
//!   (SIGSTOP) wakes to writes and sends its fence refuses, then demotes at its next renewal.
//! - **Shutdown**: the engine drains, and the lease is released so another node takes over
//!   at once rather than after `failover`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use pharos_engine::{EngineConfig, EngineHandle, Metrics, StatusView};
use pharos_store::{Fence, Store};
use pharos_web::admin::cluster::{ClusterInfo, ClusterNode, ClusterStatus};
use pharos_web::forward::ClusterRouting;
use pharos_web::WebState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::SHUTDOWN_GRACE;

/// How often a follower looks for a newer view from the leader.
pub const VIEW_POLL_EVERY: Duration = Duration::from_millis(400);
/// Nodes silent this long are removed from `cluster_nodes` by the leader.
pub const FORGET_NODES_AFTER: Duration = Duration::from_secs(24 * 3600);
/// A node not seen for this many lease lengths is shown as `offline`.
pub const OFFLINE_AFTER_LEASES: u32 = 3;

/// The role names stored in `cluster_nodes` and shown by `GET /api/v1/cluster`.
const LEADER: &str = "leader";
const FOLLOWER: &str = "follower";
const OFFLINE: &str = "offline";

/// This node's identity and lease settings, resolved from `[cluster]` and the listener.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// This node's id.
    pub id: String,
    /// Where the other nodes reach it.
    pub address: String,
    /// The lease's length (`ClusterConfig::lease`: shorter than `[cluster] failover` by a
    /// renewal period and a margin, so a takeover completes within `failover`).
    pub failover: Duration,
    /// How often the lease is renewed.
    pub renew_every: Duration,
}

/// A random node id, `node-` and 8 hexadecimal digits, new at every start.
pub fn random_node_id() -> String {
    format!("node-{:08x}", rand::random::<u32>())
}

/// What the leader needs to start its engine and serve its routes.
pub struct Parts {
    /// The node.
    pub node: NodeSettings,
    /// The database, without a fence (the leader's engine gets one).
    pub store: Store,
    /// What the engine runs.
    pub engine: EngineConfig,
    /// Where requests needing the engine go.
    pub routing: ClusterRouting,
    /// The views this node serves: the engine's while leading, the stored ones while
    /// following.
    pub views: watch::Sender<Arc<StatusView>>,
    /// The engine's metrics while this node leads.
    pub metrics: Arc<ArcSwapOption<Metrics>>,
    /// The admin tokens, for the engine's admin router.
    pub admin_tokens: Vec<pharos_web::admin::AdminToken>,
    /// `[page] show_responders`.
    pub show_responders: bool,
    /// `[sso]`, for the console's router.
    pub sso: Option<pharos_web::console::SsoSettings>,
    /// `[console] path`, where the console lives.
    pub console_path: String,
    /// The web state, for the 404 answer under the engine's routes.
    pub web: WebState,
}

/// A running node: its election loop and its view poller.
pub struct Node {
    stop: watch::Sender<bool>,
    election: JoinHandle<()>,
    poller: JoinHandle<()>,
}

impl Node {
    /// Starts the election loop and the view poller.
    pub fn start(parts: Parts) -> Node {
        let (stop, stopped) = watch::channel(false);
        let leading = Arc::new(AtomicBool::new(false));
        let poller = tokio::spawn(follow_views(
            parts.store.clone(),
            parts.views.clone(),
            leading.clone(),
            stopped.clone(),
        ));
        let election = tokio::spawn(elect(Arc::new(parts), leading, stopped));
        Node {
            stop,
            election,
            poller,
        }
    }

    /// Stops the engine if this node leads (draining within the grace period), releases the
    /// lease, and stops following.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.election.await {
            tracing::warn!(%error, "the cluster election task ended abnormally");
        }
        self.poller.abort();
    }
}

/// The engine this node runs while it leads.
struct Leading {
    engine: EngineHandle,
    fence: Arc<Fence>,
    publisher: JoinHandle<()>,
}

/// The election loop: heartbeat, take or renew the lease, lead or follow; until `stop`.
async fn elect(parts: Arc<Parts>, leading: Arc<AtomicBool>, mut stop: watch::Receiver<bool>) {
    let node = &parts.node;
    let store = &parts.store;
    let version = env!("CARGO_PKG_VERSION");
    let mut current: Option<Leading> = None;
    let mut tick = tokio::time::interval(node.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut db_ok = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        // Taken before the renewal is sent: the lease the database sets ends later than this
        // plus `failover`, so the local guard always turns off first.
        let sent = Instant::now();
        let role = if current.is_some() { LEADER } else { FOLLOWER };
        let renewal = async {
            store
                .heartbeat_node(&node.id, &node.address, role, version)
                .await?;
            store.acquire_lease(&node.id, node.failover).await
        };
        let acquired = answered_within(node.failover, renewal).await;
        match acquired {
            Ok(Some(token)) => {
                db_ok = true;
                if let Some(l) = &current {
                    if l.fence.token() == token {
                        l.fence.renewed(sent);
                        continue;
                    }
                    // The lease changed hands and came back: the old token is void.
                    tracing::warn!(
                        old = l.fence.token(),
                        new = token,
                        "the lease was lost and taken again; restarting the engine"
                    );
                    demote(&parts, &leading, &mut current).await;
                }
                current = promote(&parts, &leading, token, sent).await;
                if current.is_some() {
                    let _ = store
                        .heartbeat_node(&node.id, &node.address, LEADER, version)
                        .await;
                    if let Err(error) = store.forget_nodes(FORGET_NODES_AFTER).await {
                        tracing::debug!(%error, "removing long-silent nodes failed");
                    }
                }
            }
            Ok(None) => {
                db_ok = true;
                if current.is_some() {
                    tracing::warn!(node = %node.id, "another node holds the lease; this node stops leading");
                    demote(&parts, &leading, &mut current).await;
                }
                parts.routing.follow(leader_address(store).await);
            }
            Err(error) => {
                if db_ok {
                    tracing::warn!(%error, "renewing the cluster lease failed; will retry");
                }
                db_ok = false;
                let lapsed = current.as_ref().is_some_and(|l| !l.fence.holds_locally());
                if lapsed {
                    tracing::warn!(node = %node.id, "the lease ran out while the database was unreachable; this node stops leading");
                    demote(&parts, &leading, &mut current).await;
                    parts.routing.follow(None);
                }
            }
        }
    }
    if current.is_some() {
        demote(&parts, &leading, &mut current).await;
        if let Err(error) = store.release_lease(&node.id).await {
            tracing::warn!(%error, "releasing the cluster lease failed; another node takes over when it runs out");
        }
    }
    let _ = store
        .heartbeat_node(&node.id, &node.address, OFFLINE, version)
        .await;
}

/// Starts the engine behind the lease `token`, or releases the lease when it cannot start.
async fn promote(
    parts: &Parts,
    leading: &AtomicBool,
    token: i64,
    sent: Instant,
) -> Option<Leading> {
    let node = &parts.node;
    let fence = Arc::new(Fence::new(node.id.clone(), token, node.failover, sent));
    let store = parts.store.with_fence(fence.clone());
    tracing::info!(node = %node.id, token, "this node won the lease; starting the engine");
    // Starting restores everything from storage, which may take longer than the lease on a
    // large database: the lease is renewed meanwhile.
    let start = pharos_engine::start(parts.engine.clone(), store.clone());
    tokio::pin!(start);
    let mut renew = tokio::time::interval_at(
        tokio::time::Instant::now() + node.renew_every,
        node.renew_every,
    );
    let started = loop {
        tokio::select! {
            started = &mut start => break started,
            _ = renew.tick() => {
                let sent = Instant::now();
                let renewal = parts.store.acquire_lease(&node.id, node.failover);
                match answered_within(node.failover, renewal).await {
                    Ok(Some(t)) if t == token => fence.renewed(sent),
                    Ok(_) => {
                        tracing::warn!(node = %node.id, "the lease was lost while the engine started; this node follows");
                        return None;
                    }
                    Err(error) if !fence.holds_locally() => {
                        tracing::warn!(%error, "the lease ran out while the engine started; this node follows");
                        return None;
                    }
                    Err(error) => tracing::warn!(%error, "renewing the cluster lease failed while the engine started"),
                }
            }
        }
    };
    let engine = match started {
        Ok(engine) => engine,
        Err(error) => {
            tracing::error!(%error, "the engine could not start; giving the lease up");
            if let Err(error) = parts.store.release_lease(&node.id).await {
                tracing::warn!(%error, "releasing the cluster lease failed");
            }
            return None;
        }
    };
    leading.store(true, Ordering::SeqCst);
    parts.metrics.store(Some(engine.metrics()));
    let admin = pharos_web::admin::AdminState {
        control: engine.control(),
        show_responders: parts.show_responders,
        tokens: parts.admin_tokens.clone(),
    };
    let router = pharos_web::subscribe::router(engine.control())
        .merge(pharos_web::console::router(
            engine.control(),
            pharos_web::console::ConsoleOptions {
                sso: parts.sso.clone(),
                path: parts.console_path.clone(),
                show_responders: parts.show_responders,
                ..pharos_web::console::ConsoleOptions::default()
            },
        ))
        .merge(pharos_web::ping::router(
            engine.control().heartbeats().clone(),
        ))
        .merge(pharos_web::admin::router(admin))
        .merge(pharos_web::not_found_router(parts.web.clone()));
    parts.routing.lead(router);
    let publisher = tokio::spawn(publish_views(
        engine.subscribe(),
        store,
        parts.views.clone(),
    ));
    tracing::info!(node = %node.id, token, "this node leads");
    Some(Leading {
        engine,
        fence,
        publisher,
    })
}

/// Why a renewal failed: the database's error, or no answer in time.
#[derive(Debug, thiserror::Error)]
enum RenewalError {
    #[error(transparent)]
    Store(#[from] pharos_store::StoreError),
    #[error("the database did not answer within {0:?}")]
    NoAnswer(Duration),
}

/// `renewal`, given at most `limit`: a database cut off without a word (a partition) leaves
/// a query waiting for ever, and a leader must notice that its lease has run out all the same.
async fn answered_within<T>(
    limit: Duration,
    renewal: impl std::future::Future<Output = Result<T, pharos_store::StoreError>>,
) -> Result<T, RenewalError> {
    match tokio::time::timeout(limit, renewal).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(RenewalError::NoAnswer(limit)),
    }
}

/// Stops leading: no more engine routes, the engine drained and stopped.
async fn demote(parts: &Parts, leading: &AtomicBool, current: &mut Option<Leading>) {
    let Some(l) = current.take() else {
        return;
    };
    parts.routing.follow(None);
    leading.store(false, Ordering::SeqCst);
    l.publisher.abort();
    l.engine.shutdown(SHUTDOWN_GRACE).await;
    parts.metrics.store(None);
    tracing::info!(node = %parts.node.id, token = l.fence.token(), "this node follows");
}

/// The leader's address, when a node holds an unexpired lease and has a row.
async fn leader_address(store: &Store) -> Option<String> {
    let lease = store.lease().await.ok().flatten()?;
    if lease.expired {
        return None;
    }
    let nodes = store.cluster_nodes().await.ok()?;
    nodes
        .into_iter()
        .find(|n| n.id == lease.holder)
        .map(|n| n.address)
}

/// The leader's publisher: each view the engine publishes is served here at once and stored
/// for the followers (fenced: a deposed leader's views are refused).
async fn publish_views(
    mut engine_views: watch::Receiver<Arc<StatusView>>,
    store: Store,
    views: watch::Sender<Arc<StatusView>>,
) {
    loop {
        let view = engine_views.borrow_and_update().clone();
        views.send_replace(view.clone());
        match serde_json::to_string(&*view) {
            Ok(doc) => match store.publish_view(&doc).await {
                Ok(()) => {}
                Err(error) if error.is_fenced() => {
                    tracing::debug!(%error, "view not published: this node no longer leads");
                }
                Err(error) => {
                    tracing::warn!(%error, "publishing the view for the followers failed; the next change publishes again");
                }
            },
            Err(error) => tracing::error!(%error, "serializing the view failed"),
        }
        if engine_views.changed().await.is_err() {
            return;
        }
    }
}

/// The followers' poller: while this node does not lead, every [`VIEW_POLL_EVERY`] the view
/// the leader stored, when it is new, becomes the view this node serves.
async fn follow_views(
    store: Store,
    views: watch::Sender<Arc<StatusView>>,
    leading: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen: Option<i64> = None;
    let mut failing = false;
    loop {
        if leading.load(Ordering::SeqCst) {
            // The next time this node follows, it takes whatever is stored then.
            seen = None;
        } else {
            match store.published_view(seen).await {
                Ok(Some(record)) => match serde_json::from_str::<StatusView>(&record.doc) {
                    Ok(view) => {
                        if !leading.load(Ordering::SeqCst) {
                            views.send_replace(Arc::new(view));
                        }
                        seen = Some(record.seq);
                        failing = false;
                    }
                    Err(error) => {
                        tracing::warn!(%error, seq = record.seq, "the leader's view could not be read; waiting for the next one");
                        seen = Some(record.seq);
                    }
                },
                Ok(None) => failing = false,
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "reading the leader's view failed; serving the last one");
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(VIEW_POLL_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// `GET /api/v1/cluster` on a cluster node: the node rows and the lease, from the database.
pub fn cluster_info(store: Store, node: String, failover: Duration) -> ClusterInfo {
    Arc::new(move || {
        let store = store.clone();
        let node = node.clone();
        Box::pin(async move {
            let lease = store.lease().await.map_err(|e| e.to_string())?;
            let rows = store.cluster_nodes().await.map_err(|e| e.to_string())?;
            let leader = lease.filter(|l| !l.expired).map(|l| l.holder);
            let offline_after = failover * OFFLINE_AFTER_LEASES;
            let nodes = rows
                .into_iter()
                .map(|r| {
                    let role = if r.silent_for > offline_after || r.role == OFFLINE {
                        OFFLINE
                    } else if leader.as_deref() == Some(r.id.as_str()) {
                        LEADER
                    } else {
                        FOLLOWER
                    };
                    ClusterNode {
                        id: r.id,
                        address: r.address,
                        role: role.to_owned(),
                        last_seen_at: r.last_seen_at,
                    }
                })
                .collect();
            Ok(ClusterStatus {
                node,
                leader,
                nodes,
            })
        })
    })
}

/// `GET /api/v1/cluster` on a single node: this node, leading.
pub fn single_node_info(node: String, address: String) -> ClusterInfo {
    Arc::new(move || {
        let status = ClusterStatus {
            node: node.clone(),
            leader: Some(node.clone()),
            nodes: vec![ClusterNode {
                id: node.clone(),
                address: address.clone(),
                role: LEADER.to_owned(),
                last_seen_at: pharos_engine::clock::now(),
            }],
        };
        Box::pin(async move { Ok(status) })
    })
}
