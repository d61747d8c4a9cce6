//! The SQLite pool as the swarm domain's storage engine.

use std::path::PathBuf;

use rusqlite::Connection;

use crate::error::Result;
use crate::pool::job::{Completion, Output, WriteResult};
use crate::pool::lanes::Lane;
use crate::pool::Pool;
use crate::sqlite::{guard, statements, RowSet, Value};
use crate::store::schema;
use crate::store::seam::{Dialect, Query, Session, Statement, Storage, Work};

pub struct SqliteDialect;

/// SQLite's dialect.
pub static SQLITE: SqliteDialect = SqliteDialect;

impl Dialect for SqliteDialect {
    fn now_ms(&self) -> &'static str {
        "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    }

    fn now_s(&self) -> &'static str {
        "CURRENT_TIMESTAMP"
    }

    /// julianday() compares both the original's ISO `…T…Z` and SQLite's `YYYY-MM-DD HH:MM:SS`
    /// forms correctly (a plain string comparison does not).
    fn memory_live(&self) -> &'static str {
        "(expires_at IS NULL OR julianday(expires_at) > julianday('now'))"
    }

    fn older_than(&self, column: &str, days: u32) -> String {
        format!("julianday({column}) < julianday('now', '-{days} days')")
    }
}

impl Session for Connection {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<WriteResult> {
        let mut stmt = statements::cached(self, sql)?;
        let changes = stmt.execute(rusqlite::params_from_iter(params))? as u64;
        Ok(WriteResult {
            changes,
            last_insert_rowid: self.last_insert_rowid(),
            rows: None,
        })
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<RowSet> {
        let mut stmt = statements::cached(self, sql)?;
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, p)?;
        }
        RowSet::collect(&mut stmt, usize::MAX)
    }

    fn compact(&self) -> Result<()> {
        guard::vacuum(|| self.execute_batch("VACUUM"))?;
        Ok(())
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &SqliteDialect
    }
}

impl Storage for Pool {
    fn write(&self, mut work: Work, done: Completion) {
        self.write_with(Box::new(move |conn| work(conn)), done);
    }

    fn write_statement(&self, statement: Statement, done: Completion) {
        let Statement {
            sql,
            params,
            mut finish,
        } = statement;
        self.write_with(
            Box::new(move |conn| finish(Session::execute(conn, &sql, &params))),
            done,
        );
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &SqliteDialect
    }

    fn write_alone(&self, mut work: Work, done: Completion) {
        Pool::write_alone(self, Box::new(move |conn| work(conn)), done);
    }

    fn read(&self, mut work: Work, done: Completion) {
        self.read_with(Lane::Read, Box::new(move |conn| work(conn)), done);
    }

    fn read_query(&self, query: Query, done: Completion) {
        // SQLite's readers are threads of this process over one file: every read goes to them, and
        // the workers stay for `executeInWorker`.
        let Query {
            sql, params, mut shape, ..
        } = query;
        self.read_with(
            Lane::Read,
            Box::new(move |conn| shape(Session::query(conn, &sql, &params))),
            done,
        );
    }

    fn migrate(&self, done: Completion) {
        self.write_with(
            Box::new(|conn| schema::migrate(conn).map(|v| Output::Json(v.into()))),
            done,
        );
    }

    fn backup(&self, dest: PathBuf, done: Completion) {
        Pool::backup(self, dest, done);
    }
}
