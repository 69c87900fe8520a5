//! Runs one step inside a fresh WebAssembly component instance that can touch only what the
//! step was granted.
//!
//! One [`Sandbox`] per process owns the wasmtime engine, the linker (WASI plus the host
//! interface of the plugin world) and the compiled-component cache. Each step gets a new
//! store whose WASI context is built from its [`Grants`] alone: the granted directories at
//! their workspace-relative paths, the named environment variables, captured and capped
//! stdio, no network. A memory cap and a wall-clock deadline (epoch ticks, plus an outer
//! timeout for time spent waiting in host calls) bound every step.
//!
//! Architecture invariant: whatever a guest does, it ends its own step with a
//! [`SandboxError`]; it never crashes the host.

#![warn(missing_docs)]

mod cache;
mod clocks;
mod component;
mod engine;
mod limits;
mod network;
pub mod units;
mod world;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable, ResourceTableError};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder};

pub use cache::CacheOutcome;
pub use component::{ComponentSource, NotAComponent, NotAComponentReason, Origin};
pub use nightshift_plugin_abi::LogLevel;
pub use world::{Check, PriorOutput, StepError, StepInput, StepOutput};

use limits::MemoryCap;
use units::format_size;
use world::{PluginPre, StepState};

/// A directory made visible to a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it: its path relative to the workspace (`.` for the workspace).
    pub guest: String,
}

/// The directories of one step, opened by the caller beneath the directories they belong to:
/// the sandbox hands the guest these handles and never opens a grant by its path, so a path
/// swapped for a symlink after the caller opened it changes nothing the guest sees.
#[derive(Debug, Default)]
pub struct OpenedDirs {
    /// Read grants, given read-only.
    pub read: Vec<OpenedDir>,
    /// Write grants, given read-write (for the runner, their staging copies).
    pub write: Vec<OpenedDir>,
}

/// One directory of a step, open.
#[derive(Debug)]
pub struct OpenedDir {
    /// The open directory.
    pub dir: cap_std::fs::Dir,
    /// Where the guest sees it: its path relative to the workspace (`.` for the workspace).
    pub guest: String,
}

impl OpenedDir {
    /// A path that names this very directory, whatever happened to the path it was opened
    /// by: the process's own file descriptor for it.
    fn by_descriptor(&self) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        let fd = self.dir.as_raw_fd();
        if cfg!(target_os = "linux") {
            PathBuf::from(format!("/proc/self/fd/{fd}"))
        } else {
            PathBuf::from(format!("/dev/fd/{fd}"))
        }
    }
}

/// The bounds of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory the guest may hold, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock time the step may take.
    pub timeout: Duration,
    /// Bytes kept of each of stdout and stderr; writing more fails in the guest.
    pub output_bytes: u64,
    /// Fuel (roughly, WebAssembly instructions) the guest may burn; `None`: unbounded.
    pub fuel: Option<u64>,
    /// Bytes the guest may add to its write grants.
    pub write_bytes: u64,
    /// Bytes of log lines, notes and progress messages the guest may send.
    pub log_bytes: u64,
    /// Bytes of output data the guest may return.
    pub data_bytes: u64,
    /// Handles the guest may hold at once: open files, streams, sockets, pollables.
    pub handles: u64,
}

impl Limits {
    /// The smallest memory cap a pipeline may grant.
    pub const MIN_MEMORY_BYTES: u64 = 1 << 20;
    /// The largest memory cap a pipeline may grant: all a 32-bit guest can address.
    pub const MAX_MEMORY_BYTES: u64 = 4 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            timeout: Duration::from_secs(300),
            output_bytes: 1 << 20,
            fuel: None,
            write_bytes: 256 << 20,
            log_bytes: 1 << 20,
            data_bytes: 4 << 20,
            handles: 1024,
        }
    }
}

/// Everything a step may touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories it may read.
    pub read: Vec<DirGrant>,
    /// Directories it may read and write.
    pub write: Vec<DirGrant>,
    /// Names of the host environment variables it sees.
    pub env: Vec<String>,
    /// Hosts it may reach over HTTP and addresses it may connect to.
    pub network: Vec<String>,
    /// Real clocks and randomness instead of virtual, seeded ones (deterministic mode).
    pub real_clocks: bool,
    /// Its bounds.
    pub limits: Limits,
}

