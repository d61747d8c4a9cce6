//! Statements from a connection's statement cache, counted: how often a statement was found
//! there already prepared (a hit) and how often it had to be compiled (a miss). The counts are
//! kept per thread, so taking a statement costs no shared write, and a pool thread moves them to
//! the pool's stats after each job ([`take`]).

use std::cell::Cell;

use rusqlite::{CachedStatement, Connection, StatementStatus};

thread_local! {
    /// Hits and misses on this thread since the last `take`.
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// `sql` from `conn`'s statement cache, or compiled and cached. A statement the cache gave back
/// has run before (SQLite's run counter, which a fresh statement starts at 0), so that tells a
/// hit from a miss without a lookup of our own.
pub fn cached<'c>(conn: &'c Connection, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
    let stmt = conn.prepare_cached(sql)?;
    // Text with no statement in it (`;`, a comment) prepares to a null statement, which
    // rusqlite's status call asserts against (a panic); there is nothing to count then. Such a
    // statement has neither parameters nor columns nor text, and only statements without
    // parameters and columns pay for asking for the text.
    if stmt.parameter_count() == 0 && stmt.column_count() == 0 && stmt.expanded_sql().is_none() {
        return Ok(stmt);
    }
    let hit = stmt.get_status(StatementStatus::Run) > 0;
    COUNTS.with(|c| {
        let (hits, misses) = c.get();
        c.set(if hit { (hits + 1, misses) } else { (hits, misses + 1) });
    });
    Ok(stmt)
}

/// This thread's hits and misses since the last call, which are then zero.
pub fn take() -> (u64, u64) {
    COUNTS.with(|c| c.replace((0, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_run_before_is_a_hit_and_a_new_or_evicted_one_a_miss() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.set_prepared_statement_cache_capacity(2);
        take();
        for _ in 0..3 {
            cached(&conn, "SELECT 1")?.query_row([], |r| r.get::<_, i64>(0))?;
        }
        assert_eq!(take(), (2, 1), "compiled once, then found twice");
        // Prepared but never run: the cache holds it, yet it counts as compiled again.
        drop(cached(&conn, "SELECT 2")?);
        cached(&conn, "SELECT 3")?.query_row([], |r| r.get::<_, i64>(0))?;
        cached(&conn, "SELECT 4")?.query_row([], |r| r.get::<_, i64>(0))?;
        // Capacity 2: "SELECT 1" was evicted by 3 and 4.
        cached(&conn, "SELECT 1")?.query_row([], |r| r.get::<_, i64>(0))?;
        assert_eq!(take(), (0, 4));
        assert_eq!(take(), (0, 0), "taken: zero again");
        Ok(())
    }

    #[test]
    fn text_without_a_statement_is_neither_counted_nor_a_panic() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        take();
        for sql in [";", "  ", "-- nothing", "/* nor this */ ;"] {
            cached(&conn, sql)?;
            cached(&conn, sql)?;
        }
        assert_eq!(take(), (0, 0));
        Ok(())
    }
}
