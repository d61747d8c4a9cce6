//! `exec(script)`: several statements (a migration) as one job of the writer's group commit, so
//! the script is all or nothing and fails alone. The one place more than one statement per call
//! is accepted.
//!
//! Each statement is prepared afresh, never from the statement cache, so the authorizer sees
//! every one of them: transaction control (which would end the group commit), ATTACH and the
//! connection-state PRAGMAs are refused wherever they stand in the script, however spelled.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection};

use crate::error::Result;
use crate::pool::cancel::Reply;
use crate::pool::job::{Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::sql::{at_statement, check_text, refuse_control};
use crate::pool::Pool;
use crate::sqlite::guard;

/// Runs every statement of `script` in order (stepping through any rows they return); returns
/// the rows the script inserted, updated or deleted, triggers included. The first failure stops
/// it, naming the statement by its index; undoing what ran is the caller's savepoint's work.
pub fn run_script(conn: &Connection, script: &str) -> Result<u64> {
    let before = conn.total_changes();
    // SQLite copies the text it is given unless it ends in a NUL, and each statement is prepared
    // from the rest of the script: without the NUL a script of n statements costs O(n²) (100,000
    // short INSERTs held the writer for about 12 s) and its whole remaining length counts against
    // SQLITE_LIMIT_SQL_LENGTH. The caller's text holds no NUL (`check_text`), so this one ends it.
    let mut text = String::with_capacity(script.len() + 1);
    text.push_str(script);
    text.push('\0');
    let mut statements = Batch::new(conn, &text);
    let mut index = 0;
    loop {
        guard::clear();
        // Stepping may prepare again (a schema change), so both run as part of the script.
        let next =
            guard::transactional(|| statements.next()).map_err(|e| at_statement(index, guard::explain(e.into())))?;
        let Some(mut stmt) = next else { break };
        guard::transactional(|| {
            let mut rows = stmt.raw_query();
            while rows.next()?.is_some() {}
            Ok::<(), rusqlite::Error>(())
        })
        .map_err(|e| at_statement(index, guard::explain(e.into())))?;
        index += 1;
    }
    Ok(conn.total_changes().saturating_sub(before))
}

impl Pool {
    /// `exec(script)`: resolves to `{ changes }` once the script's transaction committed.
    pub fn exec(&self, script: String, reply: impl Into<Reply>) {
        let Reply { done, cancel } = reply.into();
        let refused = check_text(&script)
            .and_then(|()| refuse_control(&script, "exec() already runs the whole script in one transaction"));
        if let Err(e) = refused {
            return self.reject(Lane::Write, e, done);
        }
        let work = Box::new(move |conn: &Connection| {
            let changes = run_script(conn, &script)?;
            Ok(Output::Json(serde_json::json!({ "changes": changes })))
        });
        self.submit_cancellable(Lane::Write, Job::new(work, done), cancel);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::error::Error;
    use crate::pool::job::Completion;
    use crate::pool::sql::{wait, Fetch};
    use crate::pool::tests::{count, open, read, small_config, write};
    use crate::sqlite::{Params, Value};

    fn tables(pool: &Pool) -> Result<Vec<String>> {
        let out = read(
            pool,
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
            Fetch::All,
        )?;
        Ok(match out {
            Output::Rows(rows) => rows
                .values
                .into_iter()
                .filter_map(|v| match v {
                    Value::Text(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    fn exec(pool: &Pool, script: &str) -> Result<Output> {
        wait(|done: Completion| pool.exec(script.into(), done))
    }

    #[test]
    fn a_script_runs_whole_and_counts_its_changes() -> Result<()> {
        let pool = open("script-ok", small_config())?;
        let script = "CREATE TABLE a(x); -- a comment\n;; INSERT INTO a VALUES (1), (2);
            CREATE TRIGGER copy AFTER INSERT ON a BEGIN INSERT INTO t(v) VALUES (new.x); END;
            INSERT INTO a VALUES (3); PRAGMA user_version = 4; SELECT * FROM a; /* done */";
        let out = exec(&pool, script)?;
        // 2 + 1 rows into a, and 1 through the trigger.
        assert_eq!(out, Output::Json(serde_json::json!({ "changes": 4 })));
        assert_eq!(tables(&pool)?, vec!["a", "t"]);
        assert_eq!(count(&pool)?, 1);
        Ok(())
    }

    #[test]
    fn a_failing_statement_undoes_the_whole_script() -> Result<()> {
        let pool = open("script-fail", small_config())?;
        let script = "CREATE TABLE a(x); INSERT INTO a VALUES (1); INSERT INTO nowhere VALUES (1); CREATE TABLE b(x)";
        let err = exec(&pool, script).expect_err("fails");
        assert_eq!(err.code(), "SQLITE_ERROR");
        assert!(err.to_string().contains("(statement 2)"), "{err}");
        assert_eq!(tables(&pool)?, vec!["t"]);
        Ok(())
    }

    #[test]
    fn transaction_control_and_guarded_statements_are_refused_anywhere_in_a_script() -> Result<()> {
        let pool = open("script-escape", small_config())?;
        for tail in [
            "COMMIT",
            ";COMMIT",
            "\u{b}COMMIT",
            "\u{feff}COMMIT",
            "END",
            "ROLLBACK",
            "ROLLBACK TO job",
            "RELEASE job",
            "SAVEPOINT job",
            "BEGIN IMMEDIATE",
            "/* x */ COMMIT",
            "ATTACH '/tmp/x.db' AS x",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA writable_schema = 1",
            "PRAGMA foreign_keys = OFF",
            "VACUUM",
        ] {
            let script = format!("INSERT INTO t(v) VALUES ('in'); {tail}; INSERT INTO t(v) VALUES ('after')");
            let err = exec(&pool, &script).expect_err(tail);
            assert!(
                ["INVALID_ARGUMENT", "SQLITE_ERROR"].contains(&err.code()),
                "{tail}: {err}"
            );
            assert_eq!(count(&pool)?, 0, "{tail}");
        }
        // The writer's transaction machinery is intact.
        write(&pool, "INSERT INTO t(v) VALUES ('ok')", Params::None)?;
        assert_eq!(count(&pool)?, 1);
        Ok(())
    }

    #[test]
    fn a_long_script_prepares_each_statement_once() -> Result<()> {
        // Each statement is short, the script is long: SQLite must be handed text it need not
        // copy, or the whole remaining script is measured against the SQL length limit (and
        // copied) at every statement.
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE a(x)")?;
        // SAFETY: the handle is this open connection's, used on this thread only.
        unsafe { rusqlite::ffi::sqlite3_limit(conn.handle(), rusqlite::ffi::SQLITE_LIMIT_SQL_LENGTH, 1_000) };
        let script = (0..1_000)
            .map(|i| format!("INSERT INTO a VALUES ({i})"))
            .collect::<Vec<_>>()
            .join(";\n");
        assert!(script.len() > 20_000);
        assert_eq!(run_script(&conn, &script)?, 1_000);
        assert_eq!(run_script(&conn, "INSERT INTO a VALUES (1); -- trailing")?, 1);
        assert_eq!(run_script(&conn, "INSERT INTO a VALUES (1) /* open")?, 1);
        let n: i64 = conn.query_row("SELECT count(*) FROM a", [], |r| r.get(0))?;
        assert_eq!(n, 1_002);
        Ok(())
    }

    #[test]
    fn text_sqlite_would_misread_is_refused_before_queueing() -> Result<()> {
        let pool = open("script-text", small_config())?;
        for script in [
            "CREATE TABLE a(x);\0DROP TABLE t",
            "",
            " -- nothing",
            "BEGIN; CREATE TABLE a(x); COMMIT",
        ] {
            let err = exec(&pool, script).expect_err(script);
            assert!(matches!(err, Error::InvalidArgument(_)), "{script:?}: {err}");
        }
        assert_eq!(tables(&pool)?, vec!["t"]);
        Ok(())
    }
}
