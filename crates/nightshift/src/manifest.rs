//! Pipeline files (TOML) → a checked [`Plan`].
//!
//! Every error names the file, the step and the field, so a user can go straight to it.
//! Architecture invariant: a [`Plan`] only holds grants that are safe to give: directories
//! inside the workspace and outside the state directory.

mod grants;
mod raw;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use grants::normalize;
pub use nightshift_sandbox::units::{format_size, parse_duration, parse_size};

use crate::catalog::{Catalog, ComponentSource};
use crate::journal::ComponentKind;
use crate::sandbox::Grants;
use raw::{RawPipeline, RawStep};

/// A pipeline that cannot be run as written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read pipeline {path}: {cause}")]
    Read {
        /// The pipeline file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The workspace is not a usable directory.
    #[error("workspace {path}: {message}")]
    Workspace {
        /// The workspace given.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is not valid TOML.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The pipeline file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field has a wrong or missing value.
    #[error("{file}: {location}field `{field}`: {message}")]
    Field {
        /// The pipeline file.
        file: PathBuf,
        /// Which step, when the field belongs to one.
        location: StepLocation,
        /// The field, e.g. `grants.read[0]`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Names a step in an error: `step `scan` (#1): `.
#[derive(Debug, Clone, Default)]
pub struct StepLocation(Option<(usize, String)>);

impl fmt::Display for StepLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some((index, id)) if id.is_empty() => write!(f, "step #{}: ", index + 1),
            Some((index, id)) => write!(f, "step `{id}` (#{}): ", index + 1),
            None => Ok(()),
        }
    }
}

/// What a pipeline is run with.
#[derive(Debug, Clone)]
pub struct LoadOptions<'a> {
    /// The directory the task works in; grants are relative to it.
    pub workspace: &'a Path,
    /// The state directory (canonical), which no grant may expose.
    pub state_dir: &'a Path,
    /// `--param KEY=VALUE` overrides.
    pub params: &'a [(String, String)],
    /// Where plugins are looked up.
    pub catalog: &'a Catalog,
}

/// A checked pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The pipeline's name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The pipeline file.
    pub source: PathBuf,
    /// blake3 of the pipeline file.
    pub digest: String,
    /// The pipeline file's text.
    pub text: String,
    /// The canonical workspace.
    pub workspace: PathBuf,
    /// The effective parameters.
    pub params: BTreeMap<String, String>,
    /// The steps, in order.
    pub steps: Vec<StepPlan>,
}

/// One checked step.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// The step's id, unique in the pipeline.
    pub id: String,
    /// What runs.
    pub kind: StepKind,
    /// A check step exists to verify: it may not write, and its checks decide the task.
    pub check: bool,
    /// What it may touch: what the pipeline granted and the plugin requested.
    pub grants: Grants,
    /// Grants the pipeline gave that the plugin did not request, so it does not get them.
    pub withdrawn: Vec<String>,
    /// When a failed attempt is tried again.
    pub retry: RetryPolicy,
}

/// When a step's failed attempt is tried again: only for retryable errors (a plugin's
/// `retryable`, a timeout if `on_timeout`), never for fatal ones or denied capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The delay before the first retry; each later one doubles it, with jitter.
    pub backoff: std::time::Duration,
    /// Whether a timeout is retryable.
    pub on_timeout: bool,
}

/// The delay before the first retry when a pipeline names none.
pub const DEFAULT_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest a retry ever waits.
pub const MAX_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(300);

/// Retries this many at most, whatever the pipeline says.
const MAX_RETRIES: u32 = 100;

/// The two kinds of step.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// A component of the `nightshift:plugin` world, given `params` as JSON.
    Plugin {
        /// The component.
        component: ComponentSource,
        /// The step's params, after parameter substitution.
        params: serde_json::Value,
    },
    /// Any `wasi:cli/command` component, run with arguments and standard input.
    Command {
        /// The component.
        component: ComponentSource,
        /// Arguments after the program name.
        args: Vec<String>,
        /// Standard input.
        stdin: Option<String>,
    },
}

impl StepKind {
    /// What kind of component it runs.
    pub fn component_kind(&self) -> ComponentKind {
        match self {
            StepKind::Plugin { .. } => ComponentKind::Plugin,
            StepKind::Command { .. } => ComponentKind::Command,
        }
    }

    /// The component the step runs.
    pub fn component(&self) -> &ComponentSource {
        match self {
            StepKind::Plugin { component, .. } | StepKind::Command { component, .. } => component,
        }
    }
}

impl Plan {
    /// Reads and checks the pipeline at `path`.
    pub fn load(path: &Path, options: &LoadOptions<'_>) -> Result<Plan, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        Plan::parse(path, bytes, options)
    }

