//! The one error type of the crate. Every failure a caller can see is one of these variants, and
//! `code()` is the stable string JavaScript receives as `Error.code`.

use std::fmt;
use std::time::Duration;

use crate::sqlite::codes::extended_code_name;

#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// SQLite reported a failure; `code` is its extended result code name (`SQLITE_CONSTRAINT_UNIQUE`).
    Sqlite { code: &'static str, message: String },
    /// The pool was closed (or is closing) before this call could be queued or run.
    PoolClosed,
    /// The job waited in its queue longer than `acquireTimeout` before a connection took it.
    PoolTimeout { waited: Duration, limit: Duration },
    /// The queue for this kind of job already holds `capacity` jobs.
    QueueFull { queue: &'static str, capacity: usize },
    /// The caller passed something we cannot accept; the message names it.
    InvalidArgument(String),
    /// A configuration option or `POOL_*` variable is malformed or out of range; `name` is it.
    InvalidConfig { name: String, message: String },
    /// A statement that writes was sent to a read-only connection (reader or worker).
    ReadOnly(String),
    /// The query ran longer than the configured query timeout and was interrupted.
    QueryTimeout { limit: Duration },
    /// An iteration's consumer did not pull for longer than the query timeout; its reader was
    /// released (code `QUERY_TIMEOUT`).
    IterationIdle { limit: Duration },
    /// A job panicked; the connection that ran it was replaced.
    Internal(String),
    /// The call's AbortSignal aborted it: before it ran (nothing was done), or while a read ran.
    Aborted { running: bool },
    /// The connection to a database server broke; the message says whether the work is known
    /// not to have happened or its outcome is unknown.
    ConnectionLost(String),
    /// The backend in use cannot do this; the message says what to use instead.
    NotSupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Sqlite { code, .. } => code,
            Error::PoolClosed => "POOL_CLOSED",
            Error::PoolTimeout { .. } => "POOL_TIMEOUT",
            Error::QueueFull { .. } => "POOL_QUEUE_FULL",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::InvalidConfig { .. } => "INVALID_CONFIG",
            Error::ReadOnly(_) => "READ_ONLY",
            Error::QueryTimeout { .. } | Error::IterationIdle { .. } => "QUERY_TIMEOUT",
            Error::Internal(_) => "INTERNAL_ERROR",
            Error::Aborted { .. } => "ABORTED",
            Error::ConnectionLost(_) => "CONNECTION_LOST",
            Error::NotSupported(_) => "NOT_SUPPORTED",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    pub fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            name: name.into(),
            message: message.into(),
        }
    }

    /// True for failures of the surroundings rather than of the statement: a full disk, an I/O
    /// error, a read-only or locked file. Repeated on the write path, they make the pool unhealthy.
    pub fn is_environment_failure(&self) -> bool {
        matches!(self, Error::Sqlite { code, .. }
            if ["SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED",
                "SQLITE_CANTOPEN", "SQLITE_NOMEM", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PROTOCOL"]
                .iter()
                .any(|prefix| code.starts_with(prefix)))
    }

    /// True for failures after which the connection that hit them must be replaced.
    pub fn is_connection_fault(&self) -> bool {
        matches!(self, Error::Sqlite { code, .. }
            if code.starts_with("SQLITE_IOERR") || code.starts_with("SQLITE_CORRUPT")
                || *code == "SQLITE_NOTADB" || code.starts_with("SQLITE_READONLY_DBMOVED"))
            || matches!(self, Error::Internal(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite { message, .. } => f.write_str(message),
            Error::PoolClosed => f.write_str("the pool is closed; open a new one to run more work"),
            Error::PoolTimeout { waited, limit } => write!(
                f,
                "waited {} ms for a connection (acquireTimeout is {} ms); lower the load or raise acquireTimeout",
                waited.as_millis(),
                limit.as_millis()
            ),
            Error::QueueFull { queue, capacity } => write!(
                f,
                "the {queue} queue is full ({capacity} jobs waiting); await some work before queueing more or raise maxQueue"
            ),
            Error::InvalidArgument(m) => f.write_str(m),
            Error::InvalidConfig { name, message } => write!(f, "invalid {name}: {message}"),
            Error::ReadOnly(m) => f.write_str(m),
            Error::QueryTimeout { limit } => write!(
                f,
                "query interrupted after {} ms (queryTimeout); narrow it or raise POOL_QUERY_TIMEOUT",
                limit.as_millis()
            ),
            Error::IterationIdle { limit } => write!(
                f,
                "the iteration was not pulled for {} ms (queryTimeout), so its snapshot and reader were released; pull again sooner or raise POOL_QUERY_TIMEOUT",
                limit.as_millis()
            ),
            Error::Internal(m) => f.write_str(m),
            Error::Aborted { running: false } => {
                f.write_str("aborted through options.signal before it ran; nothing was done")
            }
            Error::Aborted { running: true } => {
                f.write_str("aborted through options.signal: the running query was interrupted")
            }
            Error::ConnectionLost(m) | Error::NotSupported(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match err {
            E::SqliteFailure(inner, message) => Error::Sqlite {
                code: extended_code_name(inner.extended_code),
                message: message.unwrap_or_else(|| inner.to_string()),
            },
            E::MultipleStatement => {
                Error::invalid("one call takes one SQL statement; use transaction([...]) to run several")
            }
            E::InvalidParameterCount(given, expected) => Error::invalid(format!(
                "wrong number of parameters: {given} given, the statement takes {expected}"
            )),
            E::InvalidParameterName(name) => Error::invalid(format!("unknown named parameter {name}")),
            E::SqlInputError { error, msg, offset, .. } => Error::Sqlite {
                code: extended_code_name(error.extended_code),
                message: format!("{msg} (at offset {offset})"),
            },
            E::ToSqlConversionFailure(e) => Error::invalid(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}
