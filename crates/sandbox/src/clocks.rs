//! Deterministic mode: virtual clocks that advance by a fixed step at every reading, and
//! randomness drawn from a seed, so a step with the same inputs gives the same outputs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Each reading of a virtual clock is this much later than the one before.
const TICK_NANOS: u64 = 1_000_000;
/// The virtual wall clock starts at 2000-01-01T00:00:00Z.
const WALL_START_SECS: u64 = 946_684_800;
/// Bytes of seeded randomness before the sequence repeats.
const RANDOM_BYTES: usize = 64 * 1024;

/// A wall clock that starts at 2000-01-01 and moves 1 ms per reading.
#[derive(Debug, Default)]
pub(crate) struct VirtualWallClock(AtomicU64);

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(TICK_NANOS)
    }

    fn now(&self) -> Duration {
        let ticks = self.0.fetch_add(1, Ordering::Relaxed);
        Duration::from_secs(WALL_START_SECS) + Duration::from_nanos(ticks * TICK_NANOS)
    }
}

/// A monotonic clock that starts at 0 and moves 1 ms per reading.
#[derive(Debug, Default)]
pub(crate) struct VirtualMonotonicClock(AtomicU64);

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        TICK_NANOS
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) * TICK_NANOS
    }
}

/// A random sequence derived from `seed` (blake3 in XOF mode), for both secure and
/// insecure randomness, and the insecure seed.
pub(crate) fn seeded(seed: &[u8; 32], purpose: &str) -> wasmtime_wasi::Deterministic {
    let mut bytes = vec![0u8; RANDOM_BYTES];
    blake3::Hasher::new_keyed(seed)
        .update(purpose.as_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    wasmtime_wasi::Deterministic::new(bytes)
}

/// The `wasi:random/insecure-seed` value for `seed`.
pub(crate) fn insecure_seed(seed: &[u8; 32]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&blake3::keyed_hash(seed, b"insecure-seed").as_bytes()[..16]);
    u128::from_le_bytes(bytes)
}
