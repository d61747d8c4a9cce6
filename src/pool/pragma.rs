//! `pragma(name, value?)`: reading any PRAGMA the guard allows on a reader, and setting the few
//! that are safe to set on the writer every caller shares. The name is an identifier and the
//! value an integer written by us, so neither can carry SQL of its own.

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::pool::cancel::Reply;
use crate::pool::job::{Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::sql::{run_query, run_statement, Fetch};
use crate::pool::Pool;
use crate::sqlite::{guard, statements, Form, Params, RowSet, Value};

/// The PRAGMAs `pragma(name, value)` sets, with the integers each takes. Both ids are 32-bit
/// signed integers in the database header; `max_page_count` is the writer's size quota (SQLite's
/// largest page count is 2^32 - 2). Everything else (journal_mode, synchronous, foreign_keys,
/// cache_size, locking_mode, query_only, writable_schema …) is connection state the pool owns.
const SETTABLE: &[(&str, i64, i64)] = &[
    ("user_version", i32::MIN as i64, i32::MAX as i64),
    ("application_id", i32::MIN as i64, i32::MAX as i64),
    ("max_page_count", 1, 4_294_967_294),
];

/// Longest name accepted; SQLite's longest PRAGMA name is shorter by far.
const MAX_NAME: usize = 64;

/// `name` lower-cased, if it is a plain identifier (letters, digits, `_`, not starting with a
/// digit): no schema prefix, argument, `=`, quote, comment or second statement can ride along.
pub fn pragma_name(name: &str) -> Result<String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || name.len() > MAX_NAME || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::invalid(format!(
            "pragma name must be an identifier such as 'user_version' (letters, digits and _, at most {MAX_NAME}); \
             for a PRAGMA with an argument use read(\"PRAGMA table_info(t)\")"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// The statement that sets `name` to `value`, if pragma() may set it.
pub fn setting(name: &str, value: &Value) -> Result<String> {
    let Some(&(_, low, high)) = SETTABLE.iter().find(|(settable, _, _)| *settable == name) else {
        let allowed: Vec<&str> = SETTABLE.iter().map(|(n, _, _)| *n).collect();
        return Err(Error::invalid(format!(
            "PRAGMA {name} = … is refused: pragma() sets only {} on the writer all callers share; \
             {name} is connection state the pool owns (use the pool's options)",
            allowed.join(", ")
        )));
    };
    match value {
        Value::Integer(v) if (low..=high).contains(v) => Ok(format!("PRAGMA {name} = {v}")),
        _ => Err(Error::invalid(format!(
            "pragma('{name}', value): value must be an integer from {low} to {high}"
        ))),
    }
}

/// Reads a PRAGMA on a reader. SQLite calls some reads writes (`PRAGMA journal_mode` is not a
/// read-only statement to `sqlite3_stmt_readonly`), so what may be read is left to the reader's
/// guard, which lets through only PRAGMAs that change nothing without a value, on a connection
/// that is read-only besides.
fn read_pragma(conn: &Connection, sql: &str, form: Form) -> Result<Output> {
    guard::clear();
    let mut stmt = statements::cached(conn, sql).map_err(|e| guard::explain(e.into()))?;
    let rows = RowSet::collect_as(&mut stmt, usize::MAX, form);
    drop(stmt);
    // Readers take PRAGMAs outside their batches, so any transaction open now is this one's.
    if !conn.is_autocommit() {
        let _ = guard::internal(|| conn.execute_batch("ROLLBACK"));
    }
    Ok(Output::Rows(rows?))
}

impl Pool {
    /// Without a value, the PRAGMA's rows read on a reader (the guard decides what may be read).
    /// With one, sets it on the writer, outside any transaction, and resolves to its rows read
    /// back there, once the new value is committed.
    pub fn pragma(&self, name: &str, value: Option<Value>, form: Form, reply: impl Into<Reply>) {
        let reply = reply.into();
        let name = match pragma_name(name) {
            Ok(name) => name,
            Err(e) => return self.reject(if value.is_some() { Lane::Write } else { Lane::Read }, e, reply.done),
        };
        let Some(value) = value else {
            let get = format!("PRAGMA {name}");
            // `max_page_count` is the writer's quota, the one pragma() sets: a reader's own is
            // always SQLite's default, which hid a quota that made every write SQLITE_FULL.
            let lane = if name == "max_page_count" {
                Lane::Write
            } else {
                Lane::Read
            };
            let mut job = Job::new(
                Box::new(move |conn: &Connection| read_pragma(conn, &get, form)),
                reply.done,
            );
            job.alone = true;
            return self.submit_cancellable(lane, job, reply.cancel);
        };
        let set = match setting(&name, &value) {
            Ok(set) => set,
            Err(e) => return self.reject(Lane::Write, e, reply.done),
        };
        let get = format!("PRAGMA {name}");
        let work = Box::new(move |conn: &Connection| {
            run_statement(conn, &set, &Params::None, Form::Objects)?;
            run_query(conn, &get, &Params::None, Fetch::All, form)
        });
        let mut job = Job::new(work, reply.done);
        job.alone = true;
        self.submit_cancellable(Lane::Write, job, reply.cancel);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::pool::job::Completion;
    use crate::pool::sql::wait;
    use crate::pool::tests::{open, small_config};

    fn rows(out: Output) -> Vec<Vec<Value>> {
        match out {
            Output::Rows(rows) => rows.rows().map(<[Value]>::to_vec).collect(),
            other => panic!("not rows: {other:?}"),
        }
    }

    #[test]
    fn names_are_identifiers_only() {
        for ok in ["user_version", "USER_VERSION", "_x", "table_list"] {
            assert!(pragma_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "user_version = 1; DROP TABLE t",
            "user_version=1",
            "main.user_version",
            "table_info(t)",
            "1abc",
            "user_version --",
            "user_version\0",
            "journal_mode;",
            "é",
            &"x".repeat(65),
        ] {
            assert_eq!(
                pragma_name(bad).map_err(|e| e.code()),
                Err("INVALID_ARGUMENT"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_allowlisted_pragmas_are_set_and_only_to_integers_in_range() {
        assert_eq!(
            setting("user_version", &Value::Integer(7)).ok().as_deref(),
            Some("PRAGMA user_version = 7")
        );
        assert!(setting("application_id", &Value::Integer(-1)).is_ok());
        for (name, value) in [
            ("journal_mode", Value::Text("delete".into())),
            ("locking_mode", Value::Integer(1)),
            ("writable_schema", Value::Integer(1)),
            ("query_only", Value::Integer(0)),
            ("synchronous", Value::Integer(0)),
            ("foreign_keys", Value::Integer(0)),
            ("cache_size", Value::Integer(10)),
            ("user_version", Value::Text("1; DROP TABLE t".into())),
            ("user_version", Value::Real(1.5)),
            ("user_version", Value::Null),
            ("user_version", Value::Integer(1 << 31)),
            ("max_page_count", Value::Integer(0)),
        ] {
            assert_eq!(
                setting(name, &value).map_err(|e| e.code()),
                Err("INVALID_ARGUMENT"),
                "{name} {value:?}"
            );
        }
    }

    #[test]
    fn a_value_set_on_the_writer_reads_back_on_a_reader() -> Result<()> {
        let pool = open("pragma-set", small_config())?;
        let set = wait(|done| pool.pragma("user_version", Some(Value::Integer(7)), Form::Objects, done))?;
        assert_eq!(rows(set), vec![vec![Value::Integer(7)]]);
        let read = wait(|done: Completion| pool.pragma("user_version", None, Form::Objects, done))?;
        assert_eq!(rows(read), vec![vec![Value::Integer(7)]]);
        let mode = wait(|done: Completion| pool.pragma("journal_mode", None, Form::Objects, done))?;
        assert_eq!(rows(mode), vec![vec![Value::Text("wal".into())]]);
        let refused = wait(|done| pool.pragma("journal_mode", Some(Value::Text("delete".into())), Form::Objects, done));
        assert_eq!(refused.map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        let mode = wait(|done: Completion| pool.pragma("journal_mode", None, Form::Objects, done))?;
        assert_eq!(rows(mode), vec![vec![Value::Text("wal".into())]]);
        // What the guard refuses to read is refused here too.
        let checkpoint = wait(|done: Completion| pool.pragma("wal_checkpoint", None, Form::Objects, done));
        assert_eq!(checkpoint.map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        Ok(())
    }
}