/// What the host does when a guest calls the `host` interface. The runner implements it, so
/// the sandbox never touches the journal itself.
pub trait HostCalls: Send + 'static {
    /// A log line.
    fn log(&mut self, level: LogLevel, message: String);
    /// Progress of the step.
    fn progress(&mut self, done: u64, total: u64, message: String);
    /// An audit-trail entry.
    fn note(&mut self, text: String);
    /// Saves the step's checkpoint.
    fn checkpoint(&mut self, state: Vec<u8>);
    /// Reads the task's key/value state.
    fn get(&mut self, key: &str) -> Option<Vec<u8>>;
    /// Writes the task's key/value state.
    fn set(&mut self, key: &str, value: Vec<u8>);
}

/// Why a step could not run to an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// The wasmtime engine could not be set up.
    #[error("cannot start the WebAssembly engine: {cause:#}")]
    Engine {
        /// wasmtime's reason.
        cause: Arc<wasmtime::Error>,
    },
    /// The bytes are not a valid component.
    #[error("component {digest} does not compile: {cause:#}")]
    Compile {
        /// The component's digest.
        digest: String,
        /// wasmtime's reason.
        cause: Arc<wasmtime::Error>,
    },
    /// The component does not fit the kind of step it is used as.
    #[error("`{reference}` is not a {expected}: {cause:#}")]
    WrongKind {
        /// The plugin or command reference.
        reference: String,
        /// `nightshift plugin` or `wasi:cli command`.
        expected: &'static str,
        /// wasmtime's reason.
        cause: Arc<wasmtime::Error>,
    },
    /// A granted directory could not be opened.
    #[error("cannot grant {path}: {cause:#}")]
    Grant {
        /// The directory.
        path: PathBuf,
        /// Why it could not be given to the guest.
        cause: Arc<wasmtime::Error>,
    },
    /// The step ran past its wall-clock limit.
    #[error("step exceeded its timeout of {}", humanize(*.limit))]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("step exceeded its memory limit of {} (it asked for {})", format_size(*.limit), format_size(*.asked))]
    Memory {
        /// The cap.
        limit: u64,
        /// What the guest asked for.
        asked: u64,
    },
    /// The guest wrote more than the cap to stdout or stderr.
    #[error("step exceeded its output limit of {} on {stream}", format_size(*.limit))]
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The cap.
        limit: u64,
    },
    /// The guest burned all its fuel.
    #[error("step exceeded its fuel limit of {limit}")]
    Fuel {
        /// The limit.
        limit: u64,
    },
    /// The guest wrote more than its quota into its write grants.
    #[error("step exceeded its write quota of {} (it wrote {})", format_size(*.limit), format_size(*.wrote))]
    WriteQuota {
        /// The quota.
        limit: u64,
        /// What it had written when stopped.
        wrote: u64,
    },
    /// The guest held more handles (open files, streams, sockets) at once than allowed.
    #[error("step exceeded its limit of {limit} open handles (files, streams, sockets)")]
    Handles {
        /// The limit.
        limit: u64,
    },
    /// The guest sent more log, note and progress text than allowed.
    #[error("step exceeded its log limit of {}", format_size(*.limit))]
    Logs {
        /// The limit.
        limit: u64,
    },
    /// The guest returned more output data than allowed.
    #[error("step exceeded its output data limit of {} (it returned {})", format_size(*.limit), format_size(*.size))]
    Data {
        /// The limit.
        limit: u64,
        /// What it returned.
        size: u64,
    },
    /// The step was cancelled on request.
    #[error("step cancelled on request")]
    Cancelled,
    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access...).
    #[error("guest trapped: {}{}", trap_reason(cause), stderr_suffix(stderr_tail))]
    Trap {
        /// wasmtime's error, with the wasm backtrace it carries as context.
        cause: Arc<wasmtime::Error>,
        /// The last meaningful lines the guest wrote to stderr, e.g. a Rust panic's message.
        stderr_tail: String,
    },
}

