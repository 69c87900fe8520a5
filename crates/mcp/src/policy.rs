//! The MCP policy: the most that work started by an MCP client may be granted (directories,
//! hosts, environment variables, time, memory) and which plugins are exposed as tools.
//!
//! A client never writes grants: they come from the pipeline file, and a plan whose steps
//! need more than the policy allows is refused, naming everything that is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use nightshift::manifest::{Plan, format_size, normalize, parse_duration, parse_size};
use nightshift::sandbox::Limits;

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {cause}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("policy {path}: {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// The policy file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    max_timeout: Option<String>,
    #[serde(default)]
    max_memory: Option<String>,
    #[serde(default)]
    plugins: Vec<String>,
}

/// What MCP-started work may have at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Directories (relative to the workspace, normalized; `.` is all of it) that may be read.
    pub read: Vec<String>,
    /// Directories that may be written (and read).
    pub write: Vec<String>,
    /// Hosts that may be reached (`host`, `host:port` or `*.domain`).
    pub network: Vec<String>,
    /// Environment variables that may be passed.
    pub env: Vec<String>,
    /// The longest wall-clock time a step may be given.
    pub max_timeout: Duration,
    /// The most memory a step may be given.
    pub max_memory: u64,
    /// Plugins exposed as tools.
    pub plugins: Vec<String>,
}

impl Default for Policy {
    /// Without `--policy`: read the workspace, write nothing, no network, no environment,
    /// the sandbox's default limits, and no plugin exposed as a tool.
    fn default() -> Self {
        let limits = Limits::default();
        Policy {
            read: vec![".".to_owned()],
            write: Vec::new(),
            network: Vec::new(),
            env: Vec::new(),
            max_timeout: limits.timeout,
            max_memory: limits.memory_bytes,
            plugins: Vec::new(),
        }
    }
}

