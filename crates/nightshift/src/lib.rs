//! Nightshift runs long, multi-step work in WebAssembly sandboxes and records what really
//! happened. This crate is the library every front door calls (the `nightshift` command, the
//! MCP server, and the coming web server): its API boundary.
//!
//! Data flows one way: [`manifest`] turns a pipeline file into a checked [`manifest::Plan`];
//! [`runner`] drives its steps, each inside a fresh [`sandbox`] instance granted only what the
//! pipeline allows; [`evidence`] hashes what the steps produced and signs the records;
//! [`journal`] keeps every task, step, attempt and event; [`report`] reads the journal alone.
//! [`worker`] and [`schedule`] are the background lane; [`catalog`] finds plugins;
//! [`state`] is the state directory; [`beneath`] reaches paths inside it and inside the
//! workspace without following symlinks.
//!
//! Architecture invariant: plugins never touch the journal; everything they say reaches it
//! through the host interface of [`sandbox`]. Nothing inside the workspace or the state
//! directory is opened by a path string: only beneath a handle, through [`beneath`].

#![warn(missing_docs)]

pub mod beneath;
pub mod catalog;
pub mod evidence;
pub mod failpoint;
pub mod fault;
pub mod journal;
pub mod manifest;
pub mod report;
pub mod runner;
pub mod scaffold;
pub mod schedule;
pub mod state;
pub mod tasks;
pub mod worker;

pub use nightshift_journal::time_format;
pub use nightshift_sandbox as sandbox;

#[cfg(test)]
mod advisories_test;