/// The root of a trap, without the wasm backtrace wasmtime attaches as context.
fn trap_reason(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    }
}

fn stderr_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {tail})")
    }
}

fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// Stops a running step at its next epoch tick (every 10 ms) when cancelled.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Asks the step to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the step was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a running step is given besides its grants: a way to stop it, and the seed of its
/// virtual clocks and randomness.
#[derive(Debug, Clone, Default)]
pub struct StepContext {
    /// Stops the step when cancelled.
    pub cancel: CancelToken,
    /// Seeds the step's randomness in deterministic mode.
    pub seed: [u8; 32],
}

/// A step's result together with what it wrote to stdout and stderr.
#[derive(Debug)]
pub struct Captured<T> {
    /// The answer, or why there is none.
    pub outcome: Result<T, SandboxError>,
    /// What the guest wrote to stdout (at most the output limit).
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr (at most the output limit).
    pub stderr: Vec<u8>,
    /// Capabilities the guest tried to use and was refused.
    pub denials: Vec<String>,
}

/// A component compiled for this engine.
#[derive(Clone)]
pub struct Prepared {
    reference: String,
    compiled: Arc<Compiled>,
}

/// A compiled component and, made on first use, its pre-instantiation for each kind of step
/// (imports resolved once, so each step only instantiates).
struct Compiled {
    component: Component,
    plugin: OnceLock<Result<PluginPre<StepState>, Arc<wasmtime::Error>>>,
    command: OnceLock<Result<CommandPre<StepState>, Arc<wasmtime::Error>>>,
}

/// The sandbox of a process: engine, linker, compiled-component cache.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<StepState>,
    cache: cache::CompileCache,
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    _ticker: engine::EpochTicker,
}

impl Sandbox {
    /// A sandbox whose compiled components are cached in `cache_dir`, with the pooling
    /// instance allocator.
    pub fn new(cache_dir: &Path) -> Result<Self, SandboxError> {
        Sandbox::with_pooling(cache_dir, true)
    }

    /// A sandbox with or without the pooling instance allocator (to compare them).
    pub fn with_pooling(cache_dir: &Path, pooling: bool) -> Result<Self, SandboxError> {
        let engine = engine::build(pooling).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        world::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| {
            state
        })
        .map_err(engine_error)?;
        let ticker = engine::EpochTicker::start(&engine).map_err(|e| engine_error(e.into()))?;
        Ok(Sandbox {
            cache: cache::CompileCache::new(cache_dir, &engine),
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// Compiles `source`, or loads it from the cache.
    pub fn prepare(
        &self,
        source: &ComponentSource,
    ) -> Result<(Prepared, CacheOutcome), SandboxError> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        let (entry, outcome) = match compiled.get(&source.digest) {
            Some(entry) => (Arc::clone(entry), CacheOutcome::Hit),
            None => {
                let (component, outcome) =
                    self.cache
                        .load(&self.engine, &source.digest, &source.bytes)?;
                let entry = Arc::new(Compiled {
                    component,
                    plugin: OnceLock::new(),
                    command: OnceLock::new(),
                });
                compiled.insert(source.digest.clone(), Arc::clone(&entry));
                (entry, outcome)
            }
        };
        Ok((
            Prepared {
                reference: source.reference.clone(),
                compiled: entry,
            },
            outcome,
        ))
    }

    /// The names of a component's imports and exports (interfaces and functions).
    pub fn interface(&self, component: &Prepared) -> (Vec<String>, Vec<String>) {
        let ty = component.compiled.component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        (imports, exports)
    }

    /// Runs a plugin step: instantiates the component and calls its `run` export.
    pub async fn run_plugin(
        &self,
        plugin: &Prepared,
        grants: &Grants,
        dirs: &OpenedDirs,
        input: &StepInput,
        host: Box<dyn HostCalls>,
        ctx: &StepContext,
    ) -> Captured<Result<StepOutput, StepError>> {
        let io = Stdio::new(grants, None);
        let outcome = async {
            let pre = plugin
                .compiled
                .plugin
                .get_or_init(|| {
                    let pre = self.linker.instantiate_pre(&plugin.compiled.component);
                    pre.and_then(PluginPre::new).map_err(Arc::new)
                })
                .clone()
                .map_err(|e| wrong_kind(&plugin.reference, "nightshift plugin", e))?;
            let mut store = self.store(grants, dirs, &io, &[], host, ctx)?;
            let call = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance.call_run(&mut store, input).await
            };
            let result = with_deadline(grants.limits.timeout, &ctx.cancel, call).await?;
            let output = result.map_err(|e| classify(e, &store, grants, &io, &ctx.cancel))?;
            check_quota(&store, grants)?;
            if let Ok(output) = &output
                && output.data.len() as u64 > grants.limits.data_bytes
            {
                return Err(SandboxError::Data {
                    limit: grants.limits.data_bytes,
                    size: output.data.len() as u64,
                });
            }
            Ok(output)
        }
        .await;
        io.finish(outcome)
    }

