//! When checks run. Each monitor gets a phase inside its interval, so 10,000 monitors at 30 s
//! spread evenly instead of firing together; the first check after start-up comes quickly
//! (within a few seconds), later ones land on the monitor's phase grid. A check that overruns
//! its slot skips the missed slots rather than bunching up.

use std::time::Duration;

/// Longest wait before a monitor's first check after start-up.
pub const MAX_FIRST_CHECK_DELAY: Duration = Duration::from_secs(5);

/// Delay of the first check after start-up: `jitter` (0..1) of at most
/// [`MAX_FIRST_CHECK_DELAY`] or the interval, whichever is shorter.
pub fn first_delay(interval: Duration, jitter: f64) -> Duration {
    interval
        .min(MAX_FIRST_CHECK_DELAY)
        .mul_f64(jitter.clamp(0.0, 1.0))
}

/// The next due time, as an offset from the engine's start, after a check that was due at
/// `last_due`. Due times sit on the grid `phase + k × interval`; the next one is the first
/// grid point at least half an interval after `last_due` (so the fast first check is not
/// followed by a second one moments later) and not before `now` (missed slots are skipped).
pub fn next_due(
    last_due: Duration,
    now: Duration,
    interval: Duration,
    phase: Duration,
) -> Duration {
    let interval_ns = interval.as_nanos().max(1);
    let earliest = (last_due + interval / 2).max(now);
    let phase = phase.as_nanos() % interval_ns;
    let e = earliest.as_nanos();
    let k = if e <= phase {
        0
    } else {
        (e - phase).div_ceil(interval_ns)
    };
    let due = phase + k * interval_ns;
    Duration::from_nanos(u64::try_from(due).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn lands_on_the_phase_grid() {
        // First check at 2 s, phase 10 s in a 30 s interval: 10 s is less than half an
        // interval after 2 s, so the next grid point, 40 s, is used.
        assert_eq!(next_due(2 * S, 2 * S, 30 * S, 10 * S), 40 * S);
        // Phase 20 s: 20 ≥ 2 + 15, so the next is 20 s.
        assert_eq!(next_due(2 * S, 2 * S, 30 * S, 20 * S), 20 * S);
        // Steady state: exactly one interval later.
        assert_eq!(next_due(40 * S, 40 * S + S / 10, 30 * S, 10 * S), 70 * S);
    }

    #[test]
    fn skips_missed_slots_after_an_overrun() {
        // Due at 40 s, but the check finished at 105 s: slots 70 and 100 are gone.
        assert_eq!(next_due(40 * S, 105 * S, 30 * S, 10 * S), 130 * S);
    }

    #[test]
    fn first_check_is_soon() {
        assert_eq!(first_delay(30 * S, 1.0), 5 * S);
        assert_eq!(first_delay(2 * S, 0.5), S);
    }
}