    /// Checks pipeline text as if read from `path` (plugin paths are relative to its directory).
    pub fn parse(
        path: &Path,
        bytes: Vec<u8>,
        options: &LoadOptions<'_>,
    ) -> Result<Plan, ManifestError> {
        let workspace = options
            .workspace
            .canonicalize()
            .map_err(|e| ManifestError::Workspace {
                path: options.workspace.to_path_buf(),
                message: e.to_string(),
            })?;
        if !workspace.is_dir() {
            return Err(ManifestError::Workspace {
                path: workspace,
                message: "is not a directory".into(),
            });
        }
        let loader = Loader {
            file: path,
            options,
            workspace: &workspace,
        };
        let text = String::from_utf8(bytes.clone()).map_err(|_| ManifestError::Syntax {
            file: path.to_path_buf(),
            message: "the file is not UTF-8".into(),
        })?;
        let raw = loader.parse(&text)?;
        let plan_params = loader.params(&raw)?;
        let mut seen = HashSet::new();
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (index, step) in raw.steps.iter().enumerate() {
            let location = StepLocation(Some((index, step.id.clone())));
            if !seen.insert(step.id.as_str()) {
                return Err(loader.field(
                    location,
                    "id",
                    format!("`{}` is used by an earlier step", step.id),
                ));
            }
            steps.push(loader.step(step, location, &plan_params)?);
        }
        if steps.is_empty() {
            return Err(loader.field(
                StepLocation::default(),
                "step",
                "the pipeline has no steps; add a [[step]]",
            ));
        }
        Ok(Plan {
            name: raw.name,
            description: raw.description,
            source: path.to_path_buf(),
            digest: crate::evidence::digest(&bytes),
            text,
            workspace,
            params: plan_params,
            steps,
        })
    }
}

struct Loader<'a> {
    file: &'a Path,
    options: &'a LoadOptions<'a>,
    workspace: &'a Path,
}

impl Loader<'_> {
    fn field(
        &self,
        location: StepLocation,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::Field {
            file: self.file.to_path_buf(),
            location,
            field: field.into(),
            message: message.into(),
        }
    }

    fn parse(&self, text: &str) -> Result<RawPipeline, ManifestError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            file: self.file.to_path_buf(),
            message: e.to_string().trim().to_owned(),
        })?;
        let steps = value
            .get("step")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
            let path = e.path().to_string();
            let (location, field) = locate(&path, &steps);
            let message = e.into_inner().to_string();
            let message = message.lines().next().unwrap_or_default().to_owned();
            self.field(location, field, message)
        })
    }

    fn params(&self, raw: &RawPipeline) -> Result<BTreeMap<String, String>, ManifestError> {
        let mut params = BTreeMap::new();
        for (key, value) in &raw.params {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(self.field(
                        StepLocation::default(),
                        format!("params.{key}"),
                        "must be a string, number or boolean",
                    ));
                }
            };
            params.insert(key.clone(), text);
        }
        for (key, value) in self.options.params {
            if !params.contains_key(key) {
                let declared = if params.is_empty() {
                    "it declares none".to_owned()
                } else {
                    format!(
                        "it declares {}",
                        params
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(self.field(
                    StepLocation::default(),
                    format!("params.{key}"),
                    format!("--param {key} is not a parameter of this pipeline ({declared})"),
                ));
            }
            params.insert(key.clone(), value.clone());
        }
        Ok(params)
    }

    fn step(
        &self,
        raw: &RawStep,
        location: StepLocation,
        params: &BTreeMap<String, String>,
    ) -> Result<StepPlan, ManifestError> {
        let valid_id = !raw.id.is_empty()
            && raw
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_id {
            return Err(self.field(location, "id", "use letters, digits, `-` and `_` only"));
        }
        let substitute = |field: &str, text: &str| {
            substitute(text, params).map_err(|m| self.field(location.clone(), field.to_owned(), m))
        };
        let base_dir = self.file.parent().unwrap_or(Path::new("."));
        let resolve = |field: &str, reference: &str| {
            self.options
                .catalog
                .resolve(reference, base_dir)
                .map_err(|e| self.field(location.clone(), field.to_owned(), e.to_string()))
        };
        let kind = match (&raw.plugin, &raw.command) {
            (Some(plugin), None) => {
                if raw.args.is_some() || raw.stdin.is_some() {
                    let field = if raw.args.is_some() { "args" } else { "stdin" };
                    return Err(self.field(
                        location,
                        field,
                        "only a `command` step takes it; a plugin step takes `params`",
                    ));
                }
                let table = raw.params.clone().unwrap_or_default();
                let params =
                    substitute_json(toml_to_json(toml::Value::Table(table)), &|field, text| {
                        substitute(&format!("params.{field}"), text)
                    })?;
                StepKind::Plugin {
                    component: resolve("plugin", plugin)?,
                    params,
                }
            }
            (None, Some(command)) => {
                if raw.params.is_some() {
                    return Err(self.field(
                        location,
                        "params",
                        "a `command` step takes `args` and `stdin`, not `params`",
                    ));
                }
                let args = raw
                    .args
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, arg)| substitute(&format!("args[{i}]"), arg))
                    .collect::<Result<_, _>>()?;
                let stdin = raw
                    .stdin
                    .as_deref()
                    .map(|s| substitute("stdin", s))
                    .transpose()?;
                StepKind::Command {
                    component: resolve("command", command)?,
                    args,
                    stdin,
                }
            }
            (Some(_), Some(_)) => {
                return Err(self.field(
                    location,
                    "command",
                    "a step has either `plugin` or `command`, not both",
                ));
            }
            (None, None) => {
                return Err(self.field(
                    location,
                    "plugin",
                    "missing; name a `plugin` or a `command` to run",
                ));
            }
        };
        let cx = grants::GrantContext {
            workspace: self.workspace,
            state_dir: self.options.state_dir,
        };
        let grants = grants::resolve(&raw.grants, &cx)
            .map_err(|e| self.field(location.clone(), e.field, e.message))?;
        if raw.check && !grants.write.is_empty() {
            return Err(self.field(
                location,
                "grants.write",
                "a check step may not write; remove its write grants or `check = true`",
            ));
        }
        if let Some(meta) = &kind.component().metadata
            && meta.world != crate::catalog::WORLD
        {
            return Err(self.field(
                location,
                "plugin",
                format!(
                    "plugin `{}` was built against {}, but this nightshift runs plugins of {}; rebuild it with a matching nightshift-plugin-sdk",
                    kind.component().reference,
                    meta.world,
                    crate::catalog::WORLD
                ),
            ));
        }
        let (grants, withdrawn) = match kind.component().metadata.as_ref().map(|m| &m.requests) {
            Some(requests) if matches!(kind, StepKind::Plugin { .. }) => {
                grants::fit(grants, requests).map_err(|missing| {
                    self.field(
                        location.clone(),
                        "grants",
                        format!(
                            "plugin `{}` requests what this step does not grant: {}",
                            kind.component().reference,
                            missing.join("; ")
                        ),
                    )
                })?
            }
            _ => (grants, Vec::new()),
        };
        if raw.retries > MAX_RETRIES {
            return Err(self.field(location, "retries", format!("at most {MAX_RETRIES}")));
        }
        let backoff = match &raw.retry_backoff {
            Some(text) => parse_duration(text)
                .map_err(|m| self.field(location.clone(), "retry_backoff", m))?,
            None => DEFAULT_RETRY_BACKOFF,
        };
        Ok(StepPlan {
            id: raw.id.clone(),
            kind,
            check: raw.check,
            grants,
            withdrawn,
            retry: RetryPolicy {
                retries: raw.retries,
                backoff: backoff.min(MAX_RETRY_BACKOFF),
                on_timeout: raw.retry_timeouts,
            },
        })
    }
}