    /// Runs a command step: a `wasi:cli/command` component with `args`, returning its exit code.
    #[expect(
        clippy::too_many_arguments,
        reason = "one command step's whole context"
    )]
    pub async fn run_command(
        &self,
        command: &Prepared,
        grants: &Grants,
        dirs: &OpenedDirs,
        args: &[String],
        stdin: Option<&str>,
        host: Box<dyn HostCalls>,
        ctx: &StepContext,
    ) -> Captured<i32> {
        let io = Stdio::new(grants, stdin);
        let outcome = async {
            let pre = command
                .compiled
                .command
                .get_or_init(|| {
                    let pre = self.linker.instantiate_pre(&command.compiled.component);
                    pre.and_then(CommandPre::new).map_err(Arc::new)
                })
                .clone()
                .map_err(|e| wrong_kind(&command.reference, "wasi:cli command", e))?;
            let mut argv = vec![command.reference.clone()];
            argv.extend(args.iter().cloned());
            let mut store = self.store(grants, dirs, &io, &argv, host, ctx)?;
            let call = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance.wasi_cli_run().call_run(&mut store).await
            };
            let code = match with_deadline(grants.limits.timeout, &ctx.cancel, call).await? {
                Ok(Ok(())) => 0,
                Ok(Err(())) => 1,
                Err(e) => match e.downcast_ref::<I32Exit>() {
                    Some(exit) => exit.0,
                    None => return Err(classify(e, &store, grants, &io, &ctx.cancel)),
                },
            };
            check_quota(&store, grants)?;
            Ok(code)
        }
        .await;
        io.finish(outcome)
    }

    fn store(
        &self,
        grants: &Grants,
        dirs: &OpenedDirs,
        io: &Stdio,
        argv: &[String],
        host: Box<dyn HostCalls>,
        ctx: &StepContext,
    ) -> Result<Store<StepState>, SandboxError> {
        let wasi = wasi_context(grants, dirs, io, argv, &ctx.seed, &io.network)?;
        let written = WriteMeter::new(dirs, grants.limits.write_bytes)?;
        let state = StepState {
            wasi,
            table: {
                let mut table = ResourceTable::new();
                table
                    .set_max_capacity(usize::try_from(grants.limits.handles).unwrap_or(usize::MAX));
                table
            },
            memory: MemoryCap::new(grants.limits.memory_bytes),
            host,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            network: io.network.clone(),
            log_bytes_left: grants.limits.log_bytes,
            logs_exceeded: false,
            written,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(grants.limits.fuel.unwrap_or(u64::MAX))
            .map_err(engine_error)?;
        let deadline = Instant::now() + grants.limits.timeout;
        store.set_epoch_deadline(1);
        // At every tick: stop the guest past its deadline or when cancelled, else let other
        // tasks run.
        let cancel = ctx.cancel.clone();
        let mut ticks = 0u64;
        store.epoch_deadline_callback(move |mut store| {
            ticks += 1;
            // The write quota is measured every few ticks: it walks the write grants.
            let over_quota =
                ticks.is_multiple_of(QUOTA_EVERY_TICKS) && store.data_mut().written.exceeded();
            Ok(
                if Instant::now() >= deadline || cancel.is_cancelled() || over_quota {
                    UpdateDeadline::Interrupt
                } else {
                    UpdateDeadline::Yield(1)
                },
            )
        });
        Ok(store)
    }
}

