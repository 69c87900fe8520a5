//! Why PostgreSQL failed, as typed causes that the journal's errors keep.

use std::time::Duration;

use tokio_postgres::error::SqlState;

/// An error of the PostgreSQL client, shown with its causes: the server's own message for
/// database errors, the operating system's for I/O errors.
#[derive(Debug)]
pub struct DbError(pub tokio_postgres::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            return write!(
                f,
                "{}: {} ({})",
                db.severity(),
                db.message(),
                db.code().code()
            );
        }
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(inner) = cause {
            write!(f, ": {inner}")?;
            cause = inner.source();
        }
        Ok(())
    }
}

// The message already carries the causes, so they are not offered again as a source.
impl std::error::Error for DbError {}

/// Why a connection to PostgreSQL could not be made, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("not a valid PostgreSQL URL: {0}")]
    Url(DbError),
    /// The server did not answer in time.
    #[error("no answer within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    /// The server refused the user or password.
    #[error("the server refused the login (check the user and password in the URL): {0}")]
    Login(DbError),
    /// The database does not exist.
    #[error("no such database (create it first): {0}")]
    NoDatabase(DbError),
    /// Any other failure of the client or the server.
    #[error("{0}")]
    Db(DbError),
    /// The task making the connection ended abnormally.
    #[error("the connection task failed: {0}")]
    Task(tokio::task::JoinError),
}

impl From<tokio_postgres::Error> for ConnectError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.code() {
            Some(code) if code.code().starts_with("28") => ConnectError::Login(DbError(error)),
            Some(&SqlState::INVALID_CATALOG_NAME) => ConnectError::NoDatabase(DbError(error)),
            _ => ConnectError::Db(DbError(error)),
        }
    }
}
