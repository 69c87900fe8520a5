//! A component's bytes and identity: where it came from, its blake3 digest, and the plugin
//! metadata it carries. Reading the bytes refuses anything that is not a WebAssembly
//! component, naming what it is instead.

use std::path::PathBuf;
use std::sync::Arc;

use nightshift_plugin_abi::{METADATA_SECTION, Metadata};

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
    /// What the plugin declares about itself, if it carries metadata.
    pub metadata: Option<Metadata>,
}

/// Bytes that are not a WebAssembly component, and why.
#[derive(Debug, thiserror::Error)]
#[error("`{reference}` is not a WebAssembly component: {reason}")]
pub struct NotAComponent {
    /// The reference.
    pub reference: String,
    /// Why (shown in the message, so not a `source`).
    pub reason: NotAComponentReason,
}

/// Why bytes are not a WebAssembly component.
#[derive(Debug, thiserror::Error)]
pub enum NotAComponentReason {
    /// The bytes do not parse as WebAssembly.
    #[error("not valid WebAssembly: {0}")]
    Invalid(wasmtime::wasmparser::BinaryReaderError),
    /// The bytes are a core module, not a component.
    #[error(
        "it is a core WebAssembly module; build a component (e.g. `cargo build --target wasm32-wasip2`)"
    )]
    CoreModule,
    /// There is nothing to parse.
    #[error("empty file: no WebAssembly header")]
    Empty,
}

impl ComponentSource {
    /// Reads `bytes` as the component named `reference`: its digest and its metadata.
    pub fn new(
        reference: &str,
        origin: Origin,
        bytes: Arc<[u8]>,
    ) -> Result<ComponentSource, NotAComponent> {
        let not_component = |reason: NotAComponentReason| NotAComponent {
            reference: reference.to_owned(),
            reason,
        };
        let (encoding, metadata) = inspect(&bytes).map_err(not_component)?;
        if encoding == Encoding::Module {
            return Err(not_component(NotAComponentReason::CoreModule));
        }
        Ok(ComponentSource {
            reference: reference.to_owned(),
            origin,
            digest: blake3::hash(&bytes).to_hex().to_string(),
            bytes,
            metadata,
        })
    }
}

/// What a `.wasm` file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Component,
    Module,
}

/// Reads the encoding and the plugin metadata (if any) of WebAssembly bytes.
fn inspect(bytes: &[u8]) -> Result<(Encoding, Option<Metadata>), NotAComponentReason> {
    use wasmtime::wasmparser::{Encoding as Wasm, Parser, Payload};
    let mut encoding = None;
    let mut metadata = None;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(NotAComponentReason::Invalid)? {
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
                metadata = Some(Metadata::parse(&String::from_utf8_lossy(section.data())));
            }
            _ => {}
        }
    }
    Ok((encoding.ok_or(NotAComponentReason::Empty)?, metadata))
}