/// The guest's ways to the outside: stdin, stdout and stderr kept in memory, and its network.
struct Stdio {
    stdin: MemoryInputPipe,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    cap: u64,
    network: network::NetworkPolicy,
}

impl Stdio {
    fn new(grants: &Grants, stdin: Option<&str>) -> Self {
        let cap = grants.limits.output_bytes;
        let capacity = usize::try_from(cap).unwrap_or(usize::MAX);
        Stdio {
            stdin: MemoryInputPipe::new(stdin.unwrap_or_default().as_bytes().to_vec()),
            stdout: MemoryOutputPipe::new(capacity),
            stderr: MemoryOutputPipe::new(capacity),
            cap,
            network: network::NetworkPolicy::new(&grants.network),
        }
    }

    /// Which stream, if any, is full.
    fn full(&self) -> Option<&'static str> {
        let full = |pipe: &MemoryOutputPipe| pipe.contents().len() as u64 >= self.cap;
        if full(&self.stdout) {
            Some("stdout")
        } else if full(&self.stderr) {
            Some("stderr")
        } else {
            None
        }
    }

    fn finish<T>(self, outcome: Result<T, SandboxError>) -> Captured<T> {
        Captured {
            outcome,
            stdout: self.stdout.contents().to_vec(),
            stderr: self.stderr.contents().to_vec(),
            denials: self.network.denials(),
        }
    }
}

fn wasi_context(
    grants: &Grants,
    dirs: &OpenedDirs,
    io: &Stdio,
    argv: &[String],
    seed: &[u8; 32],
    network: &network::NetworkPolicy,
) -> Result<WasiCtx, SandboxError> {
    let mut builder = WasiCtxBuilder::new();
    // TCP is on so that every attempt meets the check, which allows only granted addresses
    // and records the rest; UDP and name lookups stay off.
    builder
        .allow_tcp(true)
        .socket_addr_check(network.socket_check());
    if !grants.real_clocks {
        builder
            .wall_clock(clocks::VirtualWallClock::default())
            .monotonic_clock(clocks::VirtualMonotonicClock::default())
            .secure_random(clocks::seeded(seed, "secure"))
            .insecure_random(clocks::seeded(seed, "insecure"))
            .insecure_random_seed(clocks::insecure_seed(seed));
    }
    builder
        .stdin(io.stdin.clone())
        .stdout(io.stdout.clone())
        .stderr(io.stderr.clone())
        .args(argv)
        .allow_blocking_current_thread(true);
    for name in &grants.env {
        if let Ok(value) = std::env::var(name) {
            builder.env(name, value);
        }
    }
    let grant_error = |dir: &OpenedDir, cause: wasmtime::Error| SandboxError::Grant {
        path: PathBuf::from(&dir.guest),
        cause: Arc::new(cause),
    };
    let read = dirs.read.iter().map(|dir| (dir, FsPerms::ReadOnly));
    let write = dirs.write.iter().map(|dir| (dir, FsPerms::ReadWrite));
    for (dir, perms) in read.chain(write) {
        builder
            .preopened_dir(dir.by_descriptor(), &dir.guest, perms)
            .map_err(|e| grant_error(dir, e))?;
    }
    Ok(builder.build())
}

