//! End-to-end tests of the built `nightshift` binary: pipelines with real plugins, command
//! steps, hostile guests, broken manifests, the compile cache, the background lane,
//! schedules and the MCP server. The durability, queue and schedule tests run on both
//! journal backends (`MODULE::sqlite::*`, `MODULE::postgres::*`); `shared_db` runs workers
//! against one PostgreSQL database through restarts and partitions.

mod util;

mod authors;
mod cache;
mod durability;
mod escape;
mod evidence;
mod hostile;
mod limits;
mod manifest;
mod mcp;
mod network;
mod pipeline;
mod plugins;
mod queue;
mod report;
mod schedule;
mod shared_db;
