//! Jobs built from SQL text: `query` (readers and workers), `execute` and `transaction` (writer).

use std::ops::{Deref, DerefMut};

use rusqlite::{CachedStatement, Connection};

use crate::error::{Error, Result};
use crate::pool::cancel::Reply;
use crate::pool::job::{Completion, Job, Output, WriteResult};
use crate::pool::lanes::Lane;
use crate::pool::Pool;
use crate::sqlite::classify::{classify, first_keyword, is_blank, StatementKind};
use crate::sqlite::{guard, statements};
use crate::sqlite::{Form, Params, RowSet};

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

/// Refuses SQL text SQLite would misread: a NUL ends the text early for SQLite (`DELETE FROM t\0
/// WHERE …` would delete every row), and text with no statement has nothing to run.
pub fn check_text(sql: &str) -> Result<()> {
    if sql.contains('\0') {
        return Err(Error::invalid(
            "the SQL text contains a NUL character, which would end it early; pass values as parameters",
        ));
    }
    if is_blank(sql) {
        return Err(Error::invalid(
            "the SQL text holds no statement (only white space or comments)",
        ));
    }
    Ok(())
}

/// A statement of caller SQL, from the connection's statement cache unless it is an `EXPLAIN`:
/// SQLite lists an EXPLAIN's program without checking the schema first, so a cached one stepped
/// again after the schema was reloaded (DDL on this or another connection) read the freed schema
/// objects its program points at (a use-after-free in SQLite 3.54.1, found by examples/fuzz.rs:
/// `EXPLAIN DROP TABLE IF EXISTS u` crashed the process). An EXPLAIN is never kept in the cache,
/// so each one is prepared for the schema it runs against.
pub enum Prepared<'c> {
    Cached(CachedStatement<'c>),
    Fresh(rusqlite::Statement<'c>),
}

impl<'c> Deref for Prepared<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Prepared::Cached(stmt) => stmt,
            Prepared::Fresh(stmt) => stmt,
        }
    }
}

impl DerefMut for Prepared<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Prepared::Cached(stmt) => stmt,
            Prepared::Fresh(stmt) => stmt,
        }
    }
}

/// Prepares one statement of caller SQL: a second statement after it is refused (SQLite's own
/// prepare tail says so), and so is anything the connection's guard denies.
fn prepare<'c>(conn: &'c Connection, sql: &str) -> Result<Prepared<'c>> {
    guard::clear();
    let stmt = statements::cached(conn, sql).map_err(|e| guard::explain(e.into()))?;
    if stmt.is_explain() == 0 {
        return Ok(Prepared::Cached(stmt));
    }
    // Out of the cache before it could be served stale; the text is prepared once more, uncached.
    stmt.discard();
    guard::clear();
    let stmt = conn.prepare(sql).map_err(|e| guard::explain(e.into()))?;
    Ok(Prepared::Fresh(stmt))
}

fn read_only() -> Error {
    Error::ReadOnly(
        "this statement writes (or controls transactions) and was sent to a read-only connection; use write() or transaction()".into(),
    )
}

/// Refuses transaction control by its first keyword, saying `instead` what to do. Besides the
/// authorizer, this is needed because the pool's own BEGIN/COMMIT statements sit in the writer's
/// statement cache, prepared with the guard lowered: a caller's identical text would be served
/// from the cache without the authorizer seeing it.
pub fn refuse_control(sql: &str, instead: &str) -> Result<()> {
    match classify(sql) {
        StatementKind::TransactionControl => Err(Error::invalid(format!(
            "BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE are managed by the pool; {instead}"
        ))),
        _ => Ok(()),
    }
}

/// Prepares a read-only statement with its parameters bound, refusing anything that would write
/// or change connection state.
pub fn prepare_read<'c>(conn: &'c Connection, sql: &str, params: &Params) -> Result<Prepared<'c>> {
    if classify(sql) == StatementKind::TransactionControl {
        return Err(read_only());
    }
    let mut stmt = prepare(conn, sql)?;
    if !stmt.readonly() {
        return Err(read_only());
    }
    params.bind(&mut stmt)?;
    Ok(stmt)
}

/// Runs a read-only statement, refusing anything that would write or change connection state.
/// In `Form::Raw` the result is `Output::Rows` for `Fetch::First` too: at most one row, and the
/// columns described even when there is none.
pub fn run_query(conn: &Connection, sql: &str, params: &Params, fetch: Fetch, form: Form) -> Result<Output> {
    let mut stmt = prepare_read(conn, sql, params)?;
    let limit = if fetch == Fetch::First { 1 } else { usize::MAX };
    // A reader may run this inside its batch's read transaction; only a transaction the
    // statement itself opened is rolled back.
    let was_autocommit = conn.is_autocommit();
    let rows = RowSet::collect_as(&mut stmt, limit, form);
    drop(stmt);
    if was_autocommit && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let rows = rows?;
    Ok(match (fetch, form) {
        (Fetch::All, _) | (Fetch::First, Form::Raw) => Output::Rows(rows),
        (Fetch::First, Form::Objects) => Output::Row((rows.row_count() > 0).then_some(rows)),
    })
}

