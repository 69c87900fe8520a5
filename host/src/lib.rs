//! Nightshift runs long, multi-step work in WebAssembly sandboxes and records what really
//! happened.
//!
//! Data flows one way: [`manifest`] turns a pipeline file into a checked [`manifest::Plan`];
//! [`runner`] drives its steps, each inside a fresh [`sandbox`] instance granted only what the
//! pipeline allows; [`evidence`] hashes what the steps produced; [`journal`] keeps every task,
//! step, attempt and event in SQLite; [`report`] reads the journal alone.
//!
//! Architecture invariant: plugins never touch the journal; everything they say reaches it
//! through the host interface of [`sandbox`].

pub mod evidence;
pub mod failpoint;
pub mod journal;
pub mod manifest;
pub mod mcp;
pub mod plugins;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scaffold;
pub mod schedule;
pub mod state;
pub mod time_format;
pub mod worker;

#[cfg(test)]
mod advisories_test;
