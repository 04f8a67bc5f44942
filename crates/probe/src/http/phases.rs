//! Per-phase timings of one `http` check: DNS, TCP connect, TLS handshake, and the wait for
//! the response's headers.
//!
//! reqwest has no tracing hooks, so the marks come from three places it does let us fill in,
//! all built into every client:
//!
//! - [`TimedResolver`], the client's DNS resolver, marks the start and end of the lookup.
//! - [`TimedConnectLayer`] wraps reqwest's connector (DNS + TCP + TLS), marking when a new
//!   connection is asked for and when it is ready (or has failed).
//! - [`HandshakeClock`], the TLS session store of the client's rustls configuration, marks
//!   the start of the handshake: rustls asks its store for a session to resume as it builds
//!   the ClientHello, which hyper-rustls does right after the TCP connection is up. That is
//!   the one point between TCP and TLS that reqwest's connector exposes.
//!
//! Clients are shared by many monitors, so the marks cannot live in them. Each check scopes a
//! [`Recorder`] around its request future in a task-local ([`record`]); the resolver, the layer
//! and the store write to whichever recorder the task polling them carries. A new connection
//! is opened inside the request's own poll, so its marks land in that check's recorder. Marks
//! made anywhere else (hyper finishing a connection in the background after the request took
//! a pooled one instead) find no recorder and are dropped. A request over a kept-alive
//! connection opens nothing: its DNS, connect and TLS phases stay `None`, which is the truth.
//!
//! A request's connection openings happen one after another (a redirect may open another), so
//! the recorder keeps one opening in progress and adds each finished one's phases up.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use pharos_domain::PhaseTimings;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use tokio::time::Instant;

tokio::task_local! {
    /// The recorder of the check whose request this task is polling.
    static RECORDER: Arc<Recorder>;
}

/// Runs `request` with `recorder` collecting the marks of the connections it opens.
pub(crate) async fn record<F: Future>(recorder: Arc<Recorder>, request: F) -> F::Output {
    RECORDER.scope(recorder, request).await
}

/// The marks of one check's request.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    marks: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    /// The connection being opened now, if any.
    opening: Option<Opening>,
    /// Phases of the connections opened so far, added up.
    dns: Option<Duration>,
    connect: Option<Duration>,
    tls: Option<Duration>,
}

/// One connection on its way up.
#[derive(Debug)]
struct Opening {
    started: Instant,
    dns_started: Option<Instant>,
    dns_done: Option<Instant>,
    /// When rustls began the handshake, i.e. when TCP was up.
    tls_started: Option<Instant>,
}

impl Opening {
    fn new(now: Instant) -> Opening {
        Opening {
            started: now,
            dns_started: None,
            dns_done: None,
            tls_started: None,
        }
    }

    /// Adds the phases this opening completed to `marks`; `ready` is when the connection was
    /// ready for use, `None` if it never was (it failed, or the request ended first).
    fn fold_into(self, marks: &mut Marks, ready: Option<Instant>) {
        if let (Some(from), Some(to)) = (self.dns_started, self.dns_done) {
            add(&mut marks.dns, to.saturating_duration_since(from));
        }
        // TCP starts once the name is resolved (at once for an address in the URL) and ends
        // where TLS starts, or, for plain http, when the connection is ready.
        let tcp_from = self.dns_done.unwrap_or(self.started);
        if let Some(tcp_to) = self.tls_started.or(ready) {
            add(
                &mut marks.connect,
                tcp_to.saturating_duration_since(tcp_from),
            );
        }
        if let (Some(from), Some(to)) = (self.tls_started, ready) {
            add(&mut marks.tls, to.saturating_duration_since(from));
        }
    }
}

fn add(total: &mut Option<Duration>, phase: Duration) {
    *total = Some(total.unwrap_or_default() + phase);
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Marks> {
        // Marks are plain values, whole after any single update: carry on after a panic.
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The timings of a request sent at `sent` whose response headers arrived at `headers`
    /// (`None`: it failed or timed out). `None` when nothing was measured.
    pub(crate) fn finish(&self, sent: Instant, headers: Option<Instant>) -> Option<PhaseTimings> {
        let mut marks = self.lock();
        if let Some(opening) = marks.opening.take() {
            // Still opening when the request ended. Without an answer, what it completed is
            // where the time went (a slow DNS, say). With one, the request was served by a
            // pooled connection and this one finishes in the background: not this check's.
            if headers.is_none() {
                opening.fold_into(&mut marks, None);
            }
        }
        let setup: Duration = [marks.dns, marks.connect, marks.tls]
            .into_iter()
            .flatten()
            .sum();
        let first_byte = headers.map(|at| at.saturating_duration_since(sent).saturating_sub(setup));
        let timings = PhaseTimings {
            dns_ms: marks.dns.map(millis),
            connect_ms: marks.connect.map(millis),
            tls_ms: marks.tls.map(millis),
            first_byte_ms: first_byte.map(millis),
        };
        (!timings.is_empty()).then_some(timings)
    }
}

/// Updates the marks of the check this task is running, if it runs one.
fn mark(update: impl FnOnce(&mut Marks, Instant)) {
    let now = Instant::now();
    // No recorder: the connection is being finished in the background, for no check.
    let _ = RECORDER.try_with(|recorder| update(&mut recorder.lock(), now));
}

fn connect_started() {
    mark(|marks, now| marks.opening = Some(Opening::new(now)));
}

fn connect_finished(ready: bool) {
    mark(|marks, now| {
        if let Some(opening) = marks.opening.take() {
            opening.fold_into(marks, ready.then_some(now));
        }
    });
}

fn dns_started() {
    mark(|marks, now| {
        if let Some(opening) = &mut marks.opening {
            opening.dns_started = Some(now);
        }
    });
}

fn dns_done() {
    mark(|marks, now| {
        if let Some(opening) = &mut marks.opening {
            opening.dns_done = Some(now);
        }
    });
}

fn tls_started() {
    mark(|marks, now| {
        if let Some(opening) = &mut marks.opening {
            // Only the first question of a handshake marks its start.
            opening.tls_started.get_or_insert(now);
        }
    });
}

/// The client's DNS resolver: the system's (`getaddrinfo` on a blocking thread, as reqwest's
/// default resolver does), timed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimedResolver;

impl Resolve for TimedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            dns_started();
            // Port 0: the connector puts in the URL's port.
            let found = tokio::net::lookup_host((host.as_str(), 0)).await;
            dns_done();
            let addrs: Vec<SocketAddr> = found?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Wraps reqwest's connector to mark when a connection is asked for and when it is ready.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimedConnectLayer;

impl<S> tower::Layer<S> for TimedConnectLayer {
    type Service = TimedConnect<S>;

    fn layer(&self, inner: S) -> TimedConnect<S> {
        TimedConnect { inner }
    }
}

/// The connector wrapped by [`TimedConnectLayer`].
#[derive(Debug, Clone)]
pub(crate) struct TimedConnect<S> {
    inner: S,
}

impl<S, R> tower::Service<R> for TimedConnect<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, destination: R) -> Self::Future {
        let connecting = self.inner.call(destination);
        // The marks are made when polled, so they go to the task that drives the connection.
        Box::pin(async move {
            connect_started();
            let connected = connecting.await;
            connect_finished(connected.is_ok());
            connected
        })
    }
}

