//! The catalog of plugins: finds the component a step names, a path to a `.wasm` file, a
//! plugin installed in the state directory (`plugins/<name>.wasm`), or one of the plugins
//! bundled in this binary (built from `plugins/` in the repository); installs and lists them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use nightshift_plugin_abi::{Metadata, Requests, WORLD};
pub use nightshift_sandbox::{ComponentSource, Origin};

/// The plugins bundled in this binary: (name, component bytes).
const BUNDLED: &[(&str, &[u8])] = nightshift_bundled::PLUGINS;

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
    #[error(transparent)]
    NotAComponent(#[from] nightshift_sandbox::NotAComponent),
    /// A component file could not be read.
    #[error("cannot read component {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
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
            cause: source,
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
        cause: source,
    })?;
    source(reference, origin, Arc::from(bytes))
}

fn source(
    reference: &str,
    origin: Origin,
    bytes: Arc<[u8]>,
) -> Result<ComponentSource, LookupError> {
    Ok(ComponentSource::new(reference, origin, bytes)?)
}
