//! Start-up and shutdown of the whole process: bind the listener (so a taken port fails
//! fast), open storage, start the engine, serve the snapshot, and on stop drain in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::{ArcSwap, ArcSwapOption};
use pharos_engine::{ComponentDef, EngineConfig, EngineHandle, Metrics, PageInfo, StatusView};
use pharos_store::Store;
use pharos_web::forward::ClusterRouting;
use pharos_web::{Snapshot, WebState};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;

/// Listen address when nothing else says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Database when nothing else says otherwise: an embedded SQLite file.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://pharos-data/pharos.db";
/// How long shutdown waits for in-flight writes.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything needed to start, after flags, environment and file have been merged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The validated configuration.
    pub config: Config,
    /// Where to listen.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
}

/// A running Pharos.
pub struct App {
    /// Held while this process serves a SQLite file: SQLite is single-node.
    _sqlite_lock: Option<std::fs::File>,
    addr: SocketAddr,
    running: Running,
    server: JoinHandle<()>,
    snapshot_builder: JoinHandle<()>,
    stop_server: oneshot::Sender<()>,
}

/// What does the work: the engine itself on a single node, or a node of a cluster, which
/// runs the engine while it leads.
enum Running {
    Single(Box<EngineHandle>),
    Cluster(crate::cluster::Node),
}

