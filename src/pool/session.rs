//! Interactive transactions (`transaction(async (tx) => …)`): one job on the writer opens
//! `BEGIN IMMEDIATE` and then serves the caller's statements, sent one by one over a channel,
//! until the caller commits or rolls back. Other writes wait meanwhile (bounded by
//! `acquireTimeout`); a transaction left open past `queryTimeout` is rolled back, so a forgotten
//! `await` cannot stall every writer.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::Connection;

use crate::error::Error;
use crate::pool::context::ThreadContext;
use crate::pool::job::{Completion, Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::sql::{check_text, refuse_control, run_query, run_statement, Fetch};
use crate::pool::Pool;
use crate::sqlite::classify::first_keyword;
use crate::sqlite::guard;
use crate::sqlite::{Form, Params};

/// What a statement of the transaction returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every row.
    Read,
    /// The first row or none.
    Get,
    /// `{ changes, lastInsertRowid }`, and `rows` when the statement returns columns.
    Write,
}

pub enum Command {
    Run {
        kind: Kind,
        form: Form,
        sql: String,
        params: Params,
        done: Completion,
    },
    End {
        commit: bool,
        done: Completion,
    },
}

/// Why a transaction ended before its caller ended it (None while it is open).
#[derive(Clone, Default)]
pub struct Ended(Arc<Mutex<Option<Error>>>);

impl Ended {
    pub fn get(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, err: Error) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
    }
}

fn rolled_back() -> Error {
    Error::invalid("the transaction was rolled back (a statement in it ended it); nothing of it was committed")
}

impl Pool {
    /// Opens an interactive transaction on the writer; `started` settles once `BEGIN IMMEDIATE`
    /// ran, then `commands` are served until `End` (or the time limit, or the sender is dropped).
    pub fn begin(&self, commands: Receiver<Command>, ended: Ended, started: Completion) {
        let ctx = Arc::clone(&self.ctx);
        let mut started = Some(started);
        let work = Box::new(move |conn: &Connection| {
            let Some(started) = started.take() else {
                return Ok(Output::Done);
            };
            if let Err(e) = guard::internal(|| conn.execute_batch("BEGIN IMMEDIATE")) {
                started(Err(e.into()));
                return Ok(Output::Done);
            }
            started(Ok(Output::Done));
            serve(&ctx, conn, &commands, &ended);
            Ok(Output::Done)
        });
        let mut job = Job::new(work, Box::new(|_| {}));
        job.alone = true;
        self.submit(Lane::Write, job);
    }
}

fn serve(ctx: &ThreadContext, conn: &Connection, commands: &Receiver<Command>, ended: &Ended) {
    let until = Instant::now() + ctx.config.query_timeout;
    loop {
        match commands.recv_deadline(until) {
            Ok(Command::Run {
                kind,
                form,
                sql,
                params,
                done,
            }) => {
                if conn.is_autocommit() {
                    done(Err(rolled_back()));
                    continue;
                }
                let result = check_text(&sql)
                    .and_then(|()| {
                        refuse_control(
                            &sql,
                            "return from the transaction function to commit, throw to roll back",
                        )
                    })
                    .and_then(|()| {
                        // A PRAGMA the writer prepared outside a transaction (`write()`,
                        // `pragma()`) may sit in its statement cache, authorized there; here it
                        // must be authorized again, as part of a transaction.
                        if first_keyword(&sql) == "PRAGMA" {
                            conn.flush_prepared_statement_cache();
                        }
                        guard::transactional(|| match kind {
                            Kind::Read => run_query(conn, &sql, &params, Fetch::All, form),
                            Kind::Get => run_query(conn, &sql, &params, Fetch::First, form),
                            Kind::Write => run_statement(conn, &sql, &params, form).map(Output::Write),
                        })
                    });
                done(result)
            }
            Ok(Command::End { commit, done }) => {
                let result = if !commit {
                    rollback(conn);
                    Ok(Output::Done)
                } else if conn.is_autocommit() {
                    Err(rolled_back())
                } else {
                    match guard::internal(|| conn.execute_batch("COMMIT")) {
                        Ok(()) if ctx.db.moved() => Err(Error::Sqlite {
                            code: "SQLITE_READONLY_DBMOVED",
                            message: "the database file or its WAL was deleted or replaced while open; the transaction is not acknowledged".into(),
                        }),
                        Ok(()) => Ok(Output::Done),
                        Err(e) => {
                            rollback(conn);
                            Err(e.into())
                        }
                    }
                };
                ended.set(Error::invalid(
                    "the transaction has ended; start another with transaction()",
                ));
                return done(result);
            }
            Err(RecvTimeoutError::Timeout) => {
                rollback(conn);
                return ended.set(Error::QueryTimeout {
                    limit: ctx.config.query_timeout,
                });
            }
            Err(RecvTimeoutError::Disconnected) => {
                rollback(conn);
                return ended.set(Error::PoolClosed);
            }
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = guard::internal(|| conn.execute_batch("ROLLBACK"));
    }
}
