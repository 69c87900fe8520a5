//! The pipeline file as written: the TOML shape, before any check.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipeline {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Parameters and their defaults; `--param KEY=VALUE` overrides them.
    #[serde(default)]
    pub(crate) params: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "step")]
    pub(crate) steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) plugin: Option<String>,
    #[serde(default)]
    pub(crate) command: Option<String>,
    #[serde(default)]
    pub(crate) args: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) stdin: Option<String>,
    #[serde(default)]
    pub(crate) check: bool,
    #[serde(default)]
    pub(crate) params: Option<toml::Table>,
    #[serde(default)]
    pub(crate) grants: RawGrants,
    /// Attempts after the first, for retryable failures.
    #[serde(default)]
    pub(crate) retries: u32,
    /// The delay before the first retry; it doubles with each retry.
    #[serde(default)]
    pub(crate) retry_backoff: Option<String>,
    /// Whether a timeout is retryable.
    #[serde(default)]
    pub(crate) retry_timeouts: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrants {
    #[serde(default)]
    pub(crate) read: Vec<String>,
    #[serde(default)]
    pub(crate) write: Vec<String>,
    #[serde(default)]
    pub(crate) env: Vec<String>,
    #[serde(default)]
    pub(crate) network: Vec<String>,
    #[serde(default)]
    pub(crate) timeout: Option<String>,
    #[serde(default)]
    pub(crate) memory: Option<String>,
    #[serde(default)]
    pub(crate) output: Option<String>,
    #[serde(default)]
    pub(crate) fuel: Option<u64>,
    #[serde(default)]
    pub(crate) handles: Option<u64>,
    #[serde(default)]
    pub(crate) write_quota: Option<String>,
    #[serde(default)]
    pub(crate) logs: Option<String>,
    #[serde(default)]
    pub(crate) data: Option<String>,
    #[serde(default)]
    pub(crate) clocks: Option<String>,
}
