//! How Prometheus spreads scrapes over the interval (`scrape/target.go`
//! `Target.offset`, `scrape/manager.go` `setOffsetSeed`): each target waits an
//! offset derived from its hash before its first scrape, so a fleet of targets
//! is scraped evenly across the interval, at the same phase after every restart.

use std::time::Duration;

use crate::labels::Labels;

/// FNV-1a 64-bit hash (Go's `hash/fnv.New64a`).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// Prometheus's per-process offset seed: FNV-1a 64 of the host's fully
/// qualified name followed by the external labels' `{a="1", b="2"}` text.
/// Prometheus servers with the same name and external labels scrape a target at
/// the same phase; different ones (an HA pair with a `replica` label) do not.
pub fn offset_seed(hostname: &str, external_labels: &Labels) -> u64 {
    let mut text = String::from(hostname);
    text.push_str(&external_labels.to_prometheus_string());
    fnv1a_64(text.as_bytes())
}

/// Prometheus's `Target.offset`: how long to wait, from `now_unix_nanos`, before
/// the target's first scrape. The result is in `(0, interval]`: the scrape
/// phase within each interval-long slot of absolute time is
/// `(target_hash ^ offset_seed) % interval`. `target_hash` is
/// [`crate::target::Target::hash`]. A zero `interval` gives zero.
pub fn offset(
    interval: Duration,
    target_hash: u64,
    offset_seed: u64,
    now_unix_nanos: i64,
) -> Duration {
    let interval_nanos = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
    if interval_nanos == 0 {
        return Duration::ZERO;
    }
    // Go's `%` truncates toward zero, as Rust's does.
    let base = interval_nanos - now_unix_nanos % interval_nanos;
    let phase = (target_hash ^ offset_seed) % interval_nanos as u64;
    let mut next = base + phase as i64;
    if next > interval_nanos {
        next -= interval_nanos;
    }
    Duration::from_nanos(next.max(0) as u64)
}

/// [`offset`] from the current wall-clock time (what Prometheus's
/// `Target.offset` does); a clock before 1970 counts as the epoch.
pub fn offset_from_now(interval: Duration, target_hash: u64, offset_seed: u64) -> Duration {
    let now_unix_nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since_epoch| {
            i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
        });
    offset(interval, target_hash, offset_seed, now_unix_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference test suite (and Go's hash/fnv tests).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn offset_is_the_hash_phase_within_the_current_slot() {
        let second = Duration::from_secs(1);
        let nanos_per_second = 1_000_000_000i64;
        let phase = 250_000_000u64;
        // At the start of a slot the wait is the phase itself.
        assert_eq!(
            offset(second, phase, 0, 5 * nanos_per_second),
            Duration::from_millis(250)
        );
        // 100ms into the slot the first scrape still lands at phase 250ms.
        assert_eq!(
            offset(second, phase, 0, 5 * nanos_per_second + 100_000_000),
            Duration::from_millis(150)
        );
        // Past the phase, it lands at the phase of the next slot.
        assert_eq!(
            offset(second, phase, 0, 5 * nanos_per_second + 400_000_000),
            Duration::from_millis(850)
        );
        // Phase 0 at a slot start waits a whole interval (never zero).
        assert_eq!(offset(second, 0, 0, 5 * nanos_per_second), second);
        // The seed is XORed into the hash before taking the phase.
        assert_eq!(
            offset(second, phase ^ 0xdead, 0xdead, 5 * nanos_per_second),
            Duration::from_millis(250)
        );
        // Hash bigger than the interval: only the remainder counts.
        assert_eq!(
            offset(second, 7 * 1_000_000_000 + phase, 0, 5 * nanos_per_second),
            Duration::from_millis(250)
        );
        assert_eq!(offset(Duration::ZERO, 1, 2, 3), Duration::ZERO);
        let from_now = offset_from_now(second, phase, 0);
        assert!(from_now > Duration::ZERO && from_now <= second);
    }

    #[test]
    fn seed_hashes_hostname_and_external_labels_text() {
        let labels = Labels::from_pairs([("replica", "a")]);
        assert_eq!(
            offset_seed("host.example", &labels),
            fnv1a_64(br#"host.example{replica="a"}"#)
        );
        assert_eq!(offset_seed("h", &Labels::new()), fnv1a_64(b"h{}"));
    }
}