impl Policy {
    /// Reads and checks the policy file at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PolicyError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Policy::parse(&text).map_err(|message| PolicyError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Checks policy text.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let defaults = Policy::default();
        let dirs = |field: &str, dirs: &[String]| {
            dirs.iter()
                .enumerate()
                .map(|(i, dir)| {
                    relative(dir).ok_or_else(|| {
                        format!("{field}[{i}]: `{dir}` is not a directory inside the workspace")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let max_timeout = match &raw.max_timeout {
            Some(text) => parse_duration(text).map_err(|m| format!("max_timeout: {m}"))?,
            None => defaults.max_timeout,
        };
        let max_memory = match &raw.max_memory {
            Some(text) => parse_size(text).map_err(|m| format!("max_memory: {m}"))?,
            None => defaults.max_memory,
        };
        for (i, name) in raw.plugins.iter().enumerate() {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(format!(
                    "plugins[{i}]: `{name}` is not a plugin name; paths to .wasm files are refused"
                ));
            }
        }
        Ok(Policy {
            read: dirs("read", &raw.read)?,
            write: dirs("write", &raw.write)?,
            network: raw.network,
            env: raw.env,
            max_timeout,
            max_memory,
            plugins: raw.plugins,
        })
    }

    /// Whether the policy lets `dir` (relative to the workspace, normalized) be read.
    fn may_read(&self, dir: &str) -> bool {
        self.read.iter().chain(&self.write).any(|p| covers(p, dir))
    }

    fn may_write(&self, dir: &str) -> bool {
        self.write.iter().any(|p| covers(p, dir))
    }

    fn may_reach(&self, host: &str) -> bool {
        self.network.iter().any(|allowed| {
            allowed == host
                || allowed
                    .strip_prefix("*.")
                    .is_some_and(|domain| host.ends_with(&format!(".{domain}")))
        })
    }

    /// Everything the steps of `plan` are granted beyond this policy, one line each, naming
    /// the step; empty when the plan fits.
    pub fn excess(&self, plan: &Plan) -> Vec<String> {
        let mut missing = Vec::new();
        for step in &plan.steps {
            let grants = &step.grants;
            let mut say = |what: String| missing.push(format!("step `{}`: {what}", step.id));
            for dir in &grants.read {
                if !self.may_read(&dir.guest) {
                    say(format!(
                        "read `{}` (the policy allows reading {})",
                        dir.guest,
                        list(&self.read)
                    ));
                }
            }
            for dir in &grants.write {
                if !self.may_write(&dir.guest) {
                    say(format!(
                        "write `{}` (the policy allows writing {})",
                        dir.guest,
                        list(&self.write)
                    ));
                }
            }
            for host in grants.network.iter().filter(|h| !self.may_reach(h)) {
                say(format!(
                    "network `{host}` (the policy allows {})",
                    list(&self.network)
                ));
            }
            for name in grants.env.iter().filter(|n| !self.env.contains(n)) {
                say(format!(
                    "env `{name}` (the policy allows {})",
                    list(&self.env)
                ));
            }
            if grants.limits.timeout > self.max_timeout {
                say(format!(
                    "timeout {}s (the policy allows at most {}s; set a smaller `grants.timeout`)",
                    grants.limits.timeout.as_secs_f64(),
                    self.max_timeout.as_secs_f64()
                ));
            }
            if grants.limits.memory_bytes > self.max_memory {
                say(format!(
                    "memory {} (the policy allows at most {}; set a smaller `grants.memory`)",
                    format_size(grants.limits.memory_bytes),
                    format_size(self.max_memory)
                ));
            }
        }
        missing
    }
}

/// `dir` as a normalized path relative to the workspace (`.` for all of it), or `None` if it
/// is absolute or climbs out.
fn relative(dir: &str) -> Option<String> {
    let path = Path::new(dir);
    if dir.is_empty() || path.is_absolute() {
        return None;
    }
    let normal = normalize(path)?;
    Some(if normal.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        normal.to_string_lossy().replace('\\', "/")
    })
}

/// Whether the allowed directory `allowed` contains `dir` (both normalized and relative).
fn covers(allowed: &str, dir: &str) -> bool {
    allowed == "." || dir == allowed || dir.starts_with(&format!("{allowed}/"))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl nightshift::fault::Classify for PolicyError {
    fn fault(&self) -> nightshift::fault::Fault {
        match self {
            PolicyError::Read { .. } | PolicyError::Invalid { .. } => {
                nightshift::fault::Fault::Input
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_policy_and_refuses_escapes_and_unknown_fields() {
        let policy = Policy::parse(
            "read = [\"./src/..\"]\nwrite = [\"out\"]\nnetwork = [\"*.example.com\"]\nmax_timeout = \"60s\"\nmax_memory = \"64MiB\"\nplugins = [\"file-stats\"]\n",
        )
        .expect("valid policy");
        assert_eq!(policy.read, ["."]);
        assert_eq!(policy.write, ["out"]);
        assert_eq!(policy.max_timeout, Duration::from_secs(60));
        assert_eq!(policy.max_memory, 64 << 20);
        assert!(policy.may_reach("api.example.com"));
        assert!(!policy.may_reach("example.org"));
        assert!(policy.may_write("out/deep") && !policy.may_write("outside"));

        let escape = Policy::parse("write = [\"../x\"]").expect_err("escape");
        assert!(escape.contains("write[0]"), "{escape}");
        let absolute = Policy::parse("read = [\"/etc\"]").expect_err("absolute");
        assert!(absolute.contains("read[0]"), "{absolute}");
        let path = Policy::parse("plugins = [\"../evil.wasm\"]").expect_err("a path");
        assert!(path.contains("plugins[0]"), "{path}");
        let unknown = Policy::parse("grants = 1").expect_err("unknown field");
        assert!(unknown.contains("grants"), "{unknown}");
    }

    #[test]
    fn the_default_policy_reads_the_workspace_and_nothing_more() {
        let policy = Policy::default();
        assert!(policy.may_read("src"));
        assert!(!policy.may_write("."));
        assert!(!policy.may_reach("example.com"));
        assert!(policy.plugins.is_empty());
    }
}
