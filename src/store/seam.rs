//! The storage seam: what the swarm domain needs from a storage engine, so that the domain
//! (operations, memory TTL rules, result shapes) is written once and an engine implements only
//! this. SQLite (the pool) implements it in `store::sqlite`.

use crate::error::Result;
use crate::pool::job::{Completion, Output, WriteResult};
use crate::sqlite::{RowSet, Value};

/// SQL that differs between engines.
pub trait Dialect: Sync {
    /// An expression for the current time as text with milliseconds.
    fn now_ms(&self) -> &'static str;
    /// An expression for the current time as SQLite's `CURRENT_TIMESTAMP` writes it.
    fn now_s(&self) -> &'static str;
    /// A condition true for memory rows that have not expired.
    fn memory_live(&self) -> &'static str;
    /// A condition true when timestamp column `column` is more than `days` days old.
    fn older_than(&self, column: &str, days: u32) -> String;
}

/// One connection's worth of work, inside whatever transaction the engine runs it in.
/// Statements use `?` placeholders.
pub trait Session {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<WriteResult>;
    fn query(&self, sql: &str, params: &[Value]) -> Result<RowSet>;
    /// Gives free pages back to the file system (VACUUM); only outside a transaction.
    fn compact(&self) -> Result<()>;
    fn dialect(&self) -> &'static dyn Dialect;
}

/// Domain work for one session; it may run again when the engine replays its transaction.
pub type Work = Box<dyn FnMut(&dyn Session) -> Result<Output> + Send>;

/// Turns what one statement did into the job's output (it may run again on a replay).
pub type Finish = Box<dyn FnMut(Result<WriteResult>) -> Result<Output> + Send>;

/// A write that is one statement known in advance, so an engine can send it without waiting
/// for the answers of the writes before it (PostgreSQL pipelines a group of them).
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
    pub finish: Finish,
}

/// Turns one query's rows into the job's output.
pub type Shape = Box<dyn FnMut(Result<RowSet>) -> Result<Output> + Send>;

/// A read that is one query known in advance, so an engine can send several on one connection
/// without waiting for each answer (PostgreSQL pipelines them).
pub struct Query {
    pub sql: String,
    pub params: Vec<Value>,
    /// A list that may read many rows (not a lookup by key): an engine may run it apart from
    /// point reads so they never wait behind it (PostgreSQL's worker connections).
    pub scan: bool,
    pub shape: Shape,
}

pub trait Storage: Send + Sync {
    /// Runs `work` with the other writes, committed before `done` runs.
    fn write(&self, work: Work, done: Completion);
    /// Runs one statement with the other writes, committed before `done` runs.
    fn write_statement(&self, statement: Statement, done: Completion);
    /// The engine's SQL dialect, for statements built before they are queued.
    fn dialect(&self) -> &'static dyn Dialect;
    /// Runs `work` on its own, outside any transaction (compaction).
    fn write_alone(&self, work: Work, done: Completion);
    /// Runs read-only `work`.
    fn read(&self, work: Work, done: Completion);
    /// Runs one read-only query.
    fn read_query(&self, query: Query, done: Completion);
    /// Creates or migrates the schema.
    fn migrate(&self, done: Completion);
    /// A consistent copy of the database at `dest` (engines that cannot make one refuse).
    fn backup(&self, dest: std::path::PathBuf, done: Completion);
}