impl App {
    /// Starts everything and returns once the listener is bound and the first snapshot is
    /// being served.
    pub async fn start(settings: Settings) -> anyhow::Result<App> {
        let listener = listen(settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        if settings.config.cluster.is_some() && !is_postgres(&settings.database_url) {
            anyhow::bail!(
                "[cluster] needs PostgreSQL, but the database is {}: SQLite is single-node (one \
                 process per file), so several nodes must share a postgres:// database; remove \
                 [cluster] to run one node on SQLite",
                redact_url(&settings.database_url)
            );
        }
        let sqlite_lock = lock_sqlite_file(&settings.database_url)?;
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    redact_url(&settings.database_url)
                )
            })?;
        let config = settings.config;
        let mirror_dir = config.mirror.clone();
        let page_url = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let engine_config = engine_config(&config, page_url);
        let node = node_settings(&config, addr);

        // On a single node the engine starts here and its views are served directly; a node
        // of a cluster serves the views of whichever node leads (see `crate::cluster`).
        let (engine, views, cluster_views) = match &config.cluster {
            None => {
                let engine = pharos_engine::start(engine_config.clone(), store.clone())
                    .await
                    .context("starting the engine")?;
                let views = engine.subscribe();
                (Some(engine), views, None)
            }
            Some(_) => {
                let first = first_cluster_view(&store, &engine_config).await;
                let (tx, rx) = watch::channel(Arc::new(first));
                (None, rx, Some(tx))
            }
        };
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::build(&views.borrow())));
        let mirror = match &mirror_dir {
            Some(dir) => {
                let mut m = pharos_web::mirror::Mirror::open(dir).with_context(|| {
                    format!("cannot write the mirror directory {}", dir.display())
                })?;
                let files = m
                    .write(&snapshot.load())
                    .with_context(|| format!("cannot write the mirror in {}", dir.display()))?;
                tracing::info!(dir = %dir.display(), files, "mirror written");
                Some(m)
            }
            None => None,
        };
        let snapshot_builder = pharos_web::spawn_snapshot_builder(views, snapshot.clone(), mirror);
        let hardening = pharos_web::Hardening::for_public_url(&engine_config.page.url);
        let tokens = config.admin.tokens.clone();
        let show_responders = config.page.show_responders;
        let sso = config.sso.clone();
        let console_path = config.console.path().to_owned();
        let (router, running) = match (engine, cluster_views) {
            (Some(engine), _) => {
                let metrics = engine.metrics();
                let openmetrics = metrics.clone();
                let state = WebState {
                    snapshot,
                    metrics: Arc::new(move || metrics.render()),
                    openmetrics: Some(Arc::new(move || openmetrics.render_openmetrics())),
                };
                let admin = pharos_web::admin::AdminState {
                    control: engine.control(),
                    show_responders,
                    tokens: tokens.clone(),
                };
                let info = crate::cluster::single_node_info(node.id, node.address);
                let router = pharos_web::router(state)
                    .merge(pharos_web::subscribe::router(engine.control()))
                    .merge(pharos_web::console::router(
                        engine.control(),
                        pharos_web::console::ConsoleOptions {
                            sso,
                            show_responders,
                            path: console_path,
                            ..pharos_web::console::ConsoleOptions::default()
                        },
                    ))
                    .merge(pharos_web::ping::router(
                        engine.control().heartbeats().clone(),
                    ))
                    .merge(pharos_web::admin::router(admin))
                    .merge(pharos_web::admin::cluster::router(tokens, info));
                (router, Running::Single(Box::new(engine)))
            }
            (None, Some(views)) => {
                // The engine's metrics while this node leads; a follower's are empty.
                let metrics: Arc<ArcSwapOption<Metrics>> = Arc::default();
                let (text, open) = (metrics.clone(), metrics.clone());
                let state = WebState {
                    snapshot,
                    metrics: Arc::new(move || match text.load_full() {
                        Some(m) => m.render(),
                        None => Metrics::new().render(),
                    }),
                    openmetrics: Some(Arc::new(move || match open.load_full() {
                        Some(m) => m.render_openmetrics(),
                        None => Metrics::new().render_openmetrics(),
                    })),
                };
                let key = store
                    .signing_key()
                    .await
                    .context("reading the database's signing key")?;
                let signer = pharos_engine::subscribers::Tokens::new(key);
                let routing = ClusterRouting::new(node.id.clone(), signer)
                    .context("building the client that forwards requests to the leader")?;
                let info =
                    crate::cluster::cluster_info(store.clone(), node.id.clone(), node.failover);
                let router = pharos_web::public_routes(state.clone())
                    .merge(pharos_web::admin::cluster::router(tokens.clone(), info))
                    .merge(routing.router());
                tracing::info!(
                    node = %node.id,
                    address = %node.address,
                    failover_ms = node.failover.as_millis() as u64,
                    "joining the cluster"
                );
                let running = crate::cluster::Node::start(crate::cluster::Parts {
                    node,
                    store,
                    engine: engine_config,
                    routing,
                    views,
                    metrics,
                    admin_tokens: tokens,
                    show_responders,
                    sso,
                    console_path,
                    web: state,
                });
                (router, Running::Cluster(running))
            }
            (None, None) => anyhow::bail!("neither an engine nor a cluster node was started"),
        };
        let router = pharos_web::harden(router, hardening);
        let limits = pharos_web::serve::Limits {
            header_timeout: config.server.header_timeout,
            max_connections: config.server.max_connections,
        };
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(pharos_web::serve::serve(listener, router, limits, async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, "Pharos is serving");
        Ok(App {
            _sqlite_lock: sqlite_lock,
            addr,
            running,
            server,
            snapshot_builder,
            stop_server,
        })
    }

    /// The address the HTTP server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running engine on a single node; `None` on a node of a cluster (whose engine runs
    /// only while it leads).
    pub fn engine(&self) -> Option<&EngineHandle> {
        match &self.running {
            Running::Single(engine) => Some(engine),
            Running::Cluster(_) => None,
        }
    }

    /// Stops taking work, finishes in-flight writes within the grace period, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop_server.send(());
        match self.running {
            Running::Single(engine) => engine.shutdown(SHUTDOWN_GRACE).await,
            Running::Cluster(node) => node.shutdown().await,
        }
        self.snapshot_builder.abort();
        match tokio::time::timeout(SHUTDOWN_GRACE, self.server).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "HTTP server task failed"),
            Err(_) => tracing::warn!("HTTP connections still open after the grace period"),
        }
    }
}

/// Whether `url` names a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
}