/// rustls's in-memory session cache (the one reqwest would use, same size), noting when a
/// handshake starts: rustls reads a ticket or session from it first thing when it builds the
/// ClientHello.
#[derive(Debug)]
pub(crate) struct HandshakeClock {
    sessions: ClientSessionMemoryCache,
}

impl HandshakeClock {
    /// rustls's default: sessions for up to 256 servers.
    pub(crate) fn new() -> HandshakeClock {
        HandshakeClock {
            sessions: ClientSessionMemoryCache::new(256),
        }
    }
}

impl ClientSessionStore for HandshakeClock {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.sessions.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        tls_started();
        self.sessions.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.sessions.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        tls_started();
        self.sessions.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.sessions.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.sessions.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        tls_started();
        self.sessions.take_tls13_ticket(server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `steps` (each: wait this long, then make this mark) inside `recorder`'s scope.
    async fn replay(recorder: &Arc<Recorder>, steps: &[(u64, fn())]) {
        record(recorder.clone(), async {
            for (wait, step) in steps {
                tokio::time::advance(MS * u32::try_from(*wait).unwrap_or(0)).await;
                step();
            }
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_tls_connection_has_every_phase() {
        let recorder = Arc::new(Recorder::default());
        let sent = Instant::now();
        replay(
            &recorder,
            &[
                (1, connect_started),
                (0, dns_started),
                (5, dns_done),
                (10, tls_started),
                (3, tls_started), // a later question in the same handshake
                (20, || connect_finished(true)),
            ],
        )
        .await;
        tokio::time::advance(MS * 40).await;
        let timings = recorder.finish(sent, Some(Instant::now())).unwrap();
        assert_eq!(
            timings,
            PhaseTimings {
                dns_ms: Some(5),
                connect_ms: Some(10),
                tls_ms: Some(23),
                first_byte_ms: Some(41),
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_has_only_the_first_byte() {
        let recorder = Arc::new(Recorder::default());
        let sent = Instant::now();
        tokio::time::advance(MS * 7).await;
        let timings = recorder.finish(sent, Some(Instant::now())).unwrap();
        assert_eq!(
            timings,
            PhaseTimings {
                first_byte_ms: Some(7),
                ..PhaseTimings::default()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_keeps_the_phases_it_completed() {
        let recorder = Arc::new(Recorder::default());
        let sent = Instant::now();
        // Resolved, connected, then the handshake never finished before the timeout.
        replay(
            &recorder,
            &[
                (0, connect_started),
                (0, dns_started),
                (4, dns_done),
                (6, tls_started),
            ],
        )
        .await;
        tokio::time::advance(MS * 100).await;
        let timings = recorder.finish(sent, None).unwrap();
        assert_eq!(
            timings,
            PhaseTimings {
                dns_ms: Some(4),
                connect_ms: Some(6),
                tls_ms: None,
                first_byte_ms: None,
            }
        );
        // Nothing measured at all: no timings.
        let empty = Arc::new(Recorder::default());
        assert_eq!(empty.finish(sent, None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_opening_abandoned_for_a_pooled_connection_is_not_counted() {
        let recorder = Arc::new(Recorder::default());
        let sent = Instant::now();
        replay(
            &recorder,
            &[(0, connect_started), (0, dns_started), (3, dns_done)],
        )
        .await;
        tokio::time::advance(MS * 2).await;
        let timings = recorder.finish(sent, Some(Instant::now())).unwrap();
        assert_eq!(timings.dns_ms, None);
        assert_eq!(timings.first_byte_ms, Some(5));
    }

    #[tokio::test(start_paused = true)]
    async fn marks_outside_a_check_go_nowhere() {
        // No recorder in scope: nothing to record, nothing panics.
        connect_started();
        dns_started();
        tls_started();
        connect_finished(true);
    }
}
