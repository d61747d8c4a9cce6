//! The authorizer every pool connection carries. SQLite itself tells us what a statement does
//! while it prepares it, so transaction control, ATTACH/DETACH and connection-state PRAGMAs are
//! refused however the SQL text is spelled (leading `;`, `\v`, a BOM, comments …). The pool's
//! own statements (BEGIN, SAVEPOINT, checkpoints) run with the guard lowered.
//!
//! The authorizer runs when a statement is prepared, and a cached statement is not prepared
//! again: the pool's own control statements stay in the statement cache under texts whose first
//! keyword (`BEGIN`, `COMMIT`, `SAVEPOINT` …) every caller path refuses before preparing.

use std::cell::{Cell, RefCell};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

use crate::error::{Error, Result};

/// What the connection is for: the writer may also set the persistent PRAGMAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Writer,
    Reader,
}

/// PRAGMAs anyone may read, with or without an argument (`table_info(t)`); they change nothing.
const INFORMATIONAL: &[&str] = &[
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "foreign_key_check",
    "foreign_key_list",
    "freelist_count",
    "function_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "module_list",
    "page_count",
    "pragma_list",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// PRAGMAs that may be read (no value) but whose setting is connection state the pool owns.
const READ_ONLY_STATE: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "busy_timeout",
    "cache_size",
    "encoding",
    "foreign_keys",
    "journal_mode",
    "journal_size_limit",
    "locking_mode",
    "max_page_count",
    "mmap_size",
    "page_size",
    "query_only",
    "schema_version",
    "synchronous",
    "temp_store",
    "user_version",
    "wal_autocheckpoint",
];

/// PRAGMAs the writer may set: state kept in the database file (not the connection), and
/// `max_page_count`, a size quota that changes no guarantee of the pool.
const WRITER_SETTABLE: &[&str] = &[
    "application_id",
    "user_version",
    "max_page_count",
    "optimize",
    "incremental_vacuum",
];