/// What the engine runs, from the configuration.
fn engine_config(config: &Config, page_url: String) -> EngineConfig {
    EngineConfig {
        page: PageInfo {
            id: config.page.id.clone(),
            name: config.page.name.clone(),
            url: page_url,
            time_zone: config.page.time_zone,
            email_subscriptions: config.smtp.is_some(),
            branding: config.page.branding.clone(),
        },
        components: config
            .components
            .iter()
            .map(|c| ComponentDef {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                group: c.group.clone(),
            })
            .collect(),
        monitors: config.monitors.clone(),
        incidents: config.incidents,
        maintenances: config.maintenances.clone(),
        notifiers: config.notifiers.clone(),
        smtp: config.smtp.clone(),
        self_check: config.self_check.clone(),
        alert_routing: config.alerts.clone(),
        changes: config.changes.clone(),
        webhooks: config.subscriptions.clone(),
        locations: config.locations.clone(),
        seal_key: config.console.secret_key.clone(),
    }
}

/// This node's id, address and lease: from `[cluster]`, or for a single node a random id and
/// the listener's address (what `GET /api/v1/cluster` shows).
fn node_settings(config: &Config, addr: SocketAddr) -> crate::cluster::NodeSettings {
    let cluster = config.cluster.clone().unwrap_or_default();
    crate::cluster::NodeSettings {
        id: cluster
            .node_id
            .clone()
            .unwrap_or_else(crate::cluster::random_node_id),
        address: cluster
            .address
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        failover: cluster.lease(),
        renew_every: cluster.renew_every(),
    }
}

/// What a node of a cluster serves before it leads or reads the leader's view: the view the
/// last leader stored, else the page with nothing on it yet (replaced within a poll).
async fn first_cluster_view(store: &Store, engine: &EngineConfig) -> StatusView {
    if let Ok(Some(record)) = store.published_view(None).await {
        if let Ok(view) = serde_json::from_str::<StatusView>(&record.doc) {
            return view;
        }
    }
    let now = pharos_engine::clock::now();
    StatusView {
        page: engine.page.clone(),
        generated_at: now,
        updated_at: now,
        components: Vec::new(),
        monitors: Vec::new(),
        incidents: Arc::from(Vec::new()),
        maintenances: Arc::from(Vec::new()),
    }
}

/// SQLite is single-node (SPEC §8): the `pharos serve` that opens a SQLite file holds an
/// exclusive lock on `<file>.lock` beside it for as long as it runs, and a second one on the
/// same file is refused at start, before it touches the database. (Two processes on one file
/// would each check, open incidents and send notifications: everything twice.) The lock is
/// the kernel's, so it goes with the process however it ends.
fn lock_sqlite_file(database_url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(db) = pharos_store::sqlite_file(database_url) else {
        return Ok(None);
    };
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    let mut path = db.clone().into_os_string();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the SQLite database {} is already served by another `pharos serve` (it holds {}); \
             SQLite is single-node: stop the other process, or run several nodes on one \
             PostgreSQL database",
            db.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Connections the kernel may hold for Pharos before it accepts them (capped by
/// `net.core.somaxconn`). The usual 128 overflows when a crowd arrives at once, and each
/// overflow costs its client a one-second SYN retry.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (a restart does not wait
/// for the old connections' TIME_WAIT).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does, so that
/// `max_connections` connections (plus the database's and the checks') fit; warns when even
/// the hard limit is smaller.
pub fn raise_open_file_limit(max_connections: usize) {
    // Connections, plus room for the database pool, checks and notifications.
    let wanted = max_connections as u64 + 1024;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            max_connections,
            "the open-files limit is below [server] max_connections; raise it (ulimit -n, or \
             LimitNOFILE= in a systemd unit) or connections beyond it will be refused"
        ),
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
        Err(error) => tracing::warn!(%error, "could not read or raise the open-files limit"),
    }
}

/// A database URL as messages show it: the password hidden (`user:***@`), and a bare user
/// information too (in a URL it may be a token), by the one redaction Pharos uses for URLs
/// ([`pharos_domain::fingerprint::redact_userinfo`]).
pub fn redact_url(url: &str) -> String {
    pharos_domain::fingerprint::redact_userinfo(url).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://***@h/db");
        assert_eq!(
            redact_url("postgres://u:p@h/db?opt=a@b"),
            "postgres://u:***@h/db?opt=a@b"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
