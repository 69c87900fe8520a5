//! The memory cap of a step, remembering when the guest hit it so its error can say so.

use wasmtime::ResourceLimiter;

#[derive(Debug)]
pub(crate) struct MemoryCap {
    max_bytes: usize,
    /// The size a refused `memory.grow` asked for, if any.
    pub(crate) refused: Option<usize>,
}

impl MemoryCap {
    pub(crate) fn new(max_bytes: u64) -> Self {
        MemoryCap {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            refused: None,
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold references, a few bytes each: a million is far beyond any real plugin.
        Ok(desired <= 1_000_000)
    }

    fn instances(&self) -> usize {
        1_000
    }

    fn memories(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        1_000
    }
}