thread_local! {
    /// Lowered while this thread runs the pool's own control statements. Thread-local because the
    /// authorizer runs on the thread that prepares, and each pool thread owns one connection.
    static LOWERED: Cell<Lowered> = const { Cell::new(Lowered::No) };
    /// Why the last statement prepared on this thread was refused.
    static REFUSAL: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set while this thread prepares statements of a job that may still roll back (an
    /// `exec()` script, an interactive transaction): settings SQLite does not roll back are
    /// refused there.
    static TRANSACTIONAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `run` (preparing a script or a transaction's statements) where a rollback must undo
/// everything: `PRAGMA max_page_count = …`, which changes the connection and is not undone by a
/// rollback, is refused (a failed script or a rolled-back transaction left every later write of
/// every caller failing `SQLITE_FULL`). It stays settable through `pragma()` and `write()`.
pub fn transactional<T>(run: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TRANSACTIONAL.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TRANSACTIONAL.with(|t| t.replace(true)));
    run()
}

/// PRAGMAs the writer may set whose setting a ROLLBACK does not undo.
const NOT_TRANSACTIONAL: &[&str] = &["max_page_count"];

/// Installs the authorizer on `conn`.
pub fn install(conn: &mut Connection, role: Role) -> Result<()> {
    conn.authorizer(Some(move |ctx: AuthContext<'_>| decide(role, &ctx)))?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lowered {
    No,
    /// For a caller's VACUUM: SQLite's own `ATTACH ''` of its scratch database and the
    /// transaction it runs there. `VACUUM INTO 'file'` attaches a named file and stays refused
    /// (it could write a database image over an empty file such as a truncated WAL).
    Vacuum,
    Fully,
}

fn lowered<T>(how: Lowered, run: impl FnOnce() -> T) -> T {
    struct Raise(Lowered);
    impl Drop for Raise {
        fn drop(&mut self) {
            LOWERED.with(|l| l.set(self.0));
        }
    }
    let _raise = Raise(LOWERED.with(|l| l.replace(how)));
    run()
}

/// Runs the pool's own statements (preparing and stepping them) with the guard lowered.
pub fn internal<T>(run: impl FnOnce() -> T) -> T {
    lowered(Lowered::Fully, run)
}

/// Runs a caller's VACUUM, which needs SQLite's internal ATTACH and BEGIN of a scratch database.
pub fn vacuum<T>(run: impl FnOnce() -> T) -> T {
    lowered(Lowered::Vacuum, run)
}

const TEMP_REFUSED: &str =
    "TEMP tables, views, triggers and indexes are not allowed on pool connections: they would live on \
     one connection only (on the shared writer, shadowing main tables for every caller's writes)";

fn decide(role: Role, ctx: &AuthContext<'_>) -> Authorization {
    match (LOWERED.with(Cell::get), &ctx.action) {
        (Lowered::Fully, _)
        | (Lowered::Vacuum, AuthAction::Attach { filename: "" } | AuthAction::Transaction { .. }) => {
            return Authorization::Allow
        }
        _ => {}
    }
    let refusal = match ctx.action {
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Some(
            "BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE are managed by the pool; use transaction() for atomic groups"
                .to_string(),
        ),
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Some("ATTACH and DETACH are not allowed on pool connections".to_string())
        }
        // TEMP objects live on one connection: on the writer every caller shares, a TEMP table
        // would shadow the main table of its name for every later write (resolved, never seen by
        // readers, gone at close) and a TEMP trigger would rewrite or refuse other callers' writes.
        AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. } => Some(TEMP_REFUSED.to_string()),
        // `CREATE TABLE temp.t`, `CREATE VIRTUAL TABLE temp.f …`: SQLite names the schema instead.
        AuthAction::CreateTable { .. }
        | AuthAction::CreateIndex { .. }
        | AuthAction::CreateTrigger { .. }
        | AuthAction::CreateView { .. }
        | AuthAction::CreateVtable { .. }
            if ctx.database_name == Some("temp") =>
        {
            Some(TEMP_REFUSED.to_string())
        }
        // What rusqlite cannot name, such as ATTACH of a file name given as a parameter.
        AuthAction::Unknown { code, .. } => Some(match code {
            24 | 25 => "ATTACH and DETACH are not allowed on pool connections".to_string(),
            _ => format!("this statement needs an action the pool does not allow (authorizer code {code})"),
        }),
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => pragma_refusal(role, pragma_name, pragma_value),
        _ => None,
    };
    match refusal {
        None => Authorization::Allow,
        Some(why) => {
            REFUSAL.with(|r| *r.borrow_mut() = Some(why));
            Authorization::Deny
        }
    }
}

/// Forgets the refusal of an earlier statement, before preparing the next one.
pub fn clear() {
    REFUSAL.with(|r| r.borrow_mut().take());
}

/// Turns SQLite's "not authorized" into the refusal recorded on this thread, as
/// `INVALID_ARGUMENT`; other errors pass through.
pub fn explain(err: Error) -> Error {
    match err {
        Error::Sqlite {
            code: "SQLITE_AUTH", ..
        } => match REFUSAL.with(|r| r.borrow_mut().take()) {
            Some(why) => Error::InvalidArgument(why),
            None => err,
        },
        other => other,
    }
}

fn pragma_refusal(role: Role, name: &str, value: Option<&str>) -> Option<String> {
    let name = name.to_ascii_lowercase();
    if value.is_some() && NOT_TRANSACTIONAL.contains(&name.as_str()) && TRANSACTIONAL.with(Cell::get) {
        return Some(format!(
            "PRAGMA {name} = … is not undone by a rollback, so it is refused inside exec() scripts and transactions; \
             set it with pragma('{name}', n) or write()"
        ));
    }
    let allowed = INFORMATIONAL.contains(&name.as_str())
        || (value.is_none() && READ_ONLY_STATE.contains(&name.as_str()))
        || (role == Role::Writer && WRITER_SETTABLE.contains(&name.as_str()));
    if allowed {
        return None;
    }
    Some(match (value, role) {
        (None, _) => format!("PRAGMA {name} is not allowed on pool connections"),
        (Some(_), Role::Reader) => format!(
            "PRAGMA {name} = … changes connection state and is refused on readers; the pool's settings are its options"
        ),
        (Some(_), Role::Writer) => format!(
            "PRAGMA {name} = … changes connection state the pool relies on and is refused; use the pool's options"
        ),
    })
}

#[cfg(test)]
mod test {
    use super::*;

    fn prepare_error(conn: &Connection, sql: &str) -> Option<Error> {
        conn.prepare(sql).err().map(|e| explain(e.into()))
    }

    #[test]
    fn refuses_transaction_control_however_spelled() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        install(&mut conn, Role::Writer)?;
        for sql in [
            "COMMIT",
            ";COMMIT",
            " ;; COMMIT",
            "/* x */ ROLLBACK",
            "SAVEPOINT x",
            "RELEASE x",
            "BEGIN",
        ] {
            let err = prepare_error(&conn, sql).unwrap_or_else(|| panic!("{sql:?} was prepared"));
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{sql:?}: {err}");
        }
        internal(|| conn.execute_batch("BEGIN; SAVEPOINT a; RELEASE a; COMMIT"))?;
        conn.execute_batch("CREATE TABLE t(x)")?;
        vacuum(|| conn.execute_batch("VACUUM"))?;
        let into = vacuum(|| conn.execute_batch("VACUUM INTO '/tmp/never-written.db'")).map_err(|e| explain(e.into()));
        assert_eq!(into.map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        Ok(())
    }

    #[test]
    fn pragmas_by_role() -> Result<()> {
        let mut w = Connection::open_in_memory()?;
        install(&mut w, Role::Writer)?;
        let mut r = Connection::open_in_memory()?;
        install(&mut r, Role::Reader)?;
        for ok in [
            "PRAGMA user_version",
            "PRAGMA table_info(t)",
            "PRAGMA integrity_check",
            "PRAGMA journal_mode",
        ] {
            assert!(prepare_error(&r, ok).is_none(), "{ok}");
        }
        for ok in ["PRAGMA user_version = 3", "PRAGMA max_page_count = 100"] {
            assert!(prepare_error(&w, ok).is_none(), "{ok}");
            assert_eq!(
                prepare_error(&r, ok).map(|e| e.code()),
                Some("INVALID_ARGUMENT"),
                "{ok}"
            );
        }
        for bad in [
            "PRAGMA locking_mode = EXCLUSIVE",
            "PRAGMA query_only = 0",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA wal_checkpoint",
            "PRAGMA writable_schema = 1",
            "ATTACH '/etc/passwd' AS x",
            "ATTACH ? AS x",
            "ATTACH '/etc/' || 'passwd' AS x",
            "DETACH x",
            "DETACH ?",
            "CREATE TEMP TABLE t(x)",
            "CREATE TABLE temp.t(x)",
            "CREATE TEMP VIEW v AS SELECT 1",
            "CREATE VIRTUAL TABLE temp.f USING fts5(a)",
            "CREATE VIEW temp.v AS SELECT 1",
        ] {
            assert_eq!(
                prepare_error(&w, bad).map(|e| e.code()),
                Some("INVALID_ARGUMENT"),
                "{bad}"
            );
            assert_eq!(
                prepare_error(&r, bad).map(|e| e.code()),
                Some("INVALID_ARGUMENT"),
                "{bad}"
            );
        }
        Ok(())
    }
}
