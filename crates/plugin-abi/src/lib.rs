//! The contract between the host and its plugins, beside the WIT world itself
//! (`plugin-sdk/wit`): the world's name and version, and the metadata a plugin carries in a
//! custom section of its component. The SDK writes that metadata and the host reads it; both
//! take the constants from here, so they exist once.

#![warn(missing_docs)]

/// The plugin world (with its version) as a string literal, for `concat!` (see [`WORLD`]).
#[macro_export]
macro_rules! world_literal {
    () => {
        "nightshift:plugin/plugin@0.1.0"
    };
}

/// The metadata format as a string literal, for `concat!` (see [`METADATA_FORMAT`]).
#[macro_export]
macro_rules! metadata_format_literal {
    () => {
        "nightshift.plugin-metadata/v1"
    };
}

/// The plugin world, with its version, that this host runs and the SDK binds.
pub const WORLD: &str = world_literal!();

/// The custom section of a component that holds its plugin metadata. (The SDK's
/// `link_section` attribute needs it as a literal; a test of the SDK checks they agree.)
pub const METADATA_SECTION: &str = "nightshift-plugin";

/// The format of the metadata: UTF-8 text, one `key=value` per line; `env` and `network` may
/// repeat.
pub const METADATA_FORMAT: &str = metadata_format_literal!();

/// What a plugin says about itself, from its metadata section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// The WIT world it was built against.
    pub world: String,
    /// The capabilities it asks for.
    pub requests: Requests,
    /// The JSON Schema of its params, if it declares one.
    pub params_schema: Option<serde_json::Value>,
}

/// Capabilities a plugin asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requests {
    /// It reads the directories it is granted.
    pub read: bool,
    /// It writes the directories it is granted.
    pub write: bool,
    /// Environment variables it needs.
    pub env: Vec<String>,
    /// Hosts it connects to.
    pub network: Vec<String>,
    /// It needs the real clocks and randomness.
    pub real_clocks: bool,
}

impl Metadata {
    /// Reads metadata text in the [`METADATA_FORMAT`]. Unknown keys and lines without `=`
    /// are ignored, so newer plugins stay readable; a params schema that is not JSON is
    /// dropped (the params then go undescribed).
    pub fn parse(text: &str) -> Metadata {
        let mut meta = Metadata::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.to_owned();
            match key {
                "name" => meta.name = value,
                "version" => meta.version = value,
                "description" => meta.description = value,
                "world" => meta.world = value,
                "read" => meta.requests.read = value == "true",
                "write" => meta.requests.write = value == "true",
                "env" => meta.requests.env.push(value),
                "network" => meta.requests.network.push(value),
                "real_clocks" => meta.requests.real_clocks = value == "true",
                "params_schema" => meta.params_schema = serde_json::from_str(&value).ok(),
                _ => {}
            }
        }
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_ignores_the_rest() {
        let text = concat!(
            "format=",
            metadata_format_literal!(),
            "\nname=scan\nversion=1.2.0\ndescription=a = b\nworld=",
            world_literal!(),
            "\nread=true\nenv=A\nenv=B\nnetwork=example.org:443\n",
            "params_schema={\"type\":\"object\"}\nfuture=1\nno equals sign\n"
        );
        let meta = Metadata::parse(text);
        assert_eq!(meta.name, "scan");
        assert_eq!(meta.description, "a = b");
        assert_eq!(meta.world, WORLD);
        assert!(meta.requests.read && !meta.requests.write && !meta.requests.real_clocks);
        assert_eq!(meta.requests.env, ["A", "B"]);
        assert_eq!(meta.requests.network, ["example.org:443"]);
        assert_eq!(
            meta.params_schema,
            Some(serde_json::json!({"type": "object"}))
        );
    }

    #[test]
    fn a_schema_that_is_not_json_is_dropped() {
        assert_eq!(Metadata::parse("params_schema={nope").params_schema, None);
    }
}

/// How loud a log line is: the levels of the world's `log` function, which the journal also
/// uses for the host's own events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// For plugin authors.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The word stored in the journal and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .find(|level| level.as_str() == text)
        .ok_or_else(|| format!("unknown log level `{text}`"))
    }
}
