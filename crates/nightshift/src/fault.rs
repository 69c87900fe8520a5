//! Whose move it is after an error: the person who gave the input, or nobody they can help.
//! Every front door maps this one classification to its own terms (the CLI's exit code 2,
//! MCP's invalid-params error), so no front door keeps a list of error types.

use crate::catalog::LookupError;
use crate::evidence::intoto::ExportError;
use crate::evidence::{CasError, KeyError};
use crate::journal::JournalError;
use crate::manifest::ManifestError;
use crate::report::BuildError;
use crate::runner::{ApplyError, RunError, StoredPlanError, WorkspaceError};
use crate::sandbox::SandboxError;
use crate::scaffold::ScaffoldError;
use crate::schedule::ScheduleError;
use crate::state::StateError;
use crate::tasks::TaskError;
use crate::worker::WorkerError;

/// What an error asks of whoever made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The input is wrong and must be fixed: a pipeline, an argument, a name, a policy.
    Input,
    /// Nightshift or its environment failed; the same request may work later.
    System,
}

/// An error that knows whose fault it is.
pub trait Classify {
    /// Whose fault it is.
    fn fault(&self) -> Fault;
}

impl Classify for JournalError {
    fn fault(&self) -> Fault {
        match self {
            JournalError::TaskNotFound(_) | JournalError::AmbiguousTask { .. } => Fault::Input,
            JournalError::Sqlite(_)
            | JournalError::Open { .. }
            | JournalError::Postgres { .. }
            | JournalError::Connect { .. }
            | JournalError::PostgresNotBuilt { .. }
            | JournalError::Disconnected { .. }
            | JournalError::Corrupt(_)
            | JournalError::NewerSchema { .. }
            | JournalError::LeaseLost { .. } => Fault::System,
        }
    }
}

impl Classify for TaskError {
    fn fault(&self) -> Fault {
        match self {
            TaskError::Journal(e) => e.fault(),
            TaskError::Run(_)
            | TaskError::Report(_)
            | TaskError::Key(_)
            | TaskError::Sandbox(_) => Fault::System,
        }
    }
}

impl Classify for ManifestError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

impl Classify for LookupError {
    fn fault(&self) -> Fault {
        match self {
            LookupError::Unknown { .. }
            | LookupError::BadName(_)
            | LookupError::NotAComponent(_)
            | LookupError::Read { .. } => Fault::Input,
        }
    }
}

impl Classify for ScaffoldError {
    fn fault(&self) -> Fault {
        match self {
            ScaffoldError::BadName(_) | ScaffoldError::Exists(_) => Fault::Input,
            ScaffoldError::Write { .. } => Fault::System,
        }
    }
}

impl Classify for StoredPlanError {
    fn fault(&self) -> Fault {
        match self {
            StoredPlanError::Manifest(e) => e.fault(),
            StoredPlanError::Missing(_) | StoredPlanError::Params { .. } => Fault::System,
        }
    }
}

impl Classify for RunError {
    fn fault(&self) -> Fault {
        match self {
            RunError::Journal(e) => e.fault(),
            RunError::Cas(_)
            | RunError::Key(_)
            | RunError::State(_)
            | RunError::Apply(_)
            | RunError::Workspace(_)
            | RunError::Record(_)
            | RunError::Busy(_)
            | RunError::Background(_)
            | RunError::ComponentChanged { .. } => Fault::System,
        }
    }
}

impl Classify for BuildError {
    fn fault(&self) -> Fault {
        match self {
            BuildError::Journal(e) => e.fault(),
            BuildError::Cas(_) => Fault::System,
        }
    }
}

impl Classify for ExportError {
    fn fault(&self) -> Fault {
        match self {
            ExportError::Journal(e) => e.fault(),
            ExportError::Cas(_) | ExportError::Record { .. } | ExportError::Write { .. } => {
                Fault::System
            }
        }
    }
}

impl Classify for ScheduleError {
    fn fault(&self) -> Fault {
        match self {
            ScheduleError::Journal(e) => e.fault(),
            ScheduleError::Encode(_) => Fault::System,
        }
    }
}

impl Classify for WorkerError {
    fn fault(&self) -> Fault {
        match self {
            WorkerError::Journal(e) => e.fault(),
        }
    }
}

/// Errors of the machine and its files, never of the request itself.
macro_rules! system_errors {
    ($($error:ty),+ $(,)?) => {
        $(impl Classify for $error {
            fn fault(&self) -> Fault {
                Fault::System
            }
        })+
    };
}

system_errors!(
    ApplyError,
    CasError,
    KeyError,
    SandboxError,
    StateError,
    WorkspaceError,
    std::io::Error,
    serde_json::Error,
);