/// Runs one statement on the writer's connection; the rows it returns (`RETURNING`) are kept in
/// `form` when it has result columns.
pub fn run_statement(conn: &Connection, sql: &str, params: &Params, form: Form) -> Result<WriteResult> {
    if first_keyword(sql) == "VACUUM" {
        // VACUUM runs an ATTACH and a BEGIN of its own inside SQLite, which the guard lets
        // through for it alone (`VACUUM INTO` stays refused).
        return guard::vacuum(|| run_one(conn, sql, params, form));
    }
    run_one(conn, sql, params, form)
}

fn run_one(conn: &Connection, sql: &str, params: &Params, form: Form) -> Result<WriteResult> {
    let mut stmt = prepare(conn, sql)?;
    params.bind(&mut stmt)?;
    // `changes()` keeps the count of the last INSERT/UPDATE/DELETE on the connection, which for
    // DDL, PRAGMA or VACUUM is an earlier job's (another caller's, in a group commit): a statement
    // that left the total unchanged changed nothing (as better-sqlite3 reports it).
    let total_before = conn.total_changes();
    // A VACUUM's own ATTACH is authorized while it runs, so a refusal can come from stepping.
    let rows = if stmt.column_count() > 0 {
        Some(RowSet::collect_as(&mut stmt, usize::MAX, form).map_err(guard::explain)?)
    } else {
        let mut rows = stmt.raw_query();
        while rows.next().map_err(|e| guard::explain(e.into()))?.is_some() {}
        None
    };
    Ok(WriteResult {
        changes: if conn.total_changes() != total_before {
            conn.changes()
        } else {
            0
        },
        last_insert_rowid: conn.last_insert_rowid(),
        rows,
    })
}

impl Pool {
    /// `read`/`get` on the readers, `executeInWorker` on the workers.
    pub fn query(&self, lane: Lane, sql: String, params: Params, fetch: Fetch, form: Form, reply: impl Into<Reply>) {
        let Reply { done, cancel } = reply.into();
        if let Err(e) = check_text(&sql) {
            return self.reject(lane, e, done);
        }
        // PRAGMA reads run on their own, outside any read batch.
        let alone = classify(&sql) == StatementKind::Alone;
        let work = Box::new(move |conn: &Connection| run_query(conn, &sql, &params, fetch, form));
        let mut job = Job::new(work, done);
        job.alone = alone;
        self.submit_cancellable(lane, job, cancel);
    }

    /// `write`: one statement, committed with whatever else the writer has queued.
    pub fn execute(&self, sql: String, params: Params, form: Form, reply: impl Into<Reply>) {
        let Reply { done, cancel } = reply.into();
        if let Err(e) = check_text(&sql) {
            return self.reject(Lane::Write, e, done);
        }
        if let Err(refused) = refuse_control(&sql, "use transaction([...]) for atomic groups") {
            return self.reject(Lane::Write, refused, done);
        }
        let alone = classify(&sql) == StatementKind::Alone;
        let work = Box::new(move |conn: &Connection| run_statement(conn, &sql, &params, form).map(Output::Write));
        let mut job = Job::new(work, done);
        job.alone = alone;
        self.submit_cancellable(Lane::Write, job, cancel);
    }

