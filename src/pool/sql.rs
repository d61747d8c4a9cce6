//! Jobs built from SQL text: `query` (readers and workers), `execute` and `transaction` (writer).

use std::sync::Arc;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::pool::job::{Completion, Job, Output, WriteResult};
use crate::pool::thread::Lane;
use crate::pool::Pool;
use crate::sqlite::classify::{classify, StatementKind};
use crate::sqlite::{Params, RowSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    All,
    First,
}

/// One statement of a `transaction([...])`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Params,
}

fn check_text(sql: &str) -> Result<()> {
    if sql.trim().is_empty() {
        return Err(Error::invalid("the SQL text is empty"));
    }
    Ok(())
}

/// Runs a read-only statement, refusing anything that would write or change connection state.
pub fn run_query(conn: &Connection, sql: &str, params: &Params, fetch: Fetch) -> Result<Output> {
    let mut stmt = conn.prepare_cached(sql)?;
    if !stmt.readonly() || classify(sql) == StatementKind::TransactionControl {
        return Err(Error::ReadOnly(
            "this statement writes (or controls transactions) and was sent to a read-only connection; use write() or transaction()".into(),
        ));
    }
    params.bind(&mut stmt)?;
    let limit = if fetch == Fetch::First { 1 } else { usize::MAX };
    // A reader may run this inside its batch's read transaction; only a transaction the
    // statement itself opened is rolled back.
    let was_autocommit = conn.is_autocommit();
    let rows = RowSet::collect(&mut stmt, limit);
    drop(stmt);
    if was_autocommit && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let rows = rows?;
    Ok(match fetch {
        Fetch::All => Output::Rows(rows),
        Fetch::First => Output::Row((rows.row_count() > 0).then_some(rows)),
    })
}

/// Runs one statement on the writer's connection, stepping through any rows it returns.
pub fn run_statement(conn: &Connection, sql: &str, params: &Params) -> Result<WriteResult> {
    let mut stmt = conn.prepare_cached(sql)?;
    params.bind(&mut stmt)?;
    let writes = !stmt.readonly();
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(WriteResult {
        changes: if writes { conn.changes() } else { 0 },
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

impl Pool {
    /// `read`/`get` on the readers, `executeInWorker` on the workers.
    pub fn query(&self, lane: Lane, sql: String, params: Params, fetch: Fetch, done: Completion) {
        if let Err(e) = check_text(&sql) {
            return done(Err(e));
        }
        let work = Box::new(move |conn: &Connection| run_query(conn, &sql, &params, fetch));
        self.submit(lane, Job::new(work, done));
    }

    /// `write`: one statement, committed with whatever else the writer has queued.
    pub fn execute(&self, sql: String, params: Params, done: Completion) {
        if let Err(e) = check_text(&sql) {
            return done(Err(e));
        }
        let alone = match classify(&sql) {
            StatementKind::TransactionControl => {
                return done(Err(Error::invalid(
                    "BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE are managed by the pool; use transaction([...]) for atomic groups",
                )))
            }
            StatementKind::Alone => true,
            StatementKind::Batched => false,
        };
        let work = Box::new(move |conn: &Connection| run_statement(conn, &sql, &params).map(Output::Write));
        let mut job = Job::new(work, done);
        job.alone = alone;
        self.submit(Lane::Write, job);
    }

    /// `transaction([...])`: every statement or none, inside one savepoint.
    pub fn transaction(&self, statements: Vec<Statement>, done: Completion) {
        for (i, s) in statements.iter().enumerate() {
            let refused = match classify(&s.sql) {
                _ if s.sql.trim().is_empty() => Some("is empty"),
                StatementKind::Batched => None,
                StatementKind::Alone => {
                    Some("cannot run inside a transaction (VACUUM, PRAGMA, ATTACH); send it with write()")
                }
                StatementKind::TransactionControl => Some("controls transactions, which transaction() already does"),
            };
            if let Some(why) = refused {
                return done(Err(Error::invalid(format!("statement {i} {why}"))));
            }
        }
        let work = Box::new(move |conn: &Connection| {
            let mut results = Vec::with_capacity(statements.len());
            for (i, s) in statements.iter().enumerate() {
                results.push(run_statement(conn, &s.sql, &s.params).map_err(|e| at_statement(i, e))?);
            }
            Ok(Output::Writes(results))
        });
        self.submit(Lane::Write, Job::new(work, done));
    }

    /// Runs custom work on the writer inside the group-commit transaction.
    pub fn write_with(&self, work: crate::pool::job::Work, done: Completion) {
        self.submit(Lane::Write, Job::new(work, done));
    }

    /// Runs custom work on the writer outside any transaction (VACUUM and the like).
    pub fn write_alone(&self, work: crate::pool::job::Work, done: Completion) {
        let mut job = Job::new(work, done);
        job.alone = true;
        self.submit(Lane::Write, job);
    }

    /// Runs custom read-only work on a reader or a worker.
    pub fn read_with(&self, lane: Lane, work: crate::pool::job::Work, done: Completion) {
        self.submit(lane, Job::new(work, done));
    }
}

fn at_statement(index: usize, err: Error) -> Error {
    match err {
        Error::Sqlite { code, message } => Error::Sqlite {
            code,
            message: format!("statement {index}: {message}"),
        },
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("statement {index}: {m}")),
        other => other,
    }
}

/// Blocks the calling thread until a job completes; for Rust callers and tests, never for the
/// JavaScript main thread.
pub fn wait<F: FnOnce(Completion)>(submit: F) -> Result<Output> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    submit(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.recv().unwrap_or(Err(Error::PoolClosed))
}

pub type SharedPool = Arc<Pool>;