async fn with_deadline<T>(
    timeout: Duration,
    cancel: &CancelToken,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> Result<wasmtime::Result<T>, SandboxError> {
    // The epoch deadline stops a computing guest; these stop a guest waiting in a host call.
    let grace = Duration::from_millis(500);
    let cancelled = async {
        while !cancel.is_cancelled() {
            tokio::time::sleep(engine::TICK * 5).await;
        }
    };
    tokio::select! {
        result = tokio::time::timeout(timeout + grace, call) => {
            result.map_err(|_| SandboxError::Timeout { limit: timeout })
        }
        () = cancelled => Err(SandboxError::Cancelled),
    }
}

/// Epoch ticks between two measurements of the write grants.
const QUOTA_EVERY_TICKS: u64 = 20;

/// Fails the step if it wrote more than its quota, even if it ended before a check caught it.
fn check_quota(store: &Store<StepState>, grants: &Grants) -> Result<(), SandboxError> {
    let wrote = store.data().written.measure();
    if wrote > grants.limits.write_bytes {
        return Err(SandboxError::WriteQuota {
            limit: grants.limits.write_bytes,
            wrote,
        });
    }
    Ok(())
}

/// How many bytes a step added to its write grants.
pub(crate) struct WriteMeter {
    dirs: Vec<cap_std::fs::Dir>,
    start: u64,
    limit: u64,
    over: Option<u64>,
}

impl WriteMeter {
    fn new(dirs: &OpenedDirs, limit: u64) -> Result<Self, SandboxError> {
        let dirs = dirs
            .write
            .iter()
            .map(|d| {
                d.dir.try_clone().map_err(|e| SandboxError::Grant {
                    path: PathBuf::from(&d.guest),
                    cause: Arc::new(e.into()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let start = dirs.iter().map(tree_size).sum();
        Ok(WriteMeter {
            dirs,
            start,
            limit,
            over: None,
        })
    }

    /// Bytes added since the step started.
    fn measure(&self) -> u64 {
        let now: u64 = self.dirs.iter().map(tree_size).sum();
        now.saturating_sub(self.start)
    }

    /// Measures now; true (and remembered) when over the quota.
    fn exceeded(&mut self) -> bool {
        if self.dirs.is_empty() {
            return false;
        }
        let wrote = self.measure();
        if wrote > self.limit {
            self.over = Some(wrote);
        }
        self.over.is_some()
    }

    fn over(&self) -> Option<u64> {
        self.over
    }
}

/// Bytes in the regular files beneath `dir` (symlinks are not followed).
fn tree_size(dir: &cap_std::fs::Dir) -> u64 {
    let Ok(entries) = dir.entries() else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => entry.open_dir().map_or(0, |d| tree_size(&d)),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn wrong_kind(
    reference: &str,
    expected: &'static str,
    cause: Arc<wasmtime::Error>,
) -> SandboxError {
    SandboxError::WrongKind {
        reference: reference.to_owned(),
        expected,
        cause,
    }
}

fn engine_error(cause: wasmtime::Error) -> SandboxError {
    SandboxError::Engine {
        cause: Arc::new(cause),
    }
}

/// Names the cause of a failed call: the limit the guest hit, or the trap.
fn classify(
    error: wasmtime::Error,
    store: &Store<StepState>,
    grants: &Grants,
    io: &Stdio,
    cancel: &CancelToken,
) -> SandboxError {
    if cancel.is_cancelled() {
        return SandboxError::Cancelled;
    }
    if let Some(wrote) = store.data().written.over() {
        return SandboxError::WriteQuota {
            limit: grants.limits.write_bytes,
            wrote,
        };
    }
    if store.data().logs_exceeded {
        return SandboxError::Logs {
            limit: grants.limits.log_bytes,
        };
    }
    if matches!(
        error.downcast_ref::<ResourceTableError>(),
        Some(ResourceTableError::Full)
    ) {
        return SandboxError::Handles {
            limit: grants.limits.handles,
        };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return SandboxError::Fuel {
            limit: grants.limits.fuel.unwrap_or(u64::MAX),
        };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return SandboxError::Timeout {
            limit: grants.limits.timeout,
        };
    }
    if let Some(asked) = store.data().memory.refused {
        return SandboxError::Memory {
            limit: grants.limits.memory_bytes,
            asked: asked as u64,
        };
    }
    if let Some(stream) = io.full() {
        return SandboxError::Output {
            stream,
            limit: grants.limits.output_bytes,
        };
    }
    let stderr = io.stderr.contents();
    SandboxError::Trap {
        cause: Arc::new(error),
        stderr_tail: stderr_tail(&String::from_utf8_lossy(&stderr)),
    }
}

/// The last two meaningful lines a guest wrote to stderr, e.g. a Rust panic's location and
/// message, without the hint about `RUST_BACKTRACE`.
fn stderr_tail(stderr: &str) -> String {
    let mut lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
        .rev()
        .take(2)
        .collect();
    lines.reverse();
    lines.join(" ").chars().take(400).collect()
}