    /// `transaction([...])`: every statement or none, inside one savepoint.
    pub fn transaction(&self, statements: Vec<Statement>, form: Form, reply: impl Into<Reply>) {
        let Reply { done, cancel } = reply.into();
        for (i, s) in statements.iter().enumerate() {
            if let Err(e) = check_text(&s.sql) {
                return self.reject(Lane::Write, at_statement(i, e), done);
            }
            let refused = match classify(&s.sql) {
                StatementKind::Batched => None,
                StatementKind::Alone => {
                    Some("cannot run inside a transaction (VACUUM, PRAGMA, ATTACH); send it with write()")
                }
                StatementKind::TransactionControl => Some("controls transactions, which transaction() already does"),
            };
            if let Some(why) = refused {
                return self.reject(Lane::Write, Error::invalid(format!("statement {i} {why}")), done);
            }
        }
        let work = Box::new(move |conn: &Connection| {
            let mut results = Vec::with_capacity(statements.len());
            for (i, s) in statements.iter().enumerate() {
                results.push(run_statement(conn, &s.sql, &s.params, form).map_err(|e| at_statement(i, e))?);
            }
            Ok(Output::Writes(results))
        });
        self.submit_cancellable(Lane::Write, Job::new(work, done), cancel);
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

/// `err` said of the statement at `index` of a list or script.
pub(crate) fn at_statement(index: usize, err: Error) -> Error {
    match err {
        Error::Sqlite { code, message } => Error::Sqlite {
            code,
            message: format!("{message} (statement {index})"),
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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{run_query, run_statement, Fetch};
    use crate::error::Result;
    use crate::pool::job::Output;
    use crate::sqlite::{Form, Params, Value};

    fn db() -> Result<Connection> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)")?;
        Ok(conn)
    }

    fn text(v: &str) -> Params {
        Params::Positional(vec![Value::Text(v.into())])
    }

    #[test]
    fn returning_rows_come_with_the_write_and_changes_stay_right() -> Result<()> {
        let conn = db()?;
        let plain = run_statement(&conn, "INSERT INTO t(v) VALUES (?)", &text("a"), Form::Objects)?;
        assert_eq!((plain.changes, plain.last_insert_rowid, plain.rows), (1, 1, None));
        let sql = "INSERT INTO t(v) VALUES (?), ('c') RETURNING id, v";
        let returned = run_statement(&conn, sql, &text("b"), Form::Objects)?;
        assert_eq!(returned.changes, 2);
        let rows = returned.rows.expect("RETURNING has columns");
        assert_eq!(rows.described, None);
        assert_eq!(
            rows.values,
            [
                Value::Integer(2),
                Value::Text("b".into()),
                Value::Integer(3),
                Value::Text("c".into())
            ]
        );
        let deleted = run_statement(
            &conn,
            "DELETE FROM t WHERE id > 99 RETURNING id",
            &Params::None,
            Form::Raw,
        )?;
        assert_eq!(deleted.changes, 0);
        let rows = deleted.rows.expect("columns, no rows");
        assert_eq!((rows.row_count(), rows.described.map(|d| d.len())), (0, Some(1)));
        Ok(())
    }

    #[test]
    fn a_failing_returning_statement_leaves_no_row_of_its_own() -> Result<()> {
        let conn = db()?;
        run_statement(&conn, "INSERT INTO t(v) VALUES ('taken')", &Params::None, Form::Objects)?;
        let sql = "INSERT INTO t(v) VALUES ('x'), ('taken') RETURNING id";
        let err = run_statement(&conn, sql, &Params::None, Form::Objects).expect_err("unique");
        assert_eq!(err.code(), "SQLITE_CONSTRAINT_UNIQUE");
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn a_raw_get_is_rows_with_at_most_one_and_columns_even_with_none() -> Result<()> {
        let conn = db()?;
        conn.execute_batch("INSERT INTO t(v) VALUES ('a'), ('b')")?;
        match run_query(
            &conn,
            "SELECT id, v FROM t ORDER BY id",
            &Params::None,
            Fetch::First,
            Form::Raw,
        )? {
            Output::Rows(rows) => {
                assert_eq!(rows.values, [Value::Integer(1), Value::Text("a".into())]);
                assert_eq!(rows.described.map(|d| d.len()), Some(2));
            }
            other => panic!("unexpected {other:?}"),
        }
        match run_query(&conn, "SELECT v FROM t WHERE 0", &Params::None, Fetch::First, Form::Raw)? {
            Output::Rows(rows) => assert_eq!((rows.row_count(), rows.columns.len()), (0, 1)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            run_query(
                &conn,
                "SELECT v FROM t WHERE 0",
                &Params::None,
                Fetch::First,
                Form::Objects
            )?,
            Output::Row(None)
        );
        Ok(())
    }

    /// How many columns an `EXPLAIN SELECT * FROM u`'s program reads: a stale program still
    /// reads the table as it was when first prepared.
    fn columns_read(conn: &Connection) -> Result<usize> {
        match run_query(
            conn,
            "EXPLAIN SELECT * FROM u",
            &Params::None,
            Fetch::All,
            Form::Objects,
        )? {
            Output::Rows(rows) => Ok(rows
                .rows()
                .filter(|r| r.get(1) == Some(&Value::Text("Column".into())))
                .count()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_explain_lists_the_program_for_the_schema_it_runs_against() -> Result<()> {
        let conn = db()?;
        conn.execute_batch("CREATE TABLE u(a)")?;
        assert_eq!(columns_read(&conn)?, 1);
        conn.execute_batch("DROP TABLE u; CREATE TABLE u(a, b, c)")?;
        assert_eq!(columns_read(&conn)?, 3);
        // Another connection changes the schema; this one reloads it on its next statement,
        // which freed what a cached EXPLAIN program pointed at.
        let path = crate::pool::tests::temp_path("explain");
        let (writer, reader) = (Connection::open(&path)?, Connection::open(&path)?);
        writer.execute_batch("CREATE TABLE t(x); CREATE TABLE u(a)")?;
        assert_eq!(columns_read(&reader)?, 1);
        for n in 2..=20 {
            let cols = (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", ");
            writer.execute_batch(&format!("DROP TABLE u; CREATE TABLE u({cols}); CREATE TABLE pad{n}(x)"))?;
            run_query(
                &reader,
                "SELECT count(*) FROM t",
                &Params::None,
                Fetch::All,
                Form::Objects,
            )?;
            assert_eq!(columns_read(&reader)?, n);
        }
        Ok(())
    }
}
