//! The `pharos` command: `serve`, `validate`, `--version` (SPEC §1), `notify test`,
//! `change`, which records a change with a running Pharos from a deploy pipeline, and `probe`,
//! which checks a location's monitors from where it runs (SPEC §7), and `user add` (SPEC §9).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pharos_server::app::{DEFAULT_DATABASE_URL, DEFAULT_LISTEN};
use pharos_server::config::{self, Config, Diagnostic};
use pharos_server::{App, Settings};

/// Watches services, derives their status and publishes it on a status page.
#[derive(Parser)]
#[command(
    name = "pharos",
    version,
    about = "Pharos watches your services, opens incidents when checks confirm an outage, and \
             publishes them on a status page, a Statuspage-compatible API and feeds.",
    after_help = "Start here:\n  \
        pharos validate --config pharos.toml     check a configuration, every problem at once\n  \
        pharos serve --config pharos.toml        run it; the page is at http://127.0.0.1:8080/\n\n\
        A configuration to copy is in examples/pharos.toml; the README explains every key.\n\
        `pharos help <command>` (or `pharos <command> --help`) tells more about one command."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: the checks, incident automation, notifications, the
    /// status page and the APIs. Stops cleanly on Ctrl-C or SIGTERM.
    Serve {
        /// Configuration file (default: ./pharos.toml if present, else empty).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR", env = "PHAROS_LISTEN")]
        listen: Option<SocketAddr>,
        /// Database URL: sqlite://FILE or postgres://… (default sqlite://pharos-data/pharos.db).
        #[arg(long, value_name = "URL", env = "PHAROS_DATABASE_URL")]
        database: Option<String>,
    },
    /// Check a configuration file and print every problem at once, as FILE:LINE:COLUMN;
    /// exits 1 when there is an error.
    Validate {
        /// Configuration file (default ./pharos.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Try the responders' channels (`[[notifiers]]`) of a configuration.
    Notify {
        #[command(subcommand)]
        action: NotifyCommand,
    },
    /// Record a change (a deploy, a configuration push…) with a running Pharos, from a
    /// pipeline; prints the new change's id.
    Change(Box<ChangeArgs>),
    /// Check a location's monitors from this machine and send the results to the server.
    ///
    /// The probe connects outbound only: it asks the server for the monitors of its location
    /// (and hears of changes within seconds), runs them as the server would, and sends the
    /// results in batches. While the server is unreachable the checks go on with the last
    /// monitors received and results are kept (up to 100,000, the oldest dropped beyond)
    /// until it is back. A token the server refuses stops the probe with an error. Ctrl-C or
    /// SIGTERM stops the checks, delivers what is kept for up to 5 s, and exits 0.
    Probe(ProbeArgs),
    /// People and service accounts of the console and the API (SPEC §9).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person (the first one must be an owner), or with --service a service account
    /// that owns API tokens. Without --password-file a person's password is asked on the
    /// terminal; prints the new user's id.
    Add(Box<UserAddArgs>),
}

/// `pharos user add`.
#[derive(clap::Args)]
struct UserAddArgs {
    /// The person's e-mail address (how they sign in).
    #[arg(long, value_name = "EMAIL", required_unless_present = "service")]
    email: Option<String>,
    /// owner, admin, responder, communicator or viewer.
    #[arg(long, value_name = "ROLE")]
    role: String,
    /// Display name (default: the part of the e-mail before the @; required for --service).
    #[arg(long)]
    name: Option<String>,
    /// IANA time zone the console shows times in (default UTC).
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,
    /// A file holding the password (its first line). Without it the password is asked on
    /// the terminal, twice.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["service", "no_password"])]
    password_file: Option<PathBuf>,
    /// No password: the person signs in only through single sign-on.
    #[arg(long)]
    no_password: bool,
    /// A service account: no e-mail, no password; it owns API tokens that outlive people.
    #[arg(long, conflicts_with_all = ["email", "no_password"])]
    service: bool,
    /// Configuration file (default ./pharos.toml if present); checked, so a user is never
    /// added beside a configuration that cannot start.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL, as for `serve` (default sqlite://pharos-data/pharos.db).
    #[arg(long, value_name = "URL", env = "PHAROS_DATABASE_URL")]
    database: Option<String>,
}

