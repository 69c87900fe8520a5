//! What a plugin function returns: its output, checks and caveats, or an error.

use std::fmt;

use serde::Serialize;

use crate::bindings::nightshift::plugin::types as raw;

/// One verification a step performed, and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `no-todo-left`.
    pub name: String,
    /// Whether the check passed.
    pub passed: bool,
    /// Evidence or explanation for the verdict.
    pub detail: String,
}

/// What a step reports when it succeeds.
///
/// ```
/// use nightshift_plugin_sdk::Output;
///
/// let output = Output::new("counted 3 files")
///     .data(&serde_json::json!({ "files": 3 }))
///     .check("non-empty", true, "3 files")
///     .caveat("binary files were skipped");
/// assert_eq!(output.checks.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// One line for people.
    pub summary: String,
    /// Machine-readable result; later steps see it in [`Input::prior`](crate::Input::prior).
    pub data: serde_json::Value,
    /// What the step verified.
    pub checks: Vec<Check>,
    /// What a reader of the report should know about the result's limits.
    pub caveats: Vec<String>,
}

impl Output {
    /// An output with a summary line and no data.
    pub fn new(summary: impl Into<String>) -> Self {
        Output {
            summary: summary.into(),
            data: serde_json::Value::Null,
            checks: Vec::new(),
            caveats: Vec::new(),
        }
    }

    /// Sets the machine-readable result. A value that cannot be encoded as JSON becomes `null`.
    pub fn data(mut self, data: &impl Serialize) -> Self {
        self.data = serde_json::to_value(data).unwrap_or(serde_json::Value::Null);
        self
    }

    /// Adds a check and its verdict.
    pub fn check(
        mut self,
        name: impl Into<String>,
        passed: bool,
        detail: impl Into<String>,
    ) -> Self {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
        self
    }

    /// Adds a caveat.
    pub fn caveat(mut self, text: impl Into<String>) -> Self {
        self.caveats.push(text.into());
        self
    }

    pub(crate) fn into_raw(self) -> Result<raw::StepOutput, Error> {
        let data = serde_json::to_string(&self.data)
            .map_err(|e| Error::fatal(format!("output data is not JSON: {e}")))?;
        Ok(raw::StepOutput {
            summary: self.summary,
            data,
            checks: self
                .checks
                .into_iter()
                .map(|c| raw::Check {
                    name: c.name,
                    passed: c.passed,
                    detail: c.detail,
                })
                .collect(),
            caveats: self.caveats,
        })
    }
}

/// Why a step failed.
///
/// Any `std::error::Error` converts into a fatal error, so `?` works in a plugin function;
/// use [`Error::retryable`] for failures that another attempt may not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A transient failure: running the step again may succeed.
    Retryable(String),
    /// A permanent failure: running the step again will not help.
    Fatal(String),
}

impl Error {
    /// A transient failure.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Error::Retryable(message.to_string())
    }

    /// A permanent failure.
    pub fn fatal(message: impl fmt::Display) -> Self {
        Error::Fatal(message.to_string())
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error::Fatal(error.to_string())
    }
}

impl From<Error> for raw::StepError {
    fn from(error: Error) -> Self {
        match error {
            Error::Retryable(m) => raw::StepError::Retryable(m),
            Error::Fatal(m) => raw::StepError::Fatal(m),
        }
    }
}
