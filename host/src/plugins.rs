//! Finds the component a step names: a path to a `.wasm` file, a plugin installed in the state
//! directory (`plugins/<name>.wasm`), or one of the plugins bundled in this binary (built from
//! `plugins/` in the repository).

use std::path::{Path, PathBuf};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));

/// Where a component came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built from `plugins/` and embedded in the binary.
    Bundled,
    /// Installed in the state directory.
    Installed(PathBuf),
    /// A file named by path.
    File(PathBuf),
}

/// What a plugin says about itself, from the `nightshift-plugin` custom section the SDK
/// writes (format `nightshift.plugin-metadata/v1`: UTF-8 `key=value` lines).
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

/// The plugin world (with its version) this host runs.
pub const WORLD: &str = "nightshift:plugin/plugin@0.1.0";

/// The custom section that holds plugin metadata.
const METADATA_SECTION: &str = "nightshift-plugin";

/// What a `.wasm` file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Component,
    Module,
}

/// Reads the encoding and the plugin metadata (if any) of WebAssembly bytes.
fn inspect(bytes: &[u8]) -> Result<(Encoding, Option<Metadata>), String> {
    use wasmtime::wasmparser::{Encoding as Wasm, Parser, Payload};
    let mut encoding = None;
    let mut metadata = None;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("not valid WebAssembly: {e}"))? {
            Payload::Version {
                encoding: found, ..
            } if encoding.is_none() => {
                encoding = Some(if found == Wasm::Component {
                    Encoding::Component
                } else {
                    Encoding::Module
                });
            }
            Payload::CustomSection(section)
                if section.name() == METADATA_SECTION && metadata.is_none() =>
            {
                metadata = Some(parse_metadata(&String::from_utf8_lossy(section.data())));
            }
            _ => {}
        }
    }
    Ok((
        encoding.ok_or("empty file: no WebAssembly header")?,
        metadata,
    ))
}

fn parse_metadata(text: &str) -> Metadata {
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
            // A schema that is not JSON is ignored: params then go undescribed.
            "params_schema" => meta.params_schema = serde_json::from_str(&value).ok(),
            _ => {}
        }
    }
    meta
}

/// A component's bytes and identity.
#[derive(Debug, Clone)]
pub struct ComponentSource {
    /// The reference as written in the pipeline.
    pub reference: String,
    /// Where it came from.
    pub origin: Origin,
    /// The component.
    pub bytes: Arc<[u8]>,
    /// blake3 of the bytes.
    pub digest: String,
    /// What the plugin declares about itself, if it carries metadata.
    pub metadata: Option<Metadata>,
}

/// Errors finding a component.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No plugin of that name exists.
    #[error(
        "no plugin named `{name}` (bundled: {bundled}; installed: {installed}); give a path to a .wasm file to use another"
    )]
    Unknown {
        /// The name asked for.
        name: String,
        /// The bundled plugin names.
        bundled: String,
        /// The installed plugin names.
        installed: String,
    },
    /// A plugin name that cannot be a file name.
    #[error("`{0}` is not a plugin name: use letters, digits, `-` and `_`")]
    BadName(String),
    /// The bytes are not a WebAssembly component.
    #[error("`{reference}` is not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A component file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The places plugins are looked up in.
#[derive(Debug, Clone)]
pub struct Catalog {
    installed_dir: PathBuf,
}

impl Catalog {
    /// A catalog of the bundled plugins and those installed in `installed_dir`.
    pub fn new(installed_dir: impl Into<PathBuf>) -> Self {
        Catalog {
            installed_dir: installed_dir.into(),
        }
    }

    /// The names of the bundled plugins.
    pub fn bundled_names() -> impl Iterator<Item = &'static str> {
        BUNDLED.iter().map(|(name, _)| *name)
    }

    /// Finds `reference`: a path (containing `/` or ending in `.wasm`, relative to `base_dir`),
    /// else an installed plugin, else a bundled one.
    pub fn resolve(
        &self,
        reference: &str,
        base_dir: &Path,
    ) -> Result<ComponentSource, LookupError> {
        if reference.contains('/') || reference.ends_with(".wasm") {
            let path = base_dir.join(reference);
            return read(reference, &path, Origin::File(path.clone()));
        }
        let installed = self.installed_dir.join(format!("{reference}.wasm"));
        if installed.is_file() {
            return read(reference, &installed, Origin::Installed(installed.clone()));
        }
        if let Some((_, bytes)) = BUNDLED.iter().find(|(name, _)| *name == reference) {
            return source(reference, Origin::Bundled, Arc::from(*bytes));
        }
        Err(LookupError::Unknown {
            name: reference.to_owned(),
            bundled: Self::bundled_names().collect::<Vec<_>>().join(", "),
            installed: self.installed_names().unwrap_or_else(|| "none".to_owned()),
        })
    }

    /// Installs the component at `path` as `<name>.wasm`, replacing any plugin of that name.
    pub fn install(&self, path: &Path, name: Option<&str>) -> Result<ComponentSource, LookupError> {
        let source = read(
            &path.display().to_string(),
            path,
            Origin::File(path.to_path_buf()),
        )?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name
            .map(str::to_owned)
            .or_else(|| {
                source
                    .metadata
                    .as_ref()
                    .map(|m| m.name.clone())
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or(stem);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(LookupError::BadName(name));
        }
        let target = self.installed_dir.join(format!("{name}.wasm"));
        let io = |source| LookupError::Read {
            path: target.clone(),
            source,
        };
        let tmp = self.installed_dir.join(format!(".{name}.wasm.tmp"));
        std::fs::write(&tmp, &source.bytes).map_err(io)?;
        std::fs::rename(&tmp, &target).map_err(io)?;
        self.resolve(&name, Path::new("."))
    }

    /// Every plugin that can be named: installed ones, then bundled ones they do not shadow.
    pub fn list(&self) -> Result<Vec<ComponentSource>, LookupError> {
        let mut names = self.installed();
        let bundled: Vec<String> = Self::bundled_names()
            .map(str::to_owned)
            .filter(|b| !names.contains(b))
            .collect();
        names.extend(bundled);
        names.sort();
        names
            .iter()
            .map(|name| self.resolve(name, Path::new(".")))
            .collect()
    }

    /// The names of the installed plugins, sorted.
    fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.installed_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_suffix(".wasm")
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn installed_names(&self) -> Option<String> {
        let names = self.installed();
        (!names.is_empty()).then(|| names.join(", "))
    }
}

fn read(reference: &str, path: &Path, origin: Origin) -> Result<ComponentSource, LookupError> {
    let bytes = std::fs::read(path).map_err(|source| LookupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    source(reference, origin, Arc::from(bytes))
}

fn source(
    reference: &str,
    origin: Origin,
    bytes: Arc<[u8]>,
) -> Result<ComponentSource, LookupError> {
    let not_component = |reason: String| LookupError::NotAComponent {
        reference: reference.to_owned(),
        reason,
    };
    let (encoding, metadata) = inspect(&bytes).map_err(not_component)?;
    if encoding == Encoding::Module {
        return Err(not_component(
            "it is a core WebAssembly module; build a component (e.g. `cargo build --target wasm32-wasip2`)".into(),
        ));
    }
    Ok(ComponentSource {
        reference: reference.to_owned(),
        origin,
        digest: crate::evidence::digest(&bytes),
        bytes,
        metadata,
    })
}
