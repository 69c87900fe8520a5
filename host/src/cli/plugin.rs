//! `nightshift plugin`: inspect, install and list plugins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nightshift::plugins::{Catalog, ComponentSource, Origin};
use nightshift::sandbox::Sandbox;
use serde::Serialize;

/// Inspect, install and list plugins
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Show a plugin's digest, metadata, requested capabilities and WIT imports and exports
    Inspect {
        /// A plugin name, or a path to a .wasm component
        plugin: String,
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Install a component into the state directory, so pipelines can name it
    Add {
        /// The .wasm component
        path: PathBuf,
        /// The name to install it under [default: its declared name, else the file name]
        #[arg(long)]
        name: Option<String>,
    },
    /// List the plugins pipelines can name: installed and bundled
    List {
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct PluginJson<'a> {
    name: &'a str,
    origin: String,
    digest: &'a str,
    bytes: usize,
    metadata: Option<&'a nightshift::plugins::Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    imports: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exports: Option<Vec<String>>,
}

fn origin(source: &ComponentSource) -> String {
    match &source.origin {
        Origin::Bundled => "bundled".into(),
        Origin::Installed(path) => format!("installed at {}", path.display()),
        Origin::File(path) => format!("file {}", path.display()),
    }
}

fn json<'a>(
    source: &'a ComponentSource,
    interface: Option<(Vec<String>, Vec<String>)>,
) -> PluginJson<'a> {
    let (imports, exports) = interface.map_or((None, None), |(i, e)| (Some(i), Some(e)));
    PluginJson {
        name: &source.reference,
        origin: origin(source),
        digest: &source.digest,
        bytes: source.bytes.len(),
        metadata: source.metadata.as_ref(),
        imports,
        exports,
    }
}

pub(crate) fn run(command: Command, state: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state = super::open_state(state)?;
    let catalog = Catalog::new(state.plugins_dir());
    match command {
        Command::Inspect {
            plugin,
            json: as_json,
        } => {
            let source = catalog.resolve(&plugin, Path::new("."))?;
            let sandbox = Sandbox::new(&state.compile_cache_dir())?;
            let (prepared, _) = sandbox.prepare(&source)?;
            let interface = sandbox.interface(&prepared);
            if as_json {
                super::print_json(&json(&source, Some(interface)))?;
            } else {
                print_inspection(&source, &interface);
            }
        }
        Command::Add { path, name } => {
            let source = catalog.install(&path, name.as_deref())?;
            println!(
                "installed {} ({}) as `{}`",
                path.display(),
                source.digest,
                source.reference
            );
        }
        Command::List { json: as_json } => {
            let plugins = catalog.list()?;
            if as_json {
                let list: Vec<_> = plugins.iter().map(|p| json(p, None)).collect();
                super::print_json(&list)?;
            } else {
                for p in &plugins {
                    let meta = p.metadata.as_ref();
                    let version = meta.map(|m| m.version.as_str()).unwrap_or("-");
                    let description = meta.map(|m| m.description.as_str()).unwrap_or("");
                    let kind = if matches!(p.origin, Origin::Bundled) {
                        "bundled"
                    } else {
                        "installed"
                    };
                    println!(
                        "{:<16} {:<8} {:<10} {description}",
                        p.reference, version, kind
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_inspection(source: &ComponentSource, (imports, exports): &(Vec<String>, Vec<String>)) {
    println!("plugin    {}", source.reference);
    println!("origin    {}", origin(source));
    println!("blake3    {}", source.digest);
    println!("size      {} bytes", source.bytes.len());
    match &source.metadata {
        Some(m) => {
            println!("name      {} {}", m.name, m.version);
            println!("about     {}", m.description);
            println!("world     {}", m.world);
            let r = &m.requests;
            let mut requests = Vec::new();
            if r.read {
                requests.push("read".to_owned());
            }
            if r.write {
                requests.push("write".to_owned());
            }
            requests.extend(r.env.iter().map(|e| format!("env {e}")));
            requests.extend(r.network.iter().map(|h| format!("network {h}")));
            if r.real_clocks {
                requests.push("real clocks".to_owned());
            }
            let shown = if requests.is_empty() {
                "nothing".to_owned()
            } else {
                requests.join(", ")
            };
            println!("requests  {shown}");
        }
        None => println!(
            "metadata  none (not built with the nightshift SDK): it gets exactly what a step grants"
        ),
    }
    println!("imports   {}", imports.join(", "));
    println!("exports   {}", exports.join(", "));
}
