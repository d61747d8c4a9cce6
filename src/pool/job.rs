//! A unit of work for a pool thread: what to run on a connection, and whom to tell.

use std::time::Instant;

use rusqlite::Connection;

use crate::error::Result;
use crate::sqlite::{Records, RowSet};

/// What a write statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteResult {
    pub changes: u64,
    pub last_insert_rowid: i64,
}

/// A job's result, as plain data the binding turns into JavaScript values.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
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
    /// Must run outside any transaction (VACUUM, PRAGMA …); only meaningful for writes.
    pub alone: bool,
}

impl Job {
    pub fn new(work: Work, done: Completion) -> Job {
        Job {
            work,
            done,
            queued_at: Instant::now(),
            alone: false,
        }
    }
}
