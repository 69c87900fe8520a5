//! `nightshift plugin`: inspect, install and list plugins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nightshift::catalog::{Catalog, ComponentSource, Origin};
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
    /// Write a new plugin crate that builds with `cargo build --release --target wasm32-wasip2`
    New {
        /// The plugin's name (lower-case letters, digits and `-`)
        name: String,
        /// Where to create the crate's directory
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The nightshift-plugin-sdk crate to depend on [default: the one this binary was built with]
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin once, as one step with the given params and grants, and show its output,
    /// events and changed files (recorded in the journal like any task)
    Test {
        /// A plugin name, or a path to a .wasm component
        plugin: String,
        /// The step's params, as JSON
        #[arg(long, default_value = "{}")]
        params: String,
        /// The step's grants, as a TOML inline table, e.g. `{ read = ["."] }`
        #[arg(long, default_value = "{}")]
        grants: String,
        /// The directory the step works in
        #[arg(long, short = 'w', default_value = ".")]
        workspace: PathBuf,
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
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
    metadata: Option<&'a nightshift::catalog::Metadata>,
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

pub(crate) fn run(command: Command, state: super::StateArgs) -> super::Result<ExitCode> {
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
        Command::New { name, dir, sdk } => {
            let sdk = sdk.unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugin-sdk"))
            });
            let sdk = sdk.canonicalize().map_err(|e| {
                super::UsageError(format!(
                    "the plugin SDK is not at {} ({e}); give its directory with --sdk",
                    sdk.display()
                ))
            })?;
            let root = nightshift::scaffold::new_plugin(&name, &dir, &sdk)?;
            println!("created {}", root.display());
            println!(
                "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2 && nightshift run pipeline.toml",
                root.display()
            );
        }
        Command::Test {
            plugin,
            params,
            grants,
            workspace,
            json: as_json,
        } => {
            return test_plugin(&state, &plugin, &params, &grants, &workspace, as_json);
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
            if let Some(schema) = &m.params_schema {
                println!("params    {schema}");
            }
        }
        None => println!(
            "metadata  none (not built with the nightshift SDK): it gets exactly what a step grants"
        ),
    }
    println!("imports   {}", imports.join(", "));
    println!("exports   {}", exports.join(", "));
}

/// Runs `plugin` as the one step of a throwaway pipeline.
fn test_plugin(
    state: &nightshift::state::StateDir,
    plugin: &str,
    params: &str,
    grants: &str,
    workspace: &Path,
    as_json: bool,
) -> super::Result<ExitCode> {
    let params: serde_json::Value = serde_json::from_str(params)
        .map_err(|e| super::UsageError(format!("--params is not JSON: {e}")))?;
    let plugin_path = Path::new(plugin);
    let reference = if plugin.contains('/') || plugin.ends_with(".wasm") {
        plugin_path
            .canonicalize()
            .map_err(|e| super::UsageError(format!("{plugin}: {e}")))?
            .display()
            .to_string()
    } else {
        plugin.to_owned()
    };
    let params =
        toml::Value::try_from(&params).map_err(|e| super::UsageError(format!("--params: {e}")))?;
    let pipeline = format!(
        "name = \"plugin-test\"\n[[step]]\nid = \"test\"\nplugin = {}\nparams = {}\ngrants = {grants}\n",
        toml::Value::String(reference),
        inline(&params)
    );
    let catalog = Catalog::new(state.plugins_dir());
    let options = nightshift::manifest::LoadOptions {
        workspace,
        state_dir: state.root(),
        params: &[],
        catalog: &catalog,
    };
    let source = std::env::current_dir()?.join("plugin-test.toml");
    let plan = nightshift::manifest::Plan::parse(&source, pipeline.into_bytes(), &options)?;
    let (journal, runner) = super::open_runner(state)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome =
        runtime.block_on(runner.run(&plan, std::sync::Arc::new(nightshift::runner::Silent)))?;
    let cas = nightshift::evidence::Cas::new(state.cas_dir());
    let key = nightshift::evidence::Signer::load(&state.keys_dir())?.public_key();
    let report = nightshift::report::build(&journal, &cas, Some(&key), &outcome.task_id, false)?;
    let events = journal.events(&outcome.task_id, 0)?;
    let step = &report.steps[0];
    if as_json {
        super::print_json(&serde_json::json!({
            "task_id": outcome.task_id,
            "status": report.status,
            "summary": step.summary,
            "error": step.error,
            "data": step.data,
            "checks": report.checks,
            "caveats": report.caveats,
            "changed": report.changed,
            "events": events,
        }))?;
    } else {
        println!(
            "{} {}",
            report.status,
            step.error
                .as_deref()
                .or(step.summary.as_deref())
                .unwrap_or("")
        );
        for event in &events {
            println!("  {} {}", event.kind, event.message.trim_end());
        }
        for change in &report.changed {
            println!("  {} {}", change.change, change.path);
        }
    }
    Ok(super::exit_code(outcome.status))
}

/// A TOML value written inline (tables as `{ k = v }`), as pipeline steps write params.
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(table) => {
            let fields: Vec<String> = table
                .iter()
                .map(|(k, v)| format!("{} = {}", toml::Value::String(k.clone()), inline(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        toml::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
