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
            return Ok(ComponentSource {
                reference: reference.to_owned(),
                origin: Origin::Bundled,
                bytes: Arc::from(*bytes),
                digest: crate::evidence::digest(bytes),
            });
        }
        Err(LookupError::Unknown {
            name: reference.to_owned(),
            bundled: Self::bundled_names().collect::<Vec<_>>().join(", "),
            installed: self.installed_names().unwrap_or_else(|| "none".to_owned()),
        })
    }

    fn installed_names(&self) -> Option<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.installed_dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".wasm")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        (!names.is_empty()).then(|| names.join(", "))
    }
}

fn read(reference: &str, path: &Path, origin: Origin) -> Result<ComponentSource, LookupError> {
    let bytes = std::fs::read(path).map_err(|source| LookupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(ComponentSource {
        reference: reference.to_owned(),
        origin,
        digest: crate::evidence::digest(&bytes),
        bytes: Arc::from(bytes),
    })
}