/// `pharos probe`: where to send results, for which location, with which token.
#[derive(clap::Args)]
struct ProbeArgs {
    /// The Pharos server, e.g. https://status.example.com.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The location this probe checks from: an id in the server's `[[locations]]`.
    #[arg(long, value_name = "ID")]
    location: String,
    /// A file holding the location's token (one of its `tokens`). Without it the token is
    /// read from PHAROS_PROBE_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// `pharos change`: the fields of `POST /api/v1/changes`, and where to send them.
#[derive(clap::Args)]
struct ChangeArgs {
    /// The running Pharos, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", env = "PHAROS_URL")]
    url: String,
    /// An admin token from `[admin] tokens`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PHAROS_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: String,
    /// The component changed.
    #[arg(long)]
    component: String,
    /// deploy, config, feature_flag, infrastructure, migration, rollback or other.
    #[arg(long, default_value = "deploy")]
    kind: String,
    /// One line saying what changed.
    #[arg(long)]
    summary: String,
    /// The version released.
    #[arg(long)]
    version: Option<String>,
    /// The commit released.
    #[arg(long)]
    commit: Option<String>,
    /// Where it went, e.g. production.
    #[arg(long)]
    environment: Option<String>,
    /// Who made it.
    #[arg(long)]
    author: Option<String>,
    /// A link to the pipeline run, pull request or ticket (the change's `url`).
    #[arg(long, value_name = "URL")]
    link: Option<String>,
    /// When it started, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    started_at: Option<String>,
    /// When it finished, RFC 3339.
    #[arg(long, value_name = "TIME")]
    finished_at: Option<String>,
    /// The pipeline's own id for it.
    #[arg(long)]
    external_id: Option<String>,
    /// The id of the change this one corrects.
    #[arg(long, value_name = "CHANGE_ID")]
    supersedes: Option<String>,
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Send one test message to NOTIFIER and say whether it was accepted.
    Test {
        /// The notifier's id in `[[notifiers]]`.
        notifier: String,
        /// Configuration file (default ./pharos.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(config),
        Command::Notify {
            action: NotifyCommand::Test { notifier, config },
        } => notify_test(config, &notifier),
        Command::Serve {
            config,
            listen,
            database,
        } => serve(config, listen, database),
        Command::Change(args) => record_change(&args),
        Command::Probe(args) => probe(&args),
        Command::User {
            action: UserCommand::Add(args),
        } => user_add(&args),
    }
}

/// `pharos user add`: adds one user and prints its id; a refusal is one line naming the
/// problem, exit 1, nothing stored.
fn user_add(args: &UserAddArgs) -> ExitCode {
    let Some(config) = load(args.config.clone()) else {
        return ExitCode::FAILURE;
    };
    let password = if args.service || args.no_password {
        None
    } else {
        match read_password(args.password_file.as_deref()) {
            Ok(p) => Some(p),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        }
    };
    let new = pharos_server::people::NewUser {
        kind: if args.service {
            pharos_store::UserKind::Service
        } else {
            pharos_store::UserKind::Person
        },
        email: args.email.clone(),
        name: args.name.clone(),
        role: args.role.clone(),
        time_zone: args.time_zone.clone(),
        password,
    };
    // The database `serve` would use with the same arguments: `--database`, else the file's
    // `[storage] url`, else the default.
    let url = args
        .database
        .clone()
        .or_else(|| config.storage.url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let added = runtime.block_on(async {
        let store = pharos_store::Store::connect(&url)
            .await
            .map_err(|e| e.to_string())?;
        let added = pharos_server::people::add_user(&store, new)
            .await
            .map_err(|e| e.to_string());
        store.close().await;
        added
    });
    match added {
        Ok(user) => {
            let who = user.email.as_deref().unwrap_or("service account");
            println!(
                "added {} <{who}> as {} ({})",
                user.name,
                user.role.as_str(),
                user.id
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The password from `file` (its first line), else asked twice on the terminal.
fn read_password(file: Option<&Path>) -> Result<String, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.is_empty() {
            return Err(format!("{} holds no password", path.display()));
        }
        return Ok(line);
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| {
        format!("cannot ask for a password ({e}); give --password-file or --no-password")
    })?;
    let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("the two passwords differ".to_owned());
    }
    Ok(first)
}

/// `pharos probe`: runs until SIGTERM/SIGINT (exit 0) or until the server refuses the token
/// (exit 1).
fn probe(args: &ProbeArgs) -> ExitCode {
    let token_env = std::env::var(pharos_server::probe::TOKEN_VAR).ok();
    let settings = match pharos_server::probe::ProbeSettings::from_args(
        &args.server,
        &args.location,
        args.token_file.as_deref(),
        token_env,
    ) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing();
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let stop = shutdown_signal();
        match pharos_server::probe::run(settings, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            // Already in the log, as an error naming the location.
            Err(pharos_server::probe::Fatal::Refused { .. }) => ExitCode::FAILURE,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `pharos change`: posts one change to `POST /api/v1/changes` and prints its id; on a
/// refusal prints the server's message (and the field at fault) and exits 1.
fn record_change(args: &ChangeArgs) -> ExitCode {
    let mut body = serde_json::json!({
        "component": args.component,
        "kind": args.kind,
        "summary": args.summary,
        "source": "cli",
    });
    let optional = [
        ("version", &args.version),
        ("commit", &args.commit),
        ("environment", &args.environment),
        ("author", &args.author),
        ("url", &args.link),
        ("started_at", &args.started_at),
        ("finished_at", &args.finished_at),
        ("external_id", &args.external_id),
        ("supersedes", &args.supersedes),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            body[key] = serde_json::Value::String(v.clone());
        }
    }
    let endpoint = format!("{}/api/v1/changes", args.url.trim_end_matches('/'));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let answer = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .post(&endpoint)
            .bearer_auth(&args.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((status, text))
    });
    let (status, text) = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        match json["id"].as_str() {
            Some(id) => {
                println!("{id}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: {endpoint} answered {status} without a change id");
                ExitCode::FAILURE
            }
        }
    } else {
        let message = json["error"]["message"]
            .as_str()
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        match json["error"]["field"].as_str() {
            Some(field) => eprintln!("error: {status}: {message} (field `{field}`)"),
            None => eprintln!("error: {status}: {message}"),
        }
        ExitCode::FAILURE
    }
}

fn print_all(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

/// Loads the file (or the empty configuration when none was named and ./pharos.toml is
/// absent), printing every diagnostic. `None` means there was an error.
fn load(path: Option<PathBuf>) -> Option<Config> {
    let path = match path {
        Some(p) => p,
        None if Path::new("pharos.toml").exists() => PathBuf::from("pharos.toml"),
        None => {
            // No file: the empty configuration, with what the environment alone sets (the
            // console's PHAROS_SECRET_KEY).
            let empty = config::parse_str("", "(environment)", &|k| std::env::var(k).ok());
            return match empty {
                Ok(loaded) => Some(loaded.config),
                Err(diagnostics) => {
                    print_all(&diagnostics);
                    None
                }
            };
        }
    };
    match config::load_file(&path) {
        Ok(loaded) => {
            print_all(&loaded.warnings);
            Some(loaded.config)
        }
        Err(diagnostics) => {
            print_all(&diagnostics);
            None
        }
    }
}

/// `pharos notify test NOTIFIER`: one real message, sent now, outside the outbox.
fn notify_test(path: Option<PathBuf>, id: &str) -> ExitCode {
    let path = path.unwrap_or_else(|| PathBuf::from("pharos.toml"));
    let loaded = match config::load_file(&path) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            print_all(&diagnostics);
            return ExitCode::FAILURE;
        }
    };
    let config = loaded.config;
    let Some(notifier) = config.notifiers.iter().find(|n| n.id == id) else {
        let known: Vec<&str> = config.notifiers.iter().map(|n| n.id.as_str()).collect();
        eprintln!(
            "error: no notifier `{id}` in {}; configured: {}",
            path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
        return ExitCode::FAILURE;
    };
    let listen = config
        .server
        .listen
        .map_or_else(|| DEFAULT_LISTEN.to_owned(), |a| a.to_string());
    let page = pharos_notify::PageContext {
        id: config.page.id.clone(),
        name: config.page.name.clone(),
        url: config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}")),
        time_zone: config.page.time_zone.name().to_owned(),
        status_indicator: pharos_domain::Indicator::None,
        status_description: pharos_domain::status::ALL_OPERATIONAL.to_owned(),
    };
    let event = pharos_notify::Event::test(page, pharos_engine::clock::now());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(notifier.send(&client, &event.id, &event).await)
    });
    match outcome {
        Ok(pharos_notify::Outcome::Sent) => {
            println!(
                "{id}: sent a test message ({})",
                notifier.channel.type_name()
            );
            ExitCode::SUCCESS
        }
        Ok(pharos_notify::Outcome::Failed { reason }) => {
            eprintln!("{id}: the test message failed: {reason}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn validate(path: Option<PathBuf>) -> ExitCode {
    let path = path.unwrap_or_else(|| PathBuf::from("pharos.toml"));
    match config::load_file(&path) {
        Ok(loaded) => {
            print_all(&loaded.warnings);
            let count = |n: usize, one: &str, many: &str| {
                format!("{n} {}", if n == 1 { one } else { many })
            };
            let c = &loaded.config;
            let mut parts = vec![
                count(c.components.len(), "component", "components"),
                count(c.monitors.len(), "monitor", "monitors"),
            ];
            if !c.maintenances.is_empty() {
                parts.push(count(c.maintenances.len(), "maintenance", "maintenances"));
            }
            if !c.notifiers.is_empty() {
                parts.push(count(c.notifiers.len(), "notifier", "notifiers"));
            }
            println!("{}: ok ({})", path.display(), parts.join(", "));
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            print_all(&diagnostics);
            ExitCode::FAILURE
        }
    }
}

fn serve(path: Option<PathBuf>, listen: Option<SocketAddr>, database: Option<String>) -> ExitCode {
    init_tracing();
    let Some(config) = load(path) else {
        return ExitCode::FAILURE;
    };
    let listen = listen.or(config.server.listen).unwrap_or_else(|| {
        DEFAULT_LISTEN
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)))
    });
    let database_url = database
        .or_else(|| config.storage.url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    pharos_server::app::raise_open_file_limit(config.server.max_connections);
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let settings = Settings {
            config,
            listen,
            database_url,
        };
        // Listen before serving: a SIGTERM right after `/healthz` first answers must stop
        // Pharos cleanly, not kill it.
        let stop = shutdown_signal();
        let app = match App::start(settings).await {
            Ok(app) => app,
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::FAILURE;
            }
        };
        stop.await;
        tracing::info!("shutting down");
        app.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called,
/// not when it is first awaited.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {}
                _ = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHAROS_LOG")
        // rustls-platform-verifier logs an ERROR for every refused certificate; the check's
        // own reason already says why, so its lines would only repeat it at the wrong level.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,sqlx=warn,rustls_platform_verifier=off")
        });
    use std::io::IsTerminal as _;
    // Colour only for a person at a terminal; log files and journald get plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let offset = pharos_engine::clock::offset();
    if !offset.is_zero() {
        tracing::warn!(
            offset = %offset,
            "{} is set: Pharos's clock runs ahead of the real time; this is for replaying scenarios, never for production",
            pharos_engine::clock::OFFSET_VAR
        );
    }
}

/// The multi-threaded runtime `serve` and `probe` run on; `None` (said on stderr) when it
/// cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            None
        }
    }
}
