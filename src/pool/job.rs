//! A unit of work for a pool thread: what to run on a connection, and whom to tell.

use std::time::Instant;

use rusqlite::Connection;

use crate::error::Result;
use crate::pool::cursor::Cursor;
use crate::sqlite::{Records, RowSet};

/// What a write statement did, and the rows it returned when it returns columns (`RETURNING`,
/// or a query sent as a write); None when it has no result columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteResult {
    pub changes: u64,
    pub last_insert_rowid: i64,
    pub rows: Option<RowSet>,
}

/// A job's result, as plain data the binding turns into JavaScript values.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A query's rows: all of them, or (a `get` in `Form::Raw`) at most the first.
    Rows(RowSet),
    /// The first row of a query, or none.
    Row(Option<RowSet>),
    Write(WriteResult),
    Writes(Vec<WriteResult>),
    /// Domain rows with JSON columns to parse (or the first of them, or null).
    Records(Records),
    Json(serde_json::Value),
    /// What a backup made.
    Backup(crate::pool::backup::BackupInfo),
    Done,
}

/// May run more than once: a job whose transaction a later job rolled back whole is run again.
pub type Work = Box<dyn FnMut(&Connection) -> Result<Output> + Send>;
pub type Completion = Box<dyn FnOnce(Result<Output>) + Send>;

pub struct Job {
    pub work: Work,
    pub done: Completion,
    pub queued_at: Instant,
    /// Must run outside any transaction (VACUUM, PRAGMA …) or read batch.
    pub alone: bool,
    /// An open iteration (`iterate()`): the reader that takes this job serves the cursor's pulls
    /// instead of running `work`.
    pub cursor: Option<Box<Cursor>>,
}

impl Job {
    pub fn new(work: Work, done: Completion) -> Job {
        Job {
            work,
            done,
            queued_at: Instant::now(),
            alone: false,
            cursor: None,
        }
    }
}
