//! How long a step waits before retrying: exponential backoff with jitter.

use std::time::Duration;

use crate::manifest::MAX_RETRY_BACKOFF;

/// The delay before retry `retry` (from 1): `base * 2^(retry - 1)`, capped, then scaled by a
/// random factor in [0.5, 1.0] so that tasks failing together do not retry together.
pub(super) fn backoff(base: Duration, retry: u32) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exponent).min(MAX_RETRY_BACKOFF);
    let mut random = [0u8; 2];
    // Without entropy the delay is simply not jittered.
    let jitter = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX),
        Err(_) => 1.0,
    };
    full.mul_f64(0.5 + 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_each_retry_within_jitter() {
        let base = Duration::from_millis(100);
        for retry in 1..=5 {
            let full = base * (1 << (retry - 1));
            let delay = backoff(base, retry);
            assert!(
                delay >= full / 2 && delay <= full,
                "retry {retry}: {delay:?}"
            );
        }
    }

    #[test]
    fn never_waits_longer_than_the_cap() {
        assert!(backoff(Duration::from_secs(60), 30) <= MAX_RETRY_BACKOFF);
    }
}
