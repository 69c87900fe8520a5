//! One connection to PostgreSQL, used synchronously like the SQLite one.
//!
//! tokio-postgres splits a connection in two: the `Connection`, which does the I/O and runs
//! on a small runtime of its own (one thread, shared by every connection of the process), and
//! the `Client`, whose requests are plain futures over channels. The journal's callers are
//! synchronous and may sit on any thread (an async worker's included), so each request is
//! driven to completion with a minimal executor on the caller's thread: it blocks that thread
//! for the round trip, as an SQLite statement blocks it for the disk.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use nightshift_journal::JournalError;

use crate::error::{ConnectError, DbError};

/// A connection attempt gives up after this long unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request whose answer has not come after this long counts the connection as lost (a
/// partition, a host that vanished), so it is dropped and made again, never waited on forever.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an operation failed: the database, or the journal's own rules (a lost lease, a task
/// that is not there), which pass through unchanged.
#[derive(Debug)]
pub(super) enum Failure {
    /// PostgreSQL or the connection to it.
    Db(tokio_postgres::Error),
    /// The journal refused it.
    Journal(JournalError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Failure::Journal(e)
    }
}

/// Shorthand for what operations on a session return.
pub(super) type Outcome<T> = std::result::Result<T, Failure>;

/// The runtime the connections' I/O runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nightshift-postgres")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the PostgreSQL I/O thread: {e}"))
    })
}

/// Spawns `future` on the connections' runtime.
pub(super) fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}

/// Parses a `postgres://` URL, with the timeouts the journal relies on unless it sets them.
pub(super) fn config(url: &str) -> Result<Config, JournalError> {
    let mut config: Config = url.parse().map_err(|e| JournalError::Connect {
        server: redacted(url),
        cause: Box::new(ConnectError::Url(DbError(e))),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    config.keepalives_idle(Duration::from_secs(5));
    if config.get_application_name().is_none() {
        config.application_name("nightshift");
    }
    Ok(config)
}

/// The server a config names, for messages: `host:port/database`, never the password.
pub(super) fn describe(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("{host}:{port}/{db}")
}

/// A URL that did not parse, for messages: everything before `@` dropped.
fn redacted(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, rest)) => format!("postgres://…@{rest}"),
        None => url.to_owned(),
    }
}

/// An open connection with its prepared statements.
pub(super) struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

impl Session {
    /// Connects, within the config's connect timeout.
    pub(super) fn connect(config: &Config) -> Result<Session, ConnectError> {
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let config = config.clone();
        let connecting = spawn(async move {
            let (client, connection) = tokio::time::timeout(timeout, config.connect(NoTls))
                .await
                .map_err(|_| ConnectError::Timeout(timeout))??;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("PostgreSQL connection ended: {e}");
                }
            });
            // Bookkeeping commits without waiting for the WAL flush; durable transactions
            // turn it back on (see the `postgres` module).
            client
                .batch_execute("SET synchronous_commit TO off")
                .await?;
            Ok::<_, ConnectError>(client)
        });
        let client = futures_executor::block_on(connecting).map_err(ConnectError::Task)??;
        Ok(Session {
            client,
            statements: HashMap::new(),
        })
    }

    /// Whether the connection is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&mut self, sql: &str) -> Outcome<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = futures_executor::block_on(self.client.prepare(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs a statement; the number of rows it changed.
    pub(super) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Outcome<u64> {
        let statement = self.statement(sql)?;
        Ok(futures_executor::block_on(
            self.client.execute(&statement, params),
        )?)
    }

    /// Runs a query; all its rows.
    pub(super) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Outcome<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(futures_executor::block_on(
            self.client.query(&statement, params),
        )?)
    }

    /// Runs a query; its one row, if any.
    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Outcome<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(futures_executor::block_on(
            self.client.query_opt(&statement, params),
        )?)
    }

    /// Runs a query that returns exactly one row.
    pub(super) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Outcome<Row> {
        let statement = self.statement(sql)?;
        Ok(futures_executor::block_on(
            self.client.query_one(&statement, params),
        )?)
    }

    /// Runs statements without parameters (DDL, `BEGIN`, ...).
    pub(super) fn batch(&mut self, sql: &str) -> Outcome<()> {
        Ok(futures_executor::block_on(self.client.batch_execute(sql))?)
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    /// Its commit returns before the WAL is flushed unless `durable`.
    pub(super) fn transaction<T>(
        &mut self,
        durable: bool,
        work: impl FnOnce(&mut Session) -> Outcome<T>,
    ) -> Outcome<T> {
        self.batch(if durable {
            "BEGIN; SET LOCAL synchronous_commit TO on"
        } else {
            "BEGIN"
        })?;
        match work(self) {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                if !self.is_closed()
                    && let Err(Failure::Db(rollback)) = self.batch("ROLLBACK")
                {
                    tracing::debug!("rollback failed: {rollback}");
                }
                Err(e)
            }
        }
    }
}

/// Whether an operation that failed with `error` may succeed if run again on a new or the
/// same connection: the connection was lost, the server is restarting, or the transaction
/// lost a race PostgreSQL asks clients to retry.
pub(super) fn is_transient(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    let Some(code) = error.code() else {
        // No SQL state: an I/O error on the socket.
        return error.as_db_error().is_none();
    };
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
    ]
    .contains(code)
}
