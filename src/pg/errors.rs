//! PostgreSQL's errors as the codes the SQLite backend gives for the same call, so callers'
//! error handling works on both: 23505 on a primary key is `SQLITE_CONSTRAINT_PRIMARYKEY`, on any
//! other unique constraint `SQLITE_CONSTRAINT_UNIQUE`, 23503 `SQLITE_CONSTRAINT_FOREIGNKEY`, 57014
//! (statement_timeout) `QUERY_TIMEOUT`; a broken connection is `CONNECTION_LOST`. The message
//! starts as SQLite's does (callers match "UNIQUE constraint failed") and keeps PostgreSQL's.

use std::time::Duration;

use tokio_postgres::error::{DbError, SqlState};

use crate::error::Error;

/// Why a request got no result: the server's (or the client's) error, or no answer at all within
/// the limit (a network that stopped carrying packets without closing the socket).
#[derive(Debug)]
pub enum Fault {
    Pg(tokio_postgres::Error),
    Stalled(Duration),
}

impl From<tokio_postgres::Error> for Fault {
    fn from(e: tokio_postgres::Error) -> Self {
        Fault::Pg(e)
    }
}

/// Whether the fault left the connection unusable (closed, reset, shut down, silent).
pub fn is_connection_loss(fault: &Fault) -> bool {
    match fault {
        Fault::Stalled(_) => true,
        Fault::Pg(e) => is_pg_loss(e),
    }
}

/// The crate's error for a fault (`timeout` is the query timeout in force).
pub fn convert(fault: Fault, timeout: Duration) -> Error {
    match fault {
        Fault::Stalled(limit) => Error::ConnectionLost(format!(
            "no answer from PostgreSQL within {} ms (queryTimeout and a margin); the connection was dropped and the work did not complete",
            limit.as_millis()
        )),
        Fault::Pg(e) => convert_pg(e, timeout),
    }
}

/// Whether the error left the connection unusable (closed, reset, shut down by the server).
fn is_pg_loss(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        // No server error: an I/O failure under the connection is a loss; a value that could not
        // be encoded or decoded is not (nothing was sent, or the answer arrived whole).
        None => is_io(err),
    }
}

fn is_io(err: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// `Key (agent_id, key)=(a, b) already exists.` → `agent_memory.agent_id, agent_memory.key`.
fn columns(db: &DbError) -> String {
    let table = db.table().unwrap_or("?");
    let inside = db
        .detail()
        .and_then(|d| d.strip_prefix("Key ("))
        .and_then(|d| d.split(")=").next())
        .unwrap_or("");
    inside
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn convert_pg(err: tokio_postgres::Error, timeout: Duration) -> Error {
    if is_pg_loss(&err) {
        return Error::ConnectionLost(format!(
            "the connection to PostgreSQL was lost ({err}); the work did not run"
        ));
    }
    let Some(db) = err.as_db_error() else {
        // Encoding a parameter or decoding a column failed: the caller's values.
        let why = std::error::Error::source(&err).map_or_else(|| err.to_string(), |s| s.to_string());
        return Error::invalid(why);
    };
    let state = db.code();
    // SQLite's words for the same failure, so messages (and callers matching them) agree.
    let sqlite = |code: &'static str, message: String| Error::Sqlite { code, message };
    match state {
        s if *s == SqlState::UNIQUE_VIOLATION => {
            let primary = db.constraint().is_some_and(|c| c.ends_with("_pkey"));
            let code = if primary {
                "SQLITE_CONSTRAINT_PRIMARYKEY"
            } else {
                "SQLITE_CONSTRAINT_UNIQUE"
            };
            sqlite(code, format!("UNIQUE constraint failed: {}", columns(db)))
        }
        s if *s == SqlState::FOREIGN_KEY_VIOLATION => {
            sqlite("SQLITE_CONSTRAINT_FOREIGNKEY", "FOREIGN KEY constraint failed".into())
        }
        s if *s == SqlState::NOT_NULL_VIOLATION => sqlite(
            "SQLITE_CONSTRAINT_NOTNULL",
            format!(
                "NOT NULL constraint failed: {}.{}",
                db.table().unwrap_or("?"),
                db.column().unwrap_or("?")
            ),
        ),
        s if *s == SqlState::CHECK_VIOLATION => sqlite("SQLITE_CONSTRAINT_CHECK", "CHECK constraint failed".into()),
        s if *s == SqlState::QUERY_CANCELED => Error::QueryTimeout { limit: timeout },
        // A value PostgreSQL cannot take where SQLite would: the caller's input.
        s if *s == SqlState::PROGRAM_LIMIT_EXCEEDED => Error::invalid(format!(
            "PostgreSQL cannot store this value: {} (keys and ids over about 2,700 bytes do not fit its indexes)",
            db.message()
        )),
        s if *s == SqlState::DATATYPE_MISMATCH || *s == SqlState::INVALID_TEXT_REPRESENTATION => {
            Error::invalid(format!("a value of the wrong type for PostgreSQL: {}", db.message()))
        }
        s if *s == SqlState::T_R_SERIALIZATION_FAILURE || *s == SqlState::T_R_DEADLOCK_DETECTED => {
            sqlite("SQLITE_BUSY", "database is locked".into())
        }
        s if *s == SqlState::DISK_FULL => sqlite("SQLITE_FULL", "database or disk is full".into()),
        s if *s == SqlState::INSUFFICIENT_PRIVILEGE || *s == SqlState::READ_ONLY_SQL_TRANSACTION => {
            sqlite("SQLITE_READONLY", "attempt to write a readonly database".into())
        }
        _ => Error::Sqlite {
            code: "SQLITE_ERROR",
            message: format!("{} (SQLSTATE {})", db.message(), state.code()),
        },
    }
}

/// Whether a cached prepared statement no longer fits the schema (another host changed a
/// table): the cache is dropped and the statement prepared again.
pub fn is_stale_plan(fault: &Fault) -> bool {
    matches!(fault, Fault::Pg(e) if e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED)
        || e.code() == Some(&SqlState::UNDEFINED_TABLE)
        || e.code() == Some(&SqlState::UNDEFINED_COLUMN)
        || e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME))
}

/// Whether the server refused a request because its transaction had already failed (25P02):
/// the failure was an earlier request's.
pub fn is_in_failed_transaction(fault: &Fault) -> bool {
    matches!(fault, Fault::Pg(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION))
}
