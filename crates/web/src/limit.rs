//! Per-client allowances for what strangers can reach: a token bucket per address
//! ([`Limiter`]) and the address a request counts for ([`client_ip`]). Subscribing spends
//! the allowance on every request; routes guarded by a secret (probe tokens) spend it only on
//! a wrong secret, so guessing is slow and a flood of wrong guesses is not a flood of log lines.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use http::{Extensions, HeaderMap};
use pharos_engine::EngineControl;

/// How many requests one client may make: `burst` at once, then one more every
/// `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// How long it takes to earn one more request.
    pub refill_every: Duration,
}

impl Default for RateLimit {
    /// 10 requests a minute per client, in bursts of 10.
    fn default() -> Self {
        RateLimit {
            burst: 10,
            refill_every: Duration::from_secs(6),
        }
    }
}

/// Most clients tracked before full buckets are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// A token bucket per key, in memory: per client address by default, or per anything else
/// that names who is counted (the console counts sign-in failures per e-mail too).
pub(crate) struct Limiter<K = IpAddr> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter allowing each client `limit`.
    pub(crate) fn new(limit: RateLimit) -> Limiter<K> {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Requests allowed at once.
    fn burst(&self) -> f64 {
        f64::from(self.limit.burst.max(1))
    }

    /// Seconds to earn one request back.
    fn per(&self) -> f64 {
        self.limit.refill_every.as_secs_f64().max(f64::EPSILON)
    }

    /// A bucket's tokens at `now`: what it held, plus what it earned since, up to the burst.
    fn refilled(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        (tokens + now.saturating_duration_since(at).as_secs_f64() / self.per()).min(self.burst())
    }

    /// How long until a bucket holding `tokens` has one.
    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64((1.0 - tokens) * self.per())
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<K, (f64, Instant)>> {
        // A poisoned lock holds plain numbers; keep using them.
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` has a request left, without taking it; otherwise how long until it has.
    pub(crate) fn check(&self, ip: K, now: Instant) -> Result<(), Duration> {
        let tokens = self
            .buckets()
            .get(&ip)
            .map_or(self.burst(), |b| self.refilled(*b, now));
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(tokens))
        }
    }

    /// Takes one request from `ip`'s bucket, or says how long until one is available.
    pub(crate) fn take(&self, ip: K, now: Instant) -> Result<(), Duration> {
        let burst = self.burst();
        let mut buckets = self.buckets();
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&ip) {
            // Full buckets say nothing a fresh one would not.
            buckets.retain(|_, b| self.refilled(*b, now) < burst);
            // Still full (many clients spending at once): the longest untouched goes, so
            // memory stays bounded whoever sends what.
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                let oldest = buckets
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    buckets.remove(&k);
                }
            }
        }
        let tokens = buckets.get(&ip).map_or(burst, |b| self.refilled(*b, now));
        if tokens >= 1.0 {
            buckets.insert(ip, (tokens - 1.0, now));
            Ok(())
        } else {
            buckets.insert(ip, (tokens, now));
            Err(self.wait(tokens))
        }
    }

    /// Gives back one request [`Self::take`] took from `ip` (never beyond the burst): for a
    /// caller that takes before it knows whether the request counts (so requests at once
    /// cannot all pass a check), then learns that it did not.
    pub(crate) fn refund(&self, ip: K, now: Instant) {
        let mut buckets = self.buckets();
        if let Some(b) = buckets.get_mut(&ip) {
            *b = ((self.refilled(*b, now) + 1.0).min(self.burst()), now);
        }
    }
}

/// `Retry-After` seconds for a wait, at least 1.
pub(crate) fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The client's address: the TCP peer, or on the leader of a cluster, for a request another
/// node forwarded, the address that node vouches for ([`crate::forward::CLIENT`], signed with
/// the database's key). Without `control` (no engine to check a signature with) the peer.
pub(crate) fn client_addr(
    control: Option<&EngineControl>,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> IpAddr {
    let vouched = || {
        let control = control?;
        let ip = headers.get(crate::forward::CLIENT)?.to_str().ok()?;
        let sig = headers
            .get(crate::forward::CLIENT_SIGNATURE)?
            .to_str()
            .ok()?;
        if !control.link_tokens().verify_client(ip, sig) {
            tracing::info!(
                client = ip,
                "a forwarded client address with a wrong signature was ignored"
            );
            return None;
        }
        ip.parse::<IpAddr>().ok()
    };
    let ip = vouched().unwrap_or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
    });
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address as counted by a [`Limiter`]: [`client_addr`], IPv6 cut to its /64
/// (one host usually holds a whole /64), so each client keeps its own allowance whichever
/// node it reached.
pub(crate) fn client_ip(
    control: &EngineControl,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> IpAddr {
    counted(client_addr(Some(control), headers, extensions))
}

/// `addr` as a [`Limiter`] counts it: IPv6 cut to its /64.
pub(crate) fn counted(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_one_per_refill() {
        let limiter = Limiter::new(RateLimit {
            burst: 3,
            refill_every: Duration::from_secs(6),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take(ip, t0).unwrap();
        }
        let wait = limiter.take(ip, t0).unwrap_err();
        assert_eq!(retry_after(wait), 6);
        // Another client is not affected.
        limiter.take(other, t0).unwrap();
        // Three seconds later, still half a token short.
        assert_eq!(
            retry_after(limiter.take(ip, t0 + Duration::from_secs(3)).unwrap_err()),
            3
        );
        limiter.take(ip, t0 + Duration::from_secs(6)).unwrap();
        assert!(limiter.take(ip, t0 + Duration::from_secs(6)).is_err());
        // A long pause refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            limiter.take(ip, later).unwrap();
        }
        assert!(limiter.take(ip, later).is_err());
        // Looking does not spend.
        let fresh: IpAddr = "192.0.2.3".parse().unwrap();
        for _ in 0..10 {
            limiter.check(fresh, later).unwrap();
        }
        limiter.take(fresh, later).unwrap();
        assert!(limiter.check(ip, later).is_err());
    }

    #[test]
    fn a_refund_gives_back_one_request_up_to_the_burst() {
        let limiter: Limiter<String> = Limiter::new(RateLimit {
            burst: 2,
            refill_every: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let key = || "ada@acme.test".to_owned();
        limiter.take(key(), t0).unwrap();
        limiter.take(key(), t0).unwrap();
        assert!(limiter.check(key(), t0).is_err());
        limiter.refund(key(), t0);
        limiter.take(key(), t0).unwrap();
        // Refunds never raise a bucket above its burst, nor create one.
        for _ in 0..5 {
            limiter.refund(key(), t0);
            limiter.refund("other".to_owned(), t0);
        }
        limiter.take(key(), t0).unwrap();
        limiter.take(key(), t0).unwrap();
        assert!(limiter.take(key(), t0).is_err());
    }

    #[test]
    fn a_stranger_spending_from_endless_keys_cannot_grow_the_table() {
        let limiter: Limiter<String> = Limiter::new(RateLimit {
            burst: 5,
            refill_every: Duration::from_secs(180),
        });
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_CLIENTS + 500 {
            // Each key spent and not full again: none is forgotten for being full.
            limiter.take(format!("guess-{i}@example.com"), t0).unwrap();
        }
        assert_eq!(limiter.buckets().len(), MAX_TRACKED_CLIENTS);
        // The newest are kept.
        let newest = format!("guess-{}@example.com", MAX_TRACKED_CLIENTS + 499);
        assert!(limiter.buckets().contains_key(&newest));
    }
}
