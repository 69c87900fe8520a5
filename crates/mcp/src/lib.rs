//! The MCP server (stdio): lets an AI assistant start, watch and read background tasks, and
//! call the plugins its policy exposes as sandboxed tools.
//!
//! It is a thin front door onto the same library calls as the CLI: [`Plan::load`] and the
//! task service ([`Tasks`]) for submitting, cancelling, status, logs and reports,
//! [`Runner::run`] for a plugin called as a tool. Architecture invariant: a
//! client chooses a pipeline (by name, from the pipelines directory) and its params, never
//! grants; whatever needs more than the [`Policy`] allows is refused before it is recorded.
//!
//! [`Plan::load`]: nightshift::manifest::Plan::load

#![warn(missing_docs)]

mod plugin_tools;
mod policy;
mod resources;
mod tools;
mod transport;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt as _, tool_handler};

pub use policy::{Policy, PolicyError};

use nightshift::catalog::{Catalog, LookupError};
use nightshift::journal::Journal;
use nightshift::runner::Runner;
use nightshift::state::StateDir;
use nightshift::tasks::Tasks;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory whose `NAME.toml` files are the pipelines a client may submit.
    pub pipelines: PathBuf,
    /// The directory tasks work in.
    pub workspace: PathBuf,
    /// The most MCP-started work may be granted.
    pub policy: Policy,
    /// The longest request line read; longer ones are refused with an error.
    pub max_request_bytes: usize,
}

/// Errors that end the MCP server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// A plugin the policy exposes cannot be found.
    #[error("the policy exposes a plugin that cannot be loaded: {0}")]
    Plugin(#[from] LookupError),
    /// The session could not start (e.g. no `initialize` before stdin closed).
    #[error("cannot start the MCP session: {cause}")]
    Start {
        /// Why (shown in the message, so not a `source`).
        cause: Box<rmcp::service::ServerInitializeError>,
    },
    /// The session's task failed.
    #[error("the MCP session stopped abnormally: {0}")]
    Session(#[from] tokio::task::JoinError),
}

impl nightshift::fault::Classify for McpError {
    fn fault(&self) -> nightshift::fault::Fault {
        match self {
            McpError::Plugin(e) => e.fault(),
            McpError::Start { .. } | McpError::Session(_) => nightshift::fault::Fault::System,
        }
    }
}

/// The MCP server over one state directory.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
    tool_router: ToolRouter<Server>,
}

/// What every request handler shares.
struct Inner {
    state: StateDir,
    runner: Arc<Runner>,
    tasks: Tasks,
    catalog: Catalog,
    options: Options,
    /// Tasks whose report resource a client subscribed to, until they finish.
    subscriptions: Mutex<BTreeSet<String>>,
}

impl Server {
    /// A server running tasks with `runner`, exposing the plugins `options.policy` names.
    pub fn new(state: StateDir, runner: Arc<Runner>, options: Options) -> Result<Self, McpError> {
        let catalog = Catalog::new(state.plugins_dir());
        let mut tool_router = Self::fixed_tools();
        for route in plugin_tools::routes(&catalog, &options.policy)? {
            tool_router.add_route(route);
        }
        Ok(Server {
            inner: Arc::new(Inner {
                tasks: Tasks::with_runner(state.clone(), Arc::clone(&runner)),
                state,
                runner,
                catalog,
                options,
                subscriptions: Mutex::new(BTreeSet::new()),
            }),
            tool_router,
        })
    }

    fn journal(&self) -> &Journal {
        self.inner.runner.journal()
    }

    /// Serves MCP on this process's stdin and stdout until the client closes stdin.
    pub async fn serve_stdio(self) -> Result<(), McpError> {
        let transport = transport::LineTransport::new(
            tokio::io::stdin(),
            tokio::io::stdout(),
            self.inner.options.max_request_bytes,
        );
        let inner = Arc::clone(&self.inner);
        let running = self
            .serve(transport)
            .await
            .map_err(|cause| McpError::Start {
                cause: Box::new(cause),
            })?;
        let watcher = tokio::spawn(resources::watch(inner, running.peer().clone()));
        let reason = running.waiting().await;
        watcher.abort();
        tracing::info!("MCP session ended: {:?}", reason?);
        Ok(())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("nightshift", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Nightshift runs pipelines in WebAssembly sandboxes in the background. \
                 list_pipelines shows what can run; submit_task returns a task id at once; \
                 poll task_status and task_logs (with the cursor it returns); read the verified \
                 report with task_report or the resource nightshift://task/{id}/report.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(self.journal())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.inner, &request.uri).map(Into::into)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::subscribe(&self.inner, &request.uri)
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::unsubscribe(&self.inner, &request.uri)
    }
}