/// Splits a serde path like `step[1].grants.tmeout` into the step it names and the field.
fn locate(path: &str, steps: &[toml::Value]) -> (StepLocation, String) {
    let Some(rest) = path.strip_prefix("step[") else {
        return (StepLocation::default(), path.to_owned());
    };
    let Some((index, field)) = rest.split_once(']') else {
        return (StepLocation::default(), path.to_owned());
    };
    let Ok(index) = index.parse::<usize>() else {
        return (StepLocation::default(), path.to_owned());
    };
    let id = steps
        .get(index)
        .and_then(|s| s.get("id"))
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let field = field.trim_start_matches('.');
    let field = if field.is_empty() { "step" } else { field };
    (StepLocation(Some((index, id))), field.to_owned())
}

/// Replaces each `${name}` in `text` by the pipeline parameter `name`.
fn substitute(text: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
        let name = &after[..end];
        let value = params.get(name).ok_or_else(|| {
            format!("`${{{name}}}` names no parameter; declare it under [params]")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute_json(
    value: serde_json::Value,
    substitute: &dyn Fn(&str, &str) -> Result<String, ManifestError>,
) -> Result<serde_json::Value, ManifestError> {
    fn walk(
        value: serde_json::Value,
        path: &str,
        substitute: &dyn Fn(&str, &str) -> Result<String, ManifestError>,
    ) -> Result<serde_json::Value, ManifestError> {
        Ok(match value {
            serde_json::Value::String(s) => serde_json::Value::String(substitute(path, &s)?),
            serde_json::Value::Array(items) => serde_json::Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| walk(v, &format!("{path}[{i}]"), substitute))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        Ok((k, walk(v, &child, substitute)?))
                    })
                    .collect::<Result<_, ManifestError>>()?,
            ),
            other => other,
        })
    }
    walk(value, "", substitute)
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Value::from(f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
